import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoAuditLogStore } from '../../src/stores/aws/dynamodb-audit-log-store.js';
import { InvalidCursorError } from '../../src/stores/config-cursor.js';
import { createSqliteAuditLogStore } from '../../src/stores/local/audit-log-store.js';
import { AuditAction, type AuditEntry, type AuditLogStore, type NewAuditEntry } from '../../src/stores/ports.js';
import { randomId } from '../helpers/factories.js';
import {
  dynamoStoreUnderTest,
  rejection,
  sqliteStoreUnderTest,
  type StoreUnderTest,
} from '../helpers/store-contract.js';

const START_MS = 1_767_225_600_000;
const UUID_REGEX = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function newTenantId(): string {
  return `tenant-${randomId()}`;
}

function newAuditEntry(overrides: Partial<NewAuditEntry> = {}): NewAuditEntry {
  const tenantId = overrides.tenantId ?? newTenantId();
  return {
    tenantId,
    type: 's3',
    action: AuditAction.CREATE,
    actor: 'psk:current',
    atMs: START_MS,
    after: { tenant_id: tenantId, type: 's3', bucket_name: `bucket-${randomId()}` },
    ...overrides,
  };
}

/** Every page of a tenant's entries, following the cursors, with the page sizes seen. */
async function listAllPages(store: AuditLogStore, tenantId: string, limit: number) {
  const entries: AuditEntry[] = [];
  const pageSizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(tenantId, { limit, ...(cursor !== undefined && { cursor }) });
    entries.push(...page.entries);
    pageSizes.push(page.entries.length);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return { entries, pageSizes };
}

