import Type, { type Static } from 'typebox';
import { tenantRoleConfigProperties } from '../../aws/index.js';
import { RetryConfigSchema } from '../../delivery/index.js';
import type { DeliveryConfig, FieldError } from '../../domain/index.js';
import type { NdjsonRecordLimits } from '../ndjson-records.js';

/** The kind name in configs (`type: "firehose"` or `"firehose:<name>"`). */
export const FIREHOSE_KIND = 'firehose';

/*
 * Amazon Data Firehose `PutRecordBatch` limits, checked 2026:
 * https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
 * https://docs.aws.amazon.com/firehose/latest/dev/limits.html
 */

/** Most records in one `PutRecordBatch` request. */
export const MAX_RECORDS_PER_REQUEST = 500;
/** Largest `PutRecordBatch` request: the data of all its records (before base64). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Largest record (before base64): 1,000 KiB. */
export const MAX_RECORD_BYTES = 1_000 * 1024;
/** Smallest `max_record_bytes` allowed: a record must still hold a cut line with its truncation marker. */
export const MIN_RECORD_BYTES = 1_024;

// https://docs.aws.amazon.com/firehose/latest/APIReference/API_CreateDeliveryStream.html (DeliveryStreamName)
const DELIVERY_STREAM_NAME_PATTERN = '^[a-zA-Z0-9_.-]{1,64}$';

const roleProperties = tenantRoleConfigProperties('Amazon Data Firehose');

/** The fields a `firehose` delivery config adds to the common ones. */
export const firehoseConfigProperties = {
  log_distribution_role_arn: roleProperties.log_distribution_role_arn,
  external_id: roleProperties.external_id,
  delivery_stream_name: Type.String({
    pattern: DELIVERY_STREAM_NAME_PATTERN,
    description: 'The Firehose stream (Direct PUT source) to write to, in the destination region.',
    errorMessage: "must be 1-64 letters, digits, '_', '.' and '-'",
  }),
  max_record_bytes: Type.Optional(
    Type.Integer({
      minimum: MIN_RECORD_BYTES,
      maximum: MAX_RECORD_BYTES,
      description:
        'Largest record: consecutive log lines are joined as NDJSON (each line ending with a newline, so the ' +
        `objects Firehose writes stay NDJSON) up to this size; a longer line is cut with a marker. Default ${MAX_RECORD_BYTES}.`,
      errorMessage: `must be a whole number from ${MIN_RECORD_BYTES} to ${MAX_RECORD_BYTES}`,
    }),
  ),
  max_request_bytes: Type.Optional(
    Type.Integer({
      minimum: MIN_RECORD_BYTES,
      maximum: MAX_REQUEST_BYTES,
      description: `Largest PutRecordBatch request; at least max_record_bytes. Default ${MAX_REQUEST_BYTES}.`,
      errorMessage: `must be a whole number from ${MIN_RECORD_BYTES} to ${MAX_REQUEST_BYTES}`,
    }),
  ),
  retry: Type.Optional(
    Type.Partial(RetryConfigSchema, { description: 'Quick-retry overrides for this destination.' }),
  ),
};

/** The `firehose` fields as one schema; its static type is what a validated config holds. */
export const FirehoseFieldsSchema = Type.Object(firehoseConfigProperties);
/** The `firehose` fields of a validated config. */
export type FirehoseSinkConfig = Static<typeof FirehoseFieldsSchema>;

/** The Firehose limits as documented. */
export function defaultFirehoseLimits(): NdjsonRecordLimits {
  return {
    maxRecordBytes: MAX_RECORD_BYTES,
    maxRecordsPerRequest: MAX_RECORDS_PER_REQUEST,
    maxRequestBytes: MAX_REQUEST_BYTES,
  };
}

/** The limits a config asks for: the defaults with its `max_record_bytes` and `max_request_bytes`. */
export function firehoseLimitsFor(config: FirehoseSinkConfig): NdjsonRecordLimits {
  const defaults = defaultFirehoseLimits();
  return {
    ...defaults,
    maxRecordBytes: config.max_record_bytes ?? defaults.maxRecordBytes,
    maxRequestBytes: config.max_request_bytes ?? defaults.maxRequestBytes,
  };
}

/** Rules the schema cannot state: `max_request_bytes` holds at least one record of `max_record_bytes`. */
export function checkFirehoseConfig(config: DeliveryConfig): FieldError[] {
  const fields = config as unknown as Partial<FirehoseSinkConfig>;
  const maxRecordBytes = fields.max_record_bytes ?? MAX_RECORD_BYTES;
  if (fields.max_request_bytes !== undefined && fields.max_request_bytes < maxRecordBytes) {
    return [{ field: 'max_request_bytes', message: `must not be less than 'max_record_bytes' (${maxRecordBytes})` }];
  }
  return [];
}
