import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetBucketLocationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { awsClientConfig, awsErrorName, awsHttpStatus, type AwsSinkDeps, isRetryableAwsError } from '../../aws/index.js';
import { AbortedError, DeliveryError } from '../../domain/index.js';
import type { Logger } from '../../logging/index.js';
import { MULTIPART_COPY_CONCURRENCY, type S3CopyLimits } from './config.js';
import { type CopyPart, needsMultipartCopy, planCopyParts, S3MetadataKey, type S3CopyPayload } from './planner.js';

/** Stable reasons of s3 delivery failures, as recorded in dead letters and metrics. */
export const S3FailureReason = {
  NO_SUCH_BUCKET: 'no_such_bucket',
  ACCESS_DENIED: 'access_denied',
  INVALID_BUCKET_NAME: 'invalid_bucket_name',
  SOURCE_MISSING: 'source_missing',
  SOURCE_ACCESS_DENIED: 'source_access_denied',
  SOURCE_CHANGED: 'source_changed',
  KMS_ACCESS_DENIED: 'kms_access_denied',
  KMS_KEY_NOT_FOUND: 'kms_key_not_found',
  KMS_KEY_DISABLED: 'kms_key_disabled',
  KMS_KEY_INVALID_STATE: 'kms_key_invalid_state',
  KMS_ERROR: 'kms_error',
  KMS_THROTTLED: 'kms_throttled',
  WRONG_REGION: 'wrong_region',
  OBJECT_TOO_LARGE: 'object_too_large',
  INVALID_REQUEST: 'invalid_request',
  EXPIRED_CREDENTIALS: 'expired_credentials',
  CLOCK_SKEW: 'clock_skew',
  UPLOAD_LOST: 'upload_lost',
  SLOW_DOWN: 'slow_down',
  TIMEOUT: 'timeout',
  NETWORK_ERROR: 'network_error',
} as const;
export type S3FailureReason = (typeof S3FailureReason)[keyof typeof S3FailureReason];

/** The canned ACL that gives the bucket owner (the tenant) full control of the copy. */
export const COPY_ACL = 'bucket-owner-full-control' as const;
/** Set explicitly: `MetadataDirective: REPLACE` drops the source's content headers. */
export const COPY_CONTENT_TYPE = 'application/x-ndjson';
export const COPY_CONTENT_ENCODING = 'gzip';
/** The region S3 reports as an empty `LocationConstraint`. */
const LOCATION_DEFAULT_REGION = 'us-east-1';
/** Legacy `LocationConstraint` values that are not region names. */
const LEGACY_LOCATIONS: Readonly<Record<string, string>> = { EU: 'eu-west-1' };
const BUCKET_REGION_HEADER = 'x-amz-bucket-region';
/** How long a best-effort `AbortMultipartUpload` may take after a failed copy. */
const ABORT_UPLOAD_TIMEOUT_MS = 10_000;

/**
 * `CopySource` as S3 requires it: `{bucket}/{key}` with each key segment URL-encoded
 * (`/` kept as the separator). https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
 *
 * @param bucket - the source bucket
 * @param key - the decoded source key
 */
export function encodeCopySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** The region S3 named in an answer's `x-amz-bucket-region` header (301, 400 and 403 carry it). */
export function bucketRegionFromError(error: unknown): string | undefined {
  const headers = (error as { $response?: { headers?: Record<string, string | undefined> } } | null)?.$response
    ?.headers;
  const region = headers?.[BUCKET_REGION_HEADER]?.trim();
  return region ? region : undefined;
}

/** The region of a `GetBucketLocation` answer: empty means us-east-1, `EU` eu-west-1. */
export function regionOfLocation(location: string | null | undefined): string {
  if (!location) return LOCATION_DEFAULT_REGION;
  return LEGACY_LOCATIONS[location] ?? location;
}

/** Whether S3 refused a request because it was sent to another region than the bucket's. */
export function isWrongRegionError(error: unknown): boolean {
  const status = awsHttpStatus(error);
  const name = awsErrorName(error);
  if (status === 301 || name === 'PermanentRedirect') return true;
  return status === 400 && (name === 'IllegalLocationConstraintException' || name === 'AuthorizationHeaderMalformed');
}

