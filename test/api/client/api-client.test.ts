import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyHashMatches, EMPTY_BODY_SHA256, verifySignature } from '../../../src/api/auth/index.js';
import {
  type ApiClient,
  ApiClientError,
  ApiClientErrorCode,
  type ApiClientOptions,
  createApiClient,
} from '../../../src/api/client/index.js';
import { randomId } from '../../helpers/factories.js';

/** A request as the test server received it, after its signature and body hash verified. */
interface ReceivedRequest {
  method: string;
  /** The URL the signature was checked against (a stage prefix removed). */
  url: string;
  /** The URL as sent. */
  originalUrl: string;
  headers: FastifyRequest['headers'];
  body: Buffer;
  query: Record<string, string>;
}

/** A scripted answer that replaces the next route's, after authentication. */
type Scripted = (reply: FastifyReply) => FastifyReply | Promise<never>;

interface TestApi {
  readonly url: string;
  readonly psk: string;
  readonly received: ReceivedRequest[];
  readonly rows: Map<string, Record<string, unknown>>;
  /** Answers the next authenticated request this way instead of by route. */
  script(answer: Scripted): void;
  client(overrides?: Partial<ApiClientOptions>): ApiClient;
}

const servers: FastifyInstance[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function apiError(reply: FastifyReply, status: number, code: string, message: string, details?: unknown[]) {
  return reply.status(status).send({ error: { code, message, ...(details && { details }) } });
}

/**
 * A small delivery-config API on 127.0.0.1 (port 0) that verifies every signature with
 * `verifySignature` and every body with `bodyHashMatches`, as the real one does, and
 * keeps configs in a map.
 *
 * @param stage - a path prefix the client's base URL carries and the signature does not (an API Gateway stage)
 */
async function startTestApi(stage = ''): Promise<TestApi> {
  const psk = `psk-${randomId()}-${randomId()}`;
  const received: ReceivedRequest[] = [];
  const rows = new Map<string, Record<string, unknown>>();
  const scripted: Scripted[] = [];
  const app = Fastify({
    logger: false,
    // A scripted hang must not hold up close().
    forceCloseConnections: true,
    rewriteUrl: (request) => (stage !== '' && request.url?.startsWith(`${stage}/`) ? request.url.slice(stage.length) : request.url!),
  });
  servers.push(app);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.addHook('preHandler', async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (request.url !== '/api/v1/health') {
      const verification = verifySignature({
        method: request.method,
        rawPathAndQuery: request.url,
        headers: {
          authorization: request.headers.authorization,
          'x-api-timestamp': request.headers['x-api-timestamp'],
          'x-body-sha256': request.headers['x-body-sha256'],
        },
        keys: [psk],
        nowMs: Date.now(),
      });
      if (!verification.ok) return apiError(reply, 401, 'unauthorized', verification.message);
      if (!bodyHashMatches(body, verification.bodySha256)) {
        return apiError(reply, 400, 'body_hash_mismatch', 'The body does not match X-Body-SHA256.');
      }
    }
    received.push({
      method: request.method,
      url: request.url,
      originalUrl: request.originalUrl,
      headers: request.headers,
      body,
      query: request.query as Record<string, string>,
    });
    request.body = body.length === 0 ? undefined : JSON.parse(body.toString('utf8'));
    const answer = scripted.shift();
    return answer === undefined ? undefined : answer(reply);
  });

  type ConfigParams = { tenant: string; type: string };
  const key = (tenant: string, type: string) => `${tenant}\u0000${type}`;
  const sorted = () => [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, row]) => row);
  // Cursors with characters that must be percent-encoded in a query: `/`, `+`, space, `&`, `=`.
  const cursorAt = (index: number) => `after/${index}+ &=`;

  app.get('/api/v1/health', async () => ({ status: 'healthy', version: '0.0.0-test', uptime_seconds: 1, checks: {} }));
  app.get('/api/v1/delivery-configs', async (request) => {
    const { limit = '50', cursor } = request.query as { limit?: string; cursor?: string };
    const start = cursor === undefined ? 0 : Number(/^after\/(\d+)\+ &=$/.exec(cursor)![1]);
    const all = sorted();
    const items = all.slice(start, start + Number(limit));
    const next = start + items.length;
    return { items, ...(next < all.length && { next_cursor: cursorAt(next) }) };
  });
  app.get('/api/v1/tenants/:tenant/delivery-configs', async (request) => {
    const { tenant } = request.params as { tenant: string };
    return { items: sorted().filter((row) => row['tenant_id'] === tenant) };
  });
  app.post('/api/v1/tenants/:tenant/delivery-configs', async (request, reply) => {
    const { tenant } = request.params as { tenant: string };
    const body = request.body as Record<string, unknown>;
    if (typeof body['directory'] !== 'string') {
      return apiError(reply, 422, 'validation_failed', "The config is invalid: 'directory' is required.", [
        { field: 'directory', message: 'is required' },
      ]);
    }
    const type = String(body['type']);
    if (rows.has(key(tenant, type))) {
      return apiError(reply, 409, 'conflict', `Tenant '${tenant}' already has a delivery config of type '${type}'.`);
    }
    const row = { ...body, tenant_id: tenant };
    rows.set(key(tenant, type), row);
    return reply.status(201).send(row);
  });
  const existing = (request: FastifyRequest, reply: FastifyReply) => {
    const { tenant, type } = request.params as ConfigParams;
    const row = rows.get(key(tenant, type));
    if (!row) apiError(reply, 404, 'not_found', `Tenant '${tenant}' has no delivery config of type '${type}'.`);
    return row;
  };
  app.get('/api/v1/tenants/:tenant/delivery-configs/:type', async (request, reply) => existing(request, reply) ?? reply);
  app.put('/api/v1/tenants/:tenant/delivery-configs/:type', async (request, reply) => {
    if (!existing(request, reply)) return reply;
    const { tenant, type } = request.params as ConfigParams;
    const row = { ...(request.body as Record<string, unknown>), tenant_id: tenant, type };
    rows.set(key(tenant, type), row);
    return row;
  });
  app.patch('/api/v1/tenants/:tenant/delivery-configs/:type', async (request, reply) => {
    const row = existing(request, reply);
    if (!row) return reply;
    Object.assign(row, request.body);
    return row;
  });
  app.delete('/api/v1/tenants/:tenant/delivery-configs/:type', async (request, reply) => {
    if (!existing(request, reply)) return reply;
    const { tenant, type } = request.params as ConfigParams;
    rows.delete(key(tenant, type));
    return reply.status(204).send();
  });
  app.get('/api/v1/tenants/:tenant/delivery-configs/:type/validate', async (request, reply) => {
    const { tenant, type } = request.params as ConfigParams;
    if (!existing(request, reply)) return reply;
    return {
      tenant_id: tenant,
      type,
      valid: false,
      field_errors: [],
      steps: [{ step: 'write_probe', status: 'failed', code: 'EACCES', message: 'The directory is not writable.' }],
    };
  });
  app.get('/api/v1/tenants/:tenant/status', async (request) => {
    const { tenant } = request.params as { tenant: string };
    return { tenant_id: tenant, destinations: [], unrouted_dead_letters: 0 };
  });
  app.delete('/api/v1/tenants/:tenant', async (request, reply) => {
    const { tenant } = request.params as { tenant: string };
    for (const [k, row] of rows) if (row['tenant_id'] === tenant) rows.delete(k);
    return reply.status(204).send();
  });
  app.get('/api/v1/tenants/:tenant/audit', async (request) => {
    const { tenant } = request.params as { tenant: string };
    const { cursor } = request.query as { cursor?: string };
    const entry = { id: cursor ?? 'first', tenant_id: tenant, type: 'file', action: 'create', actor: 'psk:current', at: '2026-01-01T00:00:00.000Z' };
    return { items: [entry], ...(cursor === undefined && { next_cursor: 'page 2' }) };
  });

  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `${address}${stage}`;
  return {
    url,
    psk,
    received,
    rows,
    script: (answer) => scripted.push(answer),
    client: (overrides = {}) => createApiClient({ baseUrl: url, psk, ...overrides }),
  };
}

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<ApiClientError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiClientError);
  return error as ApiClientError;
}

