import { describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../src/domain/index.js';
import { awsRuntimeConfigFromEnv, ExecutionMode, parseExecutionMode } from '../../src/runtimes/aws-env.js';

const BASE = { TENANT_CONFIG_TABLE: 'tenant-configs' };

function fieldErrors(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.fieldErrors.map((e) => e.field);
    throw error;
  }
  throw new Error('expected a ConfigValidationError');
}

describe('awsRuntimeConfigFromEnv', () => {
  it('reads the variables operators set today, with defaults for the new tables', () => {
    // Prepare
    const env = {
      ...BASE,
      SQS_QUEUE_URL: 'http://127.0.0.1:5000/123456789012/q',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      AWS_S3_USE_PATH_STYLE: 'true',
      SOURCE_BUCKET: 'central',
      CENTRAL_LOG_DISTRIBUTION_ROLE_ARN: 'arn:aws:iam::123456789012:role/CentralLogDistribution',
      SCAN_INTERVAL: '30',
      LOG_LEVEL: 'DEBUG',
    };

    // Act
    const config = awsRuntimeConfigFromEnv(ExecutionMode.SQS, env);

    // Assess
    expect(config).toMatchObject({
      aws: { region: 'eu-west-1', endpoint: 'http://127.0.0.1:5000', s3PathStyle: true },
      configTable: 'tenant-configs',
      checkpointTable: 'tenant-configs-checkpoints',
      deadLetterTable: 'tenant-configs-dead-letters',
      auditTable: 'tenant-configs-audit',
      destinationStatusTable: 'tenant-configs-status',
      replayTable: 'tenant-configs-replay',
      queueUrl: env.SQS_QUEUE_URL,
      sourceBucket: 'central',
      centralRoleArn: env.CENTRAL_LOG_DISTRIBUTION_ROLE_ARN,
      scanIntervalSeconds: 30,
      logLevel: 'debug',
      logLevelWasInvalid: false,
      checkpointTtlSeconds: 30 * 86_400,
    });
  });

  it('takes AUDIT_TABLE and DESTINATION_STATUS_TABLE over the defaults', () => {
    // Prepare
    const env = { ...BASE, AUDIT_TABLE: 'tlr-audit', DESTINATION_STATUS_TABLE: ' tlr-status ' };

    // Act
    const config = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, env);

    // Assess
    expect(config.auditTable).toBe('tlr-audit');
    expect(config.destinationStatusTable).toBe('tlr-status');
  });

  it('derives the quota table from TENANT_CONFIG_TABLE and takes QUOTA_TABLE over it', () => {
    // Act
    const derived = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, { ...BASE });
    const named = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, { ...BASE, QUOTA_TABLE: ' tlr-quotas ' });

    // Assess
    expect(derived.quotaTable).toBe(`${BASE.TENANT_CONFIG_TABLE}-quotas`);
    expect(named.quotaTable).toBe('tlr-quotas');
  });

  it('takes REPLAY_TABLE over the default', () => {
    // Prepare
    const env = { ...BASE, REPLAY_TABLE: ' tlr-replay ' };

    // Act
    const config = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, env);

    // Assess
    expect(config.replayTable).toBe('tlr-replay');
  });

  it('reads TLR_MAX_IN_FLIGHT_PER_TENANT and TLR_SCHEDULER_SLOW_MS, and leaves them unset for the defaults when absent', () => {
    // Prepare
    const env = { ...BASE, TLR_MAX_IN_FLIGHT_PER_TENANT: ' 3 ', TLR_SCHEDULER_SLOW_MS: '2500' };

    // Act
    const set = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, env);
    const unset = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, BASE);

    // Assess
    expect(set.maxInFlightPerTenant).toBe(3);
    expect(set.schedulerSlowMs).toBe(2_500);
    expect(unset.maxInFlightPerTenant).toBeUndefined();
    expect(unset.schedulerSlowMs).toBeUndefined();
  });

  it('uses INFO for an unknown LOG_LEVEL and says so', () => {
    // Prepare
    const env = { ...BASE, LOG_LEVEL: 'LOUD' };

    // Act
    const config = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, env);

    // Assess
    expect(config.logLevel).toBe('info');
    expect(config.logLevelWasInvalid).toBe(true);
  });

  it.each([
    { mode: ExecutionMode.SQS, env: {}, fields: ['TENANT_CONFIG_TABLE', 'SQS_QUEUE_URL'] },
    { mode: ExecutionMode.SCAN, env: BASE, fields: ['SOURCE_BUCKET'] },
    { mode: ExecutionMode.MANUAL, env: { ...BASE, CENTRAL_LOG_DISTRIBUTION_ROLE_ARN: 'role/x' }, fields: ['CENTRAL_LOG_DISTRIBUTION_ROLE_ARN'] },
    { mode: ExecutionMode.MANUAL, env: { ...BASE, SCAN_INTERVAL: 'soon', PROCESSOR_CONCURRENCY: '0' }, fields: ['SCAN_INTERVAL', 'PROCESSOR_CONCURRENCY'] },
    { mode: ExecutionMode.MANUAL, env: { ...BASE, CENTRAL_ACCOUNT_ID: '12345' }, fields: ['CENTRAL_ACCOUNT_ID'] },
    { mode: ExecutionMode.SQS, env: { TLR_MAX_IN_FLIGHT_PER_TENANT: '0' }, fields: ['TENANT_CONFIG_TABLE', 'SQS_QUEUE_URL', 'TLR_MAX_IN_FLIGHT_PER_TENANT'] },
    { mode: ExecutionMode.MANUAL, env: { ...BASE, TLR_SCHEDULER_SLOW_MS: '1s' }, fields: ['TLR_SCHEDULER_SLOW_MS'] },
  ])('fails fast naming every bad variable ($fields)', ({ mode, env, fields }) => {
    // Prepare
    const read = () => awsRuntimeConfigFromEnv(mode, env);

    // Act
    const named = fieldErrors(read);

    // Assess
    expect(named).toEqual(fields);
  });
});

describe('parseExecutionMode', () => {
  it.each(['lambda', 'SQS', ' manual ', 'scan'])('accepts %s', (value) => {
    // Prepare
    const input = value;

    // Act
    const mode = parseExecutionMode(input);

    // Assess
    expect(mode).toBe(value.trim().toLowerCase());
  });

  it('rejects an unknown mode, listing the known ones', () => {
    // Prepare
    const input = 'batch';

    // Act
    const parse = () => parseExecutionMode(input);

    // Assess
    expect(parse).toThrow(/must be one of lambda, sqs, manual, scan; got 'batch'/);
  });
});
