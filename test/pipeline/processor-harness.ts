import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { DeliveryConfig } from '../../src/domain/index.js';
import { silentLogger } from '../../src/logging/index.js';
import type { WorkItem } from '../../src/pipeline/notification.js';
import {
  type BatchProcessor,
  createProcessor,
  type ItemOutcome,
  type MessageOutcome,
  type ProcessorOptions,
} from '../../src/pipeline/processor.js';
import { createDestinationStatusRecorder, type DestinationStatusRecorder } from '../../src/pipeline/status-recorder.js';
import { createTenantDestinationResolver, type TenantDestinationResolver } from '../../src/pipeline/tenant-destinations.js';
import { fileSinkDefinition } from '../../src/sinks/file/index.js';
import { createSinkRegistry } from '../../src/sinks/registry.js';
import type { SinkDefinition } from '../../src/sinks/types.js';
import {
  createFileObjectStore,
  createSqliteCheckpointStore,
  createSqliteConfigStore,
  createSqliteDeadLetterStore,
  createSqliteDestinationStatusStore,
  createSqliteQueue,
  createSqliteQuotaStore,
  openDatabase,
  type SqliteDatabase,
  type SqliteQueue,
} from '../../src/stores/local/index.js';
import type {
  CheckpointStore,
  DeadLetterStore,
  DeliveryConfigStore,
  DestinationStatusStore,
  ObjectStore,
  QueueMessage,
  TenantQuotaStore,
} from '../../src/stores/ports.js';
import {
  gzipObject, logEventFactory, objectKeyFactory, objectKeyPartsFactory, randomId, s3EventFactory,
} from '../helpers/factories.js';
import { createMemorySinkKind, type MemorySinkKind } from '../helpers/memory-sink.js';
import { readAllNdjson } from '../helpers/ndjson-files.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

/** The application of the objects `putObject` writes by default. */
export const APP = 'kube-apiserver';
/** When the events of `putObject` happened (event `seq` n at this time + n ms), and when its keys say the object was made. */
export const EVENTS_AT_MS = Date.parse('2024-01-15T10:30:00Z');
/** The harness clock's start by default. */
export const START_MS = Date.parse('2024-01-15T11:00:00.000Z');

export interface ProcessorHarnessOptions {
  /** The sink kinds besides the scripted memory kind (always registered); default the file sink. */
  readonly sinks?: readonly SinkDefinition[];
  /** Processor options over the harness's (silent logger, harness clock, `random` 0.5: no jitter). */
  readonly processor?: Partial<Pick<ProcessorOptions, 'circuitBreaker' | 'delayedRetry' | 'rateLimit' | 'logger'>>;
  /** The processor's quota store: none (default), a SQLite one on the harness's database (`true`), or the one made. */
  readonly quotas?: boolean | ((db: SqliteDatabase) => TenantQuotaStore);
  /** Whether the processor reports destination health to `status`; default true. */
  readonly reportStatus?: boolean;
  /** How long the resolver caches a tenant's configs; default the resolver's. */
  readonly configTtlMs?: number;
  /** Fields every row of `putRows` starts from (the row's own fields win). */
  readonly rowDefaults?: Readonly<Record<string, unknown>>;
  /** Where the clock starts; default `START_MS`. */
  readonly startMs?: number;
}

export interface PutObjectOptions {
  /** Default `APP`. */
  readonly application?: string;
  /** Default a random cluster. */
  readonly clusterId?: string;
  /** Default a random pod. */
  readonly podName?: string;
  /** The creation time in the key (orders the keys of one pod); default the key factory's. */
  readonly createdAtMs?: number;
  /** The object body made of the events; default `gzipObject`. */
  readonly body?: (events: Record<string, unknown>[]) => Buffer;
}

/** Every embedded store on a temp data directory, the processor over them, and a manual clock. */
export interface ProcessorHarness {
  readonly dir: string;
  readonly db: SqliteDatabase;
  readonly objects: ObjectStore;
  readonly queue: SqliteQueue;
  readonly configs: DeliveryConfigStore;
  readonly checkpoints: CheckpointStore;
  readonly deadLetters: DeadLetterStore;
  /** The processor's quota store, when it has one. */
  readonly quotas: TenantQuotaStore | undefined;
  readonly registry: Registry;
  readonly memory: MemorySinkKind;
  readonly resolver: TenantDestinationResolver;
  readonly processor: BatchProcessor;
  readonly clock: { nowMs: number };
  /** Destination health as the processor reported it, written on `status.flush()`. */
  readonly statusStore: DestinationStatusStore;
  readonly status: DestinationStatusRecorder;
  /** Another processor (another replica) on the same stores, with its own resolver, registry and quota store. */
  replica(): BatchProcessor;
  /** Stores delivery config rows as they are, valid or not; a `file…` row writes under `outputDir`. */
  putRows(tenantId: string, rows: readonly ({ type: string } & Record<string, unknown>)[]): Promise<void>;
  /** Puts a gzip NDJSON object of `count` events of one application and pod of a tenant. */
  putObject(
    tenantId: string,
    count?: number,
    options?: PutObjectOptions,
  ): Promise<{ key: string; events: Record<string, unknown>[] }>;
  /** Processes the S3 notification of the keys as one queue message. */
  notify(keys: readonly string[], abort?: AbortSignal): Promise<MessageOutcome>;
  /** Processes one work item, attempt 0 unless it says otherwise. */
  processItem(item: Partial<WorkItem> & { key: string }, abort?: AbortSignal): Promise<ItemOutcome>;
  /** Where a tenant's file destination of that type writes. */
  outputDir(tenantId: string, type?: string): string;
  /** Every event a tenant's file destination of that type wrote. */
  readOutput(tenantId: string, type?: string): Promise<Record<string, unknown>[]>;
  advance(ms: number): void;
  /** Moves the clock on, then receives the messages visible by then. */
  receiveDue(afterMs: number, maxMessages?: number): Promise<QueueMessage[]>;
  close(): Promise<void>;
}