const fileConfig = (overrides: Record<string, unknown> = {}) => ({ type: 'file', directory: `/srv/${randomId()}`, ...overrides });

describe('createApiClient signing', () => {
  it('signs every route so the server verifies signature and body hash', async () => {
    // Prepare
    const api = await startTestApi();
    const client = api.client();
    const tenant = `tenant-${randomId()}`;

    // Act
    const created = await client.createConfig(tenant, fileConfig({ type: 'file:archive' }));
    const listed = await client.listTenantConfigs(tenant);
    const got = await client.getConfig(tenant, 'file:archive');
    const replaced = await client.replaceConfig(tenant, 'file:archive', fileConfig({ directory: '/srv/é' }));
    const patched = await client.patchConfig(tenant, 'file:archive', { enabled: false });
    const report = await client.validateConfig(tenant, 'file:archive');
    const status = await client.tenantStatus(tenant);
    const page = await client.listConfigs({ limit: 10 });
    const audit = await client.audit(tenant, { limit: 5 });
    await client.deleteConfig(tenant, 'file:archive');
    await client.offboardTenant(tenant);

    // Assess
    expect(created).toMatchObject({ tenant_id: tenant, type: 'file:archive' });
    expect(listed).toEqual([created]);
    expect(got).toEqual(created);
    expect(replaced).toMatchObject({ directory: '/srv/é' });
    expect(patched).toMatchObject({ directory: '/srv/é', enabled: false });
    expect(report).toMatchObject({ valid: false, steps: [{ step: 'write_probe', status: 'failed', code: 'EACCES' }] });
    expect(status).toEqual({ tenant_id: tenant, destinations: [], unrouted_dead_letters: 0 });
    expect(page.items).toEqual([patched]);
    expect(audit.items).toHaveLength(1);
    expect(api.rows.size).toBe(0);
    expect(api.received.map((r) => `${r.method} ${r.url}`)).toEqual([
      `POST /api/v1/tenants/${tenant}/delivery-configs`,
      `GET /api/v1/tenants/${tenant}/delivery-configs`,
      `GET /api/v1/tenants/${tenant}/delivery-configs/file:archive`,
      `PUT /api/v1/tenants/${tenant}/delivery-configs/file:archive`,
      `PATCH /api/v1/tenants/${tenant}/delivery-configs/file:archive`,
      `GET /api/v1/tenants/${tenant}/delivery-configs/file:archive/validate`,
      `GET /api/v1/tenants/${tenant}/status`,
      'GET /api/v1/delivery-configs?limit=10',
      `GET /api/v1/tenants/${tenant}/audit?limit=5`,
      `DELETE /api/v1/tenants/${tenant}/delivery-configs/file:archive`,
      `DELETE /api/v1/tenants/${tenant}`,
    ]);
  });

  it('sends a JSON content type with a body and none without, hashing exactly the bytes sent', async () => {
    // Prepare
    const api = await startTestApi();
    const client = api.client();
    const tenant = `tenant-${randomId()}`;
    const config = fileConfig({ directory: '/srv/logs/ünïcødé ✓' });

    // Act
    await client.createConfig(tenant, config);
    await client.getConfig(tenant, 'file');

    // Assess
    const [post, get] = api.received;
    expect(post!.headers['content-type']).toBe('application/json');
    expect(post!.body.toString('utf8')).toBe(JSON.stringify(config));
    expect(post!.headers['x-body-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(post!.headers.authorization).toMatch(/^HMAC-SHA256 [0-9a-f]{64}$/);
    expect(get!.headers['content-type']).toBeUndefined();
    expect(get!.headers['x-body-sha256']).toBe(EMPTY_BODY_SHA256);
  });

  it('signs the time of its clock', async () => {
    // Prepare
    const api = await startTestApi();
    const nowMs = Date.now() - 60_000;

    // Act
    await api.client({ now: () => nowMs }).listConfigs();

    // Assess
    expect(api.received[0]!.headers['x-api-timestamp']).toBe(new Date(nowMs).toISOString());
  });

  it('encodes path segments and query values, and the server reads them back', async () => {
    // Prepare
    const api = await startTestApi();
    const tenant = `tenant ${randomId()}/x`;

    // Act
    await api.client().audit(tenant, { cursor: 'a/b+c d&e=f#g', limit: 2 });

    // Assess
    const [request] = api.received;
    expect(request!.url).toBe(
      `/api/v1/tenants/${encodeURIComponent(tenant)}/audit?limit=2&cursor=a%2Fb%2Bc%20d%26e%3Df%23g`,
    );
    expect(request!.query).toEqual({ limit: '2', cursor: 'a/b+c d&e=f#g' });
  });

  it('sends a base URL path (an API Gateway stage) without signing it', async () => {
    // Prepare
    const api = await startTestApi('/prod');
    const tenant = `tenant-${randomId()}`;

    // Act
    await api.client().createConfig(tenant, fileConfig());

    // Assess
    expect(api.received[0]).toMatchObject({
      originalUrl: `/prod/api/v1/tenants/${tenant}/delivery-configs`,
      url: `/api/v1/tenants/${tenant}/delivery-configs`,
    });
  });

  it('asks for health without signing and returns the report', async () => {
    // Prepare
    const api = await startTestApi();

    // Act
    const health = await api.client().health();

    // Assess
    expect(health).toMatchObject({ status: 'healthy' });
    expect(api.received[0]!.headers.authorization).toBeUndefined();
  });

  it('returns the health report the server answers with 503', async () => {
    // Prepare
    const api = await startTestApi();
    const report = { status: 'unhealthy', version: '1', uptime_seconds: 3, checks: { store: { status: 'failed' } } };
    api.script((reply) => reply.status(503).send(report));

    // Act
    const health = await api.client().health();

    // Assess
    expect(health).toEqual(report);
  });
});

describe('createApiClient listAllConfigs', () => {
  it('follows next_cursor to the last page', async () => {
    // Prepare
    const api = await startTestApi();
    const client = api.client();
    const tenant = `tenant-${randomId()}`;
    for (let i = 0; i < 5; i++) await client.createConfig(tenant, fileConfig({ type: `file:n${i}` }));
    api.received.length = 0;

    // Act
    const rows = await client.listAllConfigs({ pageSize: 2 });

    // Assess
    expect(rows.map((r) => r.type)).toEqual(['file:n0', 'file:n1', 'file:n2', 'file:n3', 'file:n4']);
    expect(api.received.map((r) => r.query)).toEqual([
      { limit: '2' },
      { limit: '2', cursor: 'after/2+ &=' },
      { limit: '2', cursor: 'after/4+ &=' },
    ]);
  });

  it('stops with an error when the server hands out the same cursor twice', async () => {
    // Prepare
    const api = await startTestApi();
    const page = { items: [], next_cursor: 'again' };
    api.script((reply) => reply.send(page));
    api.script((reply) => reply.send(page));

    // Act
    const error = await rejection(api.client().listAllConfigs());

    // Assess
    expect(error.code).toBe(ApiClientErrorCode.UNEXPECTED_RESPONSE);
    expect(error.message).toContain("cursor 'again' twice");
  });
});

describe('createApiClient errors', () => {
  it('carries the status, code, message and field details of the server error', async () => {
    // Prepare
    const api = await startTestApi();
    const tenant = `tenant-${randomId()}`;

    // Act
    const error = await rejection(api.client().createConfig(tenant, { type: 'file' }));

    // Assess
    expect(error).toMatchObject({
      status: 422,
      code: 'validation_failed',
      message: "The config is invalid: 'directory' is required.",
      details: [{ field: 'directory', message: 'is required' }],
      request: { method: 'POST', url: `${api.url}/api/v1/tenants/${tenant}/delivery-configs` },
    });
  });

  it.each([
    { status: 404, code: 'not_found', call: (c: ApiClient) => c.getConfig('nobody', 'file') },
    { status: 409, code: 'conflict', call: (c: ApiClient) => c.createConfig('dup', fileConfig()).then(() => c.createConfig('dup', fileConfig())) },
  ])('maps a $status answer to code $code with no details', async ({ status, code, call }) => {
    // Prepare
    const api = await startTestApi();

    // Act
    const error = await rejection(call(api.client()));

    // Assess
    expect(error.status).toBe(status);
    expect(error.code).toBe(code);
    expect(error.details).toEqual([]);
  });

  it('is refused as unauthorized with the server message when the key is wrong', async () => {
    // Prepare
    const api = await startTestApi();

    // Act
    const error = await rejection(api.client({ psk: 'not-the-key-at-all' }).listConfigs());

    // Assess
    expect(error.status).toBe(401);
    expect(error.code).toBe('unauthorized');
    expect(error.message).toMatch(/^The signature does not match/);
  });

  it('is refused as unauthorized when its clock is off by more than the allowed skew', async () => {
    // Prepare
    const api = await startTestApi();

    // Act
    const error = await rejection(api.client({ now: () => Date.now() - 600_000 }).listConfigs());

    // Assess
    expect(error.code).toBe('unauthorized');
    expect(error.message).toContain('behind the server clock');
  });

  it.each([
    {
      case: 'an HTML page from a proxy',
      answer: (reply: FastifyReply) => reply.status(502).type('text/html').send('<html><body>Bad Gateway</body></html>'),
      code: 'service_unavailable',
      message: /failed with HTTP 502, and the answer is not an API error: <html><body>Bad Gateway/,
    },
    {
      case: "API Gateway's own message",
      answer: (reply: FastifyReply) => reply.status(403).send({ message: 'Forbidden' }),
      code: 'forbidden',
      message: /failed with HTTP 403, and the answer is not an API error: Forbidden$/,
    },
    {
      case: 'an error of an unknown status and shape',
      answer: (reply: FastifyReply) => reply.status(418).send({ oops: true }),
      code: ApiClientErrorCode.UNEXPECTED_RESPONSE,
      message: /failed with HTTP 418/,
    },
    {
      case: 'a success that is not JSON',
      answer: (reply: FastifyReply) => reply.status(200).type('text/plain').send('hello'),
      code: ApiClientErrorCode.UNEXPECTED_RESPONSE,
      message: /is not JSON \(text\/plain.*\): hello$/,
    },
    {
      case: 'an empty success',
      answer: (reply: FastifyReply) => reply.status(200).send(),
      code: ApiClientErrorCode.UNEXPECTED_RESPONSE,
      message: /is not JSON \(.*\): \(empty body\)$/,
    },
    {
      case: 'a redirect',
      answer: (reply: FastifyReply) => reply.redirect('https://elsewhere.example/api/v1/delivery-configs', 307),
      code: ApiClientErrorCode.REDIRECTED,
      message: /redirect \(307\) to https:\/\/elsewhere\.example\/api\/v1\/delivery-configs/,
    },
  ])('explains $case', async ({ answer, code, message }) => {
    // Prepare
    const api = await startTestApi();
    api.script(answer);

    // Act
    const error = await rejection(api.client().listConfigs());

    // Assess
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it('names the URL and asks whether the server runs when the connection is refused', async () => {
    // Prepare
    const api = await startTestApi();
    await servers.pop()!.close();

    // Act
    const error = await rejection(api.client().listConfigs());

    // Assess
    expect(error).toMatchObject({ status: undefined, code: ApiClientErrorCode.CONNECTION_REFUSED });
    expect(error.message).toBe(
      `Cannot connect to the API at ${api.url}: the connection was refused, so no server is listening there. ` +
        'Check that the API server is running and that the URL is right.',
    );
  });

  it('gives up after the timeout when no answer comes', async () => {
    // Prepare
    const api = await startTestApi();
    api.script(() => new Promise<never>(() => {}));

    // Act
    const error = await rejection(api.client({ timeoutMs: 100 }).listConfigs());

    // Assess
    expect(error.code).toBe(ApiClientErrorCode.TIMEOUT);
    expect(error.message).toContain(`got no answer within 100 ms; check that the API server at ${api.url} is running`);
  });

  it("stops when the caller's signal aborts", async () => {
    // Prepare
    const api = await startTestApi();
    api.script(() => new Promise<never>(() => {}));
    const controller = new AbortController();

    // Act
    const pending = rejection(api.client().listConfigs({ signal: controller.signal }));
    controller.abort();
    const error = await pending;

    // Assess
    expect(error.code).toBe(ApiClientErrorCode.ABORTED);
  });

  it('refuses a base URL that is not http(s)', () => {
    // Prepare
    // Act
    const build = () => createApiClient({ baseUrl: 'ftp://example.com', psk: 'x' });

    // Assess
    expect(build).toThrow(/must start with http:\/\/ or https:\/\//);
  });
});