const KMS_REASONS: Readonly<Record<string, S3FailureReason>> = {
  'KMS.AccessDeniedException': S3FailureReason.KMS_ACCESS_DENIED,
  'KMS.NotFoundException': S3FailureReason.KMS_KEY_NOT_FOUND,
  'KMS.DisabledException': S3FailureReason.KMS_KEY_DISABLED,
  'KMS.KMSInvalidStateException': S3FailureReason.KMS_KEY_INVALID_STATE,
};
const KMS_RETRYABLE: ReadonlySet<string> = new Set(['KMS.ThrottlingException', 'KMS.LimitExceededException']);
const KMS_PREFIX = 'KMS.';

/** Names S3 gives one failure, with what they mean for a retry. */
const DESTINATION_FAILURES: Readonly<Record<string, { retryable: boolean; reason: S3FailureReason }>> = {
  NoSuchBucket: { retryable: false, reason: S3FailureReason.NO_SUCH_BUCKET },
  // CopyObject and UploadPartCopy name a missing source this way.
  NoSuchKey: { retryable: false, reason: S3FailureReason.SOURCE_MISSING },
  AccessDenied: { retryable: false, reason: S3FailureReason.ACCESS_DENIED },
  AllAccessDisabled: { retryable: false, reason: S3FailureReason.ACCESS_DENIED },
  InvalidBucketName: { retryable: false, reason: S3FailureReason.INVALID_BUCKET_NAME },
  EntityTooLarge: { retryable: false, reason: S3FailureReason.OBJECT_TOO_LARGE },
  InvalidRequest: { retryable: false, reason: S3FailureReason.INVALID_REQUEST },
  InvalidArgument: { retryable: false, reason: S3FailureReason.INVALID_REQUEST },
  // The source changed between parts of a multipart copy (CopySourceIfMatch): copy again.
  PreconditionFailed: { retryable: true, reason: S3FailureReason.SOURCE_CHANGED },
  // A lifecycle rule aborted the upload under us: start over.
  NoSuchUpload: { retryable: true, reason: S3FailureReason.UPLOAD_LOST },
  // Credentials are refreshed by the broker before the next attempt.
  ExpiredToken: { retryable: true, reason: S3FailureReason.EXPIRED_CREDENTIALS },
  ExpiredTokenException: { retryable: true, reason: S3FailureReason.EXPIRED_CREDENTIALS },
  RequestTimeTooSkewed: { retryable: true, reason: S3FailureReason.CLOCK_SKEW },
  SlowDown: { retryable: true, reason: S3FailureReason.SLOW_DOWN },
  TimeoutError: { retryable: true, reason: S3FailureReason.TIMEOUT },
  RequestTimeout: { retryable: true, reason: S3FailureReason.TIMEOUT },
};

/** Which bucket a failed call addressed: the central (source) one or the tenant's. */
export type S3CallTarget = 'source' | 'destination';

