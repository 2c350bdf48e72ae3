import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../src/domain/index.js';
import {
  bucketRegionFromError,
  encodeCopySource,
  isWrongRegionError,
  regionOfLocation,
  type S3CallTarget,
  toS3DeliveryError,
} from '../../../src/sinks/s3/client.js';

/** An SDK error as the S3 client raises it: its name, the HTTP status and the raw answer's headers. */
function sdkError(name: string, status: number | undefined, headers: Record<string, string> = {}): S3ServiceException {
  const error = new S3ServiceException({
    name,
    $fault: status !== undefined && status >= 500 ? 'server' : 'client',
    $metadata: status !== undefined ? { httpStatusCode: status } : {},
    message: 'text the classification must not read',
  });
  return Object.assign(error, { $response: { statusCode: status, headers, body: undefined } });
}

/** A failure without an HTTP answer, as the Node handler raises it. */
function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

const CONTEXT = { bucket: 'tenant-bucket', key: 'logs/team-a/api/pod/f.json.gz' };

describe('encodeCopySource', () => {
  it.each([
    { key: 'c1/team-a/api/pod-1/f.json.gz', expected: 'central/c1/team-a/api/pod-1/f.json.gz' },
    { key: 'c1/team a/api/pod 1/f.json.gz', expected: 'central/c1/team%20a/api/pod%201/f.json.gz' },
    { key: 'c1/t/a+b/p/f+1.json.gz', expected: 'central/c1/t/a%2Bb/p/f%2B1.json.gz' },
    { key: 'c1/t/日本/p/ü.json.gz', expected: 'central/c1/t/%E6%97%A5%E6%9C%AC/p/%C3%BC.json.gz' },
    { key: 'c1/t/a/p/50%?#&=.gz', expected: 'central/c1/t/a/p/50%25%3F%23%26%3D.gz' },
  ])('encodes each segment of $key and keeps the slashes', ({ key, expected }) => {
    // Prepare
    // Act
    const source = encodeCopySource('central', key);
    // Assess
    expect(source).toBe(expected);
    expect(decodeURIComponent(source)).toBe(`central/${key}`);
  });
});

describe('regionOfLocation', () => {
  it.each([
    { location: undefined, expected: 'us-east-1' },
    { location: null, expected: 'us-east-1' },
    { location: '', expected: 'us-east-1' },
    { location: 'EU', expected: 'eu-west-1' },
    { location: 'ap-southeast-2', expected: 'ap-southeast-2' },
  ])('reads the LocationConstraint $location as $expected', ({ location, expected }) => {
    // Prepare
    // Act
    const region = regionOfLocation(location);
    // Assess
    expect(region).toBe(expected);
  });
});

describe('bucketRegionFromError', () => {
  it('reads the region S3 names in x-amz-bucket-region', () => {
    // Prepare
    const error = sdkError('PermanentRedirect', 301, { 'x-amz-bucket-region': 'eu-west-1' });
    // Act
    const region = bucketRegionFromError(error);
    // Assess
    expect(region).toBe('eu-west-1');
  });

  it.each([
    { error: sdkError('PermanentRedirect', 301) },
    { error: sdkError('PermanentRedirect', 301, { 'x-amz-bucket-region': ' ' }) },
    { error: networkError('ECONNRESET') },
    { error: undefined },
  ])('finds no region in an answer without the header', ({ error }) => {
    // Prepare
    // Act
    const region = bucketRegionFromError(error);
    // Assess
    expect(region).toBeUndefined();
  });
});

describe('isWrongRegionError', () => {
  it.each([
    { error: sdkError('PermanentRedirect', 301), expected: true },
    { error: sdkError('301', 301), expected: true },
    { error: sdkError('IllegalLocationConstraintException', 400), expected: true },
    { error: sdkError('AuthorizationHeaderMalformed', 400), expected: true },
    { error: sdkError('InvalidRequest', 400), expected: false },
    { error: sdkError('AccessDenied', 403), expected: false },
  ])('says $expected for $error.name', ({ error, expected }) => {
    // Prepare
    // Act
    const wrongRegion = isWrongRegionError(error);
    // Assess
    expect(wrongRegion).toBe(expected);
  });
});

