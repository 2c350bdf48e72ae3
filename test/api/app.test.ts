import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Counter, Registry } from 'prom-client';
import Type from 'typebox';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ApiAppOptions,
  createApiApp,
  HEALTH_CHECK_TIMEOUT_MS,
  HEALTH_ROUTE,
  type HealthCheck,
  METRICS_ROUTE,
} from '../../src/api/app.js';
import { ApiError, ApiErrorCode, ApiErrorResponseSchema } from '../../src/api/errors.js';
import { createTokenAuthenticator } from '../../src/ingest/http/auth.js';
import { defaultHttpIngestConfig } from '../../src/ingest/http/config.js';
import { INGEST_ROUTE } from '../../src/ingest/http/plugin.js';
import { createLogger, LogLevel, silentLogger } from '../../src/logging/logger.js';
import { openDatabase, type SqliteDatabase } from '../../src/stores/local/database.js';
import { createSqliteIngestBuffer } from '../../src/stores/local/ingest-buffer.js';
import { createSqliteTokenStore } from '../../src/stores/local/token-store.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const ok: HealthCheck = async () => ({ status: 'ok' });
const failed: HealthCheck = async () => ({ status: 'failed', message: 'Disk is read-only.' });
const throwing: HealthCheck = async () => {
  throw new Error('SQLITE_CANTOPEN');
};

