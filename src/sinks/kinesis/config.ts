import Type, { type Static } from 'typebox';
import { tenantRoleConfigProperties } from '../../aws/index.js';
import { RetryConfigSchema } from '../../delivery/index.js';
import type { DeliveryConfig, FieldError } from '../../domain/index.js';
import type { NdjsonRecordLimits } from '../ndjson-records.js';

/** The kind name in configs (`type: "kinesis"` or `"kinesis:<name>"`). */
export const KINESIS_KIND = 'kinesis';

const MIB = 1024 * 1024;

/*
 * Kinesis Data Streams `PutRecords` limits, checked 2026:
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
 * https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
 */

/** Most records in one `PutRecords` request. */
export const MAX_RECORDS_PER_REQUEST = 500;
/** Largest `PutRecords` request: every record's data plus its partition key. */
export const MAX_REQUEST_BYTES = 10 * MIB;
/** Largest record: its data (before base64) plus its partition key. */
export const MAX_RECORD_BYTES = MIB;
/** Longest partition key, in Unicode characters. */
export const MAX_PARTITION_KEY_LENGTH = 256;
/**
 * Smallest `max_record_bytes` allowed: a partition key of 256 characters takes up to 1,024
 * bytes, and a record must still hold a cut line with its truncation marker.
 */
export const MIN_RECORD_BYTES = 4_096;

/** Placeholders `partition_key_template` may use, each filled from the central object key. */
export const PARTITION_KEY_PLACEHOLDERS = ['pod_name', 'application', 'namespace', 'cluster_id'] as const;
export type PartitionKeyPlaceholder = (typeof PARTITION_KEY_PLACEHOLDERS)[number];
/** The partition key when no template is set: one key per pod, so a pod's lines stay in order on one shard. */
export const DEFAULT_PARTITION_KEY_TEMPLATE = '{pod_name}';

/**
 * Log categories a `kinesis` destination may route to streams of their own (`streams`),
 * decided per central object by `logCategoryOf`:
 * - `audit`: the application is `audit` or ends with `-audit` (`kube-apiserver-audit`,
 *   `openshift-apiserver-audit`, `oauth-apiserver-audit`, …);
 * - `infrastructure`: otherwise, a control-plane application (a member of an application
 *   group: `kube-apiserver`, `kube-scheduler`, `oauth-openshift`, …) or a namespace named
 *   `default`, `kube`, `openshift`, or starting with `kube-` or `openshift-`;
 * - `application`: everything else.
 */
export const LogCategory = {
  AUDIT: 'audit',
  INFRASTRUCTURE: 'infrastructure',
  APPLICATION: 'application',
} as const;
export type LogCategory = (typeof LogCategory)[keyof typeof LogCategory];

// https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html (StreamName)
const STREAM_NAME_PATTERN = '[a-zA-Z0-9_.-]{1,128}';
// https://docs.aws.amazon.com/kinesis/latest/APIReference/API_DescribeStreamSummary.html (StreamARN)
const STREAM_ARN_PATTERN = `arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\\d{12}:stream/${STREAM_NAME_PATTERN}`;
const STREAM_ARN_REGION = /^arn:aws[a-z-]*:kinesis:([a-z0-9-]+):\d{12}:stream\//;
const PLACEHOLDER = /\{([^{}]*)\}/g;

const roleProperties = tenantRoleConfigProperties('Kinesis Data Streams');

const streamOfCategory = (category: LogCategory) =>
  Type.Optional(
    Type.String({
      pattern: `^(${STREAM_NAME_PATTERN}|${STREAM_ARN_PATTERN})$`,
      description: `The stream (name or ARN) of ${category} logs; default: the destination's own stream.`,
      errorMessage: 'must be a stream name (1-128 letters, digits, _ . -) or a Kinesis stream ARN',
    }),
  );

