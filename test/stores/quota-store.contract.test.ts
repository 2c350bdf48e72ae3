import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoQuotaStore } from '../../src/stores/aws/dynamodb-quota-store.js';
import { createSqliteQuotaStore } from '../../src/stores/local/quota-store.js';
import type { TenantQuotaStore } from '../../src/stores/ports.js';
import { randomId } from '../helpers/factories.js';
import { dynamoStoreUnderTest, rejection, sqliteStoreUnderTest, type StoreUnderTest } from '../helpers/store-contract.js';

const START_MS = 1_767_225_600_000;
const DAY = '2026-01-01';

const adapters: StoreUnderTest<TenantQuotaStore>[] = [
  sqliteStoreUnderTest('SQLite', (db, { now }) => createSqliteQuotaStore(db, now)),
  dynamoStoreUnderTest('DynamoDB', (client, tables, { now }) =>
    createDynamoQuotaStore({ client, tableName: tables.quotas!, now }),
  ),
];

describe.each(adapters.map((a) => [a.name, a] as const))('TenantQuotaStore contract on %s', (_name, adapter) => {
  describe.skipIf(adapter.unavailable !== undefined)(adapter.backend, () => {
    let store: TenantQuotaStore;
    let tenantId: string;

    beforeAll(() => adapter.beforeAll());
    afterAll(() => adapter.afterAll());
    beforeEach(async () => {
      await adapter.beforeEach();
      store = adapter.open({ now: () => START_MS });
      tenantId = `tenant-${randomId()}`;
    });
    afterEach(() => adapter.afterEach());

    it('adds reservations up to the cap exactly and reports the total', async () => {
      // Prepare
      const cap = 1_000;

      // Act
      const results = [];
      for (const bytes of [400, 500, 100]) results.push(await store.add(tenantId, DAY, bytes, cap));

      // Assess
      expect(results).toEqual([
        { allowed: true, used: 400 },
        { allowed: true, used: 900 },
        { allowed: true, used: 1_000 },
      ]);
    });

    it('refuses a reservation that would pass the cap and leaves the total unchanged', async () => {
      // Prepare
      await store.add(tenantId, DAY, 900, 1_000);

      // Act
      const refused = await store.add(tenantId, DAY, 101, 1_000);
      const smaller = await store.add(tenantId, DAY, 100, 1_000);

      // Assess
      expect(refused).toEqual({ allowed: false, used: 900 });
      expect(smaller).toEqual({ allowed: true, used: 1_000 });
    });

    it('refuses a first reservation larger than the cap without creating a counter', async () => {
      // Act
      const refused = await store.add(tenantId, DAY, 2_000, 1_000);
      const next = await store.add(tenantId, DAY, 1_000, 1_000);

      // Assess
      expect(refused).toEqual({ allowed: false, used: 0 });
      expect(next).toEqual({ allowed: true, used: 1_000 });
    });

    it('keeps days and tenants apart', async () => {
      // Prepare
      const otherTenant = `tenant-${randomId()}`;
      await store.add(tenantId, DAY, 1_000, 1_000);

      // Act
      const nextDay = await store.add(tenantId, '2026-01-02', 1_000, 1_000);
      const other = await store.add(otherTenant, DAY, 1_000, 1_000);
      const sameDay = await store.add(tenantId, DAY, 1, 1_000);

      // Assess
      expect(nextDay).toEqual({ allowed: true, used: 1_000 });
      expect(other).toEqual({ allowed: true, used: 1_000 });
      expect(sameDay).toEqual({ allowed: false, used: 1_000 });
    });

    it('shares the counter between two store instances on one storage', async () => {
      // Prepare
      const second = adapter.open({ now: () => START_MS });

      // Act
      const first = await store.add(tenantId, DAY, 600, 1_000);
      const fromSecond = await second.add(tenantId, DAY, 300, 1_000);
      const refused = await store.add(tenantId, DAY, 200, 1_000);

      // Assess
      expect(first).toEqual({ allowed: true, used: 600 });
      expect(fromSecond).toEqual({ allowed: true, used: 900 });
      expect(refused).toEqual({ allowed: false, used: 900 });
    });

    it.each<[string, string, number, number, RegExp]>([
      ['a malformed day', '2026-1-1', 1, 10, /YYYY-MM-DD/],
      ['negative bytes', DAY, -1, 10, /bytes must be a whole number/],
      ['fractional bytes', DAY, 1.5, 10, /bytes must be a whole number/],
      ['a negative cap', DAY, 1, -1, /cap must be a whole number/],
    ])('rejects %s with a RangeError', async (_case, day, bytes, cap, message) => {
      // Act
      const error = await rejection(store.add(tenantId, day, bytes, cap));

      // Assess
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toMatch(message);
    });
  });
});
