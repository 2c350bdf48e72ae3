import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigValidationError } from '../../src/domain/index.js';
import {
  BackpressureReason,
  combineBackpressureChecks,
  createQueueBacklogCheck,
  createStoreFullTracker,
  MAX_QUEUE_BACKLOG_ENV,
  maxQueueBacklogFromEnv,
} from '../../src/ingest/backpressure.js';
import { type Logger, silentLogger } from '../../src/logging/index.js';
import {
  createFileObjectStore,
  createSqliteQueue,
  openDatabase,
  type SqliteDatabase,
  type SqliteQueue,
  StoreFullError,
} from '../../src/stores/local/index.js';
import { randomId } from '../helpers/factories.js';
import { metricValue } from '../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

let dir: string;
let db: SqliteDatabase;
let queue: SqliteQueue;

beforeEach(async () => {
  dir = await makeTempDir('tlr-backpressure-');
  db = openDatabase(join(dir, 'tlr.db'));
  queue = createSqliteQueue(db, { pollIntervalMs: 10 });
});

afterEach(async () => {
  queue.close();
  db.close();
  await removeTempDirs();
});

async function sendMany(count: number, delayMs = 0): Promise<void> {
  for (let i = 0; i < count; i++) await queue.send(`message-${randomId()}`, delayMs > 0 ? { delayMs } : undefined);
}

describe('createQueueBacklogCheck', () => {
  it("does not count delayed retries, so one tenant's failing destination cannot hold back everyone's ingest", async () => {
    // Prepare: far more delayed retries than the limit, and ready messages within it.
    const check = createQueueBacklogCheck({ queue, maxBacklog: 3, retryAfterSeconds: 9, cacheMs: 0, logger: silentLogger });
    await sendMany(10, 60_000);
    await sendMany(3);

    // Act
    const state = await check.check();

    // Assess
    expect((await queue.stats()).delayed).toBe(10);
    expect(state).toEqual({ ok: true });
  });

  it('refuses while ready messages are over the limit, with Retry-After and a precise message', async () => {
    // Prepare
    const registry = new Registry();
    const check = createQueueBacklogCheck({
      queue,
      maxBacklog: 3,
      retryAfterSeconds: 9,
      cacheMs: 0,
      logger: silentLogger,
      registry,
    });
    await sendMany(3);
    const atLimit = await check.check();
    await sendMany(1);

    // Act
    const over = await check.check();

    // Assess
    expect(atLimit).toEqual({ ok: true });
    expect(over).toEqual({
      ok: false,
      reason: BackpressureReason.QUEUE_BACKLOG,
      retryAfterSeconds: 9,
      message: expect.stringContaining('4 notifications wait to be processed, more than the limit of 3'),
    });
    expect(await metricValue(registry, 'tlr_ingest_backpressure_active', { reason: 'queue_backlog' })).toBe(1);
  });

  it('accepts again once the backlog drained below the limit', async () => {
    // Prepare
    const check = createQueueBacklogCheck({ queue, maxBacklog: 1, retryAfterSeconds: 5, cacheMs: 0, logger: silentLogger });
    await sendMany(2);
    const over = await check.check();

    // Act
    for (const message of await queue.receive({ maxMessages: 10, waitMs: 0 })) await queue.delete(message.receiptHandle);
    const drained = await check.check();

    // Assess
    expect(over.ok).toBe(false);
    expect(drained).toEqual({ ok: true });
  });

  it('reads the queue stats at most once per cacheMs, sharing one reading between callers', async () => {
    // Prepare
    const clock = { nowMs: 1_000_000 };
    const stats = vi.spyOn(queue, 'stats');
    const check = createQueueBacklogCheck({
      queue,
      maxBacklog: 10,
      retryAfterSeconds: 5,
      cacheMs: 1_000,
      logger: silentLogger,
      now: () => clock.nowMs,
    });

    // Act
    await Promise.all(Array.from({ length: 20 }, () => check.check()));
    clock.nowMs += 999;
    await check.check();
    const readsWithinCache = stats.mock.calls.length;
    clock.nowMs += 1;
    await check.check();

    // Assess
    expect(readsWithinCache).toBe(1);
    expect(stats).toHaveBeenCalledTimes(2);
  });

  it('lets ingest go on and logs when the stats cannot be read', async () => {
    // Prepare
    const warn = vi.fn();
    const logger: Logger = { ...silentLogger, warn };
    const failure = new Error('SQLITE_BUSY: database is locked');
    vi.spyOn(queue, 'stats').mockRejectedValueOnce(failure);
    const check = createQueueBacklogCheck({ queue, maxBacklog: 1, retryAfterSeconds: 5, cacheMs: 0, logger });

    // Act
    const state = await check.check();

    // Assess
    expect(state).toEqual({ ok: true });
    expect(warn).toHaveBeenCalledWith(
      'Reading the notification queue backlog failed; ingest goes on without that check.',
      { error: failure },
    );
  });

  it.each([
    { maxBacklog: 0, retryAfterSeconds: 5, field: 'maxQueueBacklog' },
    { maxBacklog: 10, retryAfterSeconds: 0.5, field: 'retryAfterSeconds' },
  ])('refuses $field that is not a whole number ≥ 1', ({ maxBacklog, retryAfterSeconds, field }) => {
    // Act
    const build = () => createQueueBacklogCheck({ queue, maxBacklog, retryAfterSeconds, logger: silentLogger });

    // Assess
    expect(build).toThrow(ConfigValidationError);
    expect(build).toThrow(field);
  });
});

