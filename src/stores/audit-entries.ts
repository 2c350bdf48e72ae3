import { InvalidCursorError } from './config-cursor.js';
import type { NewAuditEntry } from './ports.js';

/**
 * What the audit-log adapters share: the checks on a new entry, the fixed-width time key
 * that makes entries sort by time as strings, and the envelope of the opaque `list` cursor.
 * Each adapter keeps its own entry-key shape inside the envelope, so a cursor made by one
 * adapter (or for one tenant) is refused by another.
 */

/**
 * Digits of a time key: `Number.MAX_SAFE_INTEGER` has 16, so every whole, non-negative
 * ms time pads to the same width and string order is time order.
 * @internal
 */
export const AUDIT_TIME_DIGITS = 16;

/** The position an audit cursor holds: the tenant listed, and the key of the last entry handed out. */
interface AuditCursorPosition {
  readonly t: string;
  readonly k: string;
}

/**
 * Refuses an entry the stores could not order: `atMs` must be a whole, non-negative number,
 * since it becomes a fixed-width sort key; `tenantId` must not be empty (DynamoDB refuses
 * empty key strings, so the embedded store refuses them too).
 *
 * @throws RangeError naming the field
 * @internal
 */
export function checkNewAuditEntry(entry: NewAuditEntry): void {
  if (typeof entry.tenantId !== 'string' || entry.tenantId === '') {
    throw new RangeError('An audit entry\'s tenantId must be a non-empty string.');
  }
  if (!(Number.isSafeInteger(entry.atMs) && entry.atMs >= 0)) {
    throw new RangeError(`An audit entry's atMs must be a whole number ≥ 0, got ${entry.atMs}.`);
  }
}

/**
 * Refuses a page size the stores cannot serve.
 * @throws RangeError when `limit` is not a whole number ≥ 1
 * @internal
 */
export function checkAuditListLimit(limit: number): void {
  if (!(Number.isSafeInteger(limit) && limit >= 1)) {
    throw new RangeError(`Audit list limit must be a whole number ≥ 1, got ${limit}.`);
  }
}

/**
 * A number as a zero-padded string of `AUDIT_TIME_DIGITS` digits, so string order is number
 * order; used for times and sequences in entry keys.
 * @internal
 */
export function padAuditNumber(value: number): string {
  return String(value).padStart(AUDIT_TIME_DIGITS, '0');
}

/**
 * Encodes the position after which the next page of a tenant's entries starts.
 * @param tenantId - the tenant listed; a cursor is only good for the same tenant
 * @param entryKey - the adapter's key of the last entry handed out
 * @internal
 */
export function encodeAuditCursor(tenantId: string, entryKey: string): string {
  const position: AuditCursorPosition = { t: tenantId, k: entryKey };
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/**
 * Decodes a cursor for a listing of `tenantId` and returns the entry key it holds.
 *
 * @param cursor - the cursor as received
 * @param tenantId - the tenant being listed
 * @param entryKeyPattern - the shape of the adapter's entry keys
 * @throws InvalidCursorError when the cursor is not base64url JSON `{t, k}`, was made for
 *   another tenant, or holds a key of another shape (another adapter's, or altered)
 * @internal
 */
export function decodeAuditCursor(cursor: string, tenantId: string, entryKeyPattern: RegExp): string {
  // Buffer's base64url decoder skips invalid characters instead of failing, so check first.
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursorError(cursor);
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new InvalidCursorError(cursor, { cause });
  }
  const { t, k } = (typeof position === 'object' && position !== null ? position : {}) as Partial<
    Record<keyof AuditCursorPosition, unknown>
  >;
  // A cursor of another tenant would page through that tenant's entries: refuse it.
  if (t !== tenantId || typeof k !== 'string' || !entryKeyPattern.test(k)) throw new InvalidCursorError(cursor);
  return k;
}

/**
 * A stored `before`/`after` document, parsed; undefined when absent or not a JSON object
 * (edited by hand), so one bad entry does not fail the whole page.
 * @internal
 */
export function parseAuditDocument(json: unknown): Record<string, unknown> | undefined {
  if (typeof json !== 'string') return undefined;
  try {
    const doc: unknown = JSON.parse(json);
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) return doc as Record<string, unknown>;
  } catch {
    // Fall through: not ours to repair.
  }
  return undefined;
}