/** The fields a `kinesis` delivery config adds to the common ones. */
export const kinesisConfigProperties = {
  log_distribution_role_arn: roleProperties.log_distribution_role_arn,
  external_id: roleProperties.external_id,
  stream_name: Type.Optional(
    Type.String({
      pattern: `^${STREAM_NAME_PATTERN}$`,
      description: 'The data stream to write to, by name. Exactly one of stream_name and stream_arn is required.',
      errorMessage: "must be 1-128 letters, digits, '_', '.' and '-'",
    }),
  ),
  stream_arn: Type.Optional(
    Type.String({
      pattern: `^${STREAM_ARN_PATTERN}$`,
      description:
        'The data stream to write to, by ARN; its region is the destination region unless target_region is set ' +
        '(they must agree). Exactly one of stream_name and stream_arn is required.',
      errorMessage: "must be a Kinesis stream ARN such as 'arn:aws:kinesis:us-east-1:123456789012:stream/logs'",
    }),
  ),
  streams: Type.Optional(
    Type.Object(
      {
        [LogCategory.AUDIT]: streamOfCategory(LogCategory.AUDIT),
        [LogCategory.INFRASTRUCTURE]: streamOfCategory(LogCategory.INFRASTRUCTURE),
        [LogCategory.APPLICATION]: streamOfCategory(LogCategory.APPLICATION),
      },
      {
        additionalProperties: false,
        description:
          'Streams per log category, overriding the destination stream for that category. A central object is ' +
          "'audit' when its application is 'audit' or ends with '-audit'; else 'infrastructure' when its " +
          'application is a control-plane component (a member of an application group) or its namespace is ' +
          "'default', 'kube', 'openshift' or starts with 'kube-' or 'openshift-'; else 'application'.",
      },
    ),
  ),
  partition_key_template: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_PARTITION_KEY_LENGTH,
      default: DEFAULT_PARTITION_KEY_TEMPLATE,
      description:
        'Partition key of every record of a central object, with placeholders ' +
        `${PARTITION_KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}; cut at ${MAX_PARTITION_KEY_LENGTH} characters. ` +
        `Default '${DEFAULT_PARTITION_KEY_TEMPLATE}'.`,
      errorMessage: `must be a 1-${MAX_PARTITION_KEY_LENGTH} character partition key template`,
    }),
  ),
  max_record_bytes: Type.Optional(
    Type.Integer({
      minimum: MIN_RECORD_BYTES,
      maximum: MAX_RECORD_BYTES,
      description:
        'Largest record, data plus partition key: consecutive log lines are joined as NDJSON (each line ending ' +
        `with a newline) up to this size; a longer line is cut with a marker. Default ${MAX_RECORD_BYTES}.`,
      errorMessage: `must be a whole number from ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES}`,
    }),
  ),
  max_request_bytes: Type.Optional(
    Type.Integer({
      minimum: MIN_RECORD_BYTES,
      maximum: MAX_REQUEST_BYTES,
      description:
        `Largest PutRecords request (records plus partition keys); at least max_record_bytes. Default ${MAX_REQUEST_BYTES}.`,
      errorMessage: `must be a whole number from ${MIN_RECORD_BYTES} to ${MAX_REQUEST_BYTES}`,
    }),
  ),
  retry: Type.Optional(
    Type.Partial(RetryConfigSchema, { description: 'Quick-retry overrides for this destination.' }),
  ),
};

/** The `kinesis` fields as one schema; its static type is what a validated config holds. */
export const KinesisFieldsSchema = Type.Object(kinesisConfigProperties);
/** The `kinesis` fields of a validated config. */
export type KinesisSinkConfig = Static<typeof KinesisFieldsSchema>;

/** The Kinesis limits as documented. */
export function defaultKinesisLimits(): NdjsonRecordLimits {
  return {
    maxRecordBytes: MAX_RECORD_BYTES,
    maxRecordsPerRequest: MAX_RECORDS_PER_REQUEST,
    maxRequestBytes: MAX_REQUEST_BYTES,
  };
}

