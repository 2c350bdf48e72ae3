import Type, { type Static } from 'typebox';
import { ConfigValidationError, type FieldError } from '../domain/index.js';

/**
 * Per-destination circuit breakers: one per (tenant, destination type), in memory, per
 * replica. State is an optimisation that may be lost at any time (a restart, an eviction):
 * losing it only means a failing destination is tried again a few times before it opens.
 *
 * Closed → open after `failureThreshold` consecutive recoverable failures; open → half-open
 * once the cool-down has passed; half-open lets one probe through at a time (everyone else
 * is refused as if open); the probe's success closes the circuit, its failure opens it again
 * with the cool-down doubled, up to `maxCoolDownMs`.
 *
 * What counts: only recoverable failures (a `retryable` DeliveryError, throttling included,
 * or quick retries running out). A permanent failure (bad config, access denied) is
 * dead-lettered by the processor and says nothing about the destination being down: it
 * neither counts nor resets the count, and in half-open it only frees the probe slot.
 */

/** The states of one breaker; the gauge value of each is in `CIRCUIT_STATE_VALUE`. */
export const CircuitState = {
  CLOSED: 'closed',
  HALF_OPEN: 'half_open',
  OPEN: 'open',
} as const;
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState];

/** The value of `tlr_destination_circuit_state` per state: 0 closed, 1 half-open, 2 open. */
export const CIRCUIT_STATE_VALUE: Readonly<Record<CircuitState, number>> = Object.freeze({
  [CircuitState.CLOSED]: 0,
  [CircuitState.HALF_OPEN]: 1,
  [CircuitState.OPEN]: 2,
});

/** How the breakers of a replica behave. */
export const CircuitBreakerConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'When false every destination is always tried (no breaker).' }),
    failureThreshold: Type.Integer({
      minimum: 1,
      description: 'Consecutive recoverable failures of one destination that open its circuit.',
    }),
    coolDownMs: Type.Integer({ minimum: 1, description: 'Wait, in ms, from opening to the first probe.' }),
    maxCoolDownMs: Type.Integer({
      minimum: 1,
      description: 'Upper bound, in ms, of the cool-down, which doubles after each failed probe.',
    }),
    idleTtlMs: Type.Integer({
      minimum: 1,
      description: 'A closed breaker unused this long, in ms, is forgotten (bounded memory).',
    }),
    maxEntries: Type.Integer({
      minimum: 1,
      description: 'Breakers kept at most; beyond, the least recently used is forgotten.',
    }),
  },
  { additionalProperties: false },
);
export type CircuitBreakerConfig = Static<typeof CircuitBreakerConfigSchema>;

/** A config that `createCircuitBreakerRegistry` accepts: checked by `validateCircuitBreakerConfig`. */
export type ValidatedCircuitBreakerConfig = CircuitBreakerConfig & { readonly validated: true };

/** 5 failures open; first probe after 30 s, doubling to 10 min; idle breakers forgotten after 1 h. */
export function defaultCircuitBreakerConfig(): CircuitBreakerConfig {
  return {
    enabled: true,
    failureThreshold: 5,
    coolDownMs: 30_000,
    maxCoolDownMs: 600_000,
    idleTtlMs: 3_600_000,
    maxEntries: 10_000,
  };
}

/**
 * Merges `overrides` onto the defaults and checks the result.
 *
 * @param overrides - the fields an operator set
 * @param context - what the fields came from, for the message (`environment`, `circuit breaker options`)
 * @throws ConfigValidationError naming each bad field and its rule
 */
export function validateCircuitBreakerConfig(
  overrides: Partial<CircuitBreakerConfig> = {},
  context = 'circuit breaker options',
): ValidatedCircuitBreakerConfig {
  const config = { ...defaultCircuitBreakerConfig(), ...overrides };
  const errors: FieldError[] = [];
  if (typeof config.enabled !== 'boolean') errors.push({ field: 'enabled', message: 'must be true or false' });
  for (const field of ['failureThreshold', 'coolDownMs', 'maxCoolDownMs', 'idleTtlMs', 'maxEntries'] as const) {
    const value = config[field];
    if (!(Number.isSafeInteger(value) && value >= 1)) {
      errors.push({ field, message: `must be a whole number ≥ 1, got ${String(value)}` });
    }
  }
  if (errors.length === 0 && config.maxCoolDownMs < config.coolDownMs) {
    errors.push({ field: 'maxCoolDownMs', message: "must not be less than 'coolDownMs'" });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, context);
  return { ...config, validated: true };
}

