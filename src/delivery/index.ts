export {
  backoffDelayMs,
  defaultRetryConfig,
  type RetryConfig,
  RetryConfigSchema,
  sleep,
} from './backoff.js';
export { BatchAccumulator, type BatchLimits } from './batcher.js';
export {
  CIRCUIT_STATE_VALUE,
  type CircuitBreakerConfig,
  CircuitBreakerConfigSchema,
  type CircuitBreakerDeps,
  type CircuitBreakerRegistry,
  type CircuitPermit,
  type CircuitSnapshot,
  CircuitState,
  type CircuitTransition,
  createCircuitBreakerRegistry,
  defaultCircuitBreakerConfig,
  validateCircuitBreakerConfig,
  type ValidatedCircuitBreakerConfig,
} from './circuit-breaker.js';
export { forEachConcurrently } from './concurrency.js';
export {
  createFairScheduler,
  type FairScheduler,
  type FairSchedulerHooks,
  type FairSchedulerOptions,
  type SchedulerTenant,
} from './fair-scheduler.js';
export { type RetryDeps, type SendResult, sendWithRetry } from './retry.js';
export {
  createTokenBuckets,
  DEFAULT_TOKEN_BUCKET_IDLE_TTL_MS,
  DEFAULT_TOKEN_BUCKET_MAX_ENTRIES,
  type TakeResult,
  type TokenBucketOptions,
  type TokenBuckets,
  type TokenRate,
  type TokenRequest,
} from './token-bucket.js';
