import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type LogObjectKey, type LogRecord, parseObjectKey } from '../../../src/domain/index.js';
import {
  type CloudwatchLimits,
  defaultCloudwatchLimits,
  EVENT_OVERHEAD_BYTES,
  LEGACY_MAX_EVENT_BYTES,
  MAX_AGE_MS,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_EVENT_BYTES,
  MAX_FUTURE_MS,
  MAX_SPAN_MS,
} from '../../../src/sinks/cloudwatch/config.js';
import {
  CLOUDWATCH_DROPPED_METRIC,
  CLOUDWATCH_TRUNCATED_METRIC,
  type CloudwatchPayload,
  createCloudwatchPlanner,
  logStreamNameFor,
  truncateMessage,
  truncationMarker,
} from '../../../src/sinks/cloudwatch/planner.js';
import type { Batch } from '../../../src/sinks/types.js';
import { objectKeyFactory, randomId } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const NOW_MS = Date.UTC(2024, 0, 15, 12);
const STREAM = 'pod-0';

/** A record whose message is `message`, at `timestampMs`. */
function recordOf(offset: number, timestampMs: number, message: string): LogRecord {
  const event = { message, timestamp: new Date(timestampMs).toISOString() };
  return { offset, timestampMs, event, json: JSON.stringify(event) };
}

/** `count` records of `messageBytes`-byte ASCII messages, all at `timestampMs`. */
function recordsOf(count: number, messageBytes: number, timestampMs = NOW_MS, first = 0): LogRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const seq = String(first + i);
    return recordOf(first + i, timestampMs, seq.padEnd(messageBytes, 'x'));
  });
}

function planAll(
  records: readonly LogRecord[],
  options: { limits?: CloudwatchLimits; registry?: Registry; nowMs?: number } = {},
): Batch<CloudwatchPayload>[] {
  const planner = createCloudwatchPlanner(STREAM, {
    registry: options.registry ?? new Registry(),
    now: () => options.nowMs ?? NOW_MS,
    ...(options.limits !== undefined && { limits: options.limits }),
  });
  return [...records.flatMap((r) => planner.add(r)), ...planner.flush()];
}

/** The size of a request as CloudWatch counts it. */
function requestBytes(events: readonly { message: string }[]): number {
  return events.reduce((n, e) => n + Buffer.byteLength(e.message, 'utf8') + EVENT_OVERHEAD_BYTES, 0);
}

function isSortedByTime(events: readonly { timestamp: number }[]): boolean {
  return events.every((e, i) => i === 0 || events[i - 1]!.timestamp <= e.timestamp);
}

/** Offsets of the batches follow each other with no gap and end at the last record. */
function expectContiguousOffsets(batches: readonly Batch[], records: readonly LogRecord[]): void {
  expect(batches[0]?.firstOffset).toBe(records[0]?.offset);
  for (let i = 1; i < batches.length; i++) expect(batches[i]!.firstOffset).toBe(batches[i - 1]!.lastOffset + 1);
  expect(batches.at(-1)?.lastOffset).toBe(records.at(-1)?.offset);
}