/** What a breaker looks like now, for status and metrics. */
export interface CircuitSnapshot {
  readonly state: CircuitState;
  /** Consecutive recoverable failures counted while closed. */
  readonly failures: number;
  /** When the circuit last opened (epoch ms); set while open or half-open. */
  readonly openedAtMs?: number;
  /** When a probe may go through (epoch ms); set while open. */
  readonly nextProbeAtMs?: number;
}

/** A state change, as the processor reports it to metrics and status. */
export interface CircuitTransition {
  readonly tenantId: string;
  readonly destination: string;
  readonly from: CircuitState;
  readonly to: CircuitState;
  readonly atMs: number;
  readonly snapshot: CircuitSnapshot;
}

/** The answer to "may I deliver to this destination now?". */
export interface CircuitPermit {
  readonly allowed: boolean;
  /** This caller holds the one half-open probe: it must report a result or `release`. */
  readonly probe: boolean;
  /** When refused: when the next probe may go through. */
  readonly nextProbeAtMs?: number;
}

/** The breakers of one replica, keyed by (tenant, destination type). */
export interface CircuitBreakerRegistry {
  /** Asks before delivering; moves open → half-open once the cool-down has passed. */
  allow(tenantId: string, destination: string): CircuitPermit;
  /** A delivery succeeded: closes the circuit and forgets the failures. */
  recordSuccess(tenantId: string, destination: string): void;
  /** A delivery failed recoverably: counts, opens at the threshold, reopens a failed probe. */
  recordFailure(tenantId: string, destination: string): void;
  /** A probe ended without a verdict (permanent failure, nothing to send, abort): frees the probe slot. */
  release(tenantId: string, destination: string): void;
  /** The breaker as it is, or undefined when none is kept (never used, or forgotten). */
  snapshot(tenantId: string, destination: string): CircuitSnapshot | undefined;
  /** Breakers kept now. */
  size(): number;
}

/** What `createCircuitBreakerRegistry` needs besides the config. */
export interface CircuitBreakerDeps {
  readonly now?: () => number;
  /**
   * Spreads one cool-down (ms in, ms out) so replicas and destinations opened together do not
   * probe together; default ±20 %. Tests pass the identity.
   */
  readonly jitter?: (coolDownMs: number) => number;
  /** Told every state change, after it happened. */
  readonly onTransition?: (transition: CircuitTransition) => void;
  /** Told when a breaker is forgotten (idle or over `maxEntries`), so its metrics can go. */
  readonly onEvict?: (tenantId: string, destination: string) => void;
}

interface Entry {
  readonly tenantId: string;
  readonly destination: string;
  state: CircuitState;
  failures: number;
  /** Failed probes since the circuit last closed: the cool-down doubles with each. */
  failedProbes: number;
  openedAtMs?: number;
  nextProbeAtMs?: number;
  probeInFlight: boolean;
  lastUsedMs: number;
}

/** Default jitter: the cool-down × [0.8, 1.2). */
function defaultJitter(coolDownMs: number): number {
  return Math.round(coolDownMs * (0.8 + 0.4 * Math.random()));
}

/** A permit that lets everything through, for a disabled breaker. */
const ALWAYS: CircuitPermit = Object.freeze({ allowed: true, probe: false });

/**
 * Creates the breakers of one replica.
 *
 * @param config - from `validateCircuitBreakerConfig`
 * @param deps - the clock, the jitter and the listeners
 * @example
 * const breakers = createCircuitBreakerRegistry(validateCircuitBreakerConfig({ failureThreshold: 3 }));
 * if (breakers.allow('team-a', 's3').allowed) { ... breakers.recordSuccess('team-a', 's3'); }
 */
