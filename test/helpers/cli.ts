import { main } from '../../src/cli/main.js';
import { type LocalStores, openLocalStores } from '../../src/runtimes/local-stores.js';
import type { QueueMessage } from '../../src/stores/ports.js';

/** What one in-process `tlr` run returned and printed. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `tlr <args>` in-process, capturing its output.
 *
 * @param args - the arguments after `tlr`, global options included (`['--data-dir', dir, 'configs', 'list']`)
 */
export async function runCli(args: readonly string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'tlr', ...args], {
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

/** Opens the local stores of `dataDir`, runs `work` and closes them, so the CLI finds what it wrote. */
export async function withStores<T>(dataDir: string, work: (stores: LocalStores) => Promise<T>): Promise<T> {
  const stores = openLocalStores(dataDir);
  try {
    return await work(stores);
  } finally {
    stores.close();
  }
}

/** Every message visible on the local queue of `dataDir` (received, so hidden afterwards). */
export async function drainQueue(dataDir: string): Promise<QueueMessage[]> {
  return withStores(dataDir, async ({ queue }) => {
    const messages: QueueMessage[] = [];
    for (;;) {
      const batch = await queue.receive({ maxMessages: 10, waitMs: 0 });
      if (batch.length === 0) return messages;
      messages.push(...batch);
    }
  });
}
