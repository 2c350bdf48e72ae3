import type { ConfigServiceDeps } from '../admin/index.js';
import { awsRuntimeConfigFromEnv, ExecutionMode } from './aws-env.js';
import { type AwsRouter, createAwsRouter } from './aws-router.js';
import { type ConfigApiServer, type ConfigApiServerOptions, createConfigApiApp, resolveApiAuth } from './config-api-server.js';

/** A key no config has: reading it proves the table answers without reading tenant data. */
const HEALTH_PROBE = { tenantId: 'health-check', type: 'none' } as const;

/** What the config service works on, over the AWS deployment's tables. */
export function awsConfigServiceDeps(router: AwsRouter): Omit<ConfigServiceDeps, 'now'> {
  return {
    store: router.configs,
    audit: router.audit,
    status: router.status,
    deadLetters: router.deadLetters,
    sinks: router.sinks,
    sinkDeps: router.sinkDeps,
  };
}

/**
 * The config API over the AWS deployment's DynamoDB tables (`tlr api --store aws`, the
 * API Lambda). Live checks use the same credential broker as delivery.
 *
 * @throws AwsConfigError naming every missing or invalid variable (`TENANT_CONFIG_TABLE`, …)
 */
export async function openAwsConfigApi(options: ConfigApiServerOptions): Promise<ConfigApiServer> {
  const { logger, registry } = options;
  const router = createAwsRouter(awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, options.env), { logger, registry });
  try {
    const app = createConfigApiApp(awsConfigServiceDeps(router), {
        logger,
        registry,
        auth: await resolveApiAuth(options),
      storeCheck: async () => {
        await router.configs.get(HEALTH_PROBE.tenantId, HEALTH_PROBE.type);
        return { status: 'ok' };
      },
    });
    return {
      app,
      async close() {
        await app.close();
        await router.close();
      },
    };
  } catch (error) {
    await router.close();
    throw error;
  }
}