describe('createCloudwatchPlanner', () => {
  describe('request size', () => {
    it('fits 8,322 events of 100-byte messages in one request at the 1,048,576-byte cap', () => {
      // Prepare: 8,322 × (100 + 26) = 1,048,572 bytes.
      const records = recordsOf(8_322, 100);

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches).toHaveLength(1);
      expect(batches[0]!.count).toBe(8_322);
      expect(batches[0]!.bytes).toBe(1_048_572);
      expect(requestBytes(batches[0]!.payload.events)).toBe(1_048_572);
    });

    it('needs two requests for 8,323 events of 100-byte messages', () => {
      // Prepare: 8,323 × 126 = 1,048,698 bytes > 1,048,576.
      const records = recordsOf(8_323, 100);

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches.map((b) => b.count)).toEqual([8_322, 1]);
      for (const batch of batches) expect(requestBytes(batch.payload.events)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      expectContiguousOffsets(batches, records);
    });

    it('counts message bytes in UTF-8, not in UTF-16 code units', () => {
      // Prepare: '€' is 3 UTF-8 bytes; 2,000 of them + 26 = 6,026 bytes per event.
      const message = '€'.repeat(2_000);
      const perEvent = Buffer.byteLength(message) + EVENT_OVERHEAD_BYTES;
      const fit = Math.floor(MAX_BATCH_BYTES / perEvent);
      const records = Array.from({ length: fit + 1 }, (_, i) => recordOf(i, NOW_MS, message));

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches.map((b) => b.count)).toEqual([fit, 1]);
      expect(batches[0]!.bytes).toBe(fit * perEvent);
    });

    it('keeps the configured safety margin free under the request cap', () => {
      // Prepare
      const limits = { ...defaultCloudwatchLimits(), safetyMarginBytes: 126 * 100 };
      const records = recordsOf(8_322, 100);

      // Act
      const batches = planAll(records, { limits });

      // Assess
      expect(batches.map((b) => b.count)).toEqual([8_222, 100]);
      expect(batches[0]!.bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES - 126 * 100);
    });
  });

  describe('event count', () => {
    it('needs two requests for 10,001 ten-byte events', () => {
      // Prepare
      const records = recordsOf(10_001, 10);

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches.map((b) => b.count)).toEqual([MAX_BATCH_EVENTS, 1]);
      expectContiguousOffsets(batches, records);
    });

    it('fits exactly 10,000 ten-byte events in one request', () => {
      // Prepare
      const records = recordsOf(10_000, 10);

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches.map((b) => b.count)).toEqual([10_000]);
    });
  });

  describe('time span', () => {
    it('splits events spread over 30 hours where the request would span more than 24 h', () => {
      // Prepare: one event per hour from now − 30 h to now.
      const startMs = NOW_MS - 30 * HOUR_MS;
      const records = Array.from({ length: 31 }, (_, i) => recordOf(i, startMs + i * HOUR_MS, `hour ${i}`));

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches.map((b) => b.count)).toEqual([25, 6]);
      for (const batch of batches) {
        const times = batch.payload.events.map((e) => e.timestamp);
        expect(Math.max(...times) - Math.min(...times)).toBeLessThanOrEqual(MAX_SPAN_MS);
      }
      expect(batches[1]!.payload.events[0]!.timestamp).toBe(startMs + 25 * HOUR_MS);
    });

    it('keeps a request spanning exactly 24 h whole', () => {
      // Prepare
      const records = [recordOf(0, NOW_MS - DAY_MS, 'first'), recordOf(1, NOW_MS, 'last')];

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches.map((b) => b.count)).toEqual([2]);
    });

    it('cuts on the span of the whole request when events arrive out of order', () => {
      // Prepare: the third event is within 24 h of the second but 25 h before the first.
      const records = [
        recordOf(0, NOW_MS, 'a'),
        recordOf(1, NOW_MS - 20 * HOUR_MS, 'b'),
        recordOf(2, NOW_MS - 25 * HOUR_MS, 'c'),
      ];

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches.map((b) => b.count)).toEqual([2, 1]);
    });
  });

  describe('ordering and offsets', () => {
    it('sorts the events of each request by timestamp, keeping object order for equal times', () => {
      // Prepare
      const records = [
        recordOf(0, NOW_MS + 3, 'third'),
        recordOf(1, NOW_MS + 1, 'first-a'),
        recordOf(2, NOW_MS + 2, 'second'),
        recordOf(3, NOW_MS + 1, 'first-b'),
      ];

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches[0]!.payload.events.map((e) => e.message)).toEqual(['first-a', 'first-b', 'second', 'third']);
      expect(batches[0]!.payload.logStreamName).toBe(STREAM);
    });

    it('gives every request the highest offset in it as lastOffset, however its events are sorted', () => {
      // Prepare: descending times, cut by count into requests of 3.
      const limits = { ...defaultCloudwatchLimits(), maxBatchEvents: 3 };
      const records = Array.from({ length: 8 }, (_, i) => recordOf(i, NOW_MS - i * 1_000, `m${i}`));

      // Act
      const batches = planAll(records, { limits });

      // Assess
      expect(batches.map((b) => [b.firstOffset, b.lastOffset])).toEqual([
        [0, 2],
        [3, 5],
        [6, 7],
      ]);
      for (const batch of batches) {
        expect(isSortedByTime(batch.payload.events)).toBe(true);
        const messages = batch.payload.events.map((e) => e.message);
        expect(messages).toEqual(
          Array.from({ length: batch.count }, (_, k) => `m${batch.lastOffset - k}`),
        );
      }
    });

    it('uses the first record offset of a resumed object as the first batch offset', () => {
      // Prepare: a retry after a checkpoint at offset 41 hands records from 42 on.
      const records = recordsOf(5, 10, NOW_MS, 42);

      // Act
      const batches = planAll(records);

      // Assess
      expect(batches.map((b) => [b.firstOffset, b.lastOffset])).toEqual([[42, 46]]);
    });

    it('returns no batch for an object without records', () => {
      // Prepare
      // Act
      const batches = planAll([]);

      // Assess
      expect(batches).toEqual([]);
    });
  });

  describe('oversized events', () => {
    it('truncates a 2 MB message to the event size with a marker and counts it', async () => {
      // Prepare
      const registry = new Registry();
      const records = [recordOf(0, NOW_MS, 'y'.repeat(2_000_000)), recordOf(1, NOW_MS, 'small')];

      // Act
      const batches = planAll(records, { registry });

      // Assess
      const events = batches.flatMap((b) => b.payload.events);
      const truncated = events[0]!.message;
      const removed = 2_000_000 - truncated.indexOf('…');
      expect(Buffer.byteLength(truncated)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
      expect(Buffer.byteLength(truncated)).toBeGreaterThan(MAX_EVENT_BYTES - 40);
      expect(truncated.endsWith(truncationMarker(removed))).toBe(true);
      expect(truncated).toMatch(/…\[truncated by tlr: \d+ bytes\]$/);
      expect(events[1]!.message).toBe('small');
      for (const batch of batches) expect(requestBytes(batch.payload.events)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      expect(await metricValue(registry, CLOUDWATCH_TRUNCATED_METRIC)).toBe(1);
    });

    it('truncates to the legacy 256 KiB event size when configured so', async () => {
      // Prepare
      const registry = new Registry();
      const limits = { ...defaultCloudwatchLimits(), maxEventBytes: LEGACY_MAX_EVENT_BYTES };

      // Act
      const batches = planAll([recordOf(0, NOW_MS, 'z'.repeat(300_000))], { limits, registry });

      // Assess
      const message = batches[0]!.payload.events[0]!.message;
      expect(Buffer.byteLength(message) + EVENT_OVERHEAD_BYTES).toBeLessThanOrEqual(262_144);
      expect(await metricValue(registry, CLOUDWATCH_TRUNCATED_METRIC)).toBe(1);
    });

    it('leaves a message of exactly the event size unchanged and uncounted', async () => {
      // Prepare
      const registry = new Registry();
      const message = 'q'.repeat(MAX_EVENT_BYTES);

      // Act
      const batches = planAll([recordOf(0, NOW_MS, message)], { registry });

      // Assess
      expect(batches[0]!.payload.events[0]!.message).toBe(message);
      expect(batches[0]!.bytes).toBe(MAX_BATCH_BYTES);
      expect(await metricValue(registry, CLOUDWATCH_TRUNCATED_METRIC)).toBe(0);
    });
  });

  describe('events CloudWatch would reject', () => {
    it('filters events older than 14 days and counts them, still covering their offsets', async () => {
      // Prepare
      const registry = new Registry();
      const records = [
        recordOf(0, NOW_MS - 15 * DAY_MS, 'old'),
        recordOf(1, NOW_MS, 'fresh'),
        recordOf(2, NOW_MS - 15 * DAY_MS, 'old too'),
      ];

      // Act
      const batches = planAll(records, { registry });

      // Assess
      expect(batches).toHaveLength(1);
      expect(batches[0]!.payload.events.map((e) => e.message)).toEqual(['fresh']);
      expect([batches[0]!.firstOffset, batches[0]!.lastOffset, batches[0]!.count]).toEqual([0, 2, 1]);
      expect(await metricValue(registry, CLOUDWATCH_DROPPED_METRIC, { reason: 'too_old' })).toBe(2);
    });

    it('filters events more than 2 h in the future and counts them', async () => {
      // Prepare
      const registry = new Registry();
      const records = [
        recordOf(0, NOW_MS + MAX_FUTURE_MS, 'at the limit'),
        recordOf(1, NOW_MS + MAX_FUTURE_MS + 1, 'too new'),
      ];

      // Act
      const batches = planAll(records, { registry });

      // Assess
      expect(batches[0]!.payload.events.map((e) => e.message)).toEqual(['at the limit']);
      expect(batches[0]!.lastOffset).toBe(1);
      expect(await metricValue(registry, CLOUDWATCH_DROPPED_METRIC, { reason: 'too_new' })).toBe(1);
    });

    it('keeps an event exactly 14 days old', async () => {
      // Prepare
      const registry = new Registry();

      // Act
      const batches = planAll([recordOf(0, NOW_MS - MAX_AGE_MS, 'edge')], { registry });

      // Assess
      expect(batches[0]!.count).toBe(1);
      expect(await metricValue(registry, CLOUDWATCH_DROPPED_METRIC)).toBe(0);
    });

    it('returns an empty batch covering the offsets when every record is filtered', async () => {
      // Prepare
      const registry = new Registry();
      const records = [recordOf(0, NOW_MS - 20 * DAY_MS, 'old'), recordOf(1, NOW_MS + DAY_MS, 'new')];

      // Act
      const batches = planAll(records, { registry });

      // Assess
      expect(batches).toEqual([
        { firstOffset: 0, lastOffset: 1, count: 0, bytes: 0, payload: { logStreamName: STREAM, events: [] } },
      ]);
      expect(await metricValue(registry, CLOUDWATCH_DROPPED_METRIC)).toBe(2);
    });

    it('filters an event with no usable timestamp and counts it', async () => {
      // Prepare
      const registry = new Registry();

      // Act
      const batches = planAll([recordOf(0, NOW_MS, 'ok'), { ...recordOf(1, NOW_MS, 'bad'), timestampMs: Number.NaN }], {
        registry,
      });

      // Assess
      expect(batches[0]!.payload.events.map((e) => e.message)).toEqual(['ok']);
      expect(await metricValue(registry, CLOUDWATCH_DROPPED_METRIC, { reason: 'invalid_timestamp' })).toBe(1);
    });
  });

  describe('properties', () => {
    const limits: CloudwatchLimits = {
      ...defaultCloudwatchLimits(),
      maxBatchBytes: 4_096,
      maxBatchEvents: 20,
      maxEventBytes: 1_000,
      maxSpanMs: HOUR_MS,
      maxAgeMs: 1_000 * DAY_MS,
    };
    const recordsArb = fc
      .array(fc.record({ gapMs: fc.integer({ min: 0, max: 40 * 60_000 }), bytes: fc.integer({ min: 0, max: 1_200 }) }), {
        maxLength: 300,
      })
      .map((specs) => {
        let at = NOW_MS - 200 * HOUR_MS;
        return specs.map(({ gapMs, bytes }, i) => {
          at += gapMs;
          return recordOf(i, at, 'p'.repeat(bytes));
        });
      });

    it('keeps every request within every limit, sorted, with contiguous offsets', () => {
      fc.assert(
        fc.property(recordsArb, (records) => {
          // Prepare
          // Act
          const batches = planAll(records, { limits });

          // Assess
          if (records.length > 0) expectContiguousOffsets(batches, records);
          expect(batches.reduce((n, b) => n + b.count, 0)).toBe(records.length);
          for (const { payload, count, bytes } of batches) {
            expect(count).toBeGreaterThan(0);
            expect(count).toBeLessThanOrEqual(limits.maxBatchEvents);
            expect(bytes).toBe(requestBytes(payload.events));
            expect(bytes).toBeLessThanOrEqual(limits.maxBatchBytes);
            expect(isSortedByTime(payload.events)).toBe(true);
            expect(payload.events.at(-1)!.timestamp - payload.events[0]!.timestamp).toBeLessThanOrEqual(limits.maxSpanMs);
          }
        }),
        { numRuns: 50 },
      );
    });

    it('cuts a request only when the next event would break a limit', () => {
      fc.assert(
        fc.property(recordsArb, (records) => {
          // Prepare
          // Act
          const batches = planAll(records, { limits });

          // Assess
          for (let i = 0; i + 1 < batches.length; i++) {
            const { payload, bytes, count } = batches[i]!;
            const next = records[batches[i + 1]!.firstOffset]!;
            const nextMessage = truncateMessage(next.event['message'] as string, limits.maxEventBytes).message;
            const nextBytes = requestBytes([{ message: nextMessage }]);
            const span = next.timestampMs - payload.events[0]!.timestamp;
            const forced = count >= limits.maxBatchEvents || bytes + nextBytes > limits.maxBatchBytes || span > limits.maxSpanMs;
            expect(forced).toBe(true);
          }
        }),
        { numRuns: 50 },
      );
    });

    /*
     * The bound max(⌈bytes/cap⌉, ⌈events/max⌉, 24 h windows) + 1 holds when one limit
     * binds. Limits that bind in turn each force a cut: three clusters of 10,001 events,
     * 25 h apart, make 6 requests where the bound allows max(4, 3) + 1 = 5. So each regime
     * below lets only one limit bind.
     */
    const bound = (records: readonly LogRecord[]) => {
      const bytes = requestBytes(records.map((r) => ({ message: r.event['message'] as string })));
      const times = records.map((r) => r.timestampMs);
      const windows = records.length === 0 ? 0 : Math.ceil((Math.max(...times) - Math.min(...times) + 1) / limits.maxSpanMs);
      return Math.max(Math.ceil(bytes / limits.maxBatchBytes), Math.ceil(records.length / limits.maxBatchEvents), windows) + 1;
    };
    const regime = (gapMaxMs: number, minBytes: number, maxBytes: number, maxLength: number) =>
      fc
        .array(fc.record({ gapMs: fc.integer({ min: 0, max: gapMaxMs }), bytes: fc.integer({ min: minBytes, max: maxBytes }) }), {
          maxLength,
        })
        .map((specs) => {
          let at = NOW_MS - 200 * HOUR_MS;
          return specs.map(({ gapMs, bytes }, i) => {
            at += gapMs;
            return recordOf(i, at, 'r'.repeat(bytes));
          });
        });

    it.each([
      // Only the count binds: 20 events of ≤ 100 bytes stay under 4 KiB, all within the hour.
      { limit: 'events', records: regime(10_000, 0, 74, 200) },
      // Only the bytes bind: events of 180-250 bytes fill 4 KiB before 20 of them, all within the hour.
      { limit: 'bytes', records: regime(10_000, 180, 250, 200) },
      // Only the span binds: few small events spread over days.
      { limit: 'span', records: regime(3 * HOUR_MS, 0, 50, 19) },
    ])('never makes more requests than the largest limit needs, plus one, when only the $limit limit binds', ({ records }) => {
      fc.assert(
        fc.property(records, (input) => {
          // Prepare
          // Act
          const batches = planAll(input, { limits });

          // Assess
          expect(batches.length).toBeLessThanOrEqual(bound(input));
        }),
        { numRuns: 50 },
      );
    });
  });
});

