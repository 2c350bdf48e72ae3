import Type, { type Static } from 'typebox';
import { AbortedError } from '../domain/index.js';

/** The quick-retry policy of one destination: a shared block every sink config reuses. */
export const RetryConfigSchema = Type.Object(
  {
    initialIntervalMs: Type.Integer({ minimum: 1, description: 'Wait before the first retry, in ms.' }),
    maxIntervalMs: Type.Integer({ minimum: 1, description: 'Upper bound of one wait, in ms.' }),
    multiplier: Type.Number({ minimum: 1, description: 'Growth of the wait per attempt.' }),
    randomizationFactor: Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'Jitter: each wait is drawn from interval × [1 − f, 1 + f].',
    }),
    maxElapsedMs: Type.Integer({
      minimum: 0,
      description: 'Give up quick retries after this long; the work then goes to a durable delayed retry.',
    }),
    maxAttempts: Type.Integer({ minimum: 1, description: 'Attempts in all, the first included.' }),
  },
  { additionalProperties: false },
);
export type RetryConfig = Static<typeof RetryConfigSchema>;

/**
 * Suggested quick-retry defaults: a few seconds at most, because a longer outage is better
 * handled by the durable delayed retry than by holding a worker.
 */
export function defaultRetryConfig(): RetryConfig {
  return {
    initialIntervalMs: 200,
    maxIntervalMs: 5_000,
    multiplier: 2,
    randomizationFactor: 0.5,
    maxElapsedMs: 15_000,
    maxAttempts: 4,
  };
}

/**
 * The wait before retry number `retry` (0 = first retry), jittered and capped.
 *
 * @param random - a source of [0, 1) numbers (injectable for tests)
 */
export function backoffDelayMs(
  retry: number,
  config: RetryConfig,
  random: () => number = Math.random,
): number {
  const base = Math.min(config.maxIntervalMs, config.initialIntervalMs * config.multiplier ** retry);
  const spread = base * config.randomizationFactor;
  const jittered = base - spread + random() * 2 * spread;
  return Math.max(0, Math.min(config.maxIntervalMs, Math.round(jittered)));
}

/**
 * Waits `ms`, or rejects with AbortedError as soon as `signal` aborts. Uses `setTimeout`,
 * so fake timers drive it in tests.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
