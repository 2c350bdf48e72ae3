import type { LogObjectKey, LogRecord } from '../../domain/index.js';
import type { Batch, SinkPlanner } from '../types.js';
import { MULTIPART_MAX_PARTS, type S3CopyLimits } from './config.js';

/** User metadata names set on every copy (sent as `x-amz-meta-*`). */
export const S3MetadataKey = {
  TENANT_ID: 'tenant-id',
  APPLICATION: 'application',
  POD_NAME: 'pod-name',
  DELIVERY_TIMESTAMP: 'delivery-timestamp',
} as const;

/**
 * One whole-object copy: the central object to the tenant's bucket. The metadata names the
 * tenant's own parts of the key only; nothing about the cluster, the central bucket or account.
 */
export interface S3CopyPayload {
  /** The central object key (decoded). */
  readonly sourceKey: string;
  /** The bucket the notification named; the sink's configured source bucket when absent. */
  readonly sourceBucket?: string;
  /** The key in the tenant's bucket. */
  readonly destinationKey: string;
  /** `tenant-id`, `application`, `pod-name`; the client adds `delivery-timestamp` at send time. */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The key a central object gets in the tenant's bucket:
 * `{prefix}{tenant_id}/{application}/{pod_name}/{middle…}/{file}`. The cluster id is left out.
 *
 * @param prefix - the normalized `bucket_prefix` (empty or ending with `/`)
 * @param object - the parsed central key
 */
export function destinationKeyFor(prefix: string, object: LogObjectKey): string {
  return `${prefix}${[object.tenantId, object.application, object.podName, ...object.middle, object.fileName].join('/')}`;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * A user metadata value as S3 keeps it: printable US-ASCII as is, anything else as an
 * RFC 2047 encoded word, which is how S3 returns non-ASCII metadata too.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html#UserMetadata
 */
export function metadataValue(value: string): string {
  return PRINTABLE_ASCII.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/**
 * Plans the delivery of one object to an `s3` destination. The destination copies the
 * whole object, so records are only counted: `add` never closes a batch, and the first
 * `flush` returns exactly one batch holding the copy request (`firstOffset` 0, `lastOffset`
 * the highest record offset seen or -1). An object without records is still copied. Later
 * flushes return nothing, so one planner never copies twice.
 *
 * @param object - the object being delivered
 * @param prefix - the normalized `bucket_prefix`
 */
export function createS3Planner(
  object: LogObjectKey,
  prefix: string,
  sourceBucket?: string,
): SinkPlanner<S3CopyPayload> {
  let count = 0;
  let bytes = 0;
  let lastOffset = -1;
  let flushed = false;
  return {
    add(record: LogRecord) {
      count += 1;
      // The NDJSON bytes the copy carries, uncompressed; the object itself is gzip.
      bytes += record.json.length + 1;
      if (record.offset > lastOffset) lastOffset = record.offset;
      return [];
    },
    flush() {
      if (flushed) return [];
      flushed = true;
      const batch: Batch<S3CopyPayload> = {
        firstOffset: 0,
        lastOffset,
        count,
        bytes,
        payload: {
          sourceKey: object.key,
          ...(sourceBucket !== undefined && { sourceBucket }),
          destinationKey: destinationKeyFor(prefix, object),
          metadata: {
            [S3MetadataKey.TENANT_ID]: metadataValue(object.tenantId),
            [S3MetadataKey.APPLICATION]: metadataValue(object.application),
            [S3MetadataKey.POD_NAME]: metadataValue(object.podName),
          },
        },
      };
      return [batch];
    },
  };
}

/** One `UploadPartCopy` range, inclusive at both ends as `CopySourceRange` states it. */
export interface CopyPart {
  readonly partNumber: number;
  readonly firstByte: number;
  readonly lastByte: number;
}

/**
 * Whether an object of `sizeBytes` must be copied in parts.
 *
 * @param limits - resolved copy limits
 */
export function needsMultipartCopy(sizeBytes: number, limits: S3CopyLimits): boolean {
  return sizeBytes > limits.multipartThresholdBytes;
}

/**
 * Cuts an object into `UploadPartCopy` ranges of `partSizeBytes` (the last one shorter),
 * with larger parts when the object would otherwise need more than 10,000.
 *
 * @param sizeBytes - the source object's size, ≥ 1
 * @param limits - resolved copy limits
 */
export function planCopyParts(sizeBytes: number, limits: S3CopyLimits): CopyPart[] {
  const partBytes = Math.max(limits.partSizeBytes, Math.ceil(sizeBytes / MULTIPART_MAX_PARTS));
  const parts: CopyPart[] = [];
  for (let first = 0, partNumber = 1; first < sizeBytes; first += partBytes, partNumber++) {
    parts.push({ partNumber, firstByte: first, lastByte: Math.min(first + partBytes, sizeBytes) - 1 });
  }
  return parts;
}
