import type { Registry } from 'prom-client';
import {
  CIRCUIT_STATE_VALUE,
  type CircuitBreakerRegistry,
  createCircuitBreakerRegistry,
  createTokenBuckets,
  sendWithRetry,
  sleep,
  type TokenBuckets,
  type TokenRequest,
  validateCircuitBreakerConfig,
  type ValidatedCircuitBreakerConfig,
} from '../delivery/index.js';
import {
  AbortedError,
  CorruptObjectError,
  DeliveryError,
  isConfigActive,
  type LogObjectKey,
  NotificationError,
  ObjectKeyError,
  ObjectNotFoundError,
  parseObjectKey,
  DEFAULT_BURST_SECONDS,
  RetriesExhaustedError,
  type TenantSettings,
} from '../domain/index.js';
import type { Logger } from '../logging/index.js';
import type { Batch, SinkPlanner } from '../sinks/types.js';
import type {
  CheckpointStore,
  DeadLetterStore,
  NewDeadLetter,
  NotificationQueue,
  ObjectStore,
  TenantQuotaStore,
} from '../stores/ports.js';
import { utcDay } from '../stores/ports.js';
import { type DelayedRetryConfig, defaultDelayedRetryConfig, delayedRetryDelayMs } from './delayed-retry.js';
import { createProcessorMetrics, type ProcessorMetrics } from './metrics.js';
import type { DestinationStatusRecorder } from './status-recorder.js';
import { checkpointKey, encodeWorkItem, parseNotification, type WorkItem } from './notification.js';
import { emptyReadStats, type ReadStats, readObjectRecords } from './object-reader.js';
import type { ResolvedDestination, TenantDestinationResolver } from './tenant-destinations.js';

/** Dead-letter reasons the processor records. */
export const DeadLetterReason = {
  INVALID_NOTIFICATION: 'invalid_notification',
  INVALID_OBJECT_KEY: 'invalid_object_key',
  INVALID_CONFIG: 'invalid_config',
  OBJECT_NOT_FOUND: 'object_not_found',
  CORRUPT_OBJECT: 'corrupt_object',
  RETRIES_EXHAUSTED: 'retries_exhausted',
  /** The tenant's daily byte quota was used up; redrive after the UTC day ends. */
  QUOTA_EXCEEDED: 'quota_exceeded',
  /**
   * The embedded queue received the message too often without it being completed (the
   * processor crashed or failed on it each time, without progress) and moved it off the queue.
   */
  RECEIVE_LIMIT_EXCEEDED: 'receive_limit_exceeded',
} as const;

/** The reason of a delivery not tried because the destination's circuit is open (then retried later). */
export const CIRCUIT_OPEN_REASON = 'circuit_open';

/**
 * The reason of a delivery not tried because it was over a tenant or destination rate limit
 * (then retried later). Such a retry does not use up a delayed-retry attempt.
 */
export const RATE_LIMITED_REASON = 'rate_limited';

/** Over a rate limit, a batch waits for tokens this long at most before it is handed to the delayed retry. */
export const DEFAULT_RATE_LIMIT_MAX_WAIT_MS = 1_000;

/** Per-replica rate limiting of the processor. */
export interface ProcessorRateLimitOptions {
  /** The longest wait for tokens before a batch is handed to the delayed retry. Default 1 s. */
  readonly maxWaitMs?: number;
  /** The token buckets; default: new ones on the processor's clock. */
  readonly buckets?: TokenBuckets;
}

/** What happened to one destination of one object. */
export const DestinationStatus = {
  DELIVERED: 'delivered',
  ALREADY_DONE: 'already_done',
  RETRY_SCHEDULED: 'retry_scheduled',
  DEAD_LETTERED: 'dead_lettered',
} as const;
export type DestinationStatus = (typeof DestinationStatus)[keyof typeof DestinationStatus];

/** What happened to one object, summed over its destinations. */
export const ItemResult = {
  COMPLETED: 'completed',
  RETRY_SCHEDULED: 'retry_scheduled',
  DEAD_LETTERED: 'dead_lettered',
  SKIPPED: 'skipped',
} as const;
export type ItemResult = (typeof ItemResult)[keyof typeof ItemResult];

export interface DestinationOutcome {
  readonly type: string;
  readonly status: DestinationStatus;
  /** Records this run delivered to the destination. */
  readonly delivered: number;
  readonly reason?: string;
}

export interface ItemOutcome {
  readonly key: string;
  readonly tenantId?: string;
  readonly result: ItemResult;
  readonly destinations: readonly DestinationOutcome[];
  /** Why the object was skipped (internal key, no matching destination). */
  readonly skippedReason?: string;
  readonly stats?: ReadStats;
}

export interface MessageOutcome {
  readonly items: readonly ItemOutcome[];
  /** Set when the message itself was not understood (and was dead-lettered). */
  readonly invalid?: string;
}

