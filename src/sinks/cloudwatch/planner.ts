import type { Registry } from 'prom-client';
import { type LogObjectKey, type LogRecord, messageText } from '../../domain/index.js';
import { counter } from '../../metrics/index.js';
import type { Batch, SinkPlanner } from '../types.js';
import {
  type CloudwatchLimits,
  DEFAULT_LOG_STREAM_TEMPLATE,
  defaultCloudwatchLimits,
  type LogStreamPlaceholder,
} from './config.js';

/** One event of a `PutLogEvents` request. */
export interface CloudwatchLogEvent {
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly message: string;
}

/** What one `PutLogEvents` call sends: one stream's events, sorted by timestamp. */
export interface CloudwatchPayload {
  readonly logStreamName: string;
  /** Possibly empty when every record of the batch was filtered out; then nothing is sent. */
  readonly events: readonly CloudwatchLogEvent[];
}

/** Why the planner kept an event from CloudWatch; the `reason` label of the dropped counter. */
export const CloudwatchDropReason = {
  TOO_OLD: 'too_old',
  TOO_NEW: 'too_new',
  INVALID_TIMESTAMP: 'invalid_timestamp',
} as const;
export type CloudwatchDropReason = (typeof CloudwatchDropReason)[keyof typeof CloudwatchDropReason];

/** Metric names of the planner. */
export const CLOUDWATCH_TRUNCATED_METRIC = 'tlr_cloudwatch_events_truncated_total';
export const CLOUDWATCH_DROPPED_METRIC = 'tlr_cloudwatch_events_dropped_total';

/** Stream names: 1–512 characters, no `:` or `*` (CreateLogStream). */
const MAX_STREAM_NAME_LENGTH = 512;
const STREAM_NAME_FORBIDDEN = /[:*]/g;
const PLACEHOLDER = /\{([a-z_]+)\}/g;
const UTF8_CONTINUATION_MASK = 0xc0;
const UTF8_CONTINUATION = 0x80;

/** The marker that ends a truncated message, naming the bytes cut. */
export function truncationMarker(bytesRemoved: number): string {
  return `…[truncated by tlr: ${bytesRemoved} bytes]`;
}

/**
 * Cuts a message to at most `maxBytes` UTF-8 bytes, marker included, on a character
 * boundary, and ends it with {@link truncationMarker}.
 *
 * @returns the message unchanged with `bytesRemoved` 0 when it fits
 */
export function truncateMessage(message: string, maxBytes: number): { message: string; bytesRemoved: number } {
  const bytes = Buffer.byteLength(message, 'utf8');
  if (bytes <= maxBytes) return { message, bytesRemoved: 0 };
  const encoded = Buffer.from(message, 'utf8');
  // The marker for the whole length is at least as long as the one finally used.
  let keep = Math.max(0, maxBytes - Buffer.byteLength(truncationMarker(bytes), 'utf8'));
  while (keep > 0 && (encoded[keep]! & UTF8_CONTINUATION_MASK) === UTF8_CONTINUATION) keep--;
  const bytesRemoved = bytes - keep;
  return { message: encoded.subarray(0, keep).toString('utf8') + truncationMarker(bytesRemoved), bytesRemoved };
}

/**
 * The log stream of a central object: the template with its placeholders filled from the
 * key. Characters a stream name may not hold become `_`; the name is cut at 512 characters.
 *
 * @param template - for example `{pod_name}` or `{cluster_id}/{application}/{pod_name}`
 */
export function logStreamNameFor(object: LogObjectKey, template = DEFAULT_LOG_STREAM_TEMPLATE): string {
  const values: Record<LogStreamPlaceholder, string> = {
    pod_name: object.podName,
    application: object.application,
    namespace: object.tenantId,
    cluster_id: object.clusterId,
  };
  const name = template
    .replace(PLACEHOLDER, (whole, key: string) => (Object.hasOwn(values, key) ? values[key as LogStreamPlaceholder] : whole))
    .replace(STREAM_NAME_FORBIDDEN, '_')
    .slice(0, MAX_STREAM_NAME_LENGTH);
  return name === '' ? '_' : name;
}

/** Options of {@link createCloudwatchPlanner}. */
export interface CloudwatchPlannerOptions {
  readonly limits?: CloudwatchLimits;
  /** The clock that decides "too old" and "too new". */
  readonly now?: () => number;
  /** Where the truncated and dropped counters live. */
  readonly registry: Registry;
}

interface OpenBatch {
  events: CloudwatchLogEvent[];
  bytes: number;
  firstOffset: number;
  lastOffset: number;
  minTimestamp: number;
  maxTimestamp: number;
}

