import { Token } from 'aws-cdk-lib';
import { ConfigValidationError, type FieldError } from '../../../../src/domain/index.js';
import { LogLevel } from '../../../../src/logging/index.js';
import type { LambdaBundleDirs } from '../lambda-bundle.js';
import { DEFAULT_PREFIX } from '../naming.js';

/** Where the processor runs: the SQS-triggered Lambda, or pollers (`tlr process --mode sqs`) on EKS/ECS. */
export const ProcessorRuntime = { LAMBDA: 'lambda', POLLER: 'poller' } as const;
export type ProcessorRuntime = (typeof ProcessorRuntime)[keyof typeof ProcessorRuntime];

/** The optional EKS control-plane ingest: the `cloudwatch.handler` Lambda. */
export interface EksControlPlaneProps {
  /** The tenant that owns the control-plane logs (`EKS_TENANT`). */
  readonly tenant: string;
  /**
   * The EKS cluster (`EKS_CLUSTER_NAME`). When set, the stack also subscribes the function to
   * the cluster's control-plane log group `/aws/eks/<cluster>/cluster`, which must exist.
   */
  readonly clusterName?: string;
}

/** What a platform team sets for one region; every field but `bundles` has a default. */
export interface RegionalSettings {
  /** Prefix of every name (roles, tables, bucket, queues). Default `tlr`. */
  readonly prefix?: string;
  /** The Lambda code, from `prepareLambdaBundles()`. */
  readonly bundles: LambdaBundleDirs;
  /** Default ExternalId of customer roles (`CENTRAL_ACCOUNT_ID`). Default: this stack's account. */
  readonly centralAccountId?: string;
  /** `lambda` (default) or `poller`: then no processor Lambda is created, only its role's grants and env. */
  readonly processor?: ProcessorRuntime;
  /** Days until central objects expire. Default 14. */
  readonly objectExpiryDays?: number;
  /** Keep object versions (noncurrent versions expire after a day). Default false. */
  readonly bucketVersioned?: boolean;
  /** Checkpoint TTL in days (`CHECKPOINT_TTL_DAYS`); must exceed `objectExpiryDays`. Default 30. */
  readonly checkpointTtlDays?: number;
  /** Receives of one message before SQS moves it to the dead-letter queue. Default 5. */
  readonly maxReceiveCount?: number;
  /** The processor Lambda's timeout. Default 300 s. */
  readonly processorTimeoutSeconds?: number;
  /** The queue's visibility timeout; at least 6 × the Lambda timeout. Default 6 × `processorTimeoutSeconds`. */
  readonly queueVisibilityTimeoutSeconds?: number;
  /** The processor Lambda's memory. Default 1024 MB. */
  readonly processorMemoryMb?: number;
  /** Messages per Lambda invocation. Default 10. */
  readonly batchSize?: number;
  /** Seconds Lambda waits to fill a batch (needed above 10 messages). Default 5 s. */
  readonly maxBatchingWindowSeconds?: number;
  /** Most concurrent invocations the SQS event source starts (2–1000). Default: no limit. */
  readonly maxConcurrency?: number;
  /** Messages one invocation or poller processes at once (`PROCESSOR_CONCURRENCY`). Default 4. */
  readonly processorConcurrency?: number;
  /** `LOG_LEVEL` of every function. Default `info`. */
  readonly logLevel?: LogLevel;
  /** Retention of the functions' log groups, in days (a CloudWatch Logs retention value). Default 30. */
  readonly logRetentionDays?: number;
  /** Alarm when the oldest message on the queue is older than this. Default 900 s. */
  readonly queueAgeAlarmSeconds?: number;
  /** Alarm when failed deliveries of one destination kind reach this per 5 minutes, 3 periods running. Default 10. */
  readonly deliveryFailureAlarmThreshold?: number;
  /** An SNS topic every alarm notifies. Default none. */
  readonly alarmTopicArn?: string;
  /** Keep the bucket, tables and key when the stack is deleted. Default true. */
  readonly retainData?: boolean;
  /** The EKS control-plane ingest Lambda. Default none. */
  readonly eksControlPlane?: EksControlPlaneProps;
}

