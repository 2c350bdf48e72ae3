import { describe, expect, it } from 'vitest';
import {
  ConfigValidationError,
  type KindLookup,
  readDeliveryConfig,
  validateDeliveryConfig,
} from '../../../src/domain/index.js';
import {
  bucketNameProblem,
  bucketPrefixProblem,
  COPY_OBJECT_MAX_BYTES,
  DEFAULT_BUCKET_PREFIX,
  defaultS3CopyLimits,
  normalizeBucketPrefix,
  resolveS3CopyLimits,
  UPLOAD_PART_MAX_BYTES,
  UPLOAD_PART_MIN_BYTES,
} from '../../../src/sinks/s3/config.js';
import { s3SinkDefinition } from '../../../src/sinks/s3/index.js';
import { deliveryConfigFactory, randomId } from '../../helpers/factories.js';

const lookup: KindLookup = (kind) => (kind === 's3' ? s3SinkDefinition.spec : undefined);

function s3ConfigInput(overrides: Record<string, unknown> = {}) {
  return deliveryConfigFactory({
    type: 's3',
    directory: undefined,
    bucket_name: `tenant-logs-${randomId()}`,
    ...overrides,
  });
}

function fieldErrorsOf(action: () => unknown): { field: string; message: string }[] {
  try {
    action();
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.fieldErrors;
    throw error;
  }
  return [];
}

describe('bucketNameProblem', () => {
  it.each([
    { name: 'abc' },
    { name: 'my-bucket' },
    { name: 'my.bucket.name' },
    { name: '1bucket2' },
    { name: 'a'.repeat(63) },
    { name: 'xn-single-dash' },
    { name: 'sthree' },
    { name: 'bucket-s3alias-not-at-end' },
    { name: '192.168.5' },
  ])('accepts the valid bucket name $name', ({ name }) => {
    // Prepare
    // Act
    const problem = bucketNameProblem(name);
    // Assess
    expect(problem).toBeUndefined();
  });

  it.each([
    { name: 'ab', rule: '3 to 63 characters' },
    { name: '', rule: '3 to 63 characters' },
    { name: 'a'.repeat(64), rule: '3 to 63 characters' },
    { name: 'My-Bucket', rule: 'only lowercase letters' },
    { name: 'my_bucket', rule: 'only lowercase letters' },
    { name: 'my bucket', rule: 'only lowercase letters' },
    { name: 'bücket', rule: 'only lowercase letters' },
    { name: '-bucket', rule: 'start and end with a letter or digit' },
    { name: 'bucket-', rule: 'start and end with a letter or digit' },
    { name: '.bucket', rule: 'start and end with a letter or digit' },
    { name: 'bucket.', rule: 'start and end with a letter or digit' },
    { name: 'my..bucket', rule: "'..'" },
    { name: '192.168.5.4', rule: 'IP address' },
    { name: '10.0.0.1', rule: 'IP address' },
    { name: 'xn--bucket', rule: "prefix 'xn--'" },
    { name: 'sthree-bucket', rule: "prefix 'sthree-'" },
    { name: 'sthree-configurator', rule: "prefix 'sthree-'" },
    { name: 'amzn-s3-demo-bucket', rule: "prefix 'amzn-s3-demo-'" },
    { name: 'bucket-s3alias', rule: "suffix '-s3alias'" },
    { name: 'bucket--ol-s3', rule: "suffix '--ol-s3'" },
    { name: 'bucket.mrap', rule: "suffix '.mrap'" },
    { name: 'bucket--x-s3', rule: "suffix '--x-s3'" },
    { name: 'bucket--table-s3', rule: "suffix '--table-s3'" },
  ])('rejects $name: $rule', ({ name, rule }) => {
    // Prepare
    // Act
    const problem = bucketNameProblem(name);
    // Assess
    expect(problem).toContain(rule);
  });
});

describe('bucketPrefixProblem', () => {
  it.each([{ prefix: '' }, { prefix: 'logs/' }, { prefix: 'ROSA/cluster-logs/' }, { prefix: 'a b/+ü/' }])(
    "accepts the prefix '$prefix'",
    ({ prefix }) => {
      // Prepare
      // Act
      const problem = bucketPrefixProblem(prefix);
      // Assess
      expect(problem).toBeUndefined();
    },
  );

  it.each([
    { prefix: '/logs/', rule: "start with '/'" },
    { prefix: 'logs//x/', rule: "'//'" },
    { prefix: 'x'.repeat(513), rule: 'at most 512 bytes' },
  ])("rejects the prefix '$prefix': $rule", ({ prefix, rule }) => {
    // Prepare
    // Act
    const problem = bucketPrefixProblem(prefix);
    // Assess
    expect(problem).toContain(rule);
  });
});

