import { describe, expect, it } from 'vitest';
import { ConfigValidationError, type FieldError } from '../../../src/domain/index.js';
import {
  cloudwatchIngestConfigFromEnv,
  DEFAULT_ANALYTICS_PREFIX,
  DEFAULT_MAX_OBJECT_BYTES,
  defaultCloudwatchIngestConfig,
  validateCloudwatchIngestConfig,
} from '../../../src/ingest/cloudwatch/index.js';

const BASE_ENV = {
  EKS_TENANT: 'acme',
  SOURCE_BUCKET: 'central-logs',
  SQS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/tlr',
};

function fieldErrors(act: () => unknown): FieldError[] {
  try {
    act();
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.fieldErrors;
    throw error;
  }
  throw new Error('Expected a ConfigValidationError.');
}

describe('validateCloudwatchIngestConfig', () => {
  it('fills in the defaults', () => {
    // Act
    const config = validateCloudwatchIngestConfig({ tenant: 'acme' });

    // Assess
    expect(config).toEqual({ ...defaultCloudwatchIngestConfig('acme') });
    expect(config.maxObjectBytes).toBe(DEFAULT_MAX_OBJECT_BYTES);
    expect(config.analytics).toBeUndefined();
  });

  it("defaults the analytics prefix and ends a given one with '/'", () => {
    expect(validateCloudwatchIngestConfig({ tenant: 'acme', analytics: {} }).analytics).toEqual({ prefix: DEFAULT_ANALYTICS_PREFIX });
    expect(validateCloudwatchIngestConfig({ tenant: 'acme', analytics: { prefix: '_lake/eks' } }).analytics?.prefix).toBe(
      '_lake/eks/',
    );
  });

  it('names every bad field at once', () => {
    // Act
    const errors = fieldErrors(() =>
      validateCloudwatchIngestConfig({
        tenant: 'Acme Corp',
        clusterName: '_router',
        analytics: { prefix: 'analytics/eks/' },
        maxObjectBytes: 0,
        colour: 'blue',
      }),
    );

    // Assess
    expect(errors).toEqual([
      { field: 'colour', message: 'is not a known field' },
      { field: 'tenant', message: 'must be a Kubernetes namespace name (lowercase letters, digits and "-", 1-63 characters)' },
      { field: 'maxObjectBytes', message: 'must be a whole number of bytes ≥ 1' },
      { field: 'clusterName', message: "must not start with '_' (kept for the router's own keys)" },
      {
        field: 'analytics.prefix',
        message: "must start with '_' in the central bucket, so the processor never routes analytics objects as logs",
      },
    ]);
  });

  it('accepts any prefix in a bucket of its own, but not empty segments', () => {
    expect(validateCloudwatchIngestConfig({ tenant: 'a', analytics: { bucket: 'lake', prefix: 'eks' } }).analytics).toEqual({
      bucket: 'lake',
      prefix: 'eks/',
    });
    expect(fieldErrors(() => validateCloudwatchIngestConfig({ tenant: 'a', analytics: { bucket: 'lake', prefix: 'a//b/' } }))).toEqual([
      { field: 'analytics.prefix', message: "must be one or more key segments joined by '/', none empty, blank or starting with '.'" },
    ]);
  });
});

describe('cloudwatchIngestConfigFromEnv', () => {
  it('reads the tenant, the bucket and the queue; analytics stay off', () => {
    // Act
    const env = cloudwatchIngestConfigFromEnv(BASE_ENV);

    // Assess
    expect(env.sourceBucket).toBe('central-logs');
    expect(env.queueUrl).toBe(BASE_ENV.SQS_QUEUE_URL);
    expect(env.ingest.tenant).toBe('acme');
    expect(env.ingest.clusterName).toBeUndefined();
    expect(env.ingest.analytics).toBeUndefined();
  });

  it.each([
    { name: 'ANALYTICS_PREFIX alone: the central bucket', extra: { ANALYTICS_PREFIX: '_analytics/eks/' }, analytics: { prefix: '_analytics/eks/' } },
    { name: 'ANALYTICS_BUCKET alone: the default prefix', extra: { ANALYTICS_BUCKET: 'lake' }, analytics: { bucket: 'lake', prefix: '_analytics/eks/' } },
    { name: 'the central bucket named as analytics bucket', extra: { ANALYTICS_BUCKET: 'central-logs' }, analytics: { prefix: '_analytics/eks/' } },
    { name: 'both', extra: { ANALYTICS_BUCKET: 'lake', ANALYTICS_PREFIX: 'eks' }, analytics: { bucket: 'lake', prefix: 'eks/' } },
  ])('turns analytics on with $name', ({ extra, analytics }) => {
    expect(cloudwatchIngestConfigFromEnv({ ...BASE_ENV, ...extra }).ingest.analytics).toEqual(analytics);
  });

  it('names every missing or malformed variable at once', () => {
    // Act
    const errors = fieldErrors(() =>
      cloudwatchIngestConfigFromEnv({ EKS_CLUSTER_NAME: 'a/b', ANALYTICS_PREFIX: 'analytics/', SQS_QUEUE_URL: ' ' }),
    );

    // Assess
    expect(errors).toEqual([
      { field: 'EKS_TENANT', message: 'is required (the tenant that owns the control-plane logs)' },
      { field: 'SOURCE_BUCKET', message: 'is required (the central bucket objects are written to)' },
      { field: 'SQS_QUEUE_URL', message: 'is required (the queue the processor reads)' },
      { field: 'EKS_CLUSTER_NAME', message: "is not a valid object key segment: it contains '/'" },
      {
        field: 'ANALYTICS_PREFIX',
        message: "must start with '_' in the central bucket, so the processor never routes analytics objects as logs",
      },
    ]);
  });

  it('reports a malformed tenant by its variable', () => {
    expect(fieldErrors(() => cloudwatchIngestConfigFromEnv({ ...BASE_ENV, EKS_TENANT: 'ACME' }))).toEqual([
      { field: 'EKS_TENANT', message: 'must be a Kubernetes namespace name (lowercase letters, digits and "-", 1-63 characters)' },
    ]);
  });
});
