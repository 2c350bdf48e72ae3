import type { Registry } from 'prom-client';
import {
  createFairScheduler,
  type FairScheduler,
  type FairSchedulerHooks,
  type SchedulerTenant,
} from '../delivery/index.js';
import { type FieldError, parseObjectKey, wholeNumberFromEnv } from '../domain/index.js';
import { gauge } from '../metrics/index.js';
import { parseNotification } from '../pipeline/notification.js';

/** The environment variable bounding one tenant's messages in flight per replica. */
export const MAX_IN_FLIGHT_PER_TENANT_ENV = 'TLR_MAX_IN_FLIGHT_PER_TENANT';
/** The environment variable of the time after which a message still processing gives its shared slot back. */
export const SCHEDULER_SLOW_MS_ENV = 'TLR_SCHEDULER_SLOW_MS';
/**
 * A message still processing after this many ms is parked (`FairSchedulerOptions.slowAfterMs`):
 * about ten times a normal object's processing, so only work waiting on a slow destination is.
 */
export const DEFAULT_SCHEDULER_SLOW_MS = 1_000;
/**
 * Messages a queue worker holds (received, kept hidden, waiting for a slot) per slot of
 * concurrency: enough look-ahead to find other tenants' work behind a noisy tenant's backlog.
 */
export const DEFAULT_PREFETCH_FACTOR = 4;
/**
 * The `tenant` label of work of no known tenant (a notification that cannot be read, an
 * internal object). A namespace cannot start with `_`, so it never names a real tenant.
 */
export const UNATTRIBUTED_TENANT_LABEL = '_unattributed';

/** Half the slots, at least one: a tenant with a backlog leaves the other half to the rest. */
export function defaultMaxInFlightPerTenant(concurrency: number): number {
  return Math.max(1, Math.ceil(concurrency / 2));
}

/**
 * Reads `TLR_MAX_IN_FLIGHT_PER_TENANT`.
 *
 * @param errors - when given, a bad value is added to it (reported with the rest of the environment) instead of thrown
 * @returns the limit, or undefined when the variable is unset (use `defaultMaxInFlightPerTenant`)
 * @throws ConfigValidationError naming the variable when it is not a whole number ≥ 1 and `errors` is not given
 */
export function maxInFlightPerTenantFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  errors?: FieldError[],
): number | undefined {
  return wholeNumberFromEnv(env, MAX_IN_FLIGHT_PER_TENANT_ENV, errors);
}

/**
 * Reads `TLR_SCHEDULER_SLOW_MS`.
 *
 * @param errors - when given, a bad value is added to it (reported with the rest of the environment) instead of thrown
 * @returns the threshold, or undefined when the variable is unset (use `DEFAULT_SCHEDULER_SLOW_MS`)
 * @throws ConfigValidationError naming the variable when it is not a whole number ≥ 1 and `errors` is not given
 */
export function schedulerSlowMsFromEnv(env: NodeJS.ProcessEnv = process.env, errors?: FieldError[]): number | undefined {
  return wholeNumberFromEnv(env, SCHEDULER_SLOW_MS_ENV, errors);
}

/**
 * The tenant a queue message's work belongs to: the namespace of its first object key. Cheap
 * (one JSON parse, no I/O) and never throws: a body that cannot be read, or one naming no log
 * object, belongs to no tenant and goes to the processor, which dead-letters or ignores it.
 */
export function tenantOfMessage(body: string): SchedulerTenant {
  try {
    const [first] = parseNotification(body).items;
    if (!first) return undefined;
    const key = parseObjectKey(first.key);
    return key.kind === 'log' ? key.tenantId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Hooks keeping `tlr_scheduler_waiting{tenant}` (a series only while the tenant has waiting
 * work, so the label set stays bounded) and `tlr_scheduler_in_flight`.
 */
export function schedulerMetricsHooks(registry: Registry): FairSchedulerHooks {
  const waiting = gauge(registry, {
    name: 'tlr_scheduler_waiting',
    help: 'Messages received and waiting for a processing slot, by tenant (only tenants with waiting work).',
    labelNames: ['tenant'] as const,
  });
  const inFlight = gauge(registry, {
    name: 'tlr_scheduler_in_flight',
    help: 'Messages (or per-tenant batches) being processed now, parked ones included.',
  });
  const parked = gauge(registry, {
    name: 'tlr_scheduler_parked',
    help: 'Messages (or batches) processing longer than the slow threshold, which gave their shared slot back.',
  });
  return {
    onWaitingChange(tenant, count) {
      const labels = { tenant: tenant ?? UNATTRIBUTED_TENANT_LABEL };
      if (count === 0) waiting.remove(labels);
      else waiting.set(labels, count);
    },
    onInFlightChange(count) {
      inFlight.set(count);
    },
    onParkedChange(count) {
      parked.set(count);
    },
  };
}

/** What a runtime's fair scheduler is built from. */
export interface TenantSchedulerOptions {
  /** Units (messages, or per-tenant batches) processed at once. */
  readonly concurrency: number;
  /** Default `defaultMaxInFlightPerTenant(concurrency)`. */
  readonly maxInFlightPerTenant?: number | undefined;
  /** Where the scheduler gauges go; none when absent. */
  readonly registry?: Registry | undefined;
  /** Default `DEFAULT_SCHEDULER_SLOW_MS`; at most `concurrency` messages are parked at once. */
  readonly slowAfterMs?: number | undefined;
}

/**
 * The fair scheduler of a runtime: global limit `concurrency`, per-tenant limit as given; a
 * message still processing after `slowAfterMs` gives its shared slot back (at most `concurrency`
 * of them), so a tenant whose destination answers slowly holds only its own slots.
 *
 * @throws ConfigValidationError when a limit is not a whole number ≥ 1
 */
export function createTenantScheduler(options: TenantSchedulerOptions): FairScheduler {
  return createFairScheduler({
    maxInFlight: options.concurrency,
    maxInFlightPerTenant: options.maxInFlightPerTenant ?? defaultMaxInFlightPerTenant(options.concurrency),
    slowAfterMs: options.slowAfterMs ?? DEFAULT_SCHEDULER_SLOW_MS,
    maxParked: options.concurrency,
    ...(options.registry && { hooks: schedulerMetricsHooks(options.registry) }),
  });
}

/**
 * Splits messages by tenant, keeping their order inside each tenant; groups come in the order
 * of their tenant's first message.
 */
export function groupByTenant<T>(messages: readonly T[], bodyOf: (message: T) => string): Map<SchedulerTenant, T[]> {
  const groups = new Map<SchedulerTenant, T[]>();
  for (const message of messages) {
    const tenant = tenantOfMessage(bodyOf(message));
    const group = groups.get(tenant);
    if (group) group.push(message);
    else groups.set(tenant, [message]);
  }
  return groups;
}
