import Type, { type Static } from 'typebox';
import { RetryConfigSchema } from '../../delivery/index.js';
import { type TenantRoleRequest, tenantRoleConfigProperties, tenantRoleFor } from '../../aws/index.js';
import type { DeliveryConfig, FieldError, ValidatedDeliveryConfig } from '../../domain/index.js';

/** The kind name in configs (`type: "cloudwatch"` or `"cloudwatch:<name>"`). */
export const CLOUDWATCH_KIND = 'cloudwatch';

/*
 * CloudWatch Logs `PutLogEvents` limits, checked 2026:
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html
 */

/** Max size of one request: the UTF-8 bytes of every message plus 26 bytes per event. */
export const MAX_BATCH_BYTES = 1_048_576;
/** Bytes CloudWatch adds to each event's message when it counts a request's size. */
export const EVENT_OVERHEAD_BYTES = 26;
/** Max events in one request. */
export const MAX_BATCH_EVENTS = 10_000;
/**
 * Max UTF-8 bytes of one message, so that the event with its overhead fits 1 MiB (the
 * event size limit since 2025, equal to the request cap).
 */
export const MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD_BYTES;
/** The smallest allowed `max_event_bytes`: accounts still on the older 256 KiB event limit. */
export const LEGACY_MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD_BYTES;
/** Max time between the oldest and newest event of one request. */
export const MAX_SPAN_MS = 24 * 3_600_000;
/** Events older than this are rejected (`tooOldLogEventEndIndex`). */
export const MAX_AGE_MS = 14 * 24 * 3_600_000;
/** Events further than this in the future are rejected (`tooNewLogEventStartIndex`). */
export const MAX_FUTURE_MS = 2 * 3_600_000;
/** Default bytes kept free under the request cap; 0 uses the cap exactly. */
export const DEFAULT_SAFETY_MARGIN_BYTES = 0;

/** Placeholders `log_stream_template` may use, each filled from the central object key. */
export const LOG_STREAM_PLACEHOLDERS = ['pod_name', 'application', 'namespace', 'cluster_id'] as const;
export type LogStreamPlaceholder = (typeof LOG_STREAM_PLACEHOLDERS)[number];
/** The stream of an object when no template is set: one stream per pod. */
export const DEFAULT_LOG_STREAM_TEMPLATE = '{pod_name}';

// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
const LOG_GROUP_PATTERN = '^[.\\-_/#A-Za-z0-9]{1,512}$';
const PLACEHOLDER = /\{([^{}]*)\}/g;

const roleProperties = tenantRoleConfigProperties('CloudWatch Logs');

/** The fields a `cloudwatch` delivery config adds to the common ones. */
export const cloudwatchConfigProperties = {
  log_distribution_role_arn: roleProperties.log_distribution_role_arn,
  log_group_name: Type.String({
    pattern: LOG_GROUP_PATTERN,
    description: 'The log group to write to; created on first use when missing.',
    errorMessage: "must be 1-512 characters of letters, digits, '.', '-', '_', '/' and '#'",
  }),
  log_stream_template: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 512,
      default: DEFAULT_LOG_STREAM_TEMPLATE,
      description:
        'Name of the log stream per central object, with placeholders ' +
        `${LOG_STREAM_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}. Default '${DEFAULT_LOG_STREAM_TEMPLATE}'.`,
      errorMessage: 'must be a 1-512 character log stream name template',
    }),
  ),
  external_id: roleProperties.external_id,
  max_event_bytes: Type.Optional(
    Type.Integer({
      minimum: LEGACY_MAX_EVENT_BYTES,
      maximum: MAX_EVENT_BYTES,
      description:
        `Largest message in UTF-8 bytes; longer ones are truncated with a marker. Default ${MAX_EVENT_BYTES} ` +
        `(1 MiB events); ${LEGACY_MAX_EVENT_BYTES} for accounts still on the 256 KiB event limit.`,
      errorMessage: `must be a whole number from ${LEGACY_MAX_EVENT_BYTES} to ${MAX_EVENT_BYTES}`,
    }),
  ),
  batch_safety_margin_bytes: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: MAX_BATCH_BYTES / 2,
      description: `Bytes kept free under the ${MAX_BATCH_BYTES}-byte request cap. Default ${DEFAULT_SAFETY_MARGIN_BYTES}.`,
      errorMessage: `must be a whole number from 0 to ${MAX_BATCH_BYTES / 2}`,
    }),
  ),
  retry: Type.Optional(
    Type.Partial(RetryConfigSchema, { description: 'Quick-retry overrides for this destination.' }),
  ),
};

