import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** An open SQLite database (better-sqlite3). */
export type SqliteDatabase = Database.Database;

/** One schema step of a component; `version` counts from 1 without gaps. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly up: (db: SqliteDatabase) => void;
}

/**
 * Opens (creating if needed) the router's SQLite database in WAL mode with full
 * synchronous commits, so a committed transaction survives a crash.
 *
 * @param path - a file path, or `:memory:` for tests
 */
export function openDatabase(path: string): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(`CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  return db;
}

/**
 * Brings one component's tables to its newest schema version, each step in its own
 * transaction. Components version independently, so each store owns its migrations.
 *
 * @param component - stable name (`queue`, `checkpoints`, …)
 * @param migrations - every step, ascending
 * @throws Error when the database holds a newer version than this code knows
 */
export function migrate(db: SqliteDatabase, component: string, migrations: readonly Migration[]): void {
  const row = db.prepare('SELECT version FROM schema_versions WHERE component = ?').get(component) as
    | { version: number }
    | undefined;
  const current = row?.version ?? 0;
  const newest = migrations.at(-1)?.version ?? 0;
  if (current > newest) {
    throw new Error(
      `The database schema of '${component}' is version ${current}, newer than this tlr knows (${newest}); ` +
        'upgrade tlr or use another data directory.',
    );
  }
  for (const step of migrations) {
    if (step.version <= current) continue;
    db.transaction(() => {
      step.up(db);
      db.prepare(
        `INSERT INTO schema_versions (component, version, applied_at) VALUES (?, ?, ?)
         ON CONFLICT(component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at`,
      ).run(component, step.version, new Date().toISOString());
    })();
  }
}
