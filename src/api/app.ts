import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import Type, { type Static } from 'typebox';
import type { BackpressureCheck } from '../ingest/backpressure.js';
import type { TokenAuthenticator } from '../ingest/http/auth.js';
import type { HttpIngestConfig } from '../ingest/http/config.js';
import { httpIngestPlugin } from '../ingest/http/plugin.js';
import type { Logger } from '../logging/index.js';
import type { IngestBuffer } from '../stores/ports.js';
import { ApiError, ApiErrorCode, ApiErrorResponseSchema, apiErrorHandler } from './errors.js';
import { CONFIG_API_PREFIX, type ConfigApiOptions, configApiPlugin } from './routes/config-api.js';

/** Where the health report is served; no authentication, for probes and load balancers. */
export const HEALTH_ROUTE = '/api/v1/health';
/** Where Prometheus scrapes. */
export const METRICS_ROUTE = '/metrics';
/** The OpenAPI document of every route. */
export const OPENAPI_ROUTE = '/api/v1/openapi.json';
/** The OpenAPI viewer. */
export const DOCS_ROUTE = '/api/v1/docs';
/** A check slower than this counts as failed, so a hung dependency cannot hang the probe. */
export const HEALTH_CHECK_TIMEOUT_MS = 2_000;

/** What one health check reports. */
export interface HealthCheckResult {
  status: 'ok' | 'failed';
  message?: string;
}

/** A health check; a rejection or a timeout counts as failed. */
export type HealthCheck = () => Promise<HealthCheckResult>;

const CheckResultSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('failed')]),
  message: Type.Optional(Type.String()),
});

/** The health report. */
export const HealthResponseSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy')], {
      description: 'healthy: every check passed; degraded: some failed; unhealthy: all failed (HTTP 503).',
    }),
    version: Type.String(),
    uptime_seconds: Type.Integer({ description: 'Seconds since the API was created.' }),
    checks: Type.Record(Type.String(), CheckResultSchema),
  },
  { description: 'Health of the router and its dependencies.' },
);
/** The health report. */
export type HealthResponse = Static<typeof HealthResponseSchema>;

/** The HTTP ingest, when this process accepts events over HTTP. */
export interface ApiIngestOptions {
  readonly authenticator: TokenAuthenticator;
  readonly buffer: IngestBuffer;
  readonly config: HttpIngestConfig;
  /** The clock for receive times; default `Date.now`. */
  readonly now?: () => number;
  /** Refuses requests (503 + Retry-After) while delivery is behind or the store is full. */
  readonly backpressure?: BackpressureCheck;
}

/** What the API app is built from. */
export interface ApiAppOptions {
  readonly logger: Logger;
  /** Every module's metrics; served at `/metrics`. */
  readonly registry: Registry;
  /** The router's version, reported by the health route. */
  readonly version: string;
  /** Named dependency checks for the health route (`store`, `queue`, …). */
  readonly checks?: Readonly<Record<string, HealthCheck>>;
  readonly ingest?: ApiIngestOptions;
  /** The delivery-config API (signed routes under `/api/v1`), when this process serves it. */
  readonly configApi?: ConfigApiOptions;
}

async function runCheck(check: HealthCheck): Promise<HealthCheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthCheckResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({ status: 'failed', message: `The check took longer than ${HEALTH_CHECK_TIMEOUT_MS} ms.` }),
      HEALTH_CHECK_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([
      check().catch(
        (error: unknown): HealthCheckResult => ({
          status: 'failed',
          message: error instanceof Error ? error.message : String(error),
        }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function overallStatus(results: readonly HealthCheckResult[]): HealthResponse['status'] {
  const failed = results.filter((r) => r.status !== 'ok').length;
  if (failed === 0) return 'healthy';
  return failed === results.length ? 'unhealthy' : 'degraded';
}

/**
 * Builds the router's Fastify app: the error handler rendering the one error shape,
 * `GET /api/v1/health`, `GET /metrics`, and `POST /api/v1/ingest` when `ingest` is given.
 * Fastify's logger is off: requests are counted in metrics and errors logged by us.
 *
 * @example
 * const app = createApiApp({ logger, registry, version: '0.1.0', checks: { store: checkStore } });
 * await app.listen({ host: '127.0.0.1', port: 8080 });
 */
export function createApiApp(options: ApiAppOptions): FastifyInstance {
  const { logger, registry, version } = options;
  const checks = Object.entries(options.checks ?? {});
  const createdAtMs = Date.now();
  const errorHandler = apiErrorHandler(logger);
  // Fastify answers a URL it cannot decode or a path parameter over its length limit before
  // routing, in its own shape; `frameworkErrors` renders those in the one error shape too.
  const app = Fastify({ logger: false, frameworkErrors: (error, request, reply) => errorHandler(error, request, reply) });

  // Set before any plugin registers, so every encapsulated context inherits it.
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(async (request) => {
    throw new ApiError(
      404,
      ApiErrorCode.NOT_FOUND,
      `There is no route ${request.method} ${request.url.split('?')[0]}.`,
    );
  });

  // Registered first: it collects every route registered after it into the document.
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tenant Log Router API',
        version,
        description:
          'Delivery configs of tenants, their status and audit log; health, metrics and HTTP ingest. ' +
          'Signed routes need the HMAC-SHA256 headers described in docs/api-auth.md.',
      },
      components: {
        securitySchemes: {
          hmac: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description:
              '`HMAC-SHA256 <hex>` over method + path and query + X-API-Timestamp + X-Body-SHA256, ' +
              'with the pre-shared key; see docs/api-auth.md.',
          },
        },
      },
    },
  });
  app.register(swaggerUi, { routePrefix: DOCS_ROUTE });

  // Added from a plugin registered after swagger, so that swagger's onRoute hook exists by then
  // and documents these routes too (a route added to `app` directly is added before it loads).
  app.register(async (root) => {
    root.get(
      OPENAPI_ROUTE,
      { schema: { hide: true } },
      async () => app.swagger(),
    );

    root.get(
      HEALTH_ROUTE,
      {
        schema: {
          summary: 'Health of the router and its dependencies.',
          response: { 200: HealthResponseSchema, 503: HealthResponseSchema, '5xx': ApiErrorResponseSchema },
        },
      },
      async (_request, reply): Promise<HealthResponse> => {
        const results = await Promise.all(checks.map(([, check]) => runCheck(check)));
        const status = overallStatus(results);
        if (status === 'unhealthy') reply.status(503);
        return {
          status,
          version,
          uptime_seconds: Math.floor((Date.now() - createdAtMs) / 1000),
          checks: Object.fromEntries(checks.map(([name], i) => [name, results[i]!])),
        };
      },
    );

    root.get(
      METRICS_ROUTE,
      {
        schema: {
          summary: 'Prometheus metrics, text exposition format.',
          response: { 200: Type.String(), '5xx': ApiErrorResponseSchema },
        },
      },
      async (_request, reply) => {
        const text = await registry.metrics();
        return reply.type(registry.contentType).send(text);
      },
    );
  });

  if (options.ingest) {
    app.register(httpIngestPlugin, { ...options.ingest, logger, registry });
  }
  if (options.configApi) {
    app.register(configApiPlugin, { ...options.configApi, registry, logger, prefix: CONFIG_API_PREFIX });
  }
  return app;
}
