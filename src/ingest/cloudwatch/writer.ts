import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Registry } from 'prom-client';
import { forEachConcurrently } from '../../delivery/index.js';
import { INGEST_OBJECT_CONTENT_ENCODING, INGEST_OBJECT_CONTENT_TYPE } from '../http/batcher.js';
import { buildObjectKey, formatKeyTimestamp } from '../../domain/index.js';
import type { Logger } from '../../logging/index.js';
import { counter } from '../../metrics/index.js';
import { encodeWorkItem } from '../../pipeline/notification.js';
import type { NotificationQueue, ObjectStore } from '../../stores/ports.js';
import { analyticsPartition, analyticsPartitionPrefix, toAnalyticsRow } from './athena.js';
import { type EksLogRecord, LogFormat } from './classify.js';
import type { ValidatedCloudwatchIngestConfig } from './config.js';

const gzipAsync = promisify(gzip);

/** Content type of every object written: NDJSON, as the HTTP ingest and Vector write them. */
export const CLOUDWATCH_OBJECT_CONTENT_TYPE = INGEST_OBJECT_CONTENT_TYPE;
/** Content encoding of every object written. */
export const CLOUDWATCH_OBJECT_CONTENT_ENCODING = INGEST_OBJECT_CONTENT_ENCODING;

/** Which store an object went to; the `target` label of the object counters. */
export const WriteTarget = { CENTRAL: 'central', ANALYTICS: 'analytics' } as const;
export type WriteTarget = (typeof WriteTarget)[keyof typeof WriteTarget];

/**
 * One event as the processor reads it from the central store: `message` is the original
 * line (what message-per-event destinations send), `timestamp` the event's time, the four
 * key fields flat, then where it came from and what parsing found.
 */
export function toCentralEvent(record: EksLogRecord): Record<string, unknown> {
  const { parsed } = record;
  const event: Record<string, unknown> = {
    message: record.message,
    timestamp: record.time,
    cluster_id: record.cluster,
    namespace: record.tenant,
    application: record.component,
    pod_name: record.pod,
    log_group: record.logGroup,
    log_stream: record.logStream,
    event_id: record.eventId,
    cloudwatch_timestamp: new Date(record.cloudwatchTimestampMs).toISOString(),
    format: parsed.format,
  };
  if (parsed.format === LogFormat.KLOG) {
    Object.assign(event, {
      level: parsed.klog.level,
      thread_id: parsed.klog.threadId,
      source: parsed.klog.source,
      msg: parsed.klog.message,
      fields: parsed.klog.fields,
    });
  } else if (parsed.format === LogFormat.LOGFMT) {
    if (parsed.level !== undefined) event['level'] = parsed.level;
    event['fields'] = parsed.fields;
  } else if (parsed.format === LogFormat.AUDIT) {
    event['audit'] = parsed.audit;
  }
  return event;
}

/**
 * A UUID-shaped id derived from the given parts. Objects named from the events they hold
 * get the same key when a retried invocation writes them again: an overwrite and a second
 * notification (which the processor's checkpoints make a no-op), never a second copy.
 */
