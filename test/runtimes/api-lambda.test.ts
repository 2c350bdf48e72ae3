import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigService } from '../../src/admin/index.js';
import { createApiApp } from '../../src/api/app.js';
import { signRequest } from '../../src/api/auth/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { openLocalStores } from '../../src/runtimes/local-stores.js';
import { createBuiltinSinkRegistry } from '../../src/sinks/registry.js';
import {
  ANONYMOUS_PRINCIPAL,
  type ApiGatewayProxyResult,
  createApiGatewayHandler,
  createAuthorizerHandler,
} from '../../src/runtimes/api-lambda.js';
import {
  type ClientRequest,
  httpAuthorizerEventFactory,
  httpProxyEventFactory,
  restAuthorizerEventFactory,
  restProxyEventFactory,
} from '../helpers/api-gateway-events.js';
import { randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const CURRENT_KEY = `current-${randomId()}-${randomId()}`;
const PREVIOUS_KEY = `previous-${randomId()}-${randomId()}`;
const NOW_MS = Date.UTC(2026, 2, 14, 9, 30, 0);
const PNG_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x10]);

/** What the echo app saw of a request. */
interface Echo {
  method: string;
  url: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  bodyBase64: string | null;
}

const apps: FastifyInstance[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await removeTempDirs();
});

/** A tiny real Fastify app that echoes what reached it, plus a binary and a cookie route. */
function echoApp(): FastifyInstance {
  const app = Fastify({ logger: false });
  apps.push(app);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.get('/api/v1/logo.png', async (_request, reply) => reply.type('image/png').send(PNG_BYTES));
  app.get('/api/v1/cookies', async (_request, reply) => reply.header('set-cookie', ['a=1; Path=/', 'b=2; Path=/']).send({ ok: true }));
  app.all('/*', async (request): Promise<Echo> => ({
    method: request.method,
    url: request.url,
    query: request.query as Echo['query'],
    headers: request.headers,
    bodyBase64: Buffer.isBuffer(request.body) ? request.body.toString('base64') : null,
  }));
  return app;
}

function echoOf(result: ApiGatewayProxyResult): Echo {
  expect(result.statusCode).toBe(200);
  expect(result.isBase64Encoded).toBe(false);
  return JSON.parse(result.body) as Echo;
}

/** A request signed as a client signs it. */
function signed(
  method: string,
  pathAndQuery: string,
  options: { key?: string; timestampMs?: number; body?: string; signedPathAndQuery?: string } = {},
): ClientRequest {
  const { key = CURRENT_KEY, timestampMs = NOW_MS, body, signedPathAndQuery = pathAndQuery } = options;
  const headers = signRequest({
    method,
    pathAndQuery: signedPathAndQuery,
    timestamp: new Date(timestampMs).toISOString(),
    key,
    ...(body !== undefined && { body }),
  });
  return {
    method,
    pathAndQuery,
    headers: {
      Authorization: headers.authorization,
      'X-API-Timestamp': headers['x-api-timestamp'],
      'X-Body-SHA256': headers['x-body-sha256'],
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
    },
    ...(body !== undefined && { body }),
  };
}

const authorizer = () =>
  createAuthorizerHandler({ psk: { keys: async () => [CURRENT_KEY, PREVIOUS_KEY] }, now: () => NOW_MS });

