import Type, { type TObject, type TProperties, type TSchema } from 'typebox';
import Value from 'typebox/value';
import { ConfigValidationError, type FieldError } from './errors.js';
import { groupMembers, groupNames } from './groups.js';

/**
 * Delivery configs: one row per (tenant_id, type). `type` is `<kind>` for a tenant's first
 * destination of that kind and `<kind>:<name>` for further ones.
 */

/** The type of the tenant-wide settings row; not a destination. */
export const TENANT_SETTINGS_TYPE = 'tenant';

const KIND_PATTERN = '[a-z][a-z0-9_]{0,31}';
const NAME_PATTERN = '[a-z0-9][a-z0-9_-]{0,62}';
const TYPE_REGEX = new RegExp(`^(${KIND_PATTERN})(?::(${NAME_PATTERN}))?$`);
const TYPE_MESSAGE = "must be '<kind>' or '<kind>:<name>' (lowercase letters, digits, '-', '_')";
/** A Kubernetes namespace name: DNS-1123 label. */
export const TENANT_ID_REGEX = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Fields every delivery config has, whatever its kind. */
export const commonConfigProperties = {
  tenant_id: Type.String({
    pattern: TENANT_ID_REGEX.source,
    description:
      'The tenant: the Kubernetes namespace of the customer (DNS-1123 label, at most 63 characters).',
    errorMessage: 'must be a Kubernetes namespace name (lowercase letters, digits and "-", 1-63 characters)',
  }),
  type: Type.String({
    pattern: TYPE_REGEX.source,
    description: "Destination kind, or '<kind>:<name>' for a tenant's further destinations of one kind.",
    errorMessage: TYPE_MESSAGE,
  }),
  enabled: Type.Optional(
    Type.Boolean({ default: true, description: 'Whether the destination receives logs. Default true.' }),
  ),
  desired_logs: Type.Optional(
    Type.Array(Type.String({ pattern: '\\S', errorMessage: 'must be a non-blank application name' }), {
      default: [],
      description:
        'Applications to deliver (case-sensitive). With `groups` empty too, every application passes.',
    }),
  ),
  groups: Type.Optional(
    Type.Array(Type.String({ pattern: '\\S', errorMessage: 'must be a non-blank group name' }), {
      default: [],
      description: `Application groups to deliver (case-insensitive): ${groupNames().join(', ')}.`,
    }),
  ),
  target_region: Type.Optional(
    Type.String({
      pattern: '^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\\d$',
      description: "Region of the destination (for example 'eu-central-1'). Default: the processor's region.",
      errorMessage: "must be a region name such as 'us-east-1' or 'us-gov-west-1'",
    }),
  ),
  ttl: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: 'Epoch seconds after which the row is inactive, whether or not the store has deleted it.',
      errorMessage: 'must be a whole number of epoch seconds',
    }),
  ),
  created_at: Type.Optional(Type.String({ description: 'When the row was created (RFC 3339).' })),
  updated_at: Type.Optional(Type.String({ description: 'When the row was last changed (RFC 3339).' })),
} satisfies TProperties;

/** What a destination kind contributes to config validation. */
export interface KindSpec {
  readonly kind: string;
  /** The kind's own fields; merged with the common ones. */
  readonly properties: TProperties;
  /** Cross-field rules the schema cannot state. */
  readonly check?: (config: DeliveryConfig) => FieldError[];
  /**
   * Canonical form of the kind's fields, applied after validation on write and on read
   * (for example `bucket_prefix` always ending with `/`). Must be pure.
   */
  readonly normalize?: (config: DeliveryConfig) => DeliveryConfig;
}

/** Finds the spec of a kind, or undefined when the kind is not known. */
export type KindLookup = (kind: string) => KindSpec | undefined;

/** A delivery config as stored: the common fields plus the kind's own. */
export interface DeliveryConfig {
  tenant_id: string;
  type: string;
  enabled: boolean;
  desired_logs: string[];
  groups: string[];
  target_region?: string;
  ttl?: number;
  created_at?: string;
  updated_at?: string;
  [field: string]: unknown;
}

