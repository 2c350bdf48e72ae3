import type { FastifyInstance } from 'fastify';
import { HEALTH_ROUTE } from '../api/app.js';
import { type AuthHeaderValue, verifySignature } from '../api/auth/hmac.js';
import { PRINCIPAL_HEADER } from '../api/auth/plugin.js';
import { type Logger, silentLogger } from '../logging/index.js';

/**
 * The delivery-config API on AWS Lambda behind API Gateway: a proxy adapter that hands
 * REST API (payload 1.0) and HTTP API (payload 2.0) events to the Fastify app through
 * `app.inject()`, and a REQUEST authorizer that checks the HMAC signature
 * (docs/api-auth.md) before API Gateway invokes the API function.
 *
 * Both must agree on the path and query the client signed, so both derive them with the
 * same functions here:
 *
 * - The path is the one the client sent, without the API Gateway stage. On the
 *   `execute-api` host a REST API hands the stage only in `requestContext.path`
 *   (`/prod/api/v1/…`), not in `path` (`/api/v1/…`); an HTTP API keeps a named stage in
 *   `rawPath`. On a custom domain the URL has no stage at all, and a stage may be named
 *   like the first path segment (`api`), so a leading `/<stage>` is removed only where
 *   the event shows it is the stage: on the `execute-api` host, or where
 *   `requestContext.path` is exactly `/<stage>` + `path`. A custom domain must map the
 *   stage at an empty base path: a base path stays in the path, which then matches no route.
 * - The query of an HTTP API event is `rawQueryString`, exactly as sent, so both signing
 *   forms verify. A REST API event carries the query only decoded
 *   (`multiValueQueryStringParameters`), so it is rebuilt here with `encodeURIComponent`,
 *   names in the order API Gateway lists them. The raw signature of a client therefore
 *   verifies only when it encoded the same way (as `createApiClient` does); any other
 *   client behind a REST API must sign the decoded form, which the verifier accepts as
 *   well, and must not repeat a parameter name apart (API Gateway groups the values by name).
 * - An HTTP API hands the path decoded (`%3A` arrives as `:`). Paths that need no
 *   escaping (every tenant id and config type) verify alike; characters that cannot stand
 *   in a path are escaped again so that `inject()` gets a valid URL.
 */

/** A REST API proxy integration event (payload 1.0), the parts the adapter reads. */
export interface ApiGatewayRestEvent {
  readonly httpMethod: string;
  /** The path without the stage on the `execute-api` host; a custom domain's base path stays in it. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
  readonly multiValueHeaders?: Readonly<Record<string, readonly string[] | undefined>> | null;
  /** Decoded by API Gateway. */
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  /** Decoded by API Gateway, values grouped by name. */
  readonly multiValueQueryStringParameters?: Readonly<Record<string, readonly string[] | undefined>> | null;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly requestContext?: {
    readonly stage?: string;
    /** The path with the stage on the `execute-api` host (`/prod/api/v1/…`). */
    readonly path?: string;
    readonly domainName?: string;
    readonly identity?: { readonly sourceIp?: string } | null;
    /** What the Lambda authorizer returned: its `principalId` and `context` entries. */
    readonly authorizer?: { readonly principalId?: unknown } | null;
  };
}

/** An HTTP API event (payload 2.0), the parts the adapter reads. */
export interface ApiGatewayHttpEvent {
  readonly version: '2.0';
  /** The path as sent (a named stage included on the `execute-api` host), decoded. */
  readonly rawPath: string;
  /** The query exactly as sent, without `?`. */
  readonly rawQueryString?: string;
  /** Lowercase names; repeated headers joined with commas. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly cookies?: readonly string[];
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly requestContext: {
    readonly stage?: string;
    readonly domainName?: string;
    readonly http: { readonly method: string; readonly sourceIp?: string };
    /** The simple response's `context` of a Lambda authorizer is under `lambda`. */
    readonly authorizer?: { readonly lambda?: { readonly principalId?: unknown } | null } | null;
  };
}