const open: ProcessorHarness[] = [];

export const signal = (): AbortSignal => new AbortController().signal;

export function newTenant(): string {
  return `t-${randomId().slice(0, 8)}`;
}

export async function createProcessorHarness(options: ProcessorHarnessOptions = {}): Promise<ProcessorHarness> {
  const dir = await makeTempDir('tlr-proc-');
  const clock = { nowMs: options.startMs ?? START_MS };
  const now = () => clock.nowMs;
  const db = openDatabase(join(dir, 'tlr.db'));
  const memory = createMemorySinkKind();
  const objects = createFileObjectStore({ rootDir: join(dir, 'objects') });
  const queue = createSqliteQueue(db, { now });
  const configs = createSqliteConfigStore(db);
  const checkpoints = createSqliteCheckpointStore(db);
  const deadLetters = createSqliteDeadLetterStore(db, { now });
  const statusStore = createSqliteDestinationStatusStore(db, { now });
  const status = createDestinationStatusRecorder({ store: statusStore, logger: silentLogger, flushIntervalMs: 0 });
  const quotas = typeof options.quotas === 'function'
    ? options.quotas(db)
    : options.quotas ? createSqliteQuotaStore(db, now) : undefined;
  const resolvers: TenantDestinationResolver[] = [];
  const build = (registry: Registry, quotaStore: TenantQuotaStore | undefined) => {
    const resolver = createTenantDestinationResolver({
      store: configs,
      sinks: createSinkRegistry([...(options.sinks ?? [fileSinkDefinition]), memory.definition]),
      sinkDeps: { baseDir: dir, logger: silentLogger, registry },
      logger: silentLogger,
      registry,
      now,
      ...(options.configTtlMs !== undefined && { ttlMs: options.configTtlMs }),
      retireAfterMs: 1,
    });
    resolvers.push(resolver);
    const processor = createProcessor({
      objectStore: objects,
      resolver,
      checkpoints,
      deadLetters,
      queue,
      ...(quotaStore && { quotas: quotaStore }),
      logger: silentLogger,
      registry,
      now,
      random: () => 0.5,
      ...(options.reportStatus !== false && { status }),
      ...options.processor,
    });
    return { resolver, processor };
  };
  const registry = new Registry();
  const { resolver, processor } = build(registry, quotas);
  const outputDir = (tenantId: string, type = 'file') => join(dir, tenantId, type.replace(':', '-'));
  const h: ProcessorHarness = {
    dir,
    db,
    objects,
    queue,
    configs,
    checkpoints,
    deadLetters,
    quotas,
    registry,
    memory,
    resolver,
    processor,
    clock,
    statusStore,
    status,
    replica: () => build(new Registry(), quotas && createSqliteQuotaStore(db, now)).processor,
    async putRows(tenantId, rows) {
      for (const row of rows) {
        const directory = row.type.startsWith('file') ? { directory: outputDir(tenantId, row.type) } : {};
        await configs.put({ tenant_id: tenantId, ...directory, ...options.rowDefaults, ...row } as DeliveryConfig);
      }
    },
    async putObject(tenantId, count = 3, { application = APP, body = gzipObject, createdAtMs, ...pod } = {}) {
      const parts = objectKeyPartsFactory({ ...pod, namespace: tenantId, application });
      const key = objectKeyFactory({ ...parts, ...(createdAtMs !== undefined && { createdAtMs }) });
      const events = Array.from({ length: count }, (_, seq) =>
        logEventFactory({
          seq,
          cluster_id: parts.clusterId,
          namespace: tenantId,
          application,
          pod_name: parts.podName,
          timestamp: new Date(EVENTS_AT_MS + seq).toISOString(),
        }),
      );
      await objects.put(key, body(events));
      return { key, events };
    },
    notify: (keys, abort = signal()) => processor.processMessage(JSON.stringify(s3EventFactory([...keys])), abort),
    processItem: (item, abort = signal()) => processor.processItem({ attempt: 0, ...item }, abort),
    outputDir,
    readOutput: (tenantId, type) => readAllNdjson(outputDir(tenantId, type)),
    advance(ms) {
      clock.nowMs += ms;
    },
    async receiveDue(afterMs, maxMessages = 10) {
      clock.nowMs += afterMs;
      return queue.receive({ maxMessages, waitMs: 0 });
    },
    async close() {
      for (const r of resolvers) await r.close();
      queue.close();
      if (db.open) db.close();
    },
  };
  open.push(h);
  return h;
}

/** Closes every harness made so far and deletes their directories; call it in `afterEach`. */
export async function closeProcessorHarnesses(): Promise<void> {
  for (const h of open.splice(0)) await h.close();
  await removeTempDirs();
}
