import { AbortedError, DeliveryError, RetriesExhaustedError } from '../domain/index.js';
import { backoffDelayMs, type RetryConfig, sleep } from './backoff.js';

/**
 * What one send reports when it succeeded only in part: the smaller unit of work to send
 * again (for example the records a `PutRecords` call did not accept).
 */
export interface SendResult<B> {
  readonly retry?: B;
  /** Why part of the work must be sent again; becomes the error if retries run out. */
  readonly retryError?: DeliveryError;
}

export interface RetryDeps {
  readonly now?: () => number;
  readonly random?: () => number;
  /** Called before each wait; for metrics and debug logs. */
  readonly onRetry?: (error: DeliveryError, attempt: number, delayMs: number) => void;
}

/**
 * Sends one unit of work with quick retries: jittered exponential backoff, `Retry-After`
 * honoured up to the max interval, partial retries of only what was not accepted.
 *
 * Ends with: success; the first non-retryable DeliveryError (rethrown as is);
 * RetriesExhaustedError after `maxAttempts` or `maxElapsedMs`; AbortedError on abort.
 * Any other error is a bug in the sink and is rethrown.
 *
 * @param send - the sink's one remote call
 * @param work - the first unit of work
 * @example await sendWithRetry((b, s) => sink.send(b, s), batch, defaultRetryConfig(), signal)
 */
export async function sendWithRetry<B>(
  send: (work: B, signal: AbortSignal) => Promise<SendResult<B> | undefined>,
  work: B,
  config: RetryConfig,
  signal: AbortSignal,
  deps: RetryDeps = {},
): Promise<void> {
  const now = deps.now ?? Date.now;
  const startedMs = now();
  let pending = work;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) throw new AbortedError();
    let error: DeliveryError;
    try {
      const result = await send(pending, signal);
      if (result?.retry === undefined) return;
      pending = result.retry;
      error =
        result.retryError ??
        new DeliveryError('Part of the batch was not accepted.', { retryable: true, reason: 'partial' });
    } catch (caught) {
      if (signal.aborted) throw new AbortedError();
      if (!(caught instanceof DeliveryError)) throw caught;
      if (!caught.retryable) throw caught;
      error = caught;
    }
    if (attempt >= config.maxAttempts) throw new RetriesExhaustedError(attempt, error);
    const hintMs = error.retryAfterMs !== undefined ? Math.min(error.retryAfterMs, config.maxIntervalMs) : 0;
    const delayMs = Math.max(hintMs, backoffDelayMs(attempt - 1, config, deps.random));
    if (now() - startedMs + delayMs > config.maxElapsedMs) throw new RetriesExhaustedError(attempt, error);
    deps.onRetry?.(error, attempt, delayMs);
    await sleep(delayMs, signal);
  }
}
