import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  accessCheckErrorCode,
  ASSUME_ROLE_STEP,
  assumeCentralRoleStep,
  awsHttpStatus,
  failedAccessStep,
  noAwsSettingsStep,
  skippedAfter,
} from '../../aws/index.js';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { AccessCheckStatus, type AccessCheckStep, type SinkDeps } from '../types.js';
import { bucketRegionFromError, centralS3ClientFactory, isWrongRegionError } from './client.js';
import type { S3SinkConfig } from './config.js';

/** Steps of an `s3` access check, in order. */
export const S3AccessStep = {
  ASSUME_ROLE: ASSUME_ROLE_STEP,
  HEAD_BUCKET: 'head_bucket',
} as const;
export type S3AccessStep = (typeof S3AccessStep)[keyof typeof S3AccessStep];

/**
 * HEAD answers carry no body, so the SDK can name a failure only after its status (a 404 is
 * `NotFound`, a 403 has no name at all). The step reports the code S3 gives the same failure
 * on requests with a body, which is what an operator finds in the S3 documentation.
 */
const HEAD_STATUS_CODES: Readonly<Record<number, string>> = { 404: 'NoSuchBucket', 403: 'AccessDenied' };

/** What code (not an operator) may pass to the check. */
export interface S3AccessCheckOptions {
  /** Builds the S3 client of one region, as for the sink; default {@link centralS3ClientFactory}. */
  readonly createClient?: (region: string) => S3Client;
}

/**
 * Checks live that an `s3` destination is reachable as delivery reaches it. The s3 sink
 * copies as the router's central role (not a tenant role: the tenant grants the central
 * role access in its bucket policy), so the steps are `assume_role` (the central role's
 * credentials from the broker) and `head_bucket` (HeadBucket as the central role in the
 * bucket's region: `target_region`, else the router's, following S3 once when it names
 * another region). A missing bucket fails with `NoSuchBucket`, a refusal with
 * `AccessDenied`. Never throws.
 *
 * @param config - a validated `s3` config
 * @param deps - without `aws`, one skipped `assume_role` step is the answer
 * @param signal - aborts the calls (the step in progress then fails)
 * @example const steps = await checkS3Access(config, deps, AbortSignal.timeout(10_000));
 */
export async function checkS3Access(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  signal: AbortSignal,
  options: S3AccessCheckOptions = {},
): Promise<AccessCheckStep[]> {
  const bucket = (config as unknown as S3SinkConfig).bucket_name;
  const { aws } = deps;
  if (!aws) return [noAwsSettingsStep(`the bucket '${bucket}'`)];

  const assumed = await assumeCentralRoleStep(aws.credentials, signal);
  if (assumed.status !== AccessCheckStatus.OK) {
    return [assumed, ...skippedAfter([S3AccessStep.HEAD_BUCKET], S3AccessStep.ASSUME_ROLE)];
  }
  const createClient = options.createClient ?? centralS3ClientFactory(aws);
  return [assumed, await headBucketStep(createClient, bucket, config.target_region ?? aws.settings.region, signal)];
}

async function headBucket(createClient: (region: string) => S3Client, bucket: string, region: string, signal: AbortSignal) {
  const client = createClient(region);
  try {
    return await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
  } finally {
    client.destroy();
  }
}

async function headBucketStep(
  createClient: (region: string) => S3Client,
  bucket: string,
  region: string,
  signal: AbortSignal,
): Promise<AccessCheckStep> {
  const step = S3AccessStep.HEAD_BUCKET;
  let askedRegion = region;
  try {
    try {
      await headBucket(createClient, bucket, askedRegion, signal);
    } catch (error) {
      // AWS answers a request sent to the wrong region with the bucket's region; delivery
      // follows it the same way (BucketRegionCache), so the check does too, once.
      const named = isWrongRegionError(error) ? bucketRegionFromError(error) : undefined;
      if (named === undefined || named === askedRegion) throw error;
      askedRegion = named;
      await headBucket(createClient, bucket, askedRegion, signal);
    }
  } catch (error) {
    const status = awsHttpStatus(error);
    const code = (status !== undefined ? HEAD_STATUS_CODES[status] : undefined) ?? accessCheckErrorCode(error);
    const hints: Readonly<Record<string, string>> = {
      NoSuchBucket: 'Create the bucket, or correct bucket_name.',
      AccessDenied: `The bucket policy must let the router's central role s3:ListBucket (for this check), s3:PutObject and s3:PutObjectAcl on '${bucket}'.`,
    };
    const hint = hints[code];
    return failedAccessStep(step, error, `HeadBucket '${bucket}' in ${askedRegion}`, hint, code);
  }
  const where = askedRegion === region ? askedRegion : `${askedRegion} (not ${region}: S3 named the bucket's region)`;
  return { step, status: AccessCheckStatus.OK, message: `The bucket '${bucket}' exists in ${where} and the central role may reach it.` };
}
