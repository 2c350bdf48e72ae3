import { join, resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { AwsSinkDeps } from '../aws/index.js';
import type { Logger } from '../logging/index.js';
import type { DelayedRetryConfig } from '../pipeline/delayed-retry.js';
import type { ValidatedCircuitBreakerConfig } from '../delivery/index.js';
import { parseObjectKey } from '../domain/index.js';
import { checkpointKey, parseNotification, type WorkItem } from '../pipeline/notification.js';
import { createProcessor, DeadLetterReason, type Processor } from '../pipeline/processor.js';
import type { DestinationStatusRecorder } from '../pipeline/status-recorder.js';
import { createTenantDestinationResolver, type TenantDestinationResolver } from '../pipeline/tenant-destinations.js';
import type { SinkRegistry } from '../sinks/registry.js';
import {
  createFileObjectStore,
  createSqliteAuditLogStore,
  createSqliteCheckpointStore,
  createSqliteConfigStore,
  createSqliteDeadLetterStore,
  createSqliteDestinationStatusStore,
  createSqliteQueue,
  createSqliteQuotaStore,
  openDatabase,
  type QueueDeadLetter,
  type SqliteCheckpointStore,
  type SqliteDatabase,
  type SqliteQueue,
} from '../stores/local/index.js';
import { createSqliteIngestBuffer } from '../stores/local/ingest-buffer.js';
import { createSqliteTokenStore } from '../stores/local/token-store.js';
import type {
  AuditLogStore,
  DeadLetterStore,
  DeliveryConfigStore,
  DestinationStatusStore,
  IngestBuffer,
  IngestTokenStore,
  NewDeadLetter,
  ObjectStore,
  TenantQuotaStore,
} from '../stores/ports.js';

/** Where the embedded router keeps things, under its data directory. */
export const DATA_LAYOUT = {
  database: 'tlr.db',
  objects: 'objects',
  outputs: 'outputs',
  ingestToken: 'ingest-token',
  lock: 'tlr.lock',
  /** The URL a running `tlr up` serves, so `tlr configs` finds the local server. */
  apiUrl: 'api-url',
} as const;

/** The default data directory of `tlr up`, relative to the working directory. */
export const DEFAULT_DATA_DIR = '.tlr';

/** Every embedded store, opened on one data directory. */
export interface LocalStores {
  readonly dataDir: string;
  readonly db: SqliteDatabase;
  readonly objects: ObjectStore;
  readonly queue: SqliteQueue;
  readonly configs: DeliveryConfigStore;
  readonly checkpoints: SqliteCheckpointStore;
  readonly deadLetters: DeadLetterStore;
  readonly tokens: IngestTokenStore;
  readonly ingestBuffer: IngestBuffer;
  /** The append-only log of config changes. */
  readonly audit: AuditLogStore;
  /** Per-destination health, for the tenant status. */
  readonly status: DestinationStatusStore;
  /** The tenants' daily byte counters (`daily_byte_quota`), shared by processes on this database. */
  readonly quotas: TenantQuotaStore;
  close(): void;
}

export interface LocalStoreOptions {
  /** Disk budget of the central object store, in bytes. */
  readonly maxObjectBytes?: number;
  /** Receives before a message goes to the queue's own dead-letter table. */
  readonly maxReceiveCount?: number;
  /** Where a failure to record a queue dead letter in the dead-letter store is reported. */
  readonly logger?: Logger;
}

/**
 * Opens (creating and migrating as needed) the embedded stores of a data directory:
 * SQLite for queue, configs, checkpoints, dead letters, tokens, the ingest buffer, the audit
 * log, destination status and daily quotas; the filesystem for the central objects.
 *
 * @param dataDir - the data directory; created if missing
 */
export function openLocalStores(dataDir: string, options: LocalStoreOptions = {}): LocalStores {
  const dir = resolve(dataDir);
  const db = openDatabase(join(dir, DATA_LAYOUT.database));
  const deadLetters = createSqliteDeadLetterStore(db);
  const queue = createSqliteQueue(db, {
    ...(options.maxReceiveCount !== undefined && { maxReceiveCount: options.maxReceiveCount }),
    onDeadLetter: (moved) => recordQueueDeadLetters(deadLetters, moved, options.logger),
  });
  return {
    dataDir: dir,
    db,
    objects: createFileObjectStore({
      rootDir: join(dir, DATA_LAYOUT.objects),
      ...(options.maxObjectBytes !== undefined && { maxBytes: options.maxObjectBytes }),
    }),
    queue,
    configs: createSqliteConfigStore(db),
    checkpoints: createSqliteCheckpointStore(db),
    deadLetters,
    tokens: createSqliteTokenStore(db),
    ingestBuffer: createSqliteIngestBuffer(db),
    audit: createSqliteAuditLogStore(db),
    status: createSqliteDestinationStatusStore(db),
    quotas: createSqliteQuotaStore(db),
    close() {
      queue.close();
      db.close();
    },
  };
}

/** How much of an unreadable body a dead letter keeps. */
const MAX_BODY_IN_DEAD_LETTER = 2_048;

/**
 * Records messages the embedded queue's backstop moved off the queue in the dead-letter store,
 * where `tlr dlq` lists them and `tlr dlq redrive` sends them again: one entry per object (per
 * destination when the message was scoped to some), reason `receive_limit_exceeded`, progress
 * kept by the checkpoints. A failure is logged; the message stays in `queue_dead_letters`.
 */
export async function recordQueueDeadLetters(
  deadLetters: DeadLetterStore,
  moved: readonly QueueDeadLetter[],
  logger?: Logger,
): Promise<void> {
  for (const message of moved) {
    const why =
      `Received ${message.receiveCount} times without being completed: the processor crashed, was killed or ` +
      'failed on it each time without progress, so the queue moved it aside. `tlr dlq redrive` sends it again.';
    let items: WorkItem[] = [];
    try {
      items = parseNotification(message.body).items;
    } catch {
      // Unreadable: kept whole in the message, like an invalid notification.
    }
    const entries: NewDeadLetter[] = items.flatMap((item) => {
      const key = parseObjectKey(item.key);
      const tenantId = key.kind === 'log' ? key.tenantId : '';
      return (item.destinations ?? ['*']).map((destination) => ({
        tenantId,
        destination,
        objectKey: item.key,
        reason: DeadLetterReason.RECEIVE_LIMIT_EXCEEDED,
        message: why,
        attempts: message.receiveCount,
        offset: -1,
      }));
    });
    if (entries.length === 0) {
      entries.push({
        tenantId: '',
        destination: '*',
        objectKey: '',
        reason: DeadLetterReason.RECEIVE_LIMIT_EXCEEDED,
        message: `${why} Body: ${message.body.slice(0, MAX_BODY_IN_DEAD_LETTER)}`,
        attempts: message.receiveCount,
        offset: -1,
      });
    }
    try {
      for (const entry of entries) await deadLetters.add(entry);
      logger?.warn('A message was received too often without completing; it was moved to the dead letters.', {
        messageId: message.id,
        receiveCount: message.receiveCount,
        objects: items.map((i) => i.key),
      });
    } catch (error) {
      logger?.error('Recording a queue dead letter failed; it stays in the queue_dead_letters table.', {
        messageId: message.id,
        error,
      });
    }
  }
}

/**
 * Whether a queue message's objects made progress (a checkpoint moved forward) since its
 * processing began: what `SqliteQueue.releaseInFlight` asks after a crash, so an interrupted
 * message that was moving forward keeps its receive. A body that cannot be read made none.
 */
export function madeProgressSince(checkpoints: SqliteCheckpointStore) {
  return (body: string, startedAtMs: number): boolean => {
    let keys: string[];
    try {
      keys = parseNotification(body).items.map(checkpointKey);
    } catch {
      return false;
    }
    return checkpoints.savedSince(keys, startedAtMs);
  };
}

/**
 * The processor over the embedded stores: configs resolved from the local store (relative
 * `file` directories under the data directory), delayed retries on the local queue.
 */
export function createLocalProcessor(
  stores: LocalStores,
  options: {
    sinks: SinkRegistry;
    logger: Logger;
    registry: Registry;
    delayedRetry?: DelayedRetryConfig;
    /** AWS settings and credentials, for destinations in tenants' AWS accounts. */
    aws?: AwsSinkDeps;
    /** Where destination health is reported (tenant status). */
    status?: DestinationStatusRecorder;
    /** Per-destination circuit breakers; default `defaultCircuitBreakerConfig()`. */
    circuitBreaker?: ValidatedCircuitBreakerConfig;
  },
): { processor: Processor; resolver: TenantDestinationResolver } {
  const { sinks, logger, registry } = options;
  const resolver = createTenantDestinationResolver({
    store: stores.configs,
    sinks,
    sinkDeps: { baseDir: stores.dataDir, logger, registry, ...(options.aws !== undefined && { aws: options.aws }) },
    logger,
    registry,
  });
  const processor = createProcessor({
    objectStore: stores.objects,
    resolver,
    checkpoints: stores.checkpoints,
    deadLetters: stores.deadLetters,
    queue: stores.queue,
    quotas: stores.quotas,
    logger,
    registry,
    ...(options.delayedRetry !== undefined && { delayedRetry: options.delayedRetry }),
    ...(options.status !== undefined && { status: options.status }),
    ...(options.circuitBreaker !== undefined && { circuitBreaker: options.circuitBreaker }),
  });
  return { processor, resolver };
}
