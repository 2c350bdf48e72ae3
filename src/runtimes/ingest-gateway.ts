import { join, resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createApiApp } from '../api/index.js';
import { type AwsSettings, awsClientConfig, awsSettingsFromEnv } from '../aws/index.js';
import {
  ConfigValidationError,
  type FieldError,
  INTERNAL_KEY_PREFIX,
  isValidKeySegment,
} from '../domain/index.js';
import {
  createForwardServer,
  type ForwardAddress,
  type ForwardAuthConfig,
  type ForwardConfig,
  type ForwardInputOptions,
  type ForwardServer,
  MIN_FORWARD_SECRET_CHARS,
  validateForwardAuthConfig,
  validateForwardConfig,
} from '../ingest/forward/index.js';
import {
  createIngestBatcher,
  createTokenAuthenticator,
  defaultHttpIngestConfig,
  type HttpIngestConfig,
  MIN_STATIC_TOKEN_CHARS,
  type StaticIngestToken,
  validateHttpIngestConfig,
} from '../ingest/http/index.js';
import type { Logger } from '../logging/index.js';
import { createS3ObjectStore } from '../stores/aws/s3-object-store.js';
import { createSqliteIngestBuffer, openDatabase } from '../stores/local/index.js';
import type { IngestBuffer } from '../stores/ports.js';
import { routerVersion } from '../version.js';
import { DEFAULT_HOST, DEFAULT_PORT, FORWARD_SHARED_KEY_ENV, lockDataDir } from './embedded.js';

/** The gateway's SQLite ingest buffer, in its data directory (the pod's volume). */
export const GATEWAY_DATABASE_FILE = 'ingest-gateway.db';
/** The central bucket the gateway writes into, as the other AWS runtimes name it. */
export const SOURCE_BUCKET_ENV = 'SOURCE_BUCKET';
/** A single ingest token, bound to `clusterId` and every namespace. */
export const INGEST_TOKEN_ENV = 'TLR_INGEST_TOKEN';
/** The SDK's own retries per PutObject; a batch that still fails stays buffered for the next flush. */
const PUT_SDK_ATTEMPTS = 3;
const SETTINGS_CONTEXT = 'ingest gateway settings';

