import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultRetryConfig, type RetryConfig } from '../../src/delivery/backoff.js';
import { type SendResult, sendWithRetry } from '../../src/delivery/retry.js';
import { AbortedError, DeliveryError, RetriesExhaustedError } from '../../src/domain/errors.js';

/** 100 ms doubling to 1 s; with `random = 0.5` every wait is exactly the interval. */
const config: RetryConfig = {
  ...defaultRetryConfig(),
  initialIntervalMs: 100,
  maxIntervalMs: 1_000,
  multiplier: 2,
  randomizationFactor: 0.5,
  maxElapsedMs: 60_000,
  maxAttempts: 5,
};
const middle = () => 0.5;

function retryable(reason = 'throttled', retryAfterMs?: number): DeliveryError {
  return new DeliveryError(`The destination said ${reason}.`, {
    retryable: true,
    reason,
    ...(retryAfterMs !== undefined && { retryAfterMs }),
  });
}

/** A send that answers each attempt from a script: an error to throw, or a result. */
function scriptedSend<B>(
  script: readonly (Error | SendResult<B> | undefined)[],
): ReturnType<typeof vi.fn<(work: B, signal: AbortSignal) => Promise<SendResult<B> | undefined>>> {
  let call = 0;
  return vi.fn(async (_work: B, _signal: AbortSignal) => {
    const step = script[Math.min(call++, script.length - 1)];
    if (step instanceof Error) throw step;
    return step;
  });
}

/** Settles a promise into a value or the error, so it never rejects unhandled while timers run. */
function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

