import fc from 'fast-check';
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import {
  createApplicationFilter,
  destinationId,
  isConfigActive,
  type KindLookup,
  type KindSpec,
  parseConfigType,
  readDeliveryConfig,
  validateDeliveryConfig,
} from '../../src/domain/delivery-config.js';
import { ConfigValidationError, ErrorCode, type FieldError } from '../../src/domain/errors.js';
import { deliveryConfigFactory } from '../helpers/factories.js';

const fileSpec: KindSpec = {
  kind: 'file',
  properties: { directory: Type.String({ minLength: 1 }) },
};
const lookup: KindLookup = (kind) => (kind === 'file' ? fileSpec : undefined);

const KNOWN_GROUPS = 'API, Authentication, Controller Manager, Scheduler';

/** The field errors of a rejected config; fails the test when the config is accepted. */
function fieldErrorsOf(input: unknown, kinds: KindLookup = lookup): FieldError[] {
  try {
    validateDeliveryConfig(input, kinds);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.fieldErrors;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

/** The field errors of a config, or none when it is accepted. */
function validationErrors(input: unknown): FieldError[] {
  try {
    validateDeliveryConfig(input, lookup);
    return [];
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.fieldErrors;
    throw error;
  }
}

function fieldsOf(errors: FieldError[]): string[] {
  return errors.map((e) => e.field).sort();
}

describe('parseConfigType', () => {
  it.each([
    { type: 'file', kind: 'file', name: undefined },
    { type: 'file:archive', kind: 'file', name: 'archive' },
    { type: 's3:eu-copy_2', kind: 's3', name: 'eu-copy_2' },
    { type: 'splunk_hec:0', kind: 'splunk_hec', name: '0' },
  ])('splits $type into kind $kind and name $name', ({ type, kind, name }) => {
    // Prepare
    // Act
    const parsed = parseConfigType(type);
    // Assess
    expect(parsed).toEqual({ kind, name });
  });

  it.each([
    { type: '' },
    { type: 'File' },
    { type: 'file:' },
    { type: ':archive' },
    { type: 'file:Archive' },
    { type: 'file:a:b' },
    { type: 'file archive' },
    { type: '1file' },
    { type: 'file:-archive' },
    { type: 'a'.repeat(33) },
    { type: `file:${'a'.repeat(64)}` },
  ])('rejects the malformed type $type', ({ type }) => {
    // Prepare
    // Act
    const parsed = parseConfigType(type);
    // Assess
    expect(parsed).toBeUndefined();
  });
});

describe('destinationId', () => {
  it('joins tenant and type with a slash', () => {
    // Prepare
    const config = deliveryConfigFactory({ type: 'file:archive' });

    // Act
    const id = destinationId(config);

    // Assess
    expect(id).toBe(`${config.tenant_id}/file:archive`);
  });
});

describe('validateDeliveryConfig', () => {
  it('applies the defaults: enabled, no desired logs, no groups', () => {
    // Prepare
    const input = deliveryConfigFactory();

    // Act
    const config = validateDeliveryConfig(input, lookup);

    // Assess
    expect(config).toEqual({ ...input, enabled: true, desired_logs: [], groups: [] });
  });

  it('keeps every given field and leaves the input unchanged', () => {
    // Prepare
    const input = deliveryConfigFactory({
      type: 'file:archive',
      enabled: false,
      desired_logs: ['my-app'],
      groups: ['api'],
      target_region: 'eu-central-1',
      ttl: 1_900_000_000,
      created_at: '2024-01-15T15:30:00Z',
      updated_at: '2024-01-16T15:30:00Z',
    });
    const copy = structuredClone(input);

    // Act
    const config = validateDeliveryConfig(input, lookup);

    // Assess
    expect(config).toEqual(copy);
    expect(input).toEqual(copy);
  });

  it('reports every field error at once, naming each field', () => {
    // Prepare
    const input = deliveryConfigFactory({
      tenant_id: 'Team_A',
      directory: '',
      enabled: 'yes',
      desired_logs: ['ok', ''],
      target_region: 'moon',
      ttl: 1.5,
    });

    // Act
    const errors = fieldErrorsOf(input);

    // Assess
    expect(fieldsOf(errors)).toEqual([
      'desired_logs[1]',
      'directory',
      'enabled',
      'target_region',
      'tenant_id',
      'ttl',
    ]);
  });

  it('throws a ConfigValidationError whose message names the bad fields', () => {
    // Prepare
    const input = deliveryConfigFactory({ target_region: 'moon', ttl: -1 });

    // Act
    let caught: unknown;
    try {
      validateDeliveryConfig(input, lookup);
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(ConfigValidationError);
    expect((caught as ConfigValidationError).code).toBe(ErrorCode.INVALID_CONFIG);
    expect((caught as ConfigValidationError).message).toContain("'target_region' must be a region name");
    expect((caught as ConfigValidationError).message).toContain("'ttl' must be a whole number");
  });

  it.each([{ field: 'tenant_id' }, { field: 'type' }, { field: 'directory' }])(
    'rejects a config without the required field $field',
    ({ field }) => {
      // Prepare
      const input = deliveryConfigFactory({ [field]: undefined });

      // Act
      const errors = fieldErrorsOf(input);

      // Assess
      expect(errors).toContainEqual({ field, message: expect.stringContaining('required') });
    },
  );

  it('rejects unknown fields on write', () => {
    // Prepare
    const input = deliveryConfigFactory({ colour: 'red', Directory: '/tmp' });

    // Act
    const errors = fieldErrorsOf(input);

    // Assess
    expect(errors).toEqual([
      { field: 'colour', message: 'is not a known field' },
      { field: 'Directory', message: 'is not a known field' },
    ]);
  });

  it('rejects unknown groups on write, listing the known groups', () => {
    // Prepare
    const input = deliveryConfigFactory({ groups: ['API', 'Networking'] });

    // Act
    const errors = fieldErrorsOf(input);

    // Assess
    expect(errors).toEqual([
      { field: 'groups', message: `has unknown group 'Networking'; known groups: ${KNOWN_GROUPS}` },
    ]);
  });

  it('accepts group names in any case', () => {
    // Prepare
    const input = deliveryConfigFactory({ groups: ['api', 'CONTROLLER MANAGER', 'Scheduler'] });

    // Act
    const config = validateDeliveryConfig(input, lookup);

    // Assess
    expect(config.groups).toEqual(['api', 'CONTROLLER MANAGER', 'Scheduler']);
  });

  it('rejects a config of an unknown kind', () => {
    // Prepare
    const input = deliveryConfigFactory({ type: 'kafka:main' });

    // Act
    const errors = fieldErrorsOf(input);

    // Assess
    expect(errors).toEqual([{ field: 'type', message: "has unknown destination kind 'kafka'" }]);
  });

  it.each([
    { name: 'a malformed type', type: 'File' },
    { name: 'a non-string type', type: 3 },
  ])('rejects a config with $name', ({ type }) => {
    // Prepare
    const input = deliveryConfigFactory({ type });

    // Act
    const errors = fieldErrorsOf(input);

    // Assess
    expect(fieldsOf(errors)).toEqual(['type']);
  });

  it.each([
    { name: 'null', input: null },
    { name: 'an array', input: [deliveryConfigFactory()] },
    { name: 'a string', input: 'file' },
    { name: 'a number', input: 42 },
  ])('rejects $name as not an object', ({ input }) => {
    // Prepare
    // Act
    const errors = fieldErrorsOf(input);
    // Assess
    expect(errors).toEqual([{ field: '', message: 'A delivery config must be a JSON object' }]);
  });

  it.each([
    { tenant: 'a' },
    { tenant: '0' },
    { tenant: 'team-a' },
    { tenant: 'openshift-monitoring' },
    { tenant: 'a'.repeat(63) },
  ])('accepts the tenant id $tenant', ({ tenant }) => {
    // Prepare
    const input = deliveryConfigFactory({ tenant_id: tenant });

    // Act
    const config = validateDeliveryConfig(input, lookup);

    // Assess
    expect(config.tenant_id).toBe(tenant);
  });

  it.each([
    { tenant: '' },
    { tenant: 'Team-a' },
    { tenant: 'team_a' },
    { tenant: 'team.a' },
    { tenant: '-team' },
    { tenant: 'team-' },
    { tenant: 'team a' },
    { tenant: 'a'.repeat(64) },
  ])('rejects the tenant id $tenant, which is not a DNS-1123 label', ({ tenant }) => {
    // Prepare
    const input = deliveryConfigFactory({ tenant_id: tenant });

    // Act
    const errors = fieldErrorsOf(input);

    // Assess
    expect(errors).toEqual([
      { field: 'tenant_id', message: expect.stringContaining('Kubernetes namespace') },
    ]);
  });

  it.each([
    { region: 'us-east-1', ok: true },
    { region: 'eu-central-1', ok: true },
    { region: 'us-gov-west-1', ok: true },
    { region: 'us-isob-east-1', ok: true },
    { region: 'US-EAST-1', ok: false },
    { region: 'us-east', ok: false },
    { region: 'us-east-12', ok: false },
    { region: 'moon', ok: false },
    { region: '', ok: false },
  ])('judges the target region $region valid: $ok', ({ region, ok }) => {
    // Prepare
    const input = deliveryConfigFactory({ target_region: region });

    // Act
    const errors = validationErrors(input);

    // Assess
    expect(errors).toEqual(
      ok ? [] : [{ field: 'target_region', message: expect.stringContaining('region') }],
    );
  });

  it.each([
    { ttl: 0, ok: true },
    { ttl: 1_900_000_000, ok: true },
    { ttl: 1.5, ok: false },
    { ttl: -1, ok: false },
    { ttl: '1900000000', ok: false },
  ])('judges the ttl $ttl valid: $ok', ({ ttl, ok }) => {
    // Prepare
    const input = deliveryConfigFactory({ ttl });

    // Act
    const errors = validationErrors(input);

    // Assess
    expect(errors).toEqual(ok ? [] : [{ field: 'ttl', message: 'must be a whole number of epoch seconds' }]);
  });

  it("runs the kind's own check after the schema passes and reports its errors", () => {
    // Prepare
    const checked: KindSpec = {
      kind: 'checked',
      properties: { min: Type.Integer(), max: Type.Integer() },
      check: (c) =>
        (c['min'] as number) > (c['max'] as number) ? [{ field: 'max', message: 'must be ≥ min' }] : [],
    };
    const kinds: KindLookup = (kind) => (kind === 'checked' ? checked : undefined);

    // Act
    const crossFieldErrors = fieldErrorsOf(
      deliveryConfigFactory({ type: 'checked', directory: undefined, min: 5, max: 1 }),
      kinds,
    );
    const schemaErrors = fieldErrorsOf(
      deliveryConfigFactory({ type: 'checked', directory: undefined, min: 'x', max: 1 }),
      kinds,
    );
    const accepted = validateDeliveryConfig(
      deliveryConfigFactory({ type: 'checked', directory: undefined, min: 1, max: 5 }),
      kinds,
    );

    // Assess
    expect(crossFieldErrors).toEqual([{ field: 'max', message: 'must be ≥ min' }]);
    expect(fieldsOf(schemaErrors)).toEqual(['min']);
    expect(accepted).toMatchObject({ min: 1, max: 5 });
  });
});

describe('readDeliveryConfig', () => {
  it('reads a valid row unchanged, with defaults and no warnings', () => {
    // Prepare
    const row = deliveryConfigFactory({ groups: ['API'] });

    // Act
    const result = readDeliveryConfig(row, lookup);

    // Assess
    expect(result).toEqual({
      ok: true,
      config: { ...row, enabled: true, desired_logs: [] },
      warnings: [],
    });
  });

  it('drops an unknown group with a warning and keeps the rest', () => {
    // Prepare
    const row = deliveryConfigFactory({
      groups: ['API', 'Networking', 'scheduler'],
      desired_logs: ['my-app'],
    });

    // Act
    const result = readDeliveryConfig(row, lookup);

    // Assess
    expect(result).toEqual({
      ok: true,
      config: { ...row, enabled: true, groups: ['API', 'scheduler'], desired_logs: ['my-app'] },
      warnings: [expect.stringContaining("'Networking'")],
    });
  });

  it.each([{ field: 'colour' }, { field: 'constructor' }, { field: 'toString' }])(
    'drops the unknown field $field with a warning and keeps the rest',
    ({ field }) => {
      // Prepare
      const row = deliveryConfigFactory({ groups: ['API'] });

      // Act
      const result = readDeliveryConfig({ ...row, [field]: 'x' }, lookup);

      // Assess
      expect(result).toEqual({
        ok: true,
        config: { ...row, enabled: true, desired_logs: [] },
        warnings: [`Ignored unknown field '${field}'.`],
      });
    },
  );

  it('returns ok: false, without throwing, for a row missing a required field of its kind', () => {
    // Prepare
    const row = deliveryConfigFactory({ directory: undefined });

    // Act
    const result = readDeliveryConfig(row, lookup);

    // Assess
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toBeInstanceOf(ConfigValidationError);
    expect(!result.ok && result.error.fieldErrors).toEqual([
      { field: 'directory', message: expect.stringContaining('required') },
    ]);
  });

  it.each([
    { name: 'an unknown kind', row: deliveryConfigFactory({ type: 'kafka' }), field: 'type' },
    { name: 'a malformed type', row: deliveryConfigFactory({ type: 'File' }), field: 'type' },
    { name: 'a bad tenant id', row: deliveryConfigFactory({ tenant_id: 'Team_A' }), field: 'tenant_id' },
  ])('returns ok: false for a row with $name', ({ row, field }) => {
    // Prepare
    // Act
    const result = readDeliveryConfig(row, lookup);
    // Assess
    expect(!result.ok && fieldsOf(result.error.fieldErrors)).toEqual([field]);
  });
});

describe('isConfigActive', () => {
  const NOW = Date.UTC(2024, 0, 15, 15, 30, 0);
  const nowSeconds = NOW / 1000;

  it.each([
    { name: 'an enabled config without ttl', overrides: {}, active: true },
    { name: 'a disabled config', overrides: { enabled: false }, active: false },
    {
      name: 'a disabled config with a future ttl',
      overrides: { enabled: false, ttl: nowSeconds + 60 },
      active: false,
    },
    { name: 'a config whose ttl is in the future', overrides: { ttl: nowSeconds + 1 }, active: true },
    { name: 'a config whose ttl is in the past', overrides: { ttl: nowSeconds - 1 }, active: false },
    { name: 'a config whose ttl is now', overrides: { ttl: nowSeconds }, active: false },
  ])('judges $name active: $active', ({ overrides, active }) => {
    // Prepare
    const config = validateDeliveryConfig(deliveryConfigFactory(overrides), lookup);

    // Act
    const result = isConfigActive(config, NOW);

    // Assess
    expect(result).toBe(active);
  });
});

/** The groups as the spec states them, independent of the implementation. */
const SPEC_GROUPS: Record<string, string[]> = {
  API: ['kube-apiserver', 'openshift-apiserver'],
  Authentication: ['oauth-openshift', 'openshift-oauth-apiserver'],
  'Controller Manager': [
    'kube-controller-manager',
    'openshift-controller-manager',
    'openshift-route-controller-manager',
  ],
  Scheduler: ['kube-scheduler'],
};
const GROUP_APPS = Object.values(SPEC_GROUPS).flat();

describe('createApplicationFilter', () => {
  it('lets every application pass when desired_logs and groups are both empty', () => {
    // Prepare
    const filter = createApplicationFilter({ desired_logs: [], groups: [] });

    // Act
    const passed = ['my-app', 'kube-apiserver', 'Kube-apiserver', ''].map(filter);

    // Assess
    expect(passed).toEqual([true, true, true, true]);
  });

  it.each([
    {
      name: 'a desired application',
      filter: { desired_logs: ['my-app'], groups: [] },
      app: 'my-app',
      pass: true,
    },
    {
      name: 'another application',
      filter: { desired_logs: ['my-app'], groups: [] },
      app: 'other',
      pass: false,
    },
    {
      name: 'a group member',
      filter: { desired_logs: [], groups: ['API'] },
      app: 'openshift-apiserver',
      pass: true,
    },
    {
      name: 'a non-member',
      filter: { desired_logs: [], groups: ['API'] },
      app: 'kube-scheduler',
      pass: false,
    },
    {
      name: 'a member of a lowercase group',
      filter: { desired_logs: [], groups: ['api'] },
      app: 'kube-apiserver',
      pass: true,
    },
    {
      name: 'a member of an uppercase group',
      filter: { desired_logs: [], groups: ['CONTROLLER MANAGER'] },
      app: 'openshift-route-controller-manager',
      pass: true,
    },
    {
      name: 'a group member in another case',
      filter: { desired_logs: [], groups: ['API'] },
      app: 'Kube-apiserver',
      pass: false,
    },
    {
      name: 'a desired application in another case',
      filter: { desired_logs: ['my-app'], groups: [] },
      app: 'My-App',
      pass: false,
    },
    {
      name: 'a desired application next to groups',
      filter: { desired_logs: ['my-app'], groups: ['Scheduler'] },
      app: 'my-app',
      pass: true,
    },
    {
      name: 'a group member next to desired applications',
      filter: { desired_logs: ['my-app'], groups: ['Scheduler'] },
      app: 'kube-scheduler',
      pass: true,
    },
    {
      name: 'anything, when the only group is unknown',
      filter: { desired_logs: [], groups: ['Networking'] },
      app: 'my-app',
      pass: false,
    },
  ])('judges $name ($app) passing: $pass', ({ filter, app, pass }) => {
    // Prepare
    const accepts = createApplicationFilter(filter);
    // Act
    const result = accepts(app);
    // Assess
    expect(result).toBe(pass);
  });

  it('passes exactly the desired applications, the members of the chosen groups, or all when both are empty', () => {
    // Prepare
    const groupNameArb = fc.oneof(
      fc.mixedCase(fc.constantFrom(...Object.keys(SPEC_GROUPS))),
      fc
        .string({ maxLength: 12 })
        .filter((s) => !Object.keys(SPEC_GROUPS).some((g) => g.toLowerCase() === s.trim().toLowerCase())),
    );
    const appArb = fc.oneof(
      fc.constantFrom(...GROUP_APPS),
      fc.mixedCase(fc.constantFrom(...GROUP_APPS)),
      fc.string({ maxLength: 12 }),
    );
    const filterArb = fc.record({
      desired_logs: fc.array(appArb, { maxLength: 4 }),
      groups: fc.array(groupNameArb, { maxLength: 3 }),
    });
    const expected = (filter: { desired_logs: string[]; groups: string[] }, app: string): boolean =>
      (filter.desired_logs.length === 0 && filter.groups.length === 0) ||
      filter.desired_logs.includes(app) ||
      filter.groups.some((name) =>
        Object.entries(SPEC_GROUPS).some(
          ([group, members]) => group.toLowerCase() === name.toLowerCase() && members.includes(app),
        ),
      );

    // Act
    // Assess
    fc.assert(
      fc.property(filterArb, appArb, (filter, app) => {
        expect(createApplicationFilter(filter)(app)).toBe(expected(filter, app));
      }),
      { numRuns: 500 },
    );
  });
});