declare const validatedBrand: unique symbol;
/** A config that passed validation; `create*` functions take only this. */
export type ValidatedDeliveryConfig = DeliveryConfig & { readonly [validatedBrand]: true };

/** Splits a `type` into its kind and optional name. */
export function parseConfigType(type: string): { kind: string; name: string | undefined } | undefined {
  const m = TYPE_REGEX.exec(type);
  if (!m) return undefined;
  return { kind: m[1]!, name: m[2] };
}

/** The id of a destination in logs, metrics, checkpoints and dead letters: `tenant/type`. */
export function destinationId(config: Pick<DeliveryConfig, 'tenant_id' | 'type'>): string {
  return `${config.tenant_id}/${config.type}`;
}

const schemaCache = new WeakMap<KindSpec, TObject>();

/** The full schema of a kind's config: common fields plus the kind's, no other keys. */
export function configSchemaFor(spec: KindSpec): TObject {
  let schema = schemaCache.get(spec);
  if (!schema) {
    schema = Type.Object(
      { ...commonConfigProperties, ...spec.properties },
      { additionalProperties: false, description: `Delivery config of kind '${spec.kind}'.` },
    );
    schemaCache.set(spec, schema);
  }
  return schema;
}

function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

function schemaAt(root: TSchema, instancePath: string): TSchema | undefined {
  let node: TSchema | undefined = root;
  for (const part of instancePath.split('/').slice(1)) {
    const n = node as
      | { properties?: Record<string, TSchema>; items?: TSchema; patternProperties?: Record<string, TSchema> }
      | undefined;
    // A record (`patternProperties`) has one value schema, whatever the key.
    node = /^\d+$/.test(part)
      ? n?.items
      : (n?.properties?.[part] ?? Object.values(n?.patternProperties ?? {})[0]);
  }
  return node;
}

/** Turns schema errors into one precise message per field. */
export function schemaFieldErrors(schema: TSchema, value: unknown): FieldError[] {
  const byField = new Map<string, string>();
  for (const error of Value.Errors(schema, value)) {
    if (error.keyword === 'boolean') continue; // reported again as additionalProperties
    if (error.keyword === 'required') {
      const names = (error.params as { requiredProperties?: string[] }).requiredProperties ?? [];
      for (const name of names) {
        const field = fieldPath(`${error.instancePath}/${name}`);
        if (!byField.has(field)) byField.set(field, 'is required');
      }
      continue;
    }
    if (error.keyword === 'additionalProperties') {
      const names = (error.params as { additionalProperties?: string[] }).additionalProperties ?? [];
      for (const name of names)
        byField.set(fieldPath(`${error.instancePath}/${name}`), 'is not a known field');
      continue;
    }
    const field = fieldPath(error.instancePath);
    if (byField.has(field)) continue;
    const custom = (schemaAt(schema, error.instancePath) as { errorMessage?: string } | undefined)
      ?.errorMessage;
    byField.set(field, custom ?? error.message);
  }
  return [...byField].map(([field, message]) => ({ field, message }));
}

function unknownGroups(groups: readonly string[]): string[] {
  return groups.filter((g) => groupMembers(g) === undefined);
}

function withDefaults(input: Record<string, unknown>): DeliveryConfig {
  return {
    ...input,
    enabled: input['enabled'] ?? true,
    desired_logs: input['desired_logs'] ?? [],
    groups: input['groups'] ?? [],
  } as DeliveryConfig;
}

function resolveKind(input: unknown, lookup: KindLookup): { spec?: KindSpec; errors: FieldError[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { errors: [{ field: '', message: 'A delivery config must be a JSON object' }] };
  }
  const type = (input as Record<string, unknown>)['type'];
  if (typeof type !== 'string')
    return { errors: [{ field: 'type', message: 'is required and must be a string' }] };
  const parsed = parseConfigType(type);
  if (!parsed) return { errors: [{ field: 'type', message: TYPE_MESSAGE }] };
  const spec = lookup(parsed.kind);
  if (!spec) return { errors: [{ field: 'type', message: `has unknown destination kind '${parsed.kind}'` }] };
  return { spec, errors: [] };
}

