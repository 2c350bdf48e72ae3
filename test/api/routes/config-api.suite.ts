import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CONFIG_BODY_BYTES } from '../../../src/api/auth/plugin.js';
import type { DeliveryConfig } from '../../../src/domain/delivery-config.js';
import { DEFAULT_BUCKET_PREFIX } from '../../../src/sinks/s3/config.js';
import type { DeliveryConfigStore } from '../../../src/stores/ports.js';
import {
  apiPath,
  type ApiResponse,
  type ConfigApiBackend,
  type ConfigApiHarness,
  type ConfigApiServer,
  type ConfigKind,
  configBodyFactory,
  createConfigApiHarness,
  expectApiError,
  type HttpMethod,
  type JsonBody,
  type OpenConfigApiStores,
  startConfigApiServer,
  tenantIdFactory,
} from '../../helpers/api.js';
import { objectKeyFactory, randomId } from '../../helpers/factories.js';

/**
 * Every route, status code and error of the delivery-config API over HTTP (`app.inject()`),
 * on one storage backend; `config-api.test.ts` runs it on SQLite and `config-api.int.test.ts`
 * on DynamoDB (moto). Every test works on tenants of its own, so the backend is opened once.
 */

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** What the server adds to a create body: the path's tenant, the defaults and the stamps. */
function storedForm(tenant: string, body: Record<string, unknown>): Record<string, unknown> {
  return {
    enabled: true,
    desired_logs: [],
    groups: [],
    ...body,
    tenant_id: tenant,
    created_at: expect.stringMatching(ISO_TIME),
    updated_at: expect.stringMatching(ISO_TIME),
  };
}

/** A stored row as a store takes it, for seeding without the API. */
function storeRow(tenant: string, type: string, overrides: Record<string, unknown> = {}): DeliveryConfig {
  return { tenant_id: tenant, type, enabled: true, desired_logs: [], groups: [], directory: `out/${randomId()}`, ...overrides };
}

/**
 * Runs the config API suite on one backend.
 *
 * @param backend - the stores to run on; skipped when `unavailable` is set
 */
