import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConfigService } from '../../../src/admin/index.js';
import { createApiApp, PRINCIPAL_HEADER, type ApiAuthOptions } from '../../../src/api/index.js';
import { signRequest } from '../../../src/api/auth/hmac.js';
import { silentLogger } from '../../../src/logging/index.js';
import { localConfigServiceDeps } from '../../../src/runtimes/config-api-local.js';
import { type LocalStores, openLocalStores } from '../../../src/runtimes/local-stores.js';
import { createBuiltinSinkRegistry } from '../../../src/sinks/registry.js';
import { randomId } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const KEY = `plugin-test-key-${randomId()}`;
let stores: LocalStores;

beforeAll(async () => {
  stores = openLocalStores(await makeTempDir('tlr-auth-plugin-'));
});

afterAll(async () => {
  stores.close();
  await removeTempDirs();
});

function appWith(auth: ApiAuthOptions, registry = new Registry()) {
  const service = createConfigService(localConfigServiceDeps(stores, silentLogger, registry));
  return createApiApp({
    logger: silentLogger,
    registry,
    version: 'test',
    configApi: { service, sinks: createBuiltinSinkRegistry(), auth },
  });
}

function signed(path: string, timestamp = new Date().toISOString()) {
  return { ...signRequest({ method: 'GET', pathAndQuery: path, timestamp, key: KEY }) };
}

function signedDelete(path: string, timestamp = new Date().toISOString()) {
  return { ...signRequest({ method: 'DELETE', pathAndQuery: path, timestamp, key: KEY }) };
}

describe('config API authentication hook', () => {
  it('answers 503 without the key source\'s message when the key cannot be read, and counts it', async () => {
    // Prepare
    const registry = new Registry();
    const app = appWith(
      {
        mode: 'verify',
        psk: { keys: () => Promise.reject(new Error("Reading the secret 'prod/tlr-psk' failed (AccessDenied).")) },
      },
      registry,
    );
    const path = '/api/v1/delivery-configs';

    // Act
    const response = await app.inject({ method: 'GET', url: path, headers: signed(path) });

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      error: { code: 'service_unavailable', message: 'The API cannot check signatures right now; try again later.' },
    });
    expect(response.body).not.toContain('prod/tlr-psk');
    expect(response.headers['retry-after']).toBe('30');
    expect(await metricValue(registry, 'tlr_api_auth_failures_total', { reason: 'key_source_unavailable' })).toBe(1);
    await app.close();
  });

  it('behind the authorizer, refuses a request whose timestamp left the window (a cached authorizer result)', async () => {
    // Prepare
    const app = appWith({ mode: 'authorizer' });
    const path = '/api/v1/delivery-configs';
    const stale = new Date(Date.now() - 301_000).toISOString();

    // Act
    const fresh = await app.inject({ method: 'GET', url: path, headers: { ...signed(path), [PRINCIPAL_HEADER]: 'psk:current' } });
    const old = await app.inject({
      method: 'GET',
      url: path,
      headers: { ...signed(path, stale), [PRINCIPAL_HEADER]: 'psk:current' },
    });

    // Assess
    expect(fresh.statusCode).toBe(200);
    expect(old.statusCode).toBe(401);
    expect(old.json().error.code).toBe('unauthorized');
    await app.close();
  });

  it('behind the authorizer, reads the Authorization header as the authorizer does (scheme in any case)', async () => {
    // Prepare
    const app = appWith({ mode: 'authorizer' });
    const path = '/api/v1/delivery-configs';
    const headers = signed(path);
    const lowercase = { ...headers, authorization: headers.authorization.replace('HMAC-SHA256 ', 'hmac-sha256  ') };

    // Act
    const response = await app.inject({ method: 'GET', url: path, headers: { ...lowercase, [PRINCIPAL_HEADER]: 'psk:current' } });

    // Assess
    expect(response.statusCode).toBe(200);
    await app.close();
  });

  it('answers 503 without the store\'s message when the replay store fails, and counts it', async () => {
    // Prepare
    const registry = new Registry();
    const failing = () => Promise.reject(new Error("Requested resource not found: Table 'tlr-configs-replay'."));
    const app = appWith({ mode: 'verify', psk: { keys: async () => [KEY] }, replayStore: { remember: failing } }, registry);
    const path = `/api/v1/tenants/tenant-${randomId()}/delivery-configs/file`;

    // Act
    const response = await app.inject({ method: 'DELETE', url: path, headers: signedDelete(path) });
    const read = await app.inject({ method: 'GET', url: '/api/v1/delivery-configs', headers: signed('/api/v1/delivery-configs') });

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      error: { code: 'service_unavailable', message: 'The API cannot check for replays right now; try again later.' },
    });
    expect(response.body).not.toContain('tlr-configs-replay');
    expect(response.headers['retry-after']).toBe('30');
    expect(read.statusCode).toBe(200);
    expect(await metricValue(registry, 'tlr_api_auth_failures_total', { reason: 'replay_store_unavailable' })).toBe(1);
    await app.close();
  });

  it.each(['verify', 'authorizer'] as const)(
    'in %s mode, remembers a signature until its timestamp + the skew, not first-seen + a ttl',
    async (mode) => {
      // Prepare
      const remembered: [string, number][] = [];
      const replayStore = {
        remember: async (signature: string, expiresAtMs: number) => {
          remembered.push([signature, expiresAtMs]);
          return false;
        },
      };
      const auth: ApiAuthOptions =
        mode === 'verify'
          ? { mode, psk: { keys: async () => [KEY] }, maxSkewMs: 60_000, replayStore }
          : { mode, maxSkewMs: 60_000, replayStore };
      const app = appWith(auth);
      const path = `/api/v1/tenants/tenant-${randomId()}/delivery-configs/file`;
      const signedAtMs = Date.now() - 30_000;
      const headers = { ...signedDelete(path, new Date(signedAtMs).toISOString()), [PRINCIPAL_HEADER]: 'psk:current' };

      // Act
      await app.inject({ method: 'DELETE', url: path, headers });

      // Assess
      expect(remembered).toEqual([[headers.authorization.split(' ')[1], signedAtMs + 60_000]]);
      await app.close();
    },
  );
});
