import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/index.js';
import { createDestinationStatusRecorder } from '../../src/pipeline/status-recorder.js';
import { createSqliteDestinationStatusStore, openDatabase, type SqliteDatabase } from '../../src/stores/local/index.js';
import type { DestinationStatusStore, DestinationStatusUpdate } from '../../src/stores/ports.js';
import { randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const dbs: SqliteDatabase[] = [];

async function sqliteStatusStore(): Promise<DestinationStatusStore> {
  const db = openDatabase(join(await makeTempDir('tlr-status-'), 'tlr.db'));
  dbs.push(db);
  return createSqliteDestinationStatusStore(db);
}

/**
 * A status store in front of a real one whose writes can be made to fail: fault injection
 * a real SQLite file cannot produce on demand.
 */
function failingFront(store: DestinationStatusStore): DestinationStatusStore & { failing: boolean; applied: number } {
  const front = {
    failing: false,
    applied: 0,
    async apply(updates: readonly DestinationStatusUpdate[]) {
      if (front.failing) throw new Error('The status table is unreachable.');
      front.applied++;
      await store.apply(updates);
    },
    listTenant: (tenantId: string) => store.listTenant(tenantId),
    deleteTenant: (tenantId: string) => store.deleteTenant(tenantId),
  };
  return front;
}

afterEach(async () => {
  for (const db of dbs.splice(0)) db.close();
  await removeTempDirs();
});

describe('createDestinationStatusRecorder', () => {
  it('writes many reports of one destination as one update with the latest success and error and the summed retries', async () => {
    // Prepare
    const store = failingFront(await sqliteStatusStore());
    const recorder = createDestinationStatusRecorder({ store, logger: silentLogger, flushIntervalMs: 0 });
    const tenant = `tenant-${randomId()}`;
    // Act
    recorder.success(tenant, 'cloudwatch', 2_000, 40);
    recorder.success(tenant, 'cloudwatch', 1_000, 99);
    recorder.failure(tenant, 'cloudwatch', { code: 'throttled', message: 'Slow down.', atMs: 1_500 });
    recorder.retryScheduled(tenant, 'cloudwatch');
    recorder.retryScheduled(tenant, 'cloudwatch');
    recorder.retryDue(tenant, 'cloudwatch');
    await recorder.flush();
    // Assess
    expect(store.applied).toBe(1);
    expect(await store.listTenant(tenant)).toEqual([
      expect.objectContaining({
        type: 'cloudwatch',
        lastSuccessAtMs: 2_000,
        lagMs: 40,
        lastError: { code: 'throttled', message: 'Slow down.', atMs: 1_500 },
        pendingRetries: 1,
      }),
    ]);
    await recorder.close();
  });

  it('keeps the reports when the store fails and writes them with the next flush, merged with newer ones', async () => {
    // Prepare
    const store = failingFront(await sqliteStatusStore());
    const recorder = createDestinationStatusRecorder({ store, logger: silentLogger, flushIntervalMs: 0 });
    const tenant = `tenant-${randomId()}`;
    recorder.retryScheduled(tenant, 's3');
    recorder.failure(tenant, 's3', { code: 'access_denied', message: 'No.', atMs: 10 });
    // Act
    store.failing = true;
    await expect(recorder.flush()).resolves.toBeUndefined();
    const whileFailing = await store.listTenant(tenant);
    recorder.retryScheduled(tenant, 's3');
    recorder.success(tenant, 's3', 20, 5);
    store.failing = false;
    await recorder.close();
    // Assess
    expect(whileFailing).toEqual([]);
    expect(await store.listTenant(tenant)).toEqual([
      expect.objectContaining({
        type: 's3',
        pendingRetries: 2,
        lastSuccessAtMs: 20,
        lastError: { code: 'access_denied', message: 'No.', atMs: 10 },
      }),
    ]);
  });

  it('keeps the newest circuit state, also when a failed flush is merged with newer reports', async () => {
    // Prepare
    const store = failingFront(await sqliteStatusStore());
    const recorder = createDestinationStatusRecorder({ store, logger: silentLogger, flushIntervalMs: 0 });
    const tenant = `tenant-${randomId()}`;
    recorder.circuit(tenant, 's3', { state: 'open', openedAtMs: 100, nextProbeAtMs: 30_100, atMs: 100 });
    recorder.circuit(tenant, 's3', { state: 'closed', atMs: 50 });
    // Act
    store.failing = true;
    await recorder.flush();
    recorder.circuit(tenant, 's3', { state: 'half_open', openedAtMs: 100, atMs: 30_200 });
    store.failing = false;
    await recorder.close();
    // Assess
    expect((await store.listTenant(tenant))[0]?.circuit).toEqual({ state: 'half_open', openedAtMs: 100, atMs: 30_200 });
  });

  it('writes nothing when nothing was reported', async () => {
    // Prepare
    const store = failingFront(await sqliteStatusStore());
    const recorder = createDestinationStatusRecorder({ store, logger: silentLogger, flushIntervalMs: 0 });
    // Act
    await recorder.flush();
    await recorder.close();
    // Assess
    expect(store.applied).toBe(0);
  });
});
