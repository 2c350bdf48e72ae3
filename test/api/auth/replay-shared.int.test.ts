import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConfigService } from '../../../src/admin/index.js';
import { signRequest } from '../../../src/api/auth/hmac.js';
import { type ApiAuthOptions, createApiApp, PRINCIPAL_HEADER } from '../../../src/api/index.js';
import { awsClientConfig } from '../../../src/aws/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { localConfigServiceDeps } from '../../../src/runtimes/config-api-local.js';
import { type LocalStores, openLocalStores } from '../../../src/runtimes/local-stores.js';
import { createBuiltinSinkRegistry } from '../../../src/sinks/registry.js';
import { createDynamoReplayStore } from '../../../src/stores/aws/dynamodb-replay-store.js';
import { createRouterTables, defaultRouterTableNames } from '../../../src/stores/aws/dynamodb-tables.js';
import { requireAttributeNamePlaceholders } from '../../helpers/dynamodb.js';
import { randomId } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const KEY = `replay-shared-key-${randomId()}`;

describe.skipIf(motoUnavailable)('config API replicas sharing a DynamoDB replay store', () => {
  let moto: MotoServer;
  let client: DynamoDBClient;
  let documentClient: DynamoDBDocumentClient;
  let replayTable: string;
  let stores: LocalStores;

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    client = new DynamoDBClient(awsClientConfig(moto.settings));
    requireAttributeNamePlaceholders(client);
    documentClient = DynamoDBDocumentClient.from(client);
    const tables = defaultRouterTableNames(`configs-${randomId()}`);
    replayTable = tables.replay;
    await createRouterTables(client, tables);
    stores = openLocalStores(await makeTempDir('tlr-replay-shared-'));
  });

  afterAll(async () => {
    stores?.close();
    client?.destroy();
    await moto?.stop();
    await removeTempDirs();
  });

  /** One API replica: its own app, registry and replay-store instance, on the shared table. */
  function replica(mode: ApiAuthOptions['mode']) {
    const registry = new Registry();
    const replayStore = createDynamoReplayStore({ client: documentClient, tableName: replayTable });
    const auth: ApiAuthOptions =
      mode === 'verify' ? { mode, psk: { keys: async () => [KEY] }, replayStore } : { mode, replayStore };
    const service = createConfigService(localConfigServiceDeps(stores, silentLogger, registry));
    const app = createApiApp({
      logger: silentLogger,
      registry,
      version: 'test',
      configApi: { service, sinks: createBuiltinSinkRegistry(), auth },
    });
    return { app, registry };
  }

  function signedPost(tenant: string) {
    const url = `/api/v1/tenants/${tenant}/delivery-configs`;
    const body = JSON.stringify({ type: 'file', enabled: true, directory: `out/${randomId()}` });
    const headers = {
      ...signRequest({ method: 'POST', pathAndQuery: url, timestamp: new Date().toISOString(), body, key: KEY }),
      'content-type': 'application/json',
      [PRINCIPAL_HEADER]: 'psk:current',
    };
    return { method: 'POST' as const, url, payload: body, headers };
  }

  describe.each(['verify', 'authorizer'] as const)('in %s mode', (mode) => {
    it('refuses with 401 a POST replayed from one replica to the other', async () => {
      // Prepare
      const first = replica(mode);
      const second = replica(mode);
      const request = signedPost(`tenant-${randomId()}`);

      // Act
      const original = await first.app.inject(request);
      const replayed = await second.app.inject(request);

      // Assess
      expect(original.statusCode).toBe(201);
      expect(replayed.statusCode).toBe(401);
      expect(replayed.json().error.code).toBe('unauthorized');
      expect(await metricValue(second.registry, 'tlr_api_auth_failures_total', { reason: 'replay' })).toBe(1);
      await first.app.close();
      await second.app.close();
    });

    it('accepts on the other replica a request signed anew', async () => {
      // Prepare
      const first = replica(mode);
      const second = replica(mode);
      const tenant = `tenant-${randomId()}`;

      // Act
      const onFirst = await first.app.inject(signedPost(tenant));
      const onSecond = await second.app.inject(signedPost(`${tenant}-b`));

      // Assess
      expect(onFirst.statusCode).toBe(201);
      expect(onSecond.statusCode).toBe(201);
      await first.app.close();
      await second.app.close();
    });
  });
});
