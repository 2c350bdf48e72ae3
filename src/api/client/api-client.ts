import type { Static } from 'typebox';
import type { HealthResponseSchema } from '../app.js';
import { signRequest } from '../auth/hmac.js';
import type {
  AuditPageSchema,
  ConfigPageSchema,
  ConfigRowSchema,
  TenantStatusSchema,
  ValidationReportSchema,
} from '../routes/schemas.js';

/**
 * A typed client of the delivery-config API: every route, each request signed when it is
 * sent (docs/api-auth.md), and every failure turned into one {@link ApiClientError}.
 *
 * Response types come from the route schemas (type-only imports), so the client needs
 * nothing at run time beyond `fetch` and `node:crypto`.
 */

/** Where every route of the API lives; the part of the path that is signed starts here. */
export const API_PATH_PREFIX = '/api/v1';

/** A request without an answer after this long is abandoned (a live `validate` can take a while). */
export const DEFAULT_API_CLIENT_TIMEOUT_MS = 30_000;

/** Page size {@link ApiClient.listAllConfigs} asks for: the largest the API serves. */
export const DEFAULT_LIST_ALL_PAGE_SIZE = 1_000;

/** A delivery config as stored: the kind's fields plus `created_at`/`updated_at`. */
export type ApiConfigRow = Static<typeof ConfigRowSchema>;
/** One page of `GET /delivery-configs`. */
export type ApiConfigPage = Static<typeof ConfigPageSchema>;
/** The answer of `GET …/validate`. */
export type ApiValidationReport = Static<typeof ValidationReportSchema>;
/** The answer of `GET /tenants/{tenant}/status`. */
export type ApiTenantStatus = Static<typeof TenantStatusSchema>;
/** One page of a tenant's audit log. */
export type ApiAuditPage = Static<typeof AuditPageSchema>;
/** The health report (`GET /health`). */
export type ApiHealth = Static<typeof HealthResponseSchema>;

/** Failure codes the client itself raises; an error the server answered keeps the server's code. */
export const ApiClientErrorCode = {
  /** Nothing listens at the URL. */
  CONNECTION_REFUSED: 'connection_refused',
  /** The host name does not resolve. */
  HOST_NOT_FOUND: 'host_not_found',
  /** Any other network failure (reset, TLS, …). */
  CONNECTION_FAILED: 'connection_failed',
  /** No answer within the timeout. */
  TIMEOUT: 'timeout',
  /** The caller's signal aborted the request. */
  ABORTED: 'aborted',
  /** The API answered a redirect; a signed request is not re-sent elsewhere. */
  REDIRECTED: 'redirected',
  /** An answer that is not what the API sends (not JSON, or an error of another shape). */
  UNEXPECTED_RESPONSE: 'unexpected_response',
} as const;
export type ApiClientErrorCode = (typeof ApiClientErrorCode)[keyof typeof ApiClientErrorCode];

/** One precise problem the server named: a field, an item by index, or both. */
export interface ApiClientErrorDetail {
  field?: string;
  index?: number;
  message: string;
}

