import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeliveryError, type LogRecord } from '../../src/domain/index.js';
import {
  createNdjsonRecordPlanner,
  fitLine,
  type NdjsonRecordLimits,
  type NdjsonRecordsPayload,
  partialRetryOf,
  retryBatchOf,
} from '../../src/sinks/ndjson-records.js';
import type { Batch } from '../../src/sinks/types.js';
import { logEventFactory } from '../helpers/factories.js';

/** `{"message":"…"}` is 14 bytes around the message. */
const MESSAGE_JSON_OVERHEAD = 14;
const MARKER = /…\[truncated by tlr: \d+ bytes\]$/;

function recordOf(offset: number, event: Record<string, unknown>): LogRecord {
  return { offset, timestampMs: 0, event, json: JSON.stringify(event) };
}

/** A record whose JSON line is exactly `bytes` long (ASCII). */
function lineOf(offset: number, bytes: number): LogRecord {
  const seq = String(offset);
  return recordOf(offset, { message: seq.padEnd(bytes - MESSAGE_JSON_OVERHEAD, 'x') });
}

function planAll(
  records: readonly LogRecord[],
  limits: NdjsonRecordLimits,
  recordOverheadBytes = 0,
): Batch<NdjsonRecordsPayload>[] {
  const planner = createNdjsonRecordPlanner<NdjsonRecordsPayload>({
    limits,
    recordOverheadBytes,
    toPayload: (r) => ({ records: r }),
  });
  return [...records.flatMap((r) => planner.add(r)), ...planner.flush()];
}

const text = (data: Uint8Array) => Buffer.from(data).toString('utf8');

/** Every rule a plan must keep, whatever the input. */
function expectValidPlan(
  batches: readonly Batch<NdjsonRecordsPayload>[],
  records: readonly LogRecord[],
  limits: NdjsonRecordLimits,
  overhead: number,
): void {
  expect(batches[0]?.firstOffset).toBe(records[0]?.offset);
  for (let i = 1; i < batches.length; i++) expect(batches[i]!.firstOffset).toBe(batches[i - 1]!.lastOffset + 1);
  expect(batches.at(-1)?.lastOffset).toBe(records.at(-1)?.offset);
  for (const batch of batches) {
    const { records: sent } = batch.payload;
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThanOrEqual(limits.maxRecordsPerRequest);
    expect(batch.bytes).toBe(sent.reduce((n, r) => n + r.data.length + overhead, 0));
    expect(batch.bytes).toBeLessThanOrEqual(limits.maxRequestBytes);
    expect(batch.count).toBe(sent.reduce((n, r) => n + r.lines, 0));
    for (const record of sent) {
      expect(record.bytes).toBe(record.data.length + overhead);
      expect(record.bytes).toBeLessThanOrEqual(limits.maxRecordBytes);
      expect(text(record.data).endsWith('\n')).toBe(true);
      expect(text(record.data).split('\n')).toHaveLength(record.lines + 1);
    }
  }
  expect(batches.reduce((n, b) => n + b.count, 0)).toBe(records.length);
}

