import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteDestinationStatusStore } from '../../../src/stores/local/destination-status-store.js';
import { randomId } from '../../helpers/factories.js';
import { rejection } from '../../helpers/store-contract.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const START_MS = 1_767_225_600_000;

let dbPath: string;
const openDbs: SqliteDatabase[] = [];

function open(): SqliteDatabase {
  const db = openDatabase(dbPath);
  openDbs.push(db);
  return db;
}

beforeEach(async () => {
  dbPath = join(await makeTempDir('tlr-status-'), 'tlr.db');
});

afterEach(async () => {
  for (const db of openDbs.splice(0)) if (db.open) db.close();
  await removeTempDirs();
});

describe('createSqliteDestinationStatusStore', () => {
  it("records its schema as component 'destination_status', version 2, and opens an existing database again", () => {
    // Prepare
    createSqliteDestinationStatusStore(open());

    // Act
    const reopened = open();
    createSqliteDestinationStatusStore(reopened);

    // Assess
    expect(reopened.prepare("SELECT version FROM schema_versions WHERE component = 'destination_status'").get()).toEqual({
      version: 2,
    });
  });

  it('adds the circuit columns to a version 1 table, keeping its rows', async () => {
    // Prepare: the table as version 1 made it, with one row.
    const db = open();
    db.exec(`CREATE TABLE destination_status (
               tenant_id TEXT NOT NULL, type TEXT NOT NULL, last_success_at INTEGER, lag_ms INTEGER,
               error_code TEXT, error_message TEXT, error_at INTEGER, pending_retries INTEGER NOT NULL,
               updated_at INTEGER NOT NULL, PRIMARY KEY (tenant_id, type))`);
    db.exec(`INSERT INTO destination_status VALUES ('t1', 's3', ${START_MS}, 5, NULL, NULL, NULL, 2, ${START_MS})`);
    db.exec("INSERT INTO schema_versions (component, version, applied_at) VALUES ('destination_status', 1, 'then')");

    // Act
    const store = createSqliteDestinationStatusStore(db, { now: () => START_MS + 1 });
    await store.apply([{ tenantId: 't1', type: 's3', circuit: { state: 'open', nextProbeAtMs: START_MS + 9, atMs: START_MS } }]);

    // Assess
    expect(await store.listTenant('t1')).toEqual([
      {
        tenantId: 't1',
        type: 's3',
        lastSuccessAtMs: START_MS,
        lagMs: 5,
        pendingRetries: 2,
        circuit: { state: 'open', nextProbeAtMs: START_MS + 9, atMs: START_MS },
        updatedAtMs: START_MS + 1,
      },
    ]);
  });

  it('writes all of an apply or none of it when a write fails midway', async () => {
    // Prepare: a trigger makes the second row's write fail inside the transaction.
    const db = open();
    const store = createSqliteDestinationStatusStore(db, { now: () => START_MS });
    db.exec(`CREATE TRIGGER refuse_boom BEFORE INSERT ON destination_status WHEN NEW.type = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END`);
    const tenantId = `tenant-${randomId()}`;
    await store.apply([{ tenantId, type: 's3', pendingRetriesDelta: 1 }]);

    // Act
    const error = await rejection(
      store.apply([
        { tenantId, type: 's3', lastSuccessAtMs: START_MS, pendingRetriesDelta: 5 },
        { tenantId, type: 'boom', pendingRetriesDelta: 1 },
      ]),
    );

    // Assess
    expect(error).toMatchObject({ message: 'boom refused' });
    expect(await store.listTenant(tenantId)).toEqual([{ tenantId, type: 's3', pendingRetries: 1, updatedAtMs: START_MS }]);
  });

  it('keeps records across closing and reopening the database', async () => {
    // Prepare
    const db = open();
    const tenantId = `tenant-${randomId()}`;
    const lastError = { code: 'throttled', message: 'Slow down.', atMs: START_MS };
    await createSqliteDestinationStatusStore(db, { now: () => START_MS }).apply([
      { tenantId, type: 's3', lastSuccessAtMs: START_MS - 1, lagMs: 7, lastError, pendingRetriesDelta: 2 },
    ]);
    db.close();

    // Act
    const records = await createSqliteDestinationStatusStore(open()).listTenant(tenantId);

    // Assess
    expect(records).toEqual([
      { tenantId, type: 's3', lastSuccessAtMs: START_MS - 1, lagMs: 7, lastError, pendingRetries: 2, updatedAtMs: START_MS },
    ]);
  });
});
