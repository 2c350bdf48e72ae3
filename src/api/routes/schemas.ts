import type { FastifySchemaCompiler } from 'fastify';
import Type, { type TSchema } from 'typebox';
import Value from 'typebox/value';
import { commonConfigProperties, configSchemaFor, TenantSettingsSchema } from '../../domain/index.js';
import type { SinkRegistry } from '../../sinks/registry.js';
import { ApiError, ApiErrorCode, ApiErrorResponseSchema } from '../errors.js';

/** Route schemas of the config API: the source of both parameter checks and the OpenAPI document. */

/** Page size bounds of paginated routes. */
export const PAGE_LIMIT = { MIN: 1, MAX: 1_000, DEFAULT: 50 } as const;

export const TenantParamsSchema = Type.Object({
  tenant: Type.String({ description: 'The tenant: its Kubernetes namespace name.', minLength: 1 }),
});

export const ConfigParamsSchema = Type.Object({
  tenant: Type.String({ description: 'The tenant: its Kubernetes namespace name.', minLength: 1 }),
  type: Type.String({ description: "The config type: '<kind>' or '<kind>:<name>'.", minLength: 1 }),
});

export const PageQuerySchema = Type.Object({
  limit: Type.Optional(
    Type.Integer({
      minimum: PAGE_LIMIT.MIN,
      maximum: PAGE_LIMIT.MAX,
      description: `Items per page, ${PAGE_LIMIT.MIN}-${PAGE_LIMIT.MAX}; default ${PAGE_LIMIT.DEFAULT}.`,
    }),
  ),
  cursor: Type.Optional(
    Type.String({ minLength: 1, description: 'Opaque: the `next_cursor` of the previous page.' }),
  ),
});

/** A stored config as read: the kind's fields, plus any a hand-written row holds (reads are lenient). */
export const ConfigRowSchema = Type.Object(
  {
    tenant_id: Type.String(),
    type: Type.String(),
    enabled: Type.Optional(Type.Boolean()),
    desired_logs: Type.Optional(Type.Array(Type.String())),
    groups: Type.Optional(Type.Array(Type.String())),
    created_at: Type.Optional(Type.String({ description: 'Set by the server (RFC 3339).' })),
    updated_at: Type.Optional(Type.String({ description: 'Set by the server (RFC 3339).' })),
  },
  { additionalProperties: true, description: 'A delivery config as stored.' },
);

export const ConfigPageSchema = Type.Object({
  items: Type.Array(ConfigRowSchema),
  next_cursor: Type.Optional(Type.String({ description: 'Pass as `cursor` for the next page; absent on the last.' })),
});

export const ConfigListSchema = Type.Object({ items: Type.Array(ConfigRowSchema) });

const AccessStepSchema = Type.Object({
  step: Type.String({ description: '`assume_role`, `describe_log_groups`, `head_bucket`, …' }),
  status: Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('skipped')]),
  code: Type.Optional(Type.String({ description: 'The AWS error code of a failed step.' })),
  message: Type.String(),
});

export const ValidationReportSchema = Type.Object({
  tenant_id: Type.String(),
  type: Type.String(),
  valid: Type.Boolean({ description: 'No field error and no failed step.' }),
  field_errors: Type.Array(Type.Object({ field: Type.String(), message: Type.String() })),
  steps: Type.Array(AccessStepSchema, { description: 'The live check, in order; a failed step skips the rest.' }),
});

export const TenantStatusSchema = Type.Object({
  tenant_id: Type.String(),
  destinations: Type.Array(
    Type.Object({
      type: Type.String(),
      kind: Type.String(),
      configured: Type.Boolean({ description: 'A config of this type exists now.' }),
      active: Type.Boolean({ description: 'Configured, enabled, and its ttl not passed.' }),
      config_valid: Type.Boolean({ description: 'The stored row reads as a usable config.' }),
      last_success_at: Type.Optional(Type.String()),
      lag_seconds: Type.Optional(Type.Number({ description: "From an object's creation to its delivery, at the last success." })),
      last_error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), at: Type.String() })),
      pending_retries: Type.Integer({ description: 'Delayed retries waiting.' }),
      dead_letters: Type.Integer({ description: 'Dead letters not yet redriven.' }),
      circuit: Type.Optional(
        Type.Object(
          {
            state: Type.Union([Type.Literal('closed'), Type.Literal('half_open'), Type.Literal('open')], {
              description: 'Open: the destination is not called and its work waits in delayed retries.',
            }),
            opened_at: Type.Optional(Type.String({ description: 'When the circuit opened (open, half_open).' })),
            next_probe_at: Type.Optional(Type.String({ description: 'When one delivery may probe the destination (open).' })),
            reported_at: Type.String({ description: 'When a router replica reported this state.' }),
          },
          {
            description:
              "The destination's circuit breaker as a router replica last reported it. Breakers are per replica, " +
              'in memory; absent until one changed state.',
          },
        ),
      ),
    }),
  ),
  unrouted_dead_letters: Type.Integer({ description: 'Dead letters of objects refused before routing.' }),
});

