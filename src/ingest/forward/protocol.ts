import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Decoder, encode, ExtensionCodec } from '@msgpack/msgpack';
import { errorText } from '../../domain/index.js';

/**
 * Fluent Forward protocol v1, the wire side: finding where one msgpack message ends in a TCP
 * stream, telling the event modes apart, and decoding entries. Pure except `inflateEntries`.
 *
 * Spec: https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1
 * msgpack: https://github.com/msgpack/msgpack/blob/master/spec.md
 */

const gunzipAsync = promisify(gunzip);

/** The four carrier modes; the server tells them apart by the message's second element. */
export const ForwardMode = {
  MESSAGE: 'message',
  FORWARD: 'forward',
  PACKED_FORWARD: 'packed_forward',
  COMPRESSED_PACKED_FORWARD: 'compressed_packed_forward',
} as const;
export type ForwardMode = (typeof ForwardMode)[keyof typeof ForwardMode];

/** Why a message could not be read; the `reason` label of the bad-frame counter. */
export const BadFrameReason = {
  MALFORMED_MSGPACK: 'malformed_msgpack',
  OVERSIZE: 'oversize',
  NOT_AN_ARRAY: 'not_an_array',
  WRONG_TYPE: 'wrong_type',
  BAD_GZIP: 'bad_gzip',
  DECOMPRESSED_OVERSIZE: 'decompressed_oversize',
  BAD_ENTRY_STREAM: 'bad_entry_stream',
} as const;
export type BadFrameReason = (typeof BadFrameReason)[keyof typeof BadFrameReason];

/** A message that cannot be read, with a sentence for the log. */
export interface BadFrame {
  readonly ok: false;
  readonly reason: BadFrameReason;
  readonly message: string;
}

/** msgpack ext type of EventTime (spec "EventTime Ext Format"). */
export const EVENT_TIME_EXT_TYPE = 0;
/** EventTime's payload: 32-bit seconds then 32-bit nanoseconds, big-endian. */
const EVENT_TIME_BYTES = 8;
/**
 * Deepest nesting accepted. Records are shallow (Kubernetes metadata is three levels); the
 * cap keeps a hostile `[[[[…` from growing the scanner's stack with the message size.
 */
export const MAX_NESTING_DEPTH = 64;

/** An event's time: seconds since the epoch and nanoseconds within the second. */
export interface EventTime {
  readonly seconds: number;
  readonly nanoseconds: number;
}

// ————— Finding message boundaries —————

