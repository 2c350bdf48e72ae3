import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Static } from 'typebox';
import type { ConfigService } from '../../admin/config-service.js';
import type { Logger } from '../../logging/index.js';
import type { SinkRegistry } from '../../sinks/registry.js';
import type { AuditEntry } from '../../stores/ports.js';
import { type ApiAuthOptions, addApiAuth } from '../auth/plugin.js';
import { ApiErrorResponseSchema } from '../errors.js';
import {
  AuditPageSchema,
  ConfigListSchema,
  ConfigPageSchema,
  ConfigParamsSchema,
  ConfigRowSchema,
  configApiValidatorCompiler,
  configBodySchema,
  errorResponses,
  PAGE_LIMIT,
  PageQuerySchema,
  PatchBodySchema,
  TenantParamsSchema,
  TenantStatusSchema,
  ValidationReportSchema,
} from './schemas.js';

/** The path every config route sits under. */
export const CONFIG_API_PREFIX = '/api/v1';

/** What the config routes need. */
export interface ConfigApiOptions {
  readonly service: ConfigService;
  readonly sinks: SinkRegistry;
  readonly auth: ApiAuthOptions;
  /** How long a live check may take before it is cut off; default 20 s. */
  readonly validateTimeoutMs?: number;
}

const DEFAULT_VALIDATE_TIMEOUT_MS = 20_000;
const SECURITY = [{ hmac: [] }];
/**
 * The errors of a change to an existing config: gone (404), or changed by another request
 * between the service's read and its write (409; read it again and retry).
 */
const changeErrorResponses = { 404: ApiErrorResponseSchema, 409: ApiErrorResponseSchema } as const;

type ConfigParams = Static<typeof ConfigParamsSchema>;
type TenantParams = Static<typeof TenantParamsSchema>;
type PageQuery = Static<typeof PageQuerySchema>;

function actorOf(request: FastifyRequest): string {
  // The auth hook refuses every request it cannot attribute, so this is always set here.
  return request.apiActor ?? 'unknown';
}

function auditView(entry: AuditEntry): Static<typeof AuditPageSchema>['items'][number] {
  return {
    id: entry.id,
    tenant_id: entry.tenantId,
    type: entry.type,
    action: entry.action,
    actor: entry.actor,
    at: new Date(entry.atMs).toISOString(),
    ...(entry.before !== undefined && { before: entry.before }),
    ...(entry.after !== undefined && { after: entry.after }),
  };
}

/**
 * The delivery-config routes under `/api/v1`, each signed (see docs/api-auth.md). Register
 * with the prefix: `app.register(configApiPlugin, { prefix: CONFIG_API_PREFIX, … })`.
 */