export const AuditPageSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Type.String(),
      tenant_id: Type.String(),
      type: Type.String({ description: 'The config type changed.' }),
      action: Type.Union([
        Type.Literal('create'),
        Type.Literal('replace'),
        Type.Literal('update'),
        Type.Literal('delete'),
        Type.Literal('offboard'),
      ]),
      actor: Type.String({ description: 'The API key id or the authorizer principal.' }),
      at: Type.String(),
      before: Type.Optional(Type.Object({}, { additionalProperties: true })),
      after: Type.Optional(Type.Object({}, { additionalProperties: true })),
    }),
  ),
  next_cursor: Type.Optional(Type.String()),
});

/** The standard error responses of an authenticated route. */
export const errorResponses = {
  400: ApiErrorResponseSchema,
  401: ApiErrorResponseSchema,
  '5xx': ApiErrorResponseSchema,
} as const;

/**
 * The body of a create or replace, for the document only: one schema per kind. Bodies are
 * validated by the service against the kind's schema, so the answer tells a field of
 * another kind (422) from a field of no kind (400).
 */
export function configBodySchema(sinks: SinkRegistry): TSchema {
  const { tenant_id: _t, created_at: _c, updated_at: _u, ...settings } = TenantSettingsSchema.properties;
  return Type.Union([
    ...sinks.kinds().map((kind) => {
      const full = configSchemaFor(sinks.get(kind)!.spec);
      const { tenant_id: _t, created_at: _c, updated_at: _u, ...rest } = full.properties;
      return Type.Object(
        { tenant_id: Type.Optional(commonConfigProperties.tenant_id), ...rest },
        { additionalProperties: false, description: `A '${kind}' delivery config.` },
      );
    }),
    Type.Object(
      { tenant_id: Type.Optional(commonConfigProperties.tenant_id), ...settings },
      { additionalProperties: false, description: "The tenant settings row (type 'tenant'): rate limits and the daily byte quota." },
    ),
  ]);
}

/** A PATCH body, for the document: any fields of the kind except the key; `null` removes a field. */
export const PatchBodySchema = Type.Object(
  {},
  {
    additionalProperties: true,
    minProperties: 1,
    description: 'A JSON merge patch (RFC 7396) of the fields to change; `null` removes a field. `tenant_id` and `type` cannot change.',
  },
);

/** An integer as a URL carries it: decimal digits only. */
const DECIMAL_INTEGER = /^-?\d+$/;

/**
 * Converts URL strings to the schema's types, taking an integer only when written in decimal
 * digits: TypeBox's conversion alone would read `limit=1.9` as 1, `true` as 1 and `0x10` as 16.
 */
function convertUrlValues(schema: TSchema, value: unknown): unknown {
  // Read before converting: the conversion may change `value` in place.
  const given = typeof value === 'object' && value !== null ? Object.entries(value) : [];
  const converted = Value.Convert(schema, value);
  if (typeof converted !== 'object' || converted === null) return converted;
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const result = { ...(converted as Record<string, unknown>) };
  for (const [name, raw] of given) {
    if (properties[name]?.type === 'integer' && !(typeof raw === 'string' && DECIMAL_INTEGER.test(raw))) result[name] = raw;
  }
  return result;
}

/**
 * Checks params and query strings against their route schema (converting strings as the
 * URL carries them), with a 400 naming each field. Bodies pass through: the service
 * validates them against the schema of the config's kind.
 */
export const configApiValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  if (httpPart === 'body') return (value: unknown) => ({ value });
  return (value: unknown) => {
    const converted = convertUrlValues(schema, value);
    if (Value.Check(schema, converted)) return { value: converted };
    const details = [...Value.Errors(schema, converted)].map((e) => ({
      field: e.instancePath.split('/').filter(Boolean).join('.') || httpPart || 'request',
      message: e.message,
    }));
    const code = details.some((d) => d.field === 'cursor') ? ApiErrorCode.BAD_CURSOR : ApiErrorCode.BAD_REQUEST;
    return {
      error: new ApiError(400, code, `Invalid ${httpPart}: ${details.map((d) => `'${d.field}' ${d.message}`).join('; ')}.`, {
        details,
      }),
    };
  };
};