const Kind = {
  NIL: 0,
  BOOL: 1,
  INT: 2,
  FLOAT: 3,
  STR: 4,
  BIN: 5,
  EXT: 6,
  ARRAY: 7,
  MAP: 8,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

const KIND_NAMES: Record<Kind, string> = ['nil', 'boolean', 'integer', 'float', 'str', 'bin', 'ext', 'array', 'map'];
const KIND_ARTICLES: Record<Kind, string> = ['', 'a ', 'an ', 'a ', 'a ', 'a ', 'an ', 'an ', 'a '];

/** `an integer`, `a map`, `nil`: for messages. */
function kindPhrase(kind: Kind): string {
  return `${KIND_ARTICLES[kind]}${KIND_NAMES[kind]}`;
}

/** One value's header: what it is, how long the header is, and what follows it. */
interface Header {
  kind: Kind;
  /** Bytes of the header itself (type byte, length, ext type). */
  size: number;
  /** Bytes of payload after the header (str, bin, ext data, numbers). */
  payload: number;
  /** Values that follow as children (array elements; map keys and values). */
  children: number;
  /** The ext type, for `EXT`. */
  extType: number;
}

const MALFORMED = -2;
const INCOMPLETE = -1;

function uintBE(bytes: Uint8Array, pos: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + bytes[pos + i]!;
  return v;
}

/** Sets a header whose length (n bytes, big-endian) follows the type byte; ext adds a type byte. */
function sizedHeader(bytes: Uint8Array, pos: number, end: number, out: Header, kind: Kind, n: number, ext: boolean): number {
  const size = 1 + n + (ext ? 1 : 0);
  if (pos + size > end) return INCOMPLETE;
  out.kind = kind;
  out.size = size;
  out.payload = uintBE(bytes, pos + 1, n);
  if (ext) out.extType = bytes[pos + 1 + n]!;
  return 0;
}

/** Sets a header whose payload has a fixed size. */
function fixedHeader(out: Header, kind: Kind, payload: number): number {
  out.kind = kind;
  out.payload = payload;
  return 0;
}

/** Sets an array or map header whose element count (n bytes) follows the type byte. */
function countedHeader(
  bytes: Uint8Array,
  pos: number,
  end: number,
  out: Header,
  kind: Kind,
  n: number,
  perChild: number,
): number {
  if (pos + 1 + n > end) return INCOMPLETE;
  out.kind = kind;
  out.size = 1 + n;
  out.children = uintBE(bytes, pos + 1, n) * perChild;
  return 0;
}

/** Sets a fixext header: a type byte, then `payload` bytes. */
function fixextHeader(bytes: Uint8Array, pos: number, end: number, out: Header, payload: number): number {
  if (pos + 2 > end) return INCOMPLETE;
  out.kind = Kind.EXT;
  out.size = 2;
  out.payload = payload;
  out.extType = bytes[pos + 1]!;
  return 0;
}

/**
 * Reads the header at `pos` into `out` (reused, so the scan of a message allocates nothing).
 * @returns 0, or INCOMPLETE when the header runs past `end`, or MALFORMED on 0xc1
 */
function readHeader(bytes: Uint8Array, pos: number, end: number, out: Header): number {
  const b = bytes[pos]!;
  out.payload = 0;
  out.children = 0;
  out.extType = 0;
  out.size = 1;
  if (b <= 0x7f || b >= 0xe0) {
    out.kind = Kind.INT;
    return 0;
  }
  if (b <= 0x8f) {
    out.kind = Kind.MAP;
    out.children = (b & 0x0f) * 2;
    return 0;
  }
  if (b <= 0x9f) {
    out.kind = Kind.ARRAY;
    out.children = b & 0x0f;
    return 0;
  }
  if (b <= 0xbf) {
    out.kind = Kind.STR;
    out.payload = b & 0x1f;
    return 0;
  }
  switch (b) {
    case 0xc0: return fixedHeader(out, Kind.NIL, 0);
    case 0xc1: return MALFORMED;
    case 0xc2: case 0xc3: return fixedHeader(out, Kind.BOOL, 0);
    case 0xc4: return sizedHeader(bytes, pos, end, out, Kind.BIN, 1, false);
    case 0xc5: return sizedHeader(bytes, pos, end, out, Kind.BIN, 2, false);
    case 0xc6: return sizedHeader(bytes, pos, end, out, Kind.BIN, 4, false);
    case 0xc7: return sizedHeader(bytes, pos, end, out, Kind.EXT, 1, true);
    case 0xc8: return sizedHeader(bytes, pos, end, out, Kind.EXT, 2, true);
    case 0xc9: return sizedHeader(bytes, pos, end, out, Kind.EXT, 4, true);
    case 0xca: return fixedHeader(out, Kind.FLOAT, 4);
    case 0xcb: return fixedHeader(out, Kind.FLOAT, 8);
    case 0xcc: case 0xd0: return fixedHeader(out, Kind.INT, 1);
    case 0xcd: case 0xd1: return fixedHeader(out, Kind.INT, 2);
    case 0xce: case 0xd2: return fixedHeader(out, Kind.INT, 4);
    case 0xcf: case 0xd3: return fixedHeader(out, Kind.INT, 8);
    case 0xd4: return fixextHeader(bytes, pos, end, out, 1);
    case 0xd5: return fixextHeader(bytes, pos, end, out, 2);
    case 0xd6: return fixextHeader(bytes, pos, end, out, 4);
    case 0xd7: return fixextHeader(bytes, pos, end, out, 8);
    case 0xd8: return fixextHeader(bytes, pos, end, out, 16);
    case 0xd9: return sizedHeader(bytes, pos, end, out, Kind.STR, 1, false);
    case 0xda: return sizedHeader(bytes, pos, end, out, Kind.STR, 2, false);
    case 0xdb: return sizedHeader(bytes, pos, end, out, Kind.STR, 4, false);
    case 0xdc: return countedHeader(bytes, pos, end, out, Kind.ARRAY, 2, 1);
    case 0xdd: return countedHeader(bytes, pos, end, out, Kind.ARRAY, 4, 1);
    case 0xde: return countedHeader(bytes, pos, end, out, Kind.MAP, 2, 2);
    default: return countedHeader(bytes, pos, end, out, Kind.MAP, 4, 2); // 0xdf
  }
}

/** Where the scan of a byte stream stands. */
export type FrameScan =
  | { readonly status: 'complete'; readonly bytes: number }
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: BadFrameReason; readonly message: string };

/** Finds where the next msgpack value of a stream ends, picking up where the last call stopped. */
export interface FrameScanner {
  /**
   * @param bytes - the stream; grows between calls (earlier bytes must not change)
   * @param start - where the current value starts in `bytes`; the same on every call for one value
   */
  scan(bytes: Uint8Array, start?: number): FrameScan;
  /** Forgets the scan, for the next value (call after taking a complete one). */
  reset(): void;
}