describe('createApiApp', () => {
  let apps: FastifyInstance[];
  let registry: Registry;

  function appWith(options: Partial<ApiAppOptions> = {}): FastifyInstance {
    const app = createApiApp({ logger: silentLogger, registry, version: '1.2.3', ...options });
    apps.push(app);
    return app;
  }

  beforeEach(() => {
    apps = [];
    registry = new Registry();
  });

  afterEach(async () => {
    vi.useRealTimers();
    for (const app of apps) await app.close();
    await removeTempDirs();
  });

  describe(`GET ${HEALTH_ROUTE}`, () => {
    it('reports healthy with the version and uptime when every check passes', async () => {
      // Prepare
      const app = appWith({ checks: { store: ok, queue: ok } });

      // Act
      const response = await app.inject({ method: 'GET', url: HEALTH_ROUTE });

      // Assess
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        status: 'healthy',
        version: '1.2.3',
        uptime_seconds: expect.any(Number),
        checks: { store: { status: 'ok' }, queue: { status: 'ok' } },
      });
      expect(Number.isInteger(response.json().uptime_seconds)).toBe(true);
    });

    it.each([
      ['healthy', 200, { store: ok }],
      ['healthy', 200, {}],
      ['degraded', 200, { store: ok, queue: failed }],
      ['unhealthy', 503, { store: failed, queue: throwing }],
    ])('reports %s with HTTP %i', async (status, statusCode, checks) => {
      // Prepare
      const app = appWith({ checks });

      // Act
      const response = await app.inject({ method: 'GET', url: HEALTH_ROUTE });

      // Assess
      expect(response.statusCode).toBe(statusCode);
      expect(response.json().status).toBe(status);
    });

    it('reports a check that throws as failed, with its message', async () => {
      // Prepare
      const app = appWith({ checks: { store: throwing, queue: ok } });

      // Act
      const response = await app.inject({ method: 'GET', url: HEALTH_ROUTE });

      // Assess
      expect(response.json().checks.store).toEqual({ status: 'failed', message: 'SQLITE_CANTOPEN' });
    });

    it('reports a check that hangs as failed after the timeout', async () => {
      // Prepare
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const hanging: HealthCheck = () => new Promise(() => {});
      const app = appWith({ checks: { store: hanging, queue: ok } });
      await app.ready();

      // Act
      const pending = app.inject({ method: 'GET', url: HEALTH_ROUTE });
      await vi.advanceTimersByTimeAsync(HEALTH_CHECK_TIMEOUT_MS);
      const response = await pending;

      // Assess
      expect(response.json()).toMatchObject({
        status: 'degraded',
        checks: {
          store: { status: 'failed', message: expect.stringContaining(`${HEALTH_CHECK_TIMEOUT_MS} ms`) },
        },
      });
    });

    it('needs no authentication', async () => {
      // Prepare
      const app = appWith();

      // Act
      const response = await app.inject({ method: 'GET', url: HEALTH_ROUTE, headers: {} });

      // Assess
      expect(response.statusCode).toBe(200);
    });
  });

  describe(`GET ${METRICS_ROUTE}`, () => {
    it('serves the registry in the Prometheus text format', async () => {
      // Prepare
      const metric = new Counter({ name: 'tlr_test_things_total', help: 'Things.', registers: [registry] });
      metric.inc(3);
      const app = appWith();

      // Act
      const response = await app.inject({ method: 'GET', url: METRICS_ROUTE });

      // Assess
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe(registry.contentType);
      expect(response.body).toContain('# TYPE tlr_test_things_total counter');
      expect(response.body).toContain('tlr_test_things_total 3');
    });

    it('includes the ingest counters once the ingest has answered', async () => {
      // Prepare
      const dir = await makeTempDir('tlr-api-');
      const db: SqliteDatabase = openDatabase(join(dir, 'tlr.db'));
      try {
        const tokens = createSqliteTokenStore(db);
        const app = appWith({
          ingest: {
            authenticator: createTokenAuthenticator({ store: tokens }),
            buffer: createSqliteIngestBuffer(db),
            config: defaultHttpIngestConfig(),
          },
        });
        await app.inject({
          method: 'POST',
          url: INGEST_ROUTE,
          headers: { 'content-type': 'application/json' },
        });

        // Act
        const response = await app.inject({ method: 'GET', url: METRICS_ROUTE });

        // Assess
        expect(response.body).toContain('tlr_ingest_requests_total{status="401",reason="missing_token"} 1');
      } finally {
        db.close();
      }
    });
  });

  describe('errors', () => {
    /** An app with extra routes that fail in the ways under test. */
    function appWithFailingRoutes(logger = silentLogger): FastifyInstance {
      const app = appWith({ logger });
      const response = { 200: Type.Object({ ok: Type.Boolean() }), '4xx': ApiErrorResponseSchema };
      app.post(
        '/test/validated',
        {
          schema: {
            body: Type.Object({ name: Type.String({ minLength: 1 }), count: Type.Integer() }),
            response,
          },
        },
        async () => ({ ok: true }),
      );
      app.get('/test/api-error', { schema: { response } }, async () => {
        throw new ApiError(429, ApiErrorCode.TOO_MANY_REQUESTS, 'Slow down.', {
          details: [{ field: 'rate', message: 'is over 10 per second' }],
          headers: { 'retry-after': '2' },
        });
      });
      app.get('/test/client-error', { schema: { response } }, async () => {
        throw Object.assign(new Error('Gone fishing'), { statusCode: 409 });
      });
      app.get('/test/bug', { schema: { response } }, async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'secret')");
      });
      return app;
    }

    it('renders an ApiError in the one error shape, with its details and headers', async () => {
      // Prepare
      const app = appWithFailingRoutes();

      // Act
      const response = await app.inject({ method: 'GET', url: '/test/api-error' });

      // Assess
      expect(response.statusCode).toBe(429);
      expect(response.headers['retry-after']).toBe('2');
      expect(response.json()).toEqual({
        error: {
          code: 'too_many_requests',
          message: 'Slow down.',
          details: [{ field: 'rate', message: 'is over 10 per second' }],
        },
      });
    });

    it('renders a schema validation failure as 400 with one detail per field', async () => {
      // Prepare
      const app = appWithFailingRoutes();

      // Act
      const response = await app.inject({ method: 'POST', url: '/test/validated', payload: { name: '' } });

      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('validation_failed');
      expect(response.json().error.details).toEqual(
        expect.arrayContaining([
          { field: expect.stringMatching(/^body\.(name|count)$/), message: expect.any(String) },
        ]),
      );
    });

    it.each([
      ['malformed JSON', '{"name":', 'application/json', 400, 'malformed_json'],
      ['an empty JSON body', '', 'application/json', 400, 'malformed_json'],
      ['an unsupported content type', 'name=x', 'application/xml', 415, 'unsupported_media_type'],
      [
        'a body over the default limit',
        JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
        'application/json',
        413,
        'payload_too_large',
      ],
    ])('renders %s as %i %s', async (_case, payload, contentType, statusCode, code) => {
      // Prepare
      const app = appWithFailingRoutes();

      // Act
      const response = await app.inject({
        method: 'POST',
        url: '/test/validated',
        headers: { 'content-type': contentType },
        payload,
      });

      // Assess
      expect(response.statusCode).toBe(statusCode);
      expect(response.json()).toEqual({ error: { code, message: expect.stringMatching(/\.$/) } });
    });

    it('keeps the 4xx status of an error that carries one', async () => {
      // Prepare
      const app = appWithFailingRoutes();

      // Act
      const response = await app.inject({ method: 'GET', url: '/test/client-error' });

      // Assess
      expect(response.statusCode).toBe(409);
      expect(response.json()).toEqual({ error: { code: 'bad_request', message: 'Gone fishing.' } });
    });

    it('answers an unexpected error with a generic 500 and logs it', async () => {
      // Prepare
      const lines: string[] = [];
      const logger = createLogger({ level: LogLevel.ERROR, write: (line) => lines.push(line) });
      const app = appWithFailingRoutes(logger);

      // Act
      const response = await app.inject({ method: 'GET', url: '/test/bug?x=1' });

      // Assess
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({
        error: { code: 'internal_error', message: 'An internal error occurred; it has been logged.' },
      });
      expect(response.body).not.toContain('secret');
      expect(lines.map((l) => JSON.parse(l))).toEqual([
        expect.objectContaining({
          level: 'error',
          message: 'A request failed with an unexpected error.',
          method: 'GET',
          url: '/test/bug',
          error: expect.objectContaining({ name: 'TypeError' }),
        }),
      ]);
    });

    it('answers an unknown route with 404 in the one error shape', async () => {
      // Prepare
      const app = appWith();

      // Act
      const response = await app.inject({ method: 'GET', url: '/api/v1/nothing?x=1' });

      // Assess
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({
        error: { code: 'not_found', message: 'There is no route GET /api/v1/nothing.' },
      });
    });

    it('does not serve the ingest route when no ingest is configured', async () => {
      // Prepare
      const app = appWith();

      // Act
      const response = await app.inject({ method: 'POST', url: INGEST_ROUTE, payload: [] });

      // Assess
      expect(response.statusCode).toBe(404);
    });
  });
});
