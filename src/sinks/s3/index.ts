import type { S3Client } from '@aws-sdk/client-s3';
import { defaultRetryConfig } from '../../delivery/index.js';
import { ConfigValidationError, type ValidatedDeliveryConfig } from '../../domain/index.js';
import type { Sink, SinkDefinition, SinkDeps } from '../types.js';
import { checkS3Access } from './access-check.js';
import { BucketRegionCache, centralS3ClientFactory, S3ClientPool, S3Copier } from './client.js';
import {
  checkS3Config,
  normalizeBucketPrefix,
  normalizeS3Config,
  resolveS3CopyLimits,
  S3_KIND,
  type S3CopyLimits,
  type S3SinkConfig,
  s3ConfigProperties,
} from './config.js';
import { createS3Planner, type S3CopyPayload } from './planner.js';

export {
  bucketNameProblem,
  COPY_OBJECT_MAX_BYTES,
  DEFAULT_BUCKET_PREFIX,
  DEFAULT_MULTIPART_THRESHOLD_BYTES,
  DEFAULT_PART_SIZE_BYTES,
  defaultS3CopyLimits,
  S3_KIND,
  type S3CopyLimits,
  type S3SinkConfig,
  UPLOAD_PART_MIN_BYTES,
} from './config.js';
export { checkS3Access, type S3AccessCheckOptions, S3AccessStep } from './access-check.js';
export { centralS3ClientFactory, encodeCopySource, S3FailureReason, toS3DeliveryError } from './client.js';
export { destinationKeyFor, type S3CopyPayload } from './planner.js';

/** The environment variable naming the central bucket, read by `s3SinkDefinition` at create time. */
export const SOURCE_BUCKET_ENV = 'SOURCE_BUCKET';

/** What code (the runtime, a test) passes to an s3 sink beyond the tenant's config. */
export interface S3SinkOptions {
  /** The central bucket objects are copied from. Required. */
  readonly sourceBucket?: string;
  /** Overrides of `defaultS3CopyLimits()` (multipart threshold, part size). */
  readonly copyLimits?: Partial<S3CopyLimits>;
  /**
   * Builds the S3 client of one region. Default: the router's client config with the
   * central role's credentials (`deps.aws.credentials.central()`).
   */
  readonly createClient?: (region: string) => S3Client;
  readonly now?: () => number;
}

/**
 * Builds an `s3` sink: copies each central object whole into the tenant's bucket at
 * `{bucket_prefix}{tenant_id}/{application}/{pod_name}/…/{file}`, as the central role.
 * Records are not read: the planner yields one copy per object (see `createS3Planner`).
 *
 * The destination bucket's region is looked up once per sink (seeded by `target_region`
 * when the config sets it) and corrected when S3 answers that the bucket is elsewhere.
 *
 * @param config - a validated `s3` delivery config
 * @param deps - needs `aws` (settings and the credential broker)
 * @param options - `sourceBucket` is required
 * @throws ConfigValidationError when the runtime has no AWS access, no source bucket is
 *   given, or the copy limits break an S3 rule
 * @example const sink = createS3Sink(config, deps, { sourceBucket: 'central-logs' })
 */
export function createS3Sink(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  options: S3SinkOptions = {},
): Sink<S3CopyPayload> {
  const { aws } = deps;
  if (!aws) {
    throw new ConfigValidationError([
      { field: 'type', message: `destination kind '${S3_KIND}' needs the AWS runtime (no AWS access is configured)` },
    ]);
  }
  const sourceBucket = options.sourceBucket?.trim();
  if (!sourceBucket) {
    throw new ConfigValidationError(
      [{ field: SOURCE_BUCKET_ENV, message: `is required by destination kind '${S3_KIND}' (the central bucket to copy from)` }],
      'environment',
    );
  }
  const fields = config as unknown as S3SinkConfig;
  const prefix = normalizeBucketPrefix(fields.bucket_prefix);
  const limits = resolveS3CopyLimits(options.copyLimits);
  const clients = new S3ClientPool(options.createClient ?? centralS3ClientFactory(aws));
  const sourceRegion = aws.settings.region;
  const regions = new BucketRegionCache(() => clients.get(sourceRegion), config.target_region ?? sourceRegion);
  if (config.target_region !== undefined) regions.set(fields.bucket_name, config.target_region);
  const copier = new S3Copier({
    sourceBucket,
    sourceRegion,
    destinationBucket: fields.bucket_name,
    ...(fields.sse_kms_key_id !== undefined && { kmsKeyId: fields.sse_kms_key_id }),
    limits,
    clients,
    regions,
    logger: deps.logger,
    now: options.now ?? Date.now,
  });
  return {
    kind: S3_KIND,
    retry: { ...defaultRetryConfig(), ...fields.retry },
    createPlanner: (object, context) => createS3Planner(object, prefix, context?.bucket),
    async send(batch, signal) {
      await copier.copy(batch.payload, signal);
      return undefined;
    },
    close: async () => clients.destroy(),
  };
}

/**
 * The `s3` destination kind with fixed options (the runtime passes the central bucket).
 *
 * @param options - as for `createS3Sink`; `sourceBucket` defaults to `$SOURCE_BUCKET` read
 *   when each sink is created
 */
export function createS3SinkDefinition(options: S3SinkOptions = {}): SinkDefinition {
  return {
    kind: S3_KIND,
    spec: { kind: S3_KIND, properties: s3ConfigProperties, check: checkS3Config, normalize: normalizeS3Config },
    create: (config, deps) =>
      createS3Sink(config, deps, {
        ...options,
        sourceBucket: options.sourceBucket ?? process.env[SOURCE_BUCKET_ENV],
      }),
    checkAccess: (config, deps, signal) =>
      checkS3Access(config, deps, signal, { ...(options.createClient !== undefined && { createClient: options.createClient }) }),
  };
}

/** The `s3` destination kind; the central bucket comes from `$SOURCE_BUCKET`. */
export const s3SinkDefinition: SinkDefinition = createS3SinkDefinition();
