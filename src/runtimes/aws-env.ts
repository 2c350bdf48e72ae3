import { ConfigValidationError, type FieldError, wholeNumberFromEnv } from '../domain/index.js';
import { type AwsSettings, awsSettingsFromEnv } from '../aws/index.js';
import { LogLevel, parseLogLevel } from '../logging/index.js';
import { defaultRouterTableNames } from '../stores/aws/dynamodb-tables.js';
import type { ValidatedCircuitBreakerConfig } from '../delivery/index.js';
import { circuitBreakerConfigFromEnv } from './circuit-breaker-env.js';
import { maxInFlightPerTenantFromEnv, schedulerSlowMsFromEnv } from './tenant-scheduling.js';

/** How `tlr process` runs. */
export const ExecutionMode = { LAMBDA: 'lambda', SQS: 'sqs', MANUAL: 'manual', SCAN: 'scan' } as const;
export type ExecutionMode = (typeof ExecutionMode)[keyof typeof ExecutionMode];

/** The AWS runtime's settings, from the environment operators set today. */
export interface AwsRuntimeConfig {
  readonly aws: AwsSettings;
  /** DynamoDB table of delivery configs (`TENANT_CONFIG_TABLE`). */
  readonly configTable: string;
  /** DynamoDB table of checkpoints (`CHECKPOINT_TABLE`, default `<config table>-checkpoints`). */
  readonly checkpointTable: string;
  /** DynamoDB table of dead letters (`DEAD_LETTER_TABLE`, default `<config table>-dead-letters`). */
  readonly deadLetterTable: string;
  /** DynamoDB table of the config-change audit log (`AUDIT_TABLE`, default `<config table>-audit`). */
  readonly auditTable: string;
  /** DynamoDB table of per-destination health (`DESTINATION_STATUS_TABLE`, default `<config table>-status`). */
  readonly destinationStatusTable: string;
  /**
   * DynamoDB table of API request signatures, shared by the API replicas to refuse replays
   * (`REPLAY_TABLE`, default `<config table>-replay`).
   */
  readonly replayTable: string;
  /** DynamoDB table of the tenants' daily byte counters (`QUOTA_TABLE`, default `<config table>-quotas`). */
  readonly quotaTable: string;
  /** Checkpoint TTL (`CHECKPOINT_TTL_DAYS`, default 30): longer than the central bucket's expiry. */
  readonly checkpointTtlSeconds: number;
  readonly queueUrl?: string;
  readonly deadLetterQueueUrl?: string;
  readonly sourceBucket?: string;
  readonly centralRoleArn?: string;
  /** Default ExternalId (`CENTRAL_ACCOUNT_ID`); read from STS when unset. */
  readonly centralAccountId?: string;
  /** Seconds between scan passes (`SCAN_INTERVAL`, default 60). */
  readonly scanIntervalSeconds: number;
  /** Objects or messages processed at once (`PROCESSOR_CONCURRENCY`, default 4). */
  readonly concurrency: number;
  /**
   * Messages of one tenant processed at once per replica (`TLR_MAX_IN_FLIGHT_PER_TENANT`);
   * undefined = `max(1, ceil(concurrency / 2))`.
   */
  readonly maxInFlightPerTenant?: number;
  /**
   * A message still processing after this many ms gives its shared slot back
   * (`TLR_SCHEDULER_SLOW_MS`); undefined = `DEFAULT_SCHEDULER_SLOW_MS`.
   */
  readonly schedulerSlowMs?: number;
  /** Per-destination circuit breakers (`TLR_CIRCUIT_*`); default `defaultCircuitBreakerConfig()`. */
  readonly circuitBreaker?: ValidatedCircuitBreakerConfig;
  readonly logLevel: LogLevel;
  readonly logLevelWasInvalid: boolean;
}

const ROLE_ARN = /^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const DAY_SECONDS = 86_400;

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, errors: FieldError[]): number {
  return wholeNumberFromEnv(env, name, errors) ?? fallback;
}

/**
 * Reads and checks the AWS runtime's environment for a mode, failing fast with every
 * problem at once.
 *
 * @throws ConfigValidationError naming each missing or malformed variable
 */
