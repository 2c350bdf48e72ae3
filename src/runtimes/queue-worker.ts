import { setMaxListeners } from 'node:events';
import type { Registry } from 'prom-client';
import type { SchedulerTenant } from '../delivery/index.js';
import { AbortedError, ConfigValidationError } from '../domain/index.js';
import type { Logger } from '../logging/index.js';
import { counter } from '../metrics/index.js';
import type { BatchProcessor, MessageOutcome, Processor } from '../pipeline/processor.js';
import type { NotificationQueue, QueueMessage } from '../stores/ports.js';
import {
  createTenantScheduler,
  DEFAULT_PREFETCH_FACTOR,
  defaultMaxInFlightPerTenant,
  groupByTenant,
  tenantOfMessage,
} from './tenant-scheduling.js';

export interface QueueWorkerOptions {
  readonly queue: NotificationQueue;
  readonly processor: Processor;
  readonly logger: Logger;
  /** Messages processed at once. */
  readonly concurrency?: number;
  /** How long a received message stays hidden; extended while it is worked on. */
  readonly visibilityTimeoutMs?: number;
  /** Long-poll wait per receive. */
  readonly waitMs?: number;
  /** Told about every handled message (progress output, tests). */
  readonly onOutcome?: (outcome: MessageOutcome, message: QueueMessage) => void;
  /**
   * Hand each receive (up to 10 messages) to `processMessages`, one batch per tenant, so
   * consecutive objects of one pod share requests; `concurrency` then counts batches.
   */
  readonly batches?: boolean;
  /**
   * Messages (batches in batch mode) of one tenant processed at once, so a tenant with a
   * backlog cannot take every slot. Default `max(1, ceil(concurrency / 2))`.
   */
  readonly maxInFlightPerTenant?: number;
  /**
   * How far ahead the worker receives: at most `concurrency × prefetchFactor` messages
   * (batches in batch mode) are held, hidden and heartbeated, while they wait for a slot.
   * Default 4.
   */
  readonly prefetchFactor?: number;
  /**
   * A message (batch) still processing after this many ms gives its shared slot back, still
   * counting toward its tenant's limit (at most `concurrency` at once). Default 1,000.
   */
  readonly slowAfterMs?: number;
  /** Where `tlr_scheduler_waiting` and `tlr_scheduler_in_flight` go; none when absent. */
  readonly registry?: Registry;
}

export interface QueueWorker {
  /** Starts polling in the background. */
  start(): void;
  /**
   * Stops receiving, makes messages still waiting for a slot visible again at once, lets
   * in-flight messages finish for up to `graceMs`, then aborts the rest and makes them visible
   * again at once (their checkpoints keep the progress).
   */
  stop(graceMs?: number): Promise<void>;
  /** Runs until one receive finds the queue empty and nothing is in flight. */
  drain(): Promise<void>;
  /** Messages being processed now. */
  inFlight(): number;
}

export const DEFAULT_WORKER_CONCURRENCY = 4;
export const DEFAULT_VISIBILITY_TIMEOUT_MS = 300_000;
export const DEFAULT_WAIT_MS = 1_000;
export const DEFAULT_STOP_GRACE_MS = 10_000;
/** First pause before a message whose processing failed is received again; doubles per receive. */
export const FAILURE_RETRY_BASE_MS = 5_000;

/**
 * How long a message whose processing failed stays hidden: 5 s after its first receive, then
 * 10 s, 20 s, … never longer than the visibility timeout.
 */
export function failureRetryDelayMs(receiveCount: number, visibilityTimeoutMs: number): number {
  return Math.min(visibilityTimeoutMs, FAILURE_RETRY_BASE_MS * 2 ** Math.max(0, Math.min(receiveCount - 1, 20)));
}

/**
 * How long a message of a tenant that already fills its share of the window is put back for.
 * Long enough that a slow tenant's backlog does not cycle through the queue many times a minute.
 */
export const DEFER_DELAY_MS = 10_000;

/** SQS returns at most 10 messages per receive. */
const MAX_RECEIVE = 10;

/**
 * A polling loop over a NotificationQueue: receive, process, acknowledge. A message is
 * deleted only when the processor resolved; otherwise it reappears after its visibility
 * timeout and is processed again (checkpoints make that resume, not repeat).
 *
 * Fair across tenants: the worker receives up to `concurrency × prefetchFactor` messages ahead,
 * keeps them hidden while they wait, and runs them through a fair scheduler (per-tenant FIFO,
 * round-robin, at most `maxInFlightPerTenant` of one tenant), so one tenant's backlog cannot
 * take every slot. A message's tenant is its first object key's namespace; a message that
 * cannot be read belongs to no tenant and is bounded by `concurrency` only. In batch mode each
 * receive is split per tenant and each tenant's part is one batch, scheduled the same way.
 *
 * @throws ConfigValidationError when a limit is not a whole number ≥ 1
 */
