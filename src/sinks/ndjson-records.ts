import type { SendResult } from '../delivery/index.js';
import type { DeliveryError, LogRecord } from '../domain/index.js';
import { truncationMarker } from './cloudwatch/index.js';
import type { Batch, SinkPlanner } from './types.js';

/**
 * NDJSON record aggregation, shared by the record-stream destinations (`kinesis`, `firehose`):
 * both bill and limit per record, so several log lines travel in one record, and both take
 * up to 500 records per call.
 *
 * A record's data is NDJSON: each line the event's JSON, each line ending with `\n`. The
 * trailing newline matters for Firehose, which concatenates records as they are into its S3
 * objects; a consumer of either reads a record by splitting it on `\n`.
 */

/** Limits of one record and of one request; every byte count includes `recordOverheadBytes`. */
export interface NdjsonRecordLimits {
  /** Largest record, its data plus the per-record overhead (Kinesis: the partition key). */
  readonly maxRecordBytes: number;
  /** Most records in one request. */
  readonly maxRecordsPerRequest: number;
  /** Largest request: the sum of its records' sizes. */
  readonly maxRequestBytes: number;
}

/** One record: whole NDJSON lines of consecutive log records. */
export interface NdjsonRecord {
  /** UTF-8 NDJSON, every line ending with `\n`. */
  readonly data: Uint8Array;
  /** Log lines the record holds. */
  readonly lines: number;
  /** The record's size as the destination counts it: data plus per-record overhead. */
  readonly bytes: number;
}

/** What a record-stream request carries; a sink's payload adds where it goes. */
export interface NdjsonRecordsPayload {
  readonly records: readonly NdjsonRecord[];
}

/** What {@link fitLine} made of one log record. */
export interface FittedLine {
  /** One line of JSON, without the newline. */
  readonly line: string;
  /** UTF-8 bytes cut to make it fit; 0 when the line is the record's own JSON. */
  readonly bytesRemoved: number;
}

/** Room a cut message needs at least: the truncation marker and a little text. */
const MIN_MESSAGE_ROOM_BYTES = 64;
const NEWLINE_BYTES = 1;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The bytes a character takes inside a JSON string: escapes (`\"`, `\n`, `\u0001`) count in full. */
function jsonCharBytes(char: string): number {
  const code = char.charCodeAt(0);
  // Printable ASCII but `"` and `\` is written as it is.
  if (char.length === 1 && code >= 0x20 && code <= 0x7e && code !== QUOTE && code !== BACKSLASH) return 1;
  return Buffer.byteLength(JSON.stringify(char), 'utf8') - 2;
}

/**
 * `event` with `message` set to the longest prefix of `text` (whole characters) that, with
 * the truncation marker naming the UTF-8 bytes cut, keeps the event's JSON within
 * `maxBytes`; undefined when the other fields leave no room for the marker.
 */
function withCutMessage(event: Readonly<Record<string, unknown>>, text: string, maxBytes: number): string | undefined {
  const overheadBytes = Buffer.byteLength(JSON.stringify({ ...event, message: '' }), 'utf8');
  if (maxBytes - overheadBytes < MIN_MESSAGE_ROOM_BYTES) return undefined;
  const textBytes = Buffer.byteLength(text, 'utf8');
  // The marker for the whole length is at least as long as the one finally used; it needs no escapes.
  const budget = maxBytes - overheadBytes - Buffer.byteLength(truncationMarker(textBytes), 'utf8');
  let used = 0;
  let keptBytes = 0;
  let end = 0;
  for (const char of text) {
    const bytes = jsonCharBytes(char);
    if (used + bytes > budget) break;
    used += bytes;
    keptBytes += Buffer.byteLength(char, 'utf8');
    end += char.length;
  }
  return JSON.stringify({ ...event, message: text.slice(0, end) + truncationMarker(textBytes - keptBytes) });
}

/**
 * A log record as one NDJSON line of at most `maxBytes` UTF-8 bytes. A record that fits is
 * its own JSON, unchanged. A larger one stays valid JSON: its string `message` is cut on a
 * character boundary and ends with the marker `…[truncated by tlr: N bytes]` (the marker
 * CloudWatch truncation uses), every other field kept; an event without a string message, or
 * whose other fields alone are too large, becomes `{"message": <its JSON line, cut the same way>}`.
 *
 * @param maxBytes - at least a few hundred bytes (the marker and the JSON around it)
 */
export function fitLine(record: LogRecord, maxBytes: number): FittedLine {
  const bytes = Buffer.byteLength(record.json, 'utf8');
  if (bytes <= maxBytes) return { line: record.json, bytesRemoved: 0 };
  const message = record.event['message'];
  const line =
    (typeof message === 'string' ? withCutMessage(record.event, message, maxBytes) : undefined) ??
    withCutMessage({ message: '' }, record.json, maxBytes) ??
    JSON.stringify({ message: '' });
  return { line, bytesRemoved: bytes - Buffer.byteLength(line, 'utf8') };
}

/** Options of {@link createNdjsonRecordPlanner}. */
export interface NdjsonRecordPlannerOptions<P> {
  readonly limits: NdjsonRecordLimits;
  /** Bytes each record costs besides its data (Kinesis: the partition key's UTF-8 bytes). */
  readonly recordOverheadBytes?: number;
  /** Builds a request's payload from its records. */
  readonly toPayload: (records: NdjsonRecord[]) => P;
  /** Called for each line cut to fit a record (for the sink's truncation counter). */
  readonly onTruncated?: (bytesRemoved: number) => void;
}

interface OpenRecord {
  lines: string[];
  dataBytes: number;
  firstOffset: number;
  lastOffset: number;
}

