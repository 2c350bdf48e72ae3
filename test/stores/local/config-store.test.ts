import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryConfig } from '../../../src/domain/delivery-config.js';
import { ErrorCode } from '../../../src/domain/errors.js';
import { InvalidCursorError } from '../../../src/stores/config-cursor.js';
import { createSqliteConfigStore } from '../../../src/stores/local/config-store.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteAuditLogStore } from '../../../src/stores/local/audit-log-store.js';
import { AuditAction, type DeliveryConfigStore, type NewAuditEntry } from '../../../src/stores/ports.js';
import { deliveryConfigFactory } from '../../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

let dbPath: string;
let db: SqliteDatabase;
let store: DeliveryConfigStore;

function config(overrides: Record<string, unknown> = {}): DeliveryConfig {
  return { enabled: true, desired_logs: [], groups: [], ...deliveryConfigFactory(overrides) };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

/** Every row, following cursors page by page. */
async function listAllPages(limit: number): Promise<{ pages: number; rows: Record<string, unknown>[] }> {
  const rows: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.listAll({ limit, ...(cursor !== undefined && { cursor }) });
    rows.push(...page.rows);
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor !== undefined);
  return { pages, rows };
}

beforeEach(async () => {
  dbPath = join(await makeTempDir('tlr-configs-'), 'router.db');
  db = openDatabase(dbPath);
  store = createSqliteConfigStore(db);
});

afterEach(async () => {
  if (db.open) db.close();
  await removeTempDirs();
});

describe('createSqliteConfigStore rows', () => {
  it('returns a row exactly as it was stored, unknown fields included', async () => {
    // Prepare
    const row = config({ type: 's3:archive', bucket: 'b', nested: { a: [1, 2] } });

    // Act
    await store.put(row);
    const read = await store.get(row.tenant_id, row.type);

    // Assess
    expect(read).toEqual(row);
  });

  it('returns undefined for a row that does not exist', async () => {
    // Prepare
    const row = config();

    // Act
    const read = await store.get(row.tenant_id, 'cloudwatch');

    // Assess
    expect(read).toBeUndefined();
  });

  it('creates a row only when it does not exist yet', async () => {
    // Prepare
    const original = config({ directory: '/first' });
    const second = { ...original, directory: '/second' };

    // Act
    const created = await store.create(original);
    const createdAgain = await store.create(second);

    // Assess
    expect([created, createdAgain]).toEqual([true, false]);
    expect(await store.get(original.tenant_id, original.type)).toEqual(original);
  });

  it('replaces a row on put', async () => {
    // Prepare
    const original = config({ directory: '/first' });
    await store.create(original);
    const replacement = { ...original, directory: '/second' };

    // Act
    await store.put(replacement);

    // Assess
    expect(await store.get(original.tenant_id, original.type)).toEqual(replacement);
  });

  it('deletes a row and says whether there was one', async () => {
    // Prepare
    const row = config();
    await store.put(row);

    // Act
    const deleted = await store.delete(row.tenant_id, row.type);
    const deletedAgain = await store.delete(row.tenant_id, row.type);

    // Assess
    expect([deleted, deletedAgain]).toEqual([true, false]);
    expect(await store.get(row.tenant_id, row.type)).toBeUndefined();
  });

  it("lists a tenant's rows, settings row included, ordered by type and without other tenants'", async () => {
    // Prepare
    const tenant = config().tenant_id;
    const rows = ['tenant', 's3', 'cloudwatch', 's3:archive'].map((type) =>
      config({ tenant_id: tenant, type }),
    );
    for (const row of rows) await store.put(row);
    await store.put(config());

    // Act
    const listed = await store.listTenant(tenant);

    // Assess
    expect(listed.map((r) => r['type'])).toEqual(['cloudwatch', 's3', 's3:archive', 'tenant']);
  });

  it('keeps rows when the database is opened again', async () => {
    // Prepare
    const row = config();
    await store.put(row);
    db.close();

    // Act
    db = openDatabase(dbPath);
    const read = await createSqliteConfigStore(db).get(row.tenant_id, row.type);

    // Assess
    expect(read).toEqual(row);
  });

  it.each([
    ['not JSON', '{"tenant_id":'],
    ['a JSON array', '[1,2]'],
    ['JSON null', 'null'],
  ])(
    'returns only the key of a hand-edited row whose doc is %s, and the other rows intact',
    async (_case, doc) => {
      // Prepare
      const good = config({ type: 'cloudwatch' });
      await store.put(good);
      db.prepare('INSERT INTO delivery_configs VALUES (?, ?, ?, 0, 0)').run(good.tenant_id, 's3', doc);

      // Act
      const listed = await store.listTenant(good.tenant_id);

      // Assess
      expect(listed).toEqual([good, { tenant_id: good.tenant_id, type: 's3' }]);
    },
  );
});

