import { describe, expect, it } from 'vitest';
import {
  type CircuitBreakerConfig,
  type CircuitBreakerRegistry,
  CircuitState,
  type CircuitTransition,
  createCircuitBreakerRegistry,
  defaultCircuitBreakerConfig,
  validateCircuitBreakerConfig,
} from '../../src/delivery/circuit-breaker.js';
import { ConfigValidationError } from '../../src/domain/index.js';

const TENANT = 'team-a';
const DEST = 's3';

/** A registry on a manual clock with no jitter, recording every transition and eviction. */
function harness(overrides: Partial<CircuitBreakerConfig> = {}) {
  const clock = { nowMs: 1_700_000_000_000 };
  const transitions: Omit<CircuitTransition, 'snapshot'>[] = [];
  const evicted: string[] = [];
  const breakers = createCircuitBreakerRegistry(
    validateCircuitBreakerConfig({ failureThreshold: 3, coolDownMs: 1_000, maxCoolDownMs: 5_000, ...overrides }),
    {
      now: () => clock.nowMs,
      jitter: (ms) => ms,
      onTransition: ({ snapshot: _, ...t }) => transitions.push(t),
      onEvict: (tenantId, destination) => evicted.push(`${tenantId}/${destination}`),
    },
  );
  return { clock, breakers, transitions, evicted };
}

function fail(breakers: CircuitBreakerRegistry, times: number, tenantId = TENANT, destination = DEST): void {
  for (let i = 0; i < times; i++) {
    breakers.allow(tenantId, destination);
    breakers.recordFailure(tenantId, destination);
  }
}

