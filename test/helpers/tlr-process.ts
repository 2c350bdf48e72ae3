import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(root, 'bin', 'tlr.js');
const BUILT_MAIN = join(root, 'dist', 'src', 'cli', 'main.js');

/** A `tlr up` running as its own process, as a user runs it. */
export interface TlrProcess {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  readonly output: () => string;
  /** SIGTERM, then wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to finish anything. */
  kill9(): Promise<void>;
}

const running = new Set<ChildProcess>();

/**
 * Starts `node bin/tlr.js up` on a data directory and waits until it listens.
 * @throws when the project is not built (`npm run build`) or the process exits first
 */
export async function startTlrUp(dataDir: string, extraArgs: readonly string[] = []): Promise<TlrProcess> {
  if (!existsSync(BUILT_MAIN))
    throw new Error(`${BUILT_MAIN} is missing: run 'npm run build' before the e2e tests.`);
  const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, 'up', '--port', '0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn', TLR_INGEST_TOKEN: '' },
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => running.delete(child));
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tlr up did not start in time:\n${output}`)), 20_000);
    const check = () => {
      const match = /tlr is up at (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tlr up exited with ${code} before listening:\n${output}`));
    });
  });
  const token = (await readFile(join(dataDir, 'ingest-token'), 'utf8')).trim();
  return {
    url,
    token,
    pid: child.pid!,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Kills every `tlr up` a test started and did not stop (call in afterEach). */
export async function killAllTlr(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  running.clear();
}