describe('createSqliteConfigStore listAll', () => {
  async function storeRows(count: number): Promise<DeliveryConfig[]> {
    const rows = Array.from({ length: count }, (_, i) =>
      config({ tenant_id: `tenant-${i % 3}`, type: i < 3 ? 'file' : `file:n${i}` }),
    );
    for (const row of rows) await store.put(row);
    return rows.sort((a, b) =>
      a.tenant_id === b.tenant_id ? (a.type < b.type ? -1 : 1) : a.tenant_id < b.tenant_id ? -1 : 1,
    );
  }

  it.each([
    [1, 7, 7],
    [2, 7, 4],
    [3, 6, 2],
    [10, 7, 1],
    [5, 0, 1],
  ])(
    'with limit %i, returns all %i rows in (tenant, type) order in %i pages',
    async (limit, count, pages) => {
      // Prepare
      const rows = await storeRows(count);

      // Act
      const listed = await listAllPages(limit);

      // Assess
      expect(listed.rows).toEqual(rows);
      expect(listed.pages).toBe(pages);
    },
  );

  it('hands out no cursor on the last page', async () => {
    // Prepare
    await storeRows(2);

    // Act
    const page = await store.listAll({ limit: 2 });

    // Assess
    expect(page.rows).toHaveLength(2);
    expect(page.nextCursor).toBeUndefined();
  });

  it('resumes after the last row even when that row was deleted in between', async () => {
    // Prepare
    const rows = await storeRows(4);
    const first = await store.listAll({ limit: 2 });
    await store.delete(rows[1]!.tenant_id, rows[1]!.type);

    // Act
    const second = await store.listAll({ limit: 2, cursor: first.nextCursor! });

    // Assess
    expect(second.rows).toEqual(rows.slice(2));
  });

  it.each([
    ['not base64url', 'not a cursor!'],
    ['not JSON', Buffer.from('{"t":').toString('base64url')],
    ['JSON without the key fields', Buffer.from('{"a":1}').toString('base64url')],
    ['JSON with a non-string field', Buffer.from('{"t":"a","y":1}').toString('base64url')],
    ['JSON null', Buffer.from('null').toString('base64url')],
    ['empty', ''],
  ])('refuses a cursor that is %s with InvalidCursorError', async (_case, cursor) => {
    // Prepare
    await storeRows(2);

    // Act
    const error = await rejection(store.listAll({ limit: 1, cursor }));

    // Assess
    expect(error).toBeInstanceOf(InvalidCursorError);
    expect(error).toMatchObject({ code: ErrorCode.INVALID_CURSOR, cursor });
  });

  it.each([[0], [-1], [1.5]])('refuses limit %s with RangeError', async (limit) => {
    // Prepare
    await storeRows(1);

    // Act
    const error = await rejection(store.listAll({ limit }));

    // Assess
    expect(error).toBeInstanceOf(RangeError);
  });
});

describe('createSqliteConfigStore applyChange', () => {
  const STORED_VERSION = '2026-01-01T08:00:00.000Z';

  function entryOf(row: DeliveryConfig, action: NewAuditEntry['action']): NewAuditEntry {
    return { tenantId: row.tenant_id, type: row.type, action, actor: 'cli:ops', atMs: Date.now(), after: row };
  }

  /** Makes every insert into the audit table fail, as a full disk or a broken table would. */
  function breakAuditTable(): void {
    db.exec(`CREATE TRIGGER audit_log_fails BEFORE INSERT ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit table unavailable'); END`);
  }

  function auditRowCount(): number {
    return (db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n;
  }

  it('writes the audit entry into the audit table of the same database, read back by the audit log', async () => {
    // Prepare
    const row = config({ updated_at: STORED_VERSION });
    const entry = entryOf(row, AuditAction.CREATE);

    // Act
    await store.applyChange({ put: row }, { absent: true }, entry);

    // Assess
    const { entries } = await createSqliteAuditLogStore(db).list(row.tenant_id, { limit: 10 });
    expect(entries).toEqual([{ ...entry, id: expect.any(String) }]);
  });

  it.each([
    ['a create', () => undefined, (row: DeliveryConfig) => ({ put: row }), { absent: true } as const],
    [
      'a replacement',
      (row: DeliveryConfig) => ({ ...row, directory: '/stored' }),
      (row: DeliveryConfig) => ({ put: row }),
      { updatedAt: STORED_VERSION },
    ],
    [
      'a delete',
      (row: DeliveryConfig) => row,
      (row: DeliveryConfig) => ({ delete: { tenantId: row.tenant_id, type: row.type } }),
      { updatedAt: STORED_VERSION },
    ],
  ])('rolls back %s when its audit entry cannot be written, and throws', async (_case, storedOf, changeOf, expectation) => {
    // Prepare
    const row = config({ updated_at: STORED_VERSION });
    const stored = storedOf(row);
    if (stored) await store.put(stored);
    breakAuditTable();

    // Act
    const error = await rejection(store.applyChange(changeOf(row), expectation, entryOf(row, AuditAction.UPDATE)));

    // Assess
    expect(error).toMatchObject({ message: 'audit table unavailable' });
    expect(await store.get(row.tenant_id, row.type)).toEqual(stored);
    expect(auditRowCount()).toBe(0);
  });

  it('reads a hand-edited doc that is not JSON as a row without version', async () => {
    // Prepare
    const row = config({ updated_at: STORED_VERSION });
    db.prepare('INSERT INTO delivery_configs VALUES (?, ?, ?, 0, 0)').run(row.tenant_id, row.type, '{"tenant_id":');

    // Act
    const versioned = await store.applyChange({ put: row }, { updatedAt: STORED_VERSION }, entryOf(row, AuditAction.REPLACE));
    const unversioned = await store.applyChange({ put: row }, { updatedAt: undefined }, entryOf(row, AuditAction.REPLACE));

    // Assess
    expect([versioned, unversioned]).toEqual(['conflict', 'applied']);
    expect(await store.get(row.tenant_id, row.type)).toEqual(row);
  });
});
