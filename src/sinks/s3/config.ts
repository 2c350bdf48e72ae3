import Type, { type Static } from 'typebox';
import { RetryConfigSchema } from '../../delivery/index.js';
import { ConfigValidationError, type DeliveryConfig, type FieldError } from '../../domain/index.js';

/** The kind name in configs (`type: "s3"` or `"s3:<name>"`). */
export const S3_KIND = 's3';

/** Where delivered objects go in the tenant's bucket when the config names no prefix. */
export const DEFAULT_BUCKET_PREFIX = 'ROSA/cluster-logs/';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/**
 * Largest source a single `CopyObject` accepts; larger objects need a multipart copy
 * (`UploadPartCopy`). https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
 */
export const COPY_OBJECT_MAX_BYTES = 5 * GIB;
/**
 * Multipart upload limits: parts of 5 MiB to 5 GiB (the last part may be smaller), at most
 * 10,000 parts. https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
 */
export const UPLOAD_PART_MIN_BYTES = 5 * MIB;
export const UPLOAD_PART_MAX_BYTES = 5 * GIB;
export const MULTIPART_MAX_PARTS = 10_000;
/** Objects larger than this are copied in parts. */
export const DEFAULT_MULTIPART_THRESHOLD_BYTES = COPY_OBJECT_MAX_BYTES;
/** Size of one `UploadPartCopy` range, raised when the object would need more than 10,000 parts. */
export const DEFAULT_PART_SIZE_BYTES = 512 * MIB;
/** `UploadPartCopy` calls in flight at once for one object. */
export const MULTIPART_COPY_CONCURRENCY = 4;

/**
 * How the s3 sink chooses between one `CopyObject` and a multipart copy. These are the
 * operator's (or a test's) settings, not a tenant's: they are options of the sink, not
 * fields of a delivery config.
 */
export interface S3CopyLimits {
  /** Objects strictly larger than this are copied in parts; at most `COPY_OBJECT_MAX_BYTES`. */
  readonly multipartThresholdBytes: number;
  /** Size of each part but the last. */
  readonly partSizeBytes: number;
  /**
   * Smallest part S3 accepts (except the last). `UPLOAD_PART_MIN_BYTES` on AWS; lowered
   * only against a local server started with a smaller minimum (moto `S3_UPLOAD_PART_MIN_SIZE`).
   */
  readonly minPartSizeBytes: number;
}

/** The suggested copy limits: one `CopyObject` up to 5 GiB, 512 MiB parts above. */
export function defaultS3CopyLimits(): S3CopyLimits {
  return {
    multipartThresholdBytes: DEFAULT_MULTIPART_THRESHOLD_BYTES,
    partSizeBytes: DEFAULT_PART_SIZE_BYTES,
    minPartSizeBytes: UPLOAD_PART_MIN_BYTES,
  };
}

/**
 * Merges overrides onto `defaultS3CopyLimits()` and checks them.
 *
 * @param overrides - limits to replace
 * @throws ConfigValidationError naming each limit that breaks an S3 rule
 */
export function resolveS3CopyLimits(overrides: Partial<S3CopyLimits> = {}): S3CopyLimits {
  const limits = { ...defaultS3CopyLimits(), ...overrides };
  const errors: FieldError[] = [];
  const positive = (field: keyof S3CopyLimits) => {
    if (!Number.isSafeInteger(limits[field]) || limits[field] < 1)
      errors.push({ field, message: 'must be a whole number of bytes ≥ 1' });
  };
  positive('multipartThresholdBytes');
  positive('partSizeBytes');
  positive('minPartSizeBytes');
  if (limits.multipartThresholdBytes > COPY_OBJECT_MAX_BYTES) {
    errors.push({
      field: 'multipartThresholdBytes',
      message: `must not exceed the CopyObject limit of ${COPY_OBJECT_MAX_BYTES} bytes`,
    });
  }
  if (limits.partSizeBytes > UPLOAD_PART_MAX_BYTES) {
    errors.push({ field: 'partSizeBytes', message: `must not exceed ${UPLOAD_PART_MAX_BYTES} bytes` });
  }
  if (limits.partSizeBytes < limits.minPartSizeBytes) {
    errors.push({ field: 'partSizeBytes', message: "must not be less than 'minPartSizeBytes'" });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 's3 copy limits');
  return limits;
}

const BUCKET_NAME_MIN = 3;
const BUCKET_NAME_MAX = 63;
const BUCKET_NAME_CHARS = /^[a-z0-9.-]+$/;
const IPV4_FORM = /^\d{1,3}(\.\d{1,3}){3}$/;
/** Reserved by S3 for access points, Object Lambda, directory buckets and examples. */
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'] as const;
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'] as const;