export async function configApiPlugin(
  app: FastifyInstance,
  options: ConfigApiOptions & { registry: Registry; logger: Logger },
): Promise<void> {
  const { service } = options;
  addApiAuth(app, options.auth, { registry: options.registry, logger: options.logger });
  app.setValidatorCompiler(configApiValidatorCompiler);
  const bodySchema = configBodySchema(options.sinks);
  const validateTimeoutMs = options.validateTimeoutMs ?? DEFAULT_VALIDATE_TIMEOUT_MS;
  const tags = ['delivery-configs'];

  app.get<{ Querystring: PageQuery }>(
    '/delivery-configs',
    {
      schema: {
        summary: 'Every delivery config, a page at a time.',
        tags,
        security: SECURITY,
        querystring: PageQuerySchema,
        response: { 200: ConfigPageSchema, ...errorResponses },
      },
    },
    async (request) => {
      const page = await service.listAll({
        limit: request.query.limit ?? PAGE_LIMIT.DEFAULT,
        ...(request.query.cursor !== undefined && { cursor: request.query.cursor }),
      });
      return { items: page.items, ...(page.nextCursor !== undefined && { next_cursor: page.nextCursor }) };
    },
  );

  app.get<{ Params: TenantParams }>(
    '/tenants/:tenant/delivery-configs',
    {
      schema: {
        summary: "The tenant's delivery configs (and its settings row, if any).",
        tags,
        security: SECURITY,
        params: TenantParamsSchema,
        response: { 200: ConfigListSchema, ...errorResponses },
      },
    },
    async (request) => ({ items: await service.listTenant(request.params.tenant) }),
  );

  app.get<{ Params: ConfigParams }>(
    '/tenants/:tenant/delivery-configs/:type',
    {
      schema: {
        summary: 'One delivery config.',
        tags,
        security: SECURITY,
        params: ConfigParamsSchema,
        response: { 200: ConfigRowSchema, 404: ApiErrorResponseSchema, ...errorResponses },
      },
    },
    async (request) => service.get(request.params.tenant, request.params.type),
  );

  app.post<{ Params: TenantParams; Body: unknown }>(
    '/tenants/:tenant/delivery-configs',
    {
      schema: {
        summary: 'Create a delivery config; 409 when the tenant has one of that type.',
        tags,
        security: SECURITY,
        params: TenantParamsSchema,
        body: bodySchema,
        response: {
          201: ConfigRowSchema,
          409: ApiErrorResponseSchema,
          422: ApiErrorResponseSchema,
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const row = await service.create(request.params.tenant, request.body, actorOf(request));
      return reply.status(201).send(row);
    },
  );

  app.put<{ Params: ConfigParams; Body: unknown }>(
    '/tenants/:tenant/delivery-configs/:type',
    {
      schema: {
        summary: 'Replace a delivery config; 409 when another request changed it meanwhile.',
        tags,
        security: SECURITY,
        params: ConfigParamsSchema,
        body: bodySchema,
        response: { 200: ConfigRowSchema, ...changeErrorResponses, 422: ApiErrorResponseSchema, ...errorResponses },
      },
    },
    async (request) => service.replace(request.params.tenant, request.params.type, request.body, actorOf(request)),
  );

  app.patch<{ Params: ConfigParams; Body: unknown }>(
    '/tenants/:tenant/delivery-configs/:type',
    {
      schema: {
        summary: 'Change some fields of a delivery config (JSON merge patch); 409 when another request changed it meanwhile.',
        tags,
        security: SECURITY,
        params: ConfigParamsSchema,
        body: PatchBodySchema,
        response: { 200: ConfigRowSchema, ...changeErrorResponses, 422: ApiErrorResponseSchema, ...errorResponses },
      },
    },
    async (request) => service.patch(request.params.tenant, request.params.type, request.body, actorOf(request)),
  );

  app.delete<{ Params: ConfigParams }>(
    '/tenants/:tenant/delivery-configs/:type',
    {
      schema: {
        summary: 'Delete a delivery config; 409 when another request changed it meanwhile.',
        tags,
        security: SECURITY,
        params: ConfigParamsSchema,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...changeErrorResponses, ...errorResponses },
      },
    },
    async (request, reply) => {
      await service.remove(request.params.tenant, request.params.type, actorOf(request));
      return reply.status(204).send();
    },
  );

  app.get<{ Params: ConfigParams }>(
    '/tenants/:tenant/delivery-configs/:type/validate',
    {
      schema: {
        summary: 'Check a stored config: its fields, then live access (assume the role chain, then reach the target).',
        tags,
        security: SECURITY,
        params: ConfigParamsSchema,
        response: { 200: ValidationReportSchema, 404: ApiErrorResponseSchema, ...errorResponses },
      },
    },
    async (request) => {
      const signal = AbortSignal.timeout(validateTimeoutMs);
      return service.validate(request.params.tenant, request.params.type, signal);
    },
  );

  app.get<{ Params: TenantParams }>(
    '/tenants/:tenant/status',
    {
      schema: {
        summary: 'Per destination: last success, last error, lag, pending retries, dead letters.',
        tags: ['tenants'],
        security: SECURITY,
        params: TenantParamsSchema,
        response: { 200: TenantStatusSchema, ...errorResponses },
      },
    },
    async (request) => service.status(request.params.tenant),
  );

  app.delete<{ Params: TenantParams }>(
    '/tenants/:tenant',
    {
      schema: {
        summary: 'Offboard a tenant: remove every config and its pending retries; dead letters and audit are kept.',
        tags: ['tenants'],
        security: SECURITY,
        params: TenantParamsSchema,
        response: { 204: { type: 'null', description: 'Offboarded.' }, ...changeErrorResponses, ...errorResponses },
      },
    },
    async (request, reply) => {
      await service.offboard(request.params.tenant, actorOf(request));
      return reply.status(204).send();
    },
  );

  app.get<{ Params: TenantParams; Querystring: PageQuery }>(
    '/tenants/:tenant/audit',
    {
      schema: {
        summary: "The tenant's config changes, newest first: who, when, before and after.",
        tags: ['tenants'],
        security: SECURITY,
        params: TenantParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: AuditPageSchema, ...errorResponses },
      },
    },
    async (request) => {
      const page = await service.audit(request.params.tenant, {
        limit: request.query.limit ?? PAGE_LIMIT.DEFAULT,
        ...(request.query.cursor !== undefined && { cursor: request.query.cursor }),
      });
      return {
        items: page.items.map(auditView),
        ...(page.nextCursor !== undefined && { next_cursor: page.nextCursor }),
      };
    },
  );
}