export function createQueueWorker(options: QueueWorkerOptions): QueueWorker {
  const { queue, processor, logger } = options;
  const concurrency = options.concurrency ?? DEFAULT_WORKER_CONCURRENCY;
  const visibilityTimeoutMs = options.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_TIMEOUT_MS;
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const prefetchFactor = options.prefetchFactor ?? DEFAULT_PREFETCH_FACTOR;
  if (options.batches && !('processMessages' in processor)) {
    throw new TypeError('Batch mode needs a processor with processMessages (createProcessor builds one).');
  }
  if (!Number.isSafeInteger(prefetchFactor) || prefetchFactor < 1) {
    throw new ConfigValidationError(
      [{ field: 'prefetchFactor', message: `must be a whole number ≥ 1, got ${String(prefetchFactor)}` }],
      'queue worker options',
    );
  }
  const scheduler = createTenantScheduler({
    concurrency,
    maxInFlightPerTenant: options.maxInFlightPerTenant,
    slowAfterMs: options.slowAfterMs,
    registry: options.registry,
  });
  /** Most messages (batches in batch mode) held at once, running or waiting for a slot. */
  const window = concurrency * prefetchFactor;
  /**
   * A tenant's share of the window: as many waiting as may run. Past its share, a tenant may
   * still use free room, but the last share of the window is kept for others: a tenant whose
   * destination is slow would otherwise fill the whole window with work waiting for its own
   * slots, and the worker would stop receiving anyone else's.
   */
  const maxHeldPerTenant = 2 * (options.maxInFlightPerTenant ?? defaultMaxInFlightPerTenant(concurrency));
  const heldPerTenant = new Map<string, number>();
  const deferred = options.registry
    ? counter(options.registry, {
      name: 'tlr_scheduler_deferred_total',
      help: `Messages put back on the queue for ${DEFER_DELAY_MS / 1000} s because their tenant already had its share of the window held.`,
    })
    : undefined;
  /** Aborts work that already runs: only once the stop grace period is over. */
  const abort = new AbortController();
  /** Releases work that still waits for a slot: as soon as the worker stops. */
  const release = new AbortController();
  // Each held message listens on it until it starts; the window bounds them.
  setMaxListeners(window + MAX_RECEIVE, release.signal);
  const held = new Set<Promise<void>>();
  let running = false;
  let loop: Promise<void> | undefined;
  let slotFreed: (() => void) | undefined;

  /** Keeps messages hidden while they wait and while they are worked on, however long that takes. */
  const keepHidden = (messages: readonly QueueMessage[]) =>
    setInterval(
      () => {
        for (const message of messages) {
          queue.changeVisibility(message.receiptHandle, visibilityTimeoutMs).catch((error: unknown) => {
            logger.warn('Extending the visibility of a message failed.', { messageId: message.id, error });
          });
        }
      },
      Math.max(1_000, visibilityTimeoutMs / 2),
    );

  const isStopping = (error: unknown) => error instanceof AbortedError || abort.signal.aborted;

  /** Tells the queue the messages' processing begins, so a crash before it does not count against them. */
  const markStarted = (messages: readonly QueueMessage[]) =>
    Promise.all(
      messages.map((m) =>
        queue.markStarted?.(m.receiptHandle).catch((error: unknown) =>
          logger.debug('Marking a message as started failed; a crash now would count as its attempt.', { messageId: m.id, error }),
        ),
      ),
    );

  /**
   * A message whose processing failed (a store unreachable, say) comes back after a short pause
   * that doubles with each receive, not after its whole visibility timeout: a brief outage
   * then costs seconds, not minutes.
   */
  const retryLater = async (message: QueueMessage, error: unknown) => {
    const delayMs = failureRetryDelayMs(message.receiveCount, visibilityTimeoutMs);
    logger.error('Processing a message failed; it will be delivered again.', {
      messageId: message.id,
      receiveCount: message.receiveCount,
      retryInMs: delayMs,
      error,
    });
    await queue.changeVisibility(message.receiptHandle, delayMs).catch((cause: unknown) =>
      logger.warn('Shortening the visibility of a failed message failed; it comes back after its visibility timeout.', {
        messageId: message.id,
        error: cause,
      }),
    );
  };

  const handle = async (tenant: SchedulerTenant, message: QueueMessage) => {
    const heartbeat = keepHidden([message]);
    try {
      const outcome = await scheduler.run(
        tenant,
        async () => {
          await markStarted([message]);
          return processor.processMessage(message.body, abort.signal);
        },
        release.signal,
      );
      await queue.delete(message.receiptHandle);
      options.onOutcome?.(outcome, message);
    } catch (error) {
      if (isStopping(error)) {
        await queue.changeVisibility(message.receiptHandle, 0).catch(() => {});
        return;
      }
      clearInterval(heartbeat);
      await retryLater(message, error);
    } finally {
      clearInterval(heartbeat);
    }
  };

  const settleOne = async (message: QueueMessage, result: PromiseSettledResult<MessageOutcome>) => {
    if (result.status === 'fulfilled') {
      await queue.delete(message.receiptHandle);
      options.onOutcome?.(result.value, message);
      return;
    }
    if (isStopping(result.reason)) {
      await queue.changeVisibility(message.receiptHandle, 0).catch(() => {});
      return;
    }
    await retryLater(message, result.reason);
  };

  const handleBatch = async (tenant: SchedulerTenant, messages: QueueMessage[]) => {
    const heartbeat = keepHidden(messages);
    try {
      let settled: PromiseSettledResult<MessageOutcome>[];
      try {
        settled = await scheduler.run(
          tenant,
          async () => {
            await markStarted(messages);
            return (processor as BatchProcessor).processMessages(messages.map((m) => m.body), abort.signal);
          },
          release.signal,
        );
      } catch (reason) {
        settled = messages.map(() => ({ status: 'rejected', reason }));
      }
      // Settling sets each message's fate (deleted, or back after a pause): no more extensions.
      clearInterval(heartbeat);
      for (const [index, message] of messages.entries()) {
        await settleOne(message, settled[index]!).catch((error: unknown) =>
          logger.error('Acknowledging a message failed; it will be delivered again.', { messageId: message.id, error }),
        );
      }
    } finally {
      clearInterval(heartbeat);
    }
  };

  const hold = (tenant: SchedulerTenant, task: Promise<void>) => {
    if (tenant !== undefined) heldPerTenant.set(tenant, (heldPerTenant.get(tenant) ?? 0) + 1);
    const tracked = task.finally(() => {
      held.delete(tracked);
      if (tenant !== undefined) {
        const left = (heldPerTenant.get(tenant) ?? 1) - 1;
        if (left > 0) heldPerTenant.set(tenant, left);
        else heldPerTenant.delete(tenant);
      }
      slotFreed?.();
    });
    held.add(tracked);
  };

  /**
   * Puts a tenant's messages back with a delay when that tenant already holds its share, as new
   * messages (their receive count starts again: a deferral is not an attempt); false when it has
   * room, or when putting back fails (the messages are then held as usual). Never while draining,
   * which must not leave delayed work behind.
   */
  const deferIfOverShare = async (tenant: SchedulerTenant, messages: readonly QueueMessage[], draining: boolean) => {
    if (draining || tenant === undefined || (heldPerTenant.get(tenant) ?? 0) < maxHeldPerTenant) return false;
    // Room beyond one more share: a tenant alone may use it, so a burst with nobody else waiting
    // is not put back; only the last share of the window is kept for other tenants.
    if (held.size < window - maxHeldPerTenant) return false;
    try {
      for (const message of messages) await queue.send(message.body, { delayMs: DEFER_DELAY_MS });
    } catch (error) {
      logger.warn('Putting back a message of a tenant over its share failed; holding it.', { tenant, error });
      return false;
    }
    for (const message of messages) {
      // A failed delete leaves both copies; the checkpoints make the second a no-op.
      await queue.delete(message.receiptHandle).catch((error: unknown) =>
        logger.warn('Deleting a deferred message failed; it will be processed twice, the second time as a no-op.', {
          messageId: message.id,
          error,
        }),
      );
    }
    deferred?.inc(messages.length);
    return true;
  };

  const waitForSlot = () =>
    new Promise<void>((resolve) => {
      slotFreed = () => {
        slotFreed = undefined;
        resolve();
      };
    });

  const poll = async (untilEmpty: boolean) => {
    while (running) {
      if (held.size >= window) {
        await waitForSlot();
        continue;
      }
      let messages: QueueMessage[];
      try {
        messages = await queue.receive({
          maxMessages: options.batches ? MAX_RECEIVE : Math.min(MAX_RECEIVE, window - held.size),
          waitMs,
          visibilityTimeoutMs,
          signal: abort.signal,
        });
      } catch (error) {
        if (abort.signal.aborted || !running) break;
        logger.error('Receiving from the queue failed; retrying.', { error });
        await new Promise((r) => setTimeout(r, waitMs));
        continue;
      }
      if (options.batches) {
        for (const [tenant, group] of groupByTenant(messages, (m) => m.body)) {
          if (!(await deferIfOverShare(tenant, group, untilEmpty))) hold(tenant, handleBatch(tenant, group));
        }
      } else {
        for (const message of messages) {
          const tenant = tenantOfMessage(message.body);
          if (!(await deferIfOverShare(tenant, [message], untilEmpty))) hold(tenant, handle(tenant, message));
        }
      }
      if (messages.length === 0) {
        if (untilEmpty) {
          if (held.size === 0) break;
          await Promise.race(held);
        } else {
          // A receive that does not wait (waitMs 0) must not starve the event loop.
          await new Promise((r) => setImmediate(r));
        }
      }
    }
  };

  return {
    start() {
      if (running) return;
      running = true;
      loop = poll(false);
    },
    async drain() {
      running = true;
      await poll(true);
      await Promise.all(held);
      running = false;
    },
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      running = false;
      slotFreed?.();
      // What only waits for a slot has not started: it goes back to the queue at once.
      release.abort();
      const settled = Promise.all(held).then(() => true);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      });
      const finished = await Promise.race([settled, timedOut]);
      clearTimeout(timer);
      abort.abort();
      if (!finished) {
        logger.warn('Released in-flight messages at shutdown; they will be processed again.', {
          count: scheduler.inFlight(),
        });
      }
      await Promise.all(held);
      await loop;
    },
    inFlight: () => scheduler.inFlight(),
  };
}