describe('toS3DeliveryError', () => {
  it.each<{ error: unknown; target: S3CallTarget; retryable: boolean; reason: string }>([
    { error: sdkError('NoSuchBucket', 404), target: 'destination', retryable: false, reason: 'no_such_bucket' },
    { error: sdkError('NotFound', 404), target: 'destination', retryable: false, reason: 'no_such_bucket' },
    { error: sdkError('NoSuchKey', 404), target: 'destination', retryable: false, reason: 'source_missing' },
    { error: sdkError('AccessDenied', 403), target: 'destination', retryable: false, reason: 'access_denied' },
    { error: sdkError('Forbidden', 403), target: 'destination', retryable: false, reason: 'access_denied' },
    { error: sdkError('AllAccessDisabled', 403), target: 'destination', retryable: false, reason: 'access_denied' },
    { error: sdkError('InvalidBucketName', 400), target: 'destination', retryable: false, reason: 'invalid_bucket_name' },
    { error: sdkError('KMS.AccessDeniedException', 403), target: 'destination', retryable: false, reason: 'kms_access_denied' },
    { error: sdkError('KMS.NotFoundException', 400), target: 'destination', retryable: false, reason: 'kms_key_not_found' },
    { error: sdkError('KMS.DisabledException', 400), target: 'destination', retryable: false, reason: 'kms_key_disabled' },
    { error: sdkError('KMS.KMSInvalidStateException', 400), target: 'destination', retryable: false, reason: 'kms_key_invalid_state' },
    { error: sdkError('KMS.InvalidKeyUsageException', 400), target: 'destination', retryable: false, reason: 'kms_error' },
    { error: sdkError('KMS.ThrottlingException', 400), target: 'destination', retryable: true, reason: 'kms_throttled' },
    { error: sdkError('KMS.KMSInternalException', 500), target: 'destination', retryable: true, reason: 'kms_throttled' },
    { error: sdkError('EntityTooLarge', 400), target: 'destination', retryable: false, reason: 'object_too_large' },
    { error: sdkError('InvalidRequest', 400), target: 'destination', retryable: false, reason: 'invalid_request' },
    { error: sdkError('InvalidArgument', 400), target: 'destination', retryable: false, reason: 'invalid_request' },
    { error: sdkError('PreconditionFailed', 412), target: 'destination', retryable: true, reason: 'source_changed' },
    { error: sdkError('NoSuchUpload', 404), target: 'destination', retryable: true, reason: 'upload_lost' },
    { error: sdkError('ExpiredToken', 400), target: 'destination', retryable: true, reason: 'expired_credentials' },
    { error: sdkError('RequestTimeTooSkewed', 403), target: 'destination', retryable: true, reason: 'clock_skew' },
    { error: sdkError('PermanentRedirect', 301), target: 'destination', retryable: true, reason: 'wrong_region' },
    { error: sdkError('SlowDown', 503), target: 'destination', retryable: true, reason: 'slow_down' },
    { error: sdkError('InternalError', 500), target: 'destination', retryable: true, reason: 'http_500' },
    { error: sdkError('ServiceUnavailable', 503), target: 'destination', retryable: true, reason: 'http_503' },
    { error: sdkError('SomethingNew', 502), target: 'destination', retryable: true, reason: 'http_502' },
    { error: sdkError('SomethingNew', 409), target: 'destination', retryable: false, reason: 'http_409' },
    { error: sdkError('TimeoutError', undefined), target: 'destination', retryable: true, reason: 'timeout' },
    { error: networkError('ECONNRESET'), target: 'destination', retryable: true, reason: 'network_error' },
    { error: sdkError('NotFound', 404), target: 'source', retryable: false, reason: 'source_missing' },
    { error: sdkError('NoSuchBucket', 404), target: 'source', retryable: false, reason: 'source_missing' },
    { error: sdkError('Forbidden', 403), target: 'source', retryable: false, reason: 'source_access_denied' },
    { error: sdkError('InternalError', 500), target: 'source', retryable: true, reason: 'http_500' },
    { error: networkError('ECONNREFUSED'), target: 'source', retryable: true, reason: 'network_error' },
  ])('maps $error.name on the $target to retryable=$retryable ($reason)', ({ error, target, retryable, reason }) => {
    // Prepare
    // Act
    const mapped = toS3DeliveryError(error, target, CONTEXT);
    // Assess
    expect(mapped).toBeInstanceOf(DeliveryError);
    expect({ retryable: mapped.retryable, reason: mapped.reason }).toEqual({ retryable, reason });
    expect(mapped.cause).toBe(error);
  });

  it('names the bucket and key in the message, not the SDK message text', () => {
    // Prepare
    const error = sdkError('AccessDenied', 403);
    // Act
    const mapped = toS3DeliveryError(error, 'destination', CONTEXT);
    // Assess
    expect(mapped.message).toContain(`s3://${CONTEXT.bucket}/${CONTEXT.key}`);
    expect(mapped.message).toContain('AccessDenied');
    expect(mapped.message).not.toContain('must not read');
  });
});
