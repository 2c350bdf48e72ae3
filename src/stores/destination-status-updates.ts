import { DestinationCircuitState, type DestinationStatusUpdate } from './ports.js';

const CIRCUIT_STATES: readonly string[] = Object.values(DestinationCircuitState);

/**
 * What the destination-status adapters share: the checks on updates, and how several
 * updates of one destination fold into one, with the same result as applying them in order.
 */

function isTime(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Refuses updates the stores could not compare or add, before anything is written, so a bad
 * batch changes nothing.
 *
 * @throws RangeError naming the first bad field: an empty `tenantId` or `type` (DynamoDB
 *   refuses empty key strings), a time that is not a whole number ≥ 0, a `lagMs` that is not
 *   a finite number, or a `pendingRetriesDelta` that is not a whole number
 * @internal
 */
export function checkStatusUpdates(updates: readonly DestinationStatusUpdate[]): void {
  updates.forEach((update, i) => {
    const at = `Destination status update ${i}`;
    for (const field of ['tenantId', 'type'] as const) {
      if (typeof update[field] !== 'string' || update[field] === '') {
        throw new RangeError(`${at}: '${field}' must be a non-empty string.`);
      }
    }
    if (update.lastSuccessAtMs !== undefined && !isTime(update.lastSuccessAtMs)) {
      throw new RangeError(`${at}: 'lastSuccessAtMs' must be a whole number ≥ 0, got ${update.lastSuccessAtMs}.`);
    }
    if (update.lagMs !== undefined && !Number.isFinite(update.lagMs)) {
      throw new RangeError(`${at}: 'lagMs' must be a finite number, got ${update.lagMs}.`);
    }
    if (update.lastError !== undefined) {
      const { code, message, atMs } = update.lastError;
      if (typeof code !== 'string' || typeof message !== 'string') {
        throw new RangeError(`${at}: 'lastError.code' and 'lastError.message' must be strings.`);
      }
      if (!isTime(atMs)) throw new RangeError(`${at}: 'lastError.atMs' must be a whole number ≥ 0, got ${atMs}.`);
    }
    const delta = update.pendingRetriesDelta;
    if (delta !== undefined && !Number.isSafeInteger(delta)) {
      throw new RangeError(`${at}: 'pendingRetriesDelta' must be a whole number, got ${delta}.`);
    }
    if (update.circuit !== undefined) {
      const { state, openedAtMs, nextProbeAtMs, atMs } = update.circuit;
      if (!CIRCUIT_STATES.includes(state)) {
        throw new RangeError(`${at}: 'circuit.state' must be one of ${CIRCUIT_STATES.join(', ')}, got '${String(state)}'.`);
      }
      for (const [field, value] of [['atMs', atMs], ['openedAtMs', openedAtMs], ['nextProbeAtMs', nextProbeAtMs]] as const) {
        if ((field === 'atMs' || value !== undefined) && !isTime(value)) {
          throw new RangeError(`${at}: 'circuit.${field}' must be a whole number ≥ 0, got ${value}.`);
        }
      }
    }
  });
}

/**
 * Folds the updates of each destination into one, in first-seen order: the newest success
 * with its own lag (a later one only wins when strictly newer, as in the stores), the newest
 * error, the newest circuit state, and the sum of the retry deltas. A `lagMs` without its `lastSuccessAtMs` is dropped:
 * a lag means nothing without the success it measures.
 *
 * @internal
 */
export function mergeStatusUpdates(updates: readonly DestinationStatusUpdate[]): DestinationStatusUpdate[] {
  const merged = new Map<string, DestinationStatusUpdate>();
  for (const update of updates) {
    // JSON of the pair cannot collide, whatever characters the ids hold.
    const key = JSON.stringify([update.tenantId, update.type]);
    const previous = merged.get(key) ?? { tenantId: update.tenantId, type: update.type };
    const successWins =
      update.lastSuccessAtMs !== undefined &&
      (previous.lastSuccessAtMs === undefined || update.lastSuccessAtMs > previous.lastSuccessAtMs);
    const errorWins =
      update.lastError !== undefined &&
      (previous.lastError === undefined || update.lastError.atMs > previous.lastError.atMs);
    const circuitWins =
      update.circuit !== undefined && (previous.circuit === undefined || update.circuit.atMs > previous.circuit.atMs);
    const circuit = circuitWins ? update.circuit : previous.circuit;
    const delta = (previous.pendingRetriesDelta ?? 0) + (update.pendingRetriesDelta ?? 0);
    const success = successWins ? update : previous;
    const lastError = errorWins ? update.lastError : previous.lastError;
    merged.set(key, {
      tenantId: update.tenantId,
      type: update.type,
      ...(success.lastSuccessAtMs !== undefined && { lastSuccessAtMs: success.lastSuccessAtMs }),
      ...(success.lastSuccessAtMs !== undefined && success.lagMs !== undefined && { lagMs: success.lagMs }),
      ...(lastError !== undefined && { lastError }),
      ...(circuit !== undefined && { circuit }),
      ...(delta !== 0 && { pendingRetriesDelta: delta }),
    });
  }
  return [...merged.values()];
}