const INCOMPLETE_SCAN: FrameScan = { status: 'incomplete' };

/**
 * Creates a scanner that finds value boundaries without decoding: it walks headers and skips
 * payloads, keeping how many children each open array or map still owes. Its state survives
 * between calls, so a message arriving in thousands of TCP reads is walked once, not once per
 * read, and a header declaring more than `maxBytes` is refused before its payload arrives.
 *
 * @param maxBytes - largest value accepted; anything larger is `invalid` with reason `oversize`
 */
export function createFrameScanner(maxBytes: number): FrameScanner {
  const header: Header = { kind: Kind.NIL, size: 0, payload: 0, children: 0, extType: 0 };
  let pos = 0;
  const owed: number[] = [];

  const oversize = (what: string): FrameScan => ({
    status: 'invalid',
    reason: BadFrameReason.OVERSIZE,
    message: `The message is larger than the ${maxBytes}-byte limit (${what}).`,
  });

  return {
    reset() {
      pos = 0;
      owed.length = 0;
    },
    scan(bytes, start = 0) {
      const end = bytes.length - start;
      while (pos < end) {
        const read = readHeader(bytes, start + pos, bytes.length, header);
        if (read === MALFORMED) {
          return {
            status: 'invalid',
            reason: BadFrameReason.MALFORMED_MSGPACK,
            message: `Byte 0xc1 at offset ${pos} is never used in msgpack.`,
          };
        }
        if (read === INCOMPLETE) break;
        const valueEnd = pos + header.size + header.payload;
        if (valueEnd > maxBytes) {
          return oversize(
            header.payload > 0
              ? `${kindPhrase(header.kind)} of ${header.payload} bytes starts at offset ${pos}`
              : `it is still open after ${maxBytes} bytes`,
          );
        }
        if (valueEnd > end) break;
        pos = valueEnd;
        if (header.children > 0) {
          if (owed.length >= MAX_NESTING_DEPTH) {
            return {
              status: 'invalid',
              reason: BadFrameReason.MALFORMED_MSGPACK,
              message: `Arrays and maps nest deeper than ${MAX_NESTING_DEPTH} levels at offset ${pos}.`,
            };
          }
          owed.push(header.children);
          continue;
        }
        // A scalar or an empty container completed: close every container it completes.
        while (owed.length > 0) {
          const left = owed[owed.length - 1]! - 1;
          if (left > 0) {
            owed[owed.length - 1] = left;
            break;
          }
          owed.pop();
        }
        if (owed.length === 0) return { status: 'complete', bytes: pos };
      }
      if (end > maxBytes) return oversize(`it is still open after ${maxBytes} bytes`);
      return INCOMPLETE_SCAN;
    },
  };
}

/**
 * Splits a stream of complete msgpack values (a MessagePackEventStream) into one view per value.
 *
 * @returns the views, or a bad frame when the stream is malformed or ends inside a value
 */
export function splitValues(stream: Uint8Array): { ok: true; values: Uint8Array[] } | BadFrame {
  // No size limit here: the stream is in memory already, its size checked on the way in.
  const scanner = createFrameScanner(Number.POSITIVE_INFINITY);
  const values: Uint8Array[] = [];
  let pos = 0;
  while (pos < stream.length) {
    const rest = stream.subarray(pos);
    const scan = scanner.scan(rest);
    if (scan.status !== 'complete') {
      const why = scan.status === 'invalid' ? scan.message : 'it ends inside a value';
      return {
        ok: false,
        reason: BadFrameReason.BAD_ENTRY_STREAM,
        message: `The entry stream is broken after ${values.length} entries: ${why}`,
      };
    }
    values.push(rest.subarray(0, scan.bytes));
    pos += scan.bytes;
    scanner.reset();
  }
  return { ok: true, values };
}

// ————— Decoding —————

/** EventTime as decoded from ext type 0. */
class DecodedEventTime implements EventTime {
  constructor(
    readonly seconds: number,
    readonly nanoseconds: number,
  ) {}
}

const extensionCodec = new ExtensionCodec();
extensionCodec.register({
  type: EVENT_TIME_EXT_TYPE,
  encode: (value: unknown) =>
    value instanceof DecodedEventTime ? eventTimeBytes(value.seconds, value.nanoseconds) : null,
  decode: (data: Uint8Array) => {
    if (data.length !== EVENT_TIME_BYTES) {
      throw new RangeError(`EventTime must hold ${EVENT_TIME_BYTES} bytes, not ${data.length}`);
    }
    return new DecodedEventTime(uintBE(data, 0, 4), uintBE(data, 4, 4));
  },
});