/**
 * Plans one object's records into `PutLogEvents` requests for one stream, each within
 * CloudWatch's limits: at most `maxBatchEvents` events, at most `maxBatchBytes` minus the
 * safety margin counting UTF-8 message bytes plus 26 per event, and at most `maxSpanMs`
 * between its oldest and newest event.
 *
 * Batches are cut in object order, so a batch's offsets are contiguous and its
 * `lastOffset` is the highest offset in it, as checkpoints need; events are sorted by
 * timestamp (stably) only inside each request, as CloudWatch requires. Messages over
 * `maxEventBytes` are truncated with a marker; events too old or too far in the future
 * for CloudWatch are counted and left out, their offsets still covered by a batch (a batch
 * may thus hold no event at all, and then nothing is sent for it).
 *
 * @param logStreamName - the stream every request of this object writes to
 */
export function createCloudwatchPlanner(
  logStreamName: string,
  options: CloudwatchPlannerOptions,
): SinkPlanner<CloudwatchPayload> {
  const limits = options.limits ?? defaultCloudwatchLimits();
  const now = options.now ?? Date.now;
  const truncated = counter(options.registry, {
    name: CLOUDWATCH_TRUNCATED_METRIC,
    help: 'Log events whose message exceeded the CloudWatch event size and was truncated with a marker.',
  });
  const dropped = counter(options.registry, {
    name: CLOUDWATCH_DROPPED_METRIC,
    help: 'Log events not sent to CloudWatch because it would reject them (too old, too new).',
    labelNames: ['reason'],
  });
  const maxBatchBytes = limits.maxBatchBytes - limits.safetyMarginBytes;
  // An event must fit a request on its own.
  const maxEventBytes = Math.min(limits.maxEventBytes, maxBatchBytes - limits.eventOverheadBytes);
  let open: OpenBatch | undefined;

  const take = (): Batch<CloudwatchPayload> | undefined => {
    if (!open) return undefined;
    const { events, bytes, firstOffset, lastOffset } = open;
    open = undefined;
    // Array.prototype.sort is stable: events of one millisecond keep their object order.
    events.sort((a, b) => a.timestamp - b.timestamp);
    return { firstOffset, lastOffset, count: events.length, bytes, payload: { logStreamName, events } };
  };

  const startAt = (offset: number): OpenBatch => ({
    events: [],
    bytes: 0,
    firstOffset: offset,
    lastOffset: offset,
    minTimestamp: Number.POSITIVE_INFINITY,
    maxTimestamp: Number.NEGATIVE_INFINITY,
  });

  const dropReason = (timestampMs: number): CloudwatchDropReason | undefined => {
    if (!Number.isFinite(timestampMs)) return CloudwatchDropReason.INVALID_TIMESTAMP;
    const nowMs = now();
    if (timestampMs < nowMs - limits.maxAgeMs) return CloudwatchDropReason.TOO_OLD;
    if (timestampMs > nowMs + limits.maxFutureMs) return CloudwatchDropReason.TOO_NEW;
    return undefined;
  };

  return {
    add(record: LogRecord): Batch<CloudwatchPayload>[] {
      const reason = dropReason(record.timestampMs);
      if (reason !== undefined) {
        dropped.inc({ reason });
        // The record's offset joins the open batch, so the checkpoint moves past it.
        open ??= startAt(record.offset);
        open.lastOffset = record.offset;
        return [];
      }
      const timestamp = Math.floor(record.timestampMs);
      const { message, bytesRemoved } = truncateMessage(messageText(record), maxEventBytes);
      if (bytesRemoved > 0) truncated.inc();
      const eventBytes = Buffer.byteLength(message, 'utf8') + limits.eventOverheadBytes;

      let closed: Batch<CloudwatchPayload> | undefined;
      if (
        open &&
        open.events.length > 0 &&
        (open.events.length >= limits.maxBatchEvents ||
          open.bytes + eventBytes > maxBatchBytes ||
          Math.max(open.maxTimestamp, timestamp) - Math.min(open.minTimestamp, timestamp) > limits.maxSpanMs)
      ) {
        closed = take();
      }
      open ??= startAt(record.offset);
      open.events.push({ timestamp, message });
      open.bytes += eventBytes;
      open.lastOffset = record.offset;
      open.minTimestamp = Math.min(open.minTimestamp, timestamp);
      open.maxTimestamp = Math.max(open.maxTimestamp, timestamp);
      return closed ? [closed] : [];
    },
    flush(): Batch<CloudwatchPayload>[] {
      const last = take();
      return last ? [last] : [];
    },
  };
}
