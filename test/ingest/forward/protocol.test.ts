import { gzipSync } from 'node:zlib';
import { encode, ExtData } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import {
  BadFrameReason,
  createFrameScanner,
  decodeEntry,
  encodeWithEventTime,
  eventTime,
  formatEventTime,
  ForwardMode,
  inflateEntries,
  MAX_NESTING_DEPTH,
  readEntries,
  readEventFrame,
  splitValues,
} from '../../../src/ingest/forward/protocol.js';
import { entryBytes, entryStream, fluentdRecord, forwardFrame, messageFrame, packedFrame } from './forward-client.js';

const SECONDS = 1_768_473_000; // 2026-01-15T10:30:00Z

/** `{"k": {"k": … {}}}`, `levels` maps deep. */
function nestedMaps(levels: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < levels - 1; i++) parts.push(Buffer.from([0x81, 0xa1, 0x6b]));
  parts.push(Buffer.from([0x80]));
  return Buffer.concat(parts);
}

describe('createFrameScanner', () => {
  it('finds the end of a nested message fed one byte at a time', () => {
    // Prepare
    const message = encode(['tag', [[SECONDS, fluentdRecord('team-a', { list: [1, 2, { deep: [] }], empty: {} })]], { chunk: 'c' }]);
    const scanner = createFrameScanner(1024 * 1024);
    const scans = [];

    // Act
    for (let n = 1; n <= message.length; n++) scans.push(scanner.scan(message.subarray(0, n)));

    // Assess
    expect(scans.slice(0, -1).every((s) => s.status === 'incomplete')).toBe(true);
    expect(scans.at(-1)).toEqual({ status: 'complete', bytes: message.length });
  });

  it('finds the first of two messages in one read', () => {
    // Prepare
    const first = encode(['a', SECONDS, { x: 'y' }]);
    const bytes = Buffer.concat([first, encode(null), encode(['b', SECONDS, {}])]);

    // Act
    const scan = createFrameScanner(1024).scan(bytes);

    // Assess
    expect(scan).toEqual({ status: 'complete', bytes: first.length });
  });

  it.each([
    ['nil (a heartbeat)', encode(null)],
    ['an empty array', encode([])],
    ['an empty map', encode({})],
    ['an EventTime', encodeWithEventTime(eventTime(SECONDS, 1))],
    ['a 70 KiB bin', encode(new Uint8Array(70 * 1024))],
  ])('takes %s as one complete value', (_case, bytes) => {
    // Act
    const scan = createFrameScanner(1024 * 1024).scan(bytes);

    // Assess
    expect(scan).toEqual({ status: 'complete', bytes: bytes.length });
  });

  it('refuses the never-used byte 0xc1, naming its offset', () => {
    // Act
    const scan = createFrameScanner(1024).scan(Buffer.from([0x93, 0xa1, 0x61, 0xc1]));

    // Assess
    expect(scan).toEqual({
      status: 'invalid',
      reason: BadFrameReason.MALFORMED_MSGPACK,
      message: 'Byte 0xc1 at offset 3 is never used in msgpack.',
    });
  });

  it(`refuses arrays nested deeper than ${MAX_NESTING_DEPTH} levels`, () => {
    // Act
    const scan = createFrameScanner(1024).scan(Buffer.alloc(MAX_NESTING_DEPTH + 2, 0x91));

    // Assess
    expect(scan).toMatchObject({ status: 'invalid', reason: BadFrameReason.MALFORMED_MSGPACK });
  });

  it('refuses a str whose declared length passes the limit before it arrives', () => {
    // Act
    const scan = createFrameScanner(1024).scan(Buffer.from([0x92, 0xda, 0x10, 0x00]));

    // Assess
    expect(scan).toEqual({
      status: 'invalid',
      reason: BadFrameReason.OVERSIZE,
      message: 'The message is larger than the 1024-byte limit (a str of 4096 bytes starts at offset 1).',
    });
  });
});

