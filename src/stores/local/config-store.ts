import type { DeliveryConfig } from '../../domain/index.js';
import { checkConfigChangeAudit, configChangeKey, meetsExpectation } from '../config-changes.js';
import { decodeConfigCursor, encodeConfigCursor } from '../config-cursor.js';
import {
  type ConfigChange,
  ConfigChangeOutcome,
  type ConfigRowExpectation,
  type DeliveryConfigStore,
  type NewAuditEntry,
} from '../ports.js';
import { prepareSqliteAuditAppend } from './audit-log-store.js';
import { type Migration, migrate, type SqliteDatabase } from './database.js';


interface ConfigRow {
  tenant_id: string;
  type: string;
  doc: string;
}

/** Where a page ended: the key of its last row. */

const CONFIG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'delivery_configs',
    up: (db) => {
      // `doc` is the row as given, JSON; timestamps are epoch ms kept by the store.
      db.exec(`
        CREATE TABLE delivery_configs (
          tenant_id TEXT NOT NULL,
          type TEXT NOT NULL,
          doc TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (tenant_id, type)
        )
      `);
    },
  },
];

/**
 * Creates the embedded delivery-config store: one SQLite row per (tenant, type), holding
 * the config as JSON exactly as given. Validation is the caller's (strict on write, lenient
 * on read). `applyChange` writes the audit entry of a change into the audit table of the same
 * database, in the change's transaction.
 *
 * @param db - the router's database, from `openDatabase`; the store migrates its table and the audit table
 */
export function createSqliteConfigStore(db: SqliteDatabase): DeliveryConfigStore {
  migrate(db, 'config', CONFIG_MIGRATIONS);
  const appendAudit = prepareSqliteAuditAppend(db);

  const selectTenant = db.prepare<[string], ConfigRow>(
    'SELECT tenant_id, type, doc FROM delivery_configs WHERE tenant_id = ? ORDER BY type',
  );
  const selectOne = db.prepare<[string, string], ConfigRow>(
    'SELECT tenant_id, type, doc FROM delivery_configs WHERE tenant_id = ? AND type = ?',
  );
  const insertIfAbsent = db.prepare<[string, string, string, number, number]>(
    `INSERT INTO delivery_configs (tenant_id, type, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (tenant_id, type) DO NOTHING`,
  );
  const upsert = db.prepare<[string, string, string, number, number]>(
    `INSERT INTO delivery_configs (tenant_id, type, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (tenant_id, type) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`,
  );
  const deleteOne = db.prepare<[string, string]>(
    'DELETE FROM delivery_configs WHERE tenant_id = ? AND type = ?',
  );
  const selectFirstPage = db.prepare<[number], ConfigRow>(
    'SELECT tenant_id, type, doc FROM delivery_configs ORDER BY tenant_id, type LIMIT ?',
  );
  const selectPageAfter = db.prepare<[string, string, number], ConfigRow>(
    `SELECT tenant_id, type, doc FROM delivery_configs
     WHERE (tenant_id, type) > (?, ?) ORDER BY tenant_id, type LIMIT ?`,
  );

  const applyInTransaction = db.transaction(
    (change: ConfigChange, expect: ConfigRowExpectation, audit: NewAuditEntry): ConfigChangeOutcome => {
      const key = configChangeKey(change);
      const current = selectOne.get(key.tenantId, key.type);
      if (!meetsExpectation(current && parseRow(current), expect)) return ConfigChangeOutcome.CONFLICT;
      if (change.put !== undefined) {
        const nowMs = Date.now();
        upsert.run(key.tenantId, key.type, JSON.stringify(change.put), nowMs, nowMs);
      } else {
        deleteOne.run(key.tenantId, key.type);
      }
      // A failing insert throws, and better-sqlite3 then rolls the change back with it.
      appendAudit(audit);
      return ConfigChangeOutcome.APPLIED;
    },
  );

  return {
    async listTenant(tenantId) {
      return selectTenant.all(tenantId).map(parseRow);
    },

    async get(tenantId, type) {
      const row = selectOne.get(tenantId, type);
      return row && parseRow(row);
    },

    async create(config: DeliveryConfig) {
      const nowMs = Date.now();
      return (
        insertIfAbsent.run(config.tenant_id, config.type, JSON.stringify(config), nowMs, nowMs).changes > 0
      );
    },

    async put(config: DeliveryConfig) {
      const nowMs = Date.now();
      upsert.run(config.tenant_id, config.type, JSON.stringify(config), nowMs, nowMs);
    },

    async delete(tenantId, type) {
      return deleteOne.run(tenantId, type).changes > 0;
    },

    async applyChange(change, expect, audit) {
      checkConfigChangeAudit(change, audit);
      // IMMEDIATE takes the write lock before the read, so another connection to the file (a
      // `tlr configs` run beside `tlr up`) cannot change the row between the check and the write.
      return applyInTransaction.immediate(change, expect, audit);
    },

    async listAll({ limit, cursor }) {
      if (!(Number.isSafeInteger(limit) && limit >= 1)) {
        throw new RangeError(`listAll limit must be a whole number ≥ 1, got ${limit}.`);
      }
      // One row more than asked tells whether another page exists, so the last page has no cursor.
      const after = cursor === undefined ? undefined : decodeConfigCursor(cursor);
      const rows = after ? selectPageAfter.all(after.t, after.y, limit + 1) : selectFirstPage.all(limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        rows: page.map(parseRow),
        ...(rows.length > limit && last && { nextCursor: encodeConfigCursor({ t: last.tenant_id, y: last.type }) }),
      };
    },
  };
}

/**
 * The stored doc, parsed. A doc that is not a JSON object (edited by hand) comes back as
 * its key only, so the lenient reader reports that one row and the tenant's others still load.
 */
function parseRow(row: ConfigRow): Record<string, unknown> {
  try {
    const doc: unknown = JSON.parse(row.doc);
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) return doc as Record<string, unknown>;
  } catch {
    // Fall through to the key-only row.
  }
  return { tenant_id: row.tenant_id, type: row.type };
}


