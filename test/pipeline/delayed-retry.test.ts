import fc from 'fast-check';
import Value from 'typebox/value';
import { describe, expect, it } from 'vitest';
import {
  DelayedRetryConfigSchema,
  defaultDelayedRetryConfig,
  delayedRetryDelayMs,
  MAX_QUEUE_DELAY_MS,
} from '../../src/pipeline/delayed-retry.js';

const config = defaultDelayedRetryConfig();
/** With random = 0.5 the jitter factor is exactly 1. */
const middle = () => 0.5;

describe('delayedRetryDelayMs', () => {
  it.each([
    { attempt: 1, expectedMs: 30_000 },
    { attempt: 2, expectedMs: 60_000 },
    { attempt: 3, expectedMs: 120_000 },
    { attempt: 4, expectedMs: 240_000 },
    { attempt: 5, expectedMs: 480_000 },
    { attempt: 6, expectedMs: 900_000 },
    { attempt: 10, expectedMs: 900_000 },
    { attempt: 1_000, expectedMs: 900_000 },
  ])('doubles the delay of retry $attempt to $expectedMs ms, capped at 900 s', ({ attempt, expectedMs }) => {
    // Prepare
    // Act
    const delayMs = delayedRetryDelayMs(attempt, config, middle);
    // Assess
    expect(delayMs).toBe(expectedMs);
  });

  it.each([{ attempt: 0 }, { attempt: -3 }])('treats attempt $attempt as the first retry', ({ attempt }) => {
    // Prepare
    // Act
    const delayMs = delayedRetryDelayMs(attempt, config, middle);
    // Assess
    expect(delayMs).toBe(config.initialDelayMs);
  });

  it.each([
    { random: 0, expectedMs: 48_000 },
    { random: 0.25, expectedMs: 54_000 },
    { random: 0.999_999, expectedMs: 72_000 },
  ])('jitters the delay within ±20 % (random $random)', ({ random, expectedMs }) => {
    // Prepare
    // Act
    const delayMs = delayedRetryDelayMs(2, config, () => random);
    // Assess
    expect(delayMs).toBe(expectedMs);
  });

  it('keeps every delay within ±20 % of the doubled delay and never above maxDelayMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.integer({ min: 0, max: MAX_QUEUE_DELAY_MS }),
        (attempt, random, initialDelayMs, maxDelayMs) => {
          // Prepare
          const custom = { initialDelayMs, maxDelayMs, maxAttempts: 10 };
          const base = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
          // Act
          const delayMs = delayedRetryDelayMs(attempt, custom, () => random);
          // Assess
          expect(delayMs).toBeGreaterThanOrEqual(Math.min(maxDelayMs, Math.floor(base * 0.8)));
          expect(delayMs).toBeLessThanOrEqual(Math.min(maxDelayMs, Math.ceil(base * 1.2)));
          expect(Number.isInteger(delayMs)).toBe(true);
        },
      ),
    );
  });
});

describe('DelayedRetryConfigSchema', () => {
  it('accepts the defaults: 30 s doubling to the 900 s SQS cap, 10 times', () => {
    // Prepare
    // Act
    const valid = Value.Check(DelayedRetryConfigSchema, config);
    // Assess
    expect(valid).toBe(true);
    expect(config).toEqual({ initialDelayMs: 30_000, maxDelayMs: 900_000, maxAttempts: 10 });
  });

  it('refuses a maxDelayMs over the 900 s SQS allows', () => {
    // Prepare
    const tooLong = { ...config, maxDelayMs: MAX_QUEUE_DELAY_MS + 1 };
    // Act
    const valid = Value.Check(DelayedRetryConfigSchema, tooLong);
    // Assess
    expect(valid).toBe(false);
  });
});