describe('readEventFrame', () => {
  it.each([
    ['Message with integer time', messageFrame('app.a', SECONDS, { m: 1 }), ForwardMode.MESSAGE],
    ['Message with EventTime', messageFrame('app.a', [SECONDS, 9], { m: 1 }), ForwardMode.MESSAGE],
    ['Message with float time', encode(['app.a', SECONDS + 0.5, { m: 1 }]), ForwardMode.MESSAGE],
    ['Forward', forwardFrame('app.a', [[SECONDS, { m: 1 }]]), ForwardMode.FORWARD],
    ['PackedForward (bin)', packedFrame('app.a', entryBytes(SECONDS, { m: 1 }), 'bin'), ForwardMode.PACKED_FORWARD],
    ['PackedForward (str)', packedFrame('app.a', entryBytes(SECONDS, { m: 1 }), 'str'), ForwardMode.PACKED_FORWARD],
    [
      'CompressedPackedForward',
      packedFrame('app.a', gzipSync(entryBytes(SECONDS, { m: 1 })), 'bin', { compressed: 'gzip' }),
      ForwardMode.COMPRESSED_PACKED_FORWARD,
    ],
  ])('tells a %s message by its second element', (_case, frame, mode) => {
    // Act
    const result = readEventFrame(frame);

    // Assess
    expect(result).toMatchObject({ ok: true, mode, tag: 'app.a' });
  });

  it('keeps a str-packed entry stream as bytes, never decoding it as UTF-8', () => {
    // Prepare: uint32 and float64 times put bytes ≥ 0x80 in the stream, which UTF-8 would mangle
    const stream = entryStream([entryBytes(0xfffffff0, { a: 1 }), encode([SECONDS + 0.25, { b: 2 }])]);

    // Act
    const result = readEventFrame(packedFrame('app.a', stream, 'str', { chunk: 'c1' }));

    // Assess
    expect(result).toMatchObject({ ok: true, mode: ForwardMode.PACKED_FORWARD, option: { chunk: 'c1' } });
    expect(Buffer.from((result as { entries: Uint8Array }).entries)).toEqual(stream);
  });

  it('reads the chunk, compressed and size options and ignores others', () => {
    // Act
    const result = readEventFrame(
      packedFrame('t', gzipSync(entryBytes(SECONDS, {})), 'bin', { chunk: 'abc', compressed: 'gzip', size: 1, eventEntryDataSize: 9 }),
    );

    // Assess
    expect(result).toMatchObject({ ok: true, option: { chunk: 'abc', compressed: 'gzip', size: 1 } });
    expect((result as { option: object }).option).not.toHaveProperty('eventEntryDataSize');
  });

  it('takes nil as a heartbeat', () => {
    // Act
    const result = readEventFrame(encode(null));

    // Assess
    expect(result).toEqual({ ok: true, mode: 'heartbeat' });
  });

  it.each([
    ['a number', encode(42), BadFrameReason.NOT_AN_ARRAY, 'The message must be a msgpack array, not an integer.'],
    ['JSON text', Buffer.from('[1,2]'), BadFrameReason.NOT_AN_ARRAY, /starts like JSON/],
    ['an HTTP request', Buffer.from('POST / HTTP/1.1\r\n'), BadFrameReason.NOT_AN_ARRAY, /HTTP request/],
    ['a bin tag', encode([new Uint8Array([1]), SECONDS, {}]), BadFrameReason.WRONG_TYPE, 'The tag must be a str, not a bin.'],
    ['a boolean second element', encode(['t', true]), BadFrameReason.WRONG_TYPE, /not a boolean/],
    ['a Message without record', encode(['t', SECONDS]), BadFrameReason.WRONG_TYPE, /\[tag, time, record, option\?\]/],
    ['a Forward with four elements', encode(['t', [], {}, {}]), BadFrameReason.WRONG_TYPE, /\[tag, entries, option\?\]/],
    ['five elements', encode(['t', SECONDS, {}, {}, {}]), BadFrameReason.WRONG_TYPE, /2 to 4 elements, not 5/],
    ['an array option', encode(['t', [], []]), BadFrameReason.WRONG_TYPE, 'The option must be a map, not an array.'],
  ])('refuses %s', (_case, frame, reason, message) => {
    // Act
    const result = readEventFrame(frame);

    // Assess
    expect(result).toMatchObject({ ok: false, reason });
    if (typeof message === 'string') expect((result as { message: string }).message).toBe(message);
    else expect((result as { message: string }).message).toMatch(message);
  });

  it('carries a Message-mode record that is not a map as an unusable entry, not a bad frame', () => {
    // Act
    const result = readEventFrame(encode(['t', SECONDS, 'text']));

    // Assess
    expect(result).toMatchObject({
      ok: true,
      mode: ForwardMode.MESSAGE,
      entry: { ok: false, message: "The entry's record must be a map, not a string." },
    });
  });
});

