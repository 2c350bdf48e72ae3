import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Registry } from 'prom-client';
import { awsClientConfig, createCredentialBroker } from '../aws/index.js';
import { createDestinationStatusRecorder, type DestinationStatusRecorder } from '../pipeline/status-recorder.js';
import type { SinkDeps } from '../sinks/types.js';
import type { Logger } from '../logging/index.js';
import { type BatchProcessor, createProcessor } from '../pipeline/processor.js';
import { createTenantDestinationResolver, type TenantDestinationResolver } from '../pipeline/tenant-destinations.js';
import { cloudwatchSinkDefinition } from '../sinks/cloudwatch/index.js';
import { fileSinkDefinition } from '../sinks/file/index.js';
import { firehoseSinkDefinition } from '../sinks/firehose/index.js';
import { kinesisSinkDefinition } from '../sinks/kinesis/index.js';
import { createSinkRegistry, type SinkRegistry } from '../sinks/registry.js';
import { createS3SinkDefinition } from '../sinks/s3/index.js';
import type {
  AuditLogStore,
  CheckpointStore,
  DeadLetterStore,
  DeliveryConfigStore,
  DestinationStatusStore,
  NotificationQueue,
  ObjectStore,
} from '../stores/ports.js';
import {
  createDynamoAuditLogStore,
  createDynamoCheckpointStore,
  createDynamoConfigStore,
  createDynamoDeadLetterStore,
  createDynamoDestinationStatusStore,
  createDynamoQuotaStore,
  createS3ObjectStore,
  createSqsQueue,
} from '../stores/aws/index.js';
import type { AwsRuntimeConfig } from './aws-env.js';

/** The processor and its stores, on AWS. */
export interface AwsRouter {
  readonly processor: BatchProcessor;
  readonly resolver: TenantDestinationResolver;
  readonly configs: DeliveryConfigStore;
  readonly checkpoints: CheckpointStore;
  readonly deadLetters: DeadLetterStore;
  /** The append-only log of config changes (`AUDIT_TABLE`). */
  readonly audit: AuditLogStore;
  /** Per-destination health (`DESTINATION_STATUS_TABLE`). */
  readonly status: DestinationStatusStore;
  /** Collects the processor's health reports; a Lambda handler flushes it after each invocation. */
  readonly statusRecorder: DestinationStatusRecorder;
  /** The destination kinds and what their sinks (and live checks) get. */
  readonly sinks: SinkRegistry;
  readonly sinkDeps: SinkDeps;
  /** The central bucket's store (`SOURCE_BUCKET`), when configured. */
  readonly sourceObjects?: ObjectStore;
  /** The notification queue; resolved from the Lambda event source when `SQS_QUEUE_URL` is unset. */
  queue(): NotificationQueue;
  /** Sets the queue from a Lambda record's `eventSourceARN` when no URL was configured. */
  useEventSource(eventSourceArn: string): Promise<void>;
  close(): Promise<void>;
}

/** The SDK's own retries for store calls; the router's delivery policy retries on top. */
const STORE_SDK_ATTEMPTS = 3;

/**
 * Wires the AWS adapters, the credential broker and the sinks into a processor.
 *
 * @example const router = createAwsRouter(awsRuntimeConfigFromEnv('sqs'), { logger, registry });
 */
