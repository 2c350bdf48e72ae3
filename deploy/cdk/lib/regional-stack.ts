import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { type IRole, Role } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { routerRoleNames } from './naming.js';
import { ConfigApi } from './regional/api.js';
import { EksControlPlaneIngest } from './regional/control-plane.js';
import { allow, KMS_DECRYPT, KMS_ENCRYPT } from './regional/grants.js';
import { RouterMonitoring } from './regional/monitoring.js';
import { Processor } from './regional/processor.js';
import { type RegionalSettings, validateRegionalSettings, type ValidatedRegionalSettings } from './regional/props.js';
import { NotificationQueues } from './regional/queueing.js';
import { CentralStorage } from './regional/storage.js';
import { RouterTables } from './regional/tables.js';

export { ProcessorRuntime, type EksControlPlaneProps, VISIBILITY_TIMEOUT_FACTOR } from './regional/props.js';

/** Props of {@link TlrRegionalStack}: the regional settings plus the stack's own. */
export interface TlrRegionalStackProps extends StackProps, RegionalSettings {}

/** The regional stack's CloudFormation output ids. */
export const RegionalStackOutput = {
  BUCKET_NAME: 'CentralBucketName',
  KEY_ARN: 'CentralKeyArn',
  TOPIC_ARN: 'NotificationTopicArn',
  QUEUE_URL: 'QueueUrl',
  DEAD_LETTER_QUEUE_URL: 'DeadLetterQueueUrl',
  CONFIG_TABLE: 'ConfigTableName',
  CHECKPOINT_TABLE: 'CheckpointTableName',
  DEAD_LETTER_TABLE: 'DeadLetterTableName',
  AUDIT_TABLE: 'AuditTableName',
  STATUS_TABLE: 'DestinationStatusTableName',
  REPLAY_TABLE: 'ReplayTableName',
  QUOTA_TABLE: 'QuotaTableName',
  API_URL: 'ApiUrl',
  PROCESSOR_ENVIRONMENT: 'ProcessorEnvironment',
} as const;
export type RegionalStackOutput = (typeof RegionalStackOutput)[keyof typeof RegionalStackOutput];

/**
 * One region of the router: the central bucket (KMS, lifecycle expiry) notifying an SNS topic,
 * the processor's queue and dead-letter queue, the six DynamoDB tables, the processor (Lambda,
 * or grants and environment for pollers), the config API with its HMAC authorizer, the
 * optional EKS control-plane ingest, and alarms with a dashboard.
 *
 * The IAM roles are the global stack's, imported by name; the policies added to them here
 * (this region's tables, queue, bucket and key) are resources of this stack.
 *
 * @throws ConfigValidationError naming every invalid prop at once (for example a checkpoint
 *   TTL not longer than the objects' expiry, or a visibility timeout under 6 × the Lambda timeout)
 * @example
 * const bundles = await prepareLambdaBundles();
 * new TlrRegionalStack(app, 'tlr-regional-eu-west-1', { env: { region: 'eu-west-1' }, prefix: 'tlr', bundles });
 */
export class TlrRegionalStack extends Stack {
  readonly settings: ValidatedRegionalSettings;
  readonly storage: CentralStorage;
  readonly queues: NotificationQueues;
  readonly tables: RouterTables;
  readonly processor: Processor;
  readonly api: ConfigApi;
  readonly monitoring: RouterMonitoring;
  readonly controlPlane?: EksControlPlaneIngest;

