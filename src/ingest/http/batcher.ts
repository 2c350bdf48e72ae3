import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Registry } from 'prom-client';
import { forEachConcurrently } from '../../delivery/index.js';
import { buildObjectKey } from '../../domain/index.js';
import type { Logger } from '../../logging/index.js';
import { counter, gauge, histogram } from '../../metrics/index.js';
import { encodeWorkItem } from '../../pipeline/notification.js';
import type {
  IngestBatch,
  IngestBuffer,
  NotificationQueue,
  ObjectStore,
  PendingGroup,
} from '../../stores/ports.js';
import type { HttpIngestConfig } from './config.js';

const gzipAsync = promisify(gzip);

/** Content type of every object the ingest writes: NDJSON, as Vector writes them. */
export const INGEST_OBJECT_CONTENT_TYPE = 'application/x-ndjson';
/** Content encoding of every object the ingest writes. */
export const INGEST_OBJECT_CONTENT_ENCODING = 'gzip';

/** Object sizes worth telling apart, uncompressed, 1 KiB to 16 MiB. */
const OBJECT_BYTES_BUCKETS = [1024, 16_384, 131_072, 1_048_576, 4_194_304, 8_388_608, 16_777_216];

/** What the batcher needs. */
/** Least time between two warnings about failed writes of one step; the counter has every one. */
const FAILURE_WARN_INTERVAL_MS = 60_000;

export interface IngestBatcherOptions {
  readonly buffer: IngestBuffer;
  readonly objectStore: ObjectStore;
  /**
   * Where a work item is queued for each object written. Leave it out when the object store
   * notifies the processor itself (the central S3 bucket's `ObjectCreated` events reach the
   * processor through SNS and SQS): queueing one too would process every object twice.
   */
  readonly queue?: NotificationQueue;
  /** Uses `maxObjectBytes`, `maxBatchAgeMs`, `flushIntervalMs` and `flushConcurrency`. */
  readonly config: HttpIngestConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  /** The clock, for ages and key timestamps; default `Date.now`. */
  readonly now?: () => number;
}

/** What one flush did. */
export interface FlushResult {
  readonly objects: number;
  readonly events: number;
  /** Batches whose write or notification failed; their events stay buffered for the next flush. */
  readonly failures: number;
}

/** Turns buffered events into gzip NDJSON objects, one group at a time. */
export interface IngestBatcher {
  /** Re-writes batches left by a previous run, then flushes every `flushIntervalMs`. */
  start(): Promise<void>;
  /** Stops the timer, waits for the flush in progress, then flushes what is left. */
  stop(): Promise<void>;
  /** Writes the groups that are due by size or age (one timer tick). */
  flushDue(): Promise<FlushResult>;
  /** Writes every buffered event now, whatever the size or age of its group. */
  flushAll(): Promise<FlushResult>;
}

interface FlushTally {
  objects: number;
  events: number;
  failures: number;
}

const FlushStage = { PUT: 'put', NOTIFY: 'notify', COMPLETE: 'complete', ASSIGN: 'assign' } as const;
type FlushStage = (typeof FlushStage)[keyof typeof FlushStage];

/** Thrown inside a batch write to remember which step failed; never leaves this module. */
class BatchStageError extends Error {
  constructor(
    readonly stage: FlushStage,
    cause: unknown,
  ) {
    super(`Ingest batch failed at ${stage}.`, { cause });
  }
}


/**
 * Creates the batcher of the HTTP ingest. Each object holds the events of one (cluster,
 * namespace, application, pod) group, in arrival order, at the key layout Vector writes.
 *
 * Crash safety: (a) one transaction assigns the rows to a key, (b) the object is written
 * durably, (c) a work item is queued (unless the store notifies by itself), (d) the rows are deleted. A crash after (a) leaves
 * rows with a key; the next flush writes them again under that same key (an overwrite, not
 * a second object) and notifies again, which the processor's checkpoints make harmless.
 *
 * @example
 * const batcher = createIngestBatcher({ buffer, objectStore, queue, config, logger, registry });
 * await batcher.start();
 * // …
 * await batcher.stop();
 */