function eventTimeBytes(seconds: number, nanoseconds: number): Uint8Array {
  const data = new Uint8Array(EVENT_TIME_BYTES);
  const view = new DataView(data.buffer);
  view.setUint32(0, seconds);
  view.setUint32(4, nanoseconds);
  return data;
}

/** Decodes options; decoding is synchronous, so calls never overlap. */
const decoder = new Decoder();
const utf8 = new TextDecoder();


function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

// ————— Records: msgpack straight to JSON-ready values —————
//
// Records are the hot path (one per event), so they get a decoder of their own: strings are
// sliced natively from the buffer, and values come out ready for JSON.stringify — bin as its
// UTF-8 text (Ruby clients send binary-encoded strings as bin), an EventTime as RFC 3339,
// another ext as its base64 data — with no second pass. Recursion is bounded by
// MAX_NESTING_DEPTH, and counts are checked against the bytes left before anything is allocated.

/** The buffer and position being decoded; module state, since decoding never overlaps. */
let src: Buffer = Buffer.alloc(0);
let at = 0;
/** Where the value being decoded ends in `src`. */
let limit = 0;
/** Open arrays and maps around `at`; capped, since the decoder recurses into them. */
let depth = 0;

function enter(): void {
  if (++depth > MAX_NESTING_DEPTH) throw new RangeError(`arrays and maps nest deeper than ${MAX_NESTING_DEPTH} levels`);
}

function need(n: number): void {
  if (at + n > limit) throw new RangeError('the value is truncated');
}

/**
 * `Buffer#utf8Slice`, the native decoder behind `toString('utf8', start, end)` without its
 * argument handling: a record holds dozens of strings, and the wrapper cost a tenth of decoding.
 */
type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string };

function readText(n: number): string {
  need(n);
  const text = (src as Utf8Sliceable).utf8Slice(at, at + n);
  at += n;
  return text;
}

function readUint(n: number): number {
  need(n);
  const v = uintBE(src, at, n);
  at += n;
  return v;
}

function readInt(n: number): number {
  need(n);
  let v: number;
  if (n === 1) v = src.readInt8(at);
  else if (n === 2) v = src.readInt16BE(at);
  else if (n === 4) v = src.readInt32BE(at);
  else v = src.readInt32BE(at) * 2 ** 32 + src.readUInt32BE(at + 4);
  at += n;
  return v;
}

/** An ext value: EventTime as its object (for entry times) or formatted, others as base64. */
function readExt(length: number, asTime: boolean): unknown {
  need(1 + length);
  const type = src[at]!;
  const data = src.subarray(at + 1, at + 1 + length);
  at += 1 + length;
  if (type === EVENT_TIME_EXT_TYPE) {
    if (length !== EVENT_TIME_BYTES) throw new RangeError(`EventTime must hold ${EVENT_TIME_BYTES} bytes, not ${length}`);
    const time = new DecodedEventTime(uintBE(data, 0, 4), uintBE(data, 4, 4));
    return asTime ? time : formatEventTime(time);
  }
  return data.toString('base64');
}

/** @param asTime - keep EventTimes as objects: the array is an entry's `[time, metadata]` */
function readArray(n: number, asTime: boolean): unknown[] {
  enter();
  need(n); // every element takes at least a byte: a huge count in a few bytes allocates nothing
  const list = new Array<unknown>(n);
  for (let i = 0; i < n; i++) list[i] = readValue(asTime);
  depth--;
  return list;
}

/** Keys up to this many bytes are looked up in the key cache. */
const MAX_CACHED_KEY_BYTES = 32;
/**
 * String values up to this many bytes go through the key cache too: short values repeat
 * (levels, namespaces, container names), and a shared string is garbage the collector never sees.
 */
const MAX_CACHED_VALUE_BYTES = 16;
/** Keys kept per byte length; a record schema has a few dozen keys in all. */
const MAX_CACHED_KEYS_PER_LENGTH = 24;
/** Decoded keys by byte length: records repeat the same keys, and a reused string is already internalized. */
const keyCache: { bytes: Buffer; text: string }[][] = Array.from({ length: MAX_CACHED_KEY_BYTES + 1 }, () => []);

function cachedKey(n: number): string {
  need(n);
  const bucket = keyCache[n]!;
  search: for (const entry of bucket) {
    const bytes = entry.bytes;
    for (let i = 0; i < n; i++) if (bytes[i] !== src[at + i]) continue search;
    at += n;
    return entry.text;
  }
  const text = (src as Utf8Sliceable).utf8Slice(at, at + n);
  if (bucket.length < MAX_CACHED_KEYS_PER_LENGTH) bucket.push({ bytes: Buffer.from(src.subarray(at, at + n)), text });
  at += n;
  return text;
}

