import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConfigValidationError, validateDeliveryConfig } from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import {
  cloudwatchLimitsFor,
  type CloudwatchSinkConfig,
  LEGACY_MAX_EVENT_BYTES,
  MAX_BATCH_BYTES,
  MAX_EVENT_BYTES,
} from '../../../src/sinks/cloudwatch/config.js';
import { CLOUDWATCH_KIND, cloudwatchSinkDefinition, createCloudwatchSink } from '../../../src/sinks/cloudwatch/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import { deliveryConfigFactory } from '../../helpers/factories.js';

const lookup = createSinkRegistry([cloudwatchSinkDefinition]).lookup;

function cloudwatchConfig(overrides: Record<string, unknown> = {}) {
  return deliveryConfigFactory({
    type: 'cloudwatch',
    directory: undefined,
    log_distribution_role_arn: 'arn:aws:iam::222222222222:role/log-distribution',
    log_group_name: '/tlr/team-a',
    ...overrides,
  });
}

function fieldErrors(input: unknown): Record<string, string> {
  try {
    validateDeliveryConfig(input, lookup);
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    return Object.fromEntries(error.fieldErrors.map((e) => [e.field, e.message]));
  }
  return {};
}

describe('cloudwatch config', () => {
  it.each([
    { name: 'the minimal config', overrides: {} },
    { name: 'a role under a path in GovCloud', overrides: { log_distribution_role_arn: 'arn:aws-us-gov:iam::123456789012:role/a/b/logs' } },
    { name: 'every placeholder', overrides: { log_stream_template: '{cluster_id}/{namespace}/{application}/{pod_name}' } },
    { name: 'an ExternalId', overrides: { external_id: 'tenant:ext/1-_+=,.@' } },
    { name: 'a named second destination', overrides: { type: 'cloudwatch:audit' } },
    { name: 'the legacy event size', overrides: { max_event_bytes: LEGACY_MAX_EVENT_BYTES } },
    { name: 'a safety margin and retry overrides', overrides: { batch_safety_margin_bytes: 1_024, retry: { maxAttempts: 2 } } },
  ])('accepts $name', ({ overrides }) => {
    // Prepare
    const input = cloudwatchConfig(overrides);

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(errors).toEqual({});
  });

  it.each([
    { field: 'log_distribution_role_arn', value: 'arn:aws:iam::12345:role/x', message: /IAM role ARN/ },
    { field: 'log_distribution_role_arn', value: 'arn:aws:iam::123456789012:user/x', message: /IAM role ARN/ },
    { field: 'log_group_name', value: '', message: /1-512 characters/ },
    { field: 'log_group_name', value: 'group with spaces', message: /1-512 characters/ },
    { field: 'log_group_name', value: 'g'.repeat(513), message: /1-512 characters/ },
    { field: 'log_stream_template', value: '{pod}', message: /unknown placeholder '\{pod\}'/ },
    { field: 'log_stream_template', value: 'a:{pod_name}', message: /must not contain ':' or '\*'/ },
    { field: 'log_stream_template', value: '', message: /1-512 character/ },
    { field: 'external_id', value: 'x', message: /2-1224 characters/ },
    { field: 'external_id', value: 'has space', message: /2-1224 characters/ },
    { field: 'max_event_bytes', value: LEGACY_MAX_EVENT_BYTES - 1, message: /from 262118/ },
    { field: 'max_event_bytes', value: MAX_EVENT_BYTES + 1, message: /to 1048550/ },
    { field: 'batch_safety_margin_bytes', value: -1, message: /from 0/ },
  ])("rejects $field = '$value' with a message naming the rule", ({ field, value, message }) => {
    // Prepare
    const input = cloudwatchConfig({ [field]: value });

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(errors[field]).toMatch(message);
  });

  it('rejects a retry override outside the shared retry schema', () => {
    // Prepare
    const input = cloudwatchConfig({ retry: { maxAttempts: 0 } });

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(Object.keys(errors)).toEqual(['retry.maxAttempts']);
  });

  it('requires the role ARN and the log group', () => {
    // Prepare
    const input = cloudwatchConfig({ log_distribution_role_arn: undefined, log_group_name: undefined });

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(errors).toEqual({ log_distribution_role_arn: 'is required', log_group_name: 'is required' });
  });

  it('rejects an unknown field', () => {
    // Prepare
    const input = cloudwatchConfig({ log_group: '/typo' });

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(errors).toEqual({ log_group: 'is not a known field' });
  });

  it("derives the planner limits from the config's event size and safety margin", () => {
    // Prepare
    const fields = { max_event_bytes: LEGACY_MAX_EVENT_BYTES, batch_safety_margin_bytes: 4_096 } as CloudwatchSinkConfig;

    // Act
    const limits = cloudwatchLimitsFor(fields);

    // Assess
    expect(limits).toMatchObject({
      maxEventBytes: LEGACY_MAX_EVENT_BYTES,
      safetyMarginBytes: 4_096,
      maxBatchBytes: MAX_BATCH_BYTES,
    });
  });
});

describe('createCloudwatchSink', () => {
  it('refuses to build without the AWS runtime, naming the kind', () => {
    // Prepare
    const config = validateDeliveryConfig(cloudwatchConfig(), lookup);

    // Act
    const create = () => createCloudwatchSink(config, { baseDir: '.', logger: silentLogger, registry: new Registry() });

    // Assess
    expect(create).toThrow(ConfigValidationError);
    expect(create).toThrow(/'cloudwatch' needs the AWS runtime/);
  });

  it('registers as the cloudwatch kind', () => {
    // Prepare
    // Act
    const spec = lookup(CLOUDWATCH_KIND);

    // Assess
    expect(cloudwatchSinkDefinition.kind).toBe('cloudwatch');
    expect(spec).toBe(cloudwatchSinkDefinition.spec);
  });
});