export function createAwsRouter(
  config: AwsRuntimeConfig,
  options: {
    logger: Logger;
    registry: Registry;
    sinks?: SinkRegistry;
    /** How often destination status is written; 0 = only on `statusRecorder.flush()` (Lambda). */
    statusFlushIntervalMs?: number;
  },
): AwsRouter {
  const { logger, registry } = options;
  const settings = config.aws;
  const storeConfig = awsClientConfig(settings, { maxAttempts: STORE_SDK_ATTEMPTS });
  const s3 = new S3Client(awsClientConfig(settings, { s3: true, maxAttempts: STORE_SDK_ATTEMPTS }));
  const sqs = new SQSClient(storeConfig);
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient(storeConfig), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const configs = createDynamoConfigStore({
    client: dynamo,
    tableName: config.configTable,
    auditTableName: config.auditTable,
  });
  const checkpoints = createDynamoCheckpointStore({
    client: dynamo,
    tableName: config.checkpointTable,
    ttlSeconds: config.checkpointTtlSeconds,
  });
  const deadLetters = createDynamoDeadLetterStore({ client: dynamo, tableName: config.deadLetterTable });
  const audit = createDynamoAuditLogStore({ client: dynamo, tableName: config.auditTable });
  const status = createDynamoDestinationStatusStore({ client: dynamo, tableName: config.destinationStatusTable });
  const quotas = createDynamoQuotaStore({ client: dynamo, tableName: config.quotaTable });
  const buckets = new Map<string, ObjectStore>();
  const storeFor = (bucket: string): ObjectStore => {
    let store = buckets.get(bucket);
    if (!store) {
      store = createS3ObjectStore({ client: s3, bucket });
      buckets.set(bucket, store);
    }
    return store;
  };
  const sourceObjects = config.sourceBucket !== undefined ? storeFor(config.sourceBucket) : undefined;
  let queue: NotificationQueue | undefined =
    config.queueUrl !== undefined
      ? createSqsQueue({
          client: sqs,
          queueUrl: config.queueUrl,
          ...(config.deadLetterQueueUrl !== undefined && { deadLetterQueueUrl: config.deadLetterQueueUrl }),
        })
      : undefined;
  const currentQueue = (): NotificationQueue => {
    if (!queue) throw new Error('No notification queue: set SQS_QUEUE_URL.');
    return queue;
  };
  // The processor sends delayed retries through whatever queue is current.
  const queueProxy: NotificationQueue = {
    send: (body, o) => currentQueue().send(body, o),
    receive: (o) => currentQueue().receive(o),
    delete: (h) => currentQueue().delete(h),
    changeVisibility: (h, ms) => currentQueue().changeVisibility(h, ms),
    stats: () => currentQueue().stats(),
  };

  const credentials = createCredentialBroker({
    settings,
    ...(config.centralRoleArn !== undefined && { centralRoleArn: config.centralRoleArn }),
    ...(config.centralAccountId !== undefined && { centralAccountId: config.centralAccountId }),
  });
  const sinks =
    options.sinks ??
    createSinkRegistry([
      fileSinkDefinition,
      cloudwatchSinkDefinition,
      createS3SinkDefinition({ ...(config.sourceBucket !== undefined && { sourceBucket: config.sourceBucket }) }),
      kinesisSinkDefinition,
      firehoseSinkDefinition,
    ]);
  const sinkDeps: SinkDeps = { baseDir: process.cwd(), logger, registry, aws: { settings, credentials } };
  const resolver = createTenantDestinationResolver({ store: configs, sinks, sinkDeps, logger, registry });
  const statusRecorder = createDestinationStatusRecorder({
    store: status,
    logger,
    ...(options.statusFlushIntervalMs !== undefined && { flushIntervalMs: options.statusFlushIntervalMs }),
  });
  const processor = createProcessor({
    objectStore: sourceObjects ?? {
      get: () => Promise.reject(new Error('No bucket: the notification named none and SOURCE_BUCKET is unset.')),
      head: async () => undefined,
      put: () => Promise.reject(new Error('SOURCE_BUCKET is unset.')),
      list: async function* () {},
    },
    objectStoreFor: (bucket) => (bucket !== undefined ? storeFor(bucket) : sourceObjects),
    resolver,
    checkpoints,
    deadLetters,
    queue: queueProxy,
    quotas,
    logger,
    registry,
    status: statusRecorder,
    ...(config.circuitBreaker !== undefined && { circuitBreaker: config.circuitBreaker }),
  });

  return {
    processor,
    resolver,
    configs,
    checkpoints,
    deadLetters,
    audit,
    status,
    statusRecorder,
    sinks,
    sinkDeps,
    ...(sourceObjects !== undefined && { sourceObjects }),
    queue: () => queueProxy,
    async useEventSource(eventSourceArn) {
      if (queue) return;
      // arn:aws:sqs:<region>:<account>:<name>
      const [, , , , account, name] = eventSourceArn.split(':');
      if (!name || !account) throw new Error(`'${eventSourceArn}' is not an SQS queue ARN.`);
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }));
      if (!QueueUrl) throw new Error(`No URL for queue '${name}'.`);
      queue = createSqsQueue({ client: sqs, queueUrl: QueueUrl });
      logger.info('Using the event source queue for delayed retries.', { queueUrl: QueueUrl });
    },
    async close() {
      await statusRecorder.close();
      await resolver.close();
      s3.destroy();
      sqs.destroy();
      dynamo.destroy();
    },
  };
}