/** A map key: str (cached when short), else any value that is a string or number. */
function readKey(): unknown {
  const b = src[at];
  if (b !== undefined && b >= 0xa0 && b <= 0xbf) {
    at++;
    return cachedKey(b & 0x1f);
  }
  return readValue(false);
}

function readMap(n: number): Record<string, unknown> {
  enter();
  need(2 * n);
  const map: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = readKey();
    if (typeof key !== 'string' && typeof key !== 'number') {
      throw new TypeError(`a map key must be a string, not ${describe(key)}`);
    }
    if (key === '__proto__') throw new TypeError('the key __proto__ is not allowed');
    map[key] = readValue(false);
  }
  depth--;
  return map;
}

/**
 * Reads the value at `at`.
 * @param asTime - keep an EventTime as an object (an entry's time), not its text
 */
function readValue(asTime: boolean): unknown {
  need(1);
  const b = src[at++]!;
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b <= 0x8f) return readMap(b & 0x0f);
  if (b <= 0x9f) return readArray(b & 0x0f, asTime);
  if (b <= 0xbf) return (b & 0x1f) <= MAX_CACHED_VALUE_BYTES ? cachedKey(b & 0x1f) : readText(b & 0x1f);
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: case 0xd9: return readText(readUint(1)); // bin8 and str8: text either way
    case 0xc5: case 0xda: return readText(readUint(2));
    case 0xc6: case 0xdb: return readText(readUint(4));
    case 0xc7: return readExt(readUint(1), asTime);
    case 0xc8: return readExt(readUint(2), asTime);
    case 0xc9: return readExt(readUint(4), asTime);
    case 0xca: {
      need(4);
      const v = src.readFloatBE(at);
      at += 4;
      return v;
    }
    case 0xcb: {
      need(8);
      const v = src.readDoubleBE(at);
      at += 8;
      return v;
    }
    case 0xcc: return readUint(1);
    case 0xcd: return readUint(2);
    case 0xce: return readUint(4);
    case 0xcf: return readUint(8);
    case 0xd0: return readInt(1);
    case 0xd1: return readInt(2);
    case 0xd2: return readInt(4);
    case 0xd3: return readInt(8);
    case 0xd4: return readExt(1, asTime);
    case 0xd5: return readExt(2, asTime);
    case 0xd6: return readExt(4, asTime);
    case 0xd7: return readExt(8, asTime);
    case 0xd8: return readExt(16, asTime);
    case 0xdc: return readArray(readUint(2), asTime);
    case 0xdd: return readArray(readUint(4), asTime);
    case 0xde: return readMap(readUint(2));
    case 0xdf: return readMap(readUint(4));
    default: throw new RangeError(`byte 0x${b.toString(16)} is never used in msgpack`);
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes one complete value to JSON-ready form (see above); throws on malformed input. */
function decodeJsonValue(bytes: Uint8Array, asTime = false): unknown {
  src = asBuffer(bytes);
  at = 0;
  limit = src.length;
  depth = 0;
  try {
    return readValue(asTime);
  } finally {
    src = EMPTY;
  }
}
const EMPTY = Buffer.alloc(0);

const NANOS_PER_SECOND = 1_000_000_000;
let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * An EventTime as RFC 3339 UTC with nanoseconds (`2026-01-15T10:30:00.123456789Z`), the
 * `timestamp` the processor reads. Events of one chunk share few seconds, so the date part
 * of the last second is kept.
 */
export function formatEventTime(time: EventTime): string {
  if (time.seconds !== cachedSecond) {
    cachedPrefix = new Date(time.seconds * 1000).toISOString().slice(0, 19);
    cachedSecond = time.seconds;
  }
  return `${cachedPrefix}.${String(time.nanoseconds).padStart(9, '0')}Z`;
}

/** The largest epoch second a JavaScript Date can format (year 275760). */
const MAX_EPOCH_SECONDS = 8.64e12;

/** Reads an entry's time: EventTime, integer seconds, or float seconds (older clients). */
function readTime(value: unknown): EventTime | string {
  if (value instanceof DecodedEventTime) {
    if (value.nanoseconds >= NANOS_PER_SECOND) return `EventTime nanoseconds ${value.nanoseconds} are not below 10^9`;
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0 || value > MAX_EPOCH_SECONDS) return `time ${value} is not a usable epoch second`;
    const seconds = Math.floor(value);
    return { seconds, nanoseconds: Math.round((value - seconds) * NANOS_PER_SECOND) % NANOS_PER_SECOND };
  }
  return `time must be an EventTime or a number of seconds, not ${describe(value)}`;
}

function describe(value: unknown): string {
  if (value === null) return 'nil';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bin';
  if (typeof value === 'object') return 'a map';
  return `a ${typeof value}`;
}

