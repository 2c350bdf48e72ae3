import SwaggerParser from '@apidevtools/swagger-parser';
import Value from 'typebox/value';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  apiPath,
  type ApiResponse,
  configBodyFactory,
  expectApiError,
  type HttpMethod,
  sqliteConfigApiBackend,
  startConfigApiServer,
  tenantIdFactory,
} from '../../helpers/api.js';

/**
 * The OpenAPI document the API serves: it validates, it lists exactly the router's routes,
 * and every operation in it is served by the listening app, answering with a status and a
 * body the document declares.
 */

interface Operation {
  readonly security?: unknown[];
  readonly responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

type PathItem = Partial<Record<Lowercase<HttpMethod>, Operation>>;

interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Record<string, PathItem>;
}

const DOCUMENTED_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

// The document is read before the tests are declared, so each operation gets its own test.
const stores = await sqliteConfigApiBackend().open();
const server = await startConfigApiServer(stores);
const served = await server.call('GET', apiPath.openapi(), undefined, { unsigned: true });
const document = served.body as OpenApiDocument;
const dereferenced = (await SwaggerParser.dereference(structuredClone(served.body))) as unknown as OpenApiDocument;
const operations = Object.entries(dereferenced.paths).flatMap(([path, item]) =>
  DOCUMENTED_METHODS.filter((method) => item[method] !== undefined).map((method) => ({
    method: method.toUpperCase() as HttpMethod,
    path,
    operation: item[method]!,
  })),
);

afterAll(async () => {
  await server.close();
  await stores.close();
});

afterEach(() => {
  expect(server.takeServerErrors()).toEqual([]);
});

/** A 404 of the router's not-found handler: no route matched (as opposed to a 404 of a route). */
function isMissingRoute(response: ApiResponse): boolean {
  return (
    response.status === 404 &&
    response.body?.error?.code === 'not_found' &&
    /^There is no route /.test(String(response.body?.error?.message))
  );
}

/** The documented answer for a status: its exact code, or its class (`2XX`, `5XX`). */
function documentedResponse(operation: Operation, status: number): Operation['responses'][string] | undefined {
  return operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`];
}

/** Sends one documented operation: path parameters filled, a body fitting the method, signed when it has `security`. */
async function callOperation(method: HttpMethod, path: string, operation: Operation, tenant: string): Promise<ApiResponse> {
  const url = path.replace('{tenant}', encodeURIComponent(tenant)).replace('{type}', 'file');
  const bodies: Partial<Record<HttpMethod, unknown>> = {
    POST: configBodyFactory('s3'),
    PUT: configBodyFactory('file'),
    PATCH: { enabled: false },
  };
  const signed = (operation.security ?? []).length > 0;
  return server.call(method, url, bodies[method], { unsigned: !signed });
}

/** Asserts the route answered with a status the operation documents, and a JSON body its schema accepts. */
function expectDocumentedAnswer(operation: Operation, response: ApiResponse): void {
  expect(isMissingRoute(response), response.text).toBe(false);
  const documented = documentedResponse(operation, response.status);
  expect(documented, `status ${response.status} is not documented: ${response.text.slice(0, 300)}`).toBeDefined();
  const schema = documented?.content?.['application/json']?.schema;
  if (schema !== undefined && response.headers['content-type']?.startsWith('application/json')) {
    expect(Value.Check(schema as never, response.body), response.text.slice(0, 300)).toBe(true);
  }
}

describe('the OpenAPI document', () => {
  it('is served at /api/v1/openapi.json without a signature and validates as OpenAPI 3.1', async () => {
    // Assess
    expect(served.status).toBe(200);
    expect(document.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(served.body))).resolves.toBeDefined();
  });

  it("lists exactly the router's routes", () => {
    // Act
    const listed = operations.map(({ method, path }) => `${method} ${path}`).sort();

    // Assess
    expect(listed).toEqual(
      [
        'GET /api/v1/health',
        'GET /metrics',
        'GET /api/v1/delivery-configs',
        'GET /api/v1/tenants/{tenant}/delivery-configs',
        'POST /api/v1/tenants/{tenant}/delivery-configs',
        'GET /api/v1/tenants/{tenant}/delivery-configs/{type}',
        'PUT /api/v1/tenants/{tenant}/delivery-configs/{type}',
        'PATCH /api/v1/tenants/{tenant}/delivery-configs/{type}',
        'DELETE /api/v1/tenants/{tenant}/delivery-configs/{type}',
        'GET /api/v1/tenants/{tenant}/delivery-configs/{type}/validate',
        'GET /api/v1/tenants/{tenant}/status',
        'DELETE /api/v1/tenants/{tenant}',
        'GET /api/v1/tenants/{tenant}/audit',
      ].sort(),
    );
  });

  it('requires the hmac scheme on every route but health and metrics', () => {
    // Act
    const security = operations.map(({ method, path, operation }) => [`${method} ${path}`, operation.security ?? []]);

    // Assess
    for (const [name, schemes] of security) {
      const open = name === 'GET /api/v1/health' || name === 'GET /metrics';
      expect([name, schemes]).toEqual([name, open ? [] : [{ hmac: [] }]]);
    }
  });

  it('tells a missing route from a missing resource', async () => {
    // Prepare
    const tenant = tenantIdFactory();

    // Act
    const noRoute = await server.call('GET', `${apiPath.tenant(tenant)}/nothing-here`);
    const noResource = await server.call('GET', apiPath.config(tenant, 'file'));

    // Assess
    expectApiError(noRoute, 404, 'not_found');
    expectApiError(noResource, 404, 'not_found');
    expect([isMissingRoute(noRoute), isMissingRoute(noResource)]).toEqual([true, false]);
  });
});

describe.each(operations)('$method $path', ({ method, path, operation }) => {
  it('is served for an existing resource with a documented 2xx and body', async () => {
    // Prepare
    const tenant = tenantIdFactory();
    const setup = await server.call('POST', apiPath.configs(tenant), configBodyFactory('file'));
    expect(setup.status).toBe(201);

    // Act
    const response = await callOperation(method, path, operation, tenant);

    // Assess
    expect(response.status, response.text.slice(0, 300)).toBeGreaterThanOrEqual(200);
    expect(response.status, response.text.slice(0, 300)).toBeLessThan(300);
    expectDocumentedAnswer(operation, response);
  });

  it('is served for a missing resource with a documented status, never as a missing route', async () => {
    // Prepare
    const tenant = tenantIdFactory();

    // Act
    const response = await callOperation(method, path, operation, tenant);

    // Assess
    expect(response.status).toBeLessThan(500);
    expectDocumentedAnswer(operation, response);
  });
});

describe('the OpenAPI viewer', () => {
  it('serves /api/v1/docs as HTML without a signature', async () => {
    // Act
    const response = await server.call('GET', apiPath.docs(), undefined, { unsigned: true });

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.text).toMatch(/<html/i);
    expect(response.text).toMatch(/swagger/i);
  });

  it('hands the viewer the same document', async () => {
    // Act
    const response = await server.call('GET', `${apiPath.docs()}/json`, undefined, { unsigned: true });

    // Assess
    expect(response.status).toBe(200);
    expect(response.body).toEqual(served.body);
  });
});
