import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import Value from 'typebox/value';
import { expect } from 'vitest';
import { createConfigService } from '../../src/admin/config-service.js';
import { createApiApp } from '../../src/api/app.js';
import { signRequest } from '../../src/api/auth/hmac.js';
import type { ApiAuthOptions } from '../../src/api/auth/plugin.js';
import { ApiErrorResponseSchema } from '../../src/api/errors.js';
import type { AwsSinkDeps } from '../../src/aws/index.js';
import { silentLogger } from '../../src/logging/logger.js';
import { openLocalStores } from '../../src/runtimes/local-stores.js';
import { createBuiltinSinkRegistry } from '../../src/sinks/registry.js';
import type {
  AuditLogStore,
  DeadLetterStore,
  DeliveryConfigStore,
  DestinationStatusStore,
} from '../../src/stores/ports.js';
import { randomId } from './factories.js';
import { makeTempDir } from './temp-dir.js';

/**
 * The delivery-config API as tests drive it: the real app (`createApiApp` with the real
 * `createConfigService`, auth plugin and schemas) over a given store set, and a `call` that
 * signs every request as a client does (`signRequest`), through `app.inject()` or over real
 * HTTP with `fetch`.
 */

/** Where the config routes sit. */
export const API_PREFIX = '/api/v1';

/** The paths of the config API, with the tenant and type percent-encoded as a client sends them. */
export const apiPath = {
  health: () => `${API_PREFIX}/health`,
  allConfigs: (query = '') => `${API_PREFIX}/delivery-configs${query}`,
  configs: (tenant: string) => `${API_PREFIX}/tenants/${encodeURIComponent(tenant)}/delivery-configs`,
  config: (tenant: string, type: string) =>
    `${API_PREFIX}/tenants/${encodeURIComponent(tenant)}/delivery-configs/${encodeURIComponent(type)}`,
  validate: (tenant: string, type: string) => `${apiPath.config(tenant, type)}/validate`,
  status: (tenant: string) => `${API_PREFIX}/tenants/${encodeURIComponent(tenant)}/status`,
  tenant: (tenant: string) => `${API_PREFIX}/tenants/${encodeURIComponent(tenant)}`,
  audit: (tenant: string, query = '') => `${API_PREFIX}/tenants/${encodeURIComponent(tenant)}/audit${query}`,
  openapi: () => `${API_PREFIX}/openapi.json`,
  docs: () => `${API_PREFIX}/docs`,
} as const;

/** The stores the config API works on. */
export interface ConfigApiStores {
  readonly configs: DeliveryConfigStore;
  readonly audit: AuditLogStore;
  readonly status: DestinationStatusStore;
  readonly deadLetters: DeadLetterStore;
  /** The base of relative `file` directories (the data directory). */
  readonly baseDir: string;
}

/** A store set that is open until `close()`. */
export interface OpenConfigApiStores extends ConfigApiStores {
  close(): Promise<void>;
}

/** One storage backend the config API suite runs on. */
export interface ConfigApiBackend {
  readonly name: string;
  /** Why the backend cannot run here (moto missing), or undefined. */
  readonly unavailable: string | undefined;
  /** Opens a fresh store set; call once per file, in `beforeAll`. */
  open(): Promise<OpenConfigApiStores>;
}

