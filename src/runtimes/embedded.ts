import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createConfigService } from '../admin/index.js';
import { createApiApp, loadOrCreateKeyFile, pskSourceFromEnv } from '../api/index.js';
import { ConfigValidationError, ErrorCode, RouterError } from '../domain/index.js';
import {
  createForwardServer,
  type ForwardAuthConfig,
  type ForwardInputOptions,
  type ForwardServer,
  MIN_FORWARD_SECRET_CHARS,
  validateForwardAuthConfig,
  validateForwardConfig,
} from '../ingest/forward/index.js';
import {
  combineBackpressureChecks,
  createQueueBacklogCheck,
  createStoreFullTracker,
  DEFAULT_MAX_QUEUE_BACKLOG,
  maxQueueBacklogFromEnv,
} from '../ingest/backpressure.js';
import {
  createIngestBatcher,
  createTokenAuthenticator,
  defaultHttpIngestConfig,
  type HttpIngestConfig,
  type StaticIngestToken,
  validateHttpIngestConfig,
} from '../ingest/http/index.js';
import type { Logger } from '../logging/index.js';
import { gauge } from '../metrics/index.js';
import type { DelayedRetryConfig } from '../pipeline/delayed-retry.js';
import type { ValidatedCircuitBreakerConfig } from '../delivery/index.js';
import { circuitBreakerConfigFromEnv } from './circuit-breaker-env.js';
import { createDestinationStatusRecorder } from '../pipeline/status-recorder.js';
import { createBuiltinSinkRegistry, type SinkRegistry } from '../sinks/registry.js';
import type { IngestTokenStore } from '../stores/ports.js';
import { routerVersion } from '../version.js';
import { createLocalProcessor, DATA_LAYOUT, type LocalStores, madeProgressSince, openLocalStores } from './local-stores.js';
import { createQueueWorker, DEFAULT_WORKER_CONCURRENCY, type QueueWorkerOptions } from './queue-worker.js';
import { maxInFlightPerTenantFromEnv, schedulerSlowMsFromEnv } from './tenant-scheduling.js';

/** Listeners bind loopback unless told otherwise. */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;
/** The cluster id of the default local ingest token. */
export const LOCAL_CLUSTER_ID = 'local';
/** Where `tlr up` keeps the Forward shared key it generated, in the data directory. */
export const FORWARD_SHARED_KEY_FILE = 'forward-shared-key';
/** The environment variable holding the Forward shared key (cluster `local`, every namespace). */
export const FORWARD_SHARED_KEY_ENV = 'TLR_FORWARD_SHARED_KEY';

/** Where the Forward input's shared key came from. */
export const ForwardKeySource = {
  /** `forward.auth` (`tlr up --forward-auth <file>`). */
  CONFIG: 'config',
  /** `TLR_FORWARD_SHARED_KEY`. */
  ENV: 'env',
  /** Generated into `<data-dir>/forward-shared-key`. */
  DATA_DIR: 'data_dir',
} as const;
export type ForwardKeySource = (typeof ForwardKeySource)[keyof typeof ForwardKeySource];

export interface EmbeddedRouterOptions {
  readonly dataDir: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly logger: Logger;
  readonly registry?: Registry;
  /** A fixed ingest token (`TLR_INGEST_TOKEN`) instead of the one kept in the data directory. */
  readonly ingestToken?: string;
  readonly ingest?: Partial<HttpIngestConfig>;
  readonly concurrency?: number;
  /** How long `stop()` lets deliveries in flight finish before aborting them; default 10 s. */
  readonly stopGraceMs?: number;
  /**
   * Messages of one tenant processed at once, so a tenant with a backlog cannot take every
   * slot; default `TLR_MAX_IN_FLIGHT_PER_TENANT` in `env`, else `max(1, ceil(concurrency / 2))`.
   */
  readonly maxInFlightPerTenant?: number;
  /**
   * A message still processing after this many ms gives its shared slot back (it still counts
   * toward its tenant's limit); default `TLR_SCHEDULER_SLOW_MS` in `env`, else 1,000.
   */
  readonly schedulerSlowMs?: number;
  /**
   * Notifications waiting (visible + delayed) above which ingest answers 503 and Forward stops
   * reading, because delivery is behind; default `TLR_MAX_QUEUE_BACKLOG` in `env`, else 10,000.
   */
  readonly maxQueueBacklog?: number;
  readonly delayedRetry?: DelayedRetryConfig;
  /** Per-destination circuit breakers; default from `TLR_CIRCUIT_*` in `env` (`circuitBreakerConfigFromEnv`). */
  readonly circuitBreaker?: ValidatedCircuitBreakerConfig;
  /** Disk budget of the central object store, in bytes. */
  readonly maxObjectStoreBytes?: number;
  readonly sinks?: SinkRegistry;
  readonly onOutcome?: QueueWorkerOptions['onOutcome'];
  /** Where `TLR_API_PSK` / `PSK_SECRET_NAME` / `TLR_FORWARD_SHARED_KEY` are read; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Also start the Fluent Forward input; off when absent. */
  /**
   * Also run the Fluent Forward input. Without `auth`: `TLR_FORWARD_SHARED_KEY` for cluster
   * `local` and every namespace, else a key generated into `<data-dir>/forward-shared-key`.
   */
  readonly forward?: ForwardInputOptions;
}

