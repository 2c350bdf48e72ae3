import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConfigServiceDeps } from '../admin/index.js';
import { awsClientConfig } from '../aws/index.js';
import { createDynamoReplayStore } from '../stores/aws/index.js';
import { awsRuntimeConfigFromEnv, ExecutionMode } from './aws-env.js';
import { type AwsRouter, createAwsRouter } from './aws-router.js';
import { type ConfigApiServer, type ConfigApiServerOptions, createConfigApiApp, resolveApiAuth } from './config-api-server.js';

/** A key no config has: reading it proves the table answers without reading tenant data. */
const HEALTH_PROBE = { tenantId: 'health-check', type: 'none' } as const;

/**
 * The SDK's own attempts for a replay check. A request waits on it, so it is not retried
 * long: when DynamoDB keeps failing the client gets a 503 and signs the request again.
 */
const REPLAY_STORE_SDK_ATTEMPTS = 2;

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
 * API Lambda). Live checks use the same credential broker as delivery. Replays are refused
 * through the replay table (`REPLAY_TABLE`), which every replica and Lambda container
 * shares, in both auth modes.
 *
 * @throws AwsConfigError naming every missing or invalid variable (`TENANT_CONFIG_TABLE`, …)
 */
export async function openAwsConfigApi(options: ConfigApiServerOptions): Promise<ConfigApiServer> {
  const { logger, registry } = options;
  const config = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, options.env);
  const router = createAwsRouter(config, { logger, registry });
  const replayClient = DynamoDBDocumentClient.from(
    new DynamoDBClient(awsClientConfig(config.aws, { maxAttempts: REPLAY_STORE_SDK_ATTEMPTS })),
  );
  const replayStore = createDynamoReplayStore({ client: replayClient, tableName: config.replayTable });
  try {
    const app = createConfigApiApp(awsConfigServiceDeps(router), {
      logger,
      registry,
      auth: { ...(await resolveApiAuth(options)), replayStore },
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
        replayClient.destroy();
      },
    };
  } catch (error) {
    await router.close();
    replayClient.destroy();
    throw error;
  }
}
