import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConfigValidationError, validateDeliveryConfig } from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import {
  createKinesisSink,
  KINESIS_KIND,
  kinesisLimitsFor,
  kinesisRegionOf,
  type KinesisSinkConfig,
  kinesisSinkDefinition,
  MAX_RECORD_BYTES,
  MAX_RECORDS_PER_REQUEST,
  MAX_REQUEST_BYTES,
  MIN_RECORD_BYTES,
} from '../../../src/sinks/kinesis/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import { deliveryConfigFactory } from '../../helpers/factories.js';

const lookup = createSinkRegistry([kinesisSinkDefinition]).lookup;
const ROLE = 'arn:aws:iam::222222222222:role/log-distribution';
const ARN = (region: string, name = 'logs') => `arn:aws:kinesis:${region}:222222222222:stream/${name}`;

function kinesisConfig(overrides: Record<string, unknown> = {}) {
  return deliveryConfigFactory({
    type: 'kinesis',
    directory: undefined,
    log_distribution_role_arn: ROLE,
    stream_name: 'tenant-logs',
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

describe('kinesis config', () => {
  it.each([
    { name: 'the minimal config', overrides: {} },
    { name: 'a stream ARN instead of a name', overrides: { stream_name: undefined, stream_arn: ARN('eu-west-1') } },
    { name: 'a stream ARN in the target region', overrides: { stream_name: undefined, stream_arn: ARN('eu-west-1'), target_region: 'eu-west-1' } },
    { name: 'category streams by name and ARN', overrides: { streams: { audit: 'audit-logs', infrastructure: ARN('us-east-1', 'infra') } } },
    { name: 'every placeholder', overrides: { partition_key_template: '{cluster_id}/{namespace}/{application}/{pod_name}' } },
    { name: 'an ExternalId', overrides: { external_id: 'tenant:ext/1' } },
    { name: 'a named second destination', overrides: { type: 'kinesis:audit' } },
    { name: 'sizes for moto (5 MB request cap)', overrides: { max_record_bytes: 65_536, max_request_bytes: 5_000_000 } },
    { name: 'retry overrides', overrides: { retry: { maxAttempts: 2 } } },
  ])('accepts $name', ({ overrides }) => {
    // Prepare
    const input = kinesisConfig(overrides);

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(errors).toEqual({});
  });

  it.each([
    { name: 'neither stream_name nor stream_arn', overrides: { stream_name: undefined }, field: 'stream_name', message: /exactly one of/ },
    { name: 'both stream_name and stream_arn', overrides: { stream_arn: ARN('us-east-1') }, field: 'stream_arn', message: /exactly one of/ },
    { name: 'a stream name with a slash', overrides: { stream_name: 'a/b' }, field: 'stream_name', message: /letters, digits/ },
    { name: 'a stream ARN of another service', overrides: { stream_name: undefined, stream_arn: 'arn:aws:sqs:us-east-1:222222222222:q' }, field: 'stream_arn', message: /Kinesis stream ARN/ },
    { name: 'a category nobody routes', overrides: { streams: { security: 'sec' } }, field: 'streams.security', message: /not a known field/ },
    { name: 'a category stream that is neither name nor ARN', overrides: { streams: { audit: 'a b' } }, field: 'streams.audit', message: /stream name/ },
    { name: 'an unknown placeholder', overrides: { partition_key_template: '{pod}' }, field: 'partition_key_template', message: /unknown placeholder '\{pod\}'/ },
    { name: 'a partition key template over 256 characters', overrides: { partition_key_template: 'k'.repeat(257) }, field: 'partition_key_template', message: /1-256/ },
    { name: 'a stream ARN outside the target region', overrides: { stream_name: undefined, stream_arn: ARN('eu-west-1'), target_region: 'us-east-1' }, field: 'stream_arn', message: /must be in 'us-east-1'/ },
    { name: 'category streams in two regions', overrides: { stream_name: undefined, stream_arn: ARN('eu-west-1'), streams: { audit: ARN('us-west-2', 'a') } }, field: 'streams.audit', message: /must be in 'eu-west-1'/ },
    { name: 'a record over 1 MiB', overrides: { max_record_bytes: MAX_RECORD_BYTES + 1 }, field: 'max_record_bytes', message: /4096 to 1048576/ },
    { name: 'a request over 10 MiB', overrides: { max_request_bytes: MAX_REQUEST_BYTES + 1 }, field: 'max_request_bytes', message: /4096 to 10485760/ },
    { name: 'a request smaller than a record', overrides: { max_request_bytes: 100_000 }, field: 'max_request_bytes', message: /not be less than 'max_record_bytes'/ },
    { name: 'a field of the cloudwatch kind', overrides: { log_group_name: '/x' }, field: 'log_group_name', message: /not a known field/ },
  ])('refuses $name', ({ overrides, field, message }) => {
    // Prepare
    const input = kinesisConfig(overrides);

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(Object.keys(errors)).toEqual([field]);
    expect(errors[field]).toMatch(message);
  });

  it.each([
    { name: 'the router region for a stream name', overrides: {}, region: 'us-east-1' },
    { name: "the ARN's region", overrides: { stream_name: undefined, stream_arn: ARN('eu-west-1') }, region: 'eu-west-1' },
    { name: "a category ARN's region", overrides: { streams: { audit: ARN('ap-south-1') } }, region: 'ap-south-1' },
    { name: 'target_region first', overrides: { target_region: 'eu-central-1' }, region: 'eu-central-1' },
  ])('writes to $name', ({ overrides, region }) => {
    // Prepare
    const config = validateDeliveryConfig(kinesisConfig(overrides), lookup);

    // Act
    const chosen = kinesisRegionOf(config, 'us-east-1');

    // Assess
    expect(chosen).toBe(region);
  });

  it('limits requests to the Kinesis limits unless the config lowers the sizes', () => {
    // Prepare
    const defaults = validateDeliveryConfig(kinesisConfig(), lookup) as unknown as KinesisSinkConfig;
    const lowered = validateDeliveryConfig(
      kinesisConfig({ max_record_bytes: MIN_RECORD_BYTES, max_request_bytes: 1_000_000 }),
      lookup,
    ) as unknown as KinesisSinkConfig;

    // Act
    const limits = [kinesisLimitsFor(defaults), kinesisLimitsFor(lowered)];

    // Assess
    expect(limits).toEqual([
      { maxRecordBytes: 1_048_576, maxRecordsPerRequest: MAX_RECORDS_PER_REQUEST, maxRequestBytes: 10_485_760 },
      { maxRecordBytes: MIN_RECORD_BYTES, maxRecordsPerRequest: 500, maxRequestBytes: 1_000_000 },
    ]);
  });

  it('refuses to build a sink in a runtime without AWS', () => {
    // Prepare
    const config = validateDeliveryConfig(kinesisConfig(), lookup);

    // Act
    const create = () => createKinesisSink(config, { baseDir: '.', logger: silentLogger, registry: new Registry() });

    // Assess
    expect(create).toThrow(ConfigValidationError);
    expect(create).toThrow(`'${KINESIS_KIND}' needs the AWS runtime`);
  });
});