/** One event of a message: its time and record. */
export interface ForwardEntry {
  readonly time: EventTime;
  readonly record: Record<string, unknown>;
}

/** The outcome of decoding one entry. */
export type EntryResult = { readonly ok: true; readonly entry: ForwardEntry } | { readonly ok: false; readonly message: string };

/**
 * Builds an entry from its decoded time and record. The time may also come as
 * `[time, metadata]` (protocol v1.5, Fluent Bit 2.1+); the metadata is dropped.
 */
function toEntry(time: unknown, record: unknown): EntryResult {
  const readable = Array.isArray(time) && time.length >= 1 ? readTime(time[0]) : readTime(time);
  if (typeof readable === 'string') return { ok: false, message: `The entry's ${readable}.` };
  if (!isPlainObject(record)) return { ok: false, message: `The entry's record must be a map, not ${describe(record)}.` };
  return { ok: true, entry: { time: readable, record } };
}

/**
 * Decodes the Entry that starts at `start` in `buf`, reading no further than `end`.
 * @returns the entry (or why it is unusable) and where it ends; `end` undefined when the
 *   bytes could not be decoded, so where the entry ends is unknown
 */
function decodeEntryAt(buf: Buffer, start: number, end: number): { result: EntryResult; end: number | undefined } {
  src = buf;
  at = start;
  limit = end;
  depth = 0;
  try {
    // An entry is a fixarray of 2 (array16 from lenient encoders); anything else is read whole to be skipped.
    const b = buf[start]!;
    let count = -1;
    if (b >= 0x90 && b <= 0x9f) {
      count = b & 0x0f;
      at = start + 1;
    } else if (b === 0xdc) {
      need(3);
      count = uintBE(buf, start + 1, 2);
      at = start + 3;
    }
    if (count < 2) {
      at = start;
      const value = readValue(false);
      return { result: { ok: false, message: `An entry must be an array [time, record], not ${describe(value)}.` }, end: at };
    }
    const time = readValue(true);
    const record = readValue(false);
    for (let i = 2; i < count; i++) readValue(false); // later elements are not part of the spec
    return { result: toEntry(time, record), end: at };
  } catch (error) {
    return { result: { ok: false, message: `The entry cannot be decoded: ${errorText(error)}.` }, end: undefined };
  } finally {
    src = EMPTY;
  }
}

/**
 * Decodes one Entry (`[time, record]`) from its bytes. The record comes out ready for JSON:
 * bin values as text, EventTime values as RFC 3339, other ext values as base64.
 *
 * @param bytes - one complete msgpack value (see `splitValues`)
 */
export function decodeEntry(bytes: Uint8Array): EntryResult {
  const { result, end } = decodeEntryAt(asBuffer(bytes), 0, bytes.length);
  if (result.ok && end !== bytes.length) return { ok: false, message: 'The entry has bytes after its end.' };
  return result;
}

/** The entries of a MessagePackEventStream, decoded one by one as they are iterated. */
export interface EntryStream extends Iterable<EntryResult> {
  /** Entries met so far: all of them once iterated to the end. */
  readonly count: number;
  /**
   * Why iteration stopped early: the stream is malformed or ends inside an entry. The
   * entries read before cannot be trusted then; drop them with the message.
   */
  readonly problem: BadFrame | undefined;
}

/**
 * Reads an entry stream lazily: each entry is decoded only when the caller gets to it, so one
 * record at a time is alive and none is copied out of the stream. An entry that cannot be
 * decoded is skipped by the scanner (which finds its end without decoding), so the entries
 * after it still count; when even the scanner cannot find its end, the stream is broken.
 *
 * @param stream - the entries of a Forward or (inflated) PackedForward message
 */
export function readEntries(stream: Uint8Array): EntryStream {
  const buf = asBuffer(stream);
  let count = 0;
  let problem: BadFrame | undefined;
  return {
    get count() {
      return count;
    },
    get problem() {
      return problem;
    },
    *[Symbol.iterator]() {
      let scanner: FrameScanner | undefined;
      let pos = 0;
      while (pos < buf.length) {
        const { result, end } = decodeEntryAt(buf, pos, buf.length);
        if (end !== undefined) {
          count++;
          yield result;
          pos = end;
          continue;
        }
        scanner ??= createFrameScanner(Number.POSITIVE_INFINITY);
        scanner.reset();
        const scan = scanner.scan(buf, pos);
        if (scan.status !== 'complete') {
          const why = scan.status === 'invalid' ? scan.message : 'it ends inside a value';
          problem = {
            ok: false,
            reason: BadFrameReason.BAD_ENTRY_STREAM,
            message: `The entry stream is broken after ${count} entries: ${why}`,
          };
          return;
        }
        count++;
        yield result;
        pos += scan.bytes;
      }
    },
  };
}

