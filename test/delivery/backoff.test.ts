import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelayMs, defaultRetryConfig, type RetryConfig, sleep } from '../../src/delivery/backoff.js';
import { AbortedError } from '../../src/domain/errors.js';

const config: RetryConfig = {
  ...defaultRetryConfig(),
  initialIntervalMs: 100,
  maxIntervalMs: 1_000,
  multiplier: 2,
  randomizationFactor: 0.5,
};

describe('backoffDelayMs', () => {
  it.each([
    { retry: 0, expected: 100 },
    { retry: 1, expected: 200 },
    { retry: 2, expected: 400 },
    { retry: 3, expected: 800 },
    { retry: 4, expected: 1_000 },
    { retry: 30, expected: 1_000 },
  ])('grows the wait before retry $retry to $expected ms and caps it', ({ retry, expected }) => {
    // Prepare
    const middle = () => 0.5;
    // Act
    const delayMs = backoffDelayMs(retry, config, middle);
    // Assess
    expect(delayMs).toBe(expected);
  });

  it.each([
    { random: 0, retry: 1, expected: 100 },
    { random: 0.25, retry: 1, expected: 150 },
    { random: 0.999_999, retry: 1, expected: 300 },
    { random: 0.999_999, retry: 3, expected: 1_000 },
  ])(
    'draws the wait from interval × [1 − f, 1 + f] (random $random, retry $retry)',
    ({ random, retry, expected }) => {
      // Prepare
      // Act
      const delayMs = backoffDelayMs(retry, config, () => random);
      // Assess
      expect(delayMs).toBe(expected);
    },
  );

  it('waits exactly the interval when the randomization factor is 0', () => {
    // Prepare
    const steady = { ...config, randomizationFactor: 0 };
    // Act
    const delays = [0, 1, 2].map((retry) => backoffDelayMs(retry, steady, Math.random));
    // Assess
    expect(delays).toEqual([100, 200, 400]);
  });
});

describe('sleep', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves once the time has passed and not before', async () => {
    // Prepare
    let done = false;
    const waiting = sleep(1_000).then(() => {
      done = true;
    });
    // Act
    await vi.advanceTimersByTimeAsync(999);
    const early = done;
    await vi.advanceTimersByTimeAsync(1);
    await waiting;
    // Assess
    expect(early).toBe(false);
    expect(done).toBe(true);
  });

  it('rejects with AbortedError as soon as the signal aborts, clearing its timer', async () => {
    // Prepare
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal).catch((error: unknown) => error);
    // Act
    controller.abort();
    const error = await waiting;
    // Assess
    expect(error).toBeInstanceOf(AbortedError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    // Prepare
    const signal = AbortSignal.abort();
    // Act
    const waiting = sleep(60_000, signal);
    // Assess
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    expect(vi.getTimerCount()).toBe(0);
  });
});