describe('createNdjsonRecordPlanner', () => {
  describe.each([
    {
      name: 'joins 99-byte lines ten to a 1,000-byte record',
      limits: { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 10_000 },
      overhead: 0,
      lines: 25,
      lineBytes: 99,
      linesPerRecord: [[10, 10, 5]],
    },
    {
      name: 'counts the per-record overhead (a partition key) against the record size',
      limits: { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 10_000 },
      overhead: 100,
      lines: 25,
      lineBytes: 99,
      linesPerRecord: [[9, 9, 7]],
    },
    {
      name: 'cuts requests at 500 records',
      limits: { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 10_000_000 },
      overhead: 0,
      lines: 1_201,
      lineBytes: 999,
      linesPerRecord: [Array(500).fill(1), Array(500).fill(1), Array(201).fill(1)],
    },
    {
      name: 'cuts requests at the request byte cap',
      limits: { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 3_000 },
      overhead: 0,
      lines: 10,
      lineBytes: 999,
      linesPerRecord: [[1, 1, 1], [1, 1, 1], [1, 1, 1], [1]],
    },
    {
      name: 'counts the per-record overhead against the request byte cap',
      limits: { maxRecordBytes: 1_100, maxRecordsPerRequest: 500, maxRequestBytes: 3_000 },
      overhead: 100,
      lines: 5,
      lineBytes: 999,
      linesPerRecord: [[1, 1], [1, 1], [1]],
    },
    {
      name: 'fills a record to its exact size',
      limits: { maxRecordBytes: 1_000, maxRecordsPerRequest: 2, maxRequestBytes: 2_000 },
      overhead: 0,
      lines: 6,
      lineBytes: 499,
      linesPerRecord: [[2, 2], [2]],
    },
  ])('$name', ({ limits, overhead, lines, lineBytes, linesPerRecord }) => {
    it(`plans ${lines} lines of ${lineBytes} bytes as ${linesPerRecord.length} request(s) within the limits`, () => {
      // Prepare
      const records = Array.from({ length: lines }, (_, i) => lineOf(i, lineBytes));

      // Act
      const batches = planAll(records, limits, overhead);

      // Assess
      expect(batches.map((b) => b.payload.records.map((r) => r.lines))).toEqual(linesPerRecord);
      expectValidPlan(batches, records, limits, overhead);
      const sent = batches.flatMap((b) => b.payload.records.map((r) => text(r.data))).join('');
      expect(sent).toBe(records.map((r) => `${r.json}\n`).join(''));
    });
  });

  it('returns a full request from add as soon as it holds 500 records', () => {
    // Prepare
    const planner = createNdjsonRecordPlanner<NdjsonRecordsPayload>({
      limits: { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 10_000_000 },
      toPayload: (r) => ({ records: r }),
    });

    // Act: the 501st line seals the 500th record, which fills the request.
    const closed = Array.from({ length: 501 }, (_, i) => planner.add(lineOf(i, 999)));

    // Assess
    expect(closed.slice(0, 500).every((c) => c.length === 0)).toBe(true);
    expect(closed[500]!.map((b) => [b.firstOffset, b.lastOffset, b.payload.records.length])).toEqual([[0, 499, 500]]);
    expect(planner.flush().map((b) => [b.firstOffset, b.lastOffset])).toEqual([[500, 500]]);
    expect(planner.flush()).toEqual([]);
  });

  it('cuts a line longer than a record and reports the bytes removed', () => {
    // Prepare
    const cut: number[] = [];
    const planner = createNdjsonRecordPlanner<NdjsonRecordsPayload>({
      limits: { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 10_000 },
      recordOverheadBytes: 10,
      toPayload: (r) => ({ records: r }),
      onTruncated: (bytes) => cut.push(bytes),
    });

    // Act
    const batches = [...planner.add(lineOf(0, 5_000)), ...planner.flush()];

    // Assess
    const [record] = batches[0]!.payload.records;
    expect(record!.bytes).toBeLessThanOrEqual(1_000);
    expect((JSON.parse(text(record!.data)) as { message: string }).message).toMatch(MARKER);
    expect(cut).toHaveLength(1);
    expect(cut[0]).toBe(5_000 - (record!.data.length - 1));
  });

  it.each([
    { name: 'a record too small for a cut line', limits: { maxRecordBytes: 300, maxRecordsPerRequest: 1, maxRequestBytes: 300 }, overhead: 100 },
    { name: 'a request smaller than a record', limits: { maxRecordBytes: 2_000, maxRecordsPerRequest: 500, maxRequestBytes: 1_000 }, overhead: 0 },
    { name: 'no records per request', limits: { maxRecordBytes: 2_000, maxRecordsPerRequest: 0, maxRequestBytes: 4_000 }, overhead: 0 },
  ])('refuses limits with $name', ({ limits, overhead }) => {
    // Prepare
    // Act
    const create = () =>
      createNdjsonRecordPlanner({ limits, recordOverheadBytes: overhead, toPayload: (r) => ({ records: r }) });

    // Assess
    expect(create).toThrow(RangeError);
  });

  it('keeps every limit and every line, in order, for any line sizes and limits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: MESSAGE_JSON_OVERHEAD + 8, max: 3_000 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 600, max: 2_000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 200 }),
        (sizes, maxRecordBytes, maxRecordsPerRequest, recordsPerRequestBytes, overhead) => {
          // Prepare
          const limits = { maxRecordBytes, maxRecordsPerRequest, maxRequestBytes: maxRecordBytes * recordsPerRequestBytes };
          const records = sizes.map((bytes, i) => lineOf(i, bytes));

          // Act
          const batches = planAll(records, limits, overhead);

          // Assess
          expectValidPlan(batches, records, limits, overhead);
          const lines = batches.flatMap((b) => b.payload.records.flatMap((r) => text(r.data).split('\n').slice(0, -1)));
          expect(lines.map((l) => (JSON.parse(l) as { message: string }).message.split('x')[0])).toEqual(
            records.map((r) => String(r.offset)),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('fitLine', () => {
  const bigEvent = logEventFactory({ message: 'm'.repeat(10_000) });

  it.each([
    { name: 'a line that fits, unchanged', event: logEventFactory(), maxBytes: 10_000, cutField: undefined },
    { name: 'a long ASCII message', event: bigEvent, maxBytes: 1_000, cutField: 'message' },
    { name: 'a message of quotes and newlines that JSON escapes', event: { message: '"\n'.repeat(5_000), level: 'info' }, maxBytes: 1_000, cutField: 'message' },
    { name: 'a message of control characters escaped six-fold', event: { message: '\u0001'.repeat(5_000) }, maxBytes: 600, cutField: 'message' },
    { name: 'a multi-byte message', event: { message: '😀é'.repeat(3_000) }, maxBytes: 777, cutField: 'message' },
    { name: 'an event without a message', event: { log: 'l'.repeat(5_000), level: 'warn' }, maxBytes: 1_000, cutField: 'wrapped' },
    { name: 'an event whose message is an object', event: { message: { text: 't'.repeat(5_000) } }, maxBytes: 1_000, cutField: 'wrapped' },
    { name: 'an event whose other fields alone are too large', event: { message: 'short', stack: 's'.repeat(5_000) }, maxBytes: 1_000, cutField: 'wrapped' },
  ])('fits $name into valid JSON of at most maxBytes', ({ event, maxBytes, cutField }) => {
    // Prepare
    const record = recordOf(0, event);

    // Act
    const { line, bytesRemoved } = fitLine(record, maxBytes);

    // Assess
    const bytes = Buffer.byteLength(line, 'utf8');
    expect(bytes).toBeLessThanOrEqual(maxBytes);
    expect(line).not.toContain('\uFFFD');
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (cutField === undefined) {
      expect([line, bytesRemoved]).toEqual([record.json, 0]);
      return;
    }
    expect(bytesRemoved).toBe(Buffer.byteLength(record.json, 'utf8') - bytes);
    expect(parsed['message']).toMatch(MARKER);
    // A cut line keeps most of the room: it is not cut far below the limit.
    expect(bytes).toBeGreaterThan(maxBytes - 64);
    if (cutField === 'message') {
      expect({ ...parsed, message: undefined }).toEqual({ ...event, message: undefined });
      const kept = (parsed['message'] as string).replace(MARKER, '');
      expect((event['message'] as string).startsWith(kept)).toBe(true);
      // The marker names the UTF-8 bytes of the message that were cut.
      const named = Number(/truncated by tlr: (\d+) bytes/.exec(parsed['message'] as string)![1]);
      expect(named).toBe(Buffer.byteLength(event['message'] as string) - Buffer.byteLength(kept));
    } else {
      expect(Object.keys(parsed)).toEqual(['message']);
      expect(record.json.startsWith((parsed['message'] as string).replace(MARKER, ''))).toBe(true);
    }
  });
});

describe('retryBatchOf', () => {
  it('keeps the offsets and holds only the failed records, counting their lines and bytes', () => {
    // Prepare
    const limits = { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 100_000 };
    const [batch] = planAll(Array.from({ length: 50 }, (_, i) => lineOf(i, 99)), limits, 20);

    // Act
    const retry = retryBatchOf(batch!, [1, 3]);

    // Assess
    expect([retry.firstOffset, retry.lastOffset]).toEqual([batch!.firstOffset, batch!.lastOffset]);
    expect(retry.payload.records).toEqual([batch!.payload.records[1], batch!.payload.records[3]]);
    expect(retry.count).toBe(batch!.payload.records[1]!.lines + batch!.payload.records[3]!.lines);
    expect(retry.bytes).toBe(batch!.payload.records[1]!.bytes + batch!.payload.records[3]!.bytes);
  });
});

describe('partialRetryOf', () => {
  const limits = { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 100_000 };
  const [batch] = planAll(Array.from({ length: 40 }, (_, i) => lineOf(i, 99)), limits);
  const toError = (code: string, failed: number) =>
    new DeliveryError(`${failed} refused (${code})`, { retryable: code !== 'Denied', reason: code.toLowerCase() });

  it('reports nothing when every record was accepted', () => {
    // Prepare
    // Act
    const result = partialRetryOf(batch!, [], toError);

    // Assess
    expect(result).toBeUndefined();
  });

  it('asks to send again only the refused records, with the error of the first code', () => {
    // Prepare
    const failures = [
      { index: 0, code: 'Throttled' },
      { index: 2, code: 'Internal' },
      { index: 3, code: 'Throttled' },
    ];

    // Act
    const result = partialRetryOf(batch!, failures, toError);

    // Assess
    expect(result!.retry!.payload.records).toEqual([0, 2, 3].map((i) => batch!.payload.records[i]));
    expect(result!.retryError).toMatchObject({ retryable: true, reason: 'throttled', message: '3 refused (Throttled)' });
  });

  it('fails the whole batch, not retryable, when a refused record has a permanent code', () => {
    // Prepare
    const failures = [
      { index: 0, code: 'Throttled' },
      { index: 1, code: 'Denied' },
    ];

    // Act
    const run = () => partialRetryOf(batch!, failures, toError);

    // Assess
    expect(run).toThrow(DeliveryError);
    expect(run).toThrow(expect.objectContaining({ retryable: false, reason: 'denied' }) as Error);
  });
});
