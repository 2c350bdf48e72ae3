import { describe, expect, it } from 'vitest';
import { defaultCircuitBreakerConfig } from '../../src/delivery/index.js';
import { ConfigValidationError, type FieldError } from '../../src/domain/index.js';
import { awsRuntimeConfigFromEnv, ExecutionMode } from '../../src/runtimes/aws-env.js';
import { circuitBreakerConfigFromEnv } from '../../src/runtimes/circuit-breaker-env.js';

describe('circuitBreakerConfigFromEnv', () => {
  it('returns the defaults when no TLR_CIRCUIT_* variable is set', () => {
    // Act
    const config = circuitBreakerConfigFromEnv({});
    // Assess
    expect(config).toEqual({ ...defaultCircuitBreakerConfig(), validated: true });
  });

  it('reads the threshold, the cool-downs and the switch', () => {
    // Prepare
    const env = {
      TLR_CIRCUIT_BREAKER_ENABLED: 'FALSE',
      TLR_CIRCUIT_FAILURE_THRESHOLD: '3',
      TLR_CIRCUIT_COOL_DOWN_MS: ' 10000 ',
      TLR_CIRCUIT_MAX_COOL_DOWN_MS: '120000',
    };
    // Act
    const config = circuitBreakerConfigFromEnv(env);
    // Assess
    expect(config).toMatchObject({ enabled: false, failureThreshold: 3, coolDownMs: 10_000, maxCoolDownMs: 120_000 });
  });

  it.each([
    [{ TLR_CIRCUIT_FAILURE_THRESHOLD: '0' }, "'TLR_CIRCUIT_FAILURE_THRESHOLD' must be a whole number ≥ 1, got '0'"],
    [{ TLR_CIRCUIT_COOL_DOWN_MS: '30s' }, "'TLR_CIRCUIT_COOL_DOWN_MS' must be a whole number ≥ 1, got '30s'"],
    [{ TLR_CIRCUIT_BREAKER_ENABLED: 'maybe' }, "'TLR_CIRCUIT_BREAKER_ENABLED' must be 'true' or 'false', got 'maybe'"],
    [
      { TLR_CIRCUIT_COOL_DOWN_MS: '700000' },
      "'TLR_CIRCUIT_MAX_COOL_DOWN_MS' must not be less than TLR_CIRCUIT_COOL_DOWN_MS (or its default)",
    ],
  ])('refuses %o naming the variable and the rule', (env, message) => {
    // Act
    const act = () => circuitBreakerConfigFromEnv(env);
    // Assess
    expect(act).toThrow(ConfigValidationError);
    expect(act).toThrow(message);
  });

  it('adds its problems to the list it is given instead of throwing', () => {
    // Prepare
    const errors: FieldError[] = [];
    // Act
    const config = circuitBreakerConfigFromEnv({ TLR_CIRCUIT_FAILURE_THRESHOLD: '-1' }, errors);
    // Assess
    expect(errors.map((e) => e.field)).toEqual(['TLR_CIRCUIT_FAILURE_THRESHOLD']);
    expect(config.failureThreshold).toBe(5);
  });

  it('is part of the AWS runtime environment, reported with its other problems', () => {
    // Act
    const act = () => awsRuntimeConfigFromEnv(ExecutionMode.LAMBDA, { TLR_CIRCUIT_COOL_DOWN_MS: 'soon' });
    const config = awsRuntimeConfigFromEnv(ExecutionMode.LAMBDA, {
      TENANT_CONFIG_TABLE: 't',
      TLR_CIRCUIT_FAILURE_THRESHOLD: '8',
    });
    // Assess
    expect(act).toThrow(/'TENANT_CONFIG_TABLE' is required.*'TLR_CIRCUIT_COOL_DOWN_MS' must be a whole number/);
    expect(config.circuitBreaker?.failureThreshold).toBe(8);
  });
});
