import { checkQuotaArguments, type QuotaReservation, type TenantQuotaStore } from '../ports.js';
import { type Migration, migrate, type SqliteDatabase } from './database.js';

const QUOTA_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'tenant quotas',
    up: (db) => {
      db.exec(`
        CREATE TABLE tenant_quotas (
          tenant_id TEXT NOT NULL,
          day TEXT NOT NULL,
          used INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (tenant_id, day)
        )
      `);
    },
  },
];

/** Days of counters kept behind the current one (for `tlr` to show, and clocks a little apart). */
const KEEP_DAYS = 3;
const DAY_MS = 86_400_000;

/**
 * Creates the embedded quota store: daily byte counters per tenant in SQLite. A reservation
 * is one statement (insert, or add where the total stays within the cap), so processes
 * sharing the database file never overshoot the cap together. Counters older than a few
 * days are deleted as days go by.
 *
 * @param db - the router's database, from `openDatabase`; the store migrates its table
 * @param now - the clock, in epoch ms, for `updated_at`
 */
export function createSqliteQuotaStore(db: SqliteDatabase, now: () => number = Date.now): TenantQuotaStore {
  migrate(db, 'quotas', QUOTA_MIGRATIONS);
  // The INSERT's WHERE refuses a first reservation above the cap; the upsert's WHERE a later one.
  const reserve = db.prepare<[string, string, number, number, number, number, number], { used: number }>(
    `INSERT INTO tenant_quotas (tenant_id, day, used, updated_at) SELECT ?, ?, ?, ? WHERE ? <= ?
     ON CONFLICT (tenant_id, day) DO UPDATE SET used = tenant_quotas.used + excluded.used, updated_at = excluded.updated_at
     WHERE tenant_quotas.used + excluded.used <= ?
     RETURNING used`,
  );
  const select = db.prepare<[string, string], { used: number }>(
    'SELECT used FROM tenant_quotas WHERE tenant_id = ? AND day = ?',
  );
  const deleteBefore = db.prepare<[string]>('DELETE FROM tenant_quotas WHERE day < ?');
  let cleanedForDay = '';

  return {
    async add(tenantId: string, dayUtc: string, bytes: number, cap: number): Promise<QuotaReservation> {
      checkQuotaArguments(dayUtc, bytes, cap);
      if (dayUtc > cleanedForDay) {
        cleanedForDay = dayUtc;
        deleteBefore.run(new Date(Date.parse(dayUtc) - KEEP_DAYS * DAY_MS).toISOString().slice(0, 10));
      }
      const added = reserve.get(tenantId, dayUtc, bytes, now(), bytes, cap, cap);
      if (added) return { allowed: true, used: added.used };
      return { allowed: false, used: select.get(tenantId, dayUtc)?.used ?? 0 };
    },
  };
}
