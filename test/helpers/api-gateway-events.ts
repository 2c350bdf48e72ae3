import { randomId } from './factories.js';

/**
 * API Gateway events built from the request a client sends, the way API Gateway builds them:
 * a REST API (payload 1.0) decodes the query into `multiValueQueryStringParameters` and
 * keeps the stage out of `path`; an HTTP API (payload 2.0) keeps `rawQueryString` as sent
 * and a named stage in `rawPath` on the `execute-api` host.
 */

/** A request as the client sends it. */
export interface ClientRequest {
  readonly method: string;
  /** Path and query as on the wire, without the stage. */
  readonly pathAndQuery: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: Buffer | string;
}

/** Where the request arrived and what API Gateway added. */
export interface GatewayContext {
  /** Default `prod`. */
  readonly stage?: string;
  /** Default a random `*.execute-api.eu-west-1.amazonaws.com` host; set a custom domain to leave the stage out of the URL. */
  readonly domainName?: string;
  /** The authorizer's principal. */
  readonly principal?: string;
  /** Send the body base64-encoded (binary media types). */
  readonly base64?: boolean;
}

export const executeApiHost = (): string => `${randomId()}.execute-api.eu-west-1.amazonaws.com`;

function split(pathAndQuery: string): { path: string; rawQuery: string } {
  const at = pathAndQuery.indexOf('?');
  return at === -1
    ? { path: pathAndQuery, rawQuery: '' }
    : { path: pathAndQuery.slice(0, at), rawQuery: pathAndQuery.slice(at + 1) };
}

/** `application/x-www-form-urlencoded` decoding, as API Gateway decodes a REST API query. */
function decodedQuery(rawQuery: string): Record<string, string[]> | null {
  if (rawQuery === '') return null;
  const grouped: Record<string, string[]> = {};
  for (const [name, value] of new URLSearchParams(rawQuery)) (grouped[name] ??= []).push(value);
  return grouped;
}

function multiValueHeaders(headers: ClientRequest['headers'] = {}): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, typeof value === 'string' ? [value] : [...value]]),
  );
}

function singleHeaders(headers: ClientRequest['headers'] = {}): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, typeof value === 'string' ? value : value.join(',')]),
  );
}

function bodyOf(request: ClientRequest, base64: boolean): string | null {
  if (request.body === undefined) return null;
  const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, 'utf8');
  return base64 ? bytes.toString('base64') : bytes.toString('utf8');
}

function urlStage(stage: string, domainName: string): string {
  return domainName.includes('.execute-api.') && stage !== '$default' ? `/${stage}` : '';
}

/** A REST API proxy integration event (payload 1.0). */
export function restProxyEventFactory(request: ClientRequest, context: GatewayContext = {}) {
  const { stage = 'prod', domainName = executeApiHost(), principal, base64 = false } = context;
  const { path, rawQuery } = split(request.pathAndQuery);
  const query = decodedQuery(rawQuery);
  const multi = multiValueHeaders(request.headers);
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: request.method,
    headers: Object.fromEntries(Object.entries(multi).map(([name, values]) => [name, values.at(-1)!])),
    multiValueHeaders: multi,
    queryStringParameters: query && Object.fromEntries(Object.entries(query).map(([name, values]) => [name, values.at(-1)!])),
    multiValueQueryStringParameters: query,
    pathParameters: { proxy: path.slice(1) },
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      stage,
      path: `${urlStage(stage, domainName)}${path}`,
      domainName,
      httpMethod: request.method,
      requestId: randomId(),
      identity: { sourceIp: '203.0.113.7' },
      ...(principal !== undefined && { authorizer: { principalId: principal, integrationLatency: 3 } }),
    },
    body: bodyOf(request, base64),
    isBase64Encoded: base64,
  };
}

/** An HTTP API event (payload 2.0). */
export function httpProxyEventFactory(request: ClientRequest, context: GatewayContext = {}) {
  const { stage = 'prod', domainName = executeApiHost(), principal, base64 = false } = context;
  const { path, rawQuery } = split(request.pathAndQuery);
  const headers = Object.fromEntries(Object.entries(singleHeaders(request.headers)).map(([n, v]) => [n.toLowerCase(), v]));
  const cookie = headers['cookie'];
  delete headers['cookie'];
  const body = bodyOf(request, base64);
  return {
    version: '2.0' as const,
    routeKey: '$default',
    rawPath: `${urlStage(stage, domainName)}${path}`,
    rawQueryString: rawQuery,
    ...(cookie !== undefined && { cookies: cookie.split('; ') }),
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName,
      http: { method: request.method, path: `${urlStage(stage, domainName)}${path}`, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7' },
      requestId: randomId(),
      routeKey: '$default',
      stage,
      ...(principal !== undefined && { authorizer: { lambda: { principalId: principal } } }),
    },
    ...(body !== null && { body }),
    isBase64Encoded: base64,
  };
}

/** A REST API `REQUEST` authorizer event for the request. */
export function restAuthorizerEventFactory(request: ClientRequest, context: GatewayContext = {}) {
  const proxy = restProxyEventFactory(request, context);
  return {
    type: 'REQUEST' as const,
    methodArn: `arn:aws:execute-api:eu-west-1:123456789012:abc123/${proxy.requestContext.stage}/${request.method}${proxy.path}`,
    resource: proxy.resource,
    path: proxy.path,
    httpMethod: proxy.httpMethod,
    headers: proxy.headers,
    multiValueHeaders: proxy.multiValueHeaders,
    queryStringParameters: proxy.queryStringParameters,
    multiValueQueryStringParameters: proxy.multiValueQueryStringParameters,
    pathParameters: proxy.pathParameters,
    stageVariables: null,
    requestContext: proxy.requestContext,
  };
}

/** An HTTP API `REQUEST` authorizer event (payload 2.0) for the request. */
export function httpAuthorizerEventFactory(request: ClientRequest, context: GatewayContext = {}) {
  const { body: _body, isBase64Encoded: _base64, ...proxy } = httpProxyEventFactory(request, context);
  return {
    ...proxy,
    type: 'REQUEST' as const,
    routeArn: `arn:aws:execute-api:eu-west-1:123456789012:abc123/${proxy.requestContext.stage}/${request.method}${split(request.pathAndQuery).path}`,
    identitySource: [],
  };
}
