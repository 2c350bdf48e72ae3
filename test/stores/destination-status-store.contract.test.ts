import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoDestinationStatusStore } from '../../src/stores/aws/dynamodb-destination-status-store.js';
import { createSqliteDestinationStatusStore } from '../../src/stores/local/destination-status-store.js';
import type { DestinationStatusStore, DestinationStatusUpdate } from '../../src/stores/ports.js';
import { randomId } from '../helpers/factories.js';
import {
  dynamoStoreUnderTest,
  rejection,
  sqliteStoreUnderTest,
  type StoreUnderTest,
} from '../helpers/store-contract.js';

const START_MS = 1_767_225_600_000;

function newTenantId(): string {
  return `tenant-${randomId()}`;
}

const adapters: StoreUnderTest<DestinationStatusStore>[] = [
  sqliteStoreUnderTest('SQLite', (db, { now }) => createSqliteDestinationStatusStore(db, { now })),
  dynamoStoreUnderTest('DynamoDB', (client, tables, { now }) =>
    createDynamoDestinationStatusStore({ client, tableName: tables.status, now }),
  ),
];

describe.each(adapters.map((a) => [a.name, a] as const))('DestinationStatusStore contract on %s', (_name, adapter) => {
  describe.skipIf(adapter.unavailable !== undefined)(adapter.backend, () => {
    let store: DestinationStatusStore;
    let clockMs: number;
    let tenantId: string;

    /** The one record of the test's tenant and `type` (default `s3`). */
    async function recordOf(type = 's3') {
      const records = await store.listTenant(tenantId);
      return records.find((r) => r.type === type);
    }

    /** Applies each update on its own, a millisecond apart, as separate reports would arrive. */
    async function applyEach(...updates: Omit<DestinationStatusUpdate, 'tenantId' | 'type'>[]) {
      for (const update of updates) {
        clockMs += 1;
        await store.apply([{ tenantId, type: 's3', ...update }]);
      }
    }

    beforeAll(() => adapter.beforeAll());
    afterAll(() => adapter.afterAll());
    beforeEach(async () => {
      await adapter.beforeEach();
      clockMs = START_MS;
      tenantId = newTenantId();
      store = adapter.open({ now: () => clockMs });
    });
    afterEach(() => adapter.afterEach());

    describe('apply', () => {
      it('creates a record from a first success, with its lag, no retries pending and the apply time', async () => {
        // Prepare
        const update = { tenantId, type: 's3', lastSuccessAtMs: START_MS - 500, lagMs: 1_200 };

        // Act
        await store.apply([update]);

        // Assess
        expect(await store.listTenant(tenantId)).toEqual([
          { tenantId, type: 's3', lastSuccessAtMs: START_MS - 500, lagMs: 1_200, pendingRetries: 0, updatedAtMs: START_MS },
        ]);
      });

      it('creates a record from a first error alone, without success or lag', async () => {
        // Prepare
        const lastError = { code: 'access_denied', message: 'The role cannot be assumed.', atMs: START_MS - 10 };

        // Act
        await store.apply([{ tenantId, type: 's3', lastError }]);

        // Assess
        expect(await store.listTenant(tenantId)).toEqual([
          { tenantId, type: 's3', lastError, pendingRetries: 0, updatedAtMs: START_MS },
        ]);
      });

      it('keeps a newer success and its lag', async () => {
        // Prepare
        await applyEach({ lastSuccessAtMs: START_MS + 100, lagMs: 50 });

        // Act
        await applyEach({ lastSuccessAtMs: START_MS + 200, lagMs: 70 });

        // Assess
        expect(await recordOf()).toMatchObject({ lastSuccessAtMs: START_MS + 200, lagMs: 70 });
      });

      it.each([
        ['older', START_MS + 100],
        ['equally old', START_MS + 200],
      ])('ignores an %s success, lag included', async (_case, staleAtMs) => {
        // Prepare
        await applyEach({ lastSuccessAtMs: START_MS + 200, lagMs: 70 });

        // Act
        await applyEach({ lastSuccessAtMs: staleAtMs, lagMs: 9_999 });

        // Assess
        expect(await recordOf()).toMatchObject({ lastSuccessAtMs: START_MS + 200, lagMs: 70 });
      });

      it('drops the lag of an older success when a newer success comes without one', async () => {
        // Prepare
        await applyEach({ lastSuccessAtMs: START_MS + 100, lagMs: 50 });

        // Act
        await applyEach({ lastSuccessAtMs: START_MS + 200 });

        // Assess
        const record = await recordOf();
        expect(record).toMatchObject({ lastSuccessAtMs: START_MS + 200 });
        expect(record).not.toHaveProperty('lagMs');
      });

      it('ignores a lag that comes without its success', async () => {
        // Prepare
        await applyEach({ lastSuccessAtMs: START_MS + 100, lagMs: 50 });

        // Act
        await applyEach({ lagMs: 9_999 });

        // Assess
        expect(await recordOf()).toMatchObject({ lastSuccessAtMs: START_MS + 100, lagMs: 50 });
      });

      it('keeps the newest error whole and ignores an older one, leaving the success alone', async () => {
        // Prepare
        const newer = { code: 'throttled', message: 'Rate exceeded.', atMs: START_MS + 300 };
        const older = { code: 'access_denied', message: 'Denied.', atMs: START_MS + 100 };
        await applyEach({ lastSuccessAtMs: START_MS + 200, lagMs: 10 });

        // Act
        await applyEach({ lastError: newer }, { lastError: older }, { lastError: { ...older, atMs: newer.atMs } });

        // Assess
        expect(await recordOf()).toMatchObject({ lastError: newer, lastSuccessAtMs: START_MS + 200, lagMs: 10 });
      });

      it('takes a success and an error of one update each by its own time', async () => {
        // Prepare
        await applyEach({
          lastSuccessAtMs: START_MS + 500,
          lagMs: 5,
          lastError: { code: 'throttled', message: 'Old.', atMs: START_MS + 100 },
        });

        // Act: the success is stale, the error is new.
        await applyEach({
          lastSuccessAtMs: START_MS + 400,
          lagMs: 4,
          lastError: { code: 'retries_exhausted', message: 'New.', atMs: START_MS + 600 },
          pendingRetriesDelta: 2,
        });

        // Assess
        expect(await recordOf()).toEqual({
          tenantId,
          type: 's3',
          lastSuccessAtMs: START_MS + 500,
          lagMs: 5,
          lastError: { code: 'retries_exhausted', message: 'New.', atMs: START_MS + 600 },
          pendingRetries: 2,
          updatedAtMs: clockMs,
        });
      });

      it('keeps the newest circuit state with its own times and ignores an older report', async () => {
        // Prepare
        const opened = { state: 'open', openedAtMs: START_MS + 100, nextProbeAtMs: START_MS + 30_100, atMs: START_MS + 100 } as const;
        const halfOpen = { state: 'half_open', openedAtMs: START_MS + 100, atMs: START_MS + 30_200 } as const;
        await applyEach({ lastError: { code: 'throttled', message: 'Rate exceeded.', atMs: START_MS + 90 } });

        // Act: the older `open` report arrives after the newer `half_open` one.
        await applyEach({ circuit: halfOpen }, { circuit: opened });

        // Assess
        expect(await recordOf()).toMatchObject({
          circuit: halfOpen,
          lastError: { code: 'throttled', atMs: START_MS + 90 },
        });
        expect((await recordOf())?.circuit?.nextProbeAtMs).toBeUndefined();
      });

      it('clears the open times once a newer report closes the circuit', async () => {
        // Prepare
        await applyEach({
          circuit: { state: 'open', openedAtMs: START_MS + 100, nextProbeAtMs: START_MS + 30_100, atMs: START_MS + 100 },
        });

        // Act
        await applyEach({ circuit: { state: 'closed', atMs: START_MS + 31_000 } });

        // Assess
        expect((await recordOf())?.circuit).toEqual({ state: 'closed', atMs: START_MS + 31_000 });
      });

      it('reports no circuit for a destination whose breaker never changed state', async () => {
        // Act
        await applyEach({ pendingRetriesDelta: 1 });

        // Assess
        expect((await recordOf())?.circuit).toBeUndefined();
      });

      it('adds up retry deltas, up and down', async () => {
        // Prepare
        await applyEach({ pendingRetriesDelta: 3 }, { pendingRetriesDelta: 2 });

        // Act
        await applyEach({ pendingRetriesDelta: -4 }, { pendingRetriesDelta: 1 });

        // Assess
        expect(await recordOf()).toMatchObject({ pendingRetries: 2 });
      });

      it('never reports fewer than 0 pending retries', async () => {
        // Prepare
        await applyEach({ pendingRetriesDelta: 1 });

        // Act
        await applyEach({ pendingRetriesDelta: -3 });

        // Assess
        expect(await recordOf()).toMatchObject({ pendingRetries: 0 });
      });

      it('keeps the raw sum, so a decrement reported before its increment still cancels it', async () => {
        // Prepare: one retry waits; then three come due before the reports of two of them arrive.
        await applyEach({ pendingRetriesDelta: 1 }, { pendingRetriesDelta: -3 });
        const whileNegative = (await recordOf())?.pendingRetries;

        // Act
        await applyEach({ pendingRetriesDelta: 2 });
        const balanced = (await recordOf())?.pendingRetries;
        await applyEach({ pendingRetriesDelta: 1 });

        // Assess
        expect(whileNegative).toBe(0);
        expect(balanced).toBe(0);
        expect(await recordOf()).toMatchObject({ pendingRetries: 1 });
      });

      it('stamps updatedAtMs with the time of the apply, even when every time in it was stale', async () => {
        // Prepare
        await applyEach({ lastSuccessAtMs: START_MS + 1_000, lagMs: 1 });

        // Act
        clockMs = START_MS + 60_000;
        await store.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS, lagMs: 2 }]);

        // Assess
        expect(await recordOf()).toMatchObject({ lastSuccessAtMs: START_MS + 1_000, lagMs: 1, updatedAtMs: START_MS + 60_000 });
      });

      it('applies several updates of one destination in one call as if one after the other', async () => {
        // Prepare
        const updates: DestinationStatusUpdate[] = [
          { tenantId, type: 's3', lastSuccessAtMs: START_MS + 300, lagMs: 30, pendingRetriesDelta: 2 },
          { tenantId, type: 's3', lastSuccessAtMs: START_MS + 100, lagMs: 10, pendingRetriesDelta: 1 },
          { tenantId, type: 's3', lastSuccessAtMs: START_MS + 300, lagMs: 99 },
          { tenantId, type: 's3', lastError: { code: 'a', message: 'A.', atMs: START_MS + 50 } },
          { tenantId, type: 's3', lastError: { code: 'b', message: 'B.', atMs: START_MS + 20 }, pendingRetriesDelta: -1 },
          { tenantId, type: 'cloudwatch', pendingRetriesDelta: 4 },
        ];

        // Act
        await store.apply(updates);

        // Assess
        expect(await store.listTenant(tenantId)).toEqual([
          { tenantId, type: 'cloudwatch', pendingRetries: 4, updatedAtMs: START_MS },
          {
            tenantId,
            type: 's3',
            lastSuccessAtMs: START_MS + 300,
            lagMs: 30,
            lastError: { code: 'a', message: 'A.', atMs: START_MS + 50 },
            pendingRetries: 2,
            updatedAtMs: START_MS,
          },
        ]);
      });

      it('ends at the newest success with its own lag, and the sum of deltas, whatever order 40 reports arrive in', async () => {
        // Prepare: success i carries lag i, so a lag from another success would show. The
        // reports go one after the other: moto does not make a conditional write atomic under
        // concurrent requests, so racing them would test moto rather than the store.
        const order = Array.from({ length: 40 }, (_, i) => i).sort(() => Math.random() - 0.5);

        // Act
        for (const i of order) {
          await store.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS + i, lagMs: i, pendingRetriesDelta: 1 }]);
        }

        // Assess
        expect(await recordOf()).toMatchObject({ lastSuccessAtMs: START_MS + 39, lagMs: 39, pendingRetries: 40 });
      });

      it('changes nothing for an empty list', async () => {
        // Prepare
        const updates: DestinationStatusUpdate[] = [];

        // Act
        await store.apply(updates);

        // Assess
        expect(await store.listTenant(tenantId)).toEqual([]);
      });

      it.each<[string, Partial<DestinationStatusUpdate>]>([
        ['an empty type', { type: '' }],
        ['a negative lastSuccessAtMs', { lastSuccessAtMs: -1 }],
        ['a fractional lastSuccessAtMs', { lastSuccessAtMs: START_MS + 0.5 }],
        ['a NaN lagMs', { lastSuccessAtMs: START_MS, lagMs: Number.NaN }],
        ['an error time that is not a number', { lastError: { code: 'x', message: 'X.', atMs: Number('soon') } }],
        ['a fractional pendingRetriesDelta', { pendingRetriesDelta: 0.5 }],
        ['an unknown circuit state', { circuit: { state: 'ajar' as 'open', atMs: START_MS } }],
        ['a negative circuit time', { circuit: { state: 'open', atMs: -1 } }],
        ['a fractional circuit nextProbeAtMs', { circuit: { state: 'open', nextProbeAtMs: 1.5, atMs: START_MS } }],
      ])('refuses a batch holding %s with RangeError, writing none of it', async (_case, bad) => {
        // Prepare
        const updates: DestinationStatusUpdate[] = [
          { tenantId, type: 'cloudwatch', lastSuccessAtMs: START_MS, pendingRetriesDelta: 1 },
          { tenantId, type: 's3', ...bad },
        ];

        // Act
        const error = await rejection(store.apply(updates));

        // Assess
        expect(error).toBeInstanceOf(RangeError);
        expect(await store.listTenant(tenantId)).toEqual([]);
      });
    });

    describe('listTenant', () => {
      it('lists every destination of the tenant in type order', async () => {
        // Prepare
        const types = ['s3', 'cloudwatch', 'http', 'File', 'kinesis', 'file-2', 'Z'];
        await store.apply(types.map((type) => ({ tenantId, type, pendingRetriesDelta: 1 })));

        // Act
        const records = await store.listTenant(tenantId);

        // Assess
        expect(records.map((r) => r.type)).toEqual(['File', 'Z', 'cloudwatch', 'file-2', 'http', 'kinesis', 's3']);
      });

      it('lists only the tenant asked for, and nothing for an unknown tenant', async () => {
        // Prepare
        const other = newTenantId();
        await store.apply([
          { tenantId, type: 's3', pendingRetriesDelta: 1 },
          { tenantId: other, type: 's3', pendingRetriesDelta: 2 },
          { tenantId: `${tenantId}x`, type: 's3', pendingRetriesDelta: 3 },
        ]);

        // Act
        const mine = await store.listTenant(tenantId);
        const unknown = await store.listTenant(newTenantId());

        // Assess
        expect(mine).toEqual([{ tenantId, type: 's3', pendingRetries: 1, updatedAtMs: START_MS }]);
        expect(unknown).toEqual([]);
      });

      it('reads records written through another store instance on the same storage', async () => {
        // Prepare
        await store.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS, lagMs: 3 }]);

        // Act
        const records = await adapter.open({ now: () => clockMs }).listTenant(tenantId);

        // Assess
        expect(records).toEqual([
          { tenantId, type: 's3', lastSuccessAtMs: START_MS, lagMs: 3, pendingRetries: 0, updatedAtMs: START_MS },
        ]);
      });
    });

    describe('deleteTenant', () => {
      it("removes every record of the tenant (more than one delete batch) and only the tenant's", async () => {
        // Prepare
        const other = newTenantId();
        const types = Array.from({ length: 30 }, (_, i) => `type-${String(i).padStart(2, '0')}`);
        await store.apply(types.map((type) => ({ tenantId, type, pendingRetriesDelta: 1 })));
        await store.apply([
          { tenantId: other, type: 's3', pendingRetriesDelta: 2 },
          { tenantId: `${tenantId}x`, type: 's3', pendingRetriesDelta: 3 },
        ]);

        // Act
        await store.deleteTenant(tenantId);

        // Assess
        expect(await store.listTenant(tenantId)).toEqual([]);
        expect(await store.listTenant(other)).toEqual([{ tenantId: other, type: 's3', pendingRetries: 2, updatedAtMs: START_MS }]);
        expect(await store.listTenant(`${tenantId}x`)).toHaveLength(1);
      });

      it('starts afresh after a delete: old times no longer hold back new reports', async () => {
        // Prepare
        await store.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS + 1_000, lagMs: 1, pendingRetriesDelta: 5 }]);
        await store.deleteTenant(tenantId);

        // Act
        await store.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS, lagMs: 2 }]);

        // Assess
        expect(await store.listTenant(tenantId)).toEqual([
          { tenantId, type: 's3', lastSuccessAtMs: START_MS, lagMs: 2, pendingRetries: 0, updatedAtMs: START_MS },
        ]);
      });

      it('does nothing for a tenant with no records', async () => {
        // Prepare
        await store.apply([{ tenantId, type: 's3', pendingRetriesDelta: 1 }]);

        // Act
        await store.deleteTenant(newTenantId());

        // Assess
        expect(await store.listTenant(tenantId)).toHaveLength(1);
      });
    });
  });
});
