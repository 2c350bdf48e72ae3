import { Aws, Duration } from 'aws-cdk-lib';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LambdaBundle } from '../lambda-bundle.js';
import { allow, KMS_DECRYPT, KMS_ENCRYPT } from './grants.js';
import { createRouterFunction } from './functions.js';
import { ProcessorRuntime, type ValidatedRegionalSettings } from './props.js';
import type { RouterTables } from './tables.js';

/**
 * The variables the processor reads (`awsRuntimeConfigFromEnv` in src/runtimes/aws-env.ts,
 * `LOG_LEVEL` in the handlers). `SQS_QUEUE_URL` is set for Lambda too: delayed retries are
 * sent to it, and the handler then needs no `GetQueueUrl` from the event source.
 */
export const RouterEnv = {
  TENANT_CONFIG_TABLE: 'TENANT_CONFIG_TABLE',
  CHECKPOINT_TABLE: 'CHECKPOINT_TABLE',
  DEAD_LETTER_TABLE: 'DEAD_LETTER_TABLE',
  AUDIT_TABLE: 'AUDIT_TABLE',
  DESTINATION_STATUS_TABLE: 'DESTINATION_STATUS_TABLE',
  REPLAY_TABLE: 'REPLAY_TABLE',
  QUOTA_TABLE: 'QUOTA_TABLE',
  SQS_QUEUE_URL: 'SQS_QUEUE_URL',
  SQS_DLQ_URL: 'SQS_DLQ_URL',
  SOURCE_BUCKET: 'SOURCE_BUCKET',
  CENTRAL_LOG_DISTRIBUTION_ROLE_ARN: 'CENTRAL_LOG_DISTRIBUTION_ROLE_ARN',
  CENTRAL_ACCOUNT_ID: 'CENTRAL_ACCOUNT_ID',
  CHECKPOINT_TTL_DAYS: 'CHECKPOINT_TTL_DAYS',
  PROCESSOR_CONCURRENCY: 'PROCESSOR_CONCURRENCY',
  LOG_LEVEL: 'LOG_LEVEL',
  AWS_REGION: 'AWS_REGION',
} as const;

/** The table variables every router runtime reads, from the stack's tables. */
export function tableEnvironment(tables: RouterTables): Record<string, string> {
  return {
    [RouterEnv.TENANT_CONFIG_TABLE]: tables.configs.tableName,
    [RouterEnv.CHECKPOINT_TABLE]: tables.checkpoints.tableName,
    [RouterEnv.DEAD_LETTER_TABLE]: tables.deadLetters.tableName,
    [RouterEnv.AUDIT_TABLE]: tables.audit.tableName,
    [RouterEnv.DESTINATION_STATUS_TABLE]: tables.status.tableName,
    [RouterEnv.REPLAY_TABLE]: tables.replay.tableName,
    [RouterEnv.QUOTA_TABLE]: tables.quotas.tableName,
  };
}

export interface ProcessorProps {
  readonly settings: ValidatedRegionalSettings;
  /** The global stack's processor role, imported by name. */
  readonly role: IRole;
  /** The global stack's central log-distribution role, imported by name. */
  readonly centralRole: IRole;
  readonly centralAccountId: string;
  readonly tables: RouterTables;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly bucket: IBucket;
  readonly key: IKey;
}

/**
 * The processor: its role's grants (the calls the pipeline makes, nothing more), its
 * environment, and — for `processor: 'lambda'` — the SQS-triggered function with partial
 * batch responses. For `'poller'` no function is created; `environment` (plus `AWS_REGION`)
 * is what the Kubernetes Deployment running `tlr process --mode sqs` sets.
 */
export class Processor extends Construct {
  /** The variables the processor reads, with this stack's resources. */
  readonly environment: Readonly<Record<string, string>>;
  /** Present with `processor: 'lambda'`. */
  readonly function?: LambdaFunction;

  constructor(scope: Construct, id: string, props: ProcessorProps) {
    super(scope, id);
    const { settings, role, tables } = props;
    this.environment = {
      ...tableEnvironment(tables),
      [RouterEnv.SQS_QUEUE_URL]: props.queue.queueUrl,
      [RouterEnv.SQS_DLQ_URL]: props.deadLetterQueue.queueUrl,
      [RouterEnv.SOURCE_BUCKET]: props.bucket.bucketName,
      [RouterEnv.CENTRAL_LOG_DISTRIBUTION_ROLE_ARN]: props.centralRole.roleArn,
      [RouterEnv.CENTRAL_ACCOUNT_ID]: props.centralAccountId,
      [RouterEnv.CHECKPOINT_TTL_DAYS]: String(settings.checkpointTtlDays),
      [RouterEnv.PROCESSOR_CONCURRENCY]: String(settings.processorConcurrency),
      [RouterEnv.LOG_LEVEL]: settings.logLevel,
    };

    // Tenant configs are read per tenant (Query) or by key; checkpoints are read in batches
    // and written with conditional updates; dead letters are put; status is updated.
    allow(role, ['dynamodb:GetItem', 'dynamodb:Query'], [tables.configs.tableArn]);
    allow(role, ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'], [tables.checkpoints.tableArn]);
    allow(role, ['dynamodb:PutItem'], [tables.deadLetters.tableArn]);
    allow(role, ['dynamodb:UpdateItem'], [tables.status.tableArn]);
    allow(role, ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [tables.quotas.tableArn]);
    // Pollers receive, extend and delete; every runtime sends delayed retries; the DLQ is only
    // read for its depth (SQS itself moves messages there).
    allow(
      role,
      [
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ],
      [props.queue.queueArn],
    );
    allow(role, ['sqs:GetQueueAttributes'], [props.deadLetterQueue.queueArn]);
    // Objects are read (HeadObject needs GetObject); ListBucket makes a missing key a 404, and scans list.
    allow(role, ['s3:GetObject'], [props.bucket.arnForObjects('*')]);
    allow(role, ['s3:ListBucket'], [props.bucket.bucketArn]);
    allow(role, [...new Set([...KMS_DECRYPT, ...KMS_ENCRYPT])], [props.key.keyArn]);
    // Assuming the central role and writing logs: the global stack's grants.

    if (settings.processor !== ProcessorRuntime.LAMBDA) return;
    this.function = createRouterFunction(this, 'Function', {
      functionName: `${settings.prefix}-processor`,
      description: 'Tenant log router: delivers central objects to tenant destinations (SQS-triggered).',
      role,
      grantLogs: false,
      codeDir: settings.bundles[LambdaBundle.PROCESSOR],
      handler: `${LambdaBundle.PROCESSOR}.handler`,
      environment: this.environment,
      timeout: Duration.seconds(settings.processorTimeoutSeconds),
      memorySize: settings.processorMemoryMb,
      logRetentionDays: settings.logRetentionDays,
      retainData: settings.retainData,
    });
    this.function.addEventSource(
      new SqsEventSource(props.queue, {
        batchSize: settings.batchSize,
        maxBatchingWindow: Duration.seconds(settings.maxBatchingWindowSeconds),
        reportBatchItemFailures: true,
        ...(settings.maxConcurrency !== undefined && { maxConcurrency: settings.maxConcurrency }),
      }),
    );
  }

  /** The poller's environment: the Lambda's plus `AWS_REGION`, which Lambda sets itself. */
  get pollerEnvironment(): Readonly<Record<string, string>> {
    return { ...this.environment, [RouterEnv.AWS_REGION]: Aws.REGION };
  }
}
