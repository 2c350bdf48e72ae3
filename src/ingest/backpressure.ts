import type { Registry } from 'prom-client';
import { ConfigValidationError, ErrorCode, type FieldError, RouterError, wholeNumberFromEnv } from '../domain/index.js';
import type { Logger } from '../logging/index.js';
import { counter, gauge } from '../metrics/index.js';
import type { NotificationQueue, ObjectStore } from '../stores/ports.js';

/**
 * Back-pressure beyond the ingest buffer: ingest refuses new events (HTTP 503 + Retry-After,
 * Forward stops reading) while delivery is behind or the central store cannot take objects,
 * so the router's memory and disk do not grow with the gap.
 */

/** Why ingest is held back; the `reason` label of the ingest counters. */
export const BackpressureReason = {
  /** The notification queue holds more waiting messages than `maxQueueBacklog`: delivery is behind. */
  QUEUE_BACKLOG: 'queue_backlog',
  /** The central object store refused a write for its disk budget (or a full disk). */
  STORE_FULL: 'store_full',
} as const;
export type BackpressureReason = (typeof BackpressureReason)[keyof typeof BackpressureReason];

/** Whether ingest may accept events now, and if not, why and when to come back. */
export type BackpressureState =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: BackpressureReason;
      readonly retryAfterSeconds: number;
      /** A sentence for the client (the 503 body): what is behind, and to retry later. */
      readonly message: string;
    };

/** One question asked before accepting events; cheap enough to ask per request. */
export interface BackpressureCheck {
  check(): Promise<BackpressureState>;
}

/** Default most messages ready in the notification queue (visible, not delayed) before ingest refuses. */
export const DEFAULT_MAX_QUEUE_BACKLOG = 10_000;
/** Default time a queue backlog reading is reused, so a busy ingest does not query stats per request. */
export const DEFAULT_BACKPRESSURE_CACHE_MS = 1_000;
/** The environment variable of `maxQueueBacklog` for `tlr up`. */
export const MAX_QUEUE_BACKLOG_ENV = 'TLR_MAX_QUEUE_BACKLOG';

const OK: BackpressureState = { ok: true };

/** What `createQueueBacklogCheck` needs. */
export interface QueueBacklogCheckOptions {
  readonly queue: Pick<NotificationQueue, 'stats'>;
  /** Visible messages (ready to process, delayed retries not counted) above which ingest refuses; at least 1. */
  readonly maxBacklog: number;
  /** Sent as Retry-After while refusing. */
  readonly retryAfterSeconds: number;
  /** How long a reading is reused; default 1,000 ms. */
  readonly cacheMs?: number;
  readonly logger: Logger;
  /** Where `tlr_ingest_backpressure_active{reason="queue_backlog"}` goes; none when absent. */
  readonly registry?: Registry;
  /** The clock; default `Date.now`. */
  readonly now?: () => number;
}

function activeGauge(registry: Registry | undefined) {
  return registry
    ? gauge(registry, {
        name: 'tlr_ingest_backpressure_active',
        help: 'Whether ingest refuses events now (1) or not (0), by reason (queue_backlog, store_full).',
        labelNames: ['reason'] as const,
      })
    : undefined;
}

/**
 * Refuses ingest while the notification queue's backlog of messages ready to process is over
 * `maxBacklog`. Delayed retries are not counted: they are one tenant's failing destination
 * waiting, and counting them would let that tenant hold back ingest for every tenant. Readings are cached for `cacheMs`, and callers arriving together share one
 * reading. A failed reading lets ingest go on (the ingest buffer's own limit still holds) and
 * is logged.
 *
 * @throws ConfigValidationError when `maxBacklog` or `retryAfterSeconds` is not a whole number ≥ 1
 * @example
 * const backlog = createQueueBacklogCheck({ queue, maxBacklog: 10_000, retryAfterSeconds: 5, logger });
 * if (!(await backlog.check()).ok) // answer 503
 */