  constructor(scope: Construct, id: string, props: TlrRegionalStackProps) {
    super(scope, id, props);
    const settings = validateRegionalSettings(props);
    this.settings = settings;
    const { prefix } = settings;
    const roleNames = routerRoleNames(prefix);
    const role = (roleId: string, name: string): IRole => Role.fromRoleName(this, roleId, name, { mutable: true });
    const processorRole = role('ProcessorRole', roleNames.processorExecution);
    const centralRole = role('CentralLogDistributionRole', roleNames.centralLogDistribution);
    const collectorRole = role('CollectorWriterRole', roleNames.collectorWriter);
    const centralAccountId = settings.centralAccountId ?? this.account;

    this.storage = new CentralStorage(this, 'Storage', {
      prefix,
      objectExpiryDays: settings.objectExpiryDays,
      versioned: settings.bucketVersioned,
      retainData: settings.retainData,
    });
    const { bucket, key, topic } = this.storage;
    // The global stack lets these roles read or write every central bucket; the key is this
    // region's: the central role decrypts what it copies (CopyObject source), collectors
    // encrypt what they put.
    allow(centralRole, [...KMS_DECRYPT], [key.keyArn]);
    allow(collectorRole, [...KMS_ENCRYPT], [key.keyArn]);

    this.queues = new NotificationQueues(this, 'Queues', {
      prefix,
      key,
      topic,
      topicArnByName: this.storage.topicArnByName,
      visibilityTimeoutSeconds: settings.queueVisibilityTimeoutSeconds,
      maxReceiveCount: settings.maxReceiveCount,
    });
    this.tables = new RouterTables(this, 'Tables', { prefix, retainData: settings.retainData });

    this.processor = new Processor(this, 'Processor', {
      settings,
      role: processorRole,
      centralRole,
      centralAccountId,
      tables: this.tables,
      queue: this.queues.queue,
      deadLetterQueue: this.queues.deadLetterQueue,
      bucket,
      key,
    });
    this.api = new ConfigApi(this, 'Api', {
      settings,
      apiRole: role('ApiRole', roleNames.apiExecution),
      authorizerRole: role('ApiAuthorizerRole', roleNames.apiAuthorizerExecution),
      centralRole,
      centralAccountId,
      tables: this.tables,
      bucketName: bucket.bucketName,
    });
    if (settings.eksControlPlane !== undefined) {
      this.controlPlane = new EksControlPlaneIngest(this, 'EksControlPlane', {
        settings,
        eks: settings.eksControlPlane,
        bucket,
        queue: this.queues.queue,
        key,
      });
    }
    this.monitoring = new RouterMonitoring(this, 'Monitoring', {
      settings,
      queue: this.queues.queue,
      deadLetterQueue: this.queues.deadLetterQueue,
      api: this.api.api,
      ...(this.processor.function && { processorFunction: this.processor.function }),
      ...(this.controlPlane && { controlPlaneFunction: this.controlPlane.function }),
    });

    const tables = this.tables;
    this.output(RegionalStackOutput.BUCKET_NAME, bucket.bucketName, 'The central bucket (SOURCE_BUCKET); collectors write here.');
    this.output(RegionalStackOutput.KEY_ARN, key.keyArn, 'The KMS key of the bucket, topic and queues.');
    this.output(RegionalStackOutput.TOPIC_ARN, topic.topicArn, 'The topic the bucket notifies for new .gz objects.');
    this.output(RegionalStackOutput.QUEUE_URL, this.queues.queue.queueUrl, 'The processor queue (SQS_QUEUE_URL).');
    this.output(RegionalStackOutput.DEAD_LETTER_QUEUE_URL, this.queues.deadLetterQueue.queueUrl, 'Its redrive dead-letter queue (SQS_DLQ_URL).');
    this.output(RegionalStackOutput.CONFIG_TABLE, tables.configs.tableName, 'TENANT_CONFIG_TABLE');
    this.output(RegionalStackOutput.CHECKPOINT_TABLE, tables.checkpoints.tableName, 'CHECKPOINT_TABLE');
    this.output(RegionalStackOutput.DEAD_LETTER_TABLE, tables.deadLetters.tableName, 'DEAD_LETTER_TABLE');
    this.output(RegionalStackOutput.AUDIT_TABLE, tables.audit.tableName, 'AUDIT_TABLE');
    this.output(RegionalStackOutput.STATUS_TABLE, tables.status.tableName, 'DESTINATION_STATUS_TABLE');
    this.output(RegionalStackOutput.REPLAY_TABLE, tables.replay.tableName, 'REPLAY_TABLE');
    this.output(RegionalStackOutput.QUOTA_TABLE, tables.quotas.tableName, 'QUOTA_TABLE');
    this.output(RegionalStackOutput.API_URL, `${this.api.api.url}api/v1/`, 'The config API (sign requests as docs/api-auth.md says).');
    this.output(
      RegionalStackOutput.PROCESSOR_ENVIRONMENT,
      this.toJsonString(this.processor.pollerEnvironment),
      'The environment of SQS pollers (tlr process --mode sqs) as JSON.',
    );
  }

  private output(id: RegionalStackOutput, value: string, description: string): void {
    new CfnOutput(this, id, { value, description });
  }
}
