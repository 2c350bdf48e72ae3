import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidCursorError } from '../../../src/stores/config-cursor.js';
import { createSqliteAuditLogStore } from '../../../src/stores/local/audit-log-store.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { AuditAction, type NewAuditEntry } from '../../../src/stores/ports.js';
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

function newEntry(overrides: Partial<NewAuditEntry> = {}): NewAuditEntry {
  return {
    tenantId: `tenant-${randomId()}`,
    type: 'cloudwatch',
    action: AuditAction.UPDATE,
    actor: 'cli:ops',
    atMs: START_MS,
    before: { log_group_name: '/old' },
    after: { log_group_name: '/new' },
    ...overrides,
  };
}

beforeEach(async () => {
  dbPath = join(await makeTempDir('tlr-audit-'), 'tlr.db');
});

afterEach(async () => {
  for (const db of openDbs.splice(0)) if (db.open) db.close();
  await removeTempDirs();
});

describe('createSqliteAuditLogStore', () => {
  it("records its schema as component 'audit_log', version 1, and opens an existing database again", () => {
    // Prepare
    createSqliteAuditLogStore(open());

    // Act
    const reopened = open();
    createSqliteAuditLogStore(reopened);

    // Assess
    expect(reopened.prepare("SELECT version FROM schema_versions WHERE component = 'audit_log'").get()).toEqual({ version: 1 });
  });

  it('keeps entries, and their order, across closing and reopening the database', async () => {
    // Prepare
    const db = open();
    const store = createSqliteAuditLogStore(db);
    const tenantId = `tenant-${randomId()}`;
    const appended = [];
    for (let i = 0; i < 3; i += 1) appended.push(await store.append(newEntry({ tenantId })));
    db.close();

    // Act
    const { entries } = await createSqliteAuditLogStore(open()).list(tenantId, { limit: 10 });

    // Assess
    expect(entries).toEqual(appended.reverse());
  });

  it('keeps same-millisecond order across a reopen, since the sequence never goes back', async () => {
    // Prepare
    const db = open();
    const tenantId = `tenant-${randomId()}`;
    const first = await createSqliteAuditLogStore(db).append(newEntry({ tenantId }));
    db.close();

    // Act
    const second = await createSqliteAuditLogStore(open()).append(newEntry({ tenantId }));

    // Assess
    const { entries } = await createSqliteAuditLogStore(open()).list(tenantId, { limit: 10 });
    expect(entries.map((e) => e.id)).toEqual([second.id, first.id]);
  });

  it("refuses a cursor of the DynamoDB store's shape with InvalidCursorError", async () => {
    // Prepare
    const store = createSqliteAuditLogStore(open());
    const entry = await store.append(newEntry());
    const dynamoShaped = Buffer.from(
      JSON.stringify({ t: entry.tenantId, k: `${String(START_MS).padStart(16, '0')}#${'1'.padStart(16, '0')}#${entry.id}` }),
    ).toString('base64url');

    // Act
    const error = await rejection(store.list(entry.tenantId, { limit: 5, cursor: dynamoShaped }));

    // Assess
    expect(error).toBeInstanceOf(InvalidCursorError);
  });
});
