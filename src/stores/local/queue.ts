import { randomBytes, randomUUID } from 'node:crypto';
import { AbortedError, ConfigValidationError, type FieldError } from '../../domain/index.js';
import type { NotificationQueue, QueueMessage, QueueStats } from '../ports.js';
import { type Migration, migrate, type SqliteDatabase } from './database.js';

/** SQS returns at most 10 messages per receive. */
const MAX_MESSAGES_PER_RECEIVE = 10;
/** SQS refuses delays over 15 minutes; we cap at the same value so both adapters behave alike. */
const MAX_DELAY_MS = 900_000;
/** SQS long polls wait at most 20 s. */
const MAX_WAIT_MS = 20_000;
/** SQS keeps a message invisible at most 12 hours. */
const MAX_VISIBILITY_TIMEOUT_MS = 43_200_000;
const DEFAULT_QUEUE_NAME = 'notifications';

/** What `createSqliteQueue` accepts; every field has an SQS-like default. */
export interface SqliteQueueOptions {
  /** Queues sharing one table are told apart by name. Default `notifications`. */
  readonly name?: string;
  /** Receives after which a message goes to `queue_dead_letters` instead (SQS redrive policy). Default 5. */
  readonly maxReceiveCount?: number;
  /** Invisibility after a receive that did not ask for its own. Default 300 000 ms (5 min). */
  readonly defaultVisibilityTimeoutMs?: number;
  /** How often a long poll looks again while the queue is empty. Default 100 ms. */
  readonly pollIntervalMs?: number;
  /** The clock, in epoch ms; tests pass a fake one. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Told, after the move is committed, about messages the redrive backstop moved to
   * `queue_dead_letters`, so they can be recorded where operators look (the embedded router
   * writes them to the dead-letter store, for `tlr dlq`). It reports its own errors: a throw is
   * ignored here, and the rows stay in `queue_dead_letters` either way.
   */
  readonly onDeadLetter?: (moved: readonly QueueDeadLetter[]) => Promise<void>;
}

/** A message the redrive backstop moved off the queue. */
export interface QueueDeadLetter {
  readonly id: string;
  readonly body: string;
  /** Receives it had, the last one included: more than `maxReceiveCount`. */
  readonly receiveCount: number;
}

/** The SQLite-backed notification queue; `close` ends pending long polls. */
export type SqliteQueue = NotificationQueue & {
  /** Ends pending long polls (they reject with AbortedError) and refuses further receives. */
  close(): void;
  /** See `NotificationQueue.markStarted`: this queue always can tell. */
  markStarted(receiptHandle: string): Promise<void>;
  /**
   * Makes every received-but-not-deleted message visible now and voids its receipt handle.
   * Only for a process that knows no other consumer is alive (the embedded router holding
   * its data-directory lock): work a crashed run left in flight resumes at once instead of
   * after its visibility timeout. A message whose processing had not started (`markStarted`)
   * gets its receive back, so only attempts count toward `maxReceiveCount`; so does one whose
   * attempt made progress, when `madeProgress` says so: a crash that interrupts a message which
   * was moving forward is not the message's fault, and only attempts that crashed without any
   * progress push it toward the backstop.
   * @param madeProgress - whether durable progress was recorded for the message (its body)
   *   since its processing began (epoch ms); a throw counts as no progress
   * @returns how many messages were released
   */
  releaseInFlight(madeProgress?: (body: string, startedAtMs: number) => boolean): number;
};

interface MessageRow {
  seq: number;
  id: string;
  body: string;
  receive_count: number;
}

