import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { randomId } from '../helpers/factories.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';
import { eventually } from '../ingest/forward/harness.js';

const TOKEN = 'gateway-token-0123456789';

afterEach(async () => {
  vi.unstubAllEnvs();
  await removeTempDirs();
});

/** The gateway environment of a test: a bucket name and an AWS endpoint nothing answers on. */
function stubGatewayEnv(overrides: Record<string, string> = {}): void {
  const env: Record<string, string> = {
    SOURCE_BUCKET: `central-${randomId()}`,
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    TLR_INGEST_TOKEN: '',
    TLR_FORWARD_SHARED_KEY: '',
    LOG_LEVEL: 'error',
    ...overrides,
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
}

async function serve(flags: readonly string[]) {
  const dataDir = await makeTempDir('tlr-ingest-serve-');
  return runCli(['--data-dir', dataDir, 'ingest', 'serve', '--port', '0', ...flags]);
}

describe('tlr ingest serve', () => {
  it.each([
    [['--forward-tls-cert', 'c.pem', '--forward-tls-key', 'k.pem'], 'need --forward or --forward-port'],
    [['--forward', '--forward-tls-key', 'k.pem'], '--forward-tls-cert and --forward-tls-key go together'],
    [['--forward-port', '70000'], "--forward-port '70000' is not a port"],
    [['--port', 'http'], "--port 'http' is not a port"],
  ])('exits 1 before starting for %j', async (flags, message) => {
    // Prepare
    stubGatewayEnv({ TLR_INGEST_TOKEN: TOKEN });

    // Act
    const run = await serve(['--cluster-id', 'c1', ...flags]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
  });

  it('exits 1 naming SOURCE_BUCKET when it is unset', async () => {
    // Prepare
    stubGatewayEnv({ SOURCE_BUCKET: '', TLR_INGEST_TOKEN: TOKEN });

    // Act
    const run = await serve(['--cluster-id', 'c1']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Error: invalid ingest gateway settings:');
    expect(run.stderr).toContain('SOURCE_BUCKET: is required');
  });

  it('exits 1 naming the Forward key when --forward has none', async () => {
    // Prepare
    stubGatewayEnv({ TLR_INGEST_TOKEN: TOKEN });

    // Act
    const run = await serve(['--cluster-id', 'c1', '--forward', '--forward-port', '0']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('TLR_FORWARD_SHARED_KEY: or --forward-auth is required with --forward');
  });

  it('exits 1 naming the entry and field of a bad tokens file', async () => {
    // Prepare
    stubGatewayEnv();
    const file = join(await makeTempDir('tlr-tokens-'), 'tokens.json');
    await writeFile(file, JSON.stringify([{ id: 'east', token: 'short', cluster_id: 'c1', namespaces: ['*'] }]));

    // Act
    const run = await serve(['--tokens-file', file]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Error: invalid ingest tokens file '${file}':`);
    expect(run.stderr).toContain("[0] 'east'.token: must be at least 16 characters");
  });

  it('serves until SIGTERM, printing where it listens and which tokens it accepts', async () => {
    // Prepare
    stubGatewayEnv();
    const file = join(await makeTempDir('tlr-tokens-'), 'tokens.json');
    await writeFile(file, JSON.stringify([{ id: 'east', token: TOKEN, cluster_id: 'c1', namespaces: ['*'] }]));
    const before = new Set([...process.listeners('SIGTERM'), ...process.listeners('SIGINT')]);
    let stdout = '';
    const dataDir = await makeTempDir('tlr-ingest-serve-');

    // Act
    const exit = main(['node', 'tlr', '--data-dir', dataDir, 'ingest', 'serve', '--port', '0', '--tokens-file', file], {
      out: (text) => {
        stdout += text;
      },
      err: () => {},
    });
    await eventually(() => stdout.includes('tlr ingest gateway is up at'), 10_000);
    const url = /up at (http:\/\/\S+),/.exec(stdout)![1]!;
    const health = await fetch(`${url}/api/v1/health`);
    process.emit('SIGTERM');
    const code = await exit;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      for (const listener of process.listeners(signal)) if (!before.has(listener)) process.removeListener(signal, listener);
    }

    // Assess
    expect(health.status).toBe(200);
    expect(code).toBe(0);
    expect(stdout).toContain('tokens: east');
    await expect(fetch(`${url}/api/v1/health`)).rejects.toThrow();
  });
});
