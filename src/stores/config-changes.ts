import { checkNewAuditEntry } from './audit-entries.js';
import type { ConfigChange, ConfigRowExpectation, NewAuditEntry } from './ports.js';

/**
 * What the delivery-config adapters share for `applyChange`: the key a change writes, the
 * checks on its audit entry, and how a row's version (`updated_at`) is read, so both
 * adapters judge an expectation alike.
 */

/** The config field that versions a row. */
export const CONFIG_VERSION_FIELD = 'updated_at';

/**
 * The (tenant, type) a change writes.
 * @internal
 */
export function configChangeKey(change: ConfigChange): { tenantId: string; type: string } {
  return change.put !== undefined ? { tenantId: change.put.tenant_id, type: change.put.type } : change.delete;
}

/**
 * Refuses an audit entry the change cannot be recorded with: one the audit log would refuse,
 * or one naming another row than the change writes (the log would then tell a wrong story).
 *
 * @throws RangeError naming the mismatch
 * @internal
 */
export function checkConfigChangeAudit(change: ConfigChange, audit: NewAuditEntry): void {
  checkNewAuditEntry(audit);
  const key = configChangeKey(change);
  if (audit.tenantId !== key.tenantId || audit.type !== key.type) {
    throw new RangeError(
      `The audit entry names '${audit.tenantId}/${audit.type}' but the change writes '${key.tenantId}/${key.type}'.`,
    );
  }
}

/**
 * The version of a stored row: its `updated_at` when that is a string, else undefined. Only
 * strings count, because only the config service writes the field, always as a string; a row
 * written by hand with another type reads as unversioned and can still be changed.
 * @internal
 */
export function configRowVersion(row: Record<string, unknown>): string | undefined {
  const version = row[CONFIG_VERSION_FIELD];
  return typeof version === 'string' ? version : undefined;
}

/**
 * Whether a stored row (undefined: none) meets an expectation.
 * @internal
 */
export function meetsExpectation(row: Record<string, unknown> | undefined, expect: ConfigRowExpectation): boolean {
  if ('absent' in expect) return row === undefined;
  return row !== undefined && configRowVersion(row) === expect.updatedAt;
}

/**
 * The expectation that the row is still as it was read: absent, or with the version it had.
 *
 * @param row - the row as read, or undefined when there was none
 * @example
 * const existing = await store.get(tenantId, type);
 * await store.applyChange({ put: row }, expectationOf(existing), entry);
 */
export function expectationOf(row: Record<string, unknown> | undefined): ConfigRowExpectation {
  return row === undefined ? { absent: true } : { updatedAt: configRowVersion(row) };
}