describe('sendWithRetry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends once when the first attempt succeeds', async () => {
    // Prepare
    const send = scriptedSend<string>([undefined]);
    // Act
    await sendWithRetry(send, 'batch', config, new AbortController().signal, { random: middle });
    // Assess
    expect(send).toHaveBeenCalledTimes(1);
    expect(send).toHaveBeenCalledWith('batch', expect.any(AbortSignal));
  });

  it('retries recoverable failures after the backoff waits, then succeeds', async () => {
    // Prepare
    const send = scriptedSend<string>([retryable(), retryable(), undefined]);
    const onRetry = vi.fn();
    const result = settle(
      sendWithRetry(send, 'batch', config, new AbortController().signal, {
        random: middle,
        now: () => Date.now(),
        onRetry,
      }),
    );
    // Act
    await vi.advanceTimersByTimeAsync(99);
    const afterFirstWaitNotOver = send.mock.calls.length;
    await vi.advanceTimersByTimeAsync(1);
    const afterFirstWait = send.mock.calls.length;
    await vi.advanceTimersByTimeAsync(199);
    const afterSecondWaitNotOver = send.mock.calls.length;
    await vi.advanceTimersByTimeAsync(1);
    const outcome = await result;
    // Assess
    expect(outcome.error).toBeUndefined();
    expect([afterFirstWaitNotOver, afterFirstWait, afterSecondWaitNotOver]).toEqual([1, 2, 2]);
    expect(send).toHaveBeenCalledTimes(3);
    expect(onRetry.mock.calls.map(([error, attempt, delayMs]) => [error.reason, attempt, delayMs])).toEqual([
      ['throttled', 1, 100],
      ['throttled', 2, 200],
    ]);
  });

  it('rethrows a non-retryable DeliveryError at once, without waiting', async () => {
    // Prepare
    const denied = new DeliveryError('Access denied.', { retryable: false, reason: 'access_denied' });
    const send = scriptedSend<string>([denied, undefined]);
    // Act
    const outcome = await settle(sendWithRetry(send, 'batch', config, new AbortController().signal));
    // Assess
    expect(outcome.error).toBe(denied);
    expect(send).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rethrows an error that is not a DeliveryError as is: a bug in the sink', async () => {
    // Prepare
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    const send = scriptedSend<string>([bug, undefined]);
    // Act
    const outcome = await settle(sendWithRetry(send, 'batch', config, new AbortController().signal));
    // Assess
    expect(outcome.error).toBe(bug);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('gives up with RetriesExhaustedError after maxAttempts, keeping the last error', async () => {
    // Prepare
    const last = retryable('http_503');
    const send = scriptedSend<string>([retryable(), retryable(), last]);
    const result = settle(
      sendWithRetry(send, 'batch', { ...config, maxAttempts: 3 }, new AbortController().signal, {
        random: middle,
      }),
    );
    // Act
    await vi.advanceTimersByTimeAsync(10_000);
    const { error } = await result;
    // Assess
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect((error as RetriesExhaustedError).attempts).toBe(3);
    expect((error as RetriesExhaustedError).lastError).toBe(last);
    expect(send).toHaveBeenCalledTimes(3);
  });

  it('gives up with RetriesExhaustedError when the next wait would pass maxElapsedMs', async () => {
    // Prepare
    const send = scriptedSend<string>([retryable()]);
    const onRetry = vi.fn();
    const result = settle(
      sendWithRetry(
        send,
        'batch',
        { ...config, maxAttempts: 100, maxElapsedMs: 250 },
        new AbortController().signal,
        { random: middle, now: () => Date.now(), onRetry },
      ),
    );
    // Act
    await vi.advanceTimersByTimeAsync(10_000);
    const { error } = await result;
    // Assess
    // Waits of 100 ms then 200 ms: the second would end at 300 ms, past the 250 ms budget.
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect((error as RetriesExhaustedError).attempts).toBe(2);
    expect(onRetry.mock.calls.map(([, , delayMs]) => delayMs)).toEqual([100]);
  });

  it.each([
    { hintMs: 500, expectedMs: 500, case: 'a hint longer than the backoff is honoured' },
    { hintMs: 30_000, expectedMs: 1_000, case: 'a hint longer than maxIntervalMs is capped' },
    { hintMs: 10, expectedMs: 100, case: 'a hint shorter than the backoff keeps the backoff' },
  ])('waits for Retry-After: $case', async ({ hintMs, expectedMs }) => {
    // Prepare
    const send = scriptedSend<string>([retryable('throttled', hintMs), undefined]);
    const onRetry = vi.fn();
    const result = settle(
      sendWithRetry(send, 'batch', config, new AbortController().signal, { random: middle, onRetry }),
    );
    // Act
    await vi.advanceTimersByTimeAsync(expectedMs - 1);
    const callsBeforeWaitEnds = send.mock.calls.length;
    await vi.advanceTimersByTimeAsync(1);
    const outcome = await result;
    // Assess
    expect(outcome.error).toBeUndefined();
    expect(onRetry).toHaveBeenCalledWith(expect.any(DeliveryError), 1, expectedMs);
    expect(callsBeforeWaitEnds).toBe(1);
    expect(send).toHaveBeenCalledTimes(2);
  });

  it('re-sends only the part a partial result asks to retry', async () => {
    // Prepare
    const send = scriptedSend<number[]>([{ retry: [3, 4] }, { retry: [4] }, undefined]);
    const onRetry = vi.fn();
    const result = settle(
      sendWithRetry(send, [1, 2, 3, 4], config, new AbortController().signal, { random: middle, onRetry }),
    );
    // Act
    await vi.advanceTimersByTimeAsync(10_000);
    const outcome = await result;
    // Assess
    expect(outcome.error).toBeUndefined();
    expect(send.mock.calls.map(([work]) => work)).toEqual([[1, 2, 3, 4], [3, 4], [4]]);
    expect(onRetry.mock.calls.map(([error]) => error.reason)).toEqual(['partial', 'partial']);
  });

  it('reports the partial result’s own error when retries of the remainder run out', async () => {
    // Prepare
    const throttled = retryable('provisioned_throughput_exceeded');
    const send = scriptedSend<number[]>([{ retry: [2], retryError: throttled }]);
    const result = settle(
      sendWithRetry(send, [1, 2], { ...config, maxAttempts: 2 }, new AbortController().signal, {
        random: middle,
      }),
    );
    // Act
    await vi.advanceTimersByTimeAsync(10_000);
    const { error } = await result;
    // Assess
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect((error as RetriesExhaustedError).lastError).toBe(throttled);
    expect(send.mock.calls.map(([work]) => work)).toEqual([[1, 2], [2]]);
  });

  it('stops with AbortedError when the signal aborts during a wait', async () => {
    // Prepare
    const controller = new AbortController();
    const send = scriptedSend<string>([retryable(), undefined]);
    const result = settle(sendWithRetry(send, 'batch', config, controller.signal, { random: middle }));
    await vi.advanceTimersByTimeAsync(50);
    // Act
    controller.abort();
    const { error } = await result;
    // Assess
    expect(error).toBeInstanceOf(AbortedError);
    expect(send).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops with AbortedError, not the send’s own error, when the send fails because of the abort', async () => {
    // Prepare
    const controller = new AbortController();
    const send = vi.fn(async () => {
      controller.abort();
      throw new DOMException('The operation was aborted.', 'AbortError');
    });
    // Act
    const { error } = await settle(sendWithRetry(send, 'batch', config, controller.signal));
    // Assess
    expect(error).toBeInstanceOf(AbortedError);
  });

  it('does not send at all when the signal is already aborted', async () => {
    // Prepare
    const send = scriptedSend<string>([undefined]);
    // Act
    const { error } = await settle(sendWithRetry(send, 'batch', config, AbortSignal.abort()));
    // Assess
    expect(error).toBeInstanceOf(AbortedError);
    expect(send).not.toHaveBeenCalled();
  });
});