export function awsRuntimeConfigFromEnv(mode: ExecutionMode, env: NodeJS.ProcessEnv = process.env): AwsRuntimeConfig {
  const errors: FieldError[] = [];
  const value = (name: string) => env[name]?.trim() || undefined;
  const configTable = value('TENANT_CONFIG_TABLE');
  if (!configTable) errors.push({ field: 'TENANT_CONFIG_TABLE', message: 'is required (the DynamoDB table of delivery configs)' });
  const queueUrl = value('SQS_QUEUE_URL');
  if (mode === ExecutionMode.SQS && !queueUrl) {
    errors.push({ field: 'SQS_QUEUE_URL', message: "is required in 'sqs' mode (the queue the poller reads)" });
  }
  const sourceBucket = value('SOURCE_BUCKET');
  if (mode === ExecutionMode.SCAN && !sourceBucket) {
    errors.push({ field: 'SOURCE_BUCKET', message: "is required in 'scan' mode (the central bucket to list)" });
  }
  const centralRoleArn = value('CENTRAL_LOG_DISTRIBUTION_ROLE_ARN');
  if (centralRoleArn && !ROLE_ARN.test(centralRoleArn)) {
    errors.push({ field: 'CENTRAL_LOG_DISTRIBUTION_ROLE_ARN', message: `is not an IAM role ARN: '${centralRoleArn}'` });
  }
  const centralAccountId = value('CENTRAL_ACCOUNT_ID');
  if (centralAccountId && !/^\d{12}$/.test(centralAccountId)) {
    errors.push({ field: 'CENTRAL_ACCOUNT_ID', message: 'must be 12 digits' });
  }
  const scanIntervalSeconds = positiveInteger(env, 'SCAN_INTERVAL', 60, errors);
  const concurrency = positiveInteger(env, 'PROCESSOR_CONCURRENCY', 4, errors);
  const ttlDays = positiveInteger(env, 'CHECKPOINT_TTL_DAYS', 30, errors);
  const circuitBreaker = circuitBreakerConfigFromEnv(env, errors);
  const maxInFlightPerTenant = maxInFlightPerTenantFromEnv(env, errors);
  const schedulerSlowMs = schedulerSlowMsFromEnv(env, errors);
  const rawLevel = value('LOG_LEVEL');
  const logLevel = parseLogLevel(rawLevel);
  if (errors.length > 0) throw new ConfigValidationError(errors, 'environment');
  const defaults = defaultRouterTableNames(configTable!);
  return {
    aws: awsSettingsFromEnv(env),
    configTable: configTable!,
    checkpointTable: value('CHECKPOINT_TABLE') ?? defaults.checkpoints,
    deadLetterTable: value('DEAD_LETTER_TABLE') ?? defaults.deadLetters,
    auditTable: value('AUDIT_TABLE') ?? defaults.audit,
    destinationStatusTable: value('DESTINATION_STATUS_TABLE') ?? defaults.status,
    replayTable: value('REPLAY_TABLE') ?? defaults.replay,
    quotaTable: value('QUOTA_TABLE') ?? defaults.quotas!,
    checkpointTtlSeconds: ttlDays * DAY_SECONDS,
    ...(queueUrl !== undefined && { queueUrl }),
    ...(value('SQS_DLQ_URL') !== undefined && { deadLetterQueueUrl: value('SQS_DLQ_URL') }),
    ...(sourceBucket !== undefined && { sourceBucket }),
    ...(centralRoleArn !== undefined && { centralRoleArn }),
    ...(centralAccountId !== undefined && { centralAccountId }),
    scanIntervalSeconds,
    concurrency,
    ...(maxInFlightPerTenant !== undefined && { maxInFlightPerTenant }),
    ...(schedulerSlowMs !== undefined && { schedulerSlowMs }),
    circuitBreaker,
    logLevel,
    logLevelWasInvalid: rawLevel !== undefined && rawLevel.toLowerCase() !== logLevel && rawLevel.toLowerCase() !== 'warning',
  };
}

/** `EXECUTION_MODE` or the flag, checked. */
export function parseExecutionMode(value: string | undefined): ExecutionMode {
  const mode = (value ?? '').trim().toLowerCase();
  const modes: readonly string[] = Object.values(ExecutionMode);
  if (!modes.includes(mode)) {
    throw new ConfigValidationError(
      [{ field: 'EXECUTION_MODE', message: `must be one of ${modes.join(', ')}; got '${value ?? ''}'` }],
      'environment',
    );
  }
  return mode as ExecutionMode;
}

export { LogLevel };
