import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeliveryConfig } from '../../src/domain/index.js';
import { type Logger, silentLogger } from '../../src/logging/index.js';
import {
  createTenantDestinationResolver,
  DEFAULT_CONFIG_CACHE_TTL_MS,
  type TenantDestinationResolverOptions,
} from '../../src/pipeline/tenant-destinations.js';
import { fileSinkDefinition } from '../../src/sinks/file/index.js';
import { createSinkRegistry } from '../../src/sinks/registry.js';
import { createSqliteConfigStore, openDatabase, type SqliteDatabase } from '../../src/stores/local/index.js';
import type { DeliveryConfigStore } from '../../src/stores/ports.js';
import { deliveryConfigFactory, randomId } from '../helpers/factories.js';
import { createMemorySinkKind, type MemorySinkKind } from '../helpers/memory-sink.js';
import { metricValue } from '../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

let db: SqliteDatabase;
let store: DeliveryConfigStore;
let memory: MemorySinkKind;
let registry: Registry;
let clock: { nowMs: number };

beforeEach(async () => {
  const dir = await makeTempDir('tlr-tenant-destinations-');
  db = openDatabase(join(dir, 'tlr.db'));
  store = createSqliteConfigStore(db);
  memory = createMemorySinkKind();
  registry = new Registry();
  clock = { nowMs: Date.parse('2024-01-15T10:00:00Z') };
});

afterEach(async () => {
  db.close();
  await removeTempDirs();
});

function resolver(overrides: Partial<TenantDestinationResolverOptions> = {}) {
  return createTenantDestinationResolver({
    store,
    sinks: createSinkRegistry([fileSinkDefinition, memory.definition]),
    sinkDeps: { baseDir: '/tmp', logger: silentLogger, registry },
    logger: silentLogger,
    registry,
    now: () => clock.nowMs,
    ...overrides,
  });
}

/** Stores rows for one tenant as they are, valid or not; returns the tenant id. */
async function storeRows(
  rows: Record<string, unknown>[],
  tenantId = `tenant-${randomId()}`,
): Promise<string> {
  for (const row of rows) await store.put({ tenant_id: tenantId, ...row } as DeliveryConfig);
  return tenantId;
}

