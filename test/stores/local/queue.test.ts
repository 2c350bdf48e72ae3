import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbortedError, ConfigValidationError } from '../../../src/domain/errors.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteQueue, type SqliteQueue, type SqliteQueueOptions } from '../../../src/stores/local/queue.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const START_MS = 1_767_225_600_000;
const VISIBILITY_MS = 30_000;

let dbPath: string;
let db: SqliteDatabase;
let clockMs: number;
const openDbs: SqliteDatabase[] = [];

/** A queue on the test database whose clock is `clockMs`. */
function makeQueue(options: SqliteQueueOptions = {}, database: SqliteDatabase = db) {
  return createSqliteQueue(database, {
    now: () => clockMs,
    defaultVisibilityTimeoutMs: VISIBILITY_MS,
    ...options,
  });
}

function reopenDatabase(): SqliteDatabase {
  const other = openDatabase(dbPath);
  openDbs.push(other);
  return other;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

beforeEach(async () => {
  dbPath = join(await makeTempDir('tlr-queue-'), 'router.db');
  db = openDatabase(dbPath);
  openDbs.push(db);
  clockMs = START_MS;
});

afterEach(async () => {
  vi.useRealTimers();
  for (const open of openDbs.splice(0)) open.close();
  await removeTempDirs();
});

describe('createSqliteQueue send and receive', () => {
  it('delivers a sent message with a receipt handle and a receive count of 1', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('{"key":"a"}');

    // Act
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages).toEqual([
      { id: expect.any(String), receiptHandle: expect.any(String), body: '{"key":"a"}', receiveCount: 1 },
    ]);
  });

  it.each([
    [3, 3],
    [10, 10],
    [50, 10],
    [0, 1],
  ])('asked for %i messages, returns %i (SQS allows 1 to 10)', async (maxMessages, expected) => {
    // Prepare
    const queue = makeQueue();
    for (let i = 0; i < 12; i++) await queue.send(`m${i}`);

    // Act
    const messages = await queue.receive({ maxMessages, waitMs: 0 });

    // Assess
    expect(messages).toHaveLength(expected);
  });

  it('delivers messages in the order they became visible, then in send order', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('delayed', { delayMs: 5_000 });
    await queue.send('first');
    clockMs += 1_000;
    await queue.send('second');
    clockMs += 10_000;

    // Act
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages.map((m) => m.body)).toEqual(['first', 'second', 'delayed']);
  });

  it('hides a delayed message until its delay has passed', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('later', { delayMs: 5_000 });

    // Act
    clockMs += 4_999;
    const early = await queue.receive({ maxMessages: 10, waitMs: 0 });
    clockMs += 1;
    const onTime = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(early).toEqual([]);
    expect(onTime.map((m) => m.body)).toEqual(['later']);
  });

  it('caps a delay at 15 minutes, as SQS does', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('much later', { delayMs: 2 * 3_600_000 });

    // Act
    clockMs += 900_000;
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages.map((m) => m.body)).toEqual(['much later']);
  });

  it('keeps named queues in one table apart', async () => {
    // Prepare
    const notifications = makeQueue({ name: 'notifications' });
    const retries = makeQueue({ name: 'retries' });
    await notifications.send('n');

    // Act
    const fromRetries = await retries.receive({ maxMessages: 10, waitMs: 0 });
    const fromNotifications = await notifications.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(fromRetries).toEqual([]);
    expect(fromNotifications.map((m) => m.body)).toEqual(['n']);
    expect(await retries.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
  });

  it('never hands a received message to a consumer on another connection', async () => {
    // Prepare
    const first = makeQueue();
    const second = makeQueue({}, reopenDatabase());
    for (let i = 0; i < 6; i++) await first.send(`m${i}`);

    // Act
    const [a, b] = await Promise.all([
      first.receive({ maxMessages: 3, waitMs: 0 }),
      second.receive({ maxMessages: 10, waitMs: 0 }),
    ]);

    // Assess
    const ids = [...a, ...b].map((m) => m.id);
    expect(new Set(ids).size).toBe(6);
  });

  it('keeps sent messages when the database is opened again', async () => {
    // Prepare
    await makeQueue().send('durable');
    db.close();
    openDbs.splice(openDbs.indexOf(db), 1);

    // Act
    const messages = await makeQueue({}, reopenDatabase()).receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages.map((m) => m.body)).toEqual(['durable']);
  });
});