export function createQueueBacklogCheck(options: QueueBacklogCheckOptions): BackpressureCheck {
  const { queue, maxBacklog, retryAfterSeconds, logger } = options;
  const errors: FieldError[] = [];
  for (const [field, value] of [['maxQueueBacklog', maxBacklog], ['retryAfterSeconds', retryAfterSeconds]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) errors.push({ field, message: `must be a whole number ≥ 1, got ${value}` });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'back-pressure options');
  const cacheMs = options.cacheMs ?? DEFAULT_BACKPRESSURE_CACHE_MS;
  const now = options.now ?? Date.now;
  const active = activeGauge(options.registry);
  let cached: { state: BackpressureState; atMs: number } | undefined;
  let reading: Promise<BackpressureState> | undefined;

  async function read(): Promise<BackpressureState> {
    try {
      const stats = await queue.stats();
      const backlog = stats.visible;
      const over = backlog > maxBacklog;
      active?.set({ reason: BackpressureReason.QUEUE_BACKLOG }, over ? 1 : 0);
      if (!over) return OK;
      return {
        ok: false,
        reason: BackpressureReason.QUEUE_BACKLOG,
        retryAfterSeconds,
        message:
          `Delivery is behind: ${backlog} notifications wait to be processed, more than the limit of ${maxBacklog}; ` +
          'nothing was stored, retry later.',
      };
    } catch (error) {
      logger.warn('Reading the notification queue backlog failed; ingest goes on without that check.', { error });
      return OK;
    }
  }

  return {
    async check() {
      const atMs = now();
      if (cached && atMs - cached.atMs < cacheMs) return cached.state;
      reading ??= read().then((state) => {
        cached = { state, atMs: now() };
        reading = undefined;
        return state;
      });
      return reading;
    },
  };
}

/** What `createStoreFullTracker` needs. */
export interface StoreFullTrackerOptions {
  /** Sent as Retry-After while refusing. */
  readonly retryAfterSeconds: number;
  readonly logger: Logger;
  /** Where `tlr_object_store_full_total` and `tlr_ingest_backpressure_active` go; none when absent. */
  readonly registry?: Registry;
}

/** Watches the writes of an object store and refuses ingest while it is full. */
export interface StoreFullTracker extends BackpressureCheck {
  /** The same store, watched: a write refused with `RTR_ERR_STORE_FULL` marks it full, the next accepted write clears that. */
  wrap(store: ObjectStore): ObjectStore;
}

/**
 * Turns the object store's disk budget into back-pressure: once a write is refused as full,
 * the operator gets one error log line (and `tlr_object_store_full_total` counts each refused
 * write) and ingest refuses new events, which stay with the clients instead of piling up in
 * the buffer. The buffered events are retried by the batcher; its first accepted write (room
 * was made, or the budget raised) ends the state, with an info line.
 */
export function createStoreFullTracker(options: StoreFullTrackerOptions): StoreFullTracker {
  const { logger, retryAfterSeconds } = options;
  const refusedWrites = options.registry
    ? counter(options.registry, {
        name: 'tlr_object_store_full_total',
        help: 'Writes the central object store refused because its disk budget (or the disk) is full.',
      })
    : undefined;
  const active = activeGauge(options.registry);
  active?.set({ reason: BackpressureReason.STORE_FULL }, 0);
  let full = false;

  const state: BackpressureState = {
    ok: false,
    reason: BackpressureReason.STORE_FULL,
    retryAfterSeconds,
    message: "The router's object store is full (its disk budget is reached); nothing was stored, retry later.",
  };

  return {
    async check() {
      return full ? state : OK;
    },
    wrap(store) {
      return {
        ...store,
        async put(key, body, putOptions) {
          try {
            await store.put(key, body, putOptions);
          } catch (error) {
            if (error instanceof RouterError && error.code === ErrorCode.STORE_FULL) {
              refusedWrites?.inc();
              if (!full) {
                full = true;
                active?.set({ reason: BackpressureReason.STORE_FULL }, 1);
                logger.error('The object store is full; ingest refuses new events (503, Forward paused) until there is room.', {
                  key,
                  error,
                });
              }
            }
            throw error;
          }
          if (full) {
            full = false;
            active?.set({ reason: BackpressureReason.STORE_FULL }, 0);
            logger.info('The object store has room again; ingest accepts events.', { key });
          }
        },
      };
    },
  };
}

/** The first check that refuses, in the order given; ok when none does. */
export function combineBackpressureChecks(checks: readonly BackpressureCheck[]): BackpressureCheck {
  return {
    async check() {
      for (const c of checks) {
        const state = await c.check();
        if (!state.ok) return state;
      }
      return OK;
    },
  };
}

/**
 * Reads `TLR_MAX_QUEUE_BACKLOG`.
 *
 * @returns the limit, or undefined when unset (use `DEFAULT_MAX_QUEUE_BACKLOG`)
 * @throws ConfigValidationError naming the variable when it is not a whole number ≥ 1
 */
export function maxQueueBacklogFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  return wholeNumberFromEnv(env, MAX_QUEUE_BACKLOG_ENV);
}