/** A request that did not succeed: the server's error, or why no answer came. */
export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';

  /**
   * @param status - the HTTP status, or `undefined` when no answer came
   * @param code - the server's stable code (`not_found`, `validation_failed`, …) or an {@link ApiClientErrorCode}
   * @param message - the server's message, or ours naming the URL
   * @param details - the server's per-field problems; empty when none
   * @param request - the method and URL, for messages and logs
   */
  constructor(
    readonly status: number | undefined,
    readonly code: string,
    message: string,
    readonly details: readonly ApiClientErrorDetail[],
    readonly request: { readonly method: string; readonly url: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What {@link createApiClient} builds the client from. */
export interface ApiClientOptions {
  /**
   * Where the API is: `http://127.0.0.1:8080`. A path here, such as an API Gateway stage
   * (`https://abc.execute-api.eu-west-1.amazonaws.com/prod`), is sent but not signed, as
   * the signing scheme asks.
   */
  readonly baseUrl: string | URL;
  /** The pre-shared key (`TLR_API_PSK`, or `<data-dir>/api-psk` of a local router). */
  readonly psk: string;
  /** The `fetch` to use; default the global one. */
  readonly fetch?: typeof globalThis.fetch;
  /** The clock for `X-API-Timestamp`, epoch ms; default `Date.now`. */
  readonly now?: () => number;
  /** Per-request timeout; default {@link DEFAULT_API_CLIENT_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
}

/** Per-call options. */
export interface ApiRequestOptions {
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** A page request of a paginated route. */
export interface ApiPageOptions extends ApiRequestOptions {
  /** Items per page, 1-1000; the server's default is 50. */
  readonly limit?: number;
  /** The `next_cursor` of the previous page. */
  readonly cursor?: string;
}

/** Every route of the delivery-config API. Each method throws {@link ApiClientError} on failure. */
export interface ApiClient {
  /** The base URL requests go to, as given. */
  readonly baseUrl: string;
  /** One page of every tenant's configs, in (tenant, type) order. */
  listConfigs(options?: ApiPageOptions): Promise<ApiConfigPage>;
  /** Every config of every tenant, following `next_cursor` to the last page. */
  listAllConfigs(options?: ApiRequestOptions & { pageSize?: number }): Promise<ApiConfigRow[]>;
  /** A tenant's configs. */
  listTenantConfigs(tenant: string, options?: ApiRequestOptions): Promise<ApiConfigRow[]>;
  getConfig(tenant: string, type: string, options?: ApiRequestOptions): Promise<ApiConfigRow>;
  /** Creates a config; a 409 (`conflict`) when one of that type exists. */
  createConfig(tenant: string, config: Record<string, unknown>, options?: ApiRequestOptions): Promise<ApiConfigRow>;
  /** Replaces a config; a 404 when there is none, a 409 (`conflict`) when another request changed it meanwhile. */
  replaceConfig(
    tenant: string,
    type: string,
    config: Record<string, unknown>,
    options?: ApiRequestOptions,
  ): Promise<ApiConfigRow>;
  /** Changes some fields: a JSON merge patch (RFC 7396), `null` removes a field. */
  patchConfig(
    tenant: string,
    type: string,
    patch: Record<string, unknown>,
    options?: ApiRequestOptions,
  ): Promise<ApiConfigRow>;
  deleteConfig(tenant: string, type: string, options?: ApiRequestOptions): Promise<void>;
  /** Field checks, then a live access check of the destination. */
  validateConfig(tenant: string, type: string, options?: ApiRequestOptions): Promise<ApiValidationReport>;
  tenantStatus(tenant: string, options?: ApiRequestOptions): Promise<ApiTenantStatus>;
  /** Removes every config of a tenant. */
  offboardTenant(tenant: string, options?: ApiRequestOptions): Promise<void>;
  /** One page of a tenant's audit log, newest first. */
  audit(tenant: string, options?: ApiPageOptions): Promise<ApiAuditPage>;
  /** The health report; answered also when the server reports itself unhealthy (503). Not signed. */
  health(options?: ApiRequestOptions): Promise<ApiHealth>;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Call {
  readonly method: Method;
  /** From {@link API_PATH_PREFIX} on, path segments already encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
  readonly signal?: AbortSignal | undefined;
  /** Health needs no signature. */
  readonly unsigned?: boolean;
  /** Non-2xx statuses whose body is still the answer (the health report at 503). */
  readonly answerStatuses?: readonly number[];
  /** A success carries no body (204): whatever comes is ignored. */
  readonly noContent?: boolean;
}

/** Status → code for error answers that are not in the API's shape (API Gateway's own, a proxy's). */
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'too_many_requests',
  500: 'internal_error',
  502: 'service_unavailable',
  503: 'service_unavailable',
  504: 'service_unavailable',
};

/** How much of an unexpected body goes into a message. */
const BODY_EXCERPT_CHARS = 200;

/**
 * Encodes one path segment. `:` (in `<kind>:<name>`) stays as it is: RFC 3986 allows it in a
 * segment, and API Gateway HTTP APIs hand the path to the authorizer decoded, so a segment
 * without escapes is signed and verified alike on every front end.
 */
function segment(value: string): string {
  return encodeURIComponent(value).replaceAll('%3A', ':');
}

function queryString(query: Readonly<Record<string, string | number | undefined>>): string {
  return Object.entries(query)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
    .join('&');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `{"error":{code,message,details}}` body, or undefined when the body is not that. */
function apiErrorOf(body: unknown): { code: string; message: string; details: ApiClientErrorDetail[] } | undefined {
  if (!isRecord(body) || !isRecord(body['error'])) return undefined;
  const { code, message, details } = body['error'];
  if (typeof code !== 'string' || typeof message !== 'string') return undefined;
  const list = Array.isArray(details) ? details.filter(isRecord) : [];
  return {
    code,
    message,
    details: list.map((d) => ({
      ...(typeof d['field'] === 'string' && { field: d['field'] }),
      ...(typeof d['index'] === 'number' && { index: d['index'] }),
      message: typeof d['message'] === 'string' ? d['message'] : 'is invalid',
    })),
  };
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > BODY_EXCERPT_CHARS ? `${flat.slice(0, BODY_EXCERPT_CHARS)}…` : flat;
}

/** The error `fetch` raised, as one that names the URL and what to check. */
function networkError(
  error: unknown,
  request: { method: string; url: string },
  context: { origin: string; timeoutMs: number; signal?: AbortSignal | undefined },
): ApiClientError {
  const { origin, timeoutMs, signal } = context;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') {
    return new ApiClientError(
      undefined,
      ApiClientErrorCode.TIMEOUT,
      `${request.method} ${request.url} got no answer within ${timeoutMs} ms; check that the API server at ${origin} is running and reachable.`,
      [],
      request,
      { cause: error },
    );
  }
  if (name === 'AbortError' || signal?.aborted === true) {
    return new ApiClientError(undefined, ApiClientErrorCode.ABORTED, `${request.method} ${request.url} was aborted.`, [], request, {
      cause: error,
    });
  }
  // Node's fetch raises `TypeError: fetch failed` with the socket error as its cause.
  const cause = (error as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | null)?.code ?? (error as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED') {
    return new ApiClientError(
      undefined,
      ApiClientErrorCode.CONNECTION_REFUSED,
      `Cannot connect to the API at ${origin}: the connection was refused, so no server is listening there. ` +
        'Check that the API server is running and that the URL is right.',
      [],
      request,
      { cause: error },
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ApiClientError(
      undefined,
      ApiClientErrorCode.HOST_NOT_FOUND,
      `Cannot connect to the API at ${origin}: the host name does not resolve (${String(code)}). Check the URL.`,
      [],
      request,
      { cause: error },
    );
  }
  const reason = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
  return new ApiClientError(
    undefined,
    ApiClientErrorCode.CONNECTION_FAILED,
    `${request.method} ${request.url} failed before an answer came (${reason}); check that the API server at ${origin} is running and reachable.`,
    [],
    request,
    { cause: error },
  );
}

/**
 * Creates a client of the delivery-config API.
 *
 * @param options - where the API is, the pre-shared key, and optionally `fetch`, the clock and the timeout
 * @returns the client; it holds no connection of its own, so there is nothing to close
 * @throws TypeError when `baseUrl` is not an absolute http(s) URL
 * @example
 * ```ts
 * import { createApiClient } from './src/api/client/index.js';
 *
 * const api = createApiClient({ baseUrl: 'http://127.0.0.1:8080', psk: process.env.TLR_API_PSK ?? '' });
 * await api.createConfig('acme', { type: 'cloudwatch', log_group_name: '/acme/app' });
 * for (const row of await api.listAllConfigs()) console.log(row.tenant_id, row.type);
 * ```
 */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const base = new URL(String(options.baseUrl));
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new TypeError(`The API URL must start with http:// or https://, got '${String(options.baseUrl)}'.`);
  }
  // A path in the base URL (an API Gateway stage) goes in front of the signed path.
  const basePath = base.pathname.replace(/\/+$/, '');
  const origin = `${base.origin}${basePath}`;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DEFAULT_API_CLIENT_TIMEOUT_MS;

  async function send<T>(call: Call): Promise<T> {
    const query = call.query === undefined ? '' : queryString(call.query);
    const pathAndQuery = query === '' ? call.path : `${call.path}?${query}`;
    const url = `${origin}${pathAndQuery}`;
    const request = { method: call.method, url };
    // Serialised once: these bytes are hashed, signed and sent.
    const body = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body), 'utf8');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (call.unsigned !== true) {
      // Signed at send time, so the timestamp is fresh even after a slow previous call.
      const timestamp = new Date(now()).toISOString();
      const signed = signRequest({ method: call.method, pathAndQuery, timestamp, key: options.psk, ...(body && { body }) });
      Object.assign(headers, signed);
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = call.signal === undefined ? timeout : AbortSignal.any([call.signal, timeout]);

    let response: Response;
    let text: string;
    try {
      // A redirect is not followed: the signature covers this path only.
      response = await fetchImpl(url, { method: call.method, headers, ...(body && { body }), signal, redirect: 'manual' });
      text = await response.text();
    } catch (error) {
      throw networkError(error, request, { origin, timeoutMs, signal: call.signal });
    }

    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location');
      throw new ApiClientError(
        response.status,
        ApiClientErrorCode.REDIRECTED,
        `The API at ${origin} answered ${request.method} ${url} with a redirect (${response.status}) to ${location ?? 'an unnamed place'}; ` +
          'use the final address as the API URL.',
        [],
        request,
      );
    }
    const answered = response.ok || (call.answerStatuses ?? []).includes(response.status);
    if (answered && call.noContent === true) return undefined as T;

    let parsed: unknown;
    let parseError: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      parseError = error;
    }
    if (answered) {
      if (parseError === undefined) return parsed as T;
      throw new ApiClientError(
        response.status,
        ApiClientErrorCode.UNEXPECTED_RESPONSE,
        `The answer to ${request.method} ${url} is not JSON (${response.headers.get('content-type') ?? 'no content type'}): ${excerpt(text) || '(empty body)'}`,
        [],
        request,
        { cause: parseError },
      );
    }

    const apiError = apiErrorOf(parsed);
    if (apiError) {
      throw new ApiClientError(response.status, apiError.code, apiError.message, apiError.details, request);
    }
    // Not our shape: API Gateway's own answers (`{"message":"Unauthorized"}`) or a proxy's page.
    const gatewayMessage = isRecord(parsed) ? (parsed['message'] ?? parsed['Message']) : undefined;
    const said = typeof gatewayMessage === 'string' ? gatewayMessage : excerpt(text) || '(empty body)';
    throw new ApiClientError(
      response.status,
      CODE_BY_STATUS[response.status] ?? ApiClientErrorCode.UNEXPECTED_RESPONSE,
      `${request.method} ${url} failed with HTTP ${response.status}, and the answer is not an API error: ${said}`,
      [],
      request,
    );
  }

  const tenantPath = (tenant: string) => `${API_PATH_PREFIX}/tenants/${segment(tenant)}`;
  const configPath = (tenant: string, type: string) => `${tenantPath(tenant)}/delivery-configs/${segment(type)}`;

  const client: ApiClient = {
    baseUrl: String(options.baseUrl),

    listConfigs(page = {}) {
      return send<ApiConfigPage>({
        method: 'GET',
        path: `${API_PATH_PREFIX}/delivery-configs`,
        query: { limit: page.limit, cursor: page.cursor },
        signal: page.signal,
      });
    },

    async listAllConfigs(listOptions = {}) {
      const rows: ApiConfigRow[] = [];
      const seen = new Set<string>();
      let cursor: string | undefined;
      do {
        const page = await client.listConfigs({
          limit: listOptions.pageSize ?? DEFAULT_LIST_ALL_PAGE_SIZE,
          ...(cursor !== undefined && { cursor }),
          ...(listOptions.signal && { signal: listOptions.signal }),
        });
        rows.push(...page.items);
        cursor = page.next_cursor;
        // A server handing out a cursor twice would loop forever.
        if (cursor !== undefined) {
          if (seen.has(cursor)) {
            throw new ApiClientError(
              200,
              ApiClientErrorCode.UNEXPECTED_RESPONSE,
              `The API at ${origin} returned the cursor '${cursor}' twice while listing configs.`,
              [],
              { method: 'GET', url: `${origin}${API_PATH_PREFIX}/delivery-configs` },
            );
          }
          seen.add(cursor);
        }
      } while (cursor !== undefined);
      return rows;
    },

    async listTenantConfigs(tenant, requestOptions = {}) {
      const list = await send<{ items: ApiConfigRow[] }>({
        method: 'GET',
        path: `${tenantPath(tenant)}/delivery-configs`,
        signal: requestOptions.signal,
      });
      return list.items;
    },

    getConfig(tenant, type, requestOptions = {}) {
      return send({ method: 'GET', path: configPath(tenant, type), signal: requestOptions.signal });
    },

    createConfig(tenant, config, requestOptions = {}) {
      return send({
        method: 'POST',
        path: `${tenantPath(tenant)}/delivery-configs`,
        body: config,
        signal: requestOptions.signal,
      });
    },

    replaceConfig(tenant, type, config, requestOptions = {}) {
      return send({ method: 'PUT', path: configPath(tenant, type), body: config, signal: requestOptions.signal });
    },

    patchConfig(tenant, type, patch, requestOptions = {}) {
      return send({ method: 'PATCH', path: configPath(tenant, type), body: patch, signal: requestOptions.signal });
    },

    async deleteConfig(tenant, type, requestOptions = {}) {
      await send({ method: 'DELETE', path: configPath(tenant, type), signal: requestOptions.signal, noContent: true });
    },

    validateConfig(tenant, type, requestOptions = {}) {
      return send({ method: 'GET', path: `${configPath(tenant, type)}/validate`, signal: requestOptions.signal });
    },

    tenantStatus(tenant, requestOptions = {}) {
      return send({ method: 'GET', path: `${tenantPath(tenant)}/status`, signal: requestOptions.signal });
    },

    async offboardTenant(tenant, requestOptions = {}) {
      await send({ method: 'DELETE', path: tenantPath(tenant), signal: requestOptions.signal, noContent: true });
    },

    audit(tenant, page = {}) {
      return send({
        method: 'GET',
        path: `${tenantPath(tenant)}/audit`,
        query: { limit: page.limit, cursor: page.cursor },
        signal: page.signal,
      });
    },

    health(requestOptions = {}) {
      return send({
        method: 'GET',
        path: `${API_PATH_PREFIX}/health`,
        unsigned: true,
        answerStatuses: [503],
        signal: requestOptions.signal,
      });
    },
  };
  return client;
}