/** A running embedded router. */
export interface EmbeddedRouter {
  /** Base URL of the HTTP listener. */
  readonly url: string;
  readonly dataDir: string;
  /** A token that may write every namespace of the local cluster. */
  readonly ingestToken: string;
  readonly stores: LocalStores;
  readonly registry: Registry;
  /** The Forward input's address and where its shared key came from, when it runs. */
  readonly forward?: { readonly host: string; readonly port: number; readonly keySource: ForwardKeySource };
  /** Stops ingest, flushes buffered events, finishes or releases in-flight work, closes stores. */
  stop(): Promise<void>;
}

/** Another process holds the data directory. */
export class DataDirLockedError extends RouterError {
  override readonly name = 'DataDirLockedError';
  constructor(message: string) {
    super(ErrorCode.DATA_DIR_LOCKED, message);
  }
}

/**
 * The URL of the `tlr up` running on a data directory: the one its `api-url` file names,
 * when the process holding the directory's lock is alive. Undefined when none runs (or a
 * crashed one left the file behind).
 */
export function runningRouterUrl(dataDir: string): string | undefined {
  try {
    const holder = Number.parseInt(readFileSync(join(dataDir, DATA_LAYOUT.lock), 'utf8'), 10);
    if (!Number.isInteger(holder) || !isAlive(holder)) return undefined;
    const url = readFileSync(join(dataDir, DATA_LAYOUT.apiUrl), 'utf8').trim();
    return url === '' ? undefined : url;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the data directory for this process. The lock file is created exclusively, so two
 * processes starting together cannot both take it; a lock left by a dead process is
 * replaced. Only the holder removes it.
 *
 * @throws DataDirLockedError when a live process holds the directory
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, DATA_LAYOUT.lock);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(path, 'utf8') === String(process.pid)) rmSync(path, { force: true });
        } catch {
          // Already gone.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: number;
    try {
      holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
    } catch {
      continue; // removed meanwhile: try again
    }
    if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
      throw new DataDirLockedError(
        `Another tlr (pid ${holder}) is running on data directory '${dataDir}'; stop it or use --data-dir.`,
      );
    }
    // Stale (its process is gone): remove it and race for a fresh one.
    rmSync(path, { force: true });
  }
  throw new DataDirLockedError(`Could not take the lock on data directory '${dataDir}'; try again.`);
}