/** What the API Gateway proxy handler takes. */
export type ApiGatewayProxyEvent = ApiGatewayRestEvent | ApiGatewayHttpEvent;

/** What the proxy handler answers API Gateway with. */
export interface ApiGatewayProxyResult {
  statusCode: number;
  /** Single-valued headers. */
  headers: Record<string, string>;
  /** REST API: headers sent more than once. */
  multiValueHeaders?: Record<string, string[]>;
  /** HTTP API: the `Set-Cookie` values (it takes them only here). */
  cookies?: string[];
  body: string;
  isBase64Encoded: boolean;
}

/** Builds the Fastify app; called once, on the first invocation. */
export type ApiAppFactory = () => FastifyInstance | Promise<FastifyInstance>;

/** The normalised request both handlers work from. */
interface GatewayRequest {
  readonly method: string;
  /** Without the stage, as the client signed it. */
  readonly path: string;
  /** Without `?`; encoded. */
  readonly rawQuery: string;
  /** Lowercase names. */
  readonly headers: Map<string, string[]>;
}

const EXECUTE_API_HOST = /\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/i;

/** Hop-by-hop headers API Gateway sets itself; an integration must not pass them on. */
const HOP_BY_HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding']);

/** Content types returned as text; everything else goes back base64-encoded. */
const TEXT_CONTENT_TYPE = /^(text\/[^;]+|application\/([\w.-]+\+)?(json|xml|javascript|yaml|x-www-form-urlencoded))\s*(;|$)/i;

/** Any character RFC 3986 does not allow literally in a path, and a `%` that starts no escape. */
const UNSAFE_PATH_CHARACTER = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]|%(?![0-9A-Fa-f]{2})/gu;

function withoutStage(
  path: string,
  context: { stage?: string | undefined; contextPath?: string | undefined; domainName?: string | undefined },
): string {
  const { stage, contextPath, domainName } = context;
  if (stage === undefined || stage === '' || stage === '$default') return path;
  const prefix = `/${stage}`;
  // REST API on the execute-api host: API Gateway already took the stage out of `path`.
  if (contextPath !== undefined && contextPath === `${prefix}${path}`) return path;
  // A stage still in the path is only the stage on the execute-api host; on a custom domain
  // the first segment is the client's own (a stage named `api` must not eat `/api/v1`).
  const onExecuteApi = domainName !== undefined && EXECUTE_API_HOST.test(domainName);
  if (onExecuteApi && (path === prefix || path.startsWith(`${prefix}/`))) return path.slice(prefix.length) || '/';
  return path;
}

function escapeUnsafePath(path: string): string {
  return path.replace(UNSAFE_PATH_CHARACTER, (character) => {
    try {
      return encodeURIComponent(character);
    } catch {
      // A lone surrogate cannot be encoded; it stands for nothing the client could have signed.
      return '%EF%BF%BD';
    }
  });
}

function isHttpEvent<E extends object>(event: E): event is Extract<E, { readonly version: '2.0' }> {
  return (event as { version?: unknown } | null)?.version === '2.0';
}

function lowercaseHeaders(
  single: Readonly<Record<string, string | undefined>> | null | undefined,
  multi: Readonly<Record<string, readonly string[] | undefined>> | null | undefined,
): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  const add = (name: string, values: readonly string[]) => {
    const key = name.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), ...values]);
  };
  // The multi-value form keeps repeated headers apart, so a repeated signature header is seen as such.
  if (multi) for (const [name, values] of Object.entries(multi)) add(name, values ?? []);
  else if (single) for (const [name, value] of Object.entries(single)) if (value !== undefined) add(name, [value]);
  return headers;
}

/** The query of a REST API event, rebuilt encoded from the decoded parameters API Gateway hands over. */
function restQuery(event: {
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly multiValueQueryStringParameters?: Readonly<Record<string, readonly string[] | undefined>> | null;
}): string {
  const pairs: [string, string][] = event.multiValueQueryStringParameters
    ? Object.entries(event.multiValueQueryStringParameters).flatMap(([name, values]) =>
      (values ?? []).map((value): [string, string] => [name, value]),
    )
    : Object.entries(event.queryStringParameters ?? {}).flatMap(([name, value]): [string, string][] =>
      value === undefined ? [] : [[name, value]],
    );
  return pairs.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&');
}