/** The embedded stores (SQLite) in a fresh temp directory, removed on close. */
export function sqliteConfigApiBackend(): ConfigApiBackend {
  return {
    name: 'SQLite',
    unavailable: undefined,
    async open() {
      const dir = await makeTempDir('tlr-api-');
      const stores = openLocalStores(dir);
      return {
        configs: stores.configs,
        audit: stores.audit,
        status: stores.status,
        deadLetters: stores.deadLetters,
        baseDir: dir,
        async close() {
          stores.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

/** HTTP methods the API tests send. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** A response body as `JSON.parse` gives it: tests assert on its fields directly. */
export type JsonBody = ReturnType<typeof JSON.parse>;

/** One response, the same whether it came through `inject` or `fetch`. */
export interface ApiResponse {
  readonly status: number;
  /** Header names lowercase. */
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
  /** The body parsed as JSON; undefined when it is empty or not JSON. */
  readonly body: JsonBody;
}

/** How `call` signs and sends one request; by default it signs exactly what it sends. */
export interface ApiCallOptions {
  /** The key to sign with; default the server's current key. */
  readonly key?: string;
  /** `X-API-Timestamp`; default a fresh one from the harness clock, unique per request. */
  readonly timestamp?: string;
  /** Headers to add or replace; `undefined` removes one (including the three auth headers). */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  /** The exact body bytes to send instead of `JSON.stringify(body)` (hashed and signed unless `signedBody` is set). */
  readonly rawBody?: string | Buffer;
  /** Sign and hash this body instead of the one sent (a tampered body). */
  readonly signedBody?: string | Buffer;
  /** Sign this path and query instead of the URL sent (a tampered query, or the decoded form). */
  readonly signedPathAndQuery?: string;
  /** Send no auth headers at all. */
  readonly unsigned?: boolean;
}

/** Options of a harness. */
export interface ConfigApiHarnessOptions {
  /** The keys the server accepts, current first; default one random key. */
  readonly keys?: readonly string[];
  /** The server's auth clock, epoch ms; default `Date.now`. Default request timestamps follow it. */
  readonly now?: () => number;
  /**
   * The AWS settings and credentials the sinks get, so the live check of `validate` calls AWS
   * (moto in tests); default none, and the AWS kinds' checks answer one skipped step.
   */
  readonly aws?: AwsSinkDeps;
}

/** The real app over a store set, and a signing client for it. */
export interface ConfigApiHarness {
  readonly app: FastifyInstance;
  /** The app's metrics (`tlr_api_auth_failures_total`, …). */
  readonly registry: Registry;
  readonly stores: ConfigApiStores;
  /** The keys the server accepts, current first. */
  readonly keys: readonly string[];
  /**
   * The 5xx answered since the last call, as `METHOD url -> status body`, and forgets them:
   * bad input must never cause one, so suites assert this is empty after each test.
   */
  takeServerErrors(): string[];
  /** A fresh `X-API-Timestamp` from the harness clock, later than any handed out before. */
  timestamp(): string;
  /** Signs (unless told otherwise) and sends one request; `body` is sent as JSON. */
  call(method: HttpMethod, url: string, body?: unknown, options?: ApiCallOptions): Promise<ApiResponse>;
  close(): Promise<void>;
}

/** A harness listening on 127.0.0.1 whose `call` goes over real HTTP with `fetch`. */
export interface ConfigApiServer extends ConfigApiHarness {
  /** `http://127.0.0.1:<port>`. */
  readonly baseUrl: string;
}

interface PreparedRequest {
  readonly headers: Record<string, string>;
  readonly payload: string | Buffer | undefined;
}

function prepareRequest(
  method: HttpMethod,
  url: string,
  body: unknown,
  options: ApiCallOptions,
  defaults: { key: string; timestamp: () => string },
): PreparedRequest {
  const payload = options.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
  const signedBody = options.signedBody ?? payload;
  const auth = options.unsigned
    ? {}
    : signRequest({
      method,
      pathAndQuery: options.signedPathAndQuery ?? url,
      timestamp: options.timestamp ?? defaults.timestamp(),
      key: options.key ?? defaults.key,
      ...(signedBody !== undefined && { body: signedBody }),
    });
  const merged: Record<string, string | undefined> = {
    ...auth,
    ...(payload !== undefined && { 'content-type': 'application/json' }),
    ...options.headers,
  };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(merged)) if (value !== undefined) headers[name] = value;
  return { headers, payload };
}

function parseBody(text: string, contentType: string | undefined): JsonBody {
  if (text === '' || !(contentType ?? '').includes('json')) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function flatHeaders(headers: Record<string, unknown>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return flat;
}

type Send = (method: HttpMethod, url: string, request: PreparedRequest) => Promise<ApiResponse>;

function buildHarness(
  stores: ConfigApiStores,
  options: ConfigApiHarnessOptions,
  sendWith: (app: FastifyInstance) => Send,
): Omit<ConfigApiHarness, 'close'> {
  const keys = options.keys ?? [`psk-${randomId()}-${randomId()}`];
  const now = options.now ?? Date.now;
  const registry = new Registry();
  const sinks = createBuiltinSinkRegistry();
  const service = createConfigService({
    store: stores.configs,
    audit: stores.audit,
    status: stores.status,
    deadLetters: stores.deadLetters,
    sinks,
    sinkDeps: { baseDir: stores.baseDir, logger: silentLogger, registry, ...(options.aws && { aws: options.aws }) },
  });
  const auth: ApiAuthOptions = { mode: 'verify', psk: { keys: async () => keys }, now };
  const app = createApiApp({ logger: silentLogger, registry, version: '0.0.0-test', configApi: { service, sinks, auth } });
  const send = sendWith(app);
  const serverErrors: string[] = [];
  // Identical signed requests in one millisecond would be replays; a strictly later
  // timestamp per request keeps every call distinct, and stays within the accepted skew.
  let lastMs = 0;
  const timestamp = (): string => {
    lastMs = Math.max(now(), lastMs + 1);
    return new Date(lastMs).toISOString();
  };
  const currentKey = keys[0];
  if (currentKey === undefined) throw new Error('A harness needs at least one key.');
  return {
    app,
    registry,
    stores,
    keys,
    takeServerErrors: () => serverErrors.splice(0),
    timestamp,
    async call(method, url, body, callOptions = {}) {
      const request = prepareRequest(method, url, body, callOptions, { key: currentKey, timestamp });
      const response = await send(method, url, request);
      if (response.status >= 500) serverErrors.push(`${method} ${url} -> ${response.status} ${response.text}`);
      return response;
    },
  };
}

/**
 * The real app over `stores`, called through `app.inject()`.
 *
 * @example
 * const api = createConfigApiHarness(stores);
 * const created = await api.call('POST', apiPath.configs('acme'), { type: 'file', directory: 'out' });
 */
export function createConfigApiHarness(stores: ConfigApiStores, options: ConfigApiHarnessOptions = {}): ConfigApiHarness {
  const harness = buildHarness(stores, options, (app) => async (method, url, request) => {
    const response = await app.inject({
      method,
      url,
      headers: request.headers,
      ...(request.payload !== undefined && { payload: request.payload }),
    });
    return {
      status: response.statusCode,
      headers: flatHeaders(response.headers),
      text: response.body,
      body: parseBody(response.body, response.headers['content-type']?.toString()),
    };
  });
  return { ...harness, close: () => harness.app.close() };
}

/**
 * The real app over `stores`, listening on 127.0.0.1 (a free port), called with `fetch`.
 * Close it in `afterAll`.
 */
export async function startConfigApiServer(
  stores: ConfigApiStores,
  options: ConfigApiHarnessOptions = {},
): Promise<ConfigApiServer> {
  let baseUrl = '';
  const harness = buildHarness(stores, options, () => async (method, url, request) => {
    const response = await fetch(`${baseUrl}${url}`, {
      method,
      headers: request.headers,
      redirect: 'manual',
      ...(request.payload !== undefined && { body: request.payload }),
    });
    const text = await response.text();
    const headers = flatHeaders(Object.fromEntries(response.headers));
    return { status: response.status, headers, text, body: parseBody(text, headers['content-type']) };
  });
  await harness.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = harness.app.server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;
  return { ...harness, baseUrl, close: () => harness.app.close() };
}

/**
 * Asserts the one error shape, `{"error":{"code","message","details"?}}`, with this status and code.
 *
 * @returns the error object, for further checks
 */
export function expectApiError(
  response: ApiResponse,
  status: number,
  code: string,
): { code: string; message: string; details?: { field?: string; message: string }[] } {
  expect({ status: response.status, code: response.body?.error?.code }, response.text.slice(0, 500)).toEqual({ status, code });
  expect(Value.Check(ApiErrorResponseSchema, response.body)).toBe(true);
  expect(Object.keys(response.body)).toEqual(['error']);
  expect(['code', 'message', 'details']).toEqual(expect.arrayContaining(Object.keys(response.body.error)));
  expect(response.body.error.message).toMatch(/\S/);
  return response.body.error;
}

/** A tenant id no other test uses (a DNS-1123 label). */
export function tenantIdFactory(): string {
  return `t-${randomId()}`;
}

/** Destination kinds with a config factory. */
export type ConfigKind = 'file' | 'cloudwatch' | 's3';

/**
 * A valid create body of one kind, without `tenant_id` (the path gives it).
 *
 * @param overrides - fields to set or replace, valid or not; `undefined` leaves a field out
 */
export function configBodyFactory(kind: ConfigKind, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const id = randomId();
  const base: Record<ConfigKind, Record<string, unknown>> = {
    file: { type: 'file', directory: `out/${id}` },
    cloudwatch: {
      type: 'cloudwatch',
      log_distribution_role_arn: 'arn:aws:iam::123456789012:role/log-distribution',
      log_group_name: `/tenants/${id}`,
    },
    s3: { type: 's3', bucket_name: `logs-${id}`, bucket_prefix: 'cluster-logs/' },
  };
  const body: Record<string, unknown> = { ...base[kind], ...overrides };
  for (const [field, value] of Object.entries(body)) if (value === undefined) delete body[field];
  return body;
}