/**
 * Validates a config strictly, as on write: unknown fields, unknown groups and every
 * schema rule are errors.
 *
 * @param input - the config as received
 * @param lookup - the destination kinds this router knows
 * @returns the config with defaults applied
 * @throws ConfigValidationError listing every field error
 */
export function validateDeliveryConfig(input: unknown, lookup: KindLookup): ValidatedDeliveryConfig {
  const { spec, errors } = resolveKind(input, lookup);
  if (!spec) throw new ConfigValidationError(errors);
  const fieldErrors = schemaFieldErrors(configSchemaFor(spec), input);
  const config = withDefaults(input as Record<string, unknown>);
  if (Array.isArray(config.groups)) {
    for (const group of unknownGroups(config.groups.filter((g) => typeof g === 'string'))) {
      fieldErrors.push({
        field: 'groups',
        message: `has unknown group '${group}'; known groups: ${groupNames().join(', ')}`,
      });
    }
  }
  if (fieldErrors.length === 0 && spec.check) fieldErrors.push(...spec.check(config));
  if (fieldErrors.length > 0) throw new ConfigValidationError(fieldErrors);
  return (spec.normalize ? spec.normalize(config) : config) as ValidatedDeliveryConfig;
}

/** Outcome of reading a stored row leniently. */
export type ReadConfigResult =
  | { ok: true; config: ValidatedDeliveryConfig; warnings: string[] }
  | { ok: false; error: ConfigValidationError };

/**
 * Reads a stored row leniently: unknown groups and unknown fields are dropped with a
 * warning; anything else invalid makes this row (only) unusable.
 *
 * @param row - the row as stored
 * @param lookup - the destination kinds this router knows
 */
export function readDeliveryConfig(row: Record<string, unknown>, lookup: KindLookup): ReadConfigResult {
  const { spec, errors } = resolveKind(row, lookup);
  if (!spec) return { ok: false, error: new ConfigValidationError(errors) };
  const warnings: string[] = [];
  const known = configSchemaFor(spec).properties;
  const cleaned: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (Object.hasOwn(known, key)) cleaned[key] = value;
    else warnings.push(`Ignored unknown field '${key}'.`);
  }
  if (Array.isArray(cleaned['groups'])) {
    const groups = cleaned['groups'] as unknown[];
    const bad = unknownGroups(groups.filter((g): g is string => typeof g === 'string'));
    for (const group of bad) warnings.push(`Ignored unknown group '${group}'.`);
    cleaned['groups'] = groups.filter((g) => typeof g !== 'string' || !bad.includes(g));
  }
  try {
    return { ok: true, config: validateDeliveryConfig(cleaned, lookup), warnings };
  } catch (error) {
    if (error instanceof ConfigValidationError) return { ok: false, error };
    throw error;
  }
}

/**
 * Whether a config should receive logs now: enabled, and its `ttl` (epoch seconds), if
 * any, not yet passed.
 */
export function isConfigActive(config: DeliveryConfig, nowMs: number): boolean {
  if (config.enabled === false) return false;
  return config.ttl === undefined || config.ttl * 1000 > nowMs;
}

/**
 * The application filter of a config: with `desired_logs` and `groups` both empty every
 * application passes; otherwise exactly the union of `desired_logs` and the groups' members.
 */
export function createApplicationFilter(
  config: Pick<DeliveryConfig, 'desired_logs' | 'groups'>,
): (application: string) => boolean {
  const desired = config.desired_logs ?? [];
  const groups = config.groups ?? [];
  if (desired.length === 0 && groups.length === 0) return () => true;
  const allowed = new Set(desired);
  for (const group of groups) for (const app of groupMembers(group) ?? []) allowed.add(app);
  return (application) => allowed.has(application);
}