async function defaultIngestToken(
  dataDir: string,
  tokens: IngestTokenStore,
  logger: Logger,
): Promise<string> {
  const path = join(dataDir, DATA_LAYOUT.ingestToken);
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token && (await tokens.verify(token))) return token;
    logger.warn('The saved ingest token is not known to the store; creating a new one.', { path });
  } catch {
    // First start on this data directory.
  }
  const created = await tokens.create({
    clusterId: LOCAL_CLUSTER_ID,
    namespaces: ['*'],
    description: 'default local token of tlr up',
  });
  await writeFile(path, `${created.token}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return created.token;
}

/** The Forward auth config to use, and where its key came from. */
async function resolveForwardAuth(
  configured: ForwardAuthConfig | undefined,
  env: NodeJS.ProcessEnv,
  dataDir: string,
): Promise<{ auth: ForwardAuthConfig; keySource: ForwardKeySource }> {
  if (configured) return { auth: configured, keySource: ForwardKeySource.CONFIG };
  const fromEnv = env[FORWARD_SHARED_KEY_ENV]?.trim();
  if (fromEnv && fromEnv.length < MIN_FORWARD_SECRET_CHARS) {
    throw new ConfigValidationError(
      [{ field: FORWARD_SHARED_KEY_ENV, message: `must be at least ${MIN_FORWARD_SECRET_CHARS} characters` }],
      'Forward auth config',
    );
  }
  const sharedKey = fromEnv || (await loadOrCreateKeyFile(join(dataDir, FORWARD_SHARED_KEY_FILE), 'Forward shared key'));
  return {
    auth: validateForwardAuthConfig({ shared_key: sharedKey, cluster_id: LOCAL_CLUSTER_ID, namespaces: ['*'] }),
    keySource: fromEnv ? ForwardKeySource.ENV : ForwardKeySource.DATA_DIR,
  };
}

/**
 * Starts the whole router in one process on a data directory: HTTP ingest, the processor
 * over the SQLite queue, health and metrics.
 *
 * @throws DataDirLockedError when another process runs on the data directory
 * @example const router = await startEmbeddedRouter({ dataDir: '.tlr', logger });
 */
export async function startEmbeddedRouter(options: EmbeddedRouterOptions): Promise<EmbeddedRouter> {
  const { logger } = options;
  const registry = options.registry ?? new Registry();
  if (!options.registry) collectDefaultMetrics({ register: registry });
  const ingestConfig = validateHttpIngestConfig({ ...defaultHttpIngestConfig(), ...options.ingest });
  // Checked before anything opens, so a bad Forward setting stops the start with its message.
  const forwardConfig = options.forward ? validateForwardConfig(options.forward.config ?? {}) : undefined;
  const forwardAuth = options.forward?.auth ? validateForwardAuthConfig(options.forward.auth) : undefined;
  const env = options.env ?? process.env;
  const circuitBreaker = options.circuitBreaker ?? circuitBreakerConfigFromEnv(env);
  const maxInFlightPerTenant = options.maxInFlightPerTenant ?? maxInFlightPerTenantFromEnv(env);
  const maxQueueBacklog = options.maxQueueBacklog ?? maxQueueBacklogFromEnv(env) ?? DEFAULT_MAX_QUEUE_BACKLOG;
  const schedulerSlowMs = options.schedulerSlowMs ?? schedulerSlowMsFromEnv(env);
  const limitErrors = Object.entries({
    concurrency: options.concurrency,
    maxInFlightPerTenant,
    maxQueueBacklog,
    schedulerSlowMs,
  })
    .filter(([, value]) => value !== undefined && !(Number.isSafeInteger(value) && value >= 1))
    .map(([field, value]) => ({ field, message: `must be a whole number ≥ 1, got ${String(value)}` }));
  if (limitErrors.length > 0) throw new ConfigValidationError(limitErrors, 'embedded router options');
  const stores = openLocalStores(options.dataDir, {
    ...(options.maxObjectStoreBytes !== undefined && { maxObjectBytes: options.maxObjectStoreBytes }),
    logger,
  });
  let unlock: () => void;
  try {
    unlock = lockDataDir(stores.dataDir);
  } catch (error) {
    stores.close();
    throw error;
  }

  // Holding the lock, this process is the only consumer: what a crashed run had in flight resumes now.
  const released = stores.queue.releaseInFlight(madeProgressSince(stores.checkpoints));
  if (released > 0) logger.warn('Resumed messages a previous run left in flight.', { count: released });

  const staticTokens: StaticIngestToken[] = options.ingestToken
    ? [{ id: 'env', token: options.ingestToken, clusterId: LOCAL_CLUSTER_ID, namespaces: ['*'] }]
    : [];
  const ingestToken =
    options.ingestToken ?? (await defaultIngestToken(stores.dataDir, stores.tokens, logger));
  const authenticator = createTokenAuthenticator({ store: stores.tokens, staticTokens });

  const sinks = options.sinks ?? createBuiltinSinkRegistry();
  const status = createDestinationStatusRecorder({ store: stores.status, logger });
  const { processor, resolver } = createLocalProcessor(stores, {
    sinks,
    logger,
    registry,
    status,
    circuitBreaker,
    ...(options.delayedRetry !== undefined && { delayedRetry: options.delayedRetry }),
  });
  const worker = createQueueWorker({
    queue: stores.queue,
    processor,
    logger,
    concurrency: options.concurrency ?? DEFAULT_WORKER_CONCURRENCY,
    ...(maxInFlightPerTenant !== undefined && { maxInFlightPerTenant }),
    ...(schedulerSlowMs !== undefined && { slowAfterMs: schedulerSlowMs }),
    registry,
    ...(options.onOutcome !== undefined && { onOutcome: options.onOutcome }),
  });
  // Delivery behind or the store full: ingest refuses new events rather than piling them up.
  const storeFull = createStoreFullTracker({ retryAfterSeconds: ingestConfig.retryAfterSeconds, logger, registry });
  const backpressure = combineBackpressureChecks([
    storeFull,
    createQueueBacklogCheck({
      queue: stores.queue,
      maxBacklog: maxQueueBacklog,
      retryAfterSeconds: ingestConfig.retryAfterSeconds,
      logger,
      registry,
    }),
  ]);
  const batcher = createIngestBatcher({
    buffer: stores.ingestBuffer,
    objectStore: storeFull.wrap(stores.objects),
    queue: stores.queue,
    config: ingestConfig,
    logger,
    registry,
  });
  gauge(registry, {
    name: 'tlr_queue_messages',
    help: 'Messages in the notification queue, by state (visible, in_flight, delayed, dead_lettered).',
    labelNames: ['state'],
    async collect() {
      const stats = await stores.queue.stats();
      this.set({ state: 'visible' }, stats.visible);
      this.set({ state: 'in_flight' }, stats.inFlight);
      this.set({ state: 'delayed' }, stats.delayed);
      this.set({ state: 'dead_lettered' }, stats.deadLettered);
    },
  });

  // The key is read (and on first start generated into the data directory) now, so a bad
  // TLR_API_PSK or key file stops the start with its message instead of failing each request.
  const psk = pskSourceFromEnv(env, { dataDir: stores.dataDir, logger });
  try {
    await psk.keys();
  } catch (error) {
    unlock();
    stores.close();
    throw error;
  }
  const configService = createConfigService({
    store: stores.configs,
    audit: stores.audit,
    status: stores.status,
    deadLetters: stores.deadLetters,
    sinks,
    sinkDeps: { baseDir: stores.dataDir, logger, registry },
  });

  let forward: ForwardServer | undefined;
  let forwardInfo: EmbeddedRouter['forward'];

  const app = createApiApp({
    logger,
    registry,
    version: routerVersion(),
    configApi: { service: configService, sinks, auth: { mode: 'verify', psk } },
    checks: {
      store: async () => {
        stores.db.prepare('SELECT 1').get();
        return { status: 'ok' };
      },
    },
    ingest: { authenticator, buffer: stores.ingestBuffer, config: ingestConfig, backpressure },
  });

  try {
    await batcher.start();
    await app.listen({ host: options.host ?? DEFAULT_HOST, port: options.port ?? DEFAULT_PORT });
    if (forwardConfig) {
      const { auth, keySource } = await resolveForwardAuth(forwardAuth, env, stores.dataDir);
      forward = createForwardServer({
        config: forwardConfig,
        auth,
        buffer: stores.ingestBuffer,
        logger,
        registry,
        backpressure,
      });
      forwardInfo = { ...(await forward.listen()), keySource };
    }
  } catch (error) {
    await forward?.close().catch(() => {});
    await batcher.stop().catch(() => {});
    await app.close().catch(() => {});
    unlock();
    stores.close();
    throw error;
  }
  worker.start();
  const address = app.server.address();
  const url =
    typeof address === 'object' && address ? `http://${formatHost(address.address)}:${address.port}` : '';
  const urlFile = join(stores.dataDir, DATA_LAYOUT.apiUrl);
  writeFileSync(urlFile, `${url}\n`);
  logger.info('The router is up.', { url, dataDir: stores.dataDir });

  let stopping: Promise<void> | undefined;
  return {
    url,
    dataDir: stores.dataDir,
    ingestToken,
    stores,
    registry,
    ...(forwardInfo && { forward: forwardInfo }),
    stop() {
      stopping ??= (async () => {
        await forward?.close();
        await app.close();
        await batcher.stop();
        await worker.stop(options.stopGraceMs);
        await status.close();
        await resolver.close();
        rmSync(urlFile, { force: true });
        stores.close();
        unlock();
        logger.info('The router stopped.', { dataDir: stores.dataDir });
      })();
      return stopping;
    },
  };
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