function restRequest(event: ApiGatewayRestEvent): GatewayRequest {
  const context = event.requestContext;
  return {
    method: event.httpMethod.toUpperCase(),
    path: withoutStage(event.path, { stage: context?.stage, contextPath: context?.path, domainName: context?.domainName }),
    rawQuery: restQuery(event),
    headers: lowercaseHeaders(event.headers, event.multiValueHeaders),
  };
}

function httpRequest(event: ApiGatewayHttpEvent): GatewayRequest {
  const context = event.requestContext;
  const headers = lowercaseHeaders(event.headers, undefined);
  if (event.cookies !== undefined && event.cookies.length > 0) headers.set('cookie', [event.cookies.join('; ')]);
  return {
    method: context.http.method.toUpperCase(),
    path: withoutStage(event.rawPath, { stage: context.stage, domainName: context.domainName }),
    rawQuery: event.rawQueryString ?? '',
    headers,
  };
}

function pathAndQuery(request: GatewayRequest): string {
  const path = escapeUnsafePath(request.path);
  return request.rawQuery === '' ? path : `${path}?${request.rawQuery}`;
}

function principalOf(event: ApiGatewayProxyEvent): string | undefined {
  const principal = isHttpEvent(event)
    ? event.requestContext.authorizer?.lambda?.principalId
    : event.requestContext?.authorizer?.principalId;
  return typeof principal === 'string' && principal !== '' ? principal : undefined;
}

function toResult(
  statusCode: number,
  rawHeaders: Record<string, string | string[] | number | undefined>,
  payload: Buffer,
  httpApi: boolean,
): ApiGatewayProxyResult {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(rawHeaders)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name)) continue;
    const values = Array.isArray(value) ? value.map(String) : [String(value)];
    if (httpApi && name === 'set-cookie') cookies = values;
    else if (values.length === 1) headers[name] = values[0]!;
    // An HTTP API takes one value per header; the rest of a list joins as HTTP allows.
    else if (httpApi) headers[name] = values.join(', ');
    else multiValueHeaders[name] = values;
  }
  const text = TEXT_CONTENT_TYPE.test(headers['content-type'] ?? '') || payload.length === 0;
  return {
    statusCode,
    headers,
    ...(Object.keys(multiValueHeaders).length > 0 && { multiValueHeaders }),
    ...(cookies !== undefined && { cookies }),
    body: text ? payload.toString('utf8') : payload.toString('base64'),
    isBase64Encoded: !text,
  };
}

/**
 * Creates the Lambda handler serving the API behind API Gateway, REST API (payload 1.0) and
 * HTTP API (payload 2.0) alike. The app is built on the first invocation and reused by
 * every later one in the same execution environment; a factory that fails is tried again
 * on the next invocation.
 *
 * A client's own `x-tlr-principal` header is always removed: only the Lambda authorizer's
 * principal (`requestContext.authorizer.principalId`, or `….authorizer.lambda.principalId`
 * for an HTTP API) is passed to the app in it.
 *
 * @param appFactory - builds the Fastify app, with the config API in `authorizer` auth mode
 * @returns the handler: event in, API Gateway proxy result out
 * @throws from the handler, whatever `appFactory` or `app.ready()` throws (API Gateway answers 502)
 * @example
 * ```ts
 * export const handler = createApiGatewayHandler(() =>
 *   createApiApp({ logger, registry, version, configApi: { service, auth: { mode: 'authorizer' } } }),
 * );
 * ```
 */