export function stableObjectId(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  const hex = hash.digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** One object to write. */
export interface PlannedObject {
  readonly key: string;
  /** The body before gzip: one JSON line per event, each ending in `\n`. */
  readonly ndjson: string;
  readonly events: number;
}

interface Group {
  readonly identity: string[];
  readonly records: EksLogRecord[];
}

function groupBy(records: readonly EksLogRecord[], identity: (r: EksLogRecord) => string[]): Group[] {
  const groups = new Map<string, Group>();
  for (const record of records) {
    const parts = identity(record);
    const id = parts.join('\0');
    let group = groups.get(id);
    if (!group) {
      group = { identity: parts, records: [] };
      groups.set(id, group);
    }
    group.records.push(record);
  }
  return [...groups.values()];
}

/**
 * Cuts a group's lines into objects of at most `maxBytes` before gzip (a bigger line gets
 * one of its own), naming each from its first event time and the ids of its events.
 */
function chunkGroup(
  group: Group,
  maxBytes: number,
  render: (r: EksLogRecord) => Record<string, unknown>,
  keyOf: (firstMs: number, id: string) => string,
): PlannedObject[] {
  const objects: PlannedObject[] = [];
  let lines: string[] = [];
  let chunk: EksLogRecord[] = [];
  let bytes = 0;
  const close = () => {
    if (chunk.length === 0) return;
    const id = stableObjectId([...group.identity, chunk[0]!.logGroup, ...chunk.map((r) => `${r.logStream}\0${r.eventId}`)]);
    objects.push({ key: keyOf(chunk[0]!.cloudwatchTimestampMs, id), ndjson: lines.join(''), events: chunk.length });
    lines = [];
    chunk = [];
    bytes = 0;
  };
  for (const record of group.records) {
    const line = `${JSON.stringify(render(record))}\n`;
    const size = Buffer.byteLength(line, 'utf8');
    if (bytes + size > maxBytes) close();
    lines.push(line);
    chunk.push(record);
    bytes += size;
  }
  close();
  return objects;
}

/**
 * The central objects for some records: one group per (cluster, tenant, component, pod),
 * in event order, at the normal key layout with the first event's time.
 */
export function planCentralObjects(records: readonly EksLogRecord[], maxObjectBytes: number): PlannedObject[] {
  return groupBy(records, (r) => [r.cluster, r.tenant, r.component, r.pod]).flatMap((group) =>
    chunkGroup(group, maxObjectBytes, toCentralEvent, (firstMs, id) => {
      const [clusterId, namespace, application, podName] = group.identity as [string, string, string, string];
      return buildObjectKey({ clusterId, namespace, application, podName }, firstMs, id);
    }),
  );
}

/**
 * The analytics objects for some records: one group per partition
 * (`<prefix>component=…/dt=…/hour=…/<YYYYMMDD-HHMMSS>-<id>.json.gz`).
 *
 * @param prefix - the analytics prefix, ending in `/`
 */
export function planAnalyticsObjects(
  records: readonly EksLogRecord[],
  prefix: string,
  maxObjectBytes: number,
): PlannedObject[] {
  return groupBy(records, (r) => {
    const p = analyticsPartition(r);
    return [r.cluster, r.tenant, p.component, p.dt, p.hour];
  }).flatMap((group) => {
    const partitionPrefix = analyticsPartitionPrefix(prefix, analyticsPartition(group.records[0]!));
    return chunkGroup(group, maxObjectBytes, toAnalyticsRow, (firstMs, id) =>
      `${partitionPrefix}${formatKeyTimestamp(firstMs)}-${id}.json.gz`);
  });
}

/** What the writer needs. */
export interface CloudwatchWriterOptions {
  /** The central store; objects there are notified on `queue`. */
  readonly centralStore: ObjectStore;
  readonly queue: NotificationQueue;
  /** Where analytics objects go (the central store or another bucket); required when `config.analytics` is set. */
  readonly analyticsStore?: ObjectStore;
  readonly config: ValidatedCloudwatchIngestConfig;
  readonly logger: Logger;
  readonly registry: Registry;
}

/** What one write did. */
export interface WriteResult {
  readonly centralKeys: string[];
  readonly analyticsKeys: string[];
}

/** Writes records as central objects (notified) and, when configured, analytics objects. */
export interface CloudwatchWriter {
  /**
   * Writes every object, then resolves. Re-running it on the same records writes the same
   * keys, so a caller may retry the whole call after a failure.
   * @throws the store's or the queue's error when a write fails (retryable: nothing was lost)
   */
  write(records: readonly EksLogRecord[]): Promise<WriteResult>;
}


/**
 * Creates the writer of the CloudWatch ingest. A central object is notified only after it
 * is stored, so the processor never reads a missing object; analytics objects are not
 * notified (their keys start with `_` in the central bucket and the processor skips them).
 *
 * @throws Error when analytics are configured without an analytics store
 * @example
 * const writer = createCloudwatchWriter({ centralStore, queue, config, logger, registry });
 * await writer.write(classified.records);
 */
export function createCloudwatchWriter(options: CloudwatchWriterOptions): CloudwatchWriter {
  const { centralStore, queue, analyticsStore, config, registry } = options;
  const logger = options.logger.child({ component: 'cloudwatch-writer' });
  if (config.analytics && !analyticsStore) {
    throw new Error('The CloudWatch writer has analytics configured but no analytics store.');
  }
  const objectsWritten = counter(registry, {
    name: 'tlr_cloudwatch_objects_total',
    help: 'Objects the CloudWatch ingest wrote, by target (central, analytics).',
    labelNames: ['target'] as const,
  });
  const writeFailures = counter(registry, {
    name: 'tlr_cloudwatch_write_failures_total',
    help: 'Object writes or notifications of the CloudWatch ingest that failed, by target.',
    labelNames: ['target'] as const,
  });

  async function put(store: ObjectStore, target: WriteTarget, object: PlannedObject): Promise<void> {
    const body = await gzipAsync(Buffer.from(object.ndjson, 'utf8'));
    try {
      await store.put(object.key, body, {
        contentType: CLOUDWATCH_OBJECT_CONTENT_TYPE,
        contentEncoding: CLOUDWATCH_OBJECT_CONTENT_ENCODING,
      });
      if (target === WriteTarget.CENTRAL) await queue.send(encodeWorkItem({ key: object.key, attempt: 0 }));
    } catch (error) {
      writeFailures.inc({ target });
      logger.warn('Writing a CloudWatch ingest object failed.', { key: object.key, target, events: object.events, error });
      throw error;
    }
    objectsWritten.inc({ target });
    logger.debug('Wrote a CloudWatch ingest object.', { key: object.key, target, events: object.events });
  }

  return {
    async write(records) {
      const central = planCentralObjects(records, config.maxObjectBytes);
      const analytics = config.analytics ? planAnalyticsObjects(records, config.analytics.prefix, config.maxObjectBytes) : [];
      await forEachConcurrently(central, config.writeConcurrency, (o) => put(centralStore, WriteTarget.CENTRAL, o));
      await forEachConcurrently(analytics, config.writeConcurrency, (o) => put(analyticsStore!, WriteTarget.ANALYTICS, o));
      return { centralKeys: central.map((o) => o.key), analyticsKeys: analytics.map((o) => o.key) };
    },
  };
}