describe('createTenantDestinationResolver', () => {
  it('resolves each valid row to a destination with its sink and application filter', async () => {
    // Prepare
    const tenantId = await storeRows([
      { type: 'file', directory: '/var/log/a', desired_logs: ['kube-apiserver'] },
      { type: 'memory:auth', groups: ['authentication'] },
      { type: 'memory', desired_logs: [] },
    ]);
    // Act
    const { destinations, invalid } = await resolver().resolve(tenantId);
    // Assess
    expect(invalid).toEqual([]);
    expect(destinations.map((d) => [d.id, d.type, d.kind, d.sink.kind])).toEqual([
      [`${tenantId}/file`, 'file', 'file', 'file'],
      [`${tenantId}/memory`, 'memory', 'memory', 'memory'],
      [`${tenantId}/memory:auth`, 'memory:auth', 'memory', 'memory'],
    ]);
    const accepted = (app: string) => destinations.map((d) => d.accepts(app));
    expect(accepted('kube-apiserver')).toEqual([true, true, false]);
    expect(accepted('oauth-openshift')).toEqual([false, true, true]);
    expect(accepted('my-app')).toEqual([false, true, false]);
  });

  it('returns only the rows of the tenant asked for', async () => {
    // Prepare
    const tenantA = await storeRows([{ type: 'memory' }]);
    await storeRows([{ type: 'memory' }, { type: 'file', directory: '/b' }]);
    // Act
    const { destinations } = await resolver().resolve(tenantA);
    // Assess
    expect(destinations.map((d) => d.config.tenant_id)).toEqual([tenantA]);
  });

  it('reports an invalid row while the tenant’s other rows still resolve, counting it once', async () => {
    // Prepare
    const tenantId = await storeRows([
      { type: 'file', directory: '/var/log/a' },
      { type: 'file:bad', directory: '' },
      { type: 'kafka', brokers: ['b:9092'] },
      { type: 'memory' },
    ]);
    const r = resolver({ ttlMs: 0 });
    await r.resolve(tenantId);
    // Act
    const { destinations, invalid } = await r.resolve(tenantId);
    // Assess
    expect(destinations.map((d) => d.type)).toEqual(['file', 'memory']);
    expect(invalid).toEqual([
      {
        type: 'file:bad',
        message: "Invalid delivery config: 'directory' must be a non-empty directory path.",
      },
      { type: 'kafka', message: "Invalid delivery config: 'type' has unknown destination kind 'kafka'." },
    ]);
    expect(await metricValue(registry, 'tlr_invalid_config_rows_total', { tenant: tenantId })).toBe(2);
  });

  it('ignores an invalid row that is disabled', async () => {
    // Prepare
    const tenantId = await storeRows([
      { type: 'file:off', enabled: false, directory: '' },
      { type: 'memory' },
    ]);
    // Act
    const { destinations, invalid } = await resolver().resolve(tenantId);
    // Assess
    expect(invalid).toEqual([]);
    expect(destinations.map((d) => d.type)).toEqual(['memory']);
  });

  it('reads the tenant settings row as settings, not as a destination', async () => {
    // Prepare
    const tenantId = await storeRows([
      { type: 'tenant', rate_limit: { events_per_second: 100 }, daily_byte_quota: 1_000 },
      { type: 'memory' },
    ]);
    // Act
    const { destinations, invalid, settings } = await resolver().resolve(tenantId);
    // Assess
    expect(invalid).toEqual([]);
    expect(destinations.map((d) => d.type)).toEqual(['memory']);
    expect(settings).toEqual({ rateLimit: { events_per_second: 100 }, dailyByteQuota: 1_000 });
  });

  it('ignores bad fields of a settings row written by hand, once warning about them', async () => {
    // Prepare
    const tenantId = await storeRows([
      { type: 'tenant', rate_limit_per_second: 100, daily_byte_quota: -5, rate_limit: { bytes_per_second: 10 } },
      { type: 'memory' },
    ]);
    const warn = vi.fn();
    const r = resolver({ logger: { ...silentLogger, warn }, ttlMs: 0 });
    await r.resolve(tenantId);
    // Act
    const { destinations, invalid, settings } = await r.resolve(tenantId);
    // Assess
    expect(invalid).toEqual([]);
    expect(destinations.map((d) => d.type)).toEqual(['memory']);
    expect(settings).toEqual({ rateLimit: { bytes_per_second: 10 } });
    expect(warn).toHaveBeenCalledExactlyOnceWith('Tenant settings row read with warnings; the fields named are ignored.', {
      tenant: tenantId,
      warnings: [
        "Ignored unknown field 'rate_limit_per_second'.",
        "Ignored 'daily_byte_quota': 'daily_byte_quota' must be a whole number of bytes, at least 1.",
      ],
    });
  });

  it('reads a row with an unknown group leniently, once warning about it', async () => {
    // Prepare
    const tenantId = await storeRows([{ type: 'memory', groups: ['API', 'Nonexistent'] }]);
    const warn = vi.fn();
    const logger: Logger = { ...silentLogger, warn };
    const r = resolver({ logger, ttlMs: 0 });
    await r.resolve(tenantId);
    // Act
    const { destinations } = await r.resolve(tenantId);
    // Assess
    expect(destinations[0]!.config.groups).toEqual(['API']);
    expect(destinations[0]!.accepts('kube-apiserver')).toBe(true);
    expect(warn).toHaveBeenCalledExactlyOnceWith('Delivery config row read with warnings.', {
      tenant: tenantId,
      type: 'memory',
      warnings: ["Ignored unknown group 'Nonexistent'."],
    });
  });

  it('reports a row whose sink refuses to be built while the other rows still resolve', async () => {
    // Prepare
    const tenantId = await storeRows([{ type: 'memory:refused', refuse_create: true }, { type: 'memory' }]);
    // Act
    const { destinations, invalid } = await resolver().resolve(tenantId);
    // Assess
    expect(destinations.map((d) => d.type)).toEqual(['memory']);
    expect(invalid).toEqual([
      {
        type: 'memory:refused',
        message: "Invalid delivery config: 'refuse_create' asks create() to refuse.",
      },
    ]);
  });

  it('serves rows from its cache within the TTL and loads them again after', async () => {
    // Prepare
    const tenantId = await storeRows([{ type: 'memory' }]);
    const listTenant = vi.spyOn(store, 'listTenant');
    const r = resolver({ ttlMs: 1_000 });
    await r.resolve(tenantId);
    // Act
    clock.nowMs += 999;
    await r.resolve(tenantId);
    const loadsWithinTtl = listTenant.mock.calls.length;
    clock.nowMs += 1;
    await r.resolve(tenantId);
    // Assess
    expect(loadsWithinTtl).toBe(1);
    expect(listTenant).toHaveBeenCalledTimes(2);
  });

  it('caches for five seconds by default', async () => {
    // Prepare
    const tenantId = await storeRows([{ type: 'memory' }]);
    const listTenant = vi.spyOn(store, 'listTenant');
    const r = resolver();
    await r.resolve(tenantId);
    // Act
    clock.nowMs += DEFAULT_CONFIG_CACHE_TTL_MS - 1;
    await r.resolve(tenantId);
    // Assess
    expect(DEFAULT_CONFIG_CACHE_TTL_MS).toBe(5_000);
    expect(listTenant).toHaveBeenCalledTimes(1);
  });

  it('does not cache a failed load', async () => {
    // Prepare
    const tenantId = await storeRows([{ type: 'memory' }]);
    const listTenant = vi.spyOn(store, 'listTenant').mockRejectedValueOnce(new Error('database is locked'));
    const r = resolver({ ttlMs: 60_000 });
    const failed = await r.resolve(tenantId).catch((error: unknown) => error);
    // Act
    const { destinations } = await r.resolve(tenantId);
    // Assess
    expect(failed).toMatchObject({ message: 'database is locked' });
    expect(destinations.map((d) => d.type)).toEqual(['memory']);
    expect(listTenant).toHaveBeenCalledTimes(2);
  });

  it.each([
    { case: 'the tenant', invalidate: (r: ReturnType<typeof resolver>, t: string) => r.invalidate(t) },
    { case: 'every tenant', invalidate: (r: ReturnType<typeof resolver>) => r.invalidate() },
  ])('loads rows again after invalidating $case', async ({ invalidate }) => {
    // Prepare
    const tenantId = await storeRows([{ type: 'memory' }]);
    const listTenant = vi.spyOn(store, 'listTenant');
    const r = resolver({ ttlMs: 60_000 });
    await r.resolve(tenantId);
    // Act
    invalidate(r, tenantId);
    await r.resolve(tenantId);
    // Assess
    expect(listTenant).toHaveBeenCalledTimes(2);
  });

  it('reuses the sink while the row is unchanged and replaces it, closing the old one after the grace, when it changes', async () => {
    // Prepare
    const tenantId = await storeRows([{ type: 'memory', batch_events: 10 }]);
    const r = resolver({ ttlMs: 1_000, retireAfterMs: 1 });
    const first = (await r.resolve(tenantId)).destinations[0]!.sink;
    clock.nowMs += 1_000;
    const unchanged = (await r.resolve(tenantId)).destinations[0]!.sink;
    await storeRows([{ type: 'memory', batch_events: 20 }], tenantId);
    clock.nowMs += 1_000;
    // Act
    const changed = (await r.resolve(tenantId)).destinations[0]!.sink;
    const closedAtOnce = memory.built.map((s) => s.closed);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Assess
    expect(unchanged).toBe(first);
    expect(changed).not.toBe(first);
    expect(closedAtOnce).toEqual([false, false]);
    expect(memory.built.map((s) => s.closed)).toEqual([true, false]);
  });

  it('closes the sink of a row that was deleted, after the grace', async () => {
    // Prepare
    const tenantId = await storeRows([{ type: 'memory' }]);
    const r = resolver({ ttlMs: 1_000, retireAfterMs: 1 });
    await r.resolve(tenantId);
    await store.delete(tenantId, 'memory');
    clock.nowMs += 1_000;
    // Act
    const after = await r.resolve(tenantId);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Assess
    expect(after.destinations).toEqual([]);
    expect(memory.built.map((s) => s.closed)).toEqual([true]);
  });

  it('closes every sink it built on close', async () => {
    // Prepare
    const tenantA = await storeRows([{ type: 'memory' }, { type: 'memory:b' }]);
    const tenantB = await storeRows([{ type: 'memory' }]);
    const r = resolver();
    await Promise.all([r.resolve(tenantA), r.resolve(tenantB)]);
    // Act
    await r.close();
    // Assess
    expect(memory.built).toHaveLength(3);
    expect(memory.built.every((s) => s.closed)).toBe(true);
  });

  it('resolves a tenant without rows to no destinations', async () => {
    // Prepare
    const tenantId = `tenant-${randomId()}`;
    // Act
    const resolved = await resolver().resolve(tenantId);
    // Assess
    expect(resolved).toEqual({ destinations: [], invalid: [] });
  });

  it('uses the factory config as a valid file row', async () => {
    // Prepare
    const config = deliveryConfigFactory();
    await store.put(config as DeliveryConfig);
    // Act
    const { destinations } = await resolver().resolve(config.tenant_id);
    // Assess
    expect(destinations.map((d) => d.type)).toEqual(['file']);
  });
});