export function createApiGatewayHandler(
  appFactory: ApiAppFactory,
): (event: ApiGatewayProxyEvent) => Promise<ApiGatewayProxyResult> {
  let app: Promise<FastifyInstance> | undefined;
  const readyApp = (): Promise<FastifyInstance> => {
    app ??= (async () => {
      const built = await appFactory();
      await built.ready();
      return built;
    })().catch((error: unknown) => {
      app = undefined;
      throw error;
    });
    return app;
  };

  return async (event) => {
    const fastify = await readyApp();
    const httpApi = isHttpEvent(event);
    const request = httpApi ? httpRequest(event) : restRequest(event);

    const headers: Record<string, string | string[]> = {};
    for (const [name, values] of request.headers) {
      // A spoofed principal must never reach the app; the authorizer's is set below.
      if (name === PRINCIPAL_HEADER) continue;
      // inject() sets the length of the payload it sends, which is the decoded body.
      if (name === 'content-length' || HOP_BY_HOP_HEADERS.has(name)) continue;
      headers[name] = values.length === 1 ? values[0]! : values;
    }
    const principal = principalOf(event);
    if (principal !== undefined) headers[PRINCIPAL_HEADER] = principal;

    const body = event.body ?? undefined;
    const payload = body === undefined ? undefined : Buffer.from(body, event.isBase64Encoded === true ? 'base64' : 'utf8');
    const sourceIp = httpApi ? event.requestContext.http.sourceIp : event.requestContext?.identity?.sourceIp;

    const response = await fastify.inject({
      method: request.method as 'GET',
      url: pathAndQuery(request),
      headers,
      ...(payload !== undefined && { payload }),
      ...(sourceIp !== undefined && { remoteAddress: sourceIp }),
    });
    return toResult(response.statusCode, response.headers, response.rawPayload, httpApi);
  };
}

/** A REST API `REQUEST` authorizer event (also an HTTP API's with payload 1.0), the parts read. */
export interface ApiGatewayRestAuthorizerEvent {
  readonly type: 'REQUEST';
  /** The method's ARN, which the policy allows. */
  readonly methodArn: string;
  readonly httpMethod: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
  readonly multiValueHeaders?: Readonly<Record<string, readonly string[] | undefined>> | null;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly multiValueQueryStringParameters?: Readonly<Record<string, readonly string[] | undefined>> | null;
  readonly requestContext?: { readonly stage?: string; readonly path?: string; readonly domainName?: string };
}

/** An HTTP API `REQUEST` authorizer event with payload 2.0, the parts read. */
export interface ApiGatewayHttpAuthorizerEvent {
  readonly version: '2.0';
  readonly type: 'REQUEST';
  readonly routeArn?: string;
  readonly rawPath: string;
  readonly rawQueryString?: string;
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly cookies?: readonly string[];
  readonly requestContext: {
    readonly stage?: string;
    readonly domainName?: string;
    readonly http: { readonly method: string };
  };
}

/** An IAM policy answer (payload 1.0). */
export interface IamPolicyAuthorizerResult {
  principalId: string;
  policyDocument: {
    Version: '2012-10-17';
    Statement: { Action: 'execute-api:Invoke'; Effect: 'Allow' | 'Deny'; Resource: string }[];
  };
  /** Reaches the integration as `requestContext.authorizer.principalId`. */
  context: { principalId: string };
}

/** The simple answer of an HTTP API authorizer (payload 2.0, simple responses on). */
export interface SimpleAuthorizerResult {
  isAuthorized: boolean;
  /** Reaches the integration as `requestContext.authorizer.lambda.principalId`. */
  context?: { principalId: string };
}

/** The authorizer handler, typed per payload version. */
export interface ApiGatewayAuthorizerHandler {
  (event: ApiGatewayRestAuthorizerEvent): Promise<IamPolicyAuthorizerResult>;
  (event: ApiGatewayHttpAuthorizerEvent): Promise<SimpleAuthorizerResult>;
}

/** What {@link createAuthorizerHandler} checks signatures with. */
export interface AuthorizerOptions {
  /** The accepted keys, current first (a PSK source such as Secrets Manager's). */
  readonly psk: { keys(): Promise<readonly string[]> };
  /** The clock, epoch ms; default `Date.now`. */
  readonly now?: () => number;
  /** Accepted clock skew; default 300 s. */
  readonly maxSkewMs?: number;
  /** Refusals are logged at debug level; a key source failure at error. */
  readonly logger?: Logger;
}

