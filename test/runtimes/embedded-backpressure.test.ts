import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../src/domain/index.js';
import { createLogger, LogLevel } from '../../src/logging/index.js';
import { type EmbeddedRouter, type EmbeddedRouterOptions, startEmbeddedRouter } from '../../src/runtimes/embedded.js';
import { DATA_LAYOUT } from '../../src/runtimes/local-stores.js';
import { builtinSinkDefinitions, createSinkRegistry } from '../../src/sinks/registry.js';
import { applyDeliveryConfigs } from '../../src/admin/index.js';
import { createMemorySinkKind, MEMORY_KIND, MemoryBehaviour } from '../helpers/memory-sink.js';
import { randomId } from '../helpers/factories.js';
import { metricValue } from '../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';
import { eventually } from '../ingest/forward/harness.js';

const routers: EmbeddedRouter[] = [];

type LogLine = { level: string; message: string };

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.stop()));
  await removeTempDirs();
});

/** An embedded router on a fresh data directory and port 0, logging to `logs`. */
async function startRouter(overrides: Partial<EmbeddedRouterOptions> = {}) {
  const logs: LogLine[] = [];
  const router = await startEmbeddedRouter({
    dataDir: await makeTempDir('tlr-embedded-backpressure-'),
    port: 0,
    logger: createLogger({ level: LogLevel.INFO, write: (line) => logs.push(JSON.parse(line) as LogLine) }),
    registry: new Registry(),
    ingest: { maxBatchAgeMs: 50, flushIntervalMs: 20 },
    env: {},
    ...overrides,
  });
  routers.push(router);
  return { router, logs };
}

function ingest(router: EmbeddedRouter, message: string): Promise<Response> {
  return fetch(`${router.url}/api/v1/ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${router.ingestToken}`, 'content-type': 'application/x-ndjson' },
    body: `${JSON.stringify({ namespace: `team-${randomId()}`, message })}\n`,
  });
}

describe('embedded router back-pressure', () => {
  it('answers 503 with Retry-After while more notifications are ready than maxQueueBacklog', async () => {
    // Prepare: a tenant whose destination never answers, so its objects' notifications wait
    // in the queue beyond what the worker holds (concurrency × 4).
    const memory = createMemorySinkKind();
    const { router } = await startRouter({
      maxQueueBacklog: 2,
      concurrency: 1,
      stopGraceMs: 0,
      sinks: createSinkRegistry([...builtinSinkDefinitions, memory.definition]),
    });
    await applyDeliveryConfigs(router.stores.configs, createSinkRegistry([memory.definition]), [
      { tenant_id: 'stuck', type: MEMORY_KIND, behaviour: MemoryBehaviour.HANG },
    ]);
    const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify({ namespace: 'stuck', pod_name: `pod-${i}`, message: 'm' }));
    const accepted = await fetch(`${router.url}/api/v1/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${router.ingestToken}`, 'content-type': 'application/x-ndjson' },
      body: `${lines.join('\n')}\n`,
    });

    // Act: the ten objects' notifications are written; the worker holds four of them.
    let response: Response | undefined;
    await eventually(async () => {
      response = await ingest(router, 'hello');
      return response.status === 503;
    });

    // Assess
    expect(accepted.status).toBe(200);
    expect(response!.headers.get('retry-after')).toBe('5');
    expect(((await response!.json()) as { error: { message: string } }).error.message).toContain('Delivery is behind');
    expect(await metricValue(router.registry, 'tlr_ingest_requests_total', { status: '503', reason: 'queue_backlog' })).toBeGreaterThanOrEqual(1);
    expect((await router.stores.queue.stats()).visible).toBeGreaterThan(2);
  });

  it('does not refuse ingest for delayed retries, however many wait', async () => {
    // Prepare: delayed retries far beyond the limit (one tenant's failing destination).
    const { router } = await startRouter({ maxQueueBacklog: 2 });
    for (let i = 0; i < 5; i++) await router.stores.queue.send(`later-${i}`, { delayMs: 3_600_000 });

    // Act
    const response = await ingest(router, 'hello');

    // Assess
    expect(response.status).toBe(200);
  });

  it('tells the operator once the store budget is reached and answers 503, keeping what it had accepted', async () => {
    // Prepare
    const { router, logs } = await startRouter({ maxObjectStoreBytes: 16 });
    const accepted = await ingest(router, 'x'.repeat(2_000));

    // Act
    await eventually(async () => (await metricValue(router.registry, 'tlr_object_store_full_total')) >= 1);
    const refused = await ingest(router, 'more');

    // Assess
    expect(accepted.status).toBe(200);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('disk budget is reached');
    expect(await metricValue(router.registry, 'tlr_ingest_requests_total', { status: '503', reason: 'store_full' })).toBe(1);
    expect(await metricValue(router.registry, 'tlr_ingest_backpressure_active', { reason: 'store_full' })).toBe(1);
    expect(logs.filter((l) => l.message.startsWith('The object store is full'))).toHaveLength(1);
    expect(await router.stores.ingestBuffer.pendingBytes()).toBeGreaterThan(0);
  });

  it.each([
    { env: { TLR_MAX_IN_FLIGHT_PER_TENANT: '0' }, named: 'TLR_MAX_IN_FLIGHT_PER_TENANT' },
    { env: { TLR_MAX_QUEUE_BACKLOG: 'many' }, named: 'TLR_MAX_QUEUE_BACKLOG' },
    { env: { TLR_SCHEDULER_SLOW_MS: '0' }, named: 'TLR_SCHEDULER_SLOW_MS' },
  ])('refuses to start on a bad $named, naming it, and leaves the data directory unlocked', async ({ env, named }) => {
    // Prepare
    const dataDir = await makeTempDir('tlr-embedded-backpressure-');

    // Act
    const starting = startEmbeddedRouter({ dataDir, port: 0, logger: createLogger({ level: LogLevel.ERROR }), env });

    // Assess
    await expect(starting).rejects.toThrow(ConfigValidationError);
    await expect(starting).rejects.toThrow(named);
    expect(existsSync(join(dataDir, DATA_LAYOUT.lock))).toBe(false);
  });
});