const QUEUE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'queue_messages and queue_dead_letters',
    up: (db: SqliteDatabase) => {
      // `seq` orders messages that become visible at the same time; `id` is the public id.
      db.exec(`
        CREATE TABLE queue_messages (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          queue TEXT NOT NULL,
          id TEXT NOT NULL UNIQUE,
          body TEXT NOT NULL,
          sent_at INTEGER NOT NULL,
          visible_at INTEGER NOT NULL,
          receive_count INTEGER NOT NULL DEFAULT 0,
          receipt_handle TEXT UNIQUE
        );
        CREATE INDEX queue_messages_by_visibility ON queue_messages (queue, visible_at, seq);
        CREATE TABLE queue_dead_letters (
          id TEXT PRIMARY KEY,
          queue TEXT NOT NULL,
          body TEXT NOT NULL,
          receive_count INTEGER NOT NULL,
          sent_at INTEGER NOT NULL,
          moved_at INTEGER NOT NULL
        );
        CREATE INDEX queue_dead_letters_by_queue ON queue_dead_letters (queue, moved_at);
      `);
    },
  },
  {
    version: 2,
    // Since version 3 of the code: the epoch ms at which processing began (any value > 0 is started).
    description: 'queue_messages.started: whether processing of the current receive began',
    up: (db: SqliteDatabase) => {
      db.exec('ALTER TABLE queue_messages ADD COLUMN started INTEGER NOT NULL DEFAULT 0');
    },
  },
];

/**
 * Creates a queue with SQS semantics on a SQLite table: at-least-once delivery, delay,
 * visibility timeout, receive count, and a redrive backstop (`queue_dead_letters`) for
 * messages received more than `maxReceiveCount` times. Every write is one transaction,
 * durable on commit (the database runs WAL with synchronous FULL). Numbers beyond the SQS
 * limits are clamped to them (10 messages, 20 s wait, 15 min delay, 12 h visibility), so
 * code tested here behaves the same on SQS.
 *
 * @param db - the router's database, from `openDatabase`; the queue migrates its tables
 * @param options - name, redrive threshold, default visibility, poll interval and clock
 * @throws ConfigValidationError when an option is out of range
 * @example
 * const queue = createSqliteQueue(openDatabase('/var/lib/tlr/router.db'));
 * await queue.send(body);
 * const messages = await queue.receive({ maxMessages: 10, waitMs: 20_000 });
 */