describe('createApiGatewayHandler', () => {
  describe.each([
    { payload: 'REST API (1.0)', event: restProxyEventFactory },
    { payload: 'HTTP API (2.0)', event: httpProxyEventFactory },
  ])('with $payload events', ({ event }) => {
    it('hands method, stageless path, query, headers and body to the app', async () => {
      // Prepare
      const handle = createApiGatewayHandler(echoApp);
      const body = JSON.stringify({ type: 'file', directory: '/srv/ü' });
      const request: ClientRequest = {
        method: 'PUT',
        pathAndQuery: '/api/v1/tenants/acme/delivery-configs/file:archive?cursor=a%2Fb%20c&limit=10',
        headers: { 'Content-Type': 'application/json', 'X-Custom': 'yes' },
        body,
      };

      // Act
      const echo = echoOf(await handle(event(request, { stage: 'prod' })));

      // Assess
      expect(echo).toMatchObject({
        method: 'PUT',
        url: '/api/v1/tenants/acme/delivery-configs/file:archive?cursor=a%2Fb%20c&limit=10',
        query: { cursor: 'a/b c', limit: '10' },
        headers: { 'content-type': 'application/json', 'x-custom': 'yes', 'content-length': String(Buffer.byteLength(body)) },
        bodyBase64: Buffer.from(body).toString('base64'),
      });
    });

    it('decodes a base64 body to the bytes the client sent', async () => {
      // Prepare
      const handle = createApiGatewayHandler(echoApp);
      const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);

      // Act
      const echo = echoOf(
        await handle(
          event(
            { method: 'POST', pathAndQuery: '/api/v1/upload', headers: { 'content-type': 'application/octet-stream' }, body: bytes },
            { base64: true },
          ),
        ),
      );

      // Assess
      expect(Buffer.from(echo.bodyBase64!, 'base64')).toEqual(bytes);
    });

    it('passes the authorizer principal and drops one the client sent', async () => {
      // Prepare
      const handle = createApiGatewayHandler(echoApp);
      const request = { method: 'GET', pathAndQuery: '/api/v1/delivery-configs', headers: { 'X-TLR-Principal': 'psk:forged' } };

      // Act
      const withPrincipal = echoOf(await handle(event(request, { principal: 'psk:previous' })));
      const withoutPrincipal = echoOf(await handle(event(request)));

      // Assess
      expect(withPrincipal.headers['x-tlr-principal']).toBe('psk:previous');
      expect(withoutPrincipal.headers).not.toHaveProperty('x-tlr-principal');
    });

    it('keeps a first path segment named like the stage on a custom domain', async () => {
      // Prepare
      const handle = createApiGatewayHandler(echoApp);

      // Act
      const echo = echoOf(
        await handle(event({ method: 'GET', pathAndQuery: '/api/v1/health' }, { stage: 'api', domainName: 'config.example.com' })),
      );

      // Assess
      expect(echo.url).toBe('/api/v1/health');
    });

    it('removes a stage named like the first path segment on the execute-api host', async () => {
      // Prepare
      const handle = createApiGatewayHandler(echoApp);

      // Act
      const echo = echoOf(await handle(event({ method: 'GET', pathAndQuery: '/api/v1/health' }, { stage: 'api' })));

      // Assess
      expect(echo.url).toBe('/api/v1/health');
    });

    it('returns a binary answer base64-encoded and a JSON answer as text', async () => {
      // Prepare
      const handle = createApiGatewayHandler(echoApp);

      // Act
      const png = await handle(event({ method: 'GET', pathAndQuery: '/api/v1/logo.png' }));
      const json = await handle(event({ method: 'GET', pathAndQuery: '/api/v1/anything' }));

      // Assess
      expect(png).toMatchObject({ statusCode: 200, isBase64Encoded: true, headers: { 'content-type': 'image/png' } });
      expect(Buffer.from(png.body, 'base64')).toEqual(PNG_BYTES);
      expect(json.isBase64Encoded).toBe(false);
      expect(json.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(json.body)).toMatchObject({ url: '/api/v1/anything' });
    });

    it('builds the app once and reuses it for later invocations', async () => {
      // Prepare
      let built = 0;
      const handle = createApiGatewayHandler(() => {
        built++;
        return echoApp();
      });

      // Act
      await Promise.all([handle(event({ method: 'GET', pathAndQuery: '/a' })), handle(event({ method: 'GET', pathAndQuery: '/b' }))]);
      await handle(event({ method: 'GET', pathAndQuery: '/c' }));

      // Assess
      expect(built).toBe(1);
    });
  });

  it('tries the app factory again after it failed', async () => {
    // Prepare
    let attempts = 0;
    const handle = createApiGatewayHandler(() => {
      attempts++;
      if (attempts === 1) throw new Error('Secrets Manager unreachable');
      return echoApp();
    });
    const event = httpProxyEventFactory({ method: 'GET', pathAndQuery: '/api/v1/health' });

    // Act
    const first = await handle(event).then(
      () => 'ok',
      (error: Error) => error.message,
    );
    const second = await handle(event);

    // Assess
    expect(first).toBe('Secrets Manager unreachable');
    expect(second.statusCode).toBe(200);
    expect(attempts).toBe(2);
  });

  it('hands an HTTP API query over exactly as sent', async () => {
    // Prepare
    const handle = createApiGatewayHandler(echoApp);

    // Act
    const echo = echoOf(await handle(httpProxyEventFactory({ method: 'GET', pathAndQuery: '/api/v1/x?q=x+y&c=a%2fb' })));

    // Assess
    expect(echo.url).toBe('/api/v1/x?q=x+y&c=a%2fb');
  });

  it('rebuilds a REST API query encoded from the decoded parameters', async () => {
    // Prepare
    const handle = createApiGatewayHandler(echoApp);

    // Act
    const echo = echoOf(await handle(restProxyEventFactory({ method: 'GET', pathAndQuery: '/api/v1/x?q=x+y&c=a%2fb&c=d' })));

    // Assess
    expect(echo.url).toBe('/api/v1/x?q=x%20y&c=a%2Fb&c=d');
    expect(echo.query).toEqual({ q: 'x y', c: ['a/b', 'd'] });
  });

  it('escapes characters an HTTP API hands over decoded in the path', async () => {
    // Prepare
    const handle = createApiGatewayHandler(echoApp);
    const event = httpProxyEventFactory({ method: 'GET', pathAndQuery: '/api/v1/tenants/a bé#/status' });

    // Act
    const echo = echoOf(await handle(event));

    // Assess
    expect(echo.url).toBe('/api/v1/tenants/a%20b%C3%A9%23/status');
  });

  it('answers several cookies as multiValueHeaders for a REST API and as cookies for an HTTP API', async () => {
    // Prepare
    const handle = createApiGatewayHandler(echoApp);
    const request = { method: 'GET', pathAndQuery: '/api/v1/cookies' };

    // Act
    const rest = await handle(restProxyEventFactory(request));
    const http = await handle(httpProxyEventFactory(request));

    // Assess
    expect(rest.multiValueHeaders).toEqual({ 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'] });
    expect(rest.headers).not.toHaveProperty('set-cookie');
    expect(http.cookies).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(http.headers).not.toHaveProperty('set-cookie');
  });

  it('passes repeated REST API headers as a list and HTTP API cookies as one Cookie header', async () => {
    // Prepare
    const handle = createApiGatewayHandler(echoApp);

    // Act
    const rest = echoOf(await handle(restProxyEventFactory({ method: 'GET', pathAndQuery: '/x', headers: { 'X-Many': ['1', '2'] } })));
    const http = echoOf(await handle(httpProxyEventFactory({ method: 'GET', pathAndQuery: '/x', headers: { Cookie: 'a=1; b=2' } })));

    // Assess
    expect(rest.headers['x-many']).toMatch(/^1, ?2$/);
    expect(http.headers['cookie']).toBe('a=1; b=2');
  });
});

describe('createAuthorizerHandler for a REST API', () => {
  it('allows a signed request with the current key for its methodArn', async () => {
    // Prepare
    const event = restAuthorizerEventFactory(signed('GET', '/api/v1/tenants/acme/delivery-configs'));

    // Act
    const result = await authorizer()(event);

    // Assess
    expect(result).toEqual({
      principalId: 'psk:current',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: { principalId: 'psk:current' },
    });
  });

  it('allows a request signed with the previous key as psk:previous', async () => {
    // Prepare
    const event = restAuthorizerEventFactory(
      signed('POST', '/api/v1/tenants/acme/delivery-configs', { key: PREVIOUS_KEY, body: '{"type":"file"}' }),
    );

    // Act
    const result = await authorizer()(event);

    // Assess
    expect(result.principalId).toBe('psk:previous');
  });

  it.each([
    { case: 'a wrong key', request: () => signed('GET', '/api/v1/delivery-configs', { key: `wrong-${randomId()}-key` }) },
    { case: 'a stale timestamp', request: () => signed('GET', '/api/v1/delivery-configs', { timestampMs: NOW_MS - 301_000 }) },
    {
      case: 'a tampered query',
      request: () => signed('GET', '/api/v1/delivery-configs?limit=1000', { signedPathAndQuery: '/api/v1/delivery-configs?limit=10' }),
    },
    { case: 'no signature headers', request: (): ClientRequest => ({ method: 'GET', pathAndQuery: '/api/v1/delivery-configs' }) },
    {
      case: 'a signature sent twice',
      request: (): ClientRequest => {
        const once = signed('GET', '/api/v1/delivery-configs');
        const authorization = once.headers!['Authorization'] as string;
        return { ...once, headers: { ...once.headers, Authorization: [authorization, authorization] } };
      },
    },
  ])('fails with Unauthorized for $case', async ({ request }) => {
    // Prepare
    const event = restAuthorizerEventFactory(request());

    // Act
    const outcome = authorizer()(event);

    // Assess
    await expect(outcome).rejects.toThrow(/^Unauthorized$/);
  });

  it('allows the health route without any header', async () => {
    // Prepare
    const event = restAuthorizerEventFactory({ method: 'GET', pathAndQuery: '/api/v1/health' });

    // Act
    const result = await authorizer()(event);

    // Assess
    expect(result.principalId).toBe(ANONYMOUS_PRINCIPAL);
    expect(result.policyDocument.Statement[0]!.Effect).toBe('Allow');
  });

  it('verifies a query signed encoded as createApiClient encodes it', async () => {
    // Prepare
    const pathAndQuery = `/api/v1/delivery-configs?limit=10&cursor=${encodeURIComponent('a/b c+d')}`;

    // Act
    const result = await authorizer()(restAuthorizerEventFactory(signed('GET', pathAndQuery)));

    // Assess
    expect(result.principalId).toBe('psk:current');
  });

  it('verifies the decoded-query form for a query the REST API cannot hand over as sent', async () => {
    // Prepare
    const sent = '/api/v1/delivery-configs?cursor=x+y&limit=10';
    const signedRaw = signed('GET', sent);
    const signedDecoded = signed('GET', sent, { signedPathAndQuery: '/api/v1/delivery-configs?cursor=x y&limit=10' });

    // Act
    const raw = authorizer()(restAuthorizerEventFactory(signedRaw));
    const decoded = await authorizer()(restAuthorizerEventFactory(signedDecoded));

    // Assess
    await expect(raw).rejects.toThrow(/^Unauthorized$/);
    expect(decoded.principalId).toBe('psk:current');
  });

  it('fails with the key source error, not Unauthorized, when no keys can be had', async () => {
    // Prepare
    const handle = createAuthorizerHandler({
      psk: { keys: () => Promise.reject(new Error('The secret tlr/api-psk does not exist.')) },
      now: () => NOW_MS,
    });

    // Act
    const outcome = handle(restAuthorizerEventFactory(signed('GET', '/api/v1/delivery-configs')));

    // Assess
    await expect(outcome).rejects.toThrow('The secret tlr/api-psk does not exist.');
  });

  it('refuses an event that is not a REQUEST authorizer event as a configuration error', async () => {
    // Prepare
    const tokenEvent = { type: 'TOKEN', authorizationToken: 'x', methodArn: undefined } as never;

    // Act
    const outcome = authorizer()(tokenEvent);

    // Assess
    await expect(outcome).rejects.toThrow(/needs REQUEST events/);
  });
});

describe('createAuthorizerHandler for an HTTP API', () => {
  it.each([
    { key: CURRENT_KEY, principal: 'psk:current' },
    { key: PREVIOUS_KEY, principal: 'psk:previous' },
  ])('authorizes a request signed with a known key as $principal', async ({ key, principal }) => {
    // Prepare
    const event = httpAuthorizerEventFactory(
      signed('PATCH', '/api/v1/tenants/acme/delivery-configs/file:archive', { key, body: '{"enabled":false}' }),
    );

    // Act
    const result = await authorizer()(event);

    // Assess
    expect(result).toEqual({ isAuthorized: true, context: { principalId: principal } });
  });

  it('verifies the query exactly as sent, in either signing form', async () => {
    // Prepare
    const sent = '/api/v1/delivery-configs?cursor=x+y%2Fz&limit=10';
    const raw = signed('GET', sent);
    const decoded = signed('GET', sent, { signedPathAndQuery: '/api/v1/delivery-configs?cursor=x y/z&limit=10' });

    // Act
    const results = [
      await authorizer()(httpAuthorizerEventFactory(raw)),
      await authorizer()(httpAuthorizerEventFactory(decoded)),
    ];

    // Assess
    expect(results.map((r) => r.isAuthorized)).toEqual([true, true]);
  });

  it.each([
    { case: 'a wrong key', request: () => signed('GET', '/api/v1/delivery-configs', { key: `wrong-${randomId()}-key` }) },
    { case: 'a stale timestamp', request: () => signed('GET', '/api/v1/delivery-configs', { timestampMs: NOW_MS + 301_000 }) },
    {
      case: 'a tampered query',
      request: () => signed('GET', '/api/v1/delivery-configs?limit=1000', { signedPathAndQuery: '/api/v1/delivery-configs?limit=10' }),
    },
  ])('does not authorize $case', async ({ request }) => {
    // Prepare
    const event = httpAuthorizerEventFactory(request());

    // Act
    const result = await authorizer()(event);

    // Assess
    expect(result).toEqual({ isAuthorized: false });
  });

  it('authorizes the health route without any header', async () => {
    // Prepare
    const event = httpAuthorizerEventFactory({ method: 'GET', pathAndQuery: '/api/v1/health' }, { stage: 'live' });

    // Act
    const result = await authorizer()(event);

    // Assess
    expect(result).toEqual({ isAuthorized: true, context: { principalId: ANONYMOUS_PRINCIPAL } });
  });
});

describe('createAuthorizerHandler and createApiGatewayHandler together', () => {
  it('carries the principal the authorizer granted to the app as x-tlr-principal', async () => {
    // Prepare
    const request = signed('DELETE', '/api/v1/tenants/acme/delivery-configs/file', { key: PREVIOUS_KEY });
    const granted = await authorizer()(restAuthorizerEventFactory(request));
    const handle = createApiGatewayHandler(echoApp);

    // Act
    const echo = echoOf(await handle(restProxyEventFactory(request, { principal: granted.principalId })));

    // Assess
    expect(echo.headers['x-tlr-principal']).toBe('psk:previous');
    expect(echo.headers['authorization']).toBe(request.headers!['Authorization']);
  });
});

describe('the real config API behind the authorizer', () => {
  /** The app as the API Lambda builds it: config routes in `authorizer` auth mode over SQLite. */
  async function realApi() {
    const dir = await makeTempDir('tlr-api-lambda-');
    const stores = openLocalStores(dir);
    const registry = new Registry();
    const sinks = createBuiltinSinkRegistry();
    const service = createConfigService({
      store: stores.configs,
      audit: stores.audit,
      status: stores.status,
      deadLetters: stores.deadLetters,
      sinks,
      sinkDeps: { baseDir: dir, logger: silentLogger, registry },
    });
    const handle = createApiGatewayHandler(() => {
      const app = createApiApp({ logger: silentLogger, registry, version: '0.0.0-test', configApi: { service, sinks, auth: { mode: 'authorizer' } } });
      app.addHook('onClose', async () => stores.close());
      apps.push(app);
      return app;
    });
    return { handle, stores };
  }
  const now = () => Date.now();

  it('creates a config signed with the previous key, recording psk:previous as the actor', async () => {
    // Prepare
    const { handle, stores } = await realApi();
    const tenant = `t-${randomId()}`;
    const body = JSON.stringify({ type: 'file', directory: 'out' });
    const request = signed('POST', `/api/v1/tenants/${tenant}/delivery-configs`, { key: PREVIOUS_KEY, body, timestampMs: now() });
    const check = createAuthorizerHandler({ psk: { keys: async () => [CURRENT_KEY, PREVIOUS_KEY] } });
    const granted = await check(restAuthorizerEventFactory(request));

    // Act
    const created = await handle(restProxyEventFactory(request, { principal: granted.principalId }));
    const listed = await handle(
      httpProxyEventFactory(signed('GET', '/api/v1/delivery-configs?limit=10', { timestampMs: now() }), { principal: 'psk:current' }),
    );

    // Assess
    expect(created.statusCode).toBe(201);
    expect(JSON.parse(created.body)).toMatchObject({ tenant_id: tenant, type: 'file', directory: 'out' });
    expect(listed.statusCode).toBe(200);
    expect(JSON.parse(listed.body).items).toEqual([expect.objectContaining({ tenant_id: tenant })]);
    const audit = await stores.audit.list(tenant, { limit: 10 });
    expect(audit.entries.map((e) => e.actor)).toEqual(['psk:previous']);
  });

  it('refuses a request that reached the function without the authorizer, even with a principal header', async () => {
    // Prepare
    const { handle } = await realApi();
    const request = signed('GET', '/api/v1/delivery-configs', { timestampMs: now() });
    const spoofed = { ...request, headers: { ...request.headers, 'x-tlr-principal': 'psk:current' } };

    // Act
    const result = await handle(httpProxyEventFactory(spoofed));

    // Assess
    expect(result.statusCode).toBe(401);
    expect(JSON.parse(result.body)).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it('refuses a body that does not match the hash the authorizer saw signed', async () => {
    // Prepare
    const { handle } = await realApi();
    const tenant = `t-${randomId()}`;
    const request = signed('POST', `/api/v1/tenants/${tenant}/delivery-configs`, {
      body: JSON.stringify({ type: 'file', directory: 'out' }),
      timestampMs: now(),
    });
    const tampered = { ...request, body: JSON.stringify({ type: 'file', directory: '/etc' }) };

    // Act
    const result = await handle(restProxyEventFactory(tampered, { principal: 'psk:current' }));

    // Assess
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body)).toMatchObject({ error: { code: 'body_hash_mismatch' } });
  });
});
