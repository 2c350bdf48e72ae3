import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type Migration,
  migrate,
  openDatabase,
  type SqliteDatabase,
} from '../../../src/stores/local/database.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

let dbPath: string;
const openDbs: SqliteDatabase[] = [];

function open(): SqliteDatabase {
  const db = openDatabase(dbPath);
  openDbs.push(db);
  return db;
}

function schemaVersion(db: SqliteDatabase, component: string): number | undefined {
  const row = db.prepare('SELECT version FROM schema_versions WHERE component = ?').get(component) as
    | { version: number }
    | undefined;
  return row?.version;
}

const WIDGET_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'widgets',
    up: (db) => db.exec('CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL)'),
  },
  {
    version: 2,
    description: 'widgets.color',
    up: (db) => db.exec("ALTER TABLE widgets ADD COLUMN color TEXT NOT NULL DEFAULT 'grey'"),
  },
];

beforeEach(async () => {
  // A directory that does not exist yet: openDatabase creates it.
  dbPath = join(await makeTempDir('tlr-database-'), 'data', 'router.db');
});

afterEach(async () => {
  for (const db of openDbs.splice(0)) if (db.open) db.close();
  await removeTempDirs();
});

describe('openDatabase', () => {
  it.each([
    ['journal_mode', 'wal'],
    ['synchronous', 2],
    ['foreign_keys', 1],
  ])('sets %s for crash-safe commits', (pragma, expected) => {
    // Prepare
    const db = open();

    // Act
    const value = db.pragma(pragma, { simple: true });

    // Assess
    expect(value).toBe(expected);
  });

  it('keeps committed rows when the file is opened again', () => {
    // Prepare
    const first = open();
    migrate(first, 'widgets', WIDGET_MIGRATIONS);
    first.prepare('INSERT INTO widgets (name) VALUES (?)').run('kept');
    first.close();

    // Act
    const second = open();

    // Assess
    expect(second.prepare('SELECT name, color FROM widgets').all()).toEqual([
      { name: 'kept', color: 'grey' },
    ]);
  });
});

describe('migrate', () => {
  it('applies every step in order and records the newest version', () => {
    // Prepare
    const db = open();

    // Act
    migrate(db, 'widgets', WIDGET_MIGRATIONS);

    // Assess
    expect(schemaVersion(db, 'widgets')).toBe(2);
    db.prepare('INSERT INTO widgets (name, color) VALUES (?, ?)').run('w', 'red');
  });

  it('applies only the steps newer than the recorded version', () => {
    // Prepare
    const db = open();
    migrate(db, 'widgets', WIDGET_MIGRATIONS.slice(0, 1));
    db.prepare('INSERT INTO widgets (name) VALUES (?)').run('from v1');

    // Act
    migrate(db, 'widgets', WIDGET_MIGRATIONS);

    // Assess
    expect(schemaVersion(db, 'widgets')).toBe(2);
    expect(db.prepare('SELECT name, color FROM widgets').all()).toEqual([{ name: 'from v1', color: 'grey' }]);
  });

  it('does nothing when a reopened file is already at the newest version', () => {
    // Prepare
    const first = open();
    migrate(first, 'widgets', WIDGET_MIGRATIONS);
    first.close();
    const second = open();

    // Act
    const again = () => migrate(second, 'widgets', WIDGET_MIGRATIONS);

    // Assess
    expect(again).not.toThrow();
    expect(schemaVersion(second, 'widgets')).toBe(2);
  });

  it('versions each component on its own', () => {
    // Prepare
    const db = open();
    migrate(db, 'widgets', WIDGET_MIGRATIONS);

    // Act
    migrate(db, 'gadgets', [
      {
        version: 1,
        description: 'gadgets',
        up: (d) => d.exec('CREATE TABLE gadgets (id INTEGER PRIMARY KEY)'),
      },
    ]);

    // Assess
    expect([schemaVersion(db, 'widgets'), schemaVersion(db, 'gadgets')]).toEqual([2, 1]);
  });

  it('refuses a database whose schema is newer than the code knows', () => {
    // Prepare
    const db = open();
    migrate(db, 'widgets', WIDGET_MIGRATIONS);

    // Act
    const older = () => migrate(db, 'widgets', WIDGET_MIGRATIONS.slice(0, 1));

    // Assess
    expect(older).toThrow(/newer than this tlr knows/);
  });

  it('rolls a failing step back entirely and keeps the last good version', () => {
    // Prepare
    const db = open();
    migrate(db, 'widgets', WIDGET_MIGRATIONS.slice(0, 1));
    const failing: Migration = {
      version: 2,
      description: 'half done',
      up: (d) => {
        d.exec('CREATE TABLE half_done (id INTEGER)');
        throw new Error('step failed');
      },
    };

    // Act
    const run = () => migrate(db, 'widgets', [WIDGET_MIGRATIONS[0]!, failing]);

    // Assess
    expect(run).toThrow('step failed');
    expect(schemaVersion(db, 'widgets')).toBe(1);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half_done'").all()).toEqual([]);
  });
});