/** The settings with every default applied, checked. */
export type ValidatedRegionalSettings = Required<Omit<RegionalSettings, 'centralAccountId' | 'maxConcurrency' |
  'alarmTopicArn' | 'eksControlPlane'>> &
  Pick<RegionalSettings, 'centralAccountId' | 'maxConcurrency' | 'alarmTopicArn' | 'eksControlPlane'>;

/** AWS recommends a visibility timeout of at least six times the function timeout for SQS event sources. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

const DEFAULTS = {
  prefix: DEFAULT_PREFIX,
  processor: ProcessorRuntime.LAMBDA,
  objectExpiryDays: 14,
  bucketVersioned: false,
  checkpointTtlDays: 30,
  maxReceiveCount: 5,
  processorTimeoutSeconds: 300,
  processorMemoryMb: 1024,
  batchSize: 10,
  maxBatchingWindowSeconds: 5,
  processorConcurrency: 4,
  logLevel: LogLevel.INFO,
  logRetentionDays: 30,
  queueAgeAlarmSeconds: 900,
  deliveryFailureAlarmThreshold: 10,
  retainData: true,
} as const;

/*
 * Service limits the settings are checked against:
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (timeout ≤ 900 s, memory 128–10,240 MB)
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html (batch ≤ 10,000, > 10 needs a window ≤ 300 s)
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html (≤ 12 h)
 */
const MAX_LAMBDA_TIMEOUT_SECONDS = 900;
/** The handler stops starting work 10 s before its deadline and flushes status for 2 s. */
const MIN_PROCESSOR_TIMEOUT_SECONDS = 30;
const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;
const MAX_BATCH_SIZE = 10_000;
const MAX_UNWINDOWED_BATCH_SIZE = 10;
const MAX_BATCHING_WINDOW_SECONDS = 300;
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
/** Bucket names are ≤ 63 characters: `<prefix>-central-<12 digits>-<region ≤ 14>` leaves 20 for the prefix. */
const PREFIX = /^[a-z][a-z0-9-]{0,19}$/;
const ACCOUNT_ID = /^\d{12}$/;

/**
 * Applies the defaults and checks every setting, reporting every problem at once.
 *
 * @param settings - the stack's props
 * @returns the settings with defaults applied
 * @throws ConfigValidationError naming each bad prop and its rule, for example
 *   `'queueVisibilityTimeoutSeconds' must be at least 6 × 'processorTimeoutSeconds' (1800), got 600`
 */