describe('decodeEntry', () => {
  it('reads an EventTime to the nanosecond', () => {
    // Act
    const result = decodeEntry(entryBytes([SECONDS, 123_456_789], { a: 1 }));

    // Assess
    expect(result).toMatchObject({ ok: true, entry: { time: { seconds: SECONDS, nanoseconds: 123_456_789 }, record: { a: 1 } } });
  });

  it.each([
    ['integer seconds', SECONDS, { seconds: SECONDS, nanoseconds: 0 }],
    ['float seconds', SECONDS + 0.5, { seconds: SECONDS, nanoseconds: 500_000_000 }],
    ['[EventTime, metadata] (protocol v1.5)', [eventTime(SECONDS, 7), { otlp: {} }], { seconds: SECONDS, nanoseconds: 7 }],
  ])('reads a time given as %s', (_case, time, expected) => {
    // Act
    const result = decodeEntry(encodeWithEventTime([time, { a: 1 }]));

    // Assess
    expect(result).toMatchObject({ ok: true, entry: { time: expected } });
  });

  it('turns bin values and keys into text, a nested EventTime into RFC 3339 and other ext into base64', () => {
    // Prepare: a map built by hand, since a bin key has no JavaScript object form
    const text = (t: string) => new TextEncoder().encode(t);
    const pairs: unknown[] = [
      'log', text('héllo'),
      text('binkey'), 'v',
      'at', eventTime(SECONDS, 1),
      'ext', new ExtData(5, new Uint8Array([1, 2, 3])),
      'nested', { list: [text('x')] },
    ];
    const record = Buffer.concat([Buffer.from([0x80 | (pairs.length / 2)]), ...pairs.map((p) => encodeWithEventTime(p))]);

    // Act
    const result = decodeEntry(Buffer.concat([Buffer.from([0x92]), encode(SECONDS), record]));

    // Assess
    expect(result).toEqual({
      ok: true,
      entry: {
        time: { seconds: SECONDS, nanoseconds: 0 },
        record: { log: 'héllo', binkey: 'v', at: '2026-01-15T10:30:00.000000001Z', ext: 'AQID', nested: { list: ['x'] } },
      },
    });
  });

  it.each([
    ['not an array', encode({ a: 1 }), 'An entry must be an array [time, record], not a map.'],
    ['a one-element array', encode([SECONDS]), 'An entry must be an array [time, record], not an array.'],
    ['a string time', encode(['now', {}]), "The entry's time must be an EventTime or a number of seconds, not a string."],
    ['a negative time', encode([-1, {}]), "The entry's time -1 is not a usable epoch second."],
    ['a record that is a list', encode([SECONDS, [1]]), "The entry's record must be a map, not an array."],
    ['a __proto__ key', Buffer.from([0x92, 0x01, 0x81, 0xa9, ...Buffer.from('__proto__'), 0x01]), /cannot be decoded/],
    ['an EventTime of 4 bytes', Buffer.from([0x92, 0xd6, 0x00, 0, 0, 0, 1, 0x80]), /cannot be decoded/],
    ['an array claiming 2^32-1 elements in 5 bytes', Buffer.from([0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff]), /truncated/],
    ['maps nested 65 deep', Buffer.concat([Buffer.from([0x92, 0x01]), nestedMaps(65)]), /nest deeper than 64 levels/],
  ])('refuses an entry that is %s', (_case, bytes, message) => {
    // Act
    const result = decodeEntry(bytes);

    // Assess
    expect(result.ok).toBe(false);
    if (typeof message === 'string') expect((result as { message: string }).message).toBe(message);
    else expect((result as { message: string }).message).toMatch(message);
  });
});

