import { AbortedError, ConfigValidationError, type FieldError } from '../domain/index.js';

/**
 * Whose work an item is. `undefined` is work of no known tenant (a notification that cannot be
 * read, an internal object): bounded by `maxInFlight` only, and served in turn like a tenant.
 */
export type SchedulerTenant = string | undefined;

/** Told when the scheduler's state changes, to keep gauges without the scheduler knowing metrics. */
export interface FairSchedulerHooks {
  /** A tenant's waiting items changed; 0 means it has none left (drop its series). */
  onWaitingChange?(tenant: SchedulerTenant, waiting: number): void;
  /** The number of items running in all changed (parked ones included). */
  onInFlightChange?(inFlight: number): void;
  /** The number of parked items (running past `slowAfterMs`, off the shared limit) changed. */
  onParkedChange?(parked: number): void;
}

/** What `createFairScheduler` needs. */
export interface FairSchedulerOptions {
  /** Items running at once, over every tenant; at least 1. */
  readonly maxInFlight: number;
  /** Items of one tenant running at once; at least 1 (values above `maxInFlight` act as `maxInFlight`). */
  readonly maxInFlightPerTenant: number;
  /**
   * An item still running this long (ms) is parked: it gives its shared slot back, so work that
   * waits on a slow destination holds its own tenant's slots only, not everyone's. It still
   * counts toward its tenant's limit. Undefined: never park.
   */
  readonly slowAfterMs?: number;
  /** Parked items at most; beyond, a slow item keeps its shared slot. Default `maxInFlight`. */
  readonly maxParked?: number;
  readonly hooks?: FairSchedulerHooks;
}

/**
 * Runs work of many tenants with bounded concurrency, fairly: each tenant has a FIFO queue,
 * and a free slot goes to the waiting tenant served least recently that is under its own limit.
 */
