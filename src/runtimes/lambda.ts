import { setMaxListeners } from 'node:events';
import { Registry } from 'prom-client';
import { AbortedError } from '../domain/index.js';
import { createLogger, type Logger } from '../logging/index.js';
import { createEmfEmitter, type EmfEmitter } from '../metrics/index.js';
import type { BatchProcessor, Processor } from '../pipeline/processor.js';
import { awsRuntimeConfigFromEnv, ExecutionMode } from './aws-env.js';
import { type AwsRouter, createAwsRouter } from './aws-router.js';
import { createTenantScheduler, groupByTenant, tenantOfMessage } from './tenant-scheduling.js';

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
  /**
   * Records (per-tenant batches with a batch processor) of one tenant processed at once, so one
   * tenant's records cannot take every worker; default `max(1, ceil(concurrency / 2))`.
   */
  readonly maxInFlightPerTenant?: number;
  /** Where `tlr_scheduler_waiting` and `tlr_scheduler_in_flight` go; none when absent. */
  readonly registry?: Registry;
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
 *
 * Records run through a fair scheduler: at most `concurrency` at once and
 * `maxInFlightPerTenant` of one tenant (the namespace of a record's first object key). With a
 * batch processor, the event is split per tenant and each tenant's records are one batch.
 *
 * @throws ConfigValidationError when a limit is not a whole number ≥ 1
 */
export function createSqsHandler(deps: SqsHandlerDeps) {
  const concurrency = deps.concurrency ?? 4;
  // One per container: the gauges then describe this replica.
  const scheduler = createTenantScheduler({
    concurrency,
    maxInFlightPerTenant: deps.maxInFlightPerTenant,
    registry: deps.registry,
  });
  return async (event: SqsEvent, context: LambdaContext): Promise<SqsBatchResponse> => {
    const failures: { itemIdentifier: string }[] = [];
    const abort = new AbortController();
    // Every record waiting for a slot listens on it; SQS batches hold at most 10,000 records.
    setMaxListeners(0, abort.signal);
    const remaining = context.getRemainingTimeInMillis();
    const timer = setTimeout(() => abort.abort(), Math.max(0, remaining - DEADLINE_MARGIN_MS));
    const failed = (record: SqsRecord, error: unknown) => {
      failures.push({ itemIdentifier: record.messageId });
      deps.logger.error('A message could not be processed; it stays on the queue.', {
        messageId: record.messageId,
        receiveCount: record.attributes?.ApproximateReceiveCount,
        error,
      });
    };
    try {
      const source = event.Records.find((r) => r.eventSourceARN)?.eventSourceARN;
      if (source && deps.onEventSource) await deps.onEventSource(source);
      if ('processMessages' in deps.processor) {
        // One call per tenant: consecutive objects of one pod share requests.
        const processor = deps.processor as BatchProcessor;
        const groups = groupByTenant(event.Records, (r) => r.body);
        await Promise.all(
          [...groups].map(async ([tenant, records]) => {
            let settled: PromiseSettledResult<unknown>[];
            try {
              settled = await scheduler.run(
                tenant,
                () => processor.processMessages(records.map((r) => r.body), abort.signal),
                abort.signal,
              );
            } catch (reason) {
              settled = records.map(() => ({ status: 'rejected', reason }));
            }
            settled.forEach((result, index) => {
              if (result.status === 'rejected') failed(records[index]!, result.reason);
            });
          }),
        );
        return { batchItemFailures: failures };
      }
      await Promise.all(
        event.Records.map(async (record) => {
          let started = false;
          try {
            await scheduler.run(
              tenantOfMessage(record.body),
              () => {
                started = true;
                return deps.processor.processMessage(record.body, abort.signal);
              },
              abort.signal,
            );
          } catch (error) {
            // A record the deadline caught before it started is simply given back.
            if (!started && error instanceof AbortedError) failures.push({ itemIdentifier: record.messageId });
            else failed(record, error);
          }
        }),
      );
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
        ...(config.maxInFlightPerTenant !== undefined && { maxInFlightPerTenant: config.maxInFlightPerTenant }),
        registry,
        emf: createEmfEmitter(registry),
        onEventSource: (arn) => router.useEventSource(arn),
        flushStatus: () => router.statusRecorder.flush(),
      }),
    };
  }
  return initialised.handle(event, context);
}