describe('createSqliteQueue visibility', () => {
  it('hides a received message for the visibility timeout, then delivers it again with a new handle', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('m');
    const [first] = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Act
    clockMs += VISIBILITY_MS - 1;
    const whileHidden = await queue.receive({ maxMessages: 10, waitMs: 0 });
    clockMs += 1;
    const [again] = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(whileHidden).toEqual([]);
    expect(again).toMatchObject({ id: first!.id, receiveCount: 2 });
    expect(again!.receiptHandle).not.toBe(first!.receiptHandle);
  });

  it('uses the visibility timeout given to receive over the default', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('m');
    await queue.receive({ maxMessages: 10, waitMs: 0, visibilityTimeoutMs: 1_000 });

    // Act
    clockMs += 1_000;
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages).toHaveLength(1);
  });

  it.each([
    ['0 makes it visible at once', 0, 0, 1],
    ['a longer timeout keeps it hidden past the old one', 60_000, VISIBILITY_MS, 0],
    ['a longer timeout ends when it says', 60_000, 60_000, 1],
  ])('changeVisibility to %s', async (_case, visibilityTimeoutMs, elapsedMs, expected) => {
    // Prepare
    const queue = makeQueue();
    await queue.send('m');
    const [message] = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Act
    await queue.changeVisibility(message!.receiptHandle, visibilityTimeoutMs);
    clockMs += elapsedMs;
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages).toHaveLength(expected);
  });

  it('ignores changeVisibility with a stale receipt handle', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('m');
    const [stale] = await queue.receive({ maxMessages: 10, waitMs: 0 });
    clockMs += VISIBILITY_MS;
    await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Act
    await queue.changeVisibility(stale!.receiptHandle, 0);
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages).toEqual([]);
  });
});

describe('createSqliteQueue delete', () => {
  it('removes a message for good with its current receipt handle', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('m');
    const [message] = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Act
    await queue.delete(message!.receiptHandle);
    clockMs += VISIBILITY_MS;

    // Assess
    expect(await queue.receive({ maxMessages: 10, waitMs: 0 })).toEqual([]);
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
  });

  it('ignores a stale receipt handle, so a slow consumer cannot delete a redelivered message', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('m');
    const [stale] = await queue.receive({ maxMessages: 10, waitMs: 0 });
    clockMs += VISIBILITY_MS;
    const [current] = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Act
    await queue.delete(stale!.receiptHandle);

    // Assess
    expect(await queue.stats()).toMatchObject({ inFlight: 1 });
    await queue.delete(current!.receiptHandle);
    expect(await queue.stats()).toMatchObject({ inFlight: 0, visible: 0 });
  });

  it('ignores a receipt handle of another named queue', async () => {
    // Prepare
    const queue = makeQueue({ name: 'a' });
    const other = makeQueue({ name: 'b' });
    await queue.send('m');
    const [message] = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Act
    await other.delete(message!.receiptHandle);

    // Assess
    expect(await queue.stats()).toMatchObject({ inFlight: 1 });
  });
});

