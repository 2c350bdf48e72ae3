export {
  backoffDelayMs,
  defaultRetryConfig,
  type RetryConfig,
  RetryConfigSchema,
  sleep,
} from './backoff.js';
export { BatchAccumulator, type BatchLimits } from './batcher.js';
export { forEachConcurrently } from './concurrency.js';
export { type RetryDeps, type SendResult, sendWithRetry } from './retry.js';
