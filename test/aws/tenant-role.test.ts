import Type from 'typebox';
import Value from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { tenantRoleConfigProperties, tenantRoleFor } from '../../src/aws/index.js';
import type { ValidatedDeliveryConfig } from '../../src/domain/index.js';

const ROLE = 'arn:aws:iam::222222222222:role/logs';

describe('tenantRoleFor', () => {
  it.each([
    { name: 'without an ExternalId', fields: {}, request: { roleArn: ROLE, tenantId: 'team-a', region: 'eu-west-1' } },
    {
      name: 'with its own ExternalId',
      fields: { external_id: 'ext-1' },
      request: { roleArn: ROLE, externalId: 'ext-1', tenantId: 'team-a', region: 'eu-west-1' },
    },
  ])('asks the broker for the tenant role $name', ({ fields, request }) => {
    // Prepare
    const config = { tenant_id: 'team-a', type: 'kinesis', log_distribution_role_arn: ROLE, ...fields } as unknown as ValidatedDeliveryConfig;

    // Act
    const asked = tenantRoleFor(config, 'eu-west-1');

    // Assess
    expect(asked).toEqual(request);
  });
});

describe('tenantRoleConfigProperties', () => {
  const schema = Type.Object(tenantRoleConfigProperties('Kinesis Data Streams'));

  it.each([
    { value: { log_distribution_role_arn: ROLE }, valid: true },
    { value: { log_distribution_role_arn: 'arn:aws-us-gov:iam::123456789012:role/a/b/logs', external_id: 'x:y/z' }, valid: true },
    { value: { log_distribution_role_arn: 'arn:aws:iam::222222222222:user/logs' }, valid: false },
    { value: { log_distribution_role_arn: ROLE, external_id: 'x' }, valid: false },
  ])('judges $value valid=$valid', ({ value, valid }) => {
    // Prepare
    // Act
    const checked = Value.Check(schema, value);

    // Assess
    expect(checked).toBe(valid);
  });

  it('names the service in the role description', () => {
    // Prepare
    // Act
    const { description } = tenantRoleConfigProperties('Amazon Data Firehose').log_distribution_role_arn as { description?: string };

    // Assess
    expect(description).toContain('to write to Amazon Data Firehose in the tenant account');
  });
});
