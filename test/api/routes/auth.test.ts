import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_BODY_SHA256, signRequest } from '../../../src/api/auth/hmac.js';
import {
  apiPath,
  type ApiCallOptions,
  type ApiResponse,
  type ConfigApiServer,
  configBodyFactory,
  expectApiError,
  type OpenConfigApiStores,
  sqliteConfigApiBackend,
  startConfigApiServer,
  tenantIdFactory,
} from '../../helpers/api.js';
import { randomId } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';

/**
 * Authentication of the config API over real HTTP (`fetch` against the app listening on
 * 127.0.0.1), as docs/api-auth.md describes it. The server's auth clock is fixed, so the
 * ±300 s window is tested to the millisecond without waiting.
 */

const AUTH_FAILURES = 'tlr_api_auth_failures_total';
const MAX_SKEW_MS = 300_000;

describe('config API authentication over real HTTP', () => {
  const currentKey = `current-${randomId()}`;
  const previousKey = `previous-${randomId()}`;
  const serverNowMs = Date.now();
  let stores: OpenConfigApiStores;
  let server: ConfigApiServer;

  /** Sends a request and asserts a 401 in the one error shape, counted under `reason`. */
  async function expectRefused(
    reason: string,
    send: () => Promise<ApiResponse>,
  ): Promise<{ code: string; message: string }> {
    const before = await metricValue(server.registry, AUTH_FAILURES, { reason });
    const response = await send();
    const error = expectApiError(response, 401, 'unauthorized');
    expect(response.headers['www-authenticate']).toBe('HMAC-SHA256');
    expect(await metricValue(server.registry, AUTH_FAILURES, { reason })).toBe(before + 1);
    return error;
  }

  /** A config to read in tests that only need an authenticated route to answer. */
  async function tenantWithConfig(): Promise<string> {
    const tenant = tenantIdFactory();
    const response = await server.call('POST', apiPath.configs(tenant), configBodyFactory('file'));
    expect(response.status).toBe(201);
    return tenant;
  }

  beforeAll(async () => {
    stores = await sqliteConfigApiBackend().open();
    server = await startConfigApiServer(stores, { keys: [currentKey, previousKey], now: () => serverNowMs });
  });

  afterAll(async () => {
    await server?.close();
    await stores?.close();
  });

  afterEach(() => {
    expect(server.takeServerErrors()).toEqual([]);
  });

  describe('missing and malformed headers', () => {
    it.each([
      ['authorization', 'Authorization'],
      ['x-api-timestamp', 'X-API-Timestamp'],
      ['x-body-sha256', 'X-Body-SHA256'],
    ])('refuses a request without %s (401)', async (header, named) => {
      // Prepare
      const tenant = await tenantWithConfig();

      // Act
      const error = await expectRefused('missing_header', () =>
        server.call('GET', apiPath.config(tenant, 'file'), undefined, { headers: { [header]: undefined } }),
      );

      // Assess
      expect(error.message).toContain(named);
    });

    it('refuses a request without any auth header (401)', async () => {
      // Act
      const error = await expectRefused('missing_header', () =>
        server.call('GET', apiPath.allConfigs(), undefined, { unsigned: true }),
      );

      // Assess
      expect(error.message).toMatch(/Authorization, X-API-Timestamp, X-Body-SHA256/);
    });

    it.each<[string, string, ApiCallOptions]>([
      ['a Bearer token', 'malformed_header', { headers: { authorization: 'Bearer abc' } }],
      ['a signature that is not hex', 'malformed_header', { headers: { authorization: `HMAC-SHA256 ${'z'.repeat(64)}` } }],
      ['a short signature', 'malformed_header', { headers: { authorization: 'HMAC-SHA256 abcd' } }],
      ['a body hash that is not hex', 'malformed_header', { headers: { 'x-body-sha256': 'not-a-hash' } }],
      ['a timestamp that does not parse', 'bad_timestamp', { headers: { 'x-api-timestamp': 'yesterday' } }],
      ['a timestamp with an offset', 'bad_timestamp', { timestamp: new Date(serverNowMs).toISOString().replace('Z', '+00:00') }],
      ['a timestamp of 31 February', 'bad_timestamp', { timestamp: '2024-02-31T12:00:00Z' }],
    ])('refuses %s (401 %s)', async (_name, reason, options) => {
      // Act
      const error = await expectRefused(reason, () => server.call('GET', apiPath.allConfigs(), undefined, options));

      // Assess
      expect(error.message).toMatch(/\S/);
    });
  });

  describe('the ±300 s window', () => {
    it.each([
      ['1 ms more than 300 s behind', -MAX_SKEW_MS - 1],
      ['1 ms more than 300 s ahead', MAX_SKEW_MS + 1],
      ['a day behind', -86_400_000],
      ['a day ahead', 86_400_000],
    ])('refuses a timestamp %s (401)', async (_name, offsetMs) => {
      // Prepare
      const timestamp = new Date(serverNowMs + offsetMs).toISOString();

      // Act
      const error = await expectRefused('stale_timestamp', () =>
        server.call('GET', apiPath.allConfigs(), undefined, { timestamp }),
      );

      // Assess
      expect(error.message).toContain(offsetMs < 0 ? 'behind' : 'ahead of');
    });

    it.each([
      ['exactly 300 s behind', new Date(serverNowMs - MAX_SKEW_MS).toISOString()],
      ['exactly 300 s ahead', new Date(serverNowMs + MAX_SKEW_MS).toISOString()],
      ['without a zone (read as UTC)', new Date(serverNowMs).toISOString().replace('Z', '')],
      ['without a fraction', `${new Date(serverNowMs).toISOString().slice(0, 19)}Z`],
    ])('accepts a timestamp %s', async (_name, timestamp) => {
      // Prepare
      const tenant = await tenantWithConfig();

      // Act
      const response = await server.call('GET', apiPath.config(tenant, 'file'), undefined, { timestamp });

      // Assess
      expect(response.status, response.text).toBe(200);
    });
  });

  describe('keys', () => {
    it('refuses a request signed with a key the server does not hold (401)', async () => {
      // Prepare
      const tenant = tenantIdFactory();

      // Act
      await expectRefused('bad_signature', () =>
        server.call('POST', apiPath.configs(tenant), configBodyFactory('file'), { key: `retired-${randomId()}` }),
      );

      // Assess
      expect((await server.call('GET', apiPath.configs(tenant))).body).toEqual({ items: [] });
    });

    it.each([
      ['current', () => currentKey, 'psk:current'],
      ['previous', () => previousKey, 'psk:previous'],
    ])('accepts the %s key during rotation and audits the change as %s', async (_name, key, actor) => {
      // Prepare
      const tenant = tenantIdFactory();

      // Act
      const response = await server.call('POST', apiPath.configs(tenant), configBodyFactory('file'), { key: key() });

      // Assess
      expect(response.status, response.text).toBe(201);
      const audit = await server.call('GET', apiPath.audit(tenant));
      expect(audit.body.items).toEqual([expect.objectContaining({ action: 'create', actor })]);
    });
  });

  describe('what the signature covers', () => {
    it('refuses a body other than the one hashed with 400 body_hash_mismatch, storing nothing', async () => {
      // Prepare
      const tenant = tenantIdFactory();
      const body = configBodyFactory('file');
      const signed = JSON.stringify({ ...body, enabled: true });
      const sent = JSON.stringify({ ...body, enabled: false });

      // Act
      const response = await server.call('POST', apiPath.configs(tenant), undefined, { rawBody: sent, signedBody: signed });

      // Assess
      expectApiError(response, 400, 'body_hash_mismatch');
      expect((await server.call('GET', apiPath.configs(tenant))).body).toEqual({ items: [] });
    });

    it('refuses a request without a body that claims one with 400 body_hash_mismatch', async () => {
      // Prepare
      const tenant = await tenantWithConfig();

      // Act
      const response = await server.call('DELETE', apiPath.config(tenant, 'file'), undefined, { signedBody: '{}' });

      // Assess
      const error = expectApiError(response, 400, 'body_hash_mismatch');
      expect(error.message).toContain(EMPTY_BODY_SHA256);
      expect((await server.call('GET', apiPath.config(tenant, 'file'))).status).toBe(200);
    });

    it.each([
      ['a changed query', '?limit=2', '?limit=1'],
      ['an added query', '?limit=2', ''],
      ['a removed query', '', '?limit=2'],
    ])('refuses %s (401)', async (_name, sentQuery, signedQuery) => {
      // Act
      await expectRefused('bad_signature', () =>
        server.call('GET', apiPath.allConfigs(sentQuery), undefined, { signedPathAndQuery: apiPath.allConfigs(signedQuery) }),
      );
    });

    it("refuses a request sent to another tenant's path than the one signed (401)", async () => {
      // Prepare
      const victim = await tenantWithConfig();
      const signedFor = tenantIdFactory();

      // Act
      await expectRefused('bad_signature', () =>
        server.call('DELETE', apiPath.config(victim, 'file'), undefined, { signedPathAndQuery: apiPath.config(signedFor, 'file') }),
      );

      // Assess
      expect((await server.call('GET', apiPath.config(victim, 'file'))).status).toBe(200);
    });

    it('refuses a request sent with another method than the one signed (401)', async () => {
      // Prepare
      const tenant = await tenantWithConfig();
      const path = apiPath.config(tenant, 'file');
      const signedAsGet = signRequest({ method: 'GET', pathAndQuery: path, timestamp: server.timestamp(), key: currentKey });

      // Act
      await expectRefused('bad_signature', () => server.call('DELETE', path, undefined, { headers: { ...signedAsGet } }));

      // Assess
      expect((await server.call('GET', path)).status).toBe(200);
    });
  });

  describe('replays', () => {
    it('refuses the same signed POST a second time (401), creating once', async () => {
      // Prepare
      const tenant = tenantIdFactory();
      const body = configBodyFactory('file');
      const options = { timestamp: server.timestamp() };
      const first = await server.call('POST', apiPath.configs(tenant), body, options);

      // Act
      const error = await expectRefused('replay', () => server.call('POST', apiPath.configs(tenant), body, options));

      // Assess
      expect(first.status).toBe(201);
      expect(error.message).toContain('already received');
      const audit = await server.call('GET', apiPath.audit(tenant));
      expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['create']);
    });

    it('refuses the same signed DELETE a second time with 401, not 404', async () => {
      // Prepare
      const tenant = await tenantWithConfig();
      const options = { timestamp: server.timestamp() };
      const first = await server.call('DELETE', apiPath.config(tenant, 'file'), undefined, options);

      // Act
      await expectRefused('replay', () => server.call('DELETE', apiPath.config(tenant, 'file'), undefined, options));

      // Assess
      expect(first.status).toBe(204);
    });

    it('answers the same signed GET every time', async () => {
      // Prepare
      const tenant = await tenantWithConfig();
      const options = { timestamp: server.timestamp() };

      // Act
      const responses = [
        await server.call('GET', apiPath.config(tenant, 'file'), undefined, options),
        await server.call('GET', apiPath.config(tenant, 'file'), undefined, options),
        await server.call('GET', apiPath.config(tenant, 'file'), undefined, options),
      ];

      // Assess
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    });
  });

  describe('the signed form of the query', () => {
    const rawQuery = '?limit=5&note=caf%C3%A9&q=x+y&path=a%2Fb%23c';
    const decodedQuery = '?limit=5&note=café&q=x y&path=a/b#c';

    it.each([
      ['raw, as sent', rawQuery],
      ['decoded (%XX and + as a space, in the order sent)', decodedQuery],
    ])('accepts the query signed %s', async (_name, signedQuery) => {
      // Prepare
      const tenant = await tenantWithConfig();

      // Act
      const response = await server.call('GET', apiPath.audit(tenant, rawQuery), undefined, {
        signedPathAndQuery: apiPath.audit(tenant, signedQuery),
      });

      // Assess
      expect(response.status, response.text).toBe(200);
      expect(response.body.items).toHaveLength(1);
    });

    it('refuses a decoded signature when the decoded query is ambiguous (401), and accepts the raw one', async () => {
      // Prepare
      const tenant = await tenantWithConfig();
      const sent = apiPath.audit(tenant, '?limit=5&note=a%26b');

      // Act
      const decoded = await server.call('GET', sent, undefined, { signedPathAndQuery: apiPath.audit(tenant, '?limit=5&note=a&b') });
      const raw = await server.call('GET', sent);

      // Assess
      expectApiError(decoded, 401, 'unauthorized');
      expect(raw.status).toBe(200);
    });
  });

  describe('routes without authentication', () => {
    it.each([
      ['health', apiPath.health(), 200],
      ['the OpenAPI document', apiPath.openapi(), 200],
    ])('serves %s without a signature', async (_name, path, status) => {
      // Act
      const response = await server.call('GET', path, undefined, { unsigned: true });

      // Assess
      expect(response.status).toBe(status);
    });
  });
});