function classify(error: unknown, target: S3CallTarget): { retryable: boolean; reason: string } {
  const name = awsErrorName(error);
  const status = awsHttpStatus(error);
  if (target === 'source') {
    // HeadObject answers without a body, so only the status tells what happened.
    if (status === 404 || name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchBucket')
      return { retryable: false, reason: S3FailureReason.SOURCE_MISSING };
    if (status === 403 || name === 'AccessDenied')
      return { retryable: false, reason: S3FailureReason.SOURCE_ACCESS_DENIED };
  } else {
    if (isWrongRegionError(error)) return { retryable: true, reason: S3FailureReason.WRONG_REGION };
    if (name !== undefined) {
      const known = DESTINATION_FAILURES[name];
      if (known) return known;
      if (name.startsWith(KMS_PREFIX)) {
        if (KMS_RETRYABLE.has(name) || (status !== undefined && status >= 500))
          return { retryable: true, reason: S3FailureReason.KMS_THROTTLED };
        return { retryable: false, reason: KMS_REASONS[name] ?? S3FailureReason.KMS_ERROR };
      }
    }
    // Answers without a body (HEAD) carry only their status.
    if (status === 404) return { retryable: false, reason: S3FailureReason.NO_SUCH_BUCKET };
    if (status === 403) return { retryable: false, reason: S3FailureReason.ACCESS_DENIED };
  }
  if (name === 'TimeoutError') return { retryable: true, reason: S3FailureReason.TIMEOUT };
  if (name === 'SlowDown') return { retryable: true, reason: S3FailureReason.SLOW_DOWN };
  const retryable = isRetryableAwsError(error);
  return { retryable, reason: status !== undefined ? `http_${status}` : S3FailureReason.NETWORK_ERROR };
}

/**
 * Maps an S3 SDK failure to a DeliveryError, by the SDK error name and HTTP status only.
 * Throttling, 5xx and network failures are retryable; a missing bucket or source, denied
 * access and KMS key problems are not.
 *
 * @param error - what the SDK threw
 * @param target - the bucket the call addressed; a 404 on the source is `source_missing`
 * @param context - names the bucket and key in the message
 */
export function toS3DeliveryError(
  error: unknown,
  target: S3CallTarget,
  context: { bucket: string; key: string },
): DeliveryError {
  const { retryable, reason } = classify(error, target);
  const what = target === 'source' ? 'Reading the central object' : "Copying to the tenant's bucket";
  const detail = awsErrorName(error) ?? String(awsHttpStatus(error) ?? 'no answer');
  return new DeliveryError(`${what} s3://${context.bucket}/${context.key} failed (${detail}).`, {
    retryable,
    reason,
    cause: error,
  });
}

/** Rejects with AbortedError as soon as `signal` aborts; the work itself carries on. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The S3 clients of the s3 sink: the router's client config acting as the central role
 * (`aws.credentials.central()`), one region each. The sink and its access check both build
 * clients here, so the check uses the credentials delivery uses.
 *
 * @param aws - the runtime's AWS settings and credential broker
 */
export function centralS3ClientFactory(aws: AwsSinkDeps): (region: string) => S3Client {
  return (region) =>
    new S3Client({
      ...awsClientConfig(aws.settings, { region, credentials: aws.credentials.central(), s3: true }),
      // Regions are resolved by the sink, once per bucket, not per request.
      followRegionRedirects: false,
    });
}

/** Gives out one S3 client per region, made on first use, all closed together. */
export class S3ClientPool {
  private readonly clients = new Map<string, S3Client>();

  /** @param create - builds the client of one region (central credentials, router client config) */
  constructor(private readonly create: (region: string) => S3Client) {}

  /** The client of `region`. */
  get(region: string): S3Client {
    let client = this.clients.get(region);
    if (!client) {
      client = this.create(region);
      this.clients.set(region, client);
    }
    return client;
  }

  /** Releases every client's connections. */
  destroy(): void {
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }
}

/**
 * Remembers the region of each destination bucket, looked up once: HeadBucket's
 * `x-amz-bucket-region` (present on 200, 301, 400 and 403 answers), then GetBucketLocation,
 * then the fallback region. A lookup that fails is not remembered.
 */
export class BucketRegionCache {
  private readonly regions = new Map<string, Promise<string>>();

  /**
   * @param lookupClient - the client lookups go through (the central region's)
   * @param fallbackRegion - used when S3 will not tell (both lookups denied); the copy
   *   then finds out, and a wrong-region answer corrects it
   */
  constructor(
    private readonly lookupClient: () => S3Client,
    private readonly fallbackRegion: string,
  ) {}

  /**
   * The bucket's region.
   * @throws DeliveryError `no_such_bucket` when the bucket does not exist; retryable when S3 did not answer
   */
  regionOf(bucket: string, signal: AbortSignal): Promise<string> {
    let region = this.regions.get(bucket);
    if (!region) {
      region = this.lookup(bucket);
      this.regions.set(bucket, region);
      region.catch(() => {
        if (this.regions.get(bucket) === region) this.regions.delete(bucket);
      });
    }
    // The lookup may be shared by concurrent copies: one caller's abort must not fail the others.
    return abortable(region, signal);
  }

  /** Records a region S3 named (a seed from the config, or a redirect). */
  set(bucket: string, region: string): void {
    this.regions.set(bucket, Promise.resolve(region));
  }

  /** Forgets a region that turned out wrong, so the next copy looks it up again. */
  forget(bucket: string): void {
    this.regions.delete(bucket);
  }

  private async lookup(bucket: string): Promise<string> {
    const client = this.lookupClient();
    try {
      const answer = await client.send(new HeadBucketCommand({ Bucket: bucket }));
      if (answer.BucketRegion) return answer.BucketRegion;
    } catch (error) {
      const named = bucketRegionFromError(error);
      if (named) return named;
      const status = awsHttpStatus(error);
      // Denied without a region header: GetBucketLocation may still be allowed.
      if (status !== 403 && status !== 400) throw toS3DeliveryError(error, 'destination', { bucket, key: '' });
    }
    try {
      const answer = await client.send(new GetBucketLocationCommand({ Bucket: bucket }));
      return regionOfLocation(answer.LocationConstraint);
    } catch (error) {
      if (awsHttpStatus(error) === 403) return this.fallbackRegion;
      throw toS3DeliveryError(error, 'destination', { bucket, key: '' });
    }
  }
}

/** What a copier needs to know about its destination and the central bucket. */
export interface S3CopierOptions {
  /** The central bucket the objects are read from. */
  readonly sourceBucket: string;
  /** The region of the central bucket (where HeadObject on the source goes). */
  readonly sourceRegion: string;
  readonly destinationBucket: string;
  /** `aws:kms` with this key when set; the bucket's default encryption otherwise. */
  readonly kmsKeyId?: string;
  readonly limits: S3CopyLimits;
  readonly clients: S3ClientPool;
  readonly regions: BucketRegionCache;
  readonly logger: Logger;
  readonly now: () => number;
}

interface SourceObject {
  readonly sizeBytes: number;
  readonly etag: string | undefined;
}

/**
 * Copies central objects into one tenant bucket: one `CopyObject` up to the multipart
 * threshold, `CreateMultipartUpload` + `UploadPartCopy` + `CompleteMultipartUpload` above
 * it (aborted on failure). Every copy gets the ACL `bucket-owner-full-control`, replaced
 * metadata naming only the tenant's parts of the key, explicit content headers and, when
 * configured, SSE-KMS. Requests go to the bucket's own region.
 */
export class S3Copier {
  constructor(private readonly options: S3CopierOptions) {}

  /**
   * Copies one central object to its destination key.
   * @throws DeliveryError classified by the SDK error name and status
   * @throws AbortedError when `signal` aborts
   */
  async copy(payload: S3CopyPayload, signal: AbortSignal): Promise<void> {
    const { destinationBucket: bucket, regions } = this.options;
    const region = await regions.regionOf(bucket, signal);
    const source = await this.headSource(payload.sourceBucket ?? this.options.sourceBucket, payload.sourceKey, signal);
    try {
      await this.copyIn(region, payload, source, signal);
    } catch (error) {
      if (signal.aborted) throw new AbortedError();
      if (!isWrongRegionError(error)) throw toS3DeliveryError(error, 'destination', { bucket, key: payload.destinationKey });
      const actual = bucketRegionFromError(error);
      if (actual === undefined || actual === region) {
        regions.forget(bucket);
        throw toS3DeliveryError(error, 'destination', { bucket, key: payload.destinationKey });
      }
      // The bucket is elsewhere (moved, or a stale seed): remember where, and copy there now.
      regions.set(bucket, actual);
      try {
        await this.copyIn(actual, payload, source, signal);
      } catch (retryError) {
        if (signal.aborted) throw new AbortedError();
        throw toS3DeliveryError(retryError, 'destination', { bucket, key: payload.destinationKey });
      }
    }
  }

  private async headSource(sourceBucket: string, key: string, signal: AbortSignal): Promise<SourceObject> {
    const { sourceRegion, clients } = this.options;
    try {
      const head = await clients
        .get(sourceRegion)
        .send(new HeadObjectCommand({ Bucket: sourceBucket, Key: key }), { abortSignal: signal });
      return { sizeBytes: head.ContentLength ?? 0, etag: head.ETag };
    } catch (error) {
      if (signal.aborted) throw new AbortedError();
      throw toS3DeliveryError(error, 'source', { bucket: sourceBucket, key });
    }
  }

  private common(payload: S3CopyPayload) {
    const { destinationBucket, kmsKeyId, now } = this.options;
    return {
      Bucket: destinationBucket,
      Key: payload.destinationKey,
      ACL: COPY_ACL,
      Metadata: { ...payload.metadata, [S3MetadataKey.DELIVERY_TIMESTAMP]: new Date(now()).toISOString() },
      ContentType: COPY_CONTENT_TYPE,
      ContentEncoding: COPY_CONTENT_ENCODING,
      ...(kmsKeyId !== undefined && { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: kmsKeyId }),
    };
  }

  private async copyIn(region: string, payload: S3CopyPayload, source: SourceObject, signal: AbortSignal): Promise<void> {
    const client = this.options.clients.get(region);
    const copySource = encodeCopySource(payload.sourceBucket ?? this.options.sourceBucket, payload.sourceKey);
    if (!needsMultipartCopy(source.sizeBytes, this.options.limits)) {
      await client.send(
        new CopyObjectCommand({ ...this.common(payload), CopySource: copySource, MetadataDirective: 'REPLACE' }),
        { abortSignal: signal },
      );
      return;
    }
    await this.multipartCopy(client, payload, copySource, source, signal);
  }

  private async multipartCopy(
    client: S3Client,
    payload: S3CopyPayload,
    copySource: string,
    source: SourceObject,
    signal: AbortSignal,
  ): Promise<void> {
    const common = this.common(payload);
    const { Bucket, Key } = common;
    const created = await client.send(new CreateMultipartUploadCommand(common), { abortSignal: signal });
    const uploadId = created.UploadId!;
    try {
      const parts = planCopyParts(source.sizeBytes, this.options.limits);
      const copied = await copyPartsLimited(parts, MULTIPART_COPY_CONCURRENCY, async (part) => {
        const answer = await client.send(
          new UploadPartCopyCommand({
            Bucket,
            Key,
            UploadId: uploadId,
            PartNumber: part.partNumber,
            CopySource: copySource,
            CopySourceRange: `bytes=${part.firstByte}-${part.lastByte}`,
            // Every part must come from the same version of the source.
            ...(source.etag !== undefined && { CopySourceIfMatch: source.etag }),
          }),
          { abortSignal: signal },
        );
        return { PartNumber: part.partNumber, ETag: answer.CopyPartResult?.ETag };
      });
      await client.send(
        new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: copied } }),
        { abortSignal: signal },
      );
    } catch (error) {
      await this.abortUpload(client, Bucket, Key, uploadId);
      throw error;
    }
  }

  /** Best effort: a bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop. */
  private async abortUpload(client: S3Client, bucket: string, key: string, uploadId: string): Promise<void> {
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), {
        abortSignal: AbortSignal.timeout(ABORT_UPLOAD_TIMEOUT_MS),
      });
    } catch (error) {
      this.options.logger.warn('Aborting a failed multipart copy failed; its parts stay until a lifecycle rule removes them.', {
        bucket,
        key,
        error: awsErrorName(error) ?? String(awsHttpStatus(error) ?? 'no answer'),
      });
    }
  }
}

/**
 * Runs `copyPart` over the parts with at most `limit` in flight, in part order. After the
 * first failure no new part starts; the parts in flight finish before it is rethrown, so
 * none lands after the upload was aborted.
 */
async function copyPartsLimited<R>(
  parts: readonly CopyPart[],
  limit: number,
  copyPart: (part: CopyPart) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(parts.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < parts.length) {
      const index = next++;
      try {
        results[index] = await copyPart(parts[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, parts.length) }, worker));
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}
