import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  applyDeliveryConfigs,
  ConfigBatchValidationError,
  viewConfigRow,
} from '../../src/admin/delivery-configs.js';
import { ConfigValidationError } from '../../src/domain/index.js';
import { type LocalStores, openLocalStores } from '../../src/runtimes/local-stores.js';
import { createBuiltinSinkRegistry } from '../../src/sinks/registry.js';
import { deliveryConfigFactory, randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const T1_MS = Date.UTC(2026, 0, 1, 8, 0, 0);
const T2_MS = Date.UTC(2026, 0, 2, 9, 30, 0);

const sinks = createBuiltinSinkRegistry();
let stores: LocalStores;

async function allRows(): Promise<Record<string, unknown>[]> {
  return (await stores.configs.listAll({ limit: 1_000 })).rows;
}

/** The error `applyDeliveryConfigs` rejects with; fails the test when it resolves. */
async function batchErrorOf(inputs: unknown[]): Promise<ConfigBatchValidationError> {
  const error = await applyDeliveryConfigs(stores.configs, sinks, inputs).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigBatchValidationError);
  return error as ConfigBatchValidationError;
}

beforeEach(async () => {
  stores = openLocalStores(await makeTempDir('tlr-admin-configs-'));
});

afterEach(async () => {
  stores.close();
  await removeTempDirs();
});

describe('applyDeliveryConfigs', () => {
  it('creates each config with defaults, created_at and updated_at set to now', async () => {
    // Prepare
    const config = deliveryConfigFactory({ groups: ['API'] });

    // Act
    const results = await applyDeliveryConfigs(stores.configs, sinks, [config], T1_MS);

    // Assess
    expect(results).toEqual([{ tenantId: config.tenant_id, type: 'file', action: 'created' }]);
    expect(await stores.configs.get(config.tenant_id, 'file')).toEqual({
      ...config,
      enabled: true,
      desired_logs: [],
      created_at: '2026-01-01T08:00:00.000Z',
      updated_at: '2026-01-01T08:00:00.000Z',
    });
  });

  it('replaces an existing config, keeping its created_at and setting updated_at', async () => {
    // Prepare
    const config = deliveryConfigFactory();
    await applyDeliveryConfigs(stores.configs, sinks, [config], T1_MS);
    const changed = { ...config, enabled: false };

    // Act
    const results = await applyDeliveryConfigs(stores.configs, sinks, [changed], T2_MS);

    // Assess
    expect(results).toEqual([{ tenantId: config.tenant_id, type: 'file', action: 'replaced' }]);
    expect(await stores.configs.get(config.tenant_id, 'file')).toMatchObject({
      enabled: false,
      created_at: '2026-01-01T08:00:00.000Z',
      updated_at: '2026-01-02T09:30:00.000Z',
    });
  });

  it('ignores timestamps in the input, so a config copied from `configs get` applies', async () => {
    // Prepare
    const config = deliveryConfigFactory();
    await applyDeliveryConfigs(stores.configs, sinks, [config], T1_MS);
    const copied = {
      ...(await stores.configs.get(config.tenant_id, 'file')),
      created_at: '1999-01-01T00:00:00.000Z',
      updated_at: 'not a time',
    };

    // Act
    await applyDeliveryConfigs(stores.configs, sinks, [copied], T2_MS);

    // Assess
    expect(await stores.configs.get(config.tenant_id, 'file')).toMatchObject({
      created_at: '2026-01-01T08:00:00.000Z',
      updated_at: '2026-01-02T09:30:00.000Z',
    });
  });

  it('writes nothing when one of several configs is invalid', async () => {
    // Prepare
    const existing = deliveryConfigFactory();
    await applyDeliveryConfigs(stores.configs, sinks, [existing], T1_MS);
    const before = await allRows();
    const inputs = [{ ...existing, enabled: false }, deliveryConfigFactory({ groups: ['Nope'] })];

    // Act
    const error = await batchErrorOf(inputs);

    // Assess
    expect(error.invalid.map((i) => i.index)).toEqual([1]);
    expect(await allRows()).toEqual(before);
  });

  it('lists every invalid config by index, tenant and type, with all its field errors', async () => {
    // Prepare
    const second = deliveryConfigFactory({ directory: undefined, colour: 'red' });
    const fourth = deliveryConfigFactory({ type: 'ftp' });
    const inputs = [deliveryConfigFactory(), second, 42, fourth];

    // Act
    const error = await batchErrorOf(inputs);

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect(error.invalid).toEqual([
      {
        index: 1,
        tenantId: second.tenant_id,
        type: 'file',
        errors: expect.arrayContaining([
          { field: 'directory', message: 'is required' },
          { field: 'colour', message: 'is not a known field' },
        ]),
      },
      { index: 2, errors: [{ field: '', message: 'A delivery config must be a JSON object' }] },
      {
        index: 3,
        tenantId: fourth.tenant_id,
        type: 'ftp',
        errors: [{ field: 'type', message: "has unknown destination kind 'ftp'" }],
      },
    ]);
    expect(error.invalid[0]?.errors).toHaveLength(2);
    expect(error.context).toBe('delivery configs');
    expect(error.fieldErrors.map((e) => e.field).sort()).toEqual(
      ['[1].directory', '[1].colour', '[2]', '[3].type'].sort(),
    );
    expect(await allRows()).toEqual([]);
  });

  it('names the context in the singular when only one config is invalid', async () => {
    // Prepare
    const inputs = [deliveryConfigFactory({ tenant_id: 'UPPER' })];

    // Act
    const error = await batchErrorOf(inputs);

    // Assess
    expect(error.context).toBe('delivery config');
    expect(error.message).toMatch(
      /^Invalid delivery config: '\[0\]\.tenant_id' must be a Kubernetes namespace/,
    );
  });

  it('applies a tenant settings row as it is, and refuses a bad one naming the field', async () => {
    // Prepare
    const tenantId = `tenant-${randomId()}`;
    const settings = { tenant_id: tenantId, type: 'tenant', rate_limit: { events_per_second: 100 }, daily_byte_quota: 1_000 };

    // Act
    const results = await applyDeliveryConfigs(stores.configs, sinks, [settings], T1_MS);
    const error = await batchErrorOf([{ ...settings, daily_byte_quota: 0 }]);

    // Assess
    expect(results).toEqual([{ tenantId, type: 'tenant', action: 'created' }]);
    expect(await stores.configs.get(tenantId, 'tenant')).toEqual({
      ...settings,
      created_at: '2026-01-01T08:00:00.000Z',
      updated_at: '2026-01-01T08:00:00.000Z',
    });
    expect(error.invalid).toEqual([
      {
        index: 0,
        tenantId,
        type: 'tenant',
        errors: [{ field: 'daily_byte_quota', message: 'must be a whole number of bytes, at least 1' }],
      },
    ]);
  });

  it('applies nothing and returns no results for an empty list', async () => {
    // Prepare
    // Act
    const results = await applyDeliveryConfigs(stores.configs, sinks, [], T1_MS);

    // Assess
    expect(results).toEqual([]);
    expect(await allRows()).toEqual([]);
  });
});