describe('createSqliteQueue redrive backstop', () => {
  async function receiveAndLetExpire(queue: ReturnType<typeof makeQueue>, times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      await queue.receive({ maxMessages: 1, waitMs: 0 });
      clockMs += VISIBILITY_MS;
    }
  }

  it('moves a message received maxReceiveCount times to queue_dead_letters instead of delivering it', async () => {
    // Prepare
    const queue = makeQueue({ maxReceiveCount: 2 });
    await queue.send('poison');
    await receiveAndLetExpire(queue, 2);

    // Act
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages).toEqual([]);
    expect(db.prepare('SELECT queue, body, receive_count, moved_at FROM queue_dead_letters').all()).toEqual([
      { queue: 'notifications', body: 'poison', receive_count: 2, moved_at: clockMs },
    ]);
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 1 });
  });

  it('delivers the next message in the same receive after moving a poison one', async () => {
    // Prepare
    const queue = makeQueue({ maxReceiveCount: 1 });
    await queue.send('poison');
    await receiveAndLetExpire(queue, 1);
    await queue.send('good');

    // Act
    const messages = await queue.receive({ maxMessages: 1, waitMs: 0 });

    // Assess
    expect(messages.map((m) => m.body)).toEqual(['good']);
    expect(await queue.stats()).toMatchObject({ deadLettered: 1, inFlight: 1 });
  });

  it('delivers a message up to maxReceiveCount times', async () => {
    // Prepare
    const queue = makeQueue({ maxReceiveCount: 3 });
    await queue.send('m');
    await receiveAndLetExpire(queue, 2);

    // Act
    const messages = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess
    expect(messages).toMatchObject([{ body: 'm', receiveCount: 3 }]);
  });
});

describe('createSqliteQueue stats', () => {
  it('counts visible, in-flight, delayed and dead-lettered messages', async () => {
    // Prepare
    const queue = makeQueue({ maxReceiveCount: 1 });
    await queue.send('poison');
    await queue.receive({ maxMessages: 1, waitMs: 0 });
    clockMs += VISIBILITY_MS;
    await queue.receive({ maxMessages: 1, waitMs: 0 });
    await queue.send('in flight');
    await queue.receive({ maxMessages: 1, waitMs: 0 });
    await queue.send('visible 1');
    await queue.send('visible 2');
    await queue.send('delayed', { delayMs: 1_000 });

    // Act
    const stats = await queue.stats();

    // Assess
    expect(stats).toEqual({ visible: 2, inFlight: 1, delayed: 1, deadLettered: 1 });
  });
});

