import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../logging/index.js';
import { createEmfEmitter, type EmfEmitter } from '../metrics/index.js';
import type { BatchProcessor, Processor } from '../pipeline/processor.js';
import { awsRuntimeConfigFromEnv, ExecutionMode } from './aws-env.js';
import { type AwsRouter, createAwsRouter } from './aws-router.js';

/** The parts of an SQS event record the handler reads. */
export interface SqsRecord {
  readonly messageId: string;
  readonly body: string;
  readonly eventSourceARN?: string;
  readonly attributes?: { readonly ApproximateReceiveCount?: string };
}

export interface SqsEvent {
  readonly Records: readonly SqsRecord[];
}

/** Lambda's partial batch response: the messages to keep on the queue. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface LambdaContext {
  getRemainingTimeInMillis(): number;
  readonly awsRequestId?: string;
}

/** Stop starting work this long before the Lambda deadline, so unfinished messages are reported. */
export const DEADLINE_MARGIN_MS = 10_000;

/** Longest an invocation waits for destination status to be written. */
export const STATUS_FLUSH_BUDGET_MS = 2_000;
/** Time kept free after the status flush for returning the batch response. */
const STATUS_FLUSH_RESERVE_MS = 1_000;

/** Waits for `promise`, but no longer than `ms`; never rejects. */
async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

export interface SqsHandlerDeps {
  readonly processor: Processor;
  readonly logger: Logger;
  readonly concurrency?: number;
  readonly emf?: EmfEmitter;
  /** Called with the first record's source queue before processing. */
  readonly onEventSource?: (eventSourceArn: string) => Promise<void>;
  /** Writes what the invocation learnt of destination health; a frozen container runs no timers. */
  readonly flushStatus?: () => Promise<void>;
}

/**
 * The SQS-triggered Lambda handler. A message is reported in `batchItemFailures` when it
 * could be neither completed nor handed to a durable retry (a store failed, or the
 * invocation ran out of time); everything else is deleted by Lambda.
 */
export function createSqsHandler(deps: SqsHandlerDeps) {
  const concurrency = deps.concurrency ?? 4;
  return async (event: SqsEvent, context: LambdaContext): Promise<SqsBatchResponse> => {
    const failures: { itemIdentifier: string }[] = [];
    const abort = new AbortController();
    const remaining = context.getRemainingTimeInMillis();
    const timer = setTimeout(() => abort.abort(), Math.max(0, remaining - DEADLINE_MARGIN_MS));
    try {
      const source = event.Records.find((r) => r.eventSourceARN)?.eventSourceARN;
      if (source && deps.onEventSource) await deps.onEventSource(source);
      if ('processMessages' in deps.processor) {
        // One call for the whole event: consecutive objects of one pod share requests.
        const settled = await (deps.processor as BatchProcessor).processMessages(
          event.Records.map((r) => r.body),
          abort.signal,
        );
        settled.forEach((result, index) => {
          if (result.status === 'fulfilled') return;
          const record = event.Records[index]!;
          failures.push({ itemIdentifier: record.messageId });
          deps.logger.error('A message could not be processed; it stays on the queue.', {
            messageId: record.messageId,
            receiveCount: record.attributes?.ApproximateReceiveCount,
            error: result.reason,
          });
        });
        return { batchItemFailures: failures };
      }
      let next = 0;
      const worker = async () => {
        while (next < event.Records.length) {
          const record = event.Records[next++]!;
          if (abort.signal.aborted) {
            failures.push({ itemIdentifier: record.messageId });
            continue;
          }
          try {
            await deps.processor.processMessage(record.body, abort.signal);
          } catch (error) {
            failures.push({ itemIdentifier: record.messageId });
            deps.logger.error('A message could not be processed; it stays on the queue.', {
              messageId: record.messageId,
              receiveCount: record.attributes?.ApproximateReceiveCount,
              error,
            });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, event.Records.length) }, worker));
    } finally {
      clearTimeout(timer);
      if (deps.flushStatus) {
        // Status must never cost the batch its response: what is not written in time stays
        // in memory for the next invocation's flush.
        const budgetMs = Math.min(STATUS_FLUSH_BUDGET_MS, context.getRemainingTimeInMillis() - STATUS_FLUSH_RESERVE_MS);
        if (budgetMs > 0) await waitAtMost(deps.flushStatus(), budgetMs);
      }
      await deps.emf?.flush();
    }
    return { batchItemFailures: failures };
  };
}

let initialised: { router: AwsRouter; handle: ReturnType<typeof createSqsHandler> } | undefined;

/**
 * The Lambda entry point (`handler` of the bundle). Built once per container from the
 * environment; a bad environment fails the first invocation with every problem named.
 */
export async function handler(event: SqsEvent, context: LambdaContext): Promise<SqsBatchResponse> {
  if (!initialised) {
    const config = awsRuntimeConfigFromEnv(ExecutionMode.LAMBDA);
    const logger = createLogger({ level: config.logLevel, format: 'json' });
    if (config.logLevelWasInvalid) logger.warn('LOG_LEVEL is not a known level; using INFO.');
    const registry = new Registry();
    const router = createAwsRouter(config, { logger, registry, statusFlushIntervalMs: 0 });
    initialised = {
      router,
      handle: createSqsHandler({
        processor: router.processor,
        logger,
        concurrency: config.concurrency,
        emf: createEmfEmitter(registry),
        onEventSource: (arn) => router.useEventSource(arn),
        flushStatus: () => router.statusRecorder.flush(),
      }),
    };
  }
  return initialised.handle(event, context);
}
