export { createSqliteAuditLogStore } from './audit-log-store.js';
export { createSqliteCheckpointStore, type SqliteCheckpointStore } from './checkpoint-store.js';
export { InvalidCursorError } from '../config-cursor.js';
export { createSqliteConfigStore } from './config-store.js';
export { type Migration, migrate, openDatabase, type SqliteDatabase } from './database.js';
export { createSqliteDeadLetterStore, type SqliteDeadLetterStoreOptions } from './dead-letter-store.js';
export {
  createSqliteDestinationStatusStore,
  type SqliteDestinationStatusStoreOptions,
} from './destination-status-store.js';
export { createSqliteIngestBuffer } from './ingest-buffer.js';
export { createFileObjectStore, type FileObjectStoreOptions, StoreFullError } from './object-store.js';
export { createSqliteQuotaStore } from './quota-store.js';
export { createSqliteQueue, type QueueDeadLetter, type SqliteQueue, type SqliteQueueOptions } from './queue.js';
export { createSqliteTokenStore, hashIngestToken, INGEST_TOKEN_PREFIX } from './token-store.js';
