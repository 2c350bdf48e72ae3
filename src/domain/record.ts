import { toEpochMs } from './timestamp.js';

/** One log event as the processor hands it to destinations. */
export interface LogRecord {
  /** 0-based position of the record in its object; checkpoints store the last accepted one. */
  readonly offset: number;
  readonly timestampMs: number;
  /** The event as parsed. Treat as read-only. */
  readonly event: Readonly<Record<string, unknown>>;
  /** The event as one line of JSON (no newline), the original text where possible. */
  readonly json: string;
}

/** Fields collectors add around the message; dropped when an event has no `message`. */
export const COLLECTOR_METADATA_FIELDS = [
  'timestamp',
  'cluster_id',
  'namespace',
  'application',
  'pod_name',
  'kubernetes',
  'source_type',
  'file',
  'stream',
] as const;

/** Why a line produced no record. */
export const LineSkipReason = {
  BLANK: 'blank',
  INVALID_JSON: 'invalid_json',
  NOT_AN_OBJECT: 'not_an_object',
} as const;
export type LineSkipReason = (typeof LineSkipReason)[keyof typeof LineSkipReason];

export type ParsedLine =
  | {
      readonly ok: true;
      readonly events: ReadonlyArray<{ event: Record<string, unknown>; json: string }>;
      /** Elements of an array line that were not objects. */
      readonly skipped: number;
    }
  | { readonly ok: false; readonly reason: LineSkipReason; readonly skipped: number };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses one NDJSON line as Vector writes it. A line holding a JSON array expands to its
 * elements; elements that are not objects are skipped and counted in `skipped`.
 *
 * @param line - one line without its newline
 */
export function parseNdjsonLine(line: string): ParsedLine {
  if (line.trim() === '') return { ok: false, reason: LineSkipReason.BLANK, skipped: 1 };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: LineSkipReason.INVALID_JSON, skipped: 1 };
  }
  if (isPlainObject(value)) return { ok: true, events: [{ event: value, json: line.trim() }], skipped: 0 };
  if (Array.isArray(value)) {
    const events = value.filter(isPlainObject).map((event) => ({ event, json: JSON.stringify(event) }));
    if (events.length === 0) return { ok: false, reason: LineSkipReason.NOT_AN_OBJECT, skipped: 1 };
    return { ok: true, events, skipped: value.length - events.length };
  }
  return { ok: false, reason: LineSkipReason.NOT_AN_OBJECT, skipped: 1 };
}

/**
 * Builds a record from a parsed event.
 *
 * @param fallbackMs - the object's last-modified time, used when the event has no usable timestamp
 */
export function toLogRecord(
  parsed: { event: Record<string, unknown>; json: string },
  offset: number,
  fallbackMs: number,
): LogRecord {
  return {
    offset,
    timestampMs: toEpochMs(parsed.event['timestamp'], fallbackMs),
    event: parsed.event,
    json: parsed.json,
  };
}

/**
 * The text a destination that wants one message per event should send: the `message`
 * string as is, a non-string `message` JSON-encoded, and without `message` the event minus
 * collector metadata as JSON.
 */
export function messageText(record: LogRecord): string {
  const message = record.event['message'];
  if (typeof message === 'string') return message;
  if (message !== undefined) return JSON.stringify(message);
  const rest: Record<string, unknown> = {};
  const metadata: ReadonlySet<string> = new Set(COLLECTOR_METADATA_FIELDS);
  for (const [k, v] of Object.entries(record.event)) if (!metadata.has(k)) rest[k] = v;
  return JSON.stringify(rest);
}
