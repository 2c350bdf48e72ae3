export { createDynamoAuditLogStore, type DynamoAuditLogStoreOptions } from './dynamodb-audit-log-store.js';
export {
  createDynamoCheckpointStore,
  DEFAULT_CHECKPOINT_TTL_SECONDS,
  type DynamoCheckpointStoreOptions,
  UnprocessedKeysError,
} from './dynamodb-checkpoint-store.js';
export { createDynamoConfigStore, type DynamoConfigStoreOptions } from './dynamodb-config-store.js';
export { createDynamoDeadLetterStore, type DynamoDeadLetterStoreOptions } from './dynamodb-dead-letter-store.js';
export {
  createDynamoDestinationStatusStore,
  type DynamoDestinationStatusStoreOptions,
} from './dynamodb-destination-status-store.js';
export {
  AuditAttribute,
  CheckpointAttribute,
  ConfigTableKey,
  type CreateRouterTablesOptions,
  createRouterTables,
  defaultRouterTableNames,
  DEAD_LETTERS_BY_TENANT_INDEX,
  DeadLetterAttribute,
  DestinationStatusAttribute,
  QuotaAttribute,
  ReplayAttribute,
  type RouterTableNames,
} from './dynamodb-tables.js';
export { createDynamoQuotaStore, DEFAULT_QUOTA_TTL_SECONDS, type DynamoQuotaStoreOptions } from './dynamodb-quota-store.js';
export { createDynamoReplayStore, type DynamoReplayStoreOptions } from './dynamodb-replay-store.js';
export { createS3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.js';
export { createSqsQueue, type SqsQueueOptions } from './sqs-queue.js';
