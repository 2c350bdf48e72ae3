import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { ConfigValidationError, schemaFieldErrors } from '../../domain/index.js';

/** 1 MiB in bytes. */
const MIB = 1024 * 1024;

/**
 * Default largest request body: 10 MiB, the same cap as a Kinesis `PutRecords` call, so a
 * collector batch sized for AWS fits.
 */
export const DEFAULT_MAX_BODY_BYTES = 10 * MIB;
/** Default largest object body before gzip: 8 MiB keeps downstream reads in one range. */
export const DEFAULT_MAX_OBJECT_BYTES = 8 * MIB;
/** Default age after which a group's events are written even if the object is small. */
export const DEFAULT_MAX_BATCH_AGE_MS = 2_000;
/** Default period of the flush check; the worst-case latency is the age plus this. */
export const DEFAULT_FLUSH_INTERVAL_MS = 500;
/** Default buffered bytes above which new requests get 503, so the disk cannot fill up. */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * MIB;
/** Default `Retry-After` on a back-pressure 503. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;
/** Default objects written at once; each write waits on an fsync, so a few overlap well. */
export const DEFAULT_FLUSH_CONCURRENCY = 4;

/** The HTTP ingest's config, as an operator writes it. */
export const HttpIngestConfigSchema = Type.Object(
  {
    maxBodyBytes: Type.Integer({
      minimum: 1,
      default: DEFAULT_MAX_BODY_BYTES,
      description: 'Largest request body in bytes; larger requests get 413. Default 10 MiB.',
    }),
    maxObjectBytes: Type.Integer({
      minimum: 1,
      default: DEFAULT_MAX_OBJECT_BYTES,
      description:
        'Uncompressed size in bytes at which a group is written as an object; also the largest object ' +
        '(a single bigger event still gets its own object). Default 8 MiB.',
    }),
    maxBatchAgeMs: Type.Integer({
      minimum: 0,
      default: DEFAULT_MAX_BATCH_AGE_MS,
      description:
        "Age in milliseconds of a group's oldest event at which the group is written. Default 2000.",
    }),
    flushIntervalMs: Type.Integer({
      minimum: 10,
      default: DEFAULT_FLUSH_INTERVAL_MS,
      description:
        'How often in milliseconds groups are checked against the size and age limits. Default 500.',
    }),
    flushConcurrency: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: DEFAULT_FLUSH_CONCURRENCY,
      description: 'How many objects are written at the same time. Default 4.',
    }),
    maxBufferedBytes: Type.Integer({
      minimum: 1,
      default: DEFAULT_MAX_BUFFERED_BYTES,
      description:
        'Buffered bytes not yet written as objects above which requests get 503 with Retry-After. Default 256 MiB.',
    }),
    retryAfterSeconds: Type.Integer({
      minimum: 1,
      default: DEFAULT_RETRY_AFTER_SECONDS,
      description: 'Seconds sent in Retry-After with a back-pressure 503. Default 5.',
    }),
  },
  { additionalProperties: false, description: 'HTTP ingest: request limits, batching and back-pressure.' },
);

/** The HTTP ingest's config. */
export type HttpIngestConfig = Static<typeof HttpIngestConfigSchema>;

/** The suggested defaults, taken from the schema. */
export function defaultHttpIngestConfig(): HttpIngestConfig {
  return Value.Create(HttpIngestConfigSchema);
}

/**
 * Validates an operator's config, filling in defaults for missing keys.
 *
 * @param input - the config block as written (unknown keys are refused)
 * @throws ConfigValidationError listing every bad field
 */
export function validateHttpIngestConfig(input: unknown): HttpIngestConfig {
  const candidate = Value.Default(HttpIngestConfigSchema, structuredClone(input ?? {}));
  const errors = schemaFieldErrors(HttpIngestConfigSchema, candidate);
  if (errors.length > 0) throw new ConfigValidationError(errors, 'HTTP ingest config');
  return candidate as HttpIngestConfig;
}