interface SealedRecord {
  readonly record: NdjsonRecord;
  readonly firstOffset: number;
  readonly lastOffset: number;
}

/**
 * Plans log records into record-stream requests: consecutive lines are packed into records
 * of at most `maxRecordBytes` (overhead included), and records into requests of at most
 * `maxRecordsPerRequest` records and `maxRequestBytes`. Requests are cut in record order, so
 * a batch's offsets are contiguous and its `lastOffset` is the highest one in it, as
 * checkpoints need. A batch's `count` is the log lines it holds, its `bytes` the request
 * size as the destination counts it. A line too large for a record is cut by {@link fitLine}.
 *
 * @throws RangeError when a record could not hold even a cut line, or a request one record
 */
export function createNdjsonRecordPlanner<P>(options: NdjsonRecordPlannerOptions<P>): SinkPlanner<P> {
  const { limits, toPayload } = options;
  const overheadBytes = options.recordOverheadBytes ?? 0;
  const maxLineBytes = limits.maxRecordBytes - overheadBytes - NEWLINE_BYTES;
  if (maxLineBytes < MIN_MESSAGE_ROOM_BYTES * 4) {
    throw new RangeError(
      `'maxRecordBytes' (${limits.maxRecordBytes}) leaves ${maxLineBytes} bytes per line after ${overheadBytes} bytes of overhead.`,
    );
  }
  if (limits.maxRequestBytes < limits.maxRecordBytes || limits.maxRecordsPerRequest < 1) {
    throw new RangeError("A request must hold at least one record of 'maxRecordBytes'.");
  }
  let open: OpenRecord | undefined;
  let request: SealedRecord[] = [];
  let requestBytes = 0;

  const take = (): Batch<P> | undefined => {
    if (request.length === 0) return undefined;
    const records = request.map((r) => r.record);
    const batch: Batch<P> = {
      firstOffset: request[0]!.firstOffset,
      lastOffset: request.at(-1)!.lastOffset,
      count: records.reduce((n, r) => n + r.lines, 0),
      bytes: requestBytes,
      payload: toPayload(records),
    };
    request = [];
    requestBytes = 0;
    return batch;
  };

  /** Closes the open record into the request; returns the request it had to close first. */
  const seal = (): Batch<P>[] => {
    if (!open) return [];
    const data = Buffer.from(open.lines.join(''), 'utf8');
    const sealed: SealedRecord = {
      record: { data, lines: open.lines.length, bytes: data.length + overheadBytes },
      firstOffset: open.firstOffset,
      lastOffset: open.lastOffset,
    };
    open = undefined;
    const closed: Batch<P>[] = [];
    if (requestBytes + sealed.record.bytes > limits.maxRequestBytes) {
      const full = take();
      if (full) closed.push(full);
    }
    request.push(sealed);
    requestBytes += sealed.record.bytes;
    // A full request goes out now rather than when the next record arrives.
    if (request.length >= limits.maxRecordsPerRequest) closed.push(take()!);
    return closed;
  };

  return {
    add(record: LogRecord): Batch<P>[] {
      const { line, bytesRemoved } = fitLine(record, maxLineBytes);
      if (bytesRemoved > 0) options.onTruncated?.(bytesRemoved);
      const lineBytes = Buffer.byteLength(line, 'utf8') + NEWLINE_BYTES;
      const closed = open && open.dataBytes + lineBytes + overheadBytes > limits.maxRecordBytes ? seal() : [];
      open ??= { lines: [], dataBytes: 0, firstOffset: record.offset, lastOffset: record.offset };
      open.lines.push(`${line}\n`);
      open.dataBytes += lineBytes;
      open.lastOffset = record.offset;
      return closed;
    },
    flush(): Batch<P>[] {
      const closed = seal();
      const last = take();
      return last ? [...closed, last] : closed;
    },
  };
}

/**
 * The part of a batch to send again: the same batch (offsets included, since the checkpoint
 * moves only once every record is accepted) holding only the records at `failedIndexes`.
 *
 * @param failedIndexes - positions in `batch.payload.records`, ascending
 */
export function retryBatchOf<P extends NdjsonRecordsPayload>(batch: Batch<P>, failedIndexes: readonly number[]): Batch<P> {
  const records = failedIndexes.map((i) => batch.payload.records[i]!);
  return {
    ...batch,
    count: records.reduce((n, r) => n + r.lines, 0),
    bytes: records.reduce((n, r) => n + r.bytes, 0),
    payload: { ...batch.payload, records },
  };
}

/** One record a record-stream call did not accept, by its position in the request. */
export interface RecordFailure {
  readonly index: number;
  /** The per-record `ErrorCode` the service answered. */
  readonly code: string;
}

/**
 * The outcome of a call that accepted only some records: nothing when every record was
 * accepted; else the records to send again with the error to report if retries run out.
 * A record refused for a reason that retrying cannot fix fails the whole batch, since a
 * batch is accepted only when all of its records are.
 *
 * @param failures - the refused records, in request order
 * @param toError - the sink's mapping of a per-record `ErrorCode` (with the number refused)
 * @throws DeliveryError (not retryable) when a refused record's code is permanent
 */
export function partialRetryOf<P extends NdjsonRecordsPayload>(
  batch: Batch<P>,
  failures: readonly RecordFailure[],
  toError: (code: string, failed: number) => DeliveryError,
): SendResult<Batch<P>> | undefined {
  if (failures.length === 0) return undefined;
  const errors = [...new Set(failures.map((f) => f.code))].map((code) => toError(code, failures.length));
  const permanent = errors.find((e) => !e.retryable);
  if (permanent) throw permanent;
  return { retry: retryBatchOf(batch, failures.map((f) => f.index)), retryError: errors[0]! };
}