export function createIngestBatcher(options: IngestBatcherOptions): IngestBatcher {
  const { buffer, objectStore, queue, config, registry } = options;
  const logger = options.logger.child({ component: 'ingest-batcher' });
  const now = options.now ?? Date.now;

  const objectsWritten = counter(registry, {
    name: 'tlr_ingest_objects_total',
    help: 'Objects the ingest wrote to the central store.',
  });
  const eventsFlushed = counter(registry, {
    name: 'tlr_ingest_flushed_events_total',
    help: 'Buffered events written to the central store.',
  });
  const lastWarnAtMs = new Map<string, number>();
  const flushFailures = counter(registry, {
    name: 'tlr_ingest_flush_failures_total',
    help: 'Ingest batches whose write failed, by step; the events stay buffered and are retried.',
    labelNames: ['stage'] as const,
  });
  const objectBytes = histogram(registry, {
    name: 'tlr_ingest_object_bytes',
    help: 'Uncompressed size of the objects the ingest wrote.',
    buckets: OBJECT_BYTES_BUCKETS,
  });
  gauge(registry, {
    name: 'tlr_ingest_buffer_bytes',
    help: 'Bytes of ingested events buffered and not yet written as objects.',
    async collect() {
      this.set(await buffer.pendingBytes());
    },
  });

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;

  /** Steps (b) to (d) for one assigned batch. */
  async function writeBatch(batch: IngestBatch, tally: FlushTally): Promise<boolean> {
    try {
      const body = await gzipAsync(batch.body);
      await objectStore
        .put(batch.key, body, {
          contentType: INGEST_OBJECT_CONTENT_TYPE,
          contentEncoding: INGEST_OBJECT_CONTENT_ENCODING,
        })
        .catch((cause: unknown) => {
          throw new BatchStageError(FlushStage.PUT, cause);
        });
      await queue?.send(encodeWorkItem({ key: batch.key, attempt: 0 })).catch((cause: unknown) => {
        throw new BatchStageError(FlushStage.NOTIFY, cause);
      });
      await buffer.completeBatch(batch.key).catch((cause: unknown) => {
        throw new BatchStageError(FlushStage.COMPLETE, cause);
      });
    } catch (error) {
      const stage = error instanceof BatchStageError ? error.stage : FlushStage.PUT;
      flushFailures.inc({ stage });
      tally.failures++;
      // A store that stays down (full disk, S3 unreachable) fails every flush: warn once a
      // minute per step, and count every failure.
      const at = now();
      const quiet = at - (lastWarnAtMs.get(stage) ?? Number.NEGATIVE_INFINITY) < FAILURE_WARN_INTERVAL_MS;
      if (!quiet) lastWarnAtMs.set(stage, at);
      logger[quiet ? 'debug' : 'warn'](
        'Writing an ingest batch failed; its events stay buffered and will be retried (further failures of this step are only counted for a minute).',
        { key: batch.key, stage, events: batch.events, error: error instanceof BatchStageError ? error.cause : error },
      );
      return false;
    }
    objectsWritten.inc();
    eventsFlushed.inc(batch.events);
    objectBytes.observe(batch.bytes);
    tally.objects++;
    tally.events += batch.events;
    logger.debug('Wrote an ingest object.', {
      key: batch.key,
      events: batch.events,
      bytes: batch.bytes,
    });
    return true;
  }

  /**
   * Batches assigned by an earlier flush or run that did not finish: same key again.
   * @returns whether every one of them was written
   */
  async function rewriteAssigned(tally: FlushTally, recovering: boolean): Promise<boolean> {
    const keys = await buffer.assignedBatchKeys();
    if (keys.length === 0) return true;
    const fields = { batches: keys.length };
    if (recovering) logger.info('Re-writing ingest batches left unfinished by the previous run.', fields);
    else logger.debug('Re-writing ingest batches whose write failed.', fields);
    const failuresBefore = tally.failures;
    await forEachConcurrently(keys, config.flushConcurrency, async (key) => {
      const batch = await buffer.readBatch(key);
      if (batch) await writeBatch(batch, tally);
    });
    return tally.failures === failuresBefore;
  }

  function isDue(group: PendingGroup, atMs: number): boolean {
    return group.bytes >= config.maxObjectBytes || atMs - group.oldestReceivedAtMs >= config.maxBatchAgeMs;
  }

  async function flushGroup(group: PendingGroup, force: boolean, tally: FlushTally): Promise<void> {
    const dueByAge = force || now() - group.oldestReceivedAtMs >= config.maxBatchAgeMs;
    let bytesLeft = group.bytes;
    // Full objects first; the remainder only when the group is due by age.
    while (bytesLeft >= config.maxObjectBytes || (dueByAge && bytesLeft > 0)) {
      let batch: IngestBatch | undefined;
      try {
        batch = await buffer.assignBatch(
          group,
          buildObjectKey(group, now(), randomUUID()),
          config.maxObjectBytes,
        );
      } catch (error) {
        flushFailures.inc({ stage: FlushStage.ASSIGN });
        tally.failures++;
        logger.error('Assigning buffered events to an ingest batch failed.', {
          cluster_id: group.clusterId,
          namespace: group.namespace,
          application: group.application,
          pod_name: group.podName,
          error,
        });
        return;
      }
      if (!batch) return;
      bytesLeft -= batch.bytes;
      // A failed write keeps its rows assigned; the next flush retries them under the same key.
      if (!(await writeBatch(batch, tally))) return;
    }
  }

  async function flush(force: boolean, recovering = false): Promise<FlushResult> {
    const tally: FlushTally = { objects: 0, events: 0, failures: 0 };
    // While old batches cannot be written the store is likely down: cutting new ones would
    // only turn the outage into many small objects later. Back-pressure takes over.
    if (!(await rewriteAssigned(tally, recovering))) return tally;
    const atMs = now();
    const groups = (await buffer.pendingGroups()).filter((g) => force || isDue(g, atMs));
    await forEachConcurrently(groups, config.flushConcurrency, (g) => flushGroup(g, force, tally));
    return tally;
  }

  /**
   * Flushes run one at a time: a second one would take the batches the first is still
   * writing for leftovers and write them again.
   */
  function serialized(force: boolean, recovering = false): Promise<FlushResult> {
    const result = running.then(async () => {
      busy = true;
      try {
        return await flush(force, recovering);
      } finally {
        busy = false;
      }
    });
    running = result.catch(() => undefined);
    return result;
  }

  function tick(): void {
    if (busy) return; // a slow flush is still running; the next tick catches up
    serialized(false).catch((error: unknown) => {
      logger.error('Flushing the ingest buffer failed.', { error });
    });
  }

  return {
    async start() {
      if (timer) return;
      try {
        await serialized(false, true);
      } catch (error) {
        logger.error('Flushing the ingest buffer failed.', { error });
      }
      timer = setInterval(tick, config.flushIntervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      try {
        await serialized(true);
      } catch (error) {
        logger.error('Flushing the ingest buffer failed; the events stay buffered for the next start.', {
          error,
        });
      }
    },
    flushDue: () => serialized(false),
    flushAll: () => serialized(true),
  };
}