describe('createSqliteQueue long poll', () => {
  it('waits for a message sent by another process, looking again every pollIntervalMs', async () => {
    // Prepare
    vi.useFakeTimers({ now: START_MS });
    const queue = createSqliteQueue(db, { pollIntervalMs: 100 });
    const otherProcess = createSqliteQueue(reopenDatabase());
    const received = queue.receive({ maxMessages: 10, waitMs: 20_000 });
    await vi.advanceTimersByTimeAsync(250);
    await otherProcess.send('m');

    // Act
    await vi.advanceTimersByTimeAsync(50);
    const messages = await received;

    // Assess
    expect(messages.map((m) => m.body)).toEqual(['m']);
    expect(Date.now() - START_MS).toBe(300);
  });

  it('wakes at once when a message is sent through the same queue', async () => {
    // Prepare
    vi.useFakeTimers({ now: START_MS });
    const queue = createSqliteQueue(db, { pollIntervalMs: 1_000 });
    const received = queue.receive({ maxMessages: 10, waitMs: 20_000 });
    await vi.advanceTimersByTimeAsync(10);

    // Act
    await queue.send('m');
    const messages = await received;

    // Assess
    expect(messages.map((m) => m.body)).toEqual(['m']);
    expect(Date.now() - START_MS).toBe(10);
  });

  it('returns no messages once waitMs has passed', async () => {
    // Prepare
    vi.useFakeTimers({ now: START_MS });
    const queue = createSqliteQueue(db, { pollIntervalMs: 100 });
    const received = queue.receive({ maxMessages: 10, waitMs: 1_050 });

    // Act
    await vi.advanceTimersByTimeAsync(1_050);
    const messages = await received;

    // Assess
    expect(messages).toEqual([]);
    expect(Date.now() - START_MS).toBe(1_050);
  });

  it('waits at most 20 s, as SQS does', async () => {
    // Prepare
    vi.useFakeTimers({ now: START_MS });
    const queue = createSqliteQueue(db);
    const received = queue.receive({ maxMessages: 10, waitMs: 60_000 });

    // Act
    await vi.advanceTimersByTimeAsync(20_000);
    const messages = await received;

    // Assess
    expect(messages).toEqual([]);
    expect(Date.now() - START_MS).toBe(20_000);
  });

  it('rejects with AbortedError when the signal aborts while waiting', async () => {
    // Prepare
    vi.useFakeTimers({ now: START_MS });
    const queue = createSqliteQueue(db);
    const controller = new AbortController();
    const received = rejection(queue.receive({ maxMessages: 10, waitMs: 20_000, signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(500);

    // Act
    controller.abort();
    const error = await received;

    // Assess
    expect(error).toBeInstanceOf(AbortedError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with AbortedError and receives nothing when the signal has already aborted', async () => {
    // Prepare
    const queue = makeQueue();
    await queue.send('m');

    // Act
    const error = await rejection(queue.receive({ maxMessages: 10, waitMs: 0, signal: AbortSignal.abort() }));

    // Assess
    expect(error).toBeInstanceOf(AbortedError);
    expect(await queue.stats()).toMatchObject({ visible: 1, inFlight: 0 });
  });

  it('ends pending and later receives with AbortedError once closed', async () => {
    // Prepare
    vi.useFakeTimers({ now: START_MS });
    const queue = createSqliteQueue(db);
    const pending = rejection(queue.receive({ maxMessages: 10, waitMs: 20_000 }));
    await vi.advanceTimersByTimeAsync(100);

    // Act
    queue.close();

    // Assess
    expect(await pending).toBeInstanceOf(AbortedError);
    expect(await rejection(queue.receive({ maxMessages: 10, waitMs: 0 }))).toBeInstanceOf(AbortedError);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('createSqliteQueue options', () => {
  it.each([
    ['name', { name: '' }],
    ['maxReceiveCount', { maxReceiveCount: 0 }],
    ['maxReceiveCount', { maxReceiveCount: 2.5 }],
    ['defaultVisibilityTimeoutMs', { defaultVisibilityTimeoutMs: -1 }],
    ['pollIntervalMs', { pollIntervalMs: 0 }],
  ])('refuses an invalid %s with ConfigValidationError naming it', (field, options) => {
    // Prepare
    const create = () => createSqliteQueue(db, options);

    // Act
    let error: unknown;
    try {
      create();
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toEqual([field]);
  });
});

describe('createSqliteQueue onDeadLetter', () => {
  it('tells about each message the backstop moved, after the move, and a throwing listener does not fail the receive', async () => {
    // Prepare
    const told: unknown[] = [];
    let throwNext = true;
    const queue: SqliteQueue = makeQueue({
      maxReceiveCount: 1,
      onDeadLetter: async (moved) => {
        // Committed before the listener runs: the backstop already holds it.
        const { deadLettered } = await queue.stats();
        told.push(...moved.map((m) => ({ ...m, deadLettered })));
        if (throwNext) {
          throwNext = false;
          throw new Error('listener failed');
        }
      },
    });
    await queue.send('poison');
    await queue.send('fine');
    const first = await queue.receive({ maxMessages: 1, waitMs: 0 });
    await queue.changeVisibility(first[0]!.receiptHandle, 0);

    // Act
    const second = await queue.receive({ maxMessages: 1, waitMs: 0 });

    // Assess
    expect(second.map((m) => m.body)).toEqual(['fine']);
    expect(told).toEqual([{ id: first[0]!.id, body: 'poison', receiveCount: 2, deadLettered: 1 }]);
    expect((await queue.stats()).deadLettered).toBe(1);
  });
});

describe('createSqliteQueue releaseInFlight', () => {
  it('makes messages a crashed consumer left in flight visible at once and voids their handles', async () => {
    // Prepare
    const crashed = makeQueue();
    await crashed.send('in flight');
    await crashed.send('delayed', { delayMs: 60_000 });
    const [taken] = await crashed.receive({ maxMessages: 10, waitMs: 0, visibilityTimeoutMs: 300_000 });
    await crashed.markStarted(taken!.receiptHandle);
    const restarted = makeQueue({}, reopenDatabase());

    // Act
    const released = restarted.releaseInFlight();
    const again = await restarted.receive({ maxMessages: 10, waitMs: 0 });
    await crashed.delete(taken!.receiptHandle);

    // Assess
    expect(released).toBe(1);
    expect(again.map((m) => [m.body, m.receiveCount])).toEqual([['in flight', 2]]);
    expect((await restarted.stats()).inFlight).toBe(1);
  });

  it('gives the receive back to a released message whose processing never started, so crashes cannot redrive it', async () => {
    // Prepare: one message started and one only held, released after each of six crashes.
    let queue = makeQueue({ maxReceiveCount: 5 });
    await queue.send('held');
    await queue.send('started');
    for (let crash = 0; crash < 6; crash++) {
      const received = await queue.receive({ maxMessages: 10, waitMs: 0, visibilityTimeoutMs: 300_000 });
      const started = received.find((m) => m.body === 'started');
      if (started) await queue.markStarted(started.receiptHandle);
      queue = makeQueue({ maxReceiveCount: 5 }, reopenDatabase());
      queue.releaseInFlight();
    }

    // Act
    const last = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess: the held message was never counted; the started one crossed the limit.
    expect(last.map((m) => [m.body, m.receiveCount])).toEqual([['held', 1]]);
    expect((await queue.stats()).deadLettered).toBe(1);
  });

  it('gives the receive back to a started message whose attempt made progress, and asks with its start time', async () => {
    // Prepare: two started messages released after each of six crashes; only one advances.
    let queue = makeQueue({ maxReceiveCount: 5 });
    await queue.send('advancing');
    await queue.send('stuck');
    const asked: [string, number][] = [];
    for (let crash = 0; crash < 6; crash++) {
      const received = await queue.receive({ maxMessages: 10, waitMs: 0, visibilityTimeoutMs: 300_000 });
      clockMs += 1_000;
      for (const message of received) await queue.markStarted(message.receiptHandle);
      clockMs += 1_000;
      queue = makeQueue({ maxReceiveCount: 5 }, reopenDatabase());
      queue.releaseInFlight((body, startedAtMs) => {
        asked.push([body, startedAtMs]);
        return body === 'advancing';
      });
    }

    // Act
    const last = await queue.receive({ maxMessages: 10, waitMs: 0 });

    // Assess: the advancing one still counts one receive; the stuck one crossed the limit.
    expect(last.map((m) => [m.body, m.receiveCount])).toEqual([['advancing', 1]]);
    expect((await queue.stats()).deadLettered).toBe(1);
    expect(asked[0]).toEqual(['advancing', START_MS + 1_000]);
    expect(asked.filter(([body]) => body === 'stuck')).toHaveLength(5);
  });

  it('counts the attempt when the progress check throws', async () => {
    // Prepare
    const crashed = makeQueue();
    await crashed.send('body');
    const [taken] = await crashed.receive({ maxMessages: 1, waitMs: 0, visibilityTimeoutMs: 300_000 });
    await crashed.markStarted(taken!.receiptHandle);
    const restarted = makeQueue({}, reopenDatabase());

    // Act
    const released = restarted.releaseInFlight(() => {
      throw new Error('unreadable');
    });
    const [again] = await restarted.receive({ maxMessages: 1, waitMs: 0 });

    // Assess
    expect(released).toBe(1);
    expect(again?.receiveCount).toBe(2);
  });

  it('keeps the first start time when a message is marked started twice', async () => {
    // Prepare
    const crashed = makeQueue();
    await crashed.send('body');
    const [taken] = await crashed.receive({ maxMessages: 1, waitMs: 0, visibilityTimeoutMs: 300_000 });
    await crashed.markStarted(taken!.receiptHandle);
    clockMs += 5_000;
    await crashed.markStarted(taken!.receiptHandle);
    const restarted = makeQueue({}, reopenDatabase());
    const starts: number[] = [];

    // Act
    restarted.releaseInFlight((_body, startedAtMs) => {
      starts.push(startedAtMs);
      return false;
    });

    // Assess
    expect(starts).toEqual([START_MS]);
  });
});