describe('truncateMessage', () => {
  it('leaves a message that fits unchanged', () => {
    // Prepare
    // Act
    const result = truncateMessage('short', 10);

    // Assess
    expect(result).toEqual({ message: 'short', bytesRemoved: 0 });
  });

  it('cuts multi-byte text on a character boundary and names the bytes removed', () => {
    // Prepare: 1,000 × '€' = 3,000 bytes.
    const message = '€'.repeat(1_000);

    // Act
    const result = truncateMessage(message, 1_001);

    // Assess
    expect(Buffer.byteLength(result.message)).toBeLessThanOrEqual(1_001);
    expect(result.message).not.toContain('\uFFFD');
    const kept = result.message.slice(0, result.message.indexOf('…'));
    expect(kept).toBe('€'.repeat(kept.length));
    expect(result.bytesRemoved).toBe(3_000 - Buffer.byteLength(kept));
    expect(result.message.endsWith(truncationMarker(result.bytesRemoved))).toBe(true);
  });
});

describe('logStreamNameFor', () => {
  const object = parseObjectKey(
    objectKeyFactory({ clusterId: 'c1', namespace: 'team-a', application: 'api', podName: 'api-7d9' }),
  ) as LogObjectKey;

  it.each([
    { template: undefined, expected: 'api-7d9' },
    { template: '{cluster_id}/{namespace}/{application}/{pod_name}', expected: 'c1/team-a/api/api-7d9' },
    { template: 'static', expected: 'static' },
  ])('fills $template from the object key as $expected', ({ template, expected }) => {
    // Prepare
    // Act
    const name = logStreamNameFor(object, template);

    // Assess
    expect(name).toBe(expected);
  });

  it("replaces ':' and '*' from key segments, which stream names may not hold", () => {
    // Prepare
    const odd = parseObjectKey(objectKeyFactory({ podName: `pod:${randomId()}*` })) as LogObjectKey;

    // Act
    const name = logStreamNameFor(odd);

    // Assess
    expect(name).toMatch(/^pod_[0-9a-f]+_$/);
  });

  it('cuts a name longer than 512 characters', () => {
    // Prepare
    // Key segments are at most 255 bytes, so a template repeating one makes the long name.
    const long = parseObjectKey(objectKeyFactory({ podName: 'p'.repeat(250) })) as LogObjectKey;

    // Act
    const name = logStreamNameFor(long, '{pod_name}-{pod_name}-{pod_name}');

    // Assess
    expect(name).toHaveLength(512);
  });
});
