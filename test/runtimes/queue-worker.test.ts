import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbortedError } from '../../src/domain/errors.js';
import { type Logger, silentLogger } from '../../src/logging/index.js';
import { encodeWorkItem } from '../../src/pipeline/notification.js';
import type { MessageOutcome, Processor } from '../../src/pipeline/processor.js';
import { createQueueWorker, FAILURE_RETRY_BASE_MS, failureRetryDelayMs, type QueueWorkerOptions } from '../../src/runtimes/queue-worker.js';
import {
  createSqliteQueue,
  openDatabase,
  type SqliteDatabase,
  type SqliteQueue,
} from '../../src/stores/local/index.js';
import type { QueueMessage } from '../../src/stores/ports.js';
import { randomId } from '../helpers/factories.js';
import { metricValue } from '../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const VISIBILITY_TIMEOUT_MS = 60_000;

let db: SqliteDatabase;
let queue: SqliteQueue;
/** The queue's clock: moves only when a test moves it, or by `tickMs` on every reading. */
let clock: { nowMs: number; tickMs: number };

beforeEach(async () => {
  const dir = await makeTempDir('tlr-queue-worker-');
  clock = { nowMs: Date.parse('2024-01-15T10:00:00Z'), tickMs: 0 };
  db = openDatabase(join(dir, 'tlr.db'));
  const now = () => {
    clock.nowMs += clock.tickMs;
    return clock.nowMs;
  };
  queue = createSqliteQueue(db, { now, pollIntervalMs: 100 });
});

afterEach(async () => {
  vi.useRealTimers();
  queue.close();
  db.close();
  await removeTempDirs();
});