export interface ProcessorOptions {
  readonly objectStore: ObjectStore;
  /**
   * The store of a bucket named by a notification (AWS: the S3 event's bucket); default
   * `objectStore` for every bucket.
   */
  readonly objectStoreFor?: (bucket: string | undefined) => ObjectStore | undefined;
  readonly resolver: TenantDestinationResolver;
  readonly checkpoints: CheckpointStore;
  readonly deadLetters: DeadLetterStore;
  /** Where delayed retries go; the queue the notifications come from. */
  readonly queue: NotificationQueue;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly delayedRetry?: DelayedRetryConfig;
  /** Where each destination's last success, last error and pending retries are reported. */
  readonly status?: DestinationStatusRecorder;
  /**
   * The per-destination circuit breakers of this replica (`validateCircuitBreakerConfig`);
   * default: the defaults, enabled. A destination whose circuit is open is not called: its
   * work goes to the delayed retry, as after a recoverable failure.
   */
  readonly circuitBreaker?: ValidatedCircuitBreakerConfig;
  /**
   * The daily byte counters shared by the replicas, for the tenants' `daily_byte_quota`.
   * Without it the quota is not enforced (a warning per tenant says so).
   */
  readonly quotas?: TenantQuotaStore;
  /** Rate limits of the tenants' settings rows, enforced per replica. */
  readonly rateLimit?: ProcessorRateLimitOptions;
  readonly maxLineBytes?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** The processor every runtime uses: notification → object → route → deliver → checkpoint. */
export interface Processor {
  /**
   * Handles one queue message. When it resolves, the message may be acknowledged: every
   * destination is done, dead-lettered or handed to a durable delayed retry.
   * @throws when that cannot be guaranteed (a store is unreachable, or `signal` aborted):
   *   leave the message on the queue so it is delivered again
   */
  processMessage(body: string, signal: AbortSignal): Promise<MessageOutcome>;
  /** Handles one object (one work item); same contract as `processMessage`. */
  processItem(item: WorkItem, signal: AbortSignal): Promise<ItemOutcome>;
}

/** The processor as `createProcessor` builds it: also handles batches, packing across objects. */
export interface BatchProcessor extends Processor {
  /**
   * Handles several objects, packing consecutive objects of one pod into shared requests
   * where every matching destination can (`packsAcrossObjects`). Per item: its outcome, or
   * the error that kept it from being settled (leave its message on the queue).
   */
  processItems(items: readonly WorkItem[], signal: AbortSignal): Promise<PromiseSettledResult<ItemOutcome>[]>;
  /** `processMessage` for a batch of messages (a Lambda event, an SQS receive), packing across them. */
  processMessages(bodies: readonly string[], signal: AbortSignal): Promise<PromiseSettledResult<MessageOutcome>[]>;
}

/** Offsets of object i in a packed group are `i × OFFSET_STRIDE + offset`: exact up to 2^21 objects. */
const OFFSET_STRIDE = 2 ** 32;
/** Packed groups processed at once (each group is sequential inside). */
const PACKED_GROUP_CONCURRENCY = 4;

/** An object of a packed group after the failed batch: never sent, retried without an attempt. */
const NOT_ATTEMPTED: Readonly<{ retryable: true; reason: string; message: string }> = Object.freeze({
  retryable: true,
  reason: 'not_attempted',
  message: 'An earlier object of the same pod failed first; this one was not sent yet.',
});

/** What a probe reports when it ended without an answer from the destination: frees the slot only. */
const NO_VERDICT: Failure = Object.freeze({ retryable: false, reason: 'no_verdict', message: '' });

/** A promise's outcome as data. */
function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }) as const,
    (reason: unknown) => ({ status: 'rejected', reason }) as const,
  );
}

const MAX_BODY_IN_DEAD_LETTER = 2_048;

/** Why a destination did not finish an object. */
interface Failure {
  readonly retryable: boolean;
  readonly reason: string;
  readonly message: string;
  /** The earliest a delayed retry is worth trying (rate limits). */
  readonly retryAfterMs?: number;
}

/** A retry that does not use up an attempt: the destination was not asked, or the tenant was over budget. */
function usesNoAttempt(failure: Failure): boolean {
  return failure === NOT_ATTEMPTED || failure.reason === RATE_LIMITED_REASON;
}

/** Why a batch was not sent: over a rate limit for longer than the processor waits. */
function rateLimitedFailure(waitMs: number): Failure {
  return {
    retryable: true,
    reason: RATE_LIMITED_REASON,
    message: `Over the tenant's rate limit for ${waitMs} ms more; the delivery was handed to a delayed retry.`,
    retryAfterMs: waitMs,
  };
}

/** Why a batch and the rest of its object were dead-lettered: the daily quota is used up. */
function quotaExceededFailure(day: string, cap: number, used: number, bytes: number): Failure {
  return {
    retryable: false,
    reason: DeadLetterReason.QUOTA_EXCEEDED,
    message:
      `The tenant's daily byte quota is used up (${used} of ${cap} bytes on ${day} UTC; this batch had ${bytes}); ` +
      'the rest of the object for this destination was not sent. Redrive it after the UTC day ends.',
  };
}

/** Where one destination stands on one object once reading and sending are over. */
interface DestinationResult {
  readonly destination: ResolvedDestination;
  /** Offset of the last record accepted (from the checkpoint, then by this run). */
  readonly accepted: number;
  readonly delivered: number;
  readonly failure?: Failure;
}

interface Delivery extends DestinationResult {
  readonly planner: SinkPlanner;
  accepted: number;
  delivered: number;
  failure?: Failure;
  /** Holds the half-open probe of its circuit until it reports a result. */
  probe: boolean;
}

/** Why a destination was not called: its circuit is open (a recoverable failure, retried later). */
function circuitOpenFailure(nextProbeAtMs: number | undefined): Failure {
  const when = nextProbeAtMs !== undefined ? ` until ${new Date(nextProbeAtMs).toISOString()}` : '';
  return {
    retryable: true,
    reason: CIRCUIT_OPEN_REASON,
    message: `The destination failed repeatedly; its circuit is open${when}, so it was not called.`,
  };
}

/** Why a sink failed a batch: its own DeliveryError, or an unexpected error (a bug) retried later. */
function failureOf(error: unknown): { retryable: boolean; reason: string; message: string } {
  if (error instanceof RetriesExhaustedError) {
    return { retryable: true, reason: error.lastError.reason, message: error.message };
  }
  if (error instanceof DeliveryError)
    return { retryable: error.retryable, reason: error.reason, message: error.message };
  return {
    retryable: true,
    reason: 'unexpected_sink_error',
    message: `The sink failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`,
  };
}

/**
 * The checkpoint or quota store failed: progress or a reservation cannot be recorded, so the
 * message must not be acknowledged or rescheduled; it is given back to the queue as it is.
 */
class StoreWriteError extends Error {
  override readonly name = 'StoreWriteError';
}

/**
 * Creates the processor.
 *
 * @example
 * const processor = createProcessor({ objectStore, resolver, checkpoints, deadLetters, queue, logger, registry });
 * await processor.processMessage(message.body, signal);
 */