describe('viewConfigRow', () => {
  it.each([
    {
      case: 'a valid row',
      row: { tenant_id: 'acme', type: 'file', directory: '/d' },
      status: 'valid',
      problems: [],
    },
    {
      case: 'a row with an unknown field and group',
      row: { tenant_id: 'acme', type: 'file', directory: '/d', groups: ['API', 'Old'], x: 1 },
      status: 'valid',
      problems: ["Ignored unknown field 'x'.", "Ignored unknown group 'Old'."],
    },
    {
      case: 'a row missing a required field',
      row: { tenant_id: 'acme', type: 'file' },
      status: 'invalid',
      problems: ['directory: is required'],
    },
    {
      case: 'a row of an unknown kind',
      row: { tenant_id: 'acme', type: 'ftp', directory: '/d' },
      status: 'invalid',
      problems: ["type: has unknown destination kind 'ftp'"],
    },
    {
      case: 'the tenant settings row',
      row: { tenant_id: 'acme', type: 'tenant', anything: true },
      status: 'settings',
      problems: [],
    },
  ])('reads $case as $status', ({ row, status, problems }) => {
    // Prepare
    const stored = { ...row, tenant_id: `${row.tenant_id}-${randomId()}` };

    // Act
    const view = viewConfigRow(stored, sinks);

    // Assess
    expect(view).toEqual({ tenantId: stored.tenant_id, type: row.type, row: stored, status, problems });
  });
});