/** The principal of a request to the health route, which needs no signature. */
export const ANONYMOUS_PRINCIPAL = 'anonymous';

/** Principal ids by the index of the key that verified: `psk:current`, `psk:previous`. */
const KEY_PRINCIPALS = ['psk:current', 'psk:previous'] as const;

/** The message API Gateway turns into a 401 when a REST API authorizer fails with it. */
const UNAUTHORIZED = 'Unauthorized';

/**
 * Creates the Lambda `REQUEST` authorizer of the API. It verifies the signature and the
 * timestamp with the current or the previous key; it never sees the body, but the
 * signature covers the claimed body hash, which the app checks against the body. Replays
 * are refused by the app too. `GET /api/v1/health` passes without a signature.
 *
 * - REST API (and HTTP API payload 1.0): an `Allow` policy for the `methodArn` with
 *   `principalId` `psk:current` or `psk:previous`; a refused signature fails the
 *   invocation with `Unauthorized`, which API Gateway answers with 401.
 * - HTTP API payload 2.0 with simple responses: `{ isAuthorized, context: { principalId } }`;
 *   `isAuthorized: false` is answered with 403.
 *
 * Configure no identity source and no result caching (TTL 0): every request carries a
 * new signature, and a cached policy would outlive the timestamp window.
 *
 * @param options - the key source, the clock and the accepted skew
 * @returns the handler
 * @throws from the handler, `Unauthorized` for a refused REST API request; the key source's
 *   error when no keys can be had (API Gateway answers 500: a server fault, not the client's)
 * @example
 * ```ts
 * export const handler = createAuthorizerHandler({ psk: pskSourceFromEnv(process.env, { logger }) });
 * ```
 */
export function createAuthorizerHandler(options: AuthorizerOptions): ApiGatewayAuthorizerHandler {
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger;

  /** The principal of a signed request, or undefined when it is refused. */
  async function authenticate(request: GatewayRequest): Promise<string | undefined> {
    if (request.method === 'GET' && request.path === HEALTH_ROUTE) return ANONYMOUS_PRINCIPAL;
    let keys: readonly string[];
    try {
      keys = await options.psk.keys();
    } catch (error) {
      logger.error('The API keys cannot be read; every request fails until they can.', { error });
      throw error;
    }
    const header = (name: string): AuthHeaderValue => request.headers.get(name);
    const verification = verifySignature({
      method: request.method,
      rawPathAndQuery: request.rawQuery === '' ? request.path : `${request.path}?${request.rawQuery}`,
      headers: {
        authorization: header('authorization'),
        'x-api-timestamp': header('x-api-timestamp'),
        'x-body-sha256': header('x-body-sha256'),
      },
      keys,
      nowMs: now(),
      ...(options.maxSkewMs !== undefined && { maxSkewMs: options.maxSkewMs }),
    });
    if (!verification.ok) {
      logger.debug('A request to the API was refused.', {
        method: request.method,
        path: request.path,
        reason: verification.reason,
        message: verification.message,
      });
      return undefined;
    }
    return KEY_PRINCIPALS[verification.keyIndex] ?? `psk:${verification.keyIndex}`;
  }

  const handler = async (
    event: ApiGatewayRestAuthorizerEvent | ApiGatewayHttpAuthorizerEvent,
  ): Promise<IamPolicyAuthorizerResult | SimpleAuthorizerResult> => {
    if (isHttpEvent(event)) {
      const principal = await authenticate(httpRequest(event));
      return principal === undefined ? { isAuthorized: false } : { isAuthorized: true, context: { principalId: principal } };
    }
    if (typeof (event as { methodArn?: unknown }).methodArn !== 'string') {
      // A TOKEN authorizer or another event: a deployment mistake, so a 500 rather than a 401.
      throw new Error('The API authorizer needs REQUEST events (payload 1.0 with methodArn, or 2.0).');
    }
    const principal = await authenticate(restRequest(event));
    if (principal === undefined) throw new Error(UNAUTHORIZED);
    return {
      principalId: principal,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: { principalId: principal },
    };
  };
  return handler as ApiGatewayAuthorizerHandler;
}