/**
 * Checks a general purpose bucket name against the S3 naming rules.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
 *
 * @param name - the bucket name as written
 * @returns the first rule broken, as a message fragment, or undefined for a valid name
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < BUCKET_NAME_MIN || name.length > BUCKET_NAME_MAX)
    return `must be ${BUCKET_NAME_MIN} to ${BUCKET_NAME_MAX} characters long`;
  if (!BUCKET_NAME_CHARS.test(name)) return "may hold only lowercase letters, digits, '.' and '-'";
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must start and end with a letter or digit';
  if (name.includes('..')) return "must not contain '..'";
  if (IPV4_FORM.test(name)) return 'must not be formatted as an IP address';
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `must not start with the reserved prefix '${prefix}'`;
  const suffix = RESERVED_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix) return `must not end with the reserved suffix '${suffix}'`;
  return undefined;
}

/** Key bytes left for the tenant, application, pod and file after the prefix (keys ≤ 1,024 bytes). */
const BUCKET_PREFIX_MAX = 512;

/**
 * Checks a key prefix: relative (no leading `/`) and free of empty segments (`//`), which
 * S3 allows but consoles and most tools show confusingly.
 *
 * @returns the first rule broken, as a message fragment, or undefined for a valid prefix
 */
export function bucketPrefixProblem(prefix: string): string | undefined {
  if (Buffer.byteLength(prefix, 'utf8') > BUCKET_PREFIX_MAX) return `must be at most ${BUCKET_PREFIX_MAX} bytes`;
  if (prefix.startsWith('/')) return "must not start with '/'";
  if (prefix.includes('//')) return "must not contain an empty segment ('//')";
  return undefined;
}

/** The fields an `s3` delivery config adds to the common ones. */
export const s3ConfigProperties = {
  bucket_name: Type.String({
    description:
      "The tenant's S3 bucket the central object is copied to (S3 naming rules). The central role " +
      'must be allowed to `s3:PutObject` and `s3:PutObjectAcl` on it, and to use the KMS key if one is set.',
  }),
  bucket_prefix: Type.Optional(
    Type.String({
      default: DEFAULT_BUCKET_PREFIX,
      description:
        'Key prefix in the bucket; objects land at `{bucket_prefix}{tenant_id}/{application}/{pod_name}/…/{file}`. ' +
        `Always stored ending with '/'; '' means the bucket root. Default '${DEFAULT_BUCKET_PREFIX}'.`,
    }),
  ),
  sse_kms_key_id: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'KMS key (id, alias or ARN) to encrypt copies with (`aws:kms`). Default: the bucket default encryption.',
      errorMessage: 'must be a KMS key id, alias or ARN',
    }),
  ),
  retry: Type.Optional(
    Type.Partial(RetryConfigSchema, { description: 'Quick-retry overrides for this destination.' }),
  ),
};

/** The `s3` fields as one schema; its static type is what a validated config holds. */
export const S3FieldsSchema = Type.Object(s3ConfigProperties);
/** The `s3` fields of a validated (and normalized) config: `bucket_prefix` is always set. */
export type S3SinkConfig = Static<typeof S3FieldsSchema> & { bucket_prefix: string };

/**
 * Rules of an `s3` config the schema cannot state (bucket naming, prefix form).
 *
 * @param config - a config that passed the schema
 */
export function checkS3Config(config: DeliveryConfig): FieldError[] {
  const errors: FieldError[] = [];
  const bucketProblem = bucketNameProblem(String(config['bucket_name']));
  if (bucketProblem) errors.push({ field: 'bucket_name', message: bucketProblem });
  const prefix = config['bucket_prefix'];
  if (typeof prefix === 'string') {
    const prefixProblem = bucketPrefixProblem(prefix);
    if (prefixProblem) errors.push({ field: 'bucket_prefix', message: prefixProblem });
  }
  return errors;
}

/**
 * The canonical form of a prefix: the default when absent, and ending with `/` unless empty.
 *
 * @param prefix - the prefix as written, or undefined
 */
export function normalizeBucketPrefix(prefix: string | undefined): string {
  const value = prefix ?? DEFAULT_BUCKET_PREFIX;
  return value === '' || value.endsWith('/') ? value : `${value}/`;
}

/**
 * Canonical form of an `s3` config, on write and on read: `bucket_prefix` set and ending with `/`.
 *
 * @param config - a validated config
 */
export function normalizeS3Config(config: DeliveryConfig): DeliveryConfig {
  const prefix = config['bucket_prefix'];
  return { ...config, bucket_prefix: normalizeBucketPrefix(typeof prefix === 'string' ? prefix : undefined) };
}