/** Decodes a Message-mode message's time and record (already split from the message). */
function decodeMessageEntry(time: Uint8Array, record: Uint8Array): EntryResult {
  let t: unknown;
  let r: unknown;
  try {
    t = decodeJsonValue(time, true);
    r = decodeJsonValue(record);
  } catch (error) {
    return { ok: false, message: `The entry cannot be decoded: ${errorText(error)}.` };
  }
  return toEntry(t, r);
}

// ————— Messages —————

/** The options a message may carry (spec "Option"); others are ignored. */
export interface ForwardOption {
  /** The chunk id to send back in `{"ack": chunk}` once the events are stored. */
  readonly chunk?: string;
  /** `gzip` for CompressedPackedForward. */
  readonly compressed?: string;
  /** Number of events the client says it sent. */
  readonly size?: number;
}

/** A message in transport phase, its entries not yet decoded. */
export type EventFrame =
  | {
      readonly ok: true;
      readonly mode: typeof ForwardMode.MESSAGE;
      readonly tag: string;
      /** The one entry, decoded already (a message carries nothing else). */
      readonly entry: EntryResult;
      readonly option: ForwardOption;
    }
  | {
      readonly ok: true;
      readonly mode: Exclude<ForwardMode, typeof ForwardMode.MESSAGE>;
      readonly tag: string;
      /**
       * The entries as a MessagePackEventStream; gzip members for CompressedPackedForward.
       * For Forward mode, the array's elements, which are such a stream too.
       */
      readonly entries: Uint8Array;
      readonly option: ForwardOption;
    };

/** What a top-level value is: an event message, a heartbeat, or not readable. */
export type FrameResult = EventFrame | { readonly ok: true; readonly mode: 'heartbeat' } | BadFrame;

function wrongType(message: string): BadFrame {
  return { ok: false, reason: BadFrameReason.WRONG_TYPE, message };
}

/** The element views of a complete top-level array, plus where its elements start. */
function arrayElements(frame: Uint8Array, header: Header): Uint8Array[] | BadFrame {
  const count = header.children;
  const split = splitValues(frame.subarray(header.size));
  if (!split.ok || split.values.length !== count) {
    return { ok: false, reason: BadFrameReason.MALFORMED_MSGPACK, message: 'The message array is malformed.' };
  }
  return split.values;
}

function decodeValue(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: decoder.decode(bytes) };
  } catch (error) {
    return { ok: false, message: errorText(error) };
  }
}

function readOption(bytes: Uint8Array | undefined): ForwardOption | BadFrame {
  if (bytes === undefined) return {};
  const decoded = decodeValue(bytes);
  if (!decoded.ok) return wrongType(`The option cannot be decoded: ${decoded.message}.`);
  const value = decoded.value;
  if (value === null) return {};
  if (!isPlainObject(value)) return wrongType(`The option must be a map, not ${describe(value)}.`);
  const chunk = value['chunk'];
  if (chunk !== undefined && chunk !== null && typeof chunk !== 'string') {
    return wrongType(`The 'chunk' option must be a string, not ${describe(chunk)}.`);
  }
  const compressed = value['compressed'];
  const size = value['size'];
  return {
    ...(typeof chunk === 'string' && { chunk }),
    ...(typeof compressed === 'string' && { compressed }),
    ...(typeof size === 'number' && { size }),
  };
}

function firstByteHint(byte: number): string {
  if (byte === 0x7b || byte === 0x5b) return ' (it starts like JSON, which this input does not accept)';
  if (byte >= 0x41 && byte <= 0x5a) return ' (it starts like text, perhaps an HTTP request)';
  return '';
}

/**
 * Reads one complete top-level value of the transport phase: `nil` is a heartbeat; an array
 * is a message whose mode is told by its second element (spec "Event Modes"): a time for
 * Message, an array for Forward, bin or str for PackedForward, and the `compressed: "gzip"`
 * option makes it CompressedPackedForward.
 *
 * @param frame - exactly one msgpack value (see `createFrameScanner`)
 */