export function describeConfigApiRoutes(backend: ConfigApiBackend): void {
  describe.skipIf(backend.unavailable !== undefined)(`config API routes on ${backend.name}`, () => {
    let stores: OpenConfigApiStores;
    let api: ConfigApiHarness;

    /** Creates a config through the API and returns the stored row. */
    async function created(tenant: string, body: Record<string, unknown>): Promise<JsonBody> {
      const response = await api.call('POST', apiPath.configs(tenant), body);
      expect(response.status, response.text).toBe(201);
      return response.body;
    }

    /** Every page of a paginated route, following `next_cursor`. */
    async function allPages(path: (query: string) => string, limit: number): Promise<{ items: JsonBody[]; pageSizes: number[] }> {
      const items: JsonBody[] = [];
      const pageSizes: number[] = [];
      let cursor: string | undefined;
      do {
        const query = `?limit=${limit}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
        const response = await api.call('GET', path(query));
        expect(response.status, response.text).toBe(200);
        items.push(...response.body.items);
        pageSizes.push(response.body.items.length);
        cursor = response.body.next_cursor;
      } while (cursor !== undefined);
      return { items, pageSizes };
    }

    /**
     * The API over the same stores, where `intrude` runs once right after the service has
     * read a config: another request's change landing between this request's read and write.
     */
    function apiWithIntrusion(intrude: () => Promise<unknown>): ConfigApiHarness {
      let pending = true;
      const configs: DeliveryConfigStore = {
        ...stores.configs,
        async get(tenantId, type) {
          const row = await stores.configs.get(tenantId, type);
          if (pending) {
            pending = false;
            await intrude();
          }
          return row;
        },
      };
      return createConfigApiHarness({ ...stores, configs });
    }

    beforeAll(async () => {
      stores = await backend.open();
      api = createConfigApiHarness(stores);
    });

    afterAll(async () => {
      await api?.close();
      await stores?.close();
    });

    afterEach(() => {
      expect(api.takeServerErrors()).toEqual([]);
    });

    describe('GET /api/v1/health', () => {
      it('answers 200 without a signature', async () => {
        // Act
        const response = await api.call('GET', apiPath.health(), undefined, { unsigned: true });

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toMatchObject({ status: 'healthy', version: '0.0.0-test' });
      });
    });

    describe('POST /tenants/{tenant}/delivery-configs', () => {
      it.each<ConfigKind>(['file', 'cloudwatch', 's3'])('creates a %s config with defaults and server stamps (201)', async (kind) => {
        // Prepare
        const tenant = tenantIdFactory();
        const body = configBodyFactory(kind);

        // Act
        const response = await api.call('POST', apiPath.configs(tenant), body);

        // Assess
        expect(response.status).toBe(201);
        expect(response.body).toEqual(storedForm(tenant, body));
        expect(response.body.updated_at).toBe(response.body.created_at);
        const read = await api.call('GET', apiPath.config(tenant, kind));
        expect(read.body).toEqual(response.body);
      });

      it("creates a '<kind>:<name>' config beside the kind's first one", async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));

        // Act
        const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory('file', { type: 'file:archive' }));

        // Assess
        expect(response.status).toBe(201);
        expect(response.body.type).toBe('file:archive');
        const list = await api.call('GET', apiPath.configs(tenant));
        expect(list.body.items.map((row: JsonBody) => row.type)).toEqual(['file', 'file:archive']);
      });

      it("accepts a body whose tenant_id equals the path's, and ignores server stamps in it", async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const body = configBodyFactory('file', {
          tenant_id: tenant,
          created_at: '2000-01-01T00:00:00.000Z',
          updated_at: '2000-01-01T00:00:00.000Z',
        });

        // Act
        const response = await api.call('POST', apiPath.configs(tenant), body);

        // Assess
        expect(response.status).toBe(201);
        expect(response.body.created_at).not.toBe('2000-01-01T00:00:00.000Z');
        expect(response.body.updated_at).toBe(response.body.created_at);
      });

      it('answers 409 conflict for a second config of one type, keeping the first', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const first = await created(tenant, configBodyFactory('file'));

        // Act
        const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory('file'));

        // Assess
        expectApiError(response, 409, 'conflict');
        expect((await api.call('GET', apiPath.config(tenant, 'file'))).body).toEqual(first);
      });

      it('answers 400 bad_request when the body names another tenant than the path', async () => {
        // Prepare
        const tenant = tenantIdFactory();

        // Act
        const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory('file', { tenant_id: tenantIdFactory() }));

        // Assess
        const error = expectApiError(response, 400, 'bad_request');
        expect(error.details).toEqual([{ field: 'tenant_id', message: expect.stringContaining(tenant) }]);
        expectApiError(await api.call('GET', apiPath.config(tenant, 'file')), 404, 'not_found');
      });

      it('answers 400 bad_request for a field no destination kind has', async () => {
        // Prepare
        const tenant = tenantIdFactory();

        // Act
        const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory('file', { colour: 'blue' }));

        // Assess
        const error = expectApiError(response, 400, 'bad_request');
        expect(error.details).toEqual([{ field: 'colour', message: expect.stringContaining("'colour'") }]);
      });

      it('answers 422 validation_failed listing every field error, naming the kind of a foreign field', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const body = configBodyFactory('cloudwatch', {
          log_distribution_role_arn: 'arn:aws:iam::1234:role/x',
          log_group_name: 'has spaces',
          bucket_name: `logs-${randomId()}`,
        });

        // Act
        const response = await api.call('POST', apiPath.configs(tenant), body);

        // Assess
        const error = expectApiError(response, 422, 'validation_failed');
        expect(error.details).toEqual(
          expect.arrayContaining([
            { field: 'log_distribution_role_arn', message: expect.any(String) },
            { field: 'log_group_name', message: expect.any(String) },
            { field: 'bucket_name', message: "belongs to kind 's3', not 'cloudwatch'" },
          ]),
        );
        expect(error.details).toHaveLength(3);
        expectApiError(await api.call('GET', apiPath.config(tenant, 'cloudwatch')), 404, 'not_found');
      });

      it.each([
        ['ttl beyond 2^53', { ttl: 1e21 }, 'ttl'],
        ['a retry setting beyond 2^53', { retry: { maxAttempts: 1e300 } }, 'retry.maxAttempts'],
      ])('answers 422 for %s instead of failing the write', async (_name, overrides, field) => {
        // Prepare
        const tenant = tenantIdFactory();

        // Act
        const response = await api.call('POST', apiPath.configs(tenant), configBodyFactory('s3', overrides));

        // Assess
        const error = expectApiError(response, 422, 'validation_failed');
        expect(error.details).toEqual([{ field, message: expect.stringContaining(String(Number.MAX_SAFE_INTEGER)) }]);
      });

      describe.each<[string, { rawBody?: string | Buffer; contentType?: string }, number, string]>([
        ['malformed JSON', { rawBody: '{"type":"file",' }, 400, 'malformed_json'],
        ['an empty JSON body', { rawBody: '' }, 400, 'malformed_json'],
        ['no body at all', { contentType: undefined }, 400, 'bad_request'],
        ['a JSON array', { rawBody: '[]' }, 400, 'bad_request'],
        ['JSON null', { rawBody: 'null' }, 400, 'bad_request'],
        ['a JSON string', { rawBody: '"file"' }, 400, 'bad_request'],
        ['a __proto__ key', { rawBody: '{"type":"file","directory":"x","__proto__":{"polluted":true}}' }, 400, 'bad_request'],
        ['a type that is not a string', { rawBody: '{"type":7,"directory":"x"}' }, 422, 'validation_failed'],
        ['a type of no known kind', { rawBody: '{"type":"kafka"}' }, 422, 'validation_failed'],
        ['text/plain', { rawBody: 'type=file', contentType: 'text/plain' }, 415, 'unsupported_media_type'],
        ['a body over the size limit', { rawBody: Buffer.alloc(MAX_CONFIG_BODY_BYTES + 1, 0x20) }, 413, 'payload_too_large'],
      ])('a create with %s', (_name, request, status, code) => {
        it(`answers ${status} ${code} and stores nothing`, async () => {
          // Prepare
          const tenant = tenantIdFactory();

          // Act
          const response = await api.call('POST', apiPath.configs(tenant), undefined, {
            ...(request.rawBody !== undefined && { rawBody: request.rawBody }),
            ...('contentType' in request && { headers: { 'content-type': request.contentType } }),
          });

          // Assess
          expectApiError(response, status, code);
          expect((await api.call('GET', apiPath.configs(tenant))).body).toEqual({ items: [] });
        });
      });
    });

    describe('GET /tenants/{tenant}/delivery-configs/{type}', () => {
      it('answers the stored config', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const row = await created(tenant, configBodyFactory('s3'));

        // Act
        const response = await api.call('GET', apiPath.config(tenant, 's3'));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual(row);
      });

      it.each([
        ['file:archive', 'file:archive'],
        ['file%3Aarchive', 'file:archive'],
      ])('reads a named type sent as %s', async (sent, type) => {
        // Prepare
        const tenant = tenantIdFactory();
        const row = await created(tenant, configBodyFactory('file', { type }));

        // Act
        const response = await api.call('GET', `${apiPath.configs(tenant)}/${sent}`);

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual(row);
      });

      it.each([
        ['a type the tenant does not have', 's3'],
        ['a tenant without configs', undefined],
      ])('answers 404 not_found for %s', async (_name, type) => {
        // Prepare
        const tenant = tenantIdFactory();
        if (type !== undefined) await created(tenant, configBodyFactory('file'));

        // Act
        const response = await api.call('GET', apiPath.config(tenant, type ?? 'file'));

        // Assess
        const error = expectApiError(response, 404, 'not_found');
        expect(error.message).toContain(tenant);
      });

      it.each([
        ['an empty tenant', '/api/v1/tenants//delivery-configs/file', 400, 'bad_request'],
        ['an empty type', `/api/v1/tenants/${tenantIdFactory()}/delivery-configs/`, 400, 'bad_request'],
        ['a tenant over the path parameter limit', `/api/v1/tenants/${'a'.repeat(101)}/delivery-configs/file`, 414, 'bad_request'],
        ['a path that is not valid percent-encoding', `/api/v1/tenants/${tenantIdFactory()}/delivery-configs/%E0%A4%A`, 400, 'bad_request'],
      ])('answers %s with %i %s in the one error shape', async (_name, path, status, code) => {
        // Act
        const response = await api.call('GET', path);

        // Assess
        expectApiError(response, status, code);
      });
    });

    describe('GET /tenants/{tenant}/delivery-configs', () => {
      it("lists the tenant's configs in type order, and no other tenant's", async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenantIdFactory(), configBodyFactory('file'));
        for (const body of [
          configBodyFactory('s3'),
          configBodyFactory('file', { type: 'file:b' }),
          configBodyFactory('cloudwatch'),
          configBodyFactory('file'),
        ]) {
          await created(tenant, body);
        }

        // Act
        const response = await api.call('GET', apiPath.configs(tenant));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body.items.map((row: JsonBody) => [row.tenant_id, row.type])).toEqual([
          [tenant, 'cloudwatch'],
          [tenant, 'file'],
          [tenant, 'file:b'],
          [tenant, 's3'],
        ]);
      });

      it('answers an empty list for a tenant without configs', async () => {
        // Act
        const response = await api.call('GET', apiPath.configs(tenantIdFactory()));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual({ items: [] });
      });
    });

    describe('GET /delivery-configs', () => {
      it('pages through every config with limit and next_cursor, each row once', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const types = ['file', 'file:a', 'file:b', 'file:c', 'file:d'];
        for (const type of types) await stores.configs.create(storeRow(tenant, type));

        // Act
        const { items, pageSizes } = await allPages(apiPath.allConfigs, 7);

        // Assess
        expect(items.filter((row) => row.tenant_id === tenant).map((row) => row.type)).toEqual(types);
        const keys = items.map((row) => `${row.tenant_id}/${row.type}`);
        expect(new Set(keys).size).toBe(keys.length);
        expect(pageSizes.slice(0, -1).every((size) => size === 7)).toBe(true);
        expect(pageSizes.at(-1)).toBeLessThanOrEqual(7);
      });

      it('answers 50 configs per page by default', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        for (let i = 0; i < 51; i++) await stores.configs.create(storeRow(tenant, `file:n${i}`));

        // Act
        const response = await api.call('GET', apiPath.allConfigs());

        // Assess
        expect(response.status).toBe(200);
        expect(response.body.items).toHaveLength(50);
        expect(response.body.next_cursor).toEqual(expect.any(String));
      });

      it('answers up to 1000 configs for limit=1000', async () => {
        // Prepare
        await stores.configs.create(storeRow(tenantIdFactory(), 'file'));

        // Act
        const response = await api.call('GET', apiPath.allConfigs('?limit=1000'));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body.items.length).toBeGreaterThanOrEqual(1);
        expect(response.body.items.length).toBeLessThanOrEqual(1000);
      });

      it.each(['0', '1001', '-1', 'ten', '1.5', 'true', '0x10', '1e2', '', '1&limit=2'])('answers 400 bad_request naming limit for limit=%s', async (limit) => {
        // Act
        const response = await api.call('GET', apiPath.allConfigs(`?limit=${limit}`));

        // Assess
        const error = expectApiError(response, 400, 'bad_request');
        expect(error.details).toEqual([{ field: 'limit', message: expect.any(String) }]);
      });

      it.each([
        ['garbage', 'not-a-cursor'],
        ['base64 JSON of the wrong shape', Buffer.from('{"t":1}').toString('base64url')],
        ['empty', ''],
      ])('answers 400 bad_cursor for a cursor that is %s', async (_name, cursor) => {
        // Act
        const response = await api.call('GET', apiPath.allConfigs(`?cursor=${encodeURIComponent(cursor)}`));

        // Assess
        expectApiError(response, 400, 'bad_cursor');
      });
    });

    describe('PUT /tenants/{tenant}/delivery-configs/{type}', () => {
      it('replaces the whole config, keeping created_at', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const before = await created(tenant, configBodyFactory('s3', { target_region: 'eu-west-1', desired_logs: ['api'] }));
        const body = configBodyFactory('s3', { bucket_prefix: 'archive' });

        // Act
        const response = await api.call('PUT', apiPath.config(tenant, 's3'), body);

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual({ ...storedForm(tenant, body), bucket_prefix: 'archive/', created_at: before.created_at });
        expect(response.body).not.toHaveProperty('target_region');
        expect(response.body.updated_at >= before.created_at).toBe(true);
        expect((await api.call('GET', apiPath.config(tenant, 's3'))).body).toEqual(response.body);
      });

      it('answers 404 not_found for a config that does not exist, creating nothing', async () => {
        // Prepare
        const tenant = tenantIdFactory();

        // Act
        const response = await api.call('PUT', apiPath.config(tenant, 'file'), configBodyFactory('file'));

        // Assess
        expectApiError(response, 404, 'not_found');
        expect((await api.call('GET', apiPath.configs(tenant))).body).toEqual({ items: [] });
      });

      it.each([
        ['a type other than the path', { type: 'file:other' }, 'type'],
        ['a tenant other than the path', { tenant_id: 'someone-else' }, 'tenant_id'],
      ])('answers 400 bad_request for a body naming %s', async (_name, overrides, field) => {
        // Prepare
        const tenant = tenantIdFactory();
        const before = await created(tenant, configBodyFactory('file'));

        // Act
        const response = await api.call('PUT', apiPath.config(tenant, 'file'), configBodyFactory('file', overrides));

        // Assess
        const error = expectApiError(response, 400, 'bad_request');
        expect(error.details).toEqual([{ field, message: expect.any(String) }]);
        expect((await api.call('GET', apiPath.config(tenant, 'file'))).body).toEqual(before);
      });

      it('answers 422 validation_failed for an invalid body, keeping the stored config', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const before = await created(tenant, configBodyFactory('s3'));

        // Act
        const response = await api.call('PUT', apiPath.config(tenant, 's3'), configBodyFactory('s3', { bucket_name: 'No_Such' }));

        // Assess
        const error = expectApiError(response, 422, 'validation_failed');
        expect(error.details).toEqual([{ field: 'bucket_name', message: expect.any(String) }]);
        expect((await api.call('GET', apiPath.config(tenant, 's3'))).body).toEqual(before);
      });

      it('answers 400 malformed_json for a body that is not JSON', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));

        // Act
        const response = await api.call('PUT', apiPath.config(tenant, 'file'), undefined, { rawBody: '{"type":' });

        // Assess
        expectApiError(response, 400, 'malformed_json');
      });

      it('replaces a config near the body size limit and records the change', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        // About 26 bytes per entry ("new-application-1234",): 90% of the limit.
        const entries = Math.floor((MAX_CONFIG_BODY_BYTES * 0.9) / 26);
        const applications = (marker: string) => Array.from({ length: entries }, (_, i) => `${marker}-application-${i}`);
        await created(tenant, configBodyFactory('file', { desired_logs: applications('old') }));
        const body = configBodyFactory('file', { desired_logs: applications('new') });
        expect(JSON.stringify(body).length).toBeLessThan(MAX_CONFIG_BODY_BYTES);

        try {
          // Act
          const response = await api.call('PUT', apiPath.config(tenant, 'file'), body);

          // Assess
          expect(response.status, response.text.slice(0, 200)).toBe(200);
          const audit = await api.call('GET', apiPath.audit(tenant, '?limit=1'));
          expect(audit.body.items[0]).toMatchObject({ action: 'replace', after: { desired_logs: body.desired_logs } });
        } finally {
          api.takeServerErrors();
        }
      });
    });

    describe('PATCH /tenants/{tenant}/delivery-configs/{type}', () => {
      it('changes only the fields given, normalising as on create', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const before = await created(tenant, configBodyFactory('s3', { desired_logs: ['api'] }));

        // Act
        const response = await api.call('PATCH', apiPath.config(tenant, 's3'), { enabled: false, bucket_prefix: 'moved' });

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual({ ...before, enabled: false, bucket_prefix: 'moved/', updated_at: expect.stringMatching(ISO_TIME) });
        expect((await api.call('GET', apiPath.config(tenant, 's3'))).body).toEqual(response.body);
      });

      it('removes a field set to null (JSON merge patch), falling back to its default', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('s3', { target_region: 'eu-west-1', desired_logs: ['api'], bucket_prefix: 'x/' }));

        // Act
        const response = await api.call('PATCH', apiPath.config(tenant, 's3'), {
          target_region: null,
          desired_logs: null,
          bucket_prefix: null,
        });

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).not.toHaveProperty('target_region');
        expect(response.body).toMatchObject({ desired_logs: [], bucket_prefix: DEFAULT_BUCKET_PREFIX });
      });

      it.each<[string, unknown, string, string | undefined]>([
        ['an empty patch', {}, 'bad_request', undefined],
        ['a patch of server stamps only', { updated_at: '2000-01-01T00:00:00.000Z' }, 'bad_request', undefined],
        ['a patch of tenant_id', { tenant_id: 'elsewhere' }, 'bad_request', 'tenant_id'],
        ['a patch of type', { type: 'file:other' }, 'bad_request', 'type'],
        ['a field no kind has', { colour: 'blue' }, 'bad_request', 'colour'],
        ['a JSON array', [], 'bad_request', undefined],
      ])('answers 400 for %s, keeping the stored config', async (_name, patch, code, field) => {
        // Prepare
        const tenant = tenantIdFactory();
        const before = await created(tenant, configBodyFactory('file'));

        // Act
        const response = await api.call('PATCH', apiPath.config(tenant, 'file'), patch);

        // Assess
        const error = expectApiError(response, 400, code);
        if (field !== undefined) expect(error.details).toEqual([{ field, message: expect.any(String) }]);
        expect((await api.call('GET', apiPath.config(tenant, 'file'))).body).toEqual(before);
      });

      it.each([
        ['a field of another kind', { log_group_name: '/x' }, 'log_group_name', "belongs to kind 'cloudwatch', not 'file'"],
        ['an invalid value', { directory: '' }, 'directory', 'must be a non-empty directory path'],
        ['a value the merged config refuses', { groups: ['Nope'] }, 'groups', expect.stringContaining('known groups: API')],
      ])('answers 422 for %s, keeping the stored config', async (_name, patch, field, message) => {
        // Prepare
        const tenant = tenantIdFactory();
        const before = await created(tenant, configBodyFactory('file'));

        // Act
        const response = await api.call('PATCH', apiPath.config(tenant, 'file'), patch);

        // Assess
        const error = expectApiError(response, 422, 'validation_failed');
        expect(error.details).toEqual([{ field, message }]);
        expect((await api.call('GET', apiPath.config(tenant, 'file'))).body).toEqual(before);
      });

      it('answers 404 not_found for a config that does not exist', async () => {
        // Act
        const response = await api.call('PATCH', apiPath.config(tenantIdFactory(), 'file'), { enabled: false });

        // Assess
        expectApiError(response, 404, 'not_found');
      });

      it('answers 409 conflict for a PATCH built on a read another PATCH made stale, keeping that change', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file', { desired_logs: ['api'] }));
        const racing = apiWithIntrusion(() => api.call('PATCH', apiPath.config(tenant, 'file'), { desired_logs: ['web'] }));

        // Act
        const response = await racing.call('PATCH', apiPath.config(tenant, 'file'), { enabled: false });
        await racing.close();

        // Assess
        expectApiError(response, 409, 'conflict');
        expect((await api.call('GET', apiPath.config(tenant, 'file'))).body).toMatchObject({
          desired_logs: ['web'],
          enabled: true,
        });
        const audit = await api.call('GET', apiPath.audit(tenant));
        expect(audit.body.items.map((e: JsonBody) => e.action)).toEqual(['update', 'create']);
        expect(audit.body.items[0].before.desired_logs).toEqual(['api']);
      });
    });

    describe('DELETE /tenants/{tenant}/delivery-configs/{type}', () => {
      it("deletes the config (204) and leaves the tenant's others", async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));
        const kept = await created(tenant, configBodyFactory('s3'));

        // Act
        const response = await api.call('DELETE', apiPath.config(tenant, 'file'));

        // Assess
        expect(response.status).toBe(204);
        expect(response.text).toBe('');
        expectApiError(await api.call('GET', apiPath.config(tenant, 'file')), 404, 'not_found');
        expect((await api.call('GET', apiPath.configs(tenant))).body).toEqual({ items: [kept] });
      });

      it('answers 404 not_found for a config that does not exist, also on a second delete', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));
        await api.call('DELETE', apiPath.config(tenant, 'file'));

        // Act
        const again = await api.call('DELETE', apiPath.config(tenant, 'file'));
        const never = await api.call('DELETE', apiPath.config(tenantIdFactory(), 'file'));

        // Assess
        expectApiError(again, 404, 'not_found');
        expectApiError(never, 404, 'not_found');
      });
    });

    describe('GET /tenants/{tenant}/delivery-configs/{type}/validate', () => {
      it('reports a valid file config with its live directory check', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));

        // Act
        const response = await api.call('GET', apiPath.validate(tenant, 'file'));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual({
          tenant_id: tenant,
          type: 'file',
          valid: true,
          field_errors: [],
          steps: [{ step: 'write_directory', status: 'ok', message: expect.any(String) }],
        });
      });

      it('reports a failed live check when the directory cannot be created', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const blocker = `blocker-${randomId()}`;
        await mkdir(stores.baseDir, { recursive: true });
        await writeFile(join(stores.baseDir, blocker), 'a file, not a directory');
        await created(tenant, configBodyFactory('file', { directory: `${blocker}/logs` }));

        // Act
        const response = await api.call('GET', apiPath.validate(tenant, 'file'));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toMatchObject({ valid: false, field_errors: [], steps: [{ step: 'write_directory', status: 'failed', code: 'ENOTDIR' }] });
      });

      it('reports the field errors of a stored row that no longer validates, without a live check', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await stores.configs.create(storeRow(tenant, 'file', { directory: '', groups: ['Nope'] }));

        // Act
        const response = await api.call('GET', apiPath.validate(tenant, 'file'));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual({
          tenant_id: tenant,
          type: 'file',
          valid: false,
          field_errors: expect.arrayContaining([
            { field: 'directory', message: expect.any(String) },
            { field: 'groups', message: expect.any(String) },
          ]),
          steps: [],
        });
      });

      it('skips the live check of a cloudwatch config when the router has no AWS settings', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('cloudwatch'));

        // Act
        const response = await api.call('GET', apiPath.validate(tenant, 'cloudwatch'));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toMatchObject({ valid: true, steps: [{ step: 'assume_role', status: 'skipped' }] });
      });

      it('answers 404 not_found for a config that does not exist', async () => {
        // Act
        const response = await api.call('GET', apiPath.validate(tenantIdFactory(), 'file'));

        // Assess
        expectApiError(response, 404, 'not_found');
      });
    });

    describe('GET /tenants/{tenant}/status', () => {
      it('reports last success, last error, pending retries and dead letters per destination', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));
        await created(tenant, configBodyFactory('s3'));
        const successAtMs = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
        const errorAtMs = successAtMs + 60_000;
        await stores.status.apply([
          { tenantId: tenant, type: 'file', lastSuccessAtMs: successAtMs, lagMs: 12_345, pendingRetriesDelta: 3 },
          { tenantId: tenant, type: 's3', lastError: { code: 'access_denied', message: 'Access Denied.', atMs: errorAtMs } },
        ]);
        await stores.status.apply([{ tenantId: tenant, type: 'file', pendingRetriesDelta: -1 }]);
        const letter = { tenantId: tenant, objectKey: objectKeyFactory(), message: 'Gave up.', attempts: 5, offset: -1 };
        await stores.deadLetters.add({ ...letter, destination: 's3', reason: 'retries_exhausted' });
        const redriven = await stores.deadLetters.add({ ...letter, destination: 's3', reason: 'retries_exhausted' });
        await stores.deadLetters.markRedriven(redriven.id, Date.now());
        await stores.deadLetters.add({ ...letter, destination: '*', reason: 'invalid_object_key' });

        // Act
        const response = await api.call('GET', apiPath.status(tenant));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual({
          tenant_id: tenant,
          destinations: [
            {
              type: 'file',
              kind: 'file',
              configured: true,
              active: true,
              config_valid: true,
              last_success_at: iso(successAtMs),
              lag_seconds: 12.3,
              pending_retries: 2,
              dead_letters: 0,
            },
            {
              type: 's3',
              kind: 's3',
              configured: true,
              active: true,
              config_valid: true,
              last_error: { code: 'access_denied', message: 'Access Denied.', at: iso(errorAtMs) },
              pending_retries: 0,
              dead_letters: 1,
            },
          ],
          unrouted_dead_letters: 1,
        });
      });

      it('reports the circuit state a replica last reported, with when it opened and when it probes next', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));
        await created(tenant, configBodyFactory('s3'));
        const openedAtMs = Date.UTC(2025, 0, 2, 3, 4, 5, 0);
        await stores.status.apply([
          {
            tenantId: tenant,
            type: 's3',
            circuit: { state: 'open', openedAtMs, nextProbeAtMs: openedAtMs + 30_000, atMs: openedAtMs },
          },
        ]);

        // Act
        const response = await api.call('GET', apiPath.status(tenant));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body.destinations[0].circuit).toBeUndefined();
        expect(response.body.destinations[1].circuit).toEqual({
          state: 'open',
          opened_at: iso(openedAtMs),
          next_probe_at: iso(openedAtMs + 30_000),
          reported_at: iso(openedAtMs),
        });
      });

      it('reports a disabled, an expired and an unreadable config as inactive', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file', { enabled: false }));
        await stores.configs.create(storeRow(tenant, 'file:expired', { ttl: Math.floor(Date.now() / 1000) - 60 }));
        await stores.configs.create(storeRow(tenant, 'file:broken', { directory: 7 }));

        // Act
        const response = await api.call('GET', apiPath.status(tenant));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body.destinations.map((d: JsonBody) => [d.type, d.configured, d.active, d.config_valid])).toEqual([
          ['file', true, false, true],
          ['file:broken', true, false, false],
          ['file:expired', true, false, true],
        ]);
      });

      it('answers an empty status for a tenant it knows nothing of', async () => {
        // Prepare
        const tenant = tenantIdFactory();

        // Act
        const response = await api.call('GET', apiPath.status(tenant));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual({ tenant_id: tenant, destinations: [], unrouted_dead_letters: 0 });
      });
    });

    describe('DELETE /tenants/{tenant}', () => {
      it('removes every config and the destination status, keeping dead letters and audit (204)', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const other = tenantIdFactory();
        const file = await created(tenant, configBodyFactory('file'));
        const s3 = await created(tenant, configBodyFactory('s3'));
        const otherRow = await created(other, configBodyFactory('file'));
        await stores.status.apply([
          { tenantId: tenant, type: 'file', lastSuccessAtMs: Date.now(), pendingRetriesDelta: 4 },
          { tenantId: tenant, type: 's3', lastError: { code: 'throttled', message: 'Slow down.', atMs: Date.now() } },
        ]);
        const letter = { tenantId: tenant, objectKey: objectKeyFactory(), message: 'Gave up.', attempts: 5, offset: 10 };
        await stores.deadLetters.add({ ...letter, destination: 's3', reason: 'retries_exhausted' });
        await stores.deadLetters.add({ ...letter, destination: '*', reason: 'corrupt_object' });

        // Act
        const response = await api.call('DELETE', apiPath.tenant(tenant));

        // Assess
        expect(response.status).toBe(204);
        expect(response.text).toBe('');
        expect((await api.call('GET', apiPath.configs(tenant))).body).toEqual({ items: [] });
        expect((await api.call('GET', apiPath.configs(other))).body).toEqual({ items: [otherRow] });
        expect((await api.call('GET', apiPath.status(tenant))).body).toEqual({
          tenant_id: tenant,
          destinations: [
            { type: 's3', kind: 's3', configured: false, active: false, config_valid: false, pending_retries: 0, dead_letters: 1 },
          ],
          unrouted_dead_letters: 1,
        });
        expect(await stores.deadLetters.list({ tenantId: tenant })).toHaveLength(2);
        const audit = await api.call('GET', apiPath.audit(tenant));
        expect(audit.body.items.map((e: JsonBody) => [e.action, e.type])).toEqual([
          ['offboard', 's3'],
          ['offboard', 'file'],
          ['create', 's3'],
          ['create', 'file'],
        ]);
        expect(audit.body.items[0].before).toEqual(s3);
        expect(audit.body.items[1].before).toEqual(file);
      });

      it('offboards a tenant whose configs together exceed 400 KB and records each config removed', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const applications = Array.from({ length: 1_000 }, (_, i) => `application-${i}`);
        for (let i = 0; i < 30; i++) await created(tenant, configBodyFactory('file', { type: `file:n${i}`, desired_logs: applications }));

        try {
          // Act
          const response = await api.call('DELETE', apiPath.tenant(tenant));

          // Assess
          expect(response.status, response.text).toBe(204);
          const audit = await api.call('GET', apiPath.audit(tenant, '?limit=30'));
          expect(audit.body.items.map((e: JsonBody) => e.action)).toEqual(Array.from({ length: 30 }, () => 'offboard'));
          expect(new Set(audit.body.items.map((e: JsonBody) => e.type)).size).toBe(30);
          expect(audit.body.items.every((e: JsonBody) => e.before.desired_logs.length === 1_000)).toBe(true);
        } finally {
          api.takeServerErrors();
        }
      });

      it('answers 404 not_found for a tenant without configs, even one with history', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));
        await api.call('DELETE', apiPath.tenant(tenant));

        // Act
        const again = await api.call('DELETE', apiPath.tenant(tenant));
        const never = await api.call('DELETE', apiPath.tenant(tenantIdFactory()));

        // Assess
        expectApiError(again, 404, 'not_found');
        expectApiError(never, 404, 'not_found');
        expect((await api.call('GET', apiPath.audit(tenant))).body.items).toHaveLength(2);
      });
    });

    describe('GET /tenants/{tenant}/audit', () => {
      it('records create, replace, update, delete and offboard with actor, before and after, newest first', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const createdRow = await created(tenant, configBodyFactory('file', { desired_logs: ['one'] }));
        const replaced = (await api.call('PUT', apiPath.config(tenant, 'file'), configBodyFactory('file', { desired_logs: ['two'] }))).body;
        const patched = (await api.call('PATCH', apiPath.config(tenant, 'file'), { enabled: false })).body;
        await api.call('DELETE', apiPath.config(tenant, 'file'));
        const s3 = await created(tenant, configBodyFactory('s3'));
        await api.call('DELETE', apiPath.tenant(tenant));

        // Act
        const response = await api.call('GET', apiPath.audit(tenant));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body.next_cursor).toBeUndefined();
        const common = { id: expect.any(String), tenant_id: tenant, actor: 'psk:current', at: expect.stringMatching(ISO_TIME) };
        expect(response.body.items).toEqual([
          { ...common, type: 's3', action: 'offboard', before: s3 },
          { ...common, type: 's3', action: 'create', after: s3 },
          { ...common, type: 'file', action: 'delete', before: patched },
          { ...common, type: 'file', action: 'update', before: replaced, after: patched },
          { ...common, type: 'file', action: 'replace', before: createdRow, after: replaced },
          { ...common, type: 'file', action: 'create', after: createdRow },
        ]);
        const times = response.body.items.map((e: JsonBody) => e.at as string);
        expect([...times].sort().reverse()).toEqual(times);
        expect(new Set(response.body.items.map((e: JsonBody) => e.id)).size).toBe(6);
      });

      it('records nothing for a refused change', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));

        // Act
        await api.call('POST', apiPath.configs(tenant), configBodyFactory('file'));
        await api.call('PATCH', apiPath.config(tenant, 'file'), { directory: '' });
        await api.call('PUT', apiPath.config(tenant, 's3'), configBodyFactory('s3'));
        await api.call('DELETE', apiPath.config(tenant, 's3'));

        // Assess
        const response = await api.call('GET', apiPath.audit(tenant));
        expect(response.body.items.map((e: JsonBody) => e.action)).toEqual(['create']);
      });

      it.each([
        [2, [2, 2, 2]],
        [4, [4, 2]],
        [6, [6]],
      ])('pages with limit=%i and next_cursor, newest first, each entry once', async (limit, expectedSizes) => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));
        for (const enabled of [false, true, false, true, false]) {
          await api.call('PATCH', apiPath.config(tenant, 'file'), { enabled });
        }
        const whole = (await api.call('GET', apiPath.audit(tenant))).body.items;

        // Act
        const { items, pageSizes } = await allPages((query) => apiPath.audit(tenant, query), limit);

        // Assess
        expect(pageSizes).toEqual(expectedSizes);
        expect(items).toEqual(whole);
        expect(items.map((e) => e.action)).toEqual(['update', 'update', 'update', 'update', 'update', 'create']);
      });

      it.each([
        ['garbage', () => 'not-a-cursor'],
        ['a cursor of another tenant', async () => {
          const other = tenantIdFactory();
          await created(other, configBodyFactory('file'));
          await api.call('PATCH', apiPath.config(other, 'file'), { enabled: false });
          return (await api.call('GET', apiPath.audit(other, '?limit=1'))).body.next_cursor as string;
        }],
      ])('answers 400 bad_cursor for %s', async (_name, cursorOf) => {
        // Prepare
        const tenant = tenantIdFactory();
        await created(tenant, configBodyFactory('file'));
        const cursor = await cursorOf();

        // Act
        const response = await api.call('GET', apiPath.audit(tenant, `?cursor=${encodeURIComponent(cursor)}`));

        // Assess
        expectApiError(response, 400, 'bad_cursor');
      });

      it.each(['0', '1001', 'x'])('answers 400 bad_request for limit=%s', async (limit) => {
        // Act
        const response = await api.call('GET', apiPath.audit(tenantIdFactory(), `?limit=${limit}`));

        // Assess
        const error = expectApiError(response, 400, 'bad_request');
        expect(error.details).toEqual([{ field: 'limit', message: expect.any(String) }]);
      });

      it('answers an empty page for a tenant without history', async () => {
        // Act
        const response = await api.call('GET', apiPath.audit(tenantIdFactory()));

        // Assess
        expect(response.status).toBe(200);
        expect(response.body).toEqual({ items: [] });
      });
    });

    describe('routes that do not exist', () => {
      it.each<[HttpMethod, () => string]>([
        ['GET', () => '/api/v1/nothing-here'],
        ['POST', () => apiPath.config(tenantIdFactory(), 'file')],
        ['PUT', () => apiPath.configs(tenantIdFactory())],
        ['GET', () => '/api/v2/delivery-configs'],
      ])('answer %s %s with 404 not_found naming the route', async (method, path) => {
        // Act
        const response = await api.call(method, path(), method === 'GET' ? undefined : {});

        // Assess
        const error = expectApiError(response, 404, 'not_found');
        expect(error.message).toMatch(/^There is no route /);
      });
    });

    describe('over real HTTP', () => {
      let server: ConfigApiServer;

      beforeAll(async () => {
        server = await startConfigApiServer(stores);
      });

      afterAll(async () => {
        await server?.close();
      });

      afterEach(() => {
        expect(server.takeServerErrors()).toEqual([]);
      });

      it('creates, reads, replaces, patches, lists and deletes a config with fetch', async () => {
        // Prepare
        const tenant = tenantIdFactory();
        const body = configBodyFactory('cloudwatch', { groups: ['API'] });
        const steps: [string, ApiResponse][] = [];

        // Act
        steps.push(['create', await server.call('POST', apiPath.configs(tenant), body)]);
        steps.push(['read', await server.call('GET', apiPath.config(tenant, 'cloudwatch'))]);
        steps.push(['replace', await server.call('PUT', apiPath.config(tenant, 'cloudwatch'), { ...body, log_group_name: '/moved' })]);
        steps.push(['patch', await server.call('PATCH', apiPath.config(tenant, 'cloudwatch'), { target_region: 'eu-central-1' })]);
        steps.push(['list', await server.call('GET', apiPath.configs(tenant))]);
        steps.push(['delete', await server.call('DELETE', apiPath.config(tenant, 'cloudwatch'))]);
        steps.push(['read again', await server.call('GET', apiPath.config(tenant, 'cloudwatch'))]);

        // Assess
        expect(steps.map(([name, response]) => [name, response.status])).toEqual([
          ['create', 201],
          ['read', 200],
          ['replace', 200],
          ['patch', 200],
          ['list', 200],
          ['delete', 204],
          ['read again', 404],
        ]);
        const [create, read, , patch, list] = steps.map(([, response]) => response.body);
        expect(read).toEqual(create);
        expect(patch).toEqual({ ...storedForm(tenant, body), log_group_name: '/moved', target_region: 'eu-central-1', created_at: create.created_at });
        expect(list).toEqual({ items: [patch] });
        expect(steps[0]![1].headers['content-type']).toMatch(/^application\/json/);
        expectApiError(steps[6]![1], 404, 'not_found');
      });
    });
  });
}
