import Type, { type Static } from 'typebox';

/** SQS caps `DelaySeconds` at 900; the embedded queue keeps the same cap so both behave alike. */
export const MAX_QUEUE_DELAY_MS = 900_000;

/** When a destination keeps failing: durable retries through the queue, then dead letters. */
export const DelayedRetryConfigSchema = Type.Object(
  {
    initialDelayMs: Type.Integer({ minimum: 0, description: 'Delay of the first delayed retry, in ms.' }),
    maxDelayMs: Type.Integer({
      minimum: 0,
      maximum: MAX_QUEUE_DELAY_MS,
      description: 'Upper bound of one delay (SQS allows at most 900 s).',
    }),
    maxAttempts: Type.Integer({
      minimum: 0,
      description: 'Delayed retries before the work is dead-lettered with reason retries_exhausted.',
    }),
  },
  { additionalProperties: false },
);
export type DelayedRetryConfig = Static<typeof DelayedRetryConfigSchema>;

/** 30 s doubling to 15 min, 10 times: a destination may be down for about two hours. */
export function defaultDelayedRetryConfig(): DelayedRetryConfig {
  return { initialDelayMs: 30_000, maxDelayMs: MAX_QUEUE_DELAY_MS, maxAttempts: 10 };
}

/**
 * The delay before delayed retry number `attempt` (1 = the first), doubled each time with
 * ±20 % jitter so retries of one outage spread out, capped at `maxDelayMs`.
 */
export function delayedRetryDelayMs(
  attempt: number,
  config: DelayedRetryConfig,
  random: () => number = Math.random,
): number {
  const base = Math.min(config.maxDelayMs, config.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.min(config.maxDelayMs, Math.round(base * (0.8 + 0.4 * random())));
}