/** The limits a config asks for: the defaults with its `max_record_bytes` and `max_request_bytes`. */
export function kinesisLimitsFor(config: KinesisSinkConfig): NdjsonRecordLimits {
  const defaults = defaultKinesisLimits();
  return {
    ...defaults,
    maxRecordBytes: config.max_record_bytes ?? defaults.maxRecordBytes,
    maxRequestBytes: config.max_request_bytes ?? defaults.maxRequestBytes,
  };
}

/** The region of a stream ARN, or undefined for a stream name. */
export function streamArnRegion(stream: string): string | undefined {
  return STREAM_ARN_REGION.exec(stream)?.[1];
}

/**
 * The region a `kinesis` destination writes to: `target_region`, else the region of its
 * stream ARNs, else the router's.
 *
 * @param defaultRegion - the router's region
 */
export function kinesisRegionOf(config: DeliveryConfig, defaultRegion: string): string {
  if (config.target_region !== undefined) return config.target_region;
  const fields = config as unknown as KinesisSinkConfig;
  const arns = [fields.stream_arn, ...Object.values(fields.streams ?? {})];
  for (const stream of arns) {
    const region = stream === undefined ? undefined : streamArnRegion(stream);
    if (region !== undefined) return region;
  }
  return defaultRegion;
}

/** The placeholders of a template that are not known, in order of appearance. */
export function unknownPartitionKeyPlaceholders(template: string): string[] {
  const known: ReadonlySet<string> = new Set(PARTITION_KEY_PLACEHOLDERS);
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '').filter((name) => !known.has(name));
}

/**
 * Rules the schema cannot state: exactly one of `stream_name` and `stream_arn`; the
 * partition key template uses only known placeholders; every stream ARN is in one region,
 * the `target_region` when set (one destination writes through one regional client);
 * `max_request_bytes` holds at least one record of `max_record_bytes`.
 */
export function checkKinesisConfig(config: DeliveryConfig): FieldError[] {
  const fields = config as unknown as Partial<KinesisSinkConfig>;
  const errors: FieldError[] = [];
  if ((fields.stream_name === undefined) === (fields.stream_arn === undefined)) {
    errors.push({
      field: fields.stream_name === undefined ? 'stream_name' : 'stream_arn',
      message: "exactly one of 'stream_name' and 'stream_arn' must be set",
    });
  }
  const template = fields.partition_key_template;
  if (template !== undefined) {
    const unknown = unknownPartitionKeyPlaceholders(template);
    if (unknown.length > 0) {
      errors.push({
        field: 'partition_key_template',
        message:
          `has unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'{${u}}'`).join(', ')}; ` +
          `known: ${PARTITION_KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
      });
    }
  }
  const named: [string, string | undefined][] = [
    ['stream_arn', fields.stream_arn],
    ...Object.entries(fields.streams ?? {}).map(([category, stream]): [string, string | undefined] => [
      `streams.${category}`,
      stream,
    ]),
  ];
  let region = config.target_region;
  for (const [field, stream] of named) {
    const arnRegion = stream === undefined ? undefined : streamArnRegion(stream);
    if (arnRegion === undefined) continue;
    if (region === undefined) region = arnRegion;
    else if (arnRegion !== region) {
      errors.push({
        field,
        message: `is in region '${arnRegion}'; every stream of the destination must be in '${region}'` +
          (config.target_region !== undefined ? " (its 'target_region')" : ''),
      });
    }
  }
  const maxRecordBytes = fields.max_record_bytes ?? MAX_RECORD_BYTES;
  if (fields.max_request_bytes !== undefined && fields.max_request_bytes < maxRecordBytes) {
    errors.push({
      field: 'max_request_bytes',
      message: `must not be less than 'max_record_bytes' (${maxRecordBytes})`,
    });
  }
  return errors;
}