export function createProcessor(options: ProcessorOptions): BatchProcessor {
  const metrics: ProcessorMetrics = createProcessorMetrics(options.registry);
  const delayedRetry = options.delayedRetry ?? defaultDelayedRetryConfig();
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const { logger } = options;
  const buckets = options.rateLimit?.buckets ?? createTokenBuckets({ now });
  const rateLimitMaxWaitMs = options.rateLimit?.maxWaitMs ?? DEFAULT_RATE_LIMIT_MAX_WAIT_MS;
  const quotaWarned = new Set<string>();

  const status = options.status;
  const breakers: CircuitBreakerRegistry = createCircuitBreakerRegistry(
    options.circuitBreaker ?? validateCircuitBreakerConfig(),
    {
      now,
      // ±20 %, from the processor's own random source so tests stay deterministic.
      jitter: (ms) => Math.round(ms * (0.8 + 0.4 * random())),
      onTransition: (t) => {
        metrics.circuitState.set({ tenant: t.tenantId, destination: t.destination }, CIRCUIT_STATE_VALUE[t.to]);
        metrics.circuitTransitions.inc({ tenant: t.tenantId, destination: t.destination, to: t.to });
        status?.circuit(t.tenantId, t.destination, {
          state: t.to,
          ...(t.snapshot.openedAtMs !== undefined && { openedAtMs: t.snapshot.openedAtMs }),
          ...(t.snapshot.nextProbeAtMs !== undefined && { nextProbeAtMs: t.snapshot.nextProbeAtMs }),
          atMs: t.atMs,
        });
        const log = t.to === 'closed' ? logger.info : logger.warn;
        log.call(logger, 'A destination circuit changed state.', {
          tenant: t.tenantId,
          destination: t.destination,
          from: t.from,
          to: t.to,
          ...(t.snapshot.nextProbeAtMs !== undefined && { nextProbeAt: new Date(t.snapshot.nextProbeAtMs).toISOString() }),
        });
      },
      onEvict: (tenantId, destination) => metrics.circuitState.remove({ tenant: tenantId, destination }),
    },
  );
  /** Feeds the breaker with the result of one send; a permanent failure only frees a probe slot. */
  const recordAttempt = (tenantId: string, type: string, holder: { probe: boolean }, failure?: Failure) => {
    if (!failure) breakers.recordSuccess(tenantId, type);
    else if (failure.retryable) breakers.recordFailure(tenantId, type);
    else breakers.release(tenantId, type);
    holder.probe = false;
  };
  const deadLetter = async (entry: NewDeadLetter) => {
    await options.deadLetters.add(entry);
    metrics.deadLetters.inc({ reason: entry.reason });
    if (entry.destination !== '*') {
      status?.failure(entry.tenantId, entry.destination, { code: entry.reason, message: entry.message, atMs: now() });
    }
    logger.warn('Dead-lettered work.', {
      tenant: entry.tenantId,
      destination: entry.destination,
      object: entry.objectKey,
      reason: entry.reason,
      error: entry.message,
    });
  };

  /** A delayed retry that was settled is no longer pending (a new one may have been scheduled). */
  const noteRetryDue = (item: WorkItem): void => {
    if (!item.delayed || !status) return;
    let parsed: ReturnType<typeof parseObjectKey>;
    try {
      parsed = parseObjectKey(item.key);
    } catch {
      return; // Never scheduled: a retry is only queued for a key that parsed.
    }
    if (parsed.kind === 'internal') return;
    for (const type of item.destinations ?? []) status.retryDue(parsed.tenantId, type);
  };

  /**
   * The rate limits (tenant, then destination; events and bytes) and the daily quota, before
   * one batch is sent. Waits briefly for tokens when that is enough.
   * @returns undefined to send the batch, else why not
   * @throws AbortedError when `signal` aborts a wait; StoreWriteError when the quota store fails
   */
  const admit = async (
    tenantId: string,
    settings: TenantSettings | undefined,
    type: string,
    batch: Batch,
    signal: AbortSignal,
  ): Promise<Failure | undefined> => {
    if (!settings) return undefined;
    const labels = { tenant: tenantId, destination: type };
    const requests = rateRequests(tenantId, type, settings, batch);
    if (requests.length > 0) {
      const taken = buckets.take(requests, rateLimitMaxWaitMs);
      if (!taken.ok) {
        metrics.rateLimited.inc(labels);
        return rateLimitedFailure(taken.waitMs);
      }
      if (taken.waitMs > 0) {
        metrics.rateLimitWaits.inc(labels);
        await sleep(taken.waitMs, signal);
      }
    }
    const cap = settings.dailyByteQuota;
    if (cap === undefined) return undefined;
    if (!options.quotas) {
      if (!quotaWarned.has(tenantId)) {
        quotaWarned.add(tenantId);
        logger.warn('A tenant has a daily byte quota but this processor has no quota store; it is not enforced.', {
          tenant: tenantId,
        });
      }
      return undefined;
    }
    const day = utcDay(now());
    let reservation: Awaited<ReturnType<TenantQuotaStore['add']>>;
    try {
      reservation = await options.quotas.add(tenantId, day, batch.bytes, cap);
    } catch (cause) {
      throw new StoreWriteError('Reserving daily quota failed.', { cause });
    }
    if (reservation.allowed) return undefined;
    metrics.quotaExceeded.inc(labels);
    return quotaExceededFailure(day, cap, reservation.used, batch.bytes);
  };

  const sendBatches = async (
    item: WorkItem,
    object: LogObjectKey,
    lastModifiedMs: number,
    d: Delivery,
    batches: Batch[],
    signal: AbortSignal,
    settings: TenantSettings | undefined,
  ) => {
    const { destination } = d;
    const labels = { tenant: object.tenantId, kind: destination.kind };
    for (const batch of batches) {
      if (d.failure) return;
      const refused = await admit(object.tenantId, settings, destination.type, batch, signal);
      if (refused) {
        d.failure = refused;
        return;
      }
      try {
        await sendWithRetry((b, s) => destination.sink.send(b, s), batch, destination.sink.retry, signal, {
          now,
          random,
          onRetry: (error) => metrics.quickRetries.inc({ kind: destination.kind, reason: error.reason }),
        });
      } catch (error) {
        if (error instanceof AbortedError) throw error;
        d.failure = failureOf(error);
        if (!(error instanceof DeliveryError || error instanceof RetriesExhaustedError)) {
          logger.error('A sink threw an unexpected error; the delivery will be retried.', {
            tenant: object.tenantId,
            destination: destination.type,
            error,
          });
        }
        metrics.eventsFailed.inc(labels, batch.count);
        recordAttempt(object.tenantId, destination.type, d, d.failure);
        return;
      }
      recordAttempt(object.tenantId, destination.type, d);
      try {
        await options.checkpoints.save(checkpointKey(item), destination.id, {
          offset: batch.lastOffset,
          done: false,
        });
      } catch (cause) {
        throw new StoreWriteError('Saving a checkpoint failed.', { cause });
      }
      d.accepted = batch.lastOffset;
      d.delivered += batch.count;
      metrics.eventsDelivered.inc(labels, batch.count);
      metrics.bytesDelivered.inc(labels, batch.bytes);
      const deliveredAtMs = now();
      metrics.deliveryLatencyMs.observe(labels, Math.max(0, deliveredAtMs - lastModifiedMs));
      status?.success(object.tenantId, destination.type, deliveredAtMs, Math.max(0, deliveredAtMs - lastModifiedMs));
    }
  };

  /**
   * Settles one object after its deliveries ran: done checkpoints for the destinations that
   * succeeded, one delayed retry for the recoverable failures (scoped to them), dead letters
   * for the rest. Resolves only when all of that is durable.
   */
  const finishItem = async (
    item: WorkItem,
    tenantId: string,
    outcomes: DestinationOutcome[],
    deliveries: readonly DestinationResult[],
    stats: ReadStats | undefined,
  ): Promise<ItemOutcome> => {
    const ckKey = checkpointKey(item);
    const toRetry: DestinationResult[] = [];
    for (const d of deliveries) {
      const { destination } = d;
      const labels = { tenant: tenantId, kind: destination.kind };
      if (!d.failure) {
        await options.checkpoints.save(ckKey, destination.id, { offset: d.accepted, done: true });
        metrics.deliveries.inc({ ...labels, result: 'success' });
        outcomes.push({
          type: destination.type,
          status: DestinationStatus.DELIVERED,
          delivered: d.delivered,
        });
        continue;
      }
      if (d.failure.retryable && (item.attempt < delayedRetry.maxAttempts || usesNoAttempt(d.failure))) {
        toRetry.push(d);
        continue;
      }
      const reason = d.failure.retryable ? DeadLetterReason.RETRIES_EXHAUSTED : d.failure.reason;
      await deadLetter({
        tenantId,
        destination: destination.type,
        objectKey: item.key,
        reason,
        message: d.failure.retryable
          ? `Gave up after ${item.attempt + 1} deliveries; last error (${d.failure.reason}): ${d.failure.message}`
          : d.failure.message,
        attempts: item.attempt + 1,
        offset: d.accepted,
      });
      metrics.deliveries.inc({ ...labels, result: 'failed' });
      outcomes.push({
        type: destination.type,
        status: DestinationStatus.DEAD_LETTERED,
        delivered: d.delivered,
        reason,
      });
    }

    if (toRetry.length > 0) {
      // Work that never reached the destination, or was over a rate limit, does not use up an attempt.
      const attempt = toRetry.every((d) => usesNoAttempt(d.failure!)) ? item.attempt : item.attempt + 1;
      // Over a rate limit: not before the tokens are back (within the queue's longest delay).
      const notBeforeMs = Math.max(0, ...toRetry.map((d) => d.failure!.retryAfterMs ?? 0));
      const delayMs = Math.min(
        delayedRetry.maxDelayMs,
        Math.max(notBeforeMs, delayedRetryDelayMs(attempt, delayedRetry, random)),
      );
      await options.queue.send(
        encodeWorkItem({
          ...item,
          destinations: toRetry.map((d) => d.destination.type),
          attempt,
          delayed: true,
          scheduledAtMs: now(),
        }),
        { delayMs },
      );
      for (const d of toRetry) {
        status?.retryScheduled(tenantId, d.destination.type);
        if (d.failure!.reason === CIRCUIT_OPEN_REASON) {
          // The last error stays the destination's own; the circuit state tells why it was not called.
          metrics.circuitShortCircuits.inc({ tenant: tenantId, destination: d.destination.type });
        } else if (d.failure!.reason !== RATE_LIMITED_REASON) {
          // Over budget is the tenant's own choice, not the destination's error (counted in tlr_rate_limited_total).
          status?.failure(tenantId, d.destination.type, { code: d.failure!.reason, message: d.failure!.message, atMs: now() });
        }
        metrics.delayedRetries.inc({ tenant: tenantId, kind: d.destination.kind });
        metrics.deliveries.inc({ tenant: tenantId, kind: d.destination.kind, result: 'retry' });
        outcomes.push({
          type: d.destination.type,
          status: DestinationStatus.RETRY_SCHEDULED,
          delivered: d.delivered,
          reason: d.failure!.reason,
        });
      }
      logger.warn('Scheduled a delayed retry.', {
        tenant: tenantId,
        object: item.key,
        destinations: toRetry.map((d) => d.destination.type),
        attempt,
        delayMs,
        reasons: toRetry.map((d) => d.failure!.reason),
      });
    }

    const result = summarize(outcomes);
    metrics.objects.inc({ result });
    logger.debug('Processed an object.', { object: item.key, result, records: stats?.records ?? 0 });
    return { key: item.key, tenantId, result, destinations: outcomes, ...(stats !== undefined && { stats }) };
  };


  /**
   * What a failure while reading an object (or sending what was read) means for its
   * deliveries. Aborts and checkpoint-store failures are rethrown: the message must stay on
   * the queue as it is.
   */
  const readFailureOf = (error: unknown, key: string, signal: AbortSignal): Failure => {
    if (error instanceof AbortedError || signal.aborted) throw error instanceof AbortedError ? error : new AbortedError();
    if (error instanceof StoreWriteError) throw error.cause;
    if (error instanceof ObjectNotFoundError) {
      return { retryable: false, reason: DeadLetterReason.OBJECT_NOT_FOUND, message: error.message };
    }
    if (error instanceof ObjectKeyError) {
      // The store cannot hold such a key at all: retrying changes nothing.
      return { retryable: false, reason: DeadLetterReason.INVALID_OBJECT_KEY, message: error.message };
    }
    // The store failed to serve the object: worth another try later.
    logger.warn('Reading an object failed; its deliveries will be retried.', { object: key, error });
    return { retryable: true, reason: 'object_read_failed', message: error instanceof Error ? error.message : String(error) };
  };

  const processItem = async (item: WorkItem, signal: AbortSignal): Promise<ItemOutcome> => {
    if (signal.aborted) throw new AbortedError();
    let object: LogObjectKey;
    try {
      const parsed = parseObjectKey(item.key);
      if (parsed.kind === 'internal') {
        metrics.objects.inc({ result: ItemResult.SKIPPED });
        return { key: item.key, result: ItemResult.SKIPPED, destinations: [], skippedReason: 'internal_key' };
      }
      object = parsed;
    } catch (error) {
      if (!(error instanceof ObjectKeyError)) throw error;
      await deadLetter({
        tenantId: item.key.split('/')[1] ?? '',
        destination: '*',
        objectKey: item.key,
        reason: DeadLetterReason.INVALID_OBJECT_KEY,
        message: error.message,
        attempts: item.attempt + 1,
        offset: -1,
      });
      metrics.objects.inc({ result: ItemResult.DEAD_LETTERED });
      return { key: item.key, result: ItemResult.DEAD_LETTERED, destinations: [] };
    }

    const { tenantId } = object;
    const inScope = (type: string) => item.destinations === undefined || item.destinations.includes(type);
    const tenant = await options.resolver.resolve(tenantId);
    const outcomes: DestinationOutcome[] = [];

    for (const invalid of tenant.invalid.filter((i) => inScope(i.type))) {
      await deadLetter({
        tenantId,
        destination: invalid.type,
        objectKey: item.key,
        reason: DeadLetterReason.INVALID_CONFIG,
        message: invalid.message,
        attempts: item.attempt + 1,
        offset: -1,
      });
      outcomes.push({
        type: invalid.type,
        status: DestinationStatus.DEAD_LETTERED,
        delivered: 0,
        reason: DeadLetterReason.INVALID_CONFIG,
      });
    }

    const matching = tenant.destinations.filter(
      (d) => inScope(d.type) && d.accepts(object.application) && isActiveNow(d, now()) && !recreatedSince(d, item),
    );
    const ckKey = checkpointKey(item);
    const checkpoints =
      matching.length > 0
        ? await options.checkpoints.getMany(
            ckKey,
            matching.map((d) => d.id),
          )
        : new Map();
    const deliveries: Delivery[] = [];
    for (const destination of matching) {
      const checkpoint = checkpoints.get(destination.id);
      if (checkpoint?.done) {
        outcomes.push({ type: destination.type, status: DestinationStatus.ALREADY_DONE, delivered: 0 });
        continue;
      }
      const permit = breakers.allow(tenantId, destination.type);
      deliveries.push({
        destination,
        planner: destination.sink.createPlanner(object, item.bucket !== undefined ? { bucket: item.bucket } : {}),
        accepted: checkpoint?.offset ?? -1,
        delivered: 0,
        probe: permit.probe,
        ...(!permit.allowed && { failure: circuitOpenFailure(permit.nextProbeAtMs) }),
      });
    }

    if (deliveries.length === 0) {
      const result = summarize(outcomes);
      metrics.objects.inc({ result });
      return {
        key: item.key,
        tenantId,
        result,
        destinations: outcomes,
        ...(outcomes.length === 0 && { skippedReason: 'no_matching_destination' }),
      };
    }

    const stats = emptyReadStats();
    let readFailure: { retryable: boolean; reason: string; message: string } | undefined;
    const readAndSend = async () => {
      const store = options.objectStoreFor?.(item.bucket) ?? options.objectStore;
      const { body, info } = await store.get(item.key);
      const lastModifiedMs = info.lastModifiedMs;
      try {
        for await (const records of readObjectRecords(body, {
          fallbackMs: lastModifiedMs,
          stats,
          ...(options.maxLineBytes !== undefined && { maxLineBytes: options.maxLineBytes }),
        })) {
          const sends: Promise<void>[] = [];
          for (const d of deliveries) {
            if (d.failure) continue;
            const batches: Batch[] = [];
            for (const record of records) {
              if (record.offset <= d.accepted) continue;
              const closed = d.planner.add(record);
              if (closed.length > 0) batches.push(...closed);
            }
            if (batches.length > 0) sends.push(sendBatches(item, object, lastModifiedMs, d, batches, signal, tenant.settings));
          }
          if (sends.length > 0) await settleAll(sends);
          if (deliveries.every((d) => d.failure)) break;
        }
      } catch (error) {
        if (!(error instanceof CorruptObjectError)) throw error;
        readFailure = { retryable: false, reason: DeadLetterReason.CORRUPT_OBJECT, message: error.message };
      }
      // What was read before a corrupt tail is still delivered.
      await settleAll(
        deliveries
          .filter((d) => !d.failure)
          .map((d) => sendBatches(item, object, lastModifiedMs, d, d.planner.flush(), signal, tenant.settings)),
      );
    };
    try {
      // When every destination's circuit is open there is nothing to read the object for.
      if (deliveries.some((d) => !d.failure)) await readAndSend();
    } catch (error) {
      readFailure = readFailureOf(error, item.key, signal);
    } finally {
      // A probe that sent nothing (read failure, nothing left to send, abort) gives its slot back.
      for (const d of deliveries) if (d.probe) recordAttempt(tenantId, d.destination.type, d, NO_VERDICT);
    }
    metrics.eventsRead.inc(stats.records);
    for (const [reason, n] of Object.entries(stats.skipped)) metrics.linesSkipped.inc({ reason }, n);
    if (readFailure) for (const d of deliveries) d.failure ??= readFailure;

    return finishItem(item, tenantId, outcomes, deliveries, stats);
  };


  /** Items that may share requests: same pod key prefix, bucket, scope, attempt and replay. */
  const groupKeyOf = (item: WorkItem): string | undefined => {
    const slash = item.key.lastIndexOf('/');
    if (slash <= 0 || item.key.startsWith('_')) return undefined;
    return JSON.stringify([item.key.slice(0, slash), item.bucket, item.destinations, item.attempt, item.replayId]);
  };

  /**
   * One pod's objects, in key (time) order, through shared planners. Falls back to one object
   * at a time unless every matching destination packs across objects. A batch that ends in
   * object j completes every object before j: their checkpoints are saved as it is accepted.
   */
  const processPackedGroup = async (
    items: readonly WorkItem[],
    signal: AbortSignal,
  ): Promise<PromiseSettledResult<ItemOutcome>[]> => {
    if (signal.aborted) throw new AbortedError();
    const one = async () => {
      const outcomes: PromiseSettledResult<ItemOutcome>[] = [];
      for (const item of items) outcomes.push(await settle(processItem(item, signal)));
      return outcomes;
    };
    if (items.length < 2) return one();
    let objects: LogObjectKey[];
    try {
      objects = items.map((i) => parseObjectKey(i.key)).filter((o): o is LogObjectKey => o.kind === 'log');
    } catch {
      return one();
    }
    // Delayed retries are few; they take the per-object path, which checks recreated configs.
    if (objects.length !== items.length || items.some((i) => i.scheduledAtMs !== undefined)) return one();
    const first = items[0]!;
    const { tenantId, application } = objects[0]!;
    const inScope = (type: string) => first.destinations === undefined || first.destinations.includes(type);
    const tenant = await options.resolver.resolve(tenantId);
    const matching = tenant.destinations.filter(
      (d) => inScope(d.type) && d.accepts(application) && isActiveNow(d, now()),
    );
    if (
      tenant.invalid.some((i) => inScope(i.type)) ||
      matching.length === 0 ||
      matching.some((d) => d.sink.packsAcrossObjects !== true)
    ) {
      return one();
    }

    const count = items.length;
    const ids = matching.map((d) => d.id);
    const checkpointsByItem = await Promise.all(items.map((i) => options.checkpoints.getMany(checkpointKey(i), ids)));
    const context = first.bucket !== undefined ? { bucket: first.bucket } : {};
    const lanes = matching.map((destination) => {
      const accepted = checkpointsByItem.map((c) => c.get(destination.id)?.offset ?? -1);
      const doneAtStart = checkpointsByItem.map((c) => c.get(destination.id)?.done === true);
      // A lane with nothing to do does not ask, so it never takes the half-open probe.
      const permit = doneAtStart.every(Boolean) ? { allowed: true, probe: false } : breakers.allow(tenantId, destination.type);
      const open = !permit.allowed;
      return {
        destination,
        planner: destination.sink.createPlanner(objects[0]!, context),
        doneAtStart,
        accepted,
        delivered: new Array<number>(count).fill(0),
        // An open circuit fails the whole group for this destination before anything is sent.
        failure: open ? circuitOpenFailure(permit.nextProbeAtMs) : (undefined as Failure | undefined),
        failedFrom: open ? 0 : Number.POSITIVE_INFINITY,
        failedTo: open ? count - 1 : Number.POSITIVE_INFINITY,
        probe: permit.probe,
      };
    });
    type Lane = (typeof lanes)[number];
    const lastOffsetOf: number[] = new Array<number>(count).fill(-1);
    const readFailures: (Failure | undefined)[] = new Array<Failure | undefined>(count);
    const stats = items.map(() => emptyReadStats());

    /** `count`: records the sink took for this object in the batch, when the batch held only it. */
    const accept = async (lane: Lane, item: number, offset: number, count?: number) => {
      if (lane.doneAtStart[item] || offset <= lane.accepted[item]!) return;
      try {
        await options.checkpoints.save(checkpointKey(items[item]!), lane.destination.id, { offset, done: false });
      } catch (cause) {
        throw new StoreWriteError('Saving a checkpoint failed.', { cause });
      }
      // A batch spanning objects only tells its total: count the records it covered instead.
      lane.delivered[item]! += count ?? offset - lane.accepted[item]!;
      lane.accepted[item] = offset;
    };
    const sendLane = async (lane: Lane, batches: Batch[], lastModifiedMs: number) => {
      const labels = { tenant: tenantId, kind: lane.destination.kind };
      for (const batch of batches) {
        if (lane.failure) return;
        const refused = await admit(tenantId, tenant.settings, lane.destination.type, batch, signal);
        if (refused) {
          lane.failure = refused;
          lane.failedFrom = Math.floor(batch.firstOffset / OFFSET_STRIDE);
          // Over the quota, every later object of the group is refused too: dead-letter them alike.
          lane.failedTo = refused.retryable ? Math.floor(batch.lastOffset / OFFSET_STRIDE) : count - 1;
          return;
        }
        try {
          await sendWithRetry((b, s) => lane.destination.sink.send(b, s), batch, lane.destination.sink.retry, signal, {
            now,
            random,
            onRetry: (error) => metrics.quickRetries.inc({ kind: lane.destination.kind, reason: error.reason }),
          });
        } catch (error) {
          if (error instanceof AbortedError) throw error;
          lane.failure = failureOf(error);
          // Every record before this batch was accepted: the objects before its first one are complete.
          lane.failedFrom = Math.floor(batch.firstOffset / OFFSET_STRIDE);
          lane.failedTo = Math.floor(batch.lastOffset / OFFSET_STRIDE);
          metrics.eventsFailed.inc(labels, batch.count);
          recordAttempt(tenantId, lane.destination.type, lane, lane.failure);
          return;
        }
        recordAttempt(tenantId, lane.destination.type, lane);
        const from = Math.floor(batch.firstOffset / OFFSET_STRIDE);
        const to = Math.floor(batch.lastOffset / OFFSET_STRIDE);
        for (let k = from; k < to; k++) await accept(lane, k, lastOffsetOf[k]!);
        await accept(lane, to, batch.lastOffset % OFFSET_STRIDE, from === to ? batch.count : undefined);
        metrics.eventsDelivered.inc(labels, batch.count);
        metrics.bytesDelivered.inc(labels, batch.bytes);
        const deliveredAtMs = now();
        metrics.deliveryLatencyMs.observe(labels, Math.max(0, deliveredAtMs - lastModifiedMs));
        status?.success(tenantId, lane.destination.type, deliveredAtMs, Math.max(0, deliveredAtMs - lastModifiedMs));
      }
    };

    let lastModifiedMs = now();
    try {
      for (let i = 0; i < count; i++) {
        if (lanes.every((l) => l.failure)) break;
        const item = items[i]!;
        const base = i * OFFSET_STRIDE;
        try {
          const store = options.objectStoreFor?.(item.bucket) ?? options.objectStore;
          const { body, info } = await store.get(item.key);
          lastModifiedMs = info.lastModifiedMs;
          try {
            for await (const records of readObjectRecords(body, {
              fallbackMs: info.lastModifiedMs,
              stats: stats[i]!,
              ...(options.maxLineBytes !== undefined && { maxLineBytes: options.maxLineBytes }),
            })) {
              lastOffsetOf[i] = records.at(-1)!.offset;
              const sends: Promise<void>[] = [];
              for (const lane of lanes) {
                if (lane.failure || lane.doneAtStart[i]) continue;
                const batches: Batch[] = [];
                for (const record of records) {
                  if (record.offset <= lane.accepted[i]!) continue;
                  const closed = lane.planner.add(i === 0 ? record : { ...record, offset: base + record.offset });
                  if (closed.length > 0) batches.push(...closed);
                }
                if (batches.length > 0) sends.push(sendLane(lane, batches, info.lastModifiedMs));
              }
              if (sends.length > 0) await settleAll(sends);
            }
          } catch (error) {
            if (!(error instanceof CorruptObjectError)) throw error;
            readFailures[i] = { retryable: false, reason: DeadLetterReason.CORRUPT_OBJECT, message: error.message };
          }
        } catch (error) {
          readFailures[i] = readFailureOf(error, item.key, signal);
        }
      }
      await settleAll(lanes.filter((l) => !l.failure).map((l) => sendLane(l, l.planner.flush(), lastModifiedMs)));
    } catch (error) {
      if (error instanceof StoreWriteError) throw error.cause;
      throw error;
    } finally {
      // A probe that sent nothing (read failure, nothing left to send, abort) gives its slot back.
      for (const lane of lanes) if (lane.probe) recordAttempt(tenantId, lane.destination.type, lane, NO_VERDICT);
    }

    const outcomes: PromiseSettledResult<ItemOutcome>[] = [];
    for (let i = 0; i < count; i++) {
      metrics.eventsRead.inc(stats[i]!.records);
      for (const [reason, n] of Object.entries(stats[i]!.skipped)) metrics.linesSkipped.inc({ reason }, n);
      const itemOutcomes: DestinationOutcome[] = [];
      const results: DestinationResult[] = [];
      for (const lane of lanes) {
        if (lane.doneAtStart[i]) {
          itemOutcomes.push({ type: lane.destination.type, status: DestinationStatus.ALREADY_DONE, delivered: 0 });
          continue;
        }
        // The failed batch's objects share its failure; objects after it were never sent to this
        // destination, so they get a retry that does not count as an attempt.
        const failure =
          i < lane.failedFrom ? readFailures[i] : i <= lane.failedTo ? lane.failure : NOT_ATTEMPTED;
        results.push({
          destination: lane.destination,
          accepted: lane.accepted[i]!,
          delivered: lane.delivered[i]!,
          ...(failure !== undefined && { failure }),
        });
      }
      // Each object settles on its own: a failure settling one must not undo the others.
      outcomes.push(await settle(finishItem(items[i]!, tenantId, itemOutcomes, results, stats[i])));
    }
    return outcomes;
  };

  const processItems = async (
    items: readonly WorkItem[],
    signal: AbortSignal,
  ): Promise<PromiseSettledResult<ItemOutcome>[]> => {
    const results: PromiseSettledResult<ItemOutcome>[] = new Array(items.length);
    const groups = new Map<string, number[]>();
    const singles: number[] = [];
    items.forEach((item, index) => {
      const key = groupKeyOf(item);
      if (key === undefined) singles.push(index);
      else groups.set(key, [...(groups.get(key) ?? []), index]);
    });
    const tasks: (() => Promise<void>)[] = [];
    for (const index of singles) {
      tasks.push(async () => {
        results[index] = await settle(processItem(items[index]!, signal));
      });
    }
    for (const indexes of groups.values()) {
      // Key order is time order: the file name starts with YYYYMMDD-HHMMSS.
      indexes.sort((a, b) => (items[a]!.key < items[b]!.key ? -1 : items[a]!.key > items[b]!.key ? 1 : 0));
      // The same object twice (a redelivered or repeated notification) goes through the group once;
      // the copies follow it one at a time and find its checkpoints done.
      const seen = new Set<string>();
      const unique: number[] = [];
      const repeats: number[] = [];
      for (const i of indexes) {
        const key = checkpointKey(items[i]!);
        if (seen.has(key)) repeats.push(i);
        else {
          seen.add(key);
          unique.push(i);
        }
      }
      tasks.push(async () => {
        try {
          const outcomes = await processPackedGroup(
            unique.map((i) => items[i]!),
            signal,
          );
          unique.forEach((i, n) => {
            results[i] = outcomes[n]!;
          });
        } catch (reason) {
          for (const i of unique) results[i] = { status: 'rejected', reason };
        }
        for (const i of repeats) results[i] = await settle(processItem(items[i]!, signal));
      });
    }
    let next = 0;
    const worker = async () => {
      while (next < tasks.length) await tasks[next++]!();
    };
    await Promise.all(Array.from({ length: Math.min(PACKED_GROUP_CONCURRENCY, tasks.length) }, worker));
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') noteRetryDue(items[i]!);
    });
    return results;
  };

  /** A message's work items, or the outcome for a message with none (ignored or invalid, dead-lettered). */
  const parseMessage = async (body: string): Promise<{ items: WorkItem[] } | { outcome: MessageOutcome }> => {
    try {
      const parsed = parseNotification(body);
      if (parsed.ignoredReason) {
        metrics.notifications.inc({ result: parsed.ignoredReason });
        return { outcome: { items: [] } };
      }
      return { items: parsed.items };
    } catch (error) {
      if (!(error instanceof NotificationError)) throw error;
      metrics.notifications.inc({ result: 'invalid' });
      await deadLetter({
        tenantId: '',
        destination: '*',
        objectKey: '',
        reason: DeadLetterReason.INVALID_NOTIFICATION,
        message: `${error.message} Body: ${body.slice(0, MAX_BODY_IN_DEAD_LETTER)}`,
        attempts: 1,
        offset: -1,
      });
      return { outcome: { items: [], invalid: error.message } };
    }
  };

  const processMessages = async (
    bodies: readonly string[],
    signal: AbortSignal,
  ): Promise<PromiseSettledResult<MessageOutcome>[]> => {
    const results: PromiseSettledResult<MessageOutcome>[] = new Array(bodies.length);
    const items: WorkItem[] = [];
    const owners: number[] = [];
    for (const [index, body] of bodies.entries()) {
      try {
        const parsed = await parseMessage(body);
        if ('outcome' in parsed) {
          results[index] = { status: 'fulfilled', value: parsed.outcome };
          continue;
        }
        metrics.notifications.inc({ result: 'processed' });
        for (const item of parsed.items) {
          items.push(item);
          owners.push(index);
        }
        results[index] = { status: 'fulfilled', value: { items: [] } };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
    const settled = await processItems(items, signal);
    settled.forEach((result, n) => {
      const owner = owners[n]!;
      const current = results[owner]!;
      if (current.status === 'rejected') return;
      // A message is settled only when every one of its items is.
      results[owner] =
        result.status === 'rejected' ? result : { status: 'fulfilled', value: { items: [...current.value.items, result.value] } };
    });
    return results;
  };

  const processSettledItem = async (item: WorkItem, signal: AbortSignal): Promise<ItemOutcome> => {
    const outcome = await processItem(item, signal);
    noteRetryDue(item);
    return outcome;
  };

  return {
    processItem: processSettledItem,
    processItems,
    processMessages,
    async processMessage(body, signal) {
      const parsed = await parseMessage(body);
      if ('outcome' in parsed) return parsed.outcome;
      const items = parsed.items;
      metrics.notifications.inc({ result: 'processed' });
      const outcomes: ItemOutcome[] = [];
      for (const item of items) outcomes.push(await processSettledItem(item, signal));
      return { items: outcomes };
    },
  };
}

/**
 * Waits for every send, then rethrows the first failure. Unlike `Promise.all`, no send is
 * left running (appending, saving its checkpoint) after the processor has given the
 * message back, so a redelivery never races the previous attempt on one destination.
 */
async function settleAll(sends: readonly Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(sends);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function isActiveNow(destination: ResolvedDestination, nowMs: number): boolean {
  return isConfigActive(destination.config, nowMs);
}

/** A config created after the retry was scheduled is a new destination: the old work is not its own. */
function recreatedSince(destination: ResolvedDestination, item: WorkItem): boolean {
  if (item.scheduledAtMs === undefined) return false;
  const createdAt = destination.config.created_at;
  const createdAtMs = typeof createdAt === 'string' ? Date.parse(createdAt) : Number.NaN;
  return Number.isFinite(createdAtMs) && createdAtMs > item.scheduledAtMs;
}

function summarize(outcomes: readonly DestinationOutcome[]): ItemResult {
  if (outcomes.length === 0) return ItemResult.SKIPPED;
  if (outcomes.some((o) => o.status === DestinationStatus.RETRY_SCHEDULED)) return ItemResult.RETRY_SCHEDULED;
  if (outcomes.some((o) => o.status === DestinationStatus.DEAD_LETTERED)) return ItemResult.DEAD_LETTERED;
  return ItemResult.COMPLETED;
}

/** The tokens one batch takes: events and bytes from the tenant's bucket and the destination's. */
function rateRequests(tenantId: string, type: string, settings: TenantSettings, batch: Batch): TokenRequest[] {
  const requests: TokenRequest[] = [];
  const burstSeconds = settings.rateLimit?.burst_seconds ?? DEFAULT_BURST_SECONDS;
  const add = (key: string, limit: { events_per_second?: number; bytes_per_second?: number } | undefined) => {
    if (limit?.events_per_second !== undefined) {
      requests.push({ key: `${key}:events`, tokens: batch.count, ratePerSecond: limit.events_per_second, burstSeconds });
    }
    if (limit?.bytes_per_second !== undefined) {
      requests.push({ key: `${key}:bytes`, tokens: batch.bytes, ratePerSecond: limit.bytes_per_second, burstSeconds });
    }
  };
  add(tenantId, settings.rateLimit);
  add(`${tenantId}/${type}`, settings.destinationRateLimits?.[type]);
  return requests;
}