export function createSqliteQueue(db: SqliteDatabase, options: SqliteQueueOptions = {}): SqliteQueue {
  const queueName = options.name ?? DEFAULT_QUEUE_NAME;
  const maxReceiveCount = options.maxReceiveCount ?? 5;
  const defaultVisibilityTimeoutMs = options.defaultVisibilityTimeoutMs ?? 300_000;
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const now = options.now ?? Date.now;
  validateOptions({ queueName, maxReceiveCount, defaultVisibilityTimeoutMs, pollIntervalMs });

  migrate(db, 'queue', QUEUE_MIGRATIONS);

  const insertMessage = db.prepare<[string, string, string, number, number]>(
    'INSERT INTO queue_messages (queue, id, body, sent_at, visible_at) VALUES (?, ?, ?, ?, ?)',
  );
  const selectVisible = db.prepare<[string, number, number], MessageRow>(
    `SELECT seq, id, body, receive_count FROM queue_messages
     WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?`,
  );
  const markReceived = db.prepare<[number, string, number]>(
    'UPDATE queue_messages SET visible_at = ?, receipt_handle = ?, receive_count = receive_count + 1, started = 0 WHERE seq = ?',
  );
  const insertDeadLetter = db.prepare<[number, number]>(
    `INSERT INTO queue_dead_letters (id, queue, body, receive_count, sent_at, moved_at)
     SELECT id, queue, body, receive_count, sent_at, ? FROM queue_messages WHERE seq = ?`,
  );
  const deleteBySeq = db.prepare<[number]>('DELETE FROM queue_messages WHERE seq = ?');
  const deleteByHandle = db.prepare<[string, string]>(
    'DELETE FROM queue_messages WHERE queue = ? AND receipt_handle = ?',
  );
  // `started` keeps the first start of the current receive: a batch marked twice keeps its earliest time.
  const markStartedStatement = db.prepare<[number, string, string]>(
    'UPDATE queue_messages SET started = ? WHERE queue = ? AND receipt_handle = ? AND started = 0',
  );
  const setVisibleAt = db.prepare<[number, string, string]>(
    'UPDATE queue_messages SET visible_at = ? WHERE queue = ? AND receipt_handle = ?',
  );
  const countMessages = db.prepare<
    { queue: string; now: number },
    { visible: number; inFlight: number; delayed: number }
  >(
    // A hidden message that was never received is delayed; one that was is in flight.
    `SELECT
       COALESCE(SUM(visible_at <= @now), 0) AS visible,
       COALESCE(SUM(visible_at > @now AND receive_count > 0), 0) AS inFlight,
       COALESCE(SUM(visible_at > @now AND receive_count = 0), 0) AS delayed
     FROM queue_messages WHERE queue = @queue`,
  );
  const countDeadLetters = db.prepare<[string], { n: number }>(
    'SELECT COUNT(*) AS n FROM queue_dead_letters WHERE queue = ?',
  );

  // IMMEDIATE takes the write lock up front, so two processes receiving at once wait for
  // each other instead of failing to upgrade a read lock (SQLITE_BUSY).
  const receiveVisible = db.transaction(
    (maxMessages: number, visibilityTimeoutMs: number): { received: QueueMessage[]; redriven: QueueDeadLetter[] } => {
      const receivedAtMs = now();
      const received: QueueMessage[] = [];
      const redriven: QueueDeadLetter[] = [];
      for (const row of selectVisible.all(queueName, receivedAtMs, maxMessages)) {
        const receiveCount = row.receive_count + 1;
        if (receiveCount > maxReceiveCount) {
          // The SQS redrive backstop: a message that keeps coming back (poison, or a
          // consumer crashing on it) leaves the queue instead of looping forever.
          insertDeadLetter.run(receivedAtMs, row.seq);
          deleteBySeq.run(row.seq);
          redriven.push({ id: row.id, body: row.body, receiveCount });
          continue;
        }
        const receiptHandle = newReceiptHandle(row.id);
        markReceived.run(receivedAtMs + visibilityTimeoutMs, receiptHandle, row.seq);
        received.push({ id: row.id, receiptHandle, body: row.body, receiveCount });
      }
      return { received, redriven };
    },
  );

  const readStats = db.transaction((): QueueStats => {
    const counts = countMessages.get({ queue: queueName, now: now() })!;
    const deadLettered = countDeadLetters.get(queueName)!.n;
    return { ...counts, deadLettered };
  });

  /** Wakes pending long polls: on a send (look again now) or on close (give up). */
  const wakers = new Set<() => void>();
  let closed = false;

  function wakeAll(): void {
    for (const wake of [...wakers]) wake();
  }

  /** Waits `ms`, or less when a send, an abort or `close` comes first. */
  function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      signal?.addEventListener('abort', wake, { once: true });
      wakers.add(wake);
    });
  }

  function throwIfStopped(signal: AbortSignal | undefined): void {
    if (closed) throw new AbortedError(`The queue '${queueName}' is closed.`);
    if (signal?.aborted) throw new AbortedError();
  }

  async function send(body: string, sendOptions?: { delayMs?: number }): Promise<void> {
    const delayMs = clamp(sendOptions?.delayMs ?? 0, 0, MAX_DELAY_MS);
    const sentAtMs = now();
    insertMessage.run(queueName, randomUUID(), body, sentAtMs, sentAtMs + delayMs);
    if (delayMs === 0) wakeAll();
  }

  async function receive(receiveOptions: {
    maxMessages: number;
    waitMs: number;
    visibilityTimeoutMs?: number;
    signal?: AbortSignal;
  }): Promise<QueueMessage[]> {
    const { signal } = receiveOptions;
    const maxMessages = clamp(Math.floor(receiveOptions.maxMessages), 1, MAX_MESSAGES_PER_RECEIVE);
    const visibilityTimeoutMs = clamp(
      receiveOptions.visibilityTimeoutMs ?? defaultVisibilityTimeoutMs,
      0,
      MAX_VISIBILITY_TIMEOUT_MS,
    );
    const deadlineMs = now() + clamp(receiveOptions.waitMs, 0, MAX_WAIT_MS);
    for (;;) {
      throwIfStopped(signal);
      const { received, redriven } = receiveVisible.immediate(maxMessages, visibilityTimeoutMs);
      if (redriven.length > 0) await options.onDeadLetter?.(redriven).catch(() => {});
      if (received.length > 0) return received;
      // Rows moved to the dead letters made room: look again at once, the next ones may be fine.
      if (redriven.length > 0) continue;
      const remainingMs = deadlineMs - now();
      if (remainingMs <= 0) return received;
      await pause(Math.min(pollIntervalMs, remainingMs), signal);
    }
  }

  async function deleteMessage(receiptHandle: string): Promise<void> {
    // A stale handle (the message was received again since) matches nothing: a no-op, so a
    // slow consumer cannot delete a message another consumer now owns.
    deleteByHandle.run(queueName, receiptHandle);
  }

  async function changeVisibility(receiptHandle: string, visibilityTimeoutMs: number): Promise<void> {
    setVisibleAt.run(
      now() + clamp(visibilityTimeoutMs, 0, MAX_VISIBILITY_TIMEOUT_MS),
      queueName,
      receiptHandle,
    );
  }

  async function stats(): Promise<QueueStats> {
    return readStats();
  }

  function close(): void {
    closed = true;
    wakeAll();
  }

  // A receive whose processing never started (the message waited in the crashed consumer's
  // window for a slot), or whose attempt made progress, is given back: only attempts that
  // crashed without progress count toward the redrive limit, so a run of crashes cannot push
  // untouched or advancing messages into `queue_dead_letters`.
  const selectInFlight = db.prepare<[string, number], { seq: number; body: string; started: number }>(
    `SELECT seq, body, started FROM queue_messages
     WHERE queue = ? AND receipt_handle IS NOT NULL AND visible_at > ?`,
  );
  const releaseRow = db.prepare<[number, number, number]>(
    `UPDATE queue_messages SET visible_at = ?, receipt_handle = NULL,
       receive_count = CASE WHEN ? = 1 AND receive_count > 0 THEN receive_count - 1 ELSE receive_count END,
       started = 0
     WHERE seq = ?`,
  );
  const releaseRows = db.transaction((at: number, giveBack: (row: { body: string; started: number }) => boolean) => {
    let released = 0;
    for (const row of selectInFlight.all(queueName, at)) {
      releaseRow.run(at, giveBack(row) ? 1 : 0, row.seq);
      released += 1;
    }
    return released;
  });
  function releaseInFlight(madeProgress?: (body: string, startedAtMs: number) => boolean): number {
    const progressed = (body: string, startedAtMs: number) => {
      try {
        return madeProgress?.(body, startedAtMs) === true;
      } catch {
        return false;
      }
    };
    const changes = releaseRows.immediate(now(), (row) => row.started === 0 || progressed(row.body, row.started));
    if (changes > 0) wakeAll();
    return changes;
  }

  async function markStarted(receiptHandle: string): Promise<void> {
    // At least 1, so a clock at the epoch still reads as started.
    markStartedStatement.run(Math.max(1, now()), queueName, receiptHandle);
  }

  return { send, receive, delete: deleteMessage, changeVisibility, markStarted, stats, close, releaseInFlight };
}