/** What `startIngestGateway` is built from; the bucket and AWS settings come from `env`. */
export interface IngestGatewayOptions {
  /** Holds the ingest buffer; must survive restarts (a PersistentVolume), or acked events are lost. */
  readonly dataDir: string;
  /** Default 127.0.0.1; pods pass 0.0.0.0. */
  readonly host?: string;
  /** 0 picks a free port. Default 8080. */
  readonly port?: number;
  readonly logger: Logger;
  readonly registry?: Registry;
  /** Static ingest tokens (the `--tokens-file` content). */
  readonly tokens?: readonly StaticIngestToken[];
  /** The cluster of `TLR_INGEST_TOKEN` and of `TLR_FORWARD_SHARED_KEY` (`--cluster-id`). */
  readonly clusterId?: string;
  /** Batching and buffer limits over `defaultHttpIngestConfig()`. */
  readonly ingest?: Partial<HttpIngestConfig>;
  /**
   * Also accept Fluent Forward; off when absent. Without `auth`: `TLR_FORWARD_SHARED_KEY` bound
   * to `clusterId` and every namespace. A shared key is required either way.
   */
  readonly forward?: ForwardInputOptions;
  /** `SOURCE_BUCKET`, `AWS_*`, `TLR_INGEST_TOKEN`, `TLR_FORWARD_SHARED_KEY`; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A running ingest gateway. */
export interface IngestGateway {
  /** Base URL of the HTTP listener. */
  readonly url: string;
  readonly dataDir: string;
  readonly bucket: string;
  /** Ids of the accepted ingest tokens (never the secrets). */
  readonly tokenIds: readonly string[];
  /** The Forward listener, when it runs. */
  readonly forward?: ForwardAddress;
  /** Events accepted and not yet written to the bucket. */
  readonly buffer: IngestBuffer;
  readonly registry: Registry;
  /** Stops accepting, flushes the buffer into the bucket (what fails stays buffered), closes. */
  stop(): Promise<void>;
}

/** Everything the gateway needs, checked before anything opens. */
interface GatewaySettings {
  readonly bucket: string;
  readonly aws: AwsSettings;
  readonly tokens: readonly StaticIngestToken[];
  readonly ingest: HttpIngestConfig;
  readonly forward?: { readonly config: ForwardConfig; readonly auth: ForwardAuthConfig };
}

function clusterIdErrors(clusterId: string | undefined): FieldError[] {
  if (clusterId === undefined || (isValidKeySegment(clusterId) && !clusterId.startsWith(INTERNAL_KEY_PREFIX))) return [];
  return [{
    field: '--cluster-id',
    message: `must be a non-blank key segment without '/' not starting with '${INTERNAL_KEY_PREFIX}'`,
  }];
}

function forwardAuthOf(
  options: IngestGatewayOptions,
  env: NodeJS.ProcessEnv,
  errors: FieldError[],
): ForwardAuthConfig | undefined {
  if (options.forward?.auth) {
    // Anyone reaching the port could write any namespace of the bound cluster without the handshake.
    const auth = validateForwardAuthConfig(options.forward.auth);
    if (auth.shared_key === undefined) {
      errors.push({ field: '--forward-auth', message: "must set 'shared_key': the gateway accepts Forward only with the handshake" });
    }
    return auth;
  }
  const sharedKey = env[FORWARD_SHARED_KEY_ENV]?.trim();
  if (!sharedKey) {
    errors.push({
      field: FORWARD_SHARED_KEY_ENV,
      message: 'or --forward-auth is required with --forward: the gateway accepts Forward only with a shared key',
    });
    return undefined;
  }
  if (sharedKey.length < MIN_FORWARD_SECRET_CHARS) {
    errors.push({ field: FORWARD_SHARED_KEY_ENV, message: `must be at least ${MIN_FORWARD_SECRET_CHARS} characters` });
    return undefined;
  }
  if (options.clusterId === undefined) {
    errors.push({ field: FORWARD_SHARED_KEY_ENV, message: 'needs --cluster-id, the cluster its events belong to' });
    return undefined;
  }
  return validateForwardAuthConfig({ shared_key: sharedKey, cluster_id: options.clusterId, namespaces: ['*'] });
}

/**
 * Reads and checks the gateway's settings, reporting every problem at once.
 *
 * @throws ConfigValidationError naming each variable or flag (`SOURCE_BUCKET`, `TLR_INGEST_TOKEN`,
 *   `--cluster-id`, `TLR_FORWARD_SHARED_KEY`, `--forward-auth`, `--tokens-file`); a bad Forward
 *   or ingest config throws its own
 */
function gatewaySettings(options: IngestGatewayOptions, env: NodeJS.ProcessEnv): GatewaySettings {
  const errors: FieldError[] = [];
  const bucket = env[SOURCE_BUCKET_ENV]?.trim();
  if (!bucket) {
    errors.push({ field: SOURCE_BUCKET_ENV, message: 'is required (the central bucket the gateway writes objects into)' });
  }
  errors.push(...clusterIdErrors(options.clusterId));
  const tokens = [...(options.tokens ?? [])];
  const envToken = env[INGEST_TOKEN_ENV]?.trim();
  if (envToken) {
    if (envToken.length < MIN_STATIC_TOKEN_CHARS) {
      errors.push({ field: INGEST_TOKEN_ENV, message: `must be at least ${MIN_STATIC_TOKEN_CHARS} characters` });
    } else if (options.clusterId === undefined) {
      errors.push({ field: INGEST_TOKEN_ENV, message: 'needs --cluster-id, the cluster its events belong to' });
    } else {
      tokens.push({ id: 'env', token: envToken, clusterId: options.clusterId, namespaces: ['*'] });
    }
  } else if (tokens.length === 0 && !options.forward) {
    errors.push({
      field: '--tokens-file',
      message: `or ${INGEST_TOKEN_ENV} with --cluster-id is required: the gateway accepts authenticated collectors only`,
    });
  }
  const ingest = validateHttpIngestConfig({ ...defaultHttpIngestConfig(), ...options.ingest });
  const forwardConfig = options.forward ? validateForwardConfig(options.forward.config ?? {}) : undefined;
  const forwardAuth = options.forward ? forwardAuthOf(options, env, errors) : undefined;
  if (errors.length > 0) throw new ConfigValidationError(errors, SETTINGS_CONTEXT);
  return {
    bucket: bucket!,
    aws: awsSettingsFromEnv(env),
    tokens,
    ingest,
    ...(forwardConfig && forwardAuth && { forward: { config: forwardConfig, auth: forwardAuth } }),
  };
}

/**
 * Starts the ingest gateway: HTTP ingest (NDJSON / JSON array) and optionally Fluent Forward,
 * for clusters whose collectors cannot write to the central bucket themselves. Events are
 * acknowledged once committed to a SQLite buffer in the data directory; the batcher writes them
 * as gzip NDJSON objects at the usual key layout into `SOURCE_BUCKET`, and retries what fails
 * until it lands. It queues no work item: the bucket's own `ObjectCreated` notification (S3 →
 * SNS → SQS) brings each object to the processor, and a second message would process it twice.
 *
 * @throws ConfigValidationError when a setting is missing or wrong (see `gatewaySettings`)
 * @throws DataDirLockedError when another process runs on the data directory
 * @example
 * const gateway = await startIngestGateway({ dataDir: '/var/lib/tlr', host: '0.0.0.0', logger, tokens });
 * process.once('SIGTERM', () => void gateway.stop());
 */
export async function startIngestGateway(options: IngestGatewayOptions): Promise<IngestGateway> {
  const { logger } = options;
  const env = options.env ?? process.env;
  const settings = gatewaySettings(options, env);
  const registry = options.registry ?? new Registry();
  if (!options.registry) collectDefaultMetrics({ register: registry });
  // Refuses malformed tokens before anything opens.
  const authenticator = createTokenAuthenticator({ staticTokens: settings.tokens });

  const dataDir = resolve(options.dataDir);
  const db = openDatabase(join(dataDir, GATEWAY_DATABASE_FILE));
  let unlock: () => void;
  try {
    unlock = lockDataDir(dataDir);
  } catch (error) {
    db.close();
    throw error;
  }
  const buffer = createSqliteIngestBuffer(db);
  const s3 = new S3Client(awsClientConfig(settings.aws, { s3: true, maxAttempts: PUT_SDK_ATTEMPTS }));
  const batcher = createIngestBatcher({
    buffer,
    objectStore: createS3ObjectStore({ client: s3, bucket: settings.bucket }),
    config: settings.ingest,
    logger,
    registry,
  });
  const app = createApiApp({
    logger,
    registry,
    version: routerVersion(),
    checks: {
      // The bucket is not checked: while it is unreachable the buffer takes the events, which
      // is the gateway's job; pulling the pod out of its Service would refuse them instead.
      buffer: async () => {
        db.prepare('SELECT 1').get();
        return { status: 'ok' };
      },
    },
    ingest: { authenticator, buffer, config: settings.ingest },
  });
  let forward: ForwardServer | undefined;
  let forwardAddress: ForwardAddress | undefined;

  const close = () => {
    s3.destroy();
    db.close();
    unlock();
  };
  try {
    await batcher.start();
    await app.listen({ host: options.host ?? DEFAULT_HOST, port: options.port ?? DEFAULT_PORT });
    if (settings.forward) {
      forward = createForwardServer({ ...settings.forward, buffer, logger, registry });
      forwardAddress = await forward.listen();
    }
  } catch (error) {
    await forward?.close().catch(() => {});
    await app.close().catch(() => {});
    await batcher.stop().catch(() => {});
    close();
    throw error;
  }
  const address = app.server.address();
  const url = typeof address === 'object' && address ? `http://${formatHost(address.address)}:${address.port}` : '';
  const tokenIds = settings.tokens.map((t, i) => t.id ?? `static-${i}`);
  logger.info('The ingest gateway is up.', {
    url,
    dataDir,
    bucket: settings.bucket,
    tokens: tokenIds,
    ...(forwardAddress && { forward: `${forwardAddress.host}:${forwardAddress.port}` }),
  });

  let stopping: Promise<void> | undefined;
  return {
    url,
    dataDir,
    bucket: settings.bucket,
    tokenIds,
    ...(forwardAddress && { forward: forwardAddress }),
    buffer,
    registry,
    stop() {
      stopping ??= (async () => {
        await forward?.close();
        await app.close();
        await batcher.stop();
        const left = await buffer.pendingBytes();
        if (left > 0) logger.warn('Buffered events could not be written; the next start writes them.', { bytes: left });
        close();
        logger.info('The ingest gateway stopped.', { dataDir });
      })();
      return stopping;
    },
  };
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
