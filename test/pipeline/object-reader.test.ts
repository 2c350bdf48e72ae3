import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CorruptObjectError, ErrorCode, type LogRecord } from '../../src/domain/index.js';
import {
  emptyReadStats,
  type ReadStats,
  readObjectRecords,
  SkipReason,
} from '../../src/pipeline/object-reader.js';
import { gzipObject, gzipObjectWithCorruptTail, logEventFactory, ndjson } from '../helpers/factories.js';

/** The size of the chunks the reader inflates to; what it yields per step follows from it. */
const INFLATED_CHUNK_BYTES = 64 * 1024;
const FALLBACK_MS = Date.parse('2024-01-15T12:00:00.000Z');

/** A stream of the bytes, in pieces of `pieceBytes` as a network read would hand them over. */
function streamOf(bytes: Buffer, pieceBytes = bytes.length): Readable {
  const pieces: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += pieceBytes) {
    pieces.push(bytes.subarray(start, start + pieceBytes));
  }
  return Readable.from(pieces, { objectMode: false });
}

interface ReadResult {
  readonly chunks: LogRecord[][];
  readonly records: LogRecord[];
  readonly stats: ReadStats;
  readonly error?: unknown;
}

/** Reads the whole body; an error ends the read and is returned with what was yielded before it. */
async function readAll(body: Readable, maxLineBytes?: number): Promise<ReadResult> {
  const stats = emptyReadStats();
  const chunks: LogRecord[][] = [];
  try {
    for await (const chunk of readObjectRecords(body, {
      fallbackMs: FALLBACK_MS,
      stats,
      ...(maxLineBytes !== undefined && { maxLineBytes }),
    })) {
      chunks.push(chunk);
    }
  } catch (error) {
    return { chunks, records: chunks.flat(), stats, error };
  }
  return { chunks, records: chunks.flat(), stats };
}

/** A deterministic mix of ASCII and multi-byte text, so chunk boundaries fall inside characters. */
const MESSAGES = Array.from({ length: 97 }, (_, i) => {
  const alphabet = ['a', 'é', '日本', '😀', ' ', 'ß', '\\', '"', 'z'];
  const length = 20 + ((i * 7_919) % 400);
  return Array.from({ length }, (_, j) => alphabet[(i + j * 31) % alphabet.length]).join('');
});

/** Events whose NDJSON is a few MB: many inflated chunks, lines split across their boundaries. */
function manyEvents(count: number): Record<string, unknown>[] {
  const base = logEventFactory();
  return Array.from({ length: count }, (_, i) => ({
    ...base,
    message: MESSAGES[i % MESSAGES.length],
    seq: i,
    timestamp: new Date(FALLBACK_MS - i * 1_000).toISOString(),
  }));
}

/** Events as JSON lines: comparing strings is much faster than deep-comparing thousands of objects. */
function jsonOf(events: readonly Record<string, unknown>[]): string[] {
  return events.map((event) => JSON.stringify(event));
}