function validateOptions(options: {
  queueName: string;
  maxReceiveCount: number;
  defaultVisibilityTimeoutMs: number;
  pollIntervalMs: number;
}): void {
  const errors: FieldError[] = [];
  if (options.queueName === '') errors.push({ field: 'name', message: 'must not be empty' });
  if (!(Number.isSafeInteger(options.maxReceiveCount) && options.maxReceiveCount >= 1)) {
    errors.push({ field: 'maxReceiveCount', message: 'must be a whole number ≥ 1' });
  }
  if (!(Number.isFinite(options.defaultVisibilityTimeoutMs) && options.defaultVisibilityTimeoutMs >= 0)) {
    errors.push({ field: 'defaultVisibilityTimeoutMs', message: 'must be a number of milliseconds ≥ 0' });
  }
  if (!(Number.isFinite(options.pollIntervalMs) && options.pollIntervalMs > 0)) {
    errors.push({ field: 'pollIntervalMs', message: 'must be a number of milliseconds > 0' });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'queue options');
}

/** A fresh handle per receive, so a handle from an earlier receive no longer matches. */
function newReceiptHandle(messageId: string): string {
  return `${messageId}.${randomBytes(16).toString('base64url')}`;
}

/** Keeps `value` within [min, max]; NaN becomes `min`, so a bad number never reaches SQL. */
function clamp(value: number, min: number, max: number): number {
  return Number.isNaN(value) ? min : Math.min(max, Math.max(min, value));
}
