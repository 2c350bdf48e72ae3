import { randomUUID } from 'node:crypto';
import type { DeadLetter, DeadLetterStore, NewDeadLetter } from '../ports.js';
import { type Migration, migrate, type SqliteDatabase } from './database.js';

/** What `createSqliteDeadLetterStore` accepts. */
export interface SqliteDeadLetterStoreOptions {
  /** The clock, in epoch ms, that stamps `createdAtMs`; tests pass a fake one. Default `Date.now`. */
  readonly now?: () => number;
}

interface DeadLetterRow {
  id: string;
  tenant_id: string;
  destination: string;
  object_key: string;
  reason: string;
  message: string;
  attempts: number;
  offset: number;
  created_at: number;
  redriven_at: number | null;
}

const DEAD_LETTER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'dead_letters',
    up: (db) => {
      // Timestamps are epoch ms. The rowid breaks ties between entries of the same millisecond.
      db.exec(`
        CREATE TABLE dead_letters (
          id TEXT PRIMARY KEY,
          tenant_id TEXT NOT NULL,
          destination TEXT NOT NULL,
          object_key TEXT NOT NULL,
          reason TEXT NOT NULL,
          message TEXT NOT NULL,
          attempts INTEGER NOT NULL,
          "offset" INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          redriven_at INTEGER
        );
        CREATE INDEX dead_letters_by_created ON dead_letters (created_at);
        CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant_id, created_at);
      `);
    },
  },
];

/**
 * Creates the embedded dead-letter store: work refused for good, with the reason, in SQLite.
 *
 * @param db - the router's database, from `openDatabase`; the store migrates its table
 * @param options - the clock
 */
export function createSqliteDeadLetterStore(
  db: SqliteDatabase,
  options: SqliteDeadLetterStoreOptions = {},
): DeadLetterStore {
  const now = options.now ?? Date.now;
  migrate(db, 'dead_letters', DEAD_LETTER_MIGRATIONS);

  const insert = db.prepare<[DeadLetterRow]>(
    `INSERT INTO dead_letters
       (id, tenant_id, destination, object_key, reason, message, attempts, "offset", created_at, redriven_at)
     VALUES
       (@id, @tenant_id, @destination, @object_key, @reason, @message, @attempts, @offset, @created_at, @redriven_at)`,
  );
  // Optional filters as nullable parameters keep this one prepared statement; LIMIT -1 is no limit.
  const selectNewestFirst = db.prepare<
    [{ tenantId: string | null; includeRedriven: number; limit: number }],
    DeadLetterRow
  >(
    `SELECT * FROM dead_letters
     WHERE (@tenantId IS NULL OR tenant_id = @tenantId) AND (@includeRedriven = 1 OR redriven_at IS NULL)
     ORDER BY created_at DESC, rowid DESC
     LIMIT @limit`,
  );
  const selectOne = db.prepare<[string], DeadLetterRow>('SELECT * FROM dead_letters WHERE id = ?');
  const setRedrivenAt = db.prepare<[number, string]>('UPDATE dead_letters SET redriven_at = ? WHERE id = ?');

  return {
    async add(entry: NewDeadLetter): Promise<DeadLetter> {
      const row: DeadLetterRow = {
        id: randomUUID(),
        tenant_id: entry.tenantId,
        destination: entry.destination,
        object_key: entry.objectKey,
        reason: entry.reason,
        message: entry.message,
        attempts: entry.attempts,
        offset: entry.offset,
        created_at: now(),
        redriven_at: null,
      };
      insert.run(row);
      return toDeadLetter(row);
    },

    /** Newest first; without `limit`, every match; redriven entries only with `includeRedriven`. */
    async list(filter = {}): Promise<DeadLetter[]> {
      const rows = selectNewestFirst.all({
        tenantId: filter.tenantId ?? null,
        includeRedriven: filter.includeRedriven ? 1 : 0,
        limit: filter.limit ?? -1,
      });
      return rows.map(toDeadLetter);
    },

    async get(id: string): Promise<DeadLetter | undefined> {
      const row = selectOne.get(id);
      return row && toDeadLetter(row);
    },

    /** Stamps the entry as redriven; an unknown id changes nothing. */
    async markRedriven(id: string, atMs: number): Promise<void> {
      setRedrivenAt.run(atMs, id);
    },
  };
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    destination: row.destination,
    objectKey: row.object_key,
    reason: row.reason,
    message: row.message,
    attempts: row.attempts,
    offset: row.offset,
    createdAtMs: row.created_at,
    ...(row.redriven_at !== null && { redrivenAtMs: row.redriven_at }),
  };
}