export function createCircuitBreakerRegistry(
  config: ValidatedCircuitBreakerConfig,
  deps: CircuitBreakerDeps = {},
): CircuitBreakerRegistry {
  const now = deps.now ?? Date.now;
  const jitter = deps.jitter ?? defaultJitter;
  // Map order is use order: a used entry is moved to the end, so the first one is the least recent.
  const entries = new Map<string, Entry>();
  let lastSweepMs = now();

  const keyOf = (tenantId: string, destination: string) => JSON.stringify([tenantId, destination]);

  const snapshotOf = (e: Entry): CircuitSnapshot => ({
    state: e.state,
    failures: e.failures,
    ...(e.state !== CircuitState.CLOSED && e.openedAtMs !== undefined && { openedAtMs: e.openedAtMs }),
    ...(e.state === CircuitState.OPEN && e.nextProbeAtMs !== undefined && { nextProbeAtMs: e.nextProbeAtMs }),
  });

  const evict = (key: string, e: Entry) => {
    entries.delete(key);
    deps.onEvict?.(e.tenantId, e.destination);
  };

  /** Forgets closed breakers idle for `idleTtlMs`; open ones are kept, they hold back work. */
  const sweep = (nowMs: number) => {
    lastSweepMs = nowMs;
    for (const [key, e] of entries) {
      if (e.state === CircuitState.CLOSED && nowMs - e.lastUsedMs >= config.idleTtlMs) evict(key, e);
    }
  };

  const touch = (tenantId: string, destination: string, create: boolean): Entry | undefined => {
    const nowMs = now();
    if (nowMs - lastSweepMs >= config.idleTtlMs) sweep(nowMs);
    const key = keyOf(tenantId, destination);
    let e = entries.get(key);
    if (e) {
      entries.delete(key);
    } else {
      if (!create) return undefined;
      if (entries.size >= config.maxEntries) sweep(nowMs);
      if (entries.size >= config.maxEntries) {
        const [oldestKey, oldest] = entries.entries().next().value!;
        evict(oldestKey, oldest);
      }
      e = {
        tenantId,
        destination,
        state: CircuitState.CLOSED,
        failures: 0,
        failedProbes: 0,
        probeInFlight: false,
        lastUsedMs: nowMs,
      };
    }
    e.lastUsedMs = nowMs;
    entries.set(key, e);
    return e;
  };

  const moveTo = (e: Entry, to: CircuitState) => {
    const from = e.state;
    if (from === to) return;
    e.state = to;
    deps.onTransition?.({ tenantId: e.tenantId, destination: e.destination, from, to, atMs: now(), snapshot: snapshotOf(e) });
  };

  const open = (e: Entry) => {
    const nowMs = now();
    const coolDownMs = Math.min(config.maxCoolDownMs, config.coolDownMs * 2 ** e.failedProbes);
    e.openedAtMs = nowMs;
    e.nextProbeAtMs = nowMs + Math.max(0, Math.round(jitter(coolDownMs)));
    e.probeInFlight = false;
    moveTo(e, CircuitState.OPEN);
  };

  return {
    allow(tenantId, destination) {
      if (!config.enabled) return ALWAYS;
      const e = touch(tenantId, destination, true)!;
      if (e.state === CircuitState.OPEN && now() >= e.nextProbeAtMs!) moveTo(e, CircuitState.HALF_OPEN);
      if (e.state === CircuitState.CLOSED) return ALWAYS;
      if (e.state === CircuitState.HALF_OPEN && !e.probeInFlight) {
        e.probeInFlight = true;
        return { allowed: true, probe: true };
      }
      // Half-open with a probe out is refused as if open; the probe decides for everyone.
      return { allowed: false, probe: false, ...(e.nextProbeAtMs !== undefined && { nextProbeAtMs: e.nextProbeAtMs }) };
    },

    recordSuccess(tenantId, destination) {
      if (!config.enabled) return;
      const e = touch(tenantId, destination, false);
      if (!e) return;
      e.failures = 0;
      e.failedProbes = 0;
      e.probeInFlight = false;
      delete e.openedAtMs;
      delete e.nextProbeAtMs;
      moveTo(e, CircuitState.CLOSED);
    },

    recordFailure(tenantId, destination) {
      if (!config.enabled) return;
      const e = touch(tenantId, destination, true)!;
      if (e.state === CircuitState.HALF_OPEN) {
        e.failedProbes += 1;
        open(e);
        return;
      }
      // Already open: a delivery that started before it opened; the cool-down stands.
      if (e.state === CircuitState.OPEN) return;
      e.failures += 1;
      if (e.failures >= config.failureThreshold) open(e);
    },

    release(tenantId, destination) {
      if (!config.enabled) return;
      const e = touch(tenantId, destination, false);
      if (e?.state === CircuitState.HALF_OPEN) e.probeInFlight = false;
    },

    snapshot(tenantId, destination) {
      const e = entries.get(keyOf(tenantId, destination));
      return e ? snapshotOf(e) : undefined;
    },

    size: () => entries.size,
  };
}
