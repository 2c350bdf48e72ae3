import { randomUUID } from 'node:crypto';
import {
  checkAuditListLimit,
  checkNewAuditEntry,
  decodeAuditCursor,
  encodeAuditCursor,
  padAuditNumber,
  parseAuditDocument,
} from '../audit-entries.js';
import type { AuditAction, AuditEntry, AuditLogStore, NewAuditEntry } from '../ports.js';
import { type Migration, migrate, type SqliteDatabase } from './database.js';

interface AuditRow {
  seq: number;
  id: string;
  tenant_id: string;
  type: string;
  action: string;
  actor: string;
  at: number;
  before_json: string | null;
  after_json: string | null;
}

/** The entry key inside a cursor: the last entry's time and sequence, each 16 digits. */
const ENTRY_KEY_REGEX = /^(\d{16})#(\d{16})$/;

const AUDIT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'audit_log',
    up: (db) => {
      // `at` is epoch ms as given by the caller. `seq` orders entries of the same millisecond
      // by arrival; AUTOINCREMENT keeps it from ever going back, even if rows are pruned by hand.
      // `before_json`/`after_json` are the rows as JSON (BEFORE/AFTER are SQL keywords).
      db.exec(`
        CREATE TABLE audit_log (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          tenant_id TEXT NOT NULL,
          type TEXT NOT NULL,
          action TEXT NOT NULL,
          actor TEXT NOT NULL,
          at INTEGER NOT NULL,
          before_json TEXT,
          after_json TEXT
        );
        CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, at, seq);
      `);
    },
  },
];

/**
 * Migrates the audit table and prepares its insert: the one way an entry is written, by the
 * audit log and by a store that appends the entry of a change inside its own transaction
 * (the config store), so both write the same row. Call it inside a transaction to make the
 * entry part of it.
 *
 * @param db - the router's database, from `openDatabase`
 * @returns a function appending an entry under a new random id and returning it as stored
 * @throws RangeError (from the returned function) when `atMs` is not a whole number ≥ 0 or `tenantId` is empty
 * @internal
 */
export function prepareSqliteAuditAppend(db: SqliteDatabase): (entry: NewAuditEntry) => AuditEntry {
  migrate(db, 'audit_log', AUDIT_MIGRATIONS);
  const insert = db.prepare<[Omit<AuditRow, 'seq'>]>(
    `INSERT INTO audit_log (id, tenant_id, type, action, actor, at, before_json, after_json)
     VALUES (@id, @tenant_id, @type, @action, @actor, @at, @before_json, @after_json)`,
  );
  return (entry) => {
    checkNewAuditEntry(entry);
    const row = {
      id: randomUUID(),
      tenant_id: entry.tenantId,
      type: entry.type,
      action: entry.action,
      actor: entry.actor,
      at: entry.atMs,
      before_json: entry.before === undefined ? null : JSON.stringify(entry.before),
      after_json: entry.after === undefined ? null : JSON.stringify(entry.after),
    };
    insert.run(row);
    // Built from what was stored, so the entry equals what `list` gives back later.
    return toEntry(row);
  };
}

/**
 * Creates the embedded audit log: config changes per tenant, append-only, in SQLite.
 * `list` pages newest first by `atMs`, entries of the same millisecond newest-appended first.
 *
 * @param db - the router's database, from `openDatabase`; the store migrates its table
 * @example
 * const audit = createSqliteAuditLogStore(openDatabase('.tlr/tlr.db'));
 * await audit.append({ tenantId: 'team-a', type: 's3', action: 'create', actor: 'cli:ops', atMs: Date.now(), after });
 * const { entries, nextCursor } = await audit.list('team-a', { limit: 50 });
 */
export function createSqliteAuditLogStore(db: SqliteDatabase): AuditLogStore {
  const appendEntry = prepareSqliteAuditAppend(db);
  const selectFirstPage = db.prepare<[{ tenantId: string; limit: number }], AuditRow>(
    `SELECT * FROM audit_log WHERE tenant_id = @tenantId
     ORDER BY at DESC, seq DESC LIMIT @limit`,
  );
  const selectPageAfter = db.prepare<[{ tenantId: string; at: number; seq: number; limit: number }], AuditRow>(
    `SELECT * FROM audit_log WHERE tenant_id = @tenantId AND (at, seq) < (@at, @seq)
     ORDER BY at DESC, seq DESC LIMIT @limit`,
  );

  return {
    /**
     * Appends an entry under a new random id.
     * @throws RangeError when `atMs` is not a whole number ≥ 0 or `tenantId` is empty
     */
    async append(entry: NewAuditEntry): Promise<AuditEntry> {
      return appendEntry(entry);
    },

    /**
     * @throws RangeError when `limit` is not a whole number ≥ 1
     * @throws InvalidCursorError when the cursor was not made by this store for this tenant
     */
    async list(tenantId, { limit, cursor }) {
      checkAuditListLimit(limit);
      const after = cursor === undefined ? undefined : parseEntryKey(decodeAuditCursor(cursor, tenantId, ENTRY_KEY_REGEX));
      // One row more than asked tells whether another page exists, so the last page has no cursor.
      const rows = after
        ? selectPageAfter.all({ tenantId, ...after, limit: limit + 1 })
        : selectFirstPage.all({ tenantId, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        entries: page.map(toEntry),
        ...(rows.length > limit && last && { nextCursor: encodeAuditCursor(tenantId, entryKey(last)) }),
      };
    },
  };
}

function entryKey(row: AuditRow): string {
  return `${padAuditNumber(row.at)}#${padAuditNumber(row.seq)}`;
}

function parseEntryKey(key: string): { at: number; seq: number } {
  // The pattern matched when the cursor was decoded, so both groups are there.
  const [, at, seq] = ENTRY_KEY_REGEX.exec(key)!;
  return { at: Number(at), seq: Number(seq) };
}

function toEntry(row: Omit<AuditRow, 'seq'>): AuditEntry {
  const before = parseAuditDocument(row.before_json);
  const after = parseAuditDocument(row.after_json);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    type: row.type,
    action: row.action as AuditAction,
    actor: row.actor,
    atMs: row.at,
    ...(before !== undefined && { before }),
    ...(after !== undefined && { after }),
  };
}
