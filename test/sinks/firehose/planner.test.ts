import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../../../src/domain/index.js';
import { createFirehosePlanner, defaultFirehoseLimits, type FirehosePayload } from '../../../src/sinks/firehose/index.js';
import type { Batch } from '../../../src/sinks/types.js';

/** `{"message":"…"}` is 14 bytes around the message. */
const MESSAGE_JSON_OVERHEAD = 14;

/** A record whose JSON line is exactly `bytes` long. */
function lineOf(offset: number, bytes: number): LogRecord {
  const event = { message: String(offset).padEnd(bytes - MESSAGE_JSON_OVERHEAD, 'x') };
  return { offset, timestampMs: 0, event, json: JSON.stringify(event) };
}

function planAll(records: readonly LogRecord[], limits = defaultFirehoseLimits()): Batch<FirehosePayload>[] {
  const planner = createFirehosePlanner('tenant-logs', { limits });
  return [...records.flatMap((r) => planner.add(r)), ...planner.flush()];
}

describe('createFirehosePlanner', () => {
  it.each([
    // A line takes its bytes plus a newline.
    { name: 'joins small lines into one record', lines: 3_000, lineBytes: 99, limits: {}, recordsPerRequest: [1], linesPerRecord: 3_000 },
    { name: 'fills records to 1,000 KiB', lines: 30_000, lineBytes: 99, limits: {}, recordsPerRequest: [3], linesPerRecord: 10_240 },
    { name: 'cuts requests at 4 MiB', lines: 10, lineBytes: 512_000, limits: {}, recordsPerRequest: [8, 2], linesPerRecord: 1 },
    { name: 'cuts requests at 500 records', lines: 1_001, lineBytes: 1_100, limits: { maxRecordBytes: 2_048 }, recordsPerRequest: [500, 500, 1], linesPerRecord: 1 },
    { name: 'cuts requests at a lowered byte cap', lines: 20, lineBytes: 1_100, limits: { maxRecordBytes: 2_048, maxRequestBytes: 8_192 }, recordsPerRequest: [7, 7, 6], linesPerRecord: 1 },
  ])('$name', ({ lines, lineBytes, limits, recordsPerRequest, linesPerRecord }) => {
    // Prepare
    const records = Array.from({ length: lines }, (_, i) => lineOf(i, lineBytes));

    // Act
    const batches = planAll(records, { ...defaultFirehoseLimits(), ...limits });

    // Assess
    expect(batches.map((b) => b.payload.records.length)).toEqual(recordsPerRequest);
    expect(batches[0]!.payload.records[0]!.lines).toBe(linesPerRecord);
    expect(batches.every((b) => b.payload.deliveryStreamName === 'tenant-logs')).toBe(true);
    expect(batches.reduce((n, b) => n + b.count, 0)).toBe(lines);
    // No overhead per record: a record's size is its data.
    expect(batches.every((b) => b.payload.records.every((r) => r.bytes === r.data.length))).toBe(true);
    const data = batches.flatMap((b) => b.payload.records.map((r) => Buffer.from(r.data).toString('utf8'))).join('');
    expect(data).toBe(records.map((r) => `${r.json}\n`).join(''));
  });
});
