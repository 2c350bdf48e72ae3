import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { replayTenant } from '../../src/admin/replay.js';
import { parseNotification, type WorkItem } from '../../src/pipeline/notification.js';
import { type LocalStores, openLocalStores } from '../../src/runtimes/local-stores.js';
import { gzipObject, objectKeyFactory, randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const T0_MS = Date.UTC(2026, 2, 1, 10, 0, 0);
const HOUR_MS = 3_600_000;

let stores: LocalStores;
let tenant: string;

function keyAt(createdAtMs: number, namespace = tenant): string {
  return objectKeyFactory({ clusterId: 'c1', namespace, createdAtMs });
}

async function put(...keys: string[]): Promise<void> {
  for (const key of keys) await stores.objects.put(key, gzipObject([{ message: 'x' }]));
}

async function queuedItems(): Promise<WorkItem[]> {
  const items: WorkItem[] = [];
  for (;;) {
    const batch = await stores.queue.receive({ maxMessages: 10, waitMs: 0 });
    if (batch.length === 0) return items;
    for (const m of batch) items.push(...parseNotification(m.body).items);
  }
}

beforeEach(async () => {
  stores = openLocalStores(await makeTempDir('tlr-admin-replay-'));
  tenant = `tenant-${randomId()}`;
});

afterEach(async () => {
  stores.close();
  await removeTempDirs();
});

describe('replayTenant', () => {
  it("queues the tenant's objects in [since, until) under one replay id", async () => {
    // Prepare
    const inRange = [keyAt(T0_MS), keyAt(T0_MS + HOUR_MS - 1_000)];
    await put(...inRange, keyAt(T0_MS - 1_000), keyAt(T0_MS + HOUR_MS), keyAt(T0_MS, `other-${randomId()}`));

    // Act
    const result = await replayTenant(stores.objects, stores.queue, {
      tenantId: tenant,
      sinceMs: T0_MS,
      untilMs: T0_MS + HOUR_MS,
    });

    // Assess
    expect(result).toEqual({ replayId: expect.any(String), queued: 2, undated: 0 });
    const items = await queuedItems();
    expect(items.map((i) => i.key).sort()).toEqual(inRange.sort());
    expect(items.every((i) => i.replayId === result.replayId && i.attempt === 0)).toBe(true);
  });

  it('gives each replay its own id', async () => {
    // Prepare
    await put(keyAt(T0_MS));

    // Act
    const first = await replayTenant(stores.objects, stores.queue, { tenantId: tenant });
    const second = await replayTenant(stores.objects, stores.queue, { tenantId: tenant });

    // Assess
    expect(first.replayId).not.toBe(second.replayId);
    expect((await queuedItems()).map((i) => i.replayId)).toEqual([first.replayId, second.replayId]);
  });

  it('scopes the queued work to the given destinations', async () => {
    // Prepare
    await put(keyAt(T0_MS));

    // Act
    await replayTenant(stores.objects, stores.queue, { tenantId: tenant, destinations: ['file:audit'] });

    // Assess
    expect((await queuedItems()).map((i) => i.destinations)).toEqual([['file:audit']]);
  });

  it('skips keys that are not log objects', async () => {
    // Prepare
    const log = keyAt(T0_MS);
    await put(log, `_internal/${tenant}/a/b/20260301-100000-x.json.gz`, `c1/${tenant}/short.json.gz`);

    // Act
    const result = await replayTenant(stores.objects, stores.queue, { tenantId: tenant });

    // Assess
    expect(result).toMatchObject({ queued: 1, undated: 0 });
    expect((await queuedItems()).map((i) => i.key)).toEqual([log]);
  });

  it.each([
    { case: 'inside the range', sinceMs: 0, untilMs: undefined, queued: 1 },
    { case: 'outside the range', sinceMs: 0, untilMs: T0_MS, queued: 0 },
  ])(
    'counts an object without a time in its name as undated and ranges it by last-modified time ($case)',
    async ({ sinceMs, untilMs, queued }) => {
      // Prepare
      // Last-modified is now, well after T0; an impossible date is no timestamp either.
      await put(`c1/${tenant}/app/pod/export.json.gz`, `c1/${tenant}/app/pod/20261332-250000-x.json.gz`);

      // Act
      const result = await replayTenant(stores.objects, stores.queue, {
        tenantId: tenant,
        sinceMs,
        ...(untilMs !== undefined && { untilMs }),
      });

      // Assess
      expect(result).toMatchObject({ queued: queued * 2, undated: 2 });
    },
  );

  it('reports the running count of queued objects', async () => {
    // Prepare
    await put(keyAt(T0_MS), keyAt(T0_MS + 1_000), keyAt(T0_MS + 2_000));
    const reported: number[] = [];

    // Act
    await replayTenant(stores.objects, stores.queue, {
      tenantId: tenant,
      onProgress: (queued) => reported.push(queued),
    });

    // Assess
    expect(reported).toEqual([1, 2, 3]);
  });
});
