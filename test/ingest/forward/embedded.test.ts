import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { applyDeliveryConfigs } from '../../../src/admin/index.js';
import { silentLogger } from '../../../src/logging/logger.js';
import {
  type EmbeddedRouter,
  FORWARD_SHARED_KEY_FILE,
  ForwardKeySource,
  startEmbeddedRouter,
} from '../../../src/runtimes/embedded.js';
import { createBuiltinSinkRegistry } from '../../../src/sinks/registry.js';
import { randomId } from '../../helpers/factories.js';
import { readAllNdjson } from '../../helpers/ndjson-files.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';
import { chunkId, compressedFrame, connectForward, entryBytes, fluentdRecord } from './forward-client.js';
import { eventually } from './harness.js';

const routers: EmbeddedRouter[] = [];

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.stop()));
  await removeTempDirs();
});

async function startRouter(env: NodeJS.ProcessEnv): Promise<EmbeddedRouter> {
  const router = await startEmbeddedRouter({
    dataDir: await makeTempDir('tlr-forward-e2e-'),
    port: 0,
    logger: silentLogger,
    registry: new Registry(),
    ingest: { maxBatchAgeMs: 100, flushIntervalMs: 50 },
    env,
    forward: { config: { port: 0 } },
  });
  routers.push(router);
  return router;
}

describe('Forward input in the embedded router', () => {
  it("delivers what a Forward client sends to the tenant's file destination, and nothing of another tenant", async () => {
    // Prepare
    const sharedKey = `e2e-shared-key-${randomId()}`;
    const router = await startRouter({ TLR_FORWARD_SHARED_KEY: sharedKey });
    const tenant = `acme-${randomId()}`;
    const other = `globex-${randomId()}`;
    await applyDeliveryConfigs(router.stores.configs, createBuiltinSinkRegistry(), [
      { tenant_id: tenant, type: 'file', directory: 'outputs/acme' },
    ]);
    const seconds = Math.floor(Date.now() / 1000);
    const mine = Array.from({ length: 20 }, (_, i) => fluentdRecord(tenant, { message: `acme ${i}` }));
    const theirs = Array.from({ length: 5 }, (_, i) => fluentdRecord(other, { message: `globex ${i}` }));
    const chunk = chunkId();

    // Act
    const client = await connectForward(router.forward!.port);
    const pong = await client.handshake({ sharedKey });
    await client.send(compressedFrame('kube.var.log.containers.x', [...mine, ...theirs].map((r) => entryBytes([seconds, 0], r)), 2, { chunk }));
    const answer = await client.next();
    const directory = join(router.dataDir, 'outputs/acme');
    await eventually(async () => (await readAllNdjson(directory)).length >= mine.length, 20_000);

    // Assess
    expect(router.forward).toMatchObject({ host: '127.0.0.1', keySource: ForwardKeySource.ENV });
    expect(pong[1]).toBe(true);
    expect(answer).toEqual({ ack: chunk });
    const delivered = await readAllNdjson(directory);
    expect(delivered.map((e) => e['message']).sort()).toEqual(mine.map((r) => r['message']).sort());
    expect(delivered.every((e) => e['namespace'] === tenant && e['cluster_id'] === 'local' && e['application'] === 'billing-api')).toBe(
      true,
    );
  });

  it('generates a shared key into the data directory, readable by its owner only, when none is given', async () => {
    // Prepare
    const router = await startRouter({});
    const path = join(router.dataDir, FORWARD_SHARED_KEY_FILE);

    // Act
    const sharedKey = (await readFile(path, 'utf8')).trim();
    const client = await connectForward(router.forward!.port);
    const pong = await client.handshake({ sharedKey });

    // Assess
    expect(router.forward!.keySource).toBe(ForwardKeySource.DATA_DIR);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(pong[1]).toBe(true);
  });

  it('refuses to start on a Forward key file others can read, naming the file and the fix', async () => {
    // Prepare: a key file made readable by group and others.
    const dataDir = await makeTempDir('tlr-forward-e2e-');
    const first = await startEmbeddedRouter({
      dataDir, port: 0, logger: silentLogger, registry: new Registry(), env: {}, forward: { config: { port: 0 } },
    });
    await first.stop();
    const path = join(dataDir, FORWARD_SHARED_KEY_FILE);
    await chmod(path, 0o644);

    // Act
    const starting = startEmbeddedRouter({
      dataDir, port: 0, logger: silentLogger, registry: new Registry(), env: {}, forward: { config: { port: 0 } },
    });

    // Assess
    await expect(starting).rejects.toThrow(`The Forward shared key file ${path} has mode 0644`);
    await expect(starting).rejects.toThrow(`chmod 600 ${path}`);
  });
});