describe('the test vectors of docs/api-auth.md over real HTTP', () => {
  let stores: OpenConfigApiStores;
  let server: ConfigApiServer;

  beforeAll(async () => {
    stores = await sqliteConfigApiBackend().open();
    server = await startConfigApiServer(stores, {
      keys: ['tlr-test-psk-current'],
      now: () => Date.parse('2024-05-01T12:00:00Z'),
    });
  });

  afterAll(async () => {
    await server?.close();
    await stores?.close();
  });

  it.each([
    ['raw', 'b722087da2307614652ff78b894e6b67e7bfc1ff26a8716a68d5310daff8a46e'],
    ['decoded', '89d90ad8cce75c7b3707eceb709f51fb221270759d47db123093af956f499f75'],
  ])('passes authentication with the %s-query signature of vector 2', async (_form, signature) => {
    // Prepare
    const headers = {
      authorization: `HMAC-SHA256 ${signature}`,
      'x-api-timestamp': '2024-05-01T12:00:00Z',
      'x-body-sha256': EMPTY_BODY_SHA256,
    };

    // Act
    const response = await server.call('GET', '/api/v1/delivery-configs?cursor=a%2Fb%23c&name=caf%C3%A9&q=x+y&limit=10', undefined, {
      unsigned: true,
      headers,
    });

    // Assess: past authentication, the route refuses the vector's made-up cursor.
    expectApiError(response, 400, 'bad_cursor');
  });

  it('passes authentication with the signature of vector 1 and creates the config', async () => {
    // Prepare
    const body = '{"tenant_id":"acme","type":"cloudwatch","log_group_name":"/acme/app"}';
    const headers = {
      authorization: 'HMAC-SHA256 32a20be64b14a0c9999834fabf99b30a383e76135c2100bbbea0120b9904182f',
      'x-api-timestamp': '2024-05-01T12:00:00Z',
      'x-body-sha256': '1a0749b989239aea65ab1ad7b6030f87258077df57801d460fd2999368221df9',
      'content-type': 'application/json',
    };

    // Act
    const response = await server.call('POST', '/api/v1/tenants/acme/delivery-configs', undefined, {
      unsigned: true,
      rawBody: body,
      headers,
    });

    // Assess: past authentication and the body check, the vector's config lacks a role ARN.
    const error = expectApiError(response, 422, 'validation_failed');
    expect(error.details).toEqual([{ field: 'log_distribution_role_arn', message: 'is required' }]);
  });
});