describe('readObjectRecords', () => {
  it('streams a multi-MB object as records with offsets in object order', async () => {
    // Prepare
    const events = manyEvents(6_000);
    const body = gzipObject(events);
    // Act
    const { chunks, records, stats, error } = await readAll(streamOf(body, 16_384));
    // Assess
    expect(error).toBeUndefined();
    expect(stats.bytes).toBeGreaterThan(2 * 1024 * 1024);
    expect(chunks.length).toBeGreaterThan(stats.bytes / INFLATED_CHUNK_BYTES - 2);
    expect(records.map((r) => r.offset)).toEqual(events.map((_, i) => i));
    expect(records.map((r) => r.json)).toEqual(jsonOf(events));
    expect(jsonOf(records.map((r) => r.event))).toEqual(jsonOf(events));
    expect(records.map((r) => r.timestampMs)).toEqual(events.map((_, i) => FALLBACK_MS - i * 1_000));
    expect(stats).toEqual({
      lines: events.length,
      records: events.length,
      skipped: {},
      bytes: Buffer.byteLength(`${ndjson(events)}\n`),
    });
  });

  it.each([
    { char: '😀', bytesBefore: INFLATED_CHUNK_BYTES - 3 },
    { char: '😀', bytesBefore: INFLATED_CHUNK_BYTES - 2 },
    { char: '😀', bytesBefore: INFLATED_CHUNK_BYTES - 1 },
    { char: '日', bytesBefore: INFLATED_CHUNK_BYTES - 1 },
    { char: 'é', bytesBefore: INFLATED_CHUNK_BYTES - 1 },
    { char: '\n', bytesBefore: INFLATED_CHUNK_BYTES - 1 },
    { char: '\n', bytesBefore: INFLATED_CHUNK_BYTES },
  ])(
    'keeps $char whole when it starts $bytesBefore bytes in, across a chunk boundary',
    async ({ char, bytesBefore }) => {
      // Prepare
      const prefix = '{"message":"';
      const first = `${prefix}${'a'.repeat(bytesBefore - prefix.length)}`;
      const text =
        char === '\n'
          ? `${first.slice(0, -2)}"}\n{"message":"${'b'.repeat(70_000)}"}\n{"message":"c"}\n`
          : `${first}${char}${'b'.repeat(70_000)}"}\n{"message":"${char}"}\n`;
      const expected = text
        .slice(0, -1)
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      // Act
      const { records, error } = await readAll(streamOf(gzipSync(text)));
      // Assess
      expect(error).toBeUndefined();
      expect(records.map((r) => r.event)).toEqual(expected);
    },
  );

  it('reads a line that spans several chunks', async () => {
    // Prepare
    const long = logEventFactory({ message: '日本語'.repeat(80_000) });
    const events = [logEventFactory({ seq: 0 }), long, logEventFactory({ seq: 2 })];
    // Act
    const { records, error } = await readAll(streamOf(gzipObject(events), 1_000));
    // Assess
    expect(error).toBeUndefined();
    expect(records.map((r) => r.event)).toEqual(events);
    expect(records.map((r) => r.offset)).toEqual([0, 1, 2]);
  });

  it('expands a line holding a JSON array into one record per object element', async () => {
    // Prepare
    const [a, b, c] = [logEventFactory(), logEventFactory(), logEventFactory()];
    const lines = [[a, 7, b], c];
    // Act
    const { records, stats } = await readAll(streamOf(gzipObject(lines)));
    // Assess
    expect(records.map((r) => [r.offset, r.event])).toEqual([
      [0, a],
      [1, b],
      [2, c],
    ]);
    expect(records[1]!.json).toBe(JSON.stringify(b));
    expect(stats.skipped).toEqual({ [SkipReason.NOT_AN_OBJECT]: 1 });
  });

  it('skips blank, invalid and non-object lines, counting each by reason', async () => {
    // Prepare
    const [a, b] = [logEventFactory(), logEventFactory()];
    const lines = ['', a, '   ', '{"message": "torn', '42', '"text"', 'null', '[1, 2]', '[]', b, 'not json'];
    // Act
    const { records, stats } = await readAll(streamOf(gzipObject(lines)));
    // Assess
    expect(records.map((r) => [r.offset, r.event])).toEqual([
      [0, a],
      [1, b],
    ]);
    expect(stats).toMatchObject({
      lines: lines.length,
      records: 2,
      skipped: {
        [SkipReason.BLANK]: 2,
        [SkipReason.INVALID_JSON]: 2,
        [SkipReason.NOT_AN_OBJECT]: 5,
      },
    });
  });

  it('reads the last line of an object that does not end with a newline', async () => {
    // Prepare
    const events = [logEventFactory(), logEventFactory()];
    // Act
    const { records } = await readAll(streamOf(gzipSync(ndjson(events))));
    // Assess
    expect(records.map((r) => r.event)).toEqual(events);
  });

  it.each([
    { case: 'inside one chunk', maxLineBytes: 1_000, longBytes: 1_001 },
    { case: 'counted in UTF-8 bytes, not characters', maxLineBytes: 1_000, longBytes: 1_002, char: 'é' },
    { case: 'across chunks', maxLineBytes: 100_000, longBytes: 300_000 },
    { case: 'at the end of the object', maxLineBytes: 100_000, longBytes: 300_000, last: true },
  ])(
    'skips and counts a line over maxLineBytes $case, then reads on',
    async ({ maxLineBytes, longBytes, char = 'x', last = false }) => {
      // Prepare
      const prefix = '{"message":"';
      const suffix = '"}';
      const fill = longBytes - prefix.length - suffix.length;
      const longLine = `${prefix}${char.repeat(fill / Buffer.byteLength(char))}${suffix}`;
      expect(Buffer.byteLength(longLine)).toBe(longBytes);
      const [a, b] = [logEventFactory({ seq: 0 }), logEventFactory({ seq: 1 })];
      const lines = last ? [a, b, longLine] : [a, longLine, b];
      // Act
      const { records, stats, error } = await readAll(streamOf(gzipObject(lines), 4_096), maxLineBytes);
      // Assess
      expect(error).toBeUndefined();
      expect(records.map((r) => [r.offset, r.event])).toEqual([
        [0, a],
        [1, b],
      ]);
      expect(stats).toMatchObject({ lines: 3, records: 2, skipped: { [SkipReason.LINE_TOO_LONG]: 1 } });
    },
  );

  it('reads a line of exactly maxLineBytes', async () => {
    // Prepare
    const line = `{"message":"${'x'.repeat(1_000 - 14)}"}`;
    // Act
    const { records, stats } = await readAll(streamOf(gzipObject([line])), 1_000);
    // Assess
    expect(records).toHaveLength(1);
    expect(stats.skipped).toEqual({});
  });

  it.each([
    { case: 'plain NDJSON', body: Buffer.from('{"message":"hello"}\n') },
    { case: 'a zip archive', body: Buffer.from('PK\x03\x04rest-of-zip', 'latin1') },
    { case: 'the first magic byte then junk', body: Buffer.from([0x1f, 0x00, 0x01, 0x02]) },
    { case: 'an empty body', body: Buffer.alloc(0) },
  ])('refuses $case as not gzip with CorruptObjectError', async ({ body }) => {
    // Prepare
    // Act
    const { records, error } = await readAll(streamOf(body));
    // Assess
    expect(error).toBeInstanceOf(CorruptObjectError);
    expect((error as CorruptObjectError).code).toBe(ErrorCode.CORRUPT_OBJECT);
    expect(records).toEqual([]);
  });

  it('yields the records before a truncation, then fails with CorruptObjectError', async () => {
    // Prepare
    const events = manyEvents(4_000);
    const whole = gzipObject(events);
    const truncated = whole.subarray(0, Math.floor(whole.length / 2));
    // Act
    const { records, error } = await readAll(streamOf(truncated, 8_192));
    // Assess
    expect(error).toBeInstanceOf(CorruptObjectError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^The object's gzip stream is corrupt or truncated \\(Z_BUF_ERROR: .*\\) after ${records.length} records\\.$`,
      ),
    );
    expect(records.length).toBeGreaterThan(1_000);
    expect(records.length).toBeLessThan(events.length);
    expect(records.map((r) => r.json)).toEqual(jsonOf(events.slice(0, records.length)));
  });

  it('yields records from before the damage of a corrupt object, in order, then fails with CorruptObjectError', async () => {
    // Prepare
    const events = manyEvents(1_000);
    // Act
    const { records, error } = await readAll(streamOf(gzipObjectWithCorruptTail(events)));
    // Assess
    // zlib drops the output of the inflate call that hits the damage (at most one chunk),
    // so only a prefix of the sound part is guaranteed.
    expect(error).toBeInstanceOf(CorruptObjectError);
    expect((error as CorruptObjectError).cause).toMatchObject({ code: 'Z_DATA_ERROR' });
    expect(records.length).toBeGreaterThan(events.length / 2);
    expect(records.map((r) => r.json)).toEqual(jsonOf(events.slice(0, records.length)));
  });

  it('reads every member of a concatenated multi-member gzip', async () => {
    // Prepare
    const members = [manyEvents(500), [logEventFactory()], manyEvents(700)];
    const body = Buffer.concat(members.map((events) => gzipObject(events)));
    // Act
    const { records, error } = await readAll(streamOf(body, 10_000));
    // Assess
    expect(error).toBeUndefined();
    expect(records.map((r) => r.json)).toEqual(jsonOf(members.flat()));
    expect(records.map((r) => r.offset)).toEqual(members.flat().map((_, i) => i));
  });

  it.each([
    { case: 'missing', timestamp: undefined, expected: FALLBACK_MS },
    { case: 'not a time', timestamp: 'yesterday', expected: FALLBACK_MS },
    {
      case: 'RFC 3339',
      timestamp: '2024-01-15T10:30:00.250+01:00',
      expected: Date.parse('2024-01-15T09:30:00.250Z'),
    },
    { case: 'epoch seconds', timestamp: 1_705_314_600, expected: 1_705_314_600_000 },
  ])('uses the object time as the fallback when the timestamp is $case', async ({ timestamp, expected }) => {
    // Prepare
    const event = logEventFactory({ timestamp });
    // Act
    const { records } = await readAll(streamOf(gzipObject([event])));
    // Assess
    expect(records[0]!.timestampMs).toBe(expected);
  });

  it('yields small chunks whatever the object size, so memory stays bounded', async () => {
    // Prepare
    const line = { message: 'm'.repeat(70), seq: 0 };
    const lineBytes = JSON.stringify(line).length + 1;
    const count = Math.ceil((3 * 1024 * 1024) / lineBytes);
    const body = gzipObject(Array.from({ length: count }, (_, seq) => ({ ...line, seq })));
    // Act
    const { chunks, records } = await readAll(streamOf(body, 65_536));
    // Assess
    expect(records).toHaveLength(count);
    const largest = Math.max(...chunks.map((c) => c.length));
    expect(largest).toBeLessThanOrEqual(Math.ceil(INFLATED_CHUNK_BYTES / lineBytes) + 1);
  });

  it('destroys the body when the caller stops reading early', async () => {
    // Prepare
    const body = streamOf(gzipObject(manyEvents(1_000)), 4_096);
    const iterator = readObjectRecords(body, { fallbackMs: FALLBACK_MS, stats: emptyReadStats() });
    // Act
    const first = await iterator.next();
    await iterator.return(undefined);
    // Assess
    expect(first.done).toBe(false);
    expect(body.destroyed).toBe(true);
  });

  it('rethrows a failure of the body stream as is, not as a corrupt object', async () => {
    // Prepare
    const failure = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const whole = gzipObject(manyEvents(500));
    const body = new Readable({
      read() {
        this.push(whole.subarray(0, 10_000));
        this.destroy(failure);
      },
    });
    // Act
    const { error } = await readAll(body);
    // Assess
    expect(error).toBe(failure);
  });
});
