import Type, { type Static } from 'typebox';
import { commonConfigProperties, schemaFieldErrors, TENANT_SETTINGS_TYPE } from './delivery-config.js';
import { ConfigValidationError, type FieldError } from './errors.js';

/**
 * The tenant-wide settings row (`type = "tenant"`): rate limits and the daily byte quota.
 * Strict on write (every rule, unknown fields refused), lenient on read (a bad or unknown
 * field is dropped with a warning; the other fields still apply; delivery is never blocked).
 */

const positiveRate = (what: string) =>
  Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      description: `${what} per second this budget allows, on each replica.`,
      errorMessage: 'must be a number greater than 0',
    }),
  );

/** Events and bytes per second; either may be left out (no limit on it). */
const rateProperties = {
  events_per_second: positiveRate('Records'),
  bytes_per_second: positiveRate('Bytes (as the destination batches measure them)'),
};

/** Longest burst a token bucket allows, in seconds of its rate. */
export const MAX_BURST_SECONDS = 3_600;
/** Default burst: one second of the rate. */
export const DEFAULT_BURST_SECONDS = 1;

/** The tenant's budget over all its destinations. */
export const TenantRateLimitSchema = Type.Object(
  {
    ...rateProperties,
    burst_seconds: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: MAX_BURST_SECONDS,
        description: `Seconds of the rate that may be sent at once after a quiet time (bucket size). Default ${DEFAULT_BURST_SECONDS}.`,
        errorMessage: `must be a number greater than 0 and at most ${MAX_BURST_SECONDS}`,
      }),
    ),
  },
  { additionalProperties: false, description: 'Events/s and bytes/s over all the tenant\'s destinations, per replica.' },
);
export type TenantRateLimit = Static<typeof TenantRateLimitSchema>;

/** One destination's budget (keyed by config type); the tenant's `burst_seconds` applies. */
export const DestinationRateLimitSchema = Type.Object(rateProperties, {
  additionalProperties: false,
  description: 'Events/s and bytes/s of one destination, per replica.',
});
export type DestinationRateLimit = Static<typeof DestinationRateLimitSchema>;

const settingsProperties = {
  tenant_id: commonConfigProperties.tenant_id,
  type: Type.Literal(TENANT_SETTINGS_TYPE, {
    description: "Always 'tenant': the tenant-wide settings row.",
    errorMessage: `must be '${TENANT_SETTINGS_TYPE}'`,
  }),
  rate_limit: Type.Optional(TenantRateLimitSchema),
  destination_rate_limits: Type.Optional(
    Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}(:[a-z0-9][a-z0-9_-]{0,62})?$' }), DestinationRateLimitSchema, {
      additionalProperties: false,
      description: "Budgets per destination, keyed by the config's type ('s3', 's3:archive').",
    }),
  ),
  daily_byte_quota: Type.Optional(
    Type.Integer({
      minimum: 1,
      description:
        'Bytes the tenant may send per UTC day, summed over all its destinations (batch bytes as sent), ' +
        'shared by every replica. Work over it is dead-lettered with reason quota_exceeded.',
      errorMessage: 'must be a whole number of bytes, at least 1',
    }),
  ),
  created_at: commonConfigProperties.created_at,
  updated_at: commonConfigProperties.updated_at,
};

/** The settings row's schema: no other keys. */
export const TenantSettingsSchema = Type.Object(settingsProperties, {
  additionalProperties: false,
  description: "The tenant-wide settings row (type 'tenant'): rate limits and the daily byte quota.",
});

const UNKNOWN_FIELD = 'is not a known field';
const DESTINATION_KEY_MESSAGE = "is not a destination type ('<kind>' or '<kind>:<name>', lowercase)";

/** The settings as the processor uses them; every field optional (absent = no limit). */
export interface TenantSettings {
  readonly rateLimit?: TenantRateLimit;
  readonly destinationRateLimits?: Readonly<Record<string, DestinationRateLimit>>;
  readonly dailyByteQuota?: number;
}

/** A tenant without a settings row: no limits. */
export const NO_TENANT_SETTINGS: TenantSettings = Object.freeze({});

function toSettings(row: Record<string, unknown>): TenantSettings {
  return {
    ...(row['rate_limit'] !== undefined && { rateLimit: row['rate_limit'] as TenantRateLimit }),
    ...(row['destination_rate_limits'] !== undefined && {
      destinationRateLimits: row['destination_rate_limits'] as Record<string, DestinationRateLimit>,
    }),
    ...(row['daily_byte_quota'] !== undefined && { dailyByteQuota: row['daily_byte_quota'] as number }),
  };
}

/** The field errors of a settings row by the rules of a write (empty when it is valid). */
export function tenantSettingsFieldErrors(input: unknown): FieldError[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return [{ field: '', message: 'The tenant settings row must be a JSON object' }];
  }
  return schemaFieldErrors(TenantSettingsSchema, input).map((e) =>
    e.message === UNKNOWN_FIELD && /^destination_rate_limits\.[^.]+$/.test(e.field)
      ? { field: e.field, message: DESTINATION_KEY_MESSAGE }
      : e,
  );
}

/**
 * Validates a settings row strictly, as on write.
 *
 * @param input - the row as received
 * @returns the row's settings
 * @throws ConfigValidationError listing every field error
 */
export function validateTenantSettings(input: unknown): TenantSettings {
  const errors = tenantSettingsFieldErrors(input);
  if (errors.length > 0) throw new ConfigValidationError(errors, 'tenant settings row');
  return toSettings(input as Record<string, unknown>);
}

/**
 * Reads a stored settings row leniently: each unknown or invalid top-level field is dropped
 * with a warning and the others apply, so a row written by hand never blocks delivery.
 *
 * @param row - the row as stored
 */
export function readTenantSettings(row: Record<string, unknown>): { settings: TenantSettings; warnings: string[] } {
  const warnings: string[] = [];
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (!Object.hasOwn(settingsProperties, key)) {
      warnings.push(`Ignored unknown field '${key}'.`);
      continue;
    }
    if (key === 'tenant_id' || key === 'type' || key === 'created_at' || key === 'updated_at') continue;
    const errors = tenantSettingsFieldErrors({ tenant_id: 'x', type: TENANT_SETTINGS_TYPE, [key]: value });
    if (errors.length === 0) kept[key] = value;
    else warnings.push(`Ignored '${key}': ${errors.map((e) => `'${e.field}' ${e.message}`).join('; ')}.`);
  }
  return { settings: toSettings(kept), warnings };
}
