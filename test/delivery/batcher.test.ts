import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchAccumulator, type BatchLimits } from '../../src/delivery/batcher.js';
import type { Batch } from '../../src/sinks/types.js';

/** Adds items of the given sizes at offsets 0, 1, …; returns every batch, the last one flushed. */
function batchAll(limits: BatchLimits, sizes: readonly number[]): Batch<number[]>[] {
  const accumulator = new BatchAccumulator<number, number[]>(limits, (items) => [...items]);
  const batches: Batch<number[]>[] = [];
  sizes.forEach((bytes, offset) => {
    const closed = accumulator.add(offset, offset, bytes);
    if (closed) batches.push(closed);
  });
  const last = accumulator.take();
  if (last) batches.push(last);
  return batches;
}

describe('BatchAccumulator', () => {
  it('cuts a batch when it holds maxEvents items', () => {
    // Prepare
    const sizes = Array.from({ length: 7 }, () => 1);
    // Act
    const batches = batchAll({ maxEvents: 3, maxBytes: 1_000 }, sizes);
    // Assess
    expect(batches.map((b) => b.payload)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(batches.map((b) => b.count)).toEqual([3, 3, 1]);
  });

  it.each([
    {
      sizes: [40, 40, 40, 40],
      expected: [
        [0, 1],
        [2, 3],
      ],
      case: 'the next item would pass maxBytes',
    },
    { sizes: [50, 50, 50], expected: [[0, 1], [2]], case: 'items filling maxBytes exactly stay together' },
    { sizes: [99, 2, 98, 1], expected: [[0], [1, 2], [3]], case: 'sizes vary' },
  ])('cuts a batch by bytes when $case', ({ sizes, expected }) => {
    // Prepare
    const limits = { maxEvents: 100, maxBytes: 100 };
    // Act
    const batches = batchAll(limits, sizes);
    // Assess
    expect(batches.map((b) => b.payload)).toEqual(expected);
    expect(batches.map((b) => b.bytes)).toEqual(
      expected.map((offsets) => offsets.reduce((sum, o) => sum + sizes[o]!, 0)),
    );
  });

  it.each([
    { sizes: [500], expected: [[0]], case: 'alone' },
    { sizes: [500, 10], expected: [[0], [1]], case: 'first' },
    { sizes: [10, 500, 10], expected: [[0], [1], [2]], case: 'between small items' },
    { sizes: [500, 500], expected: [[0], [1]], case: 'twice in a row' },
  ])('puts an item larger than maxBytes in a batch of its own ($case)', ({ sizes, expected }) => {
    // Prepare
    const limits = { maxEvents: 100, maxBytes: 100 };
    // Act
    const batches = batchAll(limits, sizes);
    // Assess
    expect(batches.map((b) => b.payload)).toEqual(expected);
  });

  it('returns the closed batch from add and keeps the new item open', () => {
    // Prepare
    const accumulator = new BatchAccumulator<string, string[]>({ maxEvents: 2, maxBytes: 100 }, (items) => [
      ...items,
    ]);
    accumulator.add('a', 10, 1);
    accumulator.add('b', 11, 1);
    // Act
    const closed = accumulator.add('c', 12, 1);
    // Assess
    expect(closed).toEqual({ firstOffset: 10, lastOffset: 11, count: 2, bytes: 2, payload: ['a', 'b'] });
    expect(accumulator.count).toBe(1);
    expect(accumulator.take()).toEqual({
      firstOffset: 12,
      lastOffset: 12,
      count: 1,
      bytes: 1,
      payload: ['c'],
    });
  });

  it('takes nothing when the open batch is empty, also right after a take', () => {
    // Prepare
    const accumulator = new BatchAccumulator<string, string[]>({ maxEvents: 2, maxBytes: 100 }, (items) => [
      ...items,
    ]);
    const initially = accumulator.take();
    accumulator.add('a', 0, 1);
    accumulator.take();
    // Act
    const again = accumulator.take();
    // Assess
    expect(initially).toBeUndefined();
    expect(again).toBeUndefined();
    expect(accumulator.count).toBe(0);
  });

  it('partitions any sequence into contiguous batches within the limits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 200 }),
        (maxEvents, maxBytes, sizes) => {
          // Prepare
          const limits = { maxEvents, maxBytes };
          // Act
          const batches = batchAll(limits, sizes);
          // Assess
          expect(batches.flatMap((b) => b.payload)).toEqual(sizes.map((_, offset) => offset));
          let next = 0;
          for (const batch of batches) {
            expect(batch.firstOffset).toBe(next);
            expect(batch.lastOffset).toBe(next + batch.count - 1);
            expect(batch.payload).toEqual(Array.from({ length: batch.count }, (_, i) => next + i));
            expect(batch.count).toBeLessThanOrEqual(maxEvents);
            if (batch.count > 1) expect(batch.bytes).toBeLessThanOrEqual(maxBytes);
            next = batch.lastOffset + 1;
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
