import type { Logger } from '../logging/index.js';
import type {
  DestinationCircuit,
  DestinationError,
  DestinationStatusStore,
  DestinationStatusUpdate,
} from '../stores/ports.js';

/**
 * Collects what the processor learns of each destination's health (last success and its
 * lag, last error, delayed retries scheduled and come due) in memory, and writes it to the
 * status store in one `apply` per flush. Status is for people reading the API: it is
 * written behind delivery, never in its way, so a failing status store is logged and the
 * updates are kept for the next flush.
 */

/** How often collected status is written by default. */
export const DEFAULT_STATUS_FLUSH_INTERVAL_MS = 5_000;
/** Destinations held while the store is failing; beyond this the oldest updates are dropped. */
const MAX_PENDING_DESTINATIONS = 100_000;

/** What the processor reports. */
export interface DestinationStatusRecorder {
  success(tenantId: string, type: string, atMs: number, lagMs: number): void;
  failure(tenantId: string, type: string, error: DestinationError): void;
  /** A delayed retry was queued for the destination. */
  retryScheduled(tenantId: string, type: string): void;
  /** A delayed retry of the destination came due and was handled. */
  retryDue(tenantId: string, type: string): void;
  /** The destination's circuit breaker on this replica changed state. */
  circuit(tenantId: string, type: string, circuit: DestinationCircuit): void;
  /** Writes what was collected; never rejects. */
  flush(): Promise<void>;
  /** Stops the timer and flushes. */
  close(): Promise<void>;
}

interface Pending {
  tenantId: string;
  type: string;
  lastSuccessAtMs?: number;
  lagMs?: number;
  lastError?: DestinationError;
  circuit?: DestinationCircuit;
  delta: number;
}

/**
 * @param options - the store, a logger, and the flush interval (0: flush only when asked,
 *   as a Lambda handler does at the end of each invocation)
 */
export function createDestinationStatusRecorder(options: {
  store: DestinationStatusStore;
  logger: Logger;
  flushIntervalMs?: number;
}): DestinationStatusRecorder {
  const { store, logger } = options;
  let pending = new Map<string, Pending>();
  let flushing: Promise<void> | undefined;

  const entry = (tenantId: string, type: string): Pending => {
    const key = `${tenantId}\u0000${type}`;
    let found = pending.get(key);
    if (!found) {
      if (pending.size >= MAX_PENDING_DESTINATIONS) pending.delete(pending.keys().next().value!);
      found = { tenantId, type, delta: 0 };
      pending.set(key, found);
    }
    return found;
  };

  const merge = (into: Map<string, Pending>, from: Map<string, Pending>): void => {
    for (const [key, p] of from) {
      const q = into.get(key);
      if (!q) {
        into.set(key, p);
        continue;
      }
      if (p.lastSuccessAtMs !== undefined && (q.lastSuccessAtMs === undefined || p.lastSuccessAtMs > q.lastSuccessAtMs)) {
        q.lastSuccessAtMs = p.lastSuccessAtMs;
        if (p.lagMs !== undefined) q.lagMs = p.lagMs;
      }
      if (p.lastError && (!q.lastError || p.lastError.atMs > q.lastError.atMs)) q.lastError = p.lastError;
      if (p.circuit && (!q.circuit || p.circuit.atMs > q.circuit.atMs)) q.circuit = p.circuit;
      q.delta += p.delta;
    }
  };

  const doFlush = async (): Promise<void> => {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const updates: DestinationStatusUpdate[] = [...batch.values()].map((p) => ({
      tenantId: p.tenantId,
      type: p.type,
      ...(p.lastSuccessAtMs !== undefined && { lastSuccessAtMs: p.lastSuccessAtMs }),
      ...(p.lagMs !== undefined && { lagMs: p.lagMs }),
      ...(p.lastError !== undefined && { lastError: p.lastError }),
      ...(p.circuit !== undefined && { circuit: p.circuit }),
      ...(p.delta !== 0 && { pendingRetriesDelta: p.delta }),
    }));
    try {
      await store.apply(updates);
    } catch (error) {
      // Newer updates collected meanwhile win; the failed batch goes back under them.
      const newer = pending;
      pending = batch;
      merge(pending, newer);
      logger.warn('Writing destination status failed; it will be written with the next flush.', {
        destinations: batch.size,
        error,
      });
    }
  };

  const flush = (): Promise<void> => {
    flushing ??= doFlush().finally(() => {
      flushing = undefined;
    });
    return flushing;
  };

  const intervalMs = options.flushIntervalMs ?? DEFAULT_STATUS_FLUSH_INTERVAL_MS;
  const timer = intervalMs > 0 ? setInterval(() => void flush(), intervalMs) : undefined;
  timer?.unref();

  return {
    success(tenantId, type, atMs, lagMs) {
      const p = entry(tenantId, type);
      if (p.lastSuccessAtMs === undefined || atMs >= p.lastSuccessAtMs) {
        p.lastSuccessAtMs = atMs;
        p.lagMs = lagMs;
      }
    },
    failure(tenantId, type, error) {
      const p = entry(tenantId, type);
      if (!p.lastError || error.atMs >= p.lastError.atMs) p.lastError = error;
    },
    retryScheduled(tenantId, type) {
      entry(tenantId, type).delta += 1;
    },
    retryDue(tenantId, type) {
      entry(tenantId, type).delta -= 1;
    },
    circuit(tenantId, type, circuit) {
      const p = entry(tenantId, type);
      if (!p.circuit || circuit.atMs >= p.circuit.atMs) p.circuit = circuit;
    },
    flush,
    async close() {
      if (timer) clearInterval(timer);
      await flushing;
      await flush();
    },
  };
}
