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
export { type RetryDeps, type SendResult, sendWithRetry } from './retry.js';