describe('s3 delivery config', () => {
  it('accepts a config naming only the bucket and fills in the default prefix', () => {
    // Prepare
    const input = s3ConfigInput();
    // Act
    const config = validateDeliveryConfig(input, lookup);
    // Assess
    expect(config['bucket_name']).toBe(input['bucket_name']);
    expect(config['bucket_prefix']).toBe(DEFAULT_BUCKET_PREFIX);
  });

  it.each([
    { written: 'logs', stored: 'logs/' },
    { written: 'logs/', stored: 'logs/' },
    { written: 'a/b', stored: 'a/b/' },
    { written: '', stored: '' },
  ])("stores the prefix '$written' as '$stored' on write", ({ written, stored }) => {
    // Prepare
    const input = s3ConfigInput({ bucket_prefix: written });
    // Act
    const config = validateDeliveryConfig(input, lookup);
    // Assess
    expect(config['bucket_prefix']).toBe(stored);
  });

  it('normalizes the prefix of a row written by hand when reading it', () => {
    // Prepare
    const row = s3ConfigInput({ bucket_prefix: 'archive' });
    // Act
    const result = readDeliveryConfig(row, lookup);
    // Assess
    expect(result.ok && result.config['bucket_prefix']).toBe('archive/');
  });

  it('gives a row written by hand without a prefix the default prefix when reading it', () => {
    // Prepare
    const row = s3ConfigInput();
    // Act
    const result = readDeliveryConfig(row, lookup);
    // Assess
    expect(result.ok && result.config['bucket_prefix']).toBe(DEFAULT_BUCKET_PREFIX);
  });

  it('keeps an optional KMS key id and retry overrides', () => {
    // Prepare
    const input = s3ConfigInput({
      sse_kms_key_id: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      retry: { maxAttempts: 2 },
    });
    // Act
    const config = validateDeliveryConfig(input, lookup);
    // Assess
    expect(config['sse_kms_key_id']).toBe(input['sse_kms_key_id']);
    expect(config['retry']).toEqual({ maxAttempts: 2 });
  });

  it.each([
    { overrides: { bucket_name: 'Bad_Bucket' }, field: 'bucket_name', rule: 'lowercase' },
    { overrides: { bucket_name: '10.1.2.3' }, field: 'bucket_name', rule: 'IP address' },
    { overrides: { bucket_name: undefined }, field: 'bucket_name', rule: 'is required' },
    { overrides: { bucket_name: 42 }, field: 'bucket_name', rule: '' },
    { overrides: { bucket_prefix: '/abs/' }, field: 'bucket_prefix', rule: "start with '/'" },
    { overrides: { bucket_prefix: 'a//b' }, field: 'bucket_prefix', rule: "'//'" },
    { overrides: { sse_kms_key_id: '' }, field: 'sse_kms_key_id', rule: 'KMS key' },
    { overrides: { retry: { maxAttempts: 0 } }, field: 'retry.maxAttempts', rule: '' },
    { overrides: { bucket: 'typo' }, field: 'bucket', rule: 'is not a known field' },
  ])('rejects $field on write ($rule)', ({ overrides, field, rule }) => {
    // Prepare
    const input = s3ConfigInput(overrides);
    // Act
    const errors = fieldErrorsOf(() => validateDeliveryConfig(input, lookup));
    // Assess
    const error = errors.find((e) => e.field === field);
    expect(error, JSON.stringify(errors)).toBeDefined();
    expect(error!.message).toContain(rule);
  });
});

describe('normalizeBucketPrefix', () => {
  it.each([
    { prefix: undefined, expected: DEFAULT_BUCKET_PREFIX },
    { prefix: '', expected: '' },
    { prefix: 'x', expected: 'x/' },
    { prefix: 'x/', expected: 'x/' },
  ])("turns $prefix into '$expected'", ({ prefix, expected }) => {
    // Prepare
    // Act
    const normalized = normalizeBucketPrefix(prefix);
    // Assess
    expect(normalized).toBe(expected);
  });
});

describe('resolveS3CopyLimits', () => {
  it('defaults to one CopyObject up to 5 GiB and 512 MiB parts above', () => {
    // Prepare
    // Act
    const limits = resolveS3CopyLimits();
    // Assess
    expect(limits).toEqual(defaultS3CopyLimits());
    expect(limits).toEqual({
      multipartThresholdBytes: COPY_OBJECT_MAX_BYTES,
      partSizeBytes: 512 * 1024 * 1024,
      minPartSizeBytes: UPLOAD_PART_MIN_BYTES,
    });
  });

  it('takes a small threshold and part size when the minimum part size is lowered too', () => {
    // Prepare
    const overrides = { multipartThresholdBytes: 1024, partSizeBytes: 1024, minPartSizeBytes: 1024 };
    // Act
    const limits = resolveS3CopyLimits(overrides);
    // Assess
    expect(limits).toEqual(overrides);
  });

  it.each([
    { overrides: { multipartThresholdBytes: COPY_OBJECT_MAX_BYTES + 1 }, field: 'multipartThresholdBytes' },
    { overrides: { multipartThresholdBytes: 0 }, field: 'multipartThresholdBytes' },
    { overrides: { partSizeBytes: UPLOAD_PART_MIN_BYTES - 1 }, field: 'partSizeBytes' },
    { overrides: { partSizeBytes: UPLOAD_PART_MAX_BYTES + 1 }, field: 'partSizeBytes' },
    { overrides: { partSizeBytes: 1.5 }, field: 'partSizeBytes' },
    { overrides: { minPartSizeBytes: -1 }, field: 'minPartSizeBytes' },
  ])('rejects $field = $overrides', ({ overrides, field }) => {
    // Prepare
    // Act
    const errors = fieldErrorsOf(() => resolveS3CopyLimits(overrides));
    // Assess
    expect(errors.map((e) => e.field)).toContain(field);
  });
});