export function validateRegionalSettings(settings: RegionalSettings): ValidatedRegionalSettings {
  const s = { ...DEFAULTS, ...withoutUndefined(settings) };
  const visibility = settings.queueVisibilityTimeoutSeconds ?? VISIBILITY_TIMEOUT_FACTOR * s.processorTimeoutSeconds;
  const errors: FieldError[] = [];
  const integer = (field: keyof RegionalSettings, value: number | undefined, min: number, max: number) => {
    if (value === undefined || (Number.isInteger(value) && value >= min && value <= max)) return true;
    errors.push({ field, message: `must be a whole number from ${min} to ${max}, got ${value}` });
    return false;
  };

  if (!PREFIX.test(s.prefix)) {
    errors.push({ field: 'prefix', message: `must be 1–20 lowercase letters, digits or '-', starting with a letter, got '${s.prefix}'` });
  }
  if (!s.bundles) errors.push({ field: 'bundles', message: 'is required (the Lambda code from prepareLambdaBundles())' });
  if (s.centralAccountId !== undefined && !Token.isUnresolved(s.centralAccountId) && !ACCOUNT_ID.test(s.centralAccountId)) {
    errors.push({ field: 'centralAccountId', message: `must be 12 digits, got '${s.centralAccountId}'` });
  }
  if (!Object.values(ProcessorRuntime).includes(s.processor)) {
    errors.push({ field: 'processor', message: `must be one of ${Object.values(ProcessorRuntime).join(', ')}, got '${s.processor}'` });
  }
  const expiryOk = integer('objectExpiryDays', s.objectExpiryDays, 1, 3650);
  const ttlOk = integer('checkpointTtlDays', s.checkpointTtlDays, 1, 3650);
  if (expiryOk && ttlOk && s.checkpointTtlDays <= s.objectExpiryDays) {
    errors.push({
      field: 'checkpointTtlDays',
      message: `must be greater than 'objectExpiryDays' (${s.objectExpiryDays}): a checkpoint must outlive its object, ` +
        `or a late redelivery sends the object again; got ${s.checkpointTtlDays}`,
    });
  }
  integer('maxReceiveCount', s.maxReceiveCount, 1, 1000);
  const timeoutOk = integer(
    'processorTimeoutSeconds',
    s.processorTimeoutSeconds,
    MIN_PROCESSOR_TIMEOUT_SECONDS,
    MAX_LAMBDA_TIMEOUT_SECONDS,
  );
  const visibilityOk = integer('queueVisibilityTimeoutSeconds', visibility, 0, MAX_VISIBILITY_TIMEOUT_SECONDS);
  if (s.processor === ProcessorRuntime.LAMBDA && timeoutOk && visibilityOk) {
    const least = VISIBILITY_TIMEOUT_FACTOR * s.processorTimeoutSeconds;
    if (visibility < least) {
      errors.push({
        field: 'queueVisibilityTimeoutSeconds',
        message: `must be at least ${VISIBILITY_TIMEOUT_FACTOR} × 'processorTimeoutSeconds' (${least}), ` +
          `or messages of a running invocation become visible again; got ${visibility}`,
      });
    }
  }
  integer('processorMemoryMb', s.processorMemoryMb, 128, 10_240);
  const batchOk = integer('batchSize', s.batchSize, 1, MAX_BATCH_SIZE);
  const windowOk = integer('maxBatchingWindowSeconds', s.maxBatchingWindowSeconds, 0, MAX_BATCHING_WINDOW_SECONDS);
  if (batchOk && windowOk && s.batchSize > MAX_UNWINDOWED_BATCH_SIZE && s.maxBatchingWindowSeconds === 0) {
    errors.push({
      field: 'maxBatchingWindowSeconds',
      message: `must be at least 1 when 'batchSize' is above ${MAX_UNWINDOWED_BATCH_SIZE} (Lambda's rule for SQS), got 0`,
    });
  }
  integer('maxConcurrency', s.maxConcurrency, 2, 1000);
  integer('processorConcurrency', s.processorConcurrency, 1, 1000);
  if (!Object.values(LogLevel).includes(s.logLevel)) {
    errors.push({ field: 'logLevel', message: `must be one of ${Object.values(LogLevel).join(', ')}, got '${s.logLevel}'` });
  }
  if (!LOG_RETENTION_DAYS.includes(s.logRetentionDays)) {
    errors.push({ field: 'logRetentionDays', message: `must be a CloudWatch Logs retention (${LOG_RETENTION_DAYS.join(', ')}), got ${s.logRetentionDays}` });
  }
  integer('queueAgeAlarmSeconds', s.queueAgeAlarmSeconds, 60, 1_209_600);
  integer('deliveryFailureAlarmThreshold', s.deliveryFailureAlarmThreshold, 1, 1_000_000);
  if (s.eksControlPlane !== undefined && !s.eksControlPlane.tenant?.trim()) {
    errors.push({ field: 'eksControlPlane.tenant', message: 'is required (the tenant that owns the control-plane logs)' });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'regional stack props');
  return { ...s, bundles: s.bundles!, queueVisibilityTimeoutSeconds: visibility };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