/** The `cloudwatch` fields as one schema; its static type is what a validated config holds. */
export const CloudwatchFieldsSchema = Type.Object(cloudwatchConfigProperties);
/** The `cloudwatch` fields of a validated config. */
export type CloudwatchSinkConfig = Static<typeof CloudwatchFieldsSchema>;

/**
 * Who a `cloudwatch` destination writes as: the tenant's role with its ExternalId, in the
 * destination's region. Delivery and the access check both take it from here, so the check
 * exercises the very role chain delivery uses.
 *
 * @param config - a validated `cloudwatch` config
 * @param region - the destination region (`target_region`, else the router's)
 */
export function cloudwatchTenantRole(config: ValidatedDeliveryConfig, region: string): TenantRoleRequest {
  return tenantRoleFor(config, region);
}

/** Limits the planner cuts and filters by; each defaults to the CloudWatch limit above. */
export interface CloudwatchLimits {
  readonly maxBatchBytes: number;
  readonly maxBatchEvents: number;
  readonly eventOverheadBytes: number;
  /** Largest message in UTF-8 bytes (the overhead not included). */
  readonly maxEventBytes: number;
  readonly maxSpanMs: number;
  readonly maxAgeMs: number;
  readonly maxFutureMs: number;
  /** Bytes kept free under `maxBatchBytes`. */
  readonly safetyMarginBytes: number;
}

/** The CloudWatch Logs limits as documented, with no safety margin. */
export function defaultCloudwatchLimits(): CloudwatchLimits {
  return {
    maxBatchBytes: MAX_BATCH_BYTES,
    maxBatchEvents: MAX_BATCH_EVENTS,
    eventOverheadBytes: EVENT_OVERHEAD_BYTES,
    maxEventBytes: MAX_EVENT_BYTES,
    maxSpanMs: MAX_SPAN_MS,
    maxAgeMs: MAX_AGE_MS,
    maxFutureMs: MAX_FUTURE_MS,
    safetyMarginBytes: DEFAULT_SAFETY_MARGIN_BYTES,
  };
}

/** The limits a config asks for: the defaults with its `max_event_bytes` and safety margin. */
export function cloudwatchLimitsFor(config: CloudwatchSinkConfig): CloudwatchLimits {
  const defaults = defaultCloudwatchLimits();
  return {
    ...defaults,
    maxEventBytes: config.max_event_bytes ?? defaults.maxEventBytes,
    safetyMarginBytes: config.batch_safety_margin_bytes ?? defaults.safetyMarginBytes,
  };
}

/** The placeholders of a template that are not known, in order of appearance. */
export function unknownStreamPlaceholders(template: string): string[] {
  const known: ReadonlySet<string> = new Set(LOG_STREAM_PLACEHOLDERS);
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '').filter((name) => !known.has(name));
}

/**
 * Rules the schema cannot state: the stream template uses only known placeholders and
 * has none of the characters a stream name may not hold (`:` and `*`).
 */
export function checkCloudwatchConfig(config: DeliveryConfig): FieldError[] {
  const template = config['log_stream_template'];
  if (typeof template !== 'string') return [];
  const errors: FieldError[] = [];
  const unknown = unknownStreamPlaceholders(template);
  if (unknown.length > 0) {
    errors.push({
      field: 'log_stream_template',
      message:
        `has unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'{${u}}'`).join(', ')}; ` +
        `known: ${LOG_STREAM_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
    });
  }
  if (/[:*]/.test(template.replace(PLACEHOLDER, ''))) {
    errors.push({ field: 'log_stream_template', message: "must not contain ':' or '*' (not allowed in log stream names)" });
  }
  return errors;
}
