import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { buffer as readAll } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildObjectKey, formatKeyTimestamp, parseObjectKey } from '../../../src/domain/object-key.js';
import { createIngestBatcher, type IngestBatcher } from '../../../src/ingest/http/batcher.js';
import { defaultHttpIngestConfig, type HttpIngestConfig } from '../../../src/ingest/http/config.js';
import { createLogger, LogLevel, type Logger, silentLogger } from '../../../src/logging/logger.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteIngestBuffer } from '../../../src/stores/local/ingest-buffer.js';
import { createFileObjectStore } from '../../../src/stores/local/object-store.js';
import { createSqliteQueue, type SqliteQueue } from '../../../src/stores/local/queue.js';
import type {
  BufferedEvent,
  IngestBuffer,
  IngestGroup,
  NotificationQueue,
  ObjectStore,
} from '../../../src/stores/ports.js';
import { objectKeyPartsFactory } from '../../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const START_MS = Date.UTC(2026, 0, 15, 10, 30, 0);
const FILE_NAME = /^\d{8}-\d{6}-[0-9a-f-]{36}\.json\.gz$/;

function groupFactory(): IngestGroup {
  const { clusterId, namespace, application, podName } = objectKeyPartsFactory();
  return { clusterId, namespace, application, podName };
}

function eventsFor(group: IngestGroup, count: number, size = 10): BufferedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    ...group,
    line: JSON.stringify({ message: `${i}`.padEnd(size, '.'), namespace: group.namespace }),
  }));
}

async function readObjects(store: ObjectStore): Promise<Map<string, string[]>> {
  const objects = new Map<string, string[]>();
  for await (const info of store.list()) {
    const { body } = await store.get(info.key);
    const text = gunzipSync(await readAll(body)).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    objects.set(info.key, text.slice(0, -1).split('\n'));
  }
  return objects;
}

async function drainQueue(queue: NotificationQueue): Promise<unknown[]> {
  const bodies: unknown[] = [];
  for (;;) {
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });
    if (messages.length === 0) return bodies;
    for (const m of messages) {
      bodies.push(JSON.parse(m.body));
      await queue.delete(m.receiptHandle);
    }
  }
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