describe('createCircuitBreakerRegistry', () => {
  it('stays closed and lets work through below the failure threshold', () => {
    // Prepare
    const { breakers, transitions } = harness();
    // Act
    fail(breakers, 2);
    const permit = breakers.allow(TENANT, DEST);
    // Assess
    expect(permit).toEqual({ allowed: true, probe: false });
    expect(breakers.snapshot(TENANT, DEST)).toEqual({ state: CircuitState.CLOSED, failures: 2 });
    expect(transitions).toEqual([]);
  });

  it('opens after the threshold of consecutive recoverable failures and refuses work until the cool-down', () => {
    // Prepare
    const { breakers, clock, transitions } = harness();
    const openedAtMs = clock.nowMs;
    // Act
    fail(breakers, 3);
    clock.nowMs += 999;
    const permit = breakers.allow(TENANT, DEST);
    // Assess
    expect(permit).toEqual({ allowed: false, probe: false, nextProbeAtMs: openedAtMs + 1_000 });
    expect(breakers.snapshot(TENANT, DEST)).toEqual({
      state: CircuitState.OPEN,
      failures: 3,
      openedAtMs,
      nextProbeAtMs: openedAtMs + 1_000,
    });
    expect(transitions).toEqual([
      { tenantId: TENANT, destination: DEST, from: CircuitState.CLOSED, to: CircuitState.OPEN, atMs: openedAtMs },
    ]);
  });

  it('counts only consecutive failures: a success in between starts the count again', () => {
    // Prepare
    const { breakers } = harness();
    // Act
    fail(breakers, 2);
    breakers.recordSuccess(TENANT, DEST);
    fail(breakers, 2);
    // Assess
    expect(breakers.snapshot(TENANT, DEST)).toEqual({ state: CircuitState.CLOSED, failures: 2 });
  });

  it('keeps breakers of other destinations and tenants apart', () => {
    // Prepare
    const { breakers } = harness();
    // Act
    fail(breakers, 3);
    // Assess
    expect(breakers.allow(TENANT, 'cloudwatch')).toEqual({ allowed: true, probe: false });
    expect(breakers.allow('team-b', DEST)).toEqual({ allowed: true, probe: false });
    expect(breakers.allow(TENANT, DEST).allowed).toBe(false);
  });

  it('goes half-open after the cool-down and lets exactly one probe through', () => {
    // Prepare
    const { breakers, clock, transitions } = harness();
    fail(breakers, 3);
    clock.nowMs += 1_000;
    // Act
    const probe = breakers.allow(TENANT, DEST);
    const second = breakers.allow(TENANT, DEST);
    // Assess
    expect(probe).toEqual({ allowed: true, probe: true });
    expect(second.allowed).toBe(false);
    expect(breakers.snapshot(TENANT, DEST)?.state).toBe(CircuitState.HALF_OPEN);
    expect(transitions.map((t) => t.to)).toEqual([CircuitState.OPEN, CircuitState.HALF_OPEN]);
  });

  it('closes on a successful probe and forgets the failures', () => {
    // Prepare
    const { breakers, clock, transitions } = harness();
    fail(breakers, 3);
    clock.nowMs += 1_000;
    breakers.allow(TENANT, DEST);
    // Act
    breakers.recordSuccess(TENANT, DEST);
    // Assess
    expect(breakers.snapshot(TENANT, DEST)).toEqual({ state: CircuitState.CLOSED, failures: 0 });
    expect(breakers.allow(TENANT, DEST)).toEqual({ allowed: true, probe: false });
    expect(transitions.map((t) => t.to)).toEqual([CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]);
  });

  it('opens again on a failed probe with the cool-down doubled each time, up to the maximum', () => {
    // Prepare
    const { breakers, clock } = harness();
    fail(breakers, 3);
    const coolDowns: number[] = [];
    // Act
    for (let probe = 0; probe < 4; probe++) {
      const { nextProbeAtMs } = breakers.snapshot(TENANT, DEST)!;
      clock.nowMs = nextProbeAtMs!;
      expect(breakers.allow(TENANT, DEST).probe).toBe(true);
      breakers.recordFailure(TENANT, DEST);
      coolDowns.push(breakers.snapshot(TENANT, DEST)!.nextProbeAtMs! - clock.nowMs);
    }
    // Assess
    expect(coolDowns).toEqual([2_000, 4_000, 5_000, 5_000]);
    expect(breakers.snapshot(TENANT, DEST)?.state).toBe(CircuitState.OPEN);
  });

  it('starts from the first cool-down again once a probe closed the circuit', () => {
    // Prepare
    const { breakers, clock } = harness();
    fail(breakers, 3);
    clock.nowMs += 1_000;
    breakers.allow(TENANT, DEST);
    breakers.recordFailure(TENANT, DEST);
    clock.nowMs += 2_000;
    breakers.allow(TENANT, DEST);
    breakers.recordSuccess(TENANT, DEST);
    // Act
    fail(breakers, 3);
    // Assess
    expect(breakers.snapshot(TENANT, DEST)!.nextProbeAtMs! - clock.nowMs).toBe(1_000);
  });

  it('applies the injected jitter to each cool-down', () => {
    // Prepare
    const clock = { nowMs: 0 };
    const breakers = createCircuitBreakerRegistry(validateCircuitBreakerConfig({ failureThreshold: 1, coolDownMs: 1_000 }), {
      now: () => clock.nowMs,
      jitter: (ms) => ms * 1.2,
    });
    // Act
    fail(breakers, 1);
    // Assess
    expect(breakers.snapshot(TENANT, DEST)?.nextProbeAtMs).toBe(1_200);
  });

  it('frees the probe slot on release, so the next caller probes', () => {
    // Prepare
    const { breakers, clock } = harness();
    fail(breakers, 3);
    clock.nowMs += 1_000;
    breakers.allow(TENANT, DEST);
    // Act
    breakers.release(TENANT, DEST);
    const next = breakers.allow(TENANT, DEST);
    // Assess
    expect(next).toEqual({ allowed: true, probe: true });
    expect(breakers.snapshot(TENANT, DEST)?.state).toBe(CircuitState.HALF_OPEN);
  });

  it('keeps the cool-down of an open circuit when a delivery started before it opened fails late', () => {
    // Prepare
    const { breakers, clock } = harness();
    fail(breakers, 3);
    const { nextProbeAtMs } = breakers.snapshot(TENANT, DEST)!;
    clock.nowMs += 500;
    // Act
    breakers.recordFailure(TENANT, DEST);
    // Assess
    expect(breakers.snapshot(TENANT, DEST)?.nextProbeAtMs).toBe(nextProbeAtMs);
  });

  it('lets everything through and keeps nothing when disabled', () => {
    // Prepare
    const { breakers } = harness({ enabled: false });
    // Act
    fail(breakers, 10);
    // Assess
    expect(breakers.allow(TENANT, DEST)).toEqual({ allowed: true, probe: false });
    expect(breakers.size()).toBe(0);
  });

  it('forgets closed breakers idle for the idle TTL but keeps open ones', () => {
    // Prepare
    const { breakers, clock, evicted } = harness({ idleTtlMs: 60_000, maxCoolDownMs: 600_000, coolDownMs: 600_000 });
    breakers.allow(TENANT, 'idle');
    fail(breakers, 3, TENANT, 'down');
    // Act
    clock.nowMs += 60_000;
    breakers.allow('team-b', 'busy');
    // Assess
    expect(evicted).toEqual([`${TENANT}/idle`]);
    expect(breakers.snapshot(TENANT, 'idle')).toBeUndefined();
    expect(breakers.snapshot(TENANT, 'down')?.state).toBe(CircuitState.OPEN);
    expect(breakers.size()).toBe(2);
  });

  it('forgets the least recently used breaker beyond maxEntries', () => {
    // Prepare
    const { breakers, evicted } = harness({ maxEntries: 2 });
    breakers.allow(TENANT, 'first');
    breakers.allow(TENANT, 'second');
    breakers.allow(TENANT, 'first');
    // Act
    breakers.allow(TENANT, 'third');
    // Assess
    expect(evicted).toEqual([`${TENANT}/second`]);
    expect(breakers.size()).toBe(2);
    expect(breakers.snapshot(TENANT, 'first')).toBeDefined();
  });

  it('ignores a success for a destination it keeps no breaker for', () => {
    // Prepare
    const { breakers } = harness();
    // Act
    breakers.recordSuccess(TENANT, DEST);
    breakers.release(TENANT, DEST);
    // Assess
    expect(breakers.size()).toBe(0);
  });
});

describe('validateCircuitBreakerConfig', () => {
  it('returns the defaults when nothing is overridden', () => {
    // Act
    const config = validateCircuitBreakerConfig();
    // Assess
    expect(config).toEqual({ ...defaultCircuitBreakerConfig(), validated: true });
    expect(config).toMatchObject({ failureThreshold: 5, coolDownMs: 30_000, maxCoolDownMs: 600_000 });
  });

  it.each([
    [{ failureThreshold: 0 }, "'failureThreshold' must be a whole number ≥ 1, got 0"],
    [{ coolDownMs: 1.5 }, "'coolDownMs' must be a whole number ≥ 1, got 1.5"],
    [{ maxEntries: Number.NaN }, "'maxEntries' must be a whole number ≥ 1, got NaN"],
    [{ coolDownMs: 10_000, maxCoolDownMs: 5_000 }, "'maxCoolDownMs' must not be less than 'coolDownMs'"],
  ])('rejects %o naming the field and the rule', (overrides, message) => {
    // Act
    const act = () => validateCircuitBreakerConfig(overrides);
    // Assess
    expect(act).toThrow(ConfigValidationError);
    expect(act).toThrow(message);
  });
});
