import { AbortedError } from '../domain/index.js';
import type { Logger } from '../logging/index.js';
import type { BatchProcessor, MessageOutcome, Processor } from '../pipeline/processor.js';
import type { NotificationQueue, QueueMessage } from '../stores/ports.js';

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
   * Hand each receive (up to 10 messages) to `processMessages` as one batch, so consecutive
   * objects of one pod share requests; `concurrency` then counts batches.
   */
  readonly batches?: boolean;
}

export interface QueueWorker {
  /** Starts polling in the background. */
  start(): void;
  /**
   * Stops receiving, lets in-flight messages finish for up to `graceMs`, then aborts the
   * rest and makes them visible again at once (their checkpoints keep the progress).
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
/** SQS returns at most 10 messages per receive. */
const MAX_RECEIVE = 10;

/**
 * A polling loop over a NotificationQueue: receive, process, acknowledge. A message is
 * deleted only when the processor resolved; otherwise it reappears after its visibility
 * timeout and is processed again (checkpoints make that resume, not repeat).
 */
export function createQueueWorker(options: QueueWorkerOptions): QueueWorker {
  const { queue, processor, logger } = options;
  const concurrency = options.concurrency ?? DEFAULT_WORKER_CONCURRENCY;
  const visibilityTimeoutMs = options.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_TIMEOUT_MS;
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  if (options.batches && !('processMessages' in processor)) {
    throw new TypeError('Batch mode needs a processor with processMessages (createProcessor builds one).');
  }
  const abort = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let running = false;
  let loop: Promise<void> | undefined;
  let slotFreed: (() => void) | undefined;

  const handle = async (message: QueueMessage) => {
    // Keep the message hidden while it is worked on, however long the object takes.
    const heartbeat = setInterval(
      () => {
        queue.changeVisibility(message.receiptHandle, visibilityTimeoutMs).catch((error: unknown) => {
          logger.warn('Extending the visibility of a message failed.', { messageId: message.id, error });
        });
      },
      Math.max(1_000, visibilityTimeoutMs / 2),
    );
    try {
      const outcome = await processor.processMessage(message.body, abort.signal);
      await queue.delete(message.receiptHandle);
      options.onOutcome?.(outcome, message);
    } catch (error) {
      if (error instanceof AbortedError || abort.signal.aborted) {
        await queue.changeVisibility(message.receiptHandle, 0).catch(() => {});
        return;
      }
      logger.error('Processing a message failed; it will be delivered again after its visibility timeout.', {
        messageId: message.id,
        receiveCount: message.receiveCount,
        error,
      });
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
    if (result.reason instanceof AbortedError || abort.signal.aborted) {
      await queue.changeVisibility(message.receiptHandle, 0).catch(() => {});
      return;
    }
    logger.error('Processing a message failed; it will be delivered again after its visibility timeout.', {
      messageId: message.id,
      receiveCount: message.receiveCount,
      error: result.reason,
    });
  };

  const handleBatch = async (messages: QueueMessage[]) => {
    const heartbeat = setInterval(
      () => {
        for (const message of messages) {
          queue.changeVisibility(message.receiptHandle, visibilityTimeoutMs).catch((error: unknown) => {
            logger.warn('Extending the visibility of a message failed.', { messageId: message.id, error });
          });
        }
      },
      Math.max(1_000, visibilityTimeoutMs / 2),
    );
    try {
      let settled: PromiseSettledResult<MessageOutcome>[];
      try {
        settled = await (processor as BatchProcessor).processMessages(
          messages.map((m) => m.body),
          abort.signal,
        );
      } catch (reason) {
        settled = messages.map(() => ({ status: 'rejected', reason }));
      }
      for (const [index, message] of messages.entries()) {
        await settleOne(message, settled[index]!).catch((error: unknown) =>
          logger.error('Acknowledging a message failed; it will be delivered again.', { messageId: message.id, error }),
        );
      }
    } finally {
      clearInterval(heartbeat);
    }
  };

  const trackBatch = (messages: QueueMessage[]) => {
    const task = handleBatch(messages).finally(() => {
      inFlight.delete(task);
      slotFreed?.();
    });
    inFlight.add(task);
  };

  const track = (message: QueueMessage) => {
    const task = handle(message).finally(() => {
      inFlight.delete(task);
      slotFreed?.();
    });
    inFlight.add(task);
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
      if (inFlight.size >= concurrency) {
        await waitForSlot();
        continue;
      }
      let messages: QueueMessage[];
      try {
        messages = await queue.receive({
          maxMessages: options.batches ? MAX_RECEIVE : Math.min(MAX_RECEIVE, concurrency - inFlight.size),
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
      if (options.batches && messages.length > 0) trackBatch(messages);
      else for (const message of messages) track(message);
      if (messages.length === 0) {
        if (untilEmpty) {
          if (inFlight.size === 0) break;
          await Promise.race(inFlight);
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
      await Promise.all(inFlight);
      running = false;
    },
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      running = false;
      slotFreed?.();
      const settled = Promise.all(inFlight).then(() => true);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      });
      const finished = await Promise.race([settled, timedOut]);
      clearTimeout(timer);
      abort.abort();
      if (!finished) {
        logger.warn('Released in-flight messages at shutdown; they will be processed again.', {
          count: inFlight.size,
        });
      }
      await Promise.all(inFlight);
      await loop;
    },
    inFlight: () => inFlight.size,
  };
}
