import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConfigValidationError, validateDeliveryConfig } from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import {
  createFirehoseSink,
  FIREHOSE_KIND,
  firehoseLimitsFor,
  type FirehoseSinkConfig,
  firehoseSinkDefinition,
  MAX_RECORD_BYTES,
  MAX_REQUEST_BYTES,
  MIN_RECORD_BYTES,
} from '../../../src/sinks/firehose/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import { deliveryConfigFactory } from '../../helpers/factories.js';

const lookup = createSinkRegistry([firehoseSinkDefinition]).lookup;

function firehoseConfig(overrides: Record<string, unknown> = {}) {
  return deliveryConfigFactory({
    type: 'firehose',
    directory: undefined,
    log_distribution_role_arn: 'arn:aws:iam::222222222222:role/log-distribution',
    delivery_stream_name: 'tenant-logs',
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

describe('firehose config', () => {
  it.each([
    { name: 'the minimal config', overrides: {} },
    { name: 'an ExternalId and a target region', overrides: { external_id: 'ext-1', target_region: 'eu-west-1' } },
    { name: 'the largest sizes', overrides: { max_record_bytes: MAX_RECORD_BYTES, max_request_bytes: MAX_REQUEST_BYTES } },
    { name: 'the smallest sizes', overrides: { max_record_bytes: MIN_RECORD_BYTES, max_request_bytes: MIN_RECORD_BYTES } },
  ])('accepts $name', ({ overrides }) => {
    // Prepare
    const input = firehoseConfig(overrides);

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(errors).toEqual({});
  });

  it.each([
    { name: 'no stream name', overrides: { delivery_stream_name: undefined }, field: 'delivery_stream_name', message: /is required/ },
    { name: 'a stream name over 64 characters', overrides: { delivery_stream_name: 's'.repeat(65) }, field: 'delivery_stream_name', message: /1-64/ },
    { name: 'a user ARN as role', overrides: { log_distribution_role_arn: 'arn:aws:iam::222222222222:user/x' }, field: 'log_distribution_role_arn', message: /IAM role ARN/ },
    { name: 'a record over 1,000 KiB', overrides: { max_record_bytes: MAX_RECORD_BYTES + 1 }, field: 'max_record_bytes', message: /1024 to 1024000/ },
    { name: 'a request over 4 MiB', overrides: { max_request_bytes: MAX_REQUEST_BYTES + 1 }, field: 'max_request_bytes', message: /1024 to 4194304/ },
    { name: 'a request smaller than a record', overrides: { max_request_bytes: 500_000 }, field: 'max_request_bytes', message: /not be less than 'max_record_bytes'/ },
    { name: 'a field of the kinesis kind', overrides: { stream_name: 'x' }, field: 'stream_name', message: /not a known field/ },
  ])('refuses $name', ({ overrides, field, message }) => {
    // Prepare
    const input = firehoseConfig(overrides);

    // Act
    const errors = fieldErrors(input);

    // Assess
    expect(Object.keys(errors)).toEqual([field]);
    expect(errors[field]).toMatch(message);
  });

  it('limits requests to the Firehose limits unless the config lowers the sizes', () => {
    // Prepare
    const defaults = validateDeliveryConfig(firehoseConfig(), lookup) as unknown as FirehoseSinkConfig;
    const lowered = validateDeliveryConfig(
      firehoseConfig({ max_record_bytes: 2_048, max_request_bytes: 16_384 }),
      lookup,
    ) as unknown as FirehoseSinkConfig;

    // Act
    const limits = [firehoseLimitsFor(defaults), firehoseLimitsFor(lowered)];

    // Assess
    expect(limits).toEqual([
      { maxRecordBytes: 1_024_000, maxRecordsPerRequest: 500, maxRequestBytes: 4_194_304 },
      { maxRecordBytes: 2_048, maxRecordsPerRequest: 500, maxRequestBytes: 16_384 },
    ]);
  });

  it('refuses to build a sink in a runtime without AWS', () => {
    // Prepare
    const config = validateDeliveryConfig(firehoseConfig(), lookup);

    // Act
    const create = () => createFirehoseSink(config, { baseDir: '.', logger: silentLogger, registry: new Registry() });

    // Assess
    expect(create).toThrow(`'${FIREHOSE_KIND}' needs the AWS runtime`);
  });
});
