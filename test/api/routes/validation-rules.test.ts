import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupNames } from '../../../src/domain/groups.js';
import { DEFAULT_BUCKET_PREFIX } from '../../../src/sinks/s3/config.js';
import {
  apiPath,
  type ConfigApiHarness,
  type ConfigKind,
  configBodyFactory,
  createConfigApiHarness,
  expectApiError,
  type OpenConfigApiStores,
  sqliteConfigApiBackend,
  tenantIdFactory,
} from '../../helpers/api.js';
import { randomId } from '../../helpers/factories.js';

/**
 * The field rules every create (and replace and patch, through the same validation) applies,
 * one table row per rule: values refused with 422 naming the field, and values accepted.
 */

/** A value, or a function making one when the test runs (unique tenants, times relative to now). */
type RuleValue = unknown | (() => unknown);

interface FieldRule {
  readonly name: string;
  /** The field a 422 names (array elements as `field[i]`, members of an object as `field.key`). */
  readonly field: string;
  /** The create request carrying `value` in the field. */
  readonly request: (value: unknown) => { tenant: string; body: Record<string, unknown> };
  readonly rejects: readonly (readonly [string, RuleValue])[];
  readonly accepts: readonly (readonly [string, RuleValue])[];
}

function resolve(value: RuleValue): unknown {
  return typeof value === 'function' ? (value as () => unknown)() : value;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** A create of one kind with `field` set to the value (left out when undefined). */
function withField(kind: ConfigKind, field: string) {
  return (value: unknown) => ({ tenant: tenantIdFactory(), body: configBodyFactory(kind, { [field]: value }) });
}

const ROLE = 'arn:aws:iam::123456789012:role';

/** A create of the tenant settings row (`type: 'tenant'`) with the fields `fields(value)` makes. */
function settingsWith(fields: (value: unknown) => Record<string, unknown>) {
  return (value: unknown) => ({ tenant: tenantIdFactory(), body: { type: 'tenant', ...fields(value) } });
}

const rules: FieldRule[] = [
  {
    name: 'tenant_id is a DNS-1123 label of at most 63 characters',
    field: 'tenant_id',
    request: (value) => ({ tenant: String(value), body: configBodyFactory('file') }),
    rejects: [
      ['uppercase letters', 'Acme'],
      ['an underscore', 'team_a'],
      ['a dot', 'team.a'],
      ['a leading hyphen', '-team'],
      ['a trailing hyphen', 'team-'],
      ['64 characters', 'a'.repeat(64)],
    ],
    accepts: [
      ['one digit', '7'],
      ['63 characters', () => `t${randomId()}`.padEnd(63, '0')],
      ['inner hyphens', () => `9-${randomId()}-x`],
    ],
  },
  {
    name: "type is '<kind>' or '<kind>:<name>' of a known kind",
    field: 'type',
    request: withField('file', 'type'),
    rejects: [
      ['uppercase', 'File'],
      ['an empty name', 'file:'],
      ['an uppercase name', 'file:Archive'],
      ['two names', 'file:a:b'],
      ['a name starting with a hyphen', 'file:-x'],
      ['an unknown kind', 'kafka'],
    ],
    accepts: [
      ['the kind alone', 'file'],
      ['a name with a hyphen', 'file:archive-2'],
      ['a name with an underscore', 'file:a_b'],
    ],
  },
  {
    name: 'log_distribution_role_arn is arn:<aws|aws-cn|aws-us-gov>:iam::<12 digits>:role/<path/><name>',
    field: 'log_distribution_role_arn',
    request: withField('cloudwatch', 'log_distribution_role_arn'),
    rejects: [
      ['an 11-digit account', 'arn:aws:iam::12345678901:role/x'],
      ['a 13-digit account', 'arn:aws:iam::1234567890123:role/x'],
      ['a user instead of a role', 'arn:aws:iam::123456789012:user/x'],
      ['an unknown partition', 'arn:aws-eu:iam::123456789012:role/x'],
      ['another service', 'arn:aws:s3:::bucket'],
      ['an empty role name', `${ROLE}/`],
      ['a 65-character role name', `${ROLE}/${'r'.repeat(65)}`],
      ['a role name alone', 'log-distribution'],
      ['a space in the name', `${ROLE}/log writer`],
    ],
    accepts: [
      ['the aws partition', `${ROLE}/log-distribution`],
      ['the aws-cn partition', 'arn:aws-cn:iam::123456789012:role/log-distribution'],
      ['the aws-us-gov partition', 'arn:aws-us-gov:iam::123456789012:role/log-distribution'],
      ['a path', `${ROLE}/team/sub/log-writer`],
      ["the name characters '+=,.@_-'", `${ROLE}/a+b=c,d.e@f_g-h`],
      ['a 64-character role name', `${ROLE}/${'r'.repeat(64)}`],
    ],
  },
  {
    name: 'log_group_name is 1-512 of [.-_/#A-Za-z0-9]',
    field: 'log_group_name',
    request: withField('cloudwatch', 'log_group_name'),
    rejects: [
      ['an empty name', ''],
      ['513 characters', 'g'.repeat(513)],
      ['a space', '/my group'],
      ['a colon', '/my:group'],
      ['an asterisk', '/my*group'],
      ['a non-ASCII letter', '/café'],
      ['a number', 42],
    ],
    accepts: [
      ['one character', 'g'],
      ['512 characters', 'g'.repeat(512)],
      ['every allowed character', '/aws/.-_#AZaz09'],
    ],
  },
  {
    name: 'bucket_name follows the S3 bucket naming rules',
    field: 'bucket_name',
    request: withField('s3', 'bucket_name'),
    rejects: [
      ['2 characters', 'ab'],
      ['64 characters', 'b'.repeat(64)],
      ['uppercase letters', 'Logs-bucket'],
      ['an underscore', 'logs_bucket'],
      ['a leading hyphen', '-logs'],
      ['a trailing hyphen', 'logs-'],
      ['a trailing dot', 'logs.'],
      ['two adjacent dots', 'logs..bucket'],
      ['the form of an IP address', '192.168.10.1'],
      ["the prefix 'xn--'", 'xn--logs'],
      ["the prefix 'sthree-'", 'sthree-logs'],
      ["the prefix 'amzn-s3-demo-'", 'amzn-s3-demo-logs'],
      ["the suffix '-s3alias'", 'logs-s3alias'],
      ["the suffix '--ol-s3'", 'logs--ol-s3'],
      ["the suffix '.mrap'", 'logs.mrap'],
      ["the suffix '--x-s3'", 'logs--x-s3'],
      ["the suffix '--table-s3'", 'logs--table-s3'],
    ],
    accepts: [
      ['3 characters', 'abc'],
      ['63 characters', 'b'.repeat(63)],
      ['dots and hyphens inside', 'logs.bucket-1'],
      ['digits with fewer than four parts', '192.168.10'],
    ],
  },
  {
    name: 'bucket_prefix is relative, has no empty segment and is at most 512 bytes',
    field: 'bucket_prefix',
    request: withField('s3', 'bucket_prefix'),
    rejects: [
      ['a leading slash', '/logs/'],
      ['an empty segment', 'logs//app/'],
      ['513 bytes', 'p'.repeat(513)],
      ['257 two-byte characters (514 bytes)', 'é'.repeat(257)],
    ],
    accepts: [
      ['the bucket root', ''],
      ['511 bytes and its added slash', 'p'.repeat(511)],
      ['nested segments', 'a/b/c/'],
    ],
  },
  {
    name: 'target_region is a region name',
    field: 'target_region',
    request: withField('s3', 'target_region'),
    rejects: [
      ['no hyphens', 'useast1'],
      ['uppercase', 'US-EAST-1'],
      ['no number', 'us-east'],
      ['an availability zone', 'us-east-1a'],
      ['two digits', 'us-east-12'],
    ],
    accepts: [
      ['us-east-1', 'us-east-1'],
      ['eu-central-1', 'eu-central-1'],
      ['a GovCloud region', 'us-gov-west-1'],
      ['an ISO region', 'us-isob-east-1'],
    ],
  },
  {
    name: 'desired_logs entries are non-blank application names',
    field: 'desired_logs',
    request: withField('file', 'desired_logs'),
    rejects: [
      ['an empty entry', ['api', '']],
      ['a blank entry', ['  ']],
      ['a number entry', [1]],
      ['a string instead of a list', 'api'],
    ],
    accepts: [
      ['an empty list', []],
      ['names', ['kube-apiserver', 'my app']],
    ],
  },
  {
    name: 'groups are known group names, case-insensitive',
    field: 'groups',
    request: withField('file', 'groups'),
    rejects: [
      ['an unknown group', ['Nope']],
      ['a known and an unknown group', ['API', 'Nope']],
      ['a blank entry', ['']],
      ['a string instead of a list', 'API'],
    ],
    accepts: [
      ['an empty list', []],
      ['a known group', ['API']],
      ['other cases of known groups', ['api', 'SCHEDULER']],
      ['a group name with a space', ['Controller Manager']],
    ],
  },
  {
    name: 'ttl is a future epoch second, or absent',
    field: 'ttl',
    request: withField('file', 'ttl'),
    rejects: [
      ['a minute ago', () => nowSeconds() - 60],
      ['zero', 0],
      ['a negative number', -1],
      ['a fraction', () => nowSeconds() + 3600.5],
      ['a string', 'tomorrow'],
      ['milliseconds beyond 2^53', 1e21],
    ],
    accepts: [
      ['an hour ahead', () => nowSeconds() + 3600],
      ['absent', undefined],
    ],
  },
  {
    name: 'rate_limit.events_per_second (tenant settings row) is a number greater than 0',
    field: 'rate_limit.events_per_second',
    request: settingsWith((value) => ({ rate_limit: { events_per_second: value } })),
    rejects: [
      ['zero', 0],
      ['a negative number', -5],
      ['text', '100/s'],
    ],
    accepts: [
      ['a whole number', 5_000],
      ['a fraction', 0.5],
    ],
  },
  {
    name: 'rate_limit.burst_seconds (tenant settings row) is greater than 0 and at most 3600',
    field: 'rate_limit.burst_seconds',
    request: settingsWith((value) => ({ rate_limit: { bytes_per_second: 1_048_576, burst_seconds: value } })),
    rejects: [
      ['zero', 0],
      ['more than an hour', 3_601],
    ],
    accepts: [
      ['an hour', 3_600],
      ['absent', undefined],
    ],
  },
  {
    name: 'destination_rate_limits (tenant settings row) are keyed by destination type, with the two rates only',
    field: 'destination_rate_limits',
    request: settingsWith((value) => ({ destination_rate_limits: value })),
    rejects: [
      ['an uppercase key', { S3: { events_per_second: 1 } }],
      ['a zero rate', { s3: { bytes_per_second: 0 } }],
      ['burst_seconds on a destination', { s3: { burst_seconds: 2 } }],
    ],
    accepts: [
      ['a kind', { cloudwatch: { events_per_second: 1_000 } }],
      ['a named destination', { 's3:archive': { bytes_per_second: 1_048_576 } }],
    ],
  },
  {
    name: 'daily_byte_quota (tenant settings row) is a whole number of bytes, at least 1',
    field: 'daily_byte_quota',
    request: settingsWith((value) => ({ daily_byte_quota: value })),
    rejects: [
      ['zero', 0],
      ['a fraction', 1.5],
      ['text', '10GB'],
      ['a number past 2^53', 2 ** 60],
    ],
    accepts: [
      ['10 GiB', 10_737_418_240],
      ['one byte', 1],
    ],
  },
];

describe('delivery config field rules (SQLite)', () => {
  let stores: OpenConfigApiStores;
  let api: ConfigApiHarness;

  beforeAll(async () => {
    stores = await sqliteConfigApiBackend().open();
    api = createConfigApiHarness(stores);
  });

  afterAll(async () => {
    await api?.close();
    await stores?.close();
  });

  afterEach(() => {
    expect(api.takeServerErrors()).toEqual([]);
  });

  describe.each(rules)('$name', ({ field, request, rejects, accepts }) => {
    it.each(rejects)('refuses %s with 422 naming the field, storing nothing', async (_label, value) => {
      // Prepare
      const { tenant, body } = request(resolve(value));

      // Act
      const response = await api.call('POST', apiPath.configs(tenant), body);

      // Assess
      const error = expectApiError(response, 422, 'validation_failed');
      expect(error.details?.length).toBeGreaterThan(0);
      for (const detail of error.details ?? []) {
        const named = detail.field === field || detail.field?.startsWith(`${field}[`) || detail.field?.startsWith(`${field}.`);
        expect(named, JSON.stringify(detail)).toBe(true);
        expect(detail.message).toMatch(/\S/);
      }
      expect((await api.call('GET', apiPath.configs(tenant))).body).toEqual({ items: [] });
    });

    it.each(accepts)('accepts %s (201)', async (_label, value) => {
      // Prepare
      const { tenant, body } = request(resolve(value));

      // Act
      const response = await api.call('POST', apiPath.configs(tenant), body);

      // Assess
      expect(response.status, response.text).toBe(201);
    });
  });

  it('stores a tenant settings row, reads it back and patches it through the same rules', async () => {
    // Prepare
    const tenant = tenantIdFactory();
    const body = { type: 'tenant', rate_limit: { events_per_second: 5_000 }, daily_byte_quota: 10_737_418_240 };

    // Act
    const created = await api.call('POST', apiPath.configs(tenant), body);
    const patched = await api.call('PATCH', apiPath.config(tenant, 'tenant'), { daily_byte_quota: 1_073_741_824 });
    const refused = await api.call('PATCH', apiPath.config(tenant, 'tenant'), { daily_byte_quota: -1 });
    const read = await api.call('GET', apiPath.config(tenant, 'tenant'));

    // Assess
    expect(created.status, created.text).toBe(201);
    expect(patched.status, patched.text).toBe(200);
    const error = expectApiError(refused, 422, 'validation_failed');
    expect(error.details).toEqual([{ field: 'daily_byte_quota', message: 'must be a whole number of bytes, at least 1' }]);
    expect(read.body).toMatchObject({ tenant_id: tenant, type: 'tenant', rate_limit: { events_per_second: 5_000 }, daily_byte_quota: 1_073_741_824 });
  });

  it('refuses a field the tenant settings row does not have with 422 naming it', async () => {
    // Prepare
    const tenant = tenantIdFactory();

    // Act
    const response = await api.call('POST', apiPath.configs(tenant), { type: 'tenant', bucket_name: 'logs-bucket' });

    // Assess
    const error = expectApiError(response, 422, 'validation_failed');
    expect(error.details).toEqual([{ field: 'bucket_name', message: 'is not a known field' }]);
  });

  it('lists the known groups when a group is unknown', async () => {
    // Prepare
    const tenant = tenantIdFactory();

    // Act
    const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory('file', { groups: ['Auditing'] }));

    // Assess
    const error = expectApiError(response, 422, 'validation_failed');
    expect(error.details).toEqual([
      { field: 'groups', message: `has unknown group 'Auditing'; known groups: ${groupNames().join(', ')}` },
    ]);
  });

  describe.each<[string | undefined, string]>([
    ['logs', 'logs/'],
    ['logs/', 'logs/'],
    ['a/b', 'a/b/'],
    ['', ''],
    [undefined, DEFAULT_BUCKET_PREFIX],
  ])('bucket_prefix %j', (given, stored) => {
    it(`is stored as ${JSON.stringify(stored)}`, async () => {
      // Prepare
      const tenant = tenantIdFactory();

      // Act
      const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory('s3', { bucket_prefix: given }));

      // Assess
      expect(response.status).toBe(201);
      expect(response.body.bucket_prefix).toBe(stored);
      expect((await api.call('GET', apiPath.config(tenant, 's3'))).body.bucket_prefix).toBe(stored);
    });
  });

  it.each<[ConfigKind, string, unknown, string]>([
    ['file', 'bucket_name', 'logs-bucket', 's3'],
    ['file', 'log_group_name', '/logs', 'cloudwatch'],
    ['s3', 'directory', 'out', 'file'],
    ['s3', 'log_distribution_role_arn', `${ROLE}/x`, 'cloudwatch'],
    ['cloudwatch', 'bucket_prefix', 'logs/', 's3'],
    ['cloudwatch', 'directory', 'out', 'file'],
  ])("refuses a %s config with %s (422 naming kind '%s')", async (kind, field, value, owner) => {
    // Prepare
    const tenant = tenantIdFactory();

    // Act
    const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory(kind, { [field]: value }));

    // Assess
    const error = expectApiError(response, 422, 'validation_failed');
    expect(error.details).toEqual([{ field, message: `belongs to kind '${owner}', not '${kind}'` }]);
  });

  it.each(['colour', 'bucket', 'logGroupName'])('refuses %s, a field no kind has, with 400 bad_request', async (field) => {
    // Prepare
    const tenant = tenantIdFactory();

    // Act
    const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory('file', { [field]: 'x' }));

    // Assess
    const error = expectApiError(response, 400, 'bad_request');
    expect(error.details).toEqual([{ field, message: `'${field}' is not a field of any delivery config.` }]);
  });
});