describe('createIngestBatcher', () => {
  let dir: string;
  let db: SqliteDatabase;
  let buffer: IngestBuffer;
  let objectStore: ObjectStore;
  let queue: SqliteQueue;
  let registry: Registry;
  let clock: number;
  let batchers: IngestBatcher[];

  function batcherWith(
    overrides: Partial<HttpIngestConfig> = {},
    deps: { objectStore?: ObjectStore; queue?: NotificationQueue | 'none'; logger?: Logger } = {},
  ): IngestBatcher {
    const batcher = createIngestBatcher({
      buffer,
      objectStore: deps.objectStore ?? objectStore,
      ...(deps.queue !== 'none' && { queue: deps.queue ?? queue }),
      config: { ...defaultHttpIngestConfig(), ...overrides },
      logger: deps.logger ?? silentLogger,
      registry,
      now: () => clock,
    });
    batchers.push(batcher);
    return batcher;
  }

  beforeEach(async () => {
    dir = await makeTempDir('tlr-batcher-');
    db = openDatabase(join(dir, 'tlr.db'));
    buffer = createSqliteIngestBuffer(db);
    objectStore = createFileObjectStore({ rootDir: join(dir, 'objects') });
    queue = createSqliteQueue(db);
    registry = new Registry();
    clock = START_MS;
    batchers = [];
  });

  afterEach(async () => {
    for (const b of batchers) await b.stop();
    queue.close();
    db.close();
    await removeTempDirs();
  });

  it('queues no work item when given no queue, for a store that notifies by itself', async () => {
    // Prepare
    const batcher = batcherWith({ maxBatchAgeMs: 2_000 }, { queue: 'none' });
    await buffer.append(eventsFor(groupFactory(), 3), clock);
    clock += 2_000;

    // Act
    const result = await batcher.flushDue();

    // Assess
    expect(result).toEqual({ objects: 1, events: 3, failures: 0 });
    expect((await readObjects(objectStore)).size).toBe(1);
    expect(await drainQueue(queue)).toEqual([]);
    expect(await buffer.pendingBytes()).toBe(0);
  });

  it('leaves a small group that is younger than the batch age in the buffer', async () => {
    // Prepare
    const batcher = batcherWith({ maxBatchAgeMs: 2_000 });
    await buffer.append(eventsFor(groupFactory(), 3), clock);
    clock += 1_999;

    // Act
    const result = await batcher.flushDue();

    // Assess
    expect(result).toEqual({ objects: 0, events: 0, failures: 0 });
    expect(await readObjects(objectStore)).toEqual(new Map());
  });

  it('writes a group as one gzip NDJSON object at the Vector key layout once its oldest event is old enough', async () => {
    // Prepare
    const batcher = batcherWith({ maxBatchAgeMs: 2_000 });
    const group = groupFactory();
    const events = eventsFor(group, 3);
    await buffer.append(events, clock);
    clock += 2_000;

    // Act
    const result = await batcher.flushDue();

    // Assess
    const objects = await readObjects(objectStore);
    expect(result).toEqual({ objects: 1, events: 3, failures: 0 });
    expect(objects.size).toBe(1);
    const [key, lines] = [...objects][0]!;
    expect(parseObjectKey(key)).toMatchObject({
      kind: 'log',
      clusterId: group.clusterId,
      tenantId: group.namespace,
      application: group.application,
      podName: group.podName,
      middle: [],
      fileName: expect.stringMatching(FILE_NAME),
    });
    expect(key).toContain(`/${formatKeyTimestamp(clock)}-`);
    expect(lines).toEqual(events.map((e) => e.line));
    expect(await drainQueue(queue)).toEqual([{ v: 1, key, attempt: 0 }]);
    expect(await buffer.pendingBytes()).toBe(0);
  });

  it('writes each (cluster, namespace, application, pod) group to its own object', async () => {
    // Prepare
    const batcher = batcherWith();
    const a = groupFactory();
    const b = { ...a, podName: `${a.podName}-other` };
    await buffer.append([...eventsFor(a, 2), ...eventsFor(b, 1), ...eventsFor(a, 1)], clock);

    // Act
    await batcher.flushAll();

    // Assess
    const objects = await readObjects(objectStore);
    const byPod = new Map([...objects].map(([key, lines]) => [parseObjectKey(key), lines.length]));
    expect([...byPod].map(([k, n]) => [k.kind === 'log' && k.podName, n]).sort()).toEqual(
      [
        [a.podName, 3],
        [b.podName, 1],
      ].sort(),
    );
    expect(await drainQueue(queue)).toHaveLength(2);
  });

  it('writes full objects of a young group as soon as it reaches the object size, keeping the rest', async () => {
    // Prepare
    const events = eventsFor(groupFactory(), 10, 100);
    const lineBytes = Buffer.byteLength(events[0]!.line) + 1;
    // One event per chunk, so objects can be cut at any event.
    buffer = createSqliteIngestBuffer(db, { maxChunkBytes: 1 });
    const batcher = batcherWith({ maxObjectBytes: lineBytes * 4, maxBatchAgeMs: 60_000 });
    await buffer.append(events, clock);

    // Act
    const result = await batcher.flushDue();

    // Assess
    const objects = await readObjects(objectStore);
    expect(result).toEqual({ objects: 2, events: 8, failures: 0 });
    expect([...objects.values()].map((lines) => lines.length)).toEqual([4, 4]);
    expect([...objects.values()].flat().sort()).toEqual(
      events
        .slice(0, 8)
        .map((e) => e.line)
        .sort(),
    );
    expect((await buffer.pendingGroups())[0]?.events).toBe(2);
  });

  it('writes everything on flushAll, whatever the size and age', async () => {
    // Prepare
    const batcher = batcherWith({ maxBatchAgeMs: 60_000 });
    await buffer.append([...eventsFor(groupFactory(), 2), ...eventsFor(groupFactory(), 1)], clock);

    // Act
    const result = await batcher.flushAll();

    // Assess
    expect(result).toEqual({ objects: 2, events: 3, failures: 0 });
    expect(await buffer.pendingBytes()).toBe(0);
    expect(await metricValue(registry, 'tlr_ingest_objects_total')).toBe(2);
    expect(await metricValue(registry, 'tlr_ingest_flushed_events_total')).toBe(3);
  });

  it('flushes on its timer once started', async () => {
    // Prepare
    const batcher = batcherWith({ flushIntervalMs: 10, maxBatchAgeMs: 1_000 });
    await batcher.start();
    await buffer.append(eventsFor(groupFactory(), 2), clock);

    // Act
    clock += 1_000;

    // Assess
    await vi.waitFor(async () => expect(await buffer.pendingBytes()).toBe(0), {
      timeout: 2_000,
      interval: 10,
    });
    expect((await readObjects(objectStore)).size).toBe(1);
  });

  it('flushes what is left when stopped', async () => {
    // Prepare
    const batcher = batcherWith({ maxBatchAgeMs: 60_000 });
    await batcher.start();
    await buffer.append(eventsFor(groupFactory(), 2), clock);

    // Act
    await batcher.stop();

    // Assess
    expect((await readObjects(objectStore)).size).toBe(1);
  });

  it('re-writes a batch assigned before a crash under the same key on start, without a second object', async () => {
    // Prepare
    const group = groupFactory();
    const events = eventsFor(group, 3);
    await buffer.append(events, clock);
    const key = buildObjectKey(group, clock, randomUUID());
    // Step (a) committed, then the process died before writing the object.
    await buffer.assignBatch(group, key, 1_000_000);

    // Act
    await batcherWith().start();

    // Assess
    const objects = await readObjects(objectStore);
    expect([...objects.keys()]).toEqual([key]);
    expect(objects.get(key)).toEqual(events.map((e) => e.line));
    expect(await drainQueue(queue)).toEqual([{ v: 1, key, attempt: 0 }]);
    expect(await buffer.assignedBatchKeys()).toEqual([]);
  });

  it('re-notifies a batch written and notified before a crash but not deleted, overwriting its one object', async () => {
    // Prepare
    const group = groupFactory();
    await buffer.append(eventsFor(group, 2), clock);
    const key = buildObjectKey(group, clock, randomUUID());
    await buffer.assignBatch(group, key, 1_000_000);
    const failingDelete: IngestBuffer = {
      ...buffer,
      completeBatch: async () => {
        throw new Error('crash before step (d)');
      },
    };
    const first = createIngestBatcher({
      buffer: failingDelete,
      objectStore,
      queue,
      config: defaultHttpIngestConfig(),
      logger: silentLogger,
      registry,
      now: () => clock,
    });
    await first.flushDue();

    // Act
    await batcherWith().start();

    // Assess
    expect([...(await readObjects(objectStore)).keys()]).toEqual([key]);
    expect(await drainQueue(queue)).toEqual([
      { v: 1, key, attempt: 0 },
      { v: 1, key, attempt: 0 },
    ]);
    expect(await metricValue(registry, 'tlr_ingest_flush_failures_total', { stage: 'complete' })).toBe(1);
    expect(await buffer.pendingBytes()).toBe(0);
  });

  it('keeps the events of a batch whose object cannot be written, and retries them under the same key', async () => {
    // Prepare
    const fullStore = createFileObjectStore({ rootDir: join(dir, 'objects'), maxBytes: 1 });
    const failing = batcherWith({}, { objectStore: fullStore });
    const events = eventsFor(groupFactory(), 2);
    await buffer.append(events, clock);

    // Act
    const failed = await failing.flushAll();
    const [key] = await buffer.assignedBatchKeys();
    const retried = await batcherWith().flushDue();

    // Assess
    expect(failed).toEqual({ objects: 0, events: 0, failures: 1 });
    expect(await metricValue(registry, 'tlr_ingest_flush_failures_total', { stage: 'put' })).toBe(1);
    expect(retried).toEqual({ objects: 1, events: 2, failures: 0 });
    expect([...(await readObjects(objectStore)).keys()]).toEqual([key]);
  });

  it('warns about a store that keeps failing once a minute per step, and counts every failure', async () => {
    // Prepare
    const warnings: string[] = [];
    const logger = createLogger({
      level: LogLevel.INFO,
      write: (line) => {
        const entry = JSON.parse(line) as { level: string; message: string };
        if (entry.level === 'warn') warnings.push(entry.message);
      },
    });
    const fullStore = createFileObjectStore({ rootDir: join(dir, 'objects'), maxBytes: 1 });
    const failing = batcherWith({}, { objectStore: fullStore, logger });
    await buffer.append(eventsFor(groupFactory(), 2), clock);

    // Act: three failed flushes within a minute, then one a minute later.
    for (let i = 0; i < 3; i++) {
      await failing.flushAll();
      clock += 10_000;
    }
    const withinMinute = warnings.length;
    clock += 60_000;
    await failing.flushAll();

    // Assess
    expect(withinMinute).toBe(1);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('Writing an ingest batch failed');
    expect(await metricValue(registry, 'tlr_ingest_flush_failures_total', { stage: 'put' })).toBe(4);
  });

  it('cuts no new batches while an earlier batch still cannot be written', async () => {
    // Prepare
    const fullStore = createFileObjectStore({ rootDir: join(dir, 'objects'), maxBytes: 1 });
    const failing = batcherWith({ maxBatchAgeMs: 0 }, { objectStore: fullStore });
    const group = groupFactory();
    await buffer.append(eventsFor(group, 2), clock);
    await failing.flushDue();
    await buffer.append(eventsFor(group, 3), clock);

    // Act
    const result = await failing.flushDue();

    // Assess
    expect(result).toEqual({ objects: 0, events: 0, failures: 1 });
    expect(await buffer.assignedBatchKeys()).toHaveLength(1);
    expect((await buffer.pendingGroups())[0]?.events).toBe(3);
  });

  it('keeps the events of a batch whose notification fails, and notifies on the next flush', async () => {
    // Prepare
    const downQueue: NotificationQueue = {
      ...queue,
      send: async () => {
        throw new Error('queue down');
      },
    };
    const failing = batcherWith({}, { queue: downQueue });
    await buffer.append(eventsFor(groupFactory(), 2), clock);

    // Act
    const failed = await failing.flushAll();
    const [key] = await buffer.assignedBatchKeys();
    await batcherWith().flushDue();

    // Assess
    expect(failed.failures).toBe(1);
    expect(await metricValue(registry, 'tlr_ingest_flush_failures_total', { stage: 'notify' })).toBe(1);
    expect(await drainQueue(queue)).toEqual([{ v: 1, key, attempt: 0 }]);
    expect(await buffer.pendingBytes()).toBe(0);
  });

  it('reports the buffered bytes as a gauge', async () => {
    // Prepare
    batcherWith();
    const events = eventsFor(groupFactory(), 2);
    await buffer.append(events, clock);

    // Act
    const value = await metricValue(registry, 'tlr_ingest_buffer_bytes');

    // Assess
    expect(value).toBe(events.reduce((sum, e) => sum + Buffer.byteLength(e.line) + 1, 0));
  });
});
