import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiClient } from '../../src/api/client/index.js';
import { randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(root, 'bin', 'tlr.js');
const PSK = 'api-command-test-key-0123456789';

interface ApiProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly output: () => string;
}

const running = new Set<ChildProcess>();

/** `node bin/tlr.js api` on a data directory, as a user runs it. */
function spawnApi(dataDir: string, env: Record<string, string>): ApiProcess {
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) throw new Error("Run 'npm run build' first.");
  const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, 'api', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn', TLR_API_PSK: '', ...env },
  });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => running.delete(child));
  return { child, exited, output: () => output };
}

async function urlOf(api: ApiProcess): Promise<string> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const match = /tlr api is up at (http:\/\/\S+)/.exec(api.output());
    if (match) return match[1]!;
    if (api.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`tlr api did not start:\n${api.output()}`);
}

afterEach(async () => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  await removeTempDirs();
});

describe('tlr api', () => {
  it('serves the signed config API alone over the local store and stops cleanly on SIGTERM', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-api-cmd-');
    const api = spawnApi(dataDir, { TLR_API_PSK: PSK });
    const client = createApiClient({ baseUrl: await urlOf(api), psk: PSK });
    const tenant = `tenant-${randomId()}`;

    // Act
    const created = await client.createConfig(tenant, { type: 'file', directory: join(dataDir, 'out') });
    const listed = await client.listTenantConfigs(tenant);
    const health = await client.health();
    api.child.kill('SIGTERM');
    const code = await api.exited;

    // Assess
    expect(created).toMatchObject({ tenant_id: tenant, type: 'file' });
    expect(listed).toEqual([created]);
    expect(health).toMatchObject({ status: 'healthy', checks: { store: { status: 'ok' } } });
    expect(code).toBe(0);
  }, 30_000);

  it('refuses to start with a key shorter than 16 characters, naming TLR_API_PSK', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-api-cmd-');

    // Act
    const api = spawnApi(dataDir, { TLR_API_PSK: 'short' });
    const code = await api.exited;

    // Assess
    expect(code).toBe(1);
    expect(api.output()).toMatch(/TLR_API_PSK is 5 characters long; use at least 16/);
  }, 30_000);
});
