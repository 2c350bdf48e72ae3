import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { type ConfigServiceDeps, createConfigService } from '../admin/index.js';
import { type ApiAuthOptions, createApiApp, type HealthCheck, pskSourceFromEnv } from '../api/index.js';
import type { Logger } from '../logging/index.js';
import { routerVersion } from '../version.js';

/**
 * The delivery-config API on its own, without the processor: `tlr api` and the API Lambda.
 * The same app `tlr up` serves, over the local store (`config-api-local.ts`) or the AWS
 * deployment's tables (`config-api-aws.ts`); they are separate modules so the Lambda bundle
 * takes the AWS one without the SQLite stores.
 */

/** Where the configs live. */
export const ConfigApiStore = { LOCAL: 'local', AWS: 'aws' } as const;
export type ConfigApiStore = (typeof ConfigApiStore)[keyof typeof ConfigApiStore];

export interface ConfigApiServerOptions {
  readonly store: ConfigApiStore;
  /** The data directory: the local store, and `api-psk` when no other key source is set. */
  readonly dataDir: string;
  /** `TLR_API_PSK`, `PSK_SECRET_NAME` and, on AWS, `TENANT_CONFIG_TABLE` and the rest. */
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly registry: Registry;
  /**
   * `authorizer` behind API Gateway, where the Lambda authorizer has checked the signature;
   * default: verify signatures here with the key source the environment names.
   */
  readonly authMode?: ApiAuthOptions['mode'];
}

/** The API app and how to release what it holds. */
export interface ConfigApiServer {
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * How requests are authenticated: behind API Gateway the authorizer has checked the
 * signature; otherwise signatures are verified with the key source the environment names,
 * read once here so a bad key stops the start with its message.
 *
 * @throws PskError when the key source cannot supply a key
 */
export async function resolveApiAuth(options: ConfigApiServerOptions): Promise<ApiAuthOptions> {
  if (options.authMode === 'authorizer') return { mode: 'authorizer' };
  const psk = pskSourceFromEnv(options.env, { dataDir: options.dataDir, logger: options.logger });
  await psk.keys();
  options.logger.info('API requests are verified with the pre-shared key.', { source: psk.description });
  return { mode: 'verify', psk };
}

/** The API app over a set of stores, with a health check of the config store. */
export function createConfigApiApp(
  deps: Omit<ConfigServiceDeps, 'now'>,
  options: { logger: Logger; registry: Registry; auth: ApiAuthOptions; storeCheck: HealthCheck },
): FastifyInstance {
  return createApiApp({
    logger: options.logger,
    registry: options.registry,
    version: routerVersion(),
    checks: { store: options.storeCheck },
    configApi: { service: createConfigService(deps), sinks: deps.sinks, auth: options.auth },
  });
}