/** One call of the fake processor, held until the test settles it. */
interface HeldCall {
  readonly body: string;
  readonly signal: AbortSignal;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * A processor (our own port, so a fake is fine) whose calls wait until the test lets them
 * go; counts how many run at once.
 */
function gatedProcessor() {
  const held: HeldCall[] = [];
  const waiters: (() => void)[] = [];
  const state = { active: 0, maxActive: 0, calls: 0 };
  const processMessage = vi.fn(
    (body: string, signal: AbortSignal) =>
      new Promise<MessageOutcome>((resolve, reject) => {
        state.calls++;
        state.active++;
        state.maxActive = Math.max(state.maxActive, state.active);
        const done = () => state.active--;
        held.push({
          body,
          signal,
          resolve: () => {
            done();
            resolve({ items: [] });
          },
          reject: (error) => {
            done();
            reject(error);
          },
        });
        for (const wake of waiters.splice(0)) wake();
      }),
  );
  const processor: Processor = { processMessage, processItem: vi.fn() };
  return {
    processor,
    processMessage,
    held,
    state,
    /** Resolves once at least `n` calls are held. */
    async heldAtLeast(n: number): Promise<void> {
      while (held.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    releaseAll(): number {
      const calls = held.splice(0);
      for (const call of calls) call.resolve();
      return calls.length;
    },
  };
}

/** A processor that resolves at once and records the bodies it saw. */
function recordingProcessor(): { processor: Processor; bodies: string[] } {
  const bodies: string[] = [];
  return {
    bodies,
    processor: {
      processMessage: vi.fn(async (body: string) => {
        bodies.push(body);
        return { items: [] };
      }),
      processItem: vi.fn(),
    },
  };
}

function worker(processor: Processor, overrides: Partial<QueueWorkerOptions> = {}) {
  return createQueueWorker({
    queue,
    processor,
    logger: silentLogger,
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
    waitMs: 0,
    // Held calls never park unless a test asks: the counts below stay exact on a slow machine.
    slowAfterMs: 3_600_000,
    ...overrides,
  });
}

async function sendMany(count: number): Promise<string[]> {
  const bodies = Array.from({ length: count }, (_, i) => `message-${i}-${randomId()}`);
  for (const body of bodies) await queue.send(body);
  return bodies;
}

describe('createQueueWorker', () => {
  it('deletes a message only after processing it resolved', async () => {
    // Prepare
    const [body] = await sendMany(1);
    const gate = gatedProcessor();
    const deleteMessage = vi.spyOn(queue, 'delete');
    const onOutcome = vi.fn();
    const draining = worker(gate.processor, { onOutcome }).drain();
    await gate.heldAtLeast(1);
    const whileProcessing = { stats: await queue.stats(), deletes: deleteMessage.mock.calls.length };
    // Act
    gate.releaseAll();
    await draining;
    // Assess
    expect(whileProcessing).toEqual({ stats: expect.objectContaining({ inFlight: 1 }), deletes: 0 });
    expect(gate.processMessage).toHaveBeenCalledWith(body, expect.any(AbortSignal));
    expect(deleteMessage).toHaveBeenCalledTimes(1);
    const [, message] = onOutcome.mock.calls[0] as [MessageOutcome, QueueMessage];
    expect(deleteMessage).toHaveBeenCalledWith(message.receiptHandle);
    expect(onOutcome).toHaveBeenCalledWith({ items: [] }, expect.objectContaining({ body, receiveCount: 1 }));
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
  });

  it('brings a message whose processing failed back after a short pause that doubles per receive', async () => {
    // Prepare
    const [body] = await sendMany(1);
    const error = vi.fn();
    const logger: Logger = { ...silentLogger, error };
    const failure = new Error('The checkpoint store is unreachable.');
    const processMessage = vi
      .fn<Processor['processMessage']>()
      .mockRejectedValueOnce(failure)
      .mockRejectedValueOnce(failure)
      .mockResolvedValue({ items: [] });
    const onOutcome = vi.fn();
    const w = worker({ processMessage, processItem: vi.fn() }, { logger, onOutcome });
    await w.drain();
    const afterFirst = await queue.stats();
    clock.nowMs += FAILURE_RETRY_BASE_MS - 1;
    const justBeforeFirstPause = await queue.stats();
    clock.nowMs += 1;
    await w.drain();
    clock.nowMs += 2 * FAILURE_RETRY_BASE_MS - 1;
    const justBeforeSecondPause = await queue.stats();
    clock.nowMs += 1;

    // Act
    await w.drain();

    // Assess
    expect(afterFirst).toMatchObject({ visible: 0, inFlight: 1 });
    expect(justBeforeFirstPause).toMatchObject({ visible: 0, inFlight: 1 });
    expect(justBeforeSecondPause).toMatchObject({ visible: 0, inFlight: 1 });
    expect(error).toHaveBeenNthCalledWith(
      1,
      'Processing a message failed; it will be delivered again.',
      expect.objectContaining({ receiveCount: 1, retryInMs: FAILURE_RETRY_BASE_MS, error: failure }),
    );
    expect(error).toHaveBeenNthCalledWith(
      2,
      'Processing a message failed; it will be delivered again.',
      expect.objectContaining({ receiveCount: 2, retryInMs: 2 * FAILURE_RETRY_BASE_MS }),
    );
    expect(processMessage).toHaveBeenCalledTimes(3);
    expect(onOutcome).toHaveBeenCalledExactlyOnceWith({ items: [] }, expect.objectContaining({ body, receiveCount: 3 }));
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it('never pauses a failed message longer than the visibility timeout', () => {
    // Act
    const delays = [1, 2, 3, 10, 60].map((n) => failureRetryDelayMs(n, 30_000));

    // Assess
    expect(delays).toEqual([5_000, 10_000, 20_000, 30_000, 30_000]);
  });

  it('drains every message once and ends when the queue is empty', async () => {
    // Prepare
    const bodies = await sendMany(25);
    const { processor, bodies: seen } = recordingProcessor();
    // Act
    await worker(processor, { concurrency: 4 }).drain();
    // Assess
    expect([...seen].sort()).toEqual([...bodies].sort());
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
  });

  it('ends a drain of an empty queue at once', async () => {
    // Prepare
    const { processor } = recordingProcessor();
    // Act
    await worker(processor).drain();
    // Assess
    expect(processor.processMessage).not.toHaveBeenCalled();
  });

  it('leaves delayed messages for later when draining', async () => {
    // Prepare
    await queue.send('later', { delayMs: 30_000 });
    const { processor } = recordingProcessor();
    // Act
    await worker(processor).drain();
    // Assess
    expect(processor.processMessage).not.toHaveBeenCalled();
    expect(await queue.stats()).toMatchObject({ delayed: 1 });
  });

  it.each([{ concurrency: 1 }, { concurrency: 3 }, { concurrency: 12 }])(
    'never processes more than $concurrency messages at once',
    async ({ concurrency }) => {
      // Prepare
      const total = 14;
      await sendMany(total);
      const gate = gatedProcessor();
      const w = worker(gate.processor, { concurrency });
      // Act
      const draining = w.drain();
      let released = 0;
      while (released < total) {
        await gate.heldAtLeast(Math.min(concurrency, total - released));
        // Give the worker every chance to take more than it may before letting these go.
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        expect(w.inFlight()).toBeLessThanOrEqual(concurrency);
        released += gate.releaseAll();
      }
      await draining;
      // Assess
      expect(gate.state.calls).toBe(total);
      expect(gate.state.maxActive).toBe(Math.min(concurrency, total));
    },
  );

  it('retries a failed receive after waiting, then goes on', async () => {
    // Prepare
    const [body] = await sendMany(1);
    const error = vi.fn();
    const logger: Logger = { ...silentLogger, error };
    vi.spyOn(queue, 'receive').mockRejectedValueOnce(new Error('SQLITE_BUSY: database is locked'));
    const { processor, bodies } = recordingProcessor();
    // A long poll of the queue ends by its clock: let it run.
    clock.tickMs = 1;
    // Act
    await worker(processor, { logger, waitMs: 5 }).drain();
    // Assess
    expect(error).toHaveBeenCalledWith('Receiving from the queue failed; retrying.', {
      error: expect.objectContaining({ message: 'SQLITE_BUSY: database is locked' }),
    });
    expect(bodies).toEqual([body]);
  });

  describe('stop', () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    });

    it('lets in-flight work finish within the grace period, then acknowledges it', async () => {
      // Prepare
      await sendMany(1);
      const gate = gatedProcessor();
      const changeVisibility = vi.spyOn(queue, 'changeVisibility');
      const w = worker(gate.processor, { waitMs: 1_000 });
      w.start();
      await gate.heldAtLeast(1);
      const [call] = gate.held;
      let stopped = false;
      const stopping = w.stop(10_000).then(() => {
        stopped = true;
      });
      await vi.advanceTimersByTimeAsync(5_000);
      const stoppedBeforeDone = stopped;
      const abortedBeforeDone = call!.signal.aborted;
      // Act
      gate.releaseAll();
      await vi.advanceTimersByTimeAsync(0);
      await stopping;
      // Assess
      expect(stoppedBeforeDone).toBe(false);
      expect(abortedBeforeDone).toBe(false);
      expect(changeVisibility).not.toHaveBeenCalledWith(expect.any(String), 0);
      expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
      expect(w.inFlight()).toBe(0);
    });

    it.each([
      { case: 'AbortedError', failure: new AbortedError() },
      { case: 'an error of its own', failure: new Error('The destination call was aborted.') },
    ])(
      'aborts work still running after the grace period and releases its message ($case)',
      async ({ failure }) => {
        // Prepare
        const [body] = await sendMany(1);
        const gate = gatedProcessor();
        const changeVisibility = vi.spyOn(queue, 'changeVisibility');
        const deleteMessage = vi.spyOn(queue, 'delete');
        const w = worker(gate.processor, { waitMs: 1_000 });
        w.start();
        await gate.heldAtLeast(1);
        const [call] = gate.held;
        call!.signal.addEventListener('abort', () => call!.reject(failure));
        let stopped = false;
        const stopping = w.stop(2_000).then(() => {
          stopped = true;
        });
        await vi.advanceTimersByTimeAsync(1_999);
        const stoppedWithinGrace = stopped;
        // Act
        await vi.advanceTimersByTimeAsync(1);
        await stopping;
        // Assess
        expect(stoppedWithinGrace).toBe(false);
        expect(call!.signal.aborted).toBe(true);
        expect(changeVisibility).toHaveBeenCalledWith(expect.any(String), 0);
        expect(deleteMessage).not.toHaveBeenCalled();
        expect(await queue.stats()).toMatchObject({ visible: 1, inFlight: 0 });
        const [again] = await queue.receive({ maxMessages: 1, waitMs: 0 });
        expect(again).toMatchObject({ body, receiveCount: 2 });
      },
    );

    it('keeps a message hidden while it is processed by extending its visibility', async () => {
      // Prepare
      await sendMany(1);
      const gate = gatedProcessor();
      const changeVisibility = vi.spyOn(queue, 'changeVisibility');
      const w = worker(gate.processor, { visibilityTimeoutMs: 10_000, waitMs: 1_000 });
      w.start();
      await gate.heldAtLeast(1);
      // Act
      await vi.advanceTimersByTimeAsync(5_000);
      // Assess
      expect(changeVisibility).toHaveBeenCalledExactlyOnceWith(expect.any(String), 10_000);
      gate.releaseAll();
      await w.stop(1_000);
    });

    it('stops at once when nothing is in flight', async () => {
      // Prepare
      const { processor } = recordingProcessor();
      const w = worker(processor, { waitMs: 1_000 });
      w.start();
      // Act
      await w.stop(60_000);
      // Assess
      expect(processor.processMessage).not.toHaveBeenCalled();
    });
  });
});

/** A work item body for an object of `tenant`, as ingest writes it. */
function tenantBody(tenant: string): string {
  return encodeWorkItem({ key: `c1/${tenant}/api/api-1/20240115-100000-${randomId()}.json.gz`, attempt: 0 });
}

const tenantOf = (body: string) => body.split('/')[1];

describe('createQueueWorker fair scheduling', () => {
  it("runs another tenant's message beside a noisy tenant's backlog instead of after it", async () => {
    // Prepare
    const noisy = Array.from({ length: 6 }, () => tenantBody('team-a'));
    const quiet = tenantBody('team-b');
    for (const body of [...noisy, quiet]) await queue.send(body);
    const gate = gatedProcessor();
    const registry = new Registry();
    const w = worker(gate.processor, { concurrency: 2, maxInFlightPerTenant: 1, registry });
    const draining = w.drain();
    await gate.heldAtLeast(2);
    const firstTwo = gate.held.map((call) => call.body);
    const waitingNoisy = await metricValue(registry, 'tlr_scheduler_waiting', { tenant: 'team-a' });
    const inFlight = await metricValue(registry, 'tlr_scheduler_in_flight');

    // Act
    const order = [...firstTwo];
    while (order.length < noisy.length + 1) {
      gate.releaseAll();
      await gate.heldAtLeast(1);
      order.push(...gate.held.map((call) => call.body));
    }
    gate.releaseAll();
    await draining;

    // Assess
    expect(firstTwo).toEqual([noisy[0], quiet]);
    expect(order).toEqual([noisy[0], quiet, ...noisy.slice(1)]);
    expect(gate.state.maxActive).toBe(2);
    expect(waitingNoisy).toBe(5);
    expect(inFlight).toBe(2);
    expect(await metricValue(registry, 'tlr_scheduler_waiting')).toBe(0);
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
  });

  it("starts another tenant's message once a slow one has run past slowAfterMs, keeping the slow tenant at its limit", async () => {
    // Prepare: one slot; team-a's first call hangs (a slow destination), team-a has more behind it.
    const slow = [tenantBody('team-a'), tenantBody('team-a')];
    const quiet = tenantBody('team-b');
    for (const body of [...slow, quiet]) await queue.send(body);
    const gate = gatedProcessor();
    const registry = new Registry();
    const w = worker(gate.processor, { concurrency: 1, maxInFlightPerTenant: 1, slowAfterMs: 50, registry });
    w.start();
    await gate.heldAtLeast(1);

    // Act: wait until a second call runs beside the hanging one.
    await gate.heldAtLeast(2);
    const running = gate.held.map((call) => call.body);
    const parked = await metricValue(registry, 'tlr_scheduler_parked');
    gate.releaseAll();
    await gate.heldAtLeast(1);
    gate.releaseAll();
    await w.stop(1_000);

    // Assess: team-b's message, not team-a's second, took the freed shared slot.
    expect(running).toEqual([slow[0], quiet]);
    expect(parked).toBe(1);
    expect(gate.state.calls).toBe(3);
  });

  it('holds at most concurrency × prefetchFactor messages, hidden, while they wait', async () => {
    // Prepare
    // Ten tenants, two messages each, in pairs: each tenant stays within its share (2 held).
    for (let i = 0; i < 20; i++) await queue.send(tenantBody(`team-${Math.floor(i / 2)}`));
    const gate = gatedProcessor();
    const w = worker(gate.processor, { concurrency: 2, maxInFlightPerTenant: 1, prefetchFactor: 3 });
    w.start();
    await gate.heldAtLeast(1);
    // Give the worker every chance to receive more than it may.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));

    // Act
    const stats = await queue.stats();

    // Assess
    expect(stats).toMatchObject({ visible: 14, inFlight: 6 });
    expect(gate.held).toHaveLength(2);
    gate.releaseAll();
    await w.stop(0);
  });

  it('gives messages still waiting for a slot back to the queue as soon as it stops', async () => {
    // Prepare
    for (let i = 0; i < 3; i++) await queue.send(tenantBody(`team-${i}`));
    const gate = gatedProcessor();
    const deleteMessage = vi.spyOn(queue, 'delete');
    const w = worker(gate.processor, { concurrency: 1 });
    w.start();
    await gate.heldAtLeast(1);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));

    // Act
    const stopping = w.stop(60_000);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    const whileRunning = await queue.stats();
    gate.releaseAll();
    await stopping;

    // Assess
    expect(whileRunning).toMatchObject({ visible: 2, inFlight: 1 });
    expect(deleteMessage).toHaveBeenCalledTimes(1);
    expect(gate.state.calls).toBe(1);
    expect(await queue.stats()).toMatchObject({ visible: 2, inFlight: 0 });
  });

  it("puts a tenant's messages back for a while once only the last share of the window is left, so a slow tenant cannot fill it", async () => {
    // Prepare: a slow tenant with a backlog, then a quiet tenant's one message behind it.
    const registry = new Registry();
    for (let i = 0; i < 8; i++) await queue.send(tenantBody('slow'));
    const quiet = tenantBody('quiet');
    await queue.send(quiet);
    const gate = gatedProcessor();
    const w = worker(gate.processor, { concurrency: 2, maxInFlightPerTenant: 1, prefetchFactor: 4, registry });
    w.start();

    // Act: the slow tenant's first call never ends until released.
    await gate.heldAtLeast(2);
    const stats = await queue.stats();

    // Assess: of the window of 8, 'slow' holds 6 (1 running), its other 2 wait delayed in the
    // queue, and 'quiet' runs beside it in the share kept for others.
    expect(gate.held.map((h) => h.body).includes(quiet)).toBe(true);
    expect(stats).toMatchObject({ visible: 0, inFlight: 7, delayed: 2 });
    expect(await metricValue(registry, 'tlr_scheduler_deferred_total')).toBe(2);
    gate.releaseAll();
    await w.stop(0);
  });

  it('puts nothing back for a tenant alone whose burst leaves the last share of the window free', async () => {
    // Prepare
    const registry = new Registry();
    for (let i = 0; i < 6; i++) await queue.send(tenantBody('busy'));
    const gate = gatedProcessor();
    const w = worker(gate.processor, { concurrency: 2, maxInFlightPerTenant: 1, prefetchFactor: 4, registry });
    w.start();

    // Act
    await gate.heldAtLeast(1);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    const stats = await queue.stats();

    // Assess
    expect(stats).toMatchObject({ visible: 0, inFlight: 6, delayed: 0 });
    expect(await metricValue(registry, 'tlr_scheduler_deferred_total')).toBe(0);
    gate.releaseAll();
    await w.stop(0);
  });

  it('defers nothing while draining, so a drain leaves no delayed work behind', async () => {
    // Prepare
    for (let i = 0; i < 6; i++) await queue.send(tenantBody('slow'));
    const { processor, bodies } = recordingProcessor();

    // Act
    await worker(processor, { concurrency: 2, maxInFlightPerTenant: 1 }).drain();

    // Assess
    expect(bodies).toHaveLength(6);
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('refuses a prefetchFactor that is not a whole number ≥ 1', () => {
    // Prepare
    const { processor } = recordingProcessor();

    // Act
    const build = () => worker(processor, { prefetchFactor: 0 });

    // Assess
    expect(build).toThrow(/prefetchFactor/);
  });
});

describe('createQueueWorker in batch mode', () => {
  /** A batch processor of our own port that refuses bodies starting with 'bad'. */
  function batchProcessor() {
    const batches: string[][] = [];
    const processor = {
      processMessage: vi.fn(),
      processItem: vi.fn(),
      processItems: vi.fn(),
      processMessages: vi.fn(async (bodies: readonly string[]) => {
        batches.push([...bodies]);
        return bodies.map((body) =>
          body.startsWith('bad')
            ? ({ status: 'rejected', reason: new Error('store unreachable') } as const)
            : ({ status: 'fulfilled', value: { items: [] } } as const),
        );
      }),
    };
    return { processor, batches };
  }

  it('hands each receive to processMessages as one batch and deletes only the settled messages', async () => {
    // Prepare
    const bodies = await sendMany(5);
    await queue.send('bad-one');
    const { processor, batches } = batchProcessor();
    const w = worker(processor as unknown as Processor, { batches: true });

    // Act
    await w.drain();

    // Assess
    expect(batches).toHaveLength(1);
    expect([...batches[0]!].sort()).toEqual([...bodies, 'bad-one'].sort());
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 1 });
  });

  it('splits a receive into one batch per tenant, each scheduled on its own', async () => {
    // Prepare
    const bodies = [tenantBody('team-a'), tenantBody('team-b'), tenantBody('team-a'), 'not json', tenantBody('team-b')];
    for (const body of bodies) await queue.send(body);
    const { processor, batches } = batchProcessor();
    const w = worker(processor as unknown as Processor, { batches: true, concurrency: 1 });

    // Act
    await w.drain();

    // Assess
    expect(batches.map((batch) => batch.map((body) => tenantOf(body) ?? body))).toEqual([
      ['team-a', 'team-a'],
      ['team-b', 'team-b'],
      ['not json'],
    ]);
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
  });

  it('refuses batch mode for a processor without processMessages', () => {
    // Prepare
    const { processor } = recordingProcessor();

    // Act
    const build = () => worker(processor, { batches: true });

    // Assess
    expect(build).toThrow(/Batch mode needs a processor with processMessages/);
  });
});