export function readEventFrame(frame: Uint8Array): FrameResult {
  const header: Header = { kind: Kind.NIL, size: 0, payload: 0, children: 0, extType: 0 };
  if (readHeader(frame, 0, frame.length, header) !== 0) {
    return { ok: false, reason: BadFrameReason.MALFORMED_MSGPACK, message: 'The message is malformed.' };
  }
  if (header.kind === Kind.NIL) return { ok: true, mode: 'heartbeat' };
  if (header.kind !== Kind.ARRAY) {
    return {
      ok: false,
      reason: BadFrameReason.NOT_AN_ARRAY,
      message: `The message must be a msgpack array, not ${kindPhrase(header.kind)}${firstByteHint(frame[0]!)}.`,
    };
  }
  if (header.children < 2 || header.children > 4) {
    return wrongType(`The message array must have 2 to 4 elements, not ${header.children}.`);
  }
  const elements = arrayElements(frame, header);
  if (!Array.isArray(elements)) return elements;

  const tagHeader: Header = { ...header };
  readHeader(elements[0]!, 0, elements[0]!.length, tagHeader);
  if (tagHeader.kind !== Kind.STR) return wrongType(`The tag must be a str, not ${kindPhrase(tagHeader.kind)}.`);
  const tag = utf8.decode(elements[0]!.subarray(tagHeader.size));

  const second: Header = { ...header };
  readHeader(elements[1]!, 0, elements[1]!.length, second);
  const isEventTime = second.kind === Kind.EXT && second.extType === EVENT_TIME_EXT_TYPE;
  const isTime = second.kind === Kind.INT || second.kind === Kind.FLOAT || isEventTime;

  if (isTime) {
    if (elements.length < 3) return wrongType('A Message-mode message must be [tag, time, record, option?].');
    const option = readOption(elements[3]);
    if ('ok' in option) return option;
    const entry = decodeMessageEntry(elements[1]!, elements[2]!);
    return { ok: true, mode: ForwardMode.MESSAGE, tag, entry, option };
  }
  if (elements.length > 3) return wrongType('A Forward or PackedForward message must be [tag, entries, option?].');
  const option = readOption(elements[2]);
  if ('ok' in option) return option;
  if (second.kind === Kind.ARRAY) {
    return { ok: true, mode: ForwardMode.FORWARD, tag, entries: elements[1]!.subarray(second.size), option };
  }
  if (second.kind === Kind.BIN || second.kind === Kind.STR) {
    // str is read as bytes, never as UTF-8: fluentd's out_forward sends the packed stream as str.
    const entries = elements[1]!.subarray(second.size);
    const mode = option.compressed === 'gzip' ? ForwardMode.COMPRESSED_PACKED_FORWARD : ForwardMode.PACKED_FORWARD;
    return { ok: true, mode, tag, entries, option };
  }
  return wrongType(
    `The second element must be a time (Message), an array (Forward) or bin/str (PackedForward), not ${kindPhrase(second.kind)}.`,
  );
}

/**
 * Gunzips a CompressedPackedForward entry stream, which may be several gzip members one after
 * another (zlib reads on past the end of each member).
 *
 * @param maxBytes - largest output; beyond it the result is a bad frame, not a bigger buffer
 */
export async function inflateEntries(compressed: Uint8Array, maxBytes: number): Promise<{ ok: true; bytes: Buffer } | BadFrame> {
  try {
    return { ok: true, bytes: await gunzipAsync(compressed, { maxOutputLength: maxBytes }) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      return {
        ok: false,
        reason: BadFrameReason.DECOMPRESSED_OVERSIZE,
        message: `The entries are larger than the ${maxBytes}-byte limit once gunzipped.`,
      };
    }
    return { ok: false, reason: BadFrameReason.BAD_GZIP, message: `The entries are not valid gzip: ${errorText(error)}.` };
  }
}

/** Handshake messages carry binary salts as str; this decoder leaves every str as bytes. */
const rawDecoder = new Decoder({ rawStrings: true });

/**
 * Decodes a handshake message (PING) with str values as raw bytes, since a str salt is a binary
 * string that UTF-8 decoding would change.
 *
 * @returns the array's elements, or undefined when the value is not an array
 */
export function decodeHandshakeMessage(frame: Uint8Array): unknown[] | undefined {
  try {
    const value = rawDecoder.decode(frame);
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Encodes a value for the wire (HELO, PONG, acks). */
export function encodeMessage(value: unknown): Uint8Array {
  return encode(value);
}

/** The answer to a chunk, sent once its events are durable: `{"ack": chunk}`. */
export function encodeAck(chunk: string): Uint8Array {
  return encode({ ack: chunk });
}

/**
 * An EventTime that `encodeWithEventTime` writes as ext type 0.
 * @internal for tests and the benchmark client
 */
export function eventTime(seconds: number, nanoseconds: number): EventTime {
  return new DecodedEventTime(seconds, nanoseconds);
}

/**
 * Encodes a value with EventTime support (values made by `eventTime` become ext type 0).
 * @internal for tests and the benchmark client
 */
export function encodeWithEventTime(value: unknown): Uint8Array {
  return encode(value, { extensionCodec });
}
