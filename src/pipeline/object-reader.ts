import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  CorruptObjectError,
  LineSkipReason,
  type LogRecord,
  parseNdjsonLine,
  toLogRecord,
} from '../domain/index.js';

/** Lines longer than this are skipped and counted, so one bad line cannot exhaust memory. */
export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;
const GUNZIP_CHUNK_BYTES = 64 * 1024;
const GZIP_MAGIC = [0x1f, 0x8b] as const;
const NEWLINE = 0x0a;

/** Why lines produced no record, with counts. */
export const SkipReason = { ...LineSkipReason, LINE_TOO_LONG: 'line_too_long' } as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

/** What reading one object found; filled in as the records are consumed. */
export interface ReadStats {
  lines: number;
  records: number;
  skipped: Partial<Record<SkipReason, number>>;
  /** Decompressed bytes read. */
  bytes: number;
}

export interface ReadOptions {
  /** The object's last-modified time: the timestamp of records that carry none. */
  readonly fallbackMs: number;
  readonly maxLineBytes?: number;
  /** Filled in while reading. */
  readonly stats: ReadStats;
}

/** A fresh, empty ReadStats. */
export function emptyReadStats(): ReadStats {
  return { lines: 0, records: 0, skipped: {}, bytes: 0 };
}

function isZlibError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Streams a gzip NDJSON object as chunks of records, decompressing and parsing as it goes:
 * memory stays bounded by the chunk size and `maxLineBytes`, whatever the object's size.
 * Record offsets count from 0 in object order, so a retry can resume after a checkpoint.
 *
 * @param body - the object's byte stream; destroyed when iteration ends early
 * @throws CorruptObjectError when the body is not gzip or the gzip stream is corrupt or truncated
 */
export async function* readObjectRecords(body: Readable, options: ReadOptions): AsyncGenerator<LogRecord[]> {
  const { stats, fallbackMs } = options;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
  let checkedMagic = false;
  body.on('error', (error) => gunzip.destroy(error));
  body.on('data', (chunk: Buffer) => {
    if (!checkedMagic && chunk.length > 0) {
      checkedMagic = true;
      if (chunk[0] !== GZIP_MAGIC[0] || (chunk.length > 1 && chunk[1] !== GZIP_MAGIC[1])) {
        gunzip.destroy(
          new CorruptObjectError('The object is not gzip (its first bytes are not the gzip magic number).'),
        );
      }
    }
  });
  body.pipe(gunzip);

  let offset = 0;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let discarding = false;
  const skip = (reason: SkipReason, n = 1) => {
    stats.skipped[reason] = (stats.skipped[reason] ?? 0) + n;
  };
  // A line within one inflated chunk never reaches the carry check below, so check its
  // length here too. UTF-8 takes 1 to 3 bytes per UTF-16 unit: count bytes only when unsure.
  const isTooLong = (line: string) =>
    line.length > maxLineBytes || (line.length * 3 > maxLineBytes && Buffer.byteLength(line) > maxLineBytes);
  const parseLines = (text: string, out: LogRecord[]) => {
    for (const line of text.split('\n')) {
      stats.lines++;
      if (isTooLong(line)) {
        skip(SkipReason.LINE_TOO_LONG);
        continue;
      }
      const parsed = parseNdjsonLine(line);
      if (!parsed.ok) {
        skip(parsed.reason, parsed.skipped);
        continue;
      }
      if (parsed.skipped > 0) skip(SkipReason.NOT_AN_OBJECT, parsed.skipped);
      for (const event of parsed.events) out.push(toLogRecord(event, offset++, fallbackMs));
    }
  };

  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      stats.bytes += chunk.length;
      const records: LogRecord[] = [];
      let start = 0;
      const lastNewline = chunk.lastIndexOf(NEWLINE);
      if (lastNewline >= 0) {
        const firstNewline = chunk.indexOf(NEWLINE);
        if (discarding) {
          discarding = false;
          start = firstNewline + 1;
        } else if (carryBytes > 0) {
          carry.push(chunk.subarray(0, firstNewline));
          parseLines(Buffer.concat(carry).toString('utf8'), records);
          start = firstNewline + 1;
        }
        carry = [];
        carryBytes = 0;
        if (start <= lastNewline) parseLines(chunk.toString('utf8', start, lastNewline), records);
        start = lastNewline + 1;
      }
      if (!discarding && start < chunk.length) {
        carry.push(chunk.subarray(start));
        carryBytes += chunk.length - start;
        if (carryBytes > maxLineBytes) {
          stats.lines++;
          skip(SkipReason.LINE_TOO_LONG);
          carry = [];
          carryBytes = 0;
          discarding = true;
        }
      }
      stats.records += records.length;
      if (records.length > 0) yield records;
    }
    if (carryBytes > 0 && !discarding) {
      const records: LogRecord[] = [];
      parseLines(Buffer.concat(carry).toString('utf8'), records);
      stats.records += records.length;
      if (records.length > 0) yield records;
    }
  } catch (error) {
    if (error instanceof CorruptObjectError) throw error;
    if (isZlibError(error)) {
      throw new CorruptObjectError(
        `The object's gzip stream is corrupt or truncated (${error.code}: ${error.message}) after ${offset} records.`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    body.unpipe(gunzip);
    gunzip.destroy();
    body.destroy();
  }
}