function cursorOf(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const adapters: StoreUnderTest<AuditLogStore>[] = [
  sqliteStoreUnderTest('SQLite', (db) => createSqliteAuditLogStore(db)),
  dynamoStoreUnderTest('DynamoDB', (client, tables) => createDynamoAuditLogStore({ client, tableName: tables.audit })),
];

describe.each(adapters.map((a) => [a.name, a] as const))('AuditLogStore contract on %s', (_name, adapter) => {
  describe.skipIf(adapter.unavailable !== undefined)(adapter.backend, () => {
    let store: AuditLogStore;

    beforeAll(() => adapter.beforeAll());
    afterAll(() => adapter.afterAll());
    beforeEach(async () => {
      await adapter.beforeEach();
      store = adapter.open({ now: () => START_MS });
    });
    afterEach(() => adapter.afterEach());

    describe('append', () => {
      it('returns the entry with a new random id, and lists it back equal', async () => {
        // Prepare
        const entry = newAuditEntry();

        // Act
        const appended = await store.append(entry);
        const { entries, nextCursor } = await store.list(entry.tenantId, { limit: 10 });

        // Assess
        expect(appended).toEqual({ ...entry, id: expect.stringMatching(UUID_REGEX) });
        expect(entries).toEqual([appended]);
        expect(nextCursor).toBeUndefined();
      });

      it('round-trips before and after as JSON: nesting, arrays, unicode, null, booleans, numbers', async () => {
        // Prepare
        const tenantId = newTenantId();
        const before = {
          tenant_id: tenantId,
          type: 'cloudwatch',
          desired_logs: ['kube-apiserver', 'audit'],
          retry: { initialIntervalMs: 500, maxElapsedMs: 60_000, jitter: 0.25 },
          enabled: false,
          description: 'Équipe ☃ — 日本語 "quoted" \\ back',
          external_id: null,
          empty: '',
          nested: { deeper: { list: [1, { x: [] }] } },
        };
        const after = { ...before, enabled: true, desired_logs: [] };
        const entry = newAuditEntry({ tenantId, type: 'cloudwatch', action: AuditAction.UPDATE, before, after });

        // Act
        const appended = await store.append(entry);
        const { entries } = await store.list(tenantId, { limit: 1 });

        // Assess
        expect(entries[0]).toEqual(appended);
        expect(entries[0]!.before).toEqual(before);
        expect(entries[0]!.after).toEqual(after);
      });

      it.each([
        ['a creation has no before', AuditAction.CREATE, { after: { type: 's3' } }, 'before'],
        ['a deletion has no after', AuditAction.DELETE, { before: { type: 's3' } }, 'after'],
      ] as const)('leaves out what is absent: %s', async (_case, action, docs, absent) => {
        // Prepare
        const { before: _b, after: _a, ...bare } = newAuditEntry();
        const entry: NewAuditEntry = { ...bare, action, ...docs };

        // Act
        const appended = await store.append(entry);
        const { entries } = await store.list(entry.tenantId, { limit: 1 });

        // Assess
        expect(entries).toEqual([appended]);
        expect(entries[0]).not.toHaveProperty(absent);
      });

      it('keeps a tenant-wide offboarding entry of type *, with neither before nor after', async () => {
        // Prepare
        const { before: _b, after: _a, ...bare } = newAuditEntry();
        const entry: NewAuditEntry = { ...bare, type: '*', action: AuditAction.OFFBOARD, actor: 'cli:ops' };

        // Act
        const appended = await store.append(entry);

        // Assess
        const { entries } = await store.list(entry.tenantId, { limit: 5 });
        expect(entries).toEqual([{ ...entry, id: appended.id }]);
      });

      it('gives each entry its own id, even for identical entries', async () => {
        // Prepare
        const entry = newAuditEntry();

        // Act
        const appended = [await store.append(entry), await store.append(entry), await store.append(entry)];

        // Assess
        expect(new Set(appended.map((e) => e.id)).size).toBe(3);
        expect((await store.list(entry.tenantId, { limit: 10 })).entries).toHaveLength(3);
      });

      it.each([
        ['a negative atMs', { atMs: -1 }],
        ['a fractional atMs', { atMs: START_MS + 0.5 }],
        ['a NaN atMs', { atMs: Number.NaN }],
        ['an empty tenantId', { tenantId: '' }],
      ])('refuses %s with RangeError and stores nothing', async (_case, overrides) => {
        // Prepare
        const entry = newAuditEntry(overrides);

        // Act
        const error = await rejection(store.append(entry));

        // Assess
        expect(error).toBeInstanceOf(RangeError);
        if (entry.tenantId !== '') expect((await store.list(entry.tenantId, { limit: 5 })).entries).toEqual([]);
      });

      it('lists entries appended through another store instance on the same storage', async () => {
        // Prepare
        const appended = await store.append(newAuditEntry());

        // Act
        const other = adapter.open({ now: () => START_MS });
        const { entries } = await other.list(appended.tenantId, { limit: 5 });

        // Assess
        expect(entries).toEqual([appended]);
      });
    });

    describe('list order', () => {
      it('lists newest first by atMs, whatever order the entries were appended in', async () => {
        // Prepare
        const tenantId = newTenantId();
        const offsets = [3_000, 1_000, 5_000, 2_000, 4_000];
        for (const offset of offsets) await store.append(newAuditEntry({ tenantId, atMs: START_MS + offset }));

        // Act
        const { entries } = await store.list(tenantId, { limit: 10 });

        // Assess
        expect(entries.map((e) => e.atMs - START_MS)).toEqual([5_000, 4_000, 3_000, 2_000, 1_000]);
      });

      it('lists entries of the same millisecond newest-appended first, the same way every time', async () => {
        // Prepare
        const tenantId = newTenantId();
        const appended: AuditEntry[] = [];
        for (let i = 0; i < 6; i += 1) appended.push(await store.append(newAuditEntry({ tenantId, actor: `cli:user-${i}` })));

        // Act
        const first = await store.list(tenantId, { limit: 10 });
        const second = await store.list(tenantId, { limit: 10 });

        // Assess
        expect(first.entries.map((e) => e.actor)).toEqual(appended.map((e) => e.actor).reverse());
        expect(second.entries).toEqual(first.entries);
      });

      it("lists only the tenant's own entries", async () => {
        // Prepare
        const [tenantA, tenantB] = [newTenantId(), newTenantId()];
        const a = await store.append(newAuditEntry({ tenantId: tenantA }));
        await store.append(newAuditEntry({ tenantId: tenantB }));
        // A tenant id that is a prefix of another must not match it.
        await store.append(newAuditEntry({ tenantId: `${tenantA}x` }));

        // Act
        const { entries } = await store.list(tenantA, { limit: 10 });

        // Assess
        expect(entries).toEqual([a]);
      });

      it('lists nothing, without a cursor, for a tenant with no entries', async () => {
        // Prepare
        const tenantId = newTenantId();

        // Act
        const page = await store.list(tenantId, { limit: 10 });

        // Assess
        expect(page).toEqual({ entries: [] });
      });
    });

    describe('pagination', () => {
      it('pages through every entry once, in order, with no cursor on the last page', async () => {
        // Prepare: 11 entries, several sharing a millisecond so page edges cut through ties.
        const tenantId = newTenantId();
        const offsets = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 0];
        const appended: AuditEntry[] = [];
        for (const [i, offset] of offsets.entries()) {
          appended.push(await store.append(newAuditEntry({ tenantId, atMs: START_MS + offset, actor: `cli:user-${i}` })));
        }
        const { entries: all } = await store.list(tenantId, { limit: 100 });

        // Act
        const paged = await listAllPages(store, tenantId, 3);

        // Assess
        expect(paged.pageSizes).toEqual([3, 3, 3, 2]);
        expect(paged.entries).toEqual(all);
        expect(new Set(paged.entries.map((e) => e.id)).size).toBe(appended.length);
        expect(all.map((e) => e.atMs - START_MS)).toEqual([3, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0]);
        // Within a millisecond, the later append comes first.
        expect(all.filter((e) => e.atMs === START_MS).map((e) => e.actor)).toEqual([
          'cli:user-10', 'cli:user-2', 'cli:user-1', 'cli:user-0',
        ]);
      });

      it('hands out no cursor when the last page is exactly full', async () => {
        // Prepare
        const tenantId = newTenantId();
        for (let i = 0; i < 6; i += 1) await store.append(newAuditEntry({ tenantId, atMs: START_MS + i }));

        // Act
        const paged = await listAllPages(store, tenantId, 3);

        // Assess
        expect(paged.pageSizes).toEqual([3, 3]);
      });

      it('pages one entry at a time', async () => {
        // Prepare
        const tenantId = newTenantId();
        for (let i = 0; i < 4; i += 1) await store.append(newAuditEntry({ tenantId }));

        // Act
        const paged = await listAllPages(store, tenantId, 1);

        // Assess
        expect(paged.pageSizes).toEqual([1, 1, 1, 1]);
        expect(new Set(paged.entries.map((e) => e.id)).size).toBe(4);
      });

      it('does not show, on later pages, entries appended after the first page was read at a newer time', async () => {
        // Prepare
        const tenantId = newTenantId();
        for (let i = 0; i < 4; i += 1) await store.append(newAuditEntry({ tenantId, atMs: START_MS + i }));
        const first = await store.list(tenantId, { limit: 2 });

        // Act
        await store.append(newAuditEntry({ tenantId, atMs: START_MS + 10 }));
        const second = await store.list(tenantId, { limit: 2, cursor: first.nextCursor! });

        // Assess
        expect(second.entries.map((e) => e.atMs - START_MS)).toEqual([1, 0]);
        expect(second.nextCursor).toBeUndefined();
      });

      it('refuses the cursor of another tenant with InvalidCursorError', async () => {
        // Prepare
        const [tenantA, tenantB] = [newTenantId(), newTenantId()];
        for (const tenantId of [tenantA, tenantA, tenantB, tenantB]) await store.append(newAuditEntry({ tenantId }));
        const { nextCursor } = await store.list(tenantA, { limit: 1 });

        // Act
        const error = await rejection(store.list(tenantB, { limit: 1, cursor: nextCursor! }));

        // Assess
        expect(nextCursor).toBeDefined();
        expect(error).toBeInstanceOf(InvalidCursorError);
        expect(error).toMatchObject({ code: 'RTR_ERR_INVALID_CURSOR' });
      });

      it.each([
        ['an empty string', ''],
        ['characters outside base64url', 'not a cursor!'],
        ['base64url that is not JSON', Buffer.from('hello').toString('base64url')],
        ['a JSON array', cursorOf(['a', 'b'])],
        ['JSON null', cursorOf(null)],
        ['a config cursor', cursorOf({ t: 'TENANT', y: 's3' })],
        ['a key of the wrong shape', cursorOf({ t: 'TENANT', k: 'x#y' })],
        ['a numeric key', cursorOf({ t: 'TENANT', k: 17 })],
      ])('refuses %s as a cursor with InvalidCursorError', async (_case, cursor) => {
        // Prepare
        const tenantId = newTenantId();
        await store.append(newAuditEntry({ tenantId }));
        const withTenant = cursor.length > 0 ? cursorWithTenant(cursor, tenantId) : cursor;

        // Act
        const error = await rejection(store.list(tenantId, { limit: 5, cursor: withTenant }));

        // Assess
        expect(error).toBeInstanceOf(InvalidCursorError);
      });

      it('refuses a real cursor whose key was altered', async () => {
        // Prepare
        const tenantId = newTenantId();
        for (let i = 0; i < 3; i += 1) await store.append(newAuditEntry({ tenantId }));
        const { nextCursor } = await store.list(tenantId, { limit: 1 });
        const position = JSON.parse(Buffer.from(nextCursor!, 'base64url').toString('utf8')) as { t: string; k: string };

        // Act
        const error = await rejection(store.list(tenantId, { limit: 1, cursor: cursorOf({ ...position, k: `${position.k}#x` }) }));

        // Assess
        expect(error).toBeInstanceOf(InvalidCursorError);
      });

      it.each([0, -1, 1.5, Number.NaN])('refuses a limit of %s with RangeError', async (limit) => {
        // Prepare
        const tenantId = newTenantId();

        // Act
        const error = await rejection(store.list(tenantId, { limit }));

        // Assess
        expect(error).toBeInstanceOf(RangeError);
      });
    });
  });
});

/** Puts the test's tenant into a crafted cursor, so only the part under test is wrong. */
function cursorWithTenant(cursor: string, tenantId: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[A-Za-z0-9_-]+$/.test(cursor) || !decoded.includes('TENANT')) return cursor;
  return cursorOf(JSON.parse(decoded.replace('TENANT', tenantId)));
}
