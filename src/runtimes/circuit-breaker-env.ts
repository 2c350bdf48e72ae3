import {
  type CircuitBreakerConfig,
  validateCircuitBreakerConfig,
  type ValidatedCircuitBreakerConfig,
} from '../delivery/index.js';
import { ConfigValidationError, type FieldError, wholeNumberFromEnv } from '../domain/index.js';

/** The environment variables of the per-destination circuit breakers, and the field each sets. */
export const CircuitBreakerEnv = {
  ENABLED: 'TLR_CIRCUIT_BREAKER_ENABLED',
  FAILURE_THRESHOLD: 'TLR_CIRCUIT_FAILURE_THRESHOLD',
  COOL_DOWN_MS: 'TLR_CIRCUIT_COOL_DOWN_MS',
  MAX_COOL_DOWN_MS: 'TLR_CIRCUIT_MAX_COOL_DOWN_MS',
} as const;

const NUMERIC_FIELDS = [
  [CircuitBreakerEnv.FAILURE_THRESHOLD, 'failureThreshold'],
  [CircuitBreakerEnv.COOL_DOWN_MS, 'coolDownMs'],
  [CircuitBreakerEnv.MAX_COOL_DOWN_MS, 'maxCoolDownMs'],
] as const;

/**
 * Reads the circuit breaker settings from the environment, over the defaults
 * (`defaultCircuitBreakerConfig`): `TLR_CIRCUIT_BREAKER_ENABLED` (`true`/`false`),
 * `TLR_CIRCUIT_FAILURE_THRESHOLD`, `TLR_CIRCUIT_COOL_DOWN_MS`, `TLR_CIRCUIT_MAX_COOL_DOWN_MS`.
 *
 * @param errors - when given, problems are added to it (to report them with the rest of the
 *   environment's) and the defaults are returned; otherwise they are thrown
 * @throws ConfigValidationError naming each bad variable and its rule, when `errors` is not given
 */
export function circuitBreakerConfigFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  errors?: FieldError[],
): ValidatedCircuitBreakerConfig {
  const found: FieldError[] = [];
  const overrides: { -readonly [K in keyof CircuitBreakerConfig]?: CircuitBreakerConfig[K] } = {};
  const enabled = env[CircuitBreakerEnv.ENABLED]?.trim().toLowerCase();
  if (enabled) {
    if (enabled === 'true' || enabled === 'false') overrides.enabled = enabled === 'true';
    else found.push({ field: CircuitBreakerEnv.ENABLED, message: `must be 'true' or 'false', got '${enabled}'` });
  }
  for (const [name, field] of NUMERIC_FIELDS) {
    const n = wholeNumberFromEnv(env, name, found);
    if (n !== undefined) overrides[field] = n;
  }
  let config: ValidatedCircuitBreakerConfig | undefined;
  if (found.length === 0) {
    try {
      config = validateCircuitBreakerConfig(overrides, 'environment');
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
      // Only the rule between the two cool-downs is left to fail here.
      found.push({
        field: CircuitBreakerEnv.MAX_COOL_DOWN_MS,
        message: `must not be less than ${CircuitBreakerEnv.COOL_DOWN_MS} (or its default)`,
      });
    }
  }
  if (found.length > 0) {
    if (!errors) throw new ConfigValidationError(found, 'environment');
    errors.push(...found);
    return validateCircuitBreakerConfig();
  }
  return config!;
}