export interface FairScheduler {
  /**
   * Queues `work` for `tenant` and settles as it settles, once it has run.
   *
   * @param signal - aborting it while the item still waits removes it
   * @throws AbortedError when `signal` aborted before the work started
   */
  run<T>(tenant: SchedulerTenant, work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Items running now, parked ones included. */
  inFlight(): number;
  /** Items running past `slowAfterMs` that gave their shared slot back. */
  parked(): number;
  /** Items waiting now. */
  waiting(): number;
}

interface WaitingItem {
  readonly start: () => void;
  readonly cancel: () => void;
}

interface TenantState {
  readonly queue: WaitingItem[];
  running: number;
  /** Sequence number of its last start; 0 = never started, so a newcomer goes first. */
  lastServed: number;
  /** When it last started waiting with nothing queued; breaks ties between never-served tenants. */
  arrived: number;
}

/**
 * Checks the limits of a fair scheduler.
 *
 * @throws ConfigValidationError naming each limit that is not a whole number ≥ 1
 */
function checkLimits(options: FairSchedulerOptions): void {
  const errors: FieldError[] = [];
  for (const field of ['maxInFlight', 'maxInFlightPerTenant', 'slowAfterMs', 'maxParked'] as const) {
    const value = options[field];
    if (value === undefined && (field === 'slowAfterMs' || field === 'maxParked')) continue;
    if (!Number.isSafeInteger(value) || value! < 1) {
      errors.push({ field, message: `must be a whole number ≥ 1, got ${String(value)}` });
    }
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'fair scheduler options');
}

/**
 * Creates a fair scheduler: per-tenant FIFO queues served round-robin (least recently served
 * first), at most `maxInFlight` items running in all and `maxInFlightPerTenant` per tenant.
 * With `slowAfterMs`, an item running that long is parked: it leaves the shared count (at most
 * `maxParked` at once, so never more than `maxInFlight + maxParked` run) but not its tenant's.
 * It holds whatever it is given: the caller bounds how much it hands over.
 *
 * @throws ConfigValidationError when a limit is not a whole number ≥ 1
 * @example
 * const scheduler = createFairScheduler({ maxInFlight: 8, maxInFlightPerTenant: 4 });
 * await scheduler.run('team-a', () => deliver(object), signal);
 */
export function createFairScheduler(options: FairSchedulerOptions): FairScheduler {
  checkLimits(options);
  const { maxInFlight, maxInFlightPerTenant, hooks, slowAfterMs } = options;
  const maxParked = options.maxParked ?? maxInFlight;
  const tenants = new Map<SchedulerTenant, TenantState>();
  /** Items holding a shared slot. */
  let running = 0;
  /** Items running past `slowAfterMs` that gave their shared slot back. */
  let parked = 0;
  /** Slow items that found no room to park, oldest first: the next to park when room frees. */
  const overdue: (() => void)[] = [];
  let waiting = 0;
  let sequence = 0;

  const changedInFlight = () => hooks?.onInFlightChange?.(running + parked);

  const limitOf = (tenant: SchedulerTenant) => (tenant === undefined ? maxInFlight : maxInFlightPerTenant);

  function forgetIfIdle(tenant: SchedulerTenant, state: TenantState): void {
    if (state.running === 0 && state.queue.length === 0) tenants.delete(tenant);
  }

  /** The waiting tenant under its limit that was served least recently. */
  function nextTenant(): [SchedulerTenant, TenantState] | undefined {
    let best: [SchedulerTenant, TenantState] | undefined;
    for (const entry of tenants) {
      const [tenant, state] = entry;
      if (state.queue.length === 0 || state.running >= limitOf(tenant)) continue;
      const [, current] = best ?? [];
      if (
        !current ||
        state.lastServed < current.lastServed ||
        (state.lastServed === current.lastServed && state.arrived < current.arrived)
      ) {
        best = entry;
      }
    }
    return best;
  }

  function dispatch(): void {
    while (running < maxInFlight) {
      const next = nextTenant();
      if (!next) return;
      const [tenant, state] = next;
      const item = state.queue.shift()!;
      waiting--;
      state.running++;
      running++;
      state.lastServed = ++sequence;
      hooks?.onWaitingChange?.(tenant, state.queue.length);
      changedInFlight();
      item.start();
    }
  }

  return {
    run<T>(tenant: SchedulerTenant, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      if (signal?.aborted) return Promise.reject(new AbortedError('The work was aborted before it started.'));
      return new Promise<T>((resolve, reject) => {
        let state = tenants.get(tenant);
        if (!state) {
          state = { queue: [], running: 0, lastServed: 0, arrived: 0 };
          tenants.set(tenant, state);
        }
        if (state.queue.length === 0) state.arrived = ++sequence;
        const owner = state;
        const onAbort = () => item.cancel();
        const item: WaitingItem = {
          start() {
            signal?.removeEventListener('abort', onAbort);
            let isParked = false;
            let finished = false;
            const park = () => {
              if (finished || isParked) return;
              if (parked >= maxParked) {
                overdue.push(park);
                return;
              }
              isParked = true;
              parked++;
              running--;
              hooks?.onParkedChange?.(parked);
              dispatch();
            };
            const timer = slowAfterMs === undefined ? undefined : setTimeout(park, slowAfterMs);
            timer?.unref();
            let result: Promise<T>;
            try {
              result = work();
            } catch (error) {
              result = Promise.reject(error);
            }
            void result.then(resolve, reject).finally(() => {
              finished = true;
              clearTimeout(timer);
              const waitingToPark = overdue.indexOf(park);
              if (waitingToPark >= 0) overdue.splice(waitingToPark, 1);
              owner.running--;
              if (isParked) {
                parked--;
                hooks?.onParkedChange?.(parked);
                // Room to park: the oldest slow item still holding a shared slot takes it.
                while (overdue.length > 0 && parked < maxParked) overdue.shift()!();
              } else {
                running--;
              }
              changedInFlight();
              forgetIfIdle(tenant, owner);
              dispatch();
            });
          },
          cancel() {
            const index = owner.queue.indexOf(item);
            if (index < 0) return;
            owner.queue.splice(index, 1);
            waiting--;
            hooks?.onWaitingChange?.(tenant, owner.queue.length);
            forgetIfIdle(tenant, owner);
            reject(new AbortedError('The work was aborted while it waited for a slot.'));
          },
        };
        owner.queue.push(item);
        waiting++;
        signal?.addEventListener('abort', onAbort, { once: true });
        hooks?.onWaitingChange?.(tenant, owner.queue.length);
        dispatch();
      });
    },
    inFlight: () => running + parked,
    parked: () => parked,
    waiting: () => waiting,
  };
}