describe('createStoreFullTracker', () => {
  it('refuses ingest from the first write refused as full, logs it once and counts each refused write', async () => {
    // Prepare
    const error = vi.fn();
    const registry = new Registry();
    const tracker = createStoreFullTracker({ retryAfterSeconds: 4, logger: { ...silentLogger, error }, registry });
    const store = tracker.wrap(createFileObjectStore({ rootDir: join(dir, 'objects'), maxBytes: 100 }));
    const before = await tracker.check();

    // Act
    const first = await store.put('c1/team-a/api/pod/1.json.gz', new Uint8Array(200)).catch((e: unknown) => e);
    const second = await store.put('c1/team-a/api/pod/2.json.gz', new Uint8Array(200)).catch((e: unknown) => e);
    const during = await tracker.check();

    // Assess
    expect(before).toEqual({ ok: true });
    expect(first).toBeInstanceOf(StoreFullError);
    expect(second).toBeInstanceOf(StoreFullError);
    expect(during).toEqual({
      ok: false,
      reason: BackpressureReason.STORE_FULL,
      retryAfterSeconds: 4,
      message: expect.stringContaining('disk budget is reached'),
    });
    expect(error).toHaveBeenCalledExactlyOnceWith(
      'The object store is full; ingest refuses new events (503, Forward paused) until there is room.',
      expect.objectContaining({ error: first }),
    );
    expect(await metricValue(registry, 'tlr_object_store_full_total')).toBe(2);
    expect(await metricValue(registry, 'tlr_ingest_backpressure_active', { reason: 'store_full' })).toBe(1);
  });

  it('accepts again after the next write that fits, and passes other write errors on untouched', async () => {
    // Prepare
    const info = vi.fn();
    const tracker = createStoreFullTracker({ retryAfterSeconds: 4, logger: { ...silentLogger, info } });
    const store = tracker.wrap(createFileObjectStore({ rootDir: join(dir, 'objects'), maxBytes: 100 }));
    await store.put('c1/team-a/api/pod/big.json.gz', new Uint8Array(200)).catch(() => undefined);
    const full = await tracker.check();

    // Act
    await store.put('c1/team-a/api/pod/small.json.gz', new Uint8Array(10));
    const after = await tracker.check();
    const badKey = await store.put('../escape', new Uint8Array(1)).catch((e: unknown) => e);

    // Assess
    expect(full.ok).toBe(false);
    expect(after).toEqual({ ok: true });
    expect(info).toHaveBeenCalledWith('The object store has room again; ingest accepts events.', expect.any(Object));
    expect(badKey).toBeInstanceOf(Error);
    expect(badKey).not.toBeInstanceOf(StoreFullError);
    expect(await tracker.check()).toEqual({ ok: true });
  });
});

describe('combineBackpressureChecks', () => {
  it('answers with the first check that refuses', async () => {
    // Prepare
    const tracker = createStoreFullTracker({ retryAfterSeconds: 4, logger: silentLogger });
    const store = tracker.wrap(createFileObjectStore({ rootDir: join(dir, 'objects'), maxBytes: 1 }));
    await store.put('c1/team-a/api/pod/big.json.gz', new Uint8Array(10)).catch(() => undefined);
    await sendMany(2);
    const backlog = createQueueBacklogCheck({ queue, maxBacklog: 1, retryAfterSeconds: 5, cacheMs: 0, logger: silentLogger });

    // Act
    const storeFirst = await combineBackpressureChecks([tracker, backlog]).check();
    const backlogFirst = await combineBackpressureChecks([backlog, tracker]).check();
    const none = await combineBackpressureChecks([]).check();

    // Assess
    expect(storeFirst).toMatchObject({ ok: false, reason: 'store_full' });
    expect(backlogFirst).toMatchObject({ ok: false, reason: 'queue_backlog' });
    expect(none).toEqual({ ok: true });
  });
});

describe('maxQueueBacklogFromEnv', () => {
  it('reads the limit, or nothing when unset', () => {
    // Act
    const set = maxQueueBacklogFromEnv({ [MAX_QUEUE_BACKLOG_ENV]: ' 2500 ' });
    const unset = maxQueueBacklogFromEnv({});

    // Assess
    expect(set).toBe(2500);
    expect(unset).toBeUndefined();
  });

  it.each(['0', '-1', '1.5', 'lots'])('refuses %s, naming the variable', (raw) => {
    // Act
    const read = () => maxQueueBacklogFromEnv({ [MAX_QUEUE_BACKLOG_ENV]: raw });

    // Assess
    expect(read).toThrow(ConfigValidationError);
    expect(read).toThrow(MAX_QUEUE_BACKLOG_ENV);
  });
});