describe('readEntries', () => {
  it('skips an entry that cannot be decoded and reads the ones after it', () => {
    // Prepare: the middle entry has a __proto__ key, which is refused, but its end is known
    const proto = Buffer.from([0x92, 0x01, 0x81, 0xa9, ...Buffer.from('__proto__'), 0x01]);
    const stream = entryStream([entryBytes(SECONDS, { a: 1 }), proto, entryBytes(SECONDS, { c: 3 })]);

    // Act
    const entries = readEntries(stream);
    const results = [...entries];

    // Assess
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect(results[2]).toMatchObject({ ok: true, entry: { record: { c: 3 } } });
    expect(entries.count).toBe(3);
    expect(entries.problem).toBeUndefined();
  });

  it('stops with a problem when the stream ends inside an entry', () => {
    // Prepare
    const stream = Buffer.concat([entryBytes(SECONDS, { a: 1 }), entryBytes(SECONDS, { b: 2 }).subarray(0, 6)]);

    // Act
    const entries = readEntries(stream);
    const results = [...entries];

    // Assess
    expect(results).toHaveLength(1);
    expect(entries.problem).toEqual({
      ok: false,
      reason: BadFrameReason.BAD_ENTRY_STREAM,
      message: 'The entry stream is broken after 1 entries: it ends inside a value',
    });
  });

  it('decodes an entry only when the caller gets to it', () => {
    // Prepare
    const entries = readEntries(entryStream([entryBytes(SECONDS, { a: 1 }), entryBytes(SECONDS, { b: 2 })]));
    const iterator = entries[Symbol.iterator]();

    // Act
    iterator.next();

    // Assess
    expect(entries.count).toBe(1);
  });
});

describe('splitValues', () => {
  it('splits an entry stream into its entries', () => {
    // Prepare
    const entries = [entryBytes(SECONDS, { a: 1 }), entryBytes([SECONDS, 1], { b: 'x'.repeat(300) }), entryBytes(SECONDS, {})];

    // Act
    const result = splitValues(entryStream(entries));

    // Assess
    expect(result).toEqual({ ok: true, values: entries.map((e) => Buffer.from(e)) });
  });

  it('refuses a stream that ends inside an entry', () => {
    // Act
    const result = splitValues(Buffer.concat([entryBytes(SECONDS, { a: 1 }), Buffer.from([0x92, 0x01])]));

    // Assess
    expect(result).toEqual({
      ok: false,
      reason: BadFrameReason.BAD_ENTRY_STREAM,
      message: 'The entry stream is broken after 1 entries: it ends inside a value',
    });
  });
});

describe('inflateEntries', () => {
  it('reads every member of concatenated gzip members', async () => {
    // Prepare
    const a = entryBytes(SECONDS, { a: 1 });
    const b = entryBytes(SECONDS, { b: 2 });

    // Act
    const result = await inflateEntries(Buffer.concat([gzipSync(a), gzipSync(b)]), 1024);

    // Assess
    expect(result).toEqual({ ok: true, bytes: Buffer.concat([a, b]) });
  });

  it('stops at the size limit instead of growing the buffer', async () => {
    // Act
    const result = await inflateEntries(gzipSync(Buffer.alloc(1024 * 1024)), 64 * 1024);

    // Assess
    expect(result).toEqual({
      ok: false,
      reason: BadFrameReason.DECOMPRESSED_OVERSIZE,
      message: 'The entries are larger than the 65536-byte limit once gunzipped.',
    });
  });

  it('refuses bytes that are not gzip', async () => {
    // Act
    const result = await inflateEntries(Buffer.from('plain'), 1024);

    // Assess
    expect(result).toMatchObject({ ok: false, reason: BadFrameReason.BAD_GZIP });
  });
});

describe('formatEventTime', () => {
  it.each([
    [{ seconds: SECONDS, nanoseconds: 0 }, '2026-01-15T10:30:00.000000000Z'],
    [{ seconds: SECONDS, nanoseconds: 5 }, '2026-01-15T10:30:00.000000005Z'],
    [{ seconds: SECONDS + 61, nanoseconds: 999_999_999 }, '2026-01-15T10:31:01.999999999Z'],
    [{ seconds: 0, nanoseconds: 1_000 }, '1970-01-01T00:00:00.000001000Z'],
  ])('formats %o as %s', (time, expected) => {
    // Act
    const text = formatEventTime(time);

    // Assess
    expect(text).toBe(expected);
  });
});
