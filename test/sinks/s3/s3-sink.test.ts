import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { AwsSinkDeps } from '../../../src/aws/index.js';
import { defaultRetryConfig } from '../../../src/delivery/index.js';
import {
  ConfigValidationError,
  type LogObjectKey,
  parseObjectKey,
  validateDeliveryConfig,
} from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import {
  createS3Sink,
  createS3SinkDefinition,
  S3_KIND,
  type S3SinkOptions,
  s3SinkDefinition,
  SOURCE_BUCKET_ENV,
} from '../../../src/sinks/s3/index.js';
import type { SinkDeps } from '../../../src/sinks/types.js';
import { deliveryConfigFactory, objectKeyFactory, randomId } from '../../helpers/factories.js';

const lookup = createSinkRegistry([s3SinkDefinition]).lookup;

const aws: AwsSinkDeps = {
  settings: { region: 'us-east-1', s3PathStyle: false },
  credentials: {
    central: () => async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }),
    forTenant: () => {
      throw new Error('not used');
    },
  },
};

function deps(overrides: Partial<SinkDeps> = {}): SinkDeps {
  return { baseDir: '/nonexistent', logger: silentLogger, registry: new Registry(), aws, ...overrides };
}

function s3Config(overrides: Record<string, unknown> = {}) {
  return validateDeliveryConfig(
    deliveryConfigFactory({ type: 's3', directory: undefined, bucket_name: `tenant-${randomId()}`, ...overrides }),
    lookup,
  );
}

function configErrorOf(action: () => unknown): ConfigValidationError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConfigValidationError);
  return caught as ConfigValidationError;
}

const savedSourceBucket = process.env[SOURCE_BUCKET_ENV];
afterEach(() => {
  if (savedSourceBucket === undefined) delete process.env[SOURCE_BUCKET_ENV];
  else process.env[SOURCE_BUCKET_ENV] = savedSourceBucket;
});

describe('createS3Sink', () => {
  it('builds a sink of kind s3 whose retry policy merges the config overrides onto the defaults', async () => {
    // Prepare
    const config = s3Config({ retry: { maxAttempts: 7 } });
    // Act
    const sink = createS3Sink(config, deps(), { sourceBucket: 'central' });
    // Assess
    expect(sink.kind).toBe(S3_KIND);
    expect(sink.retry).toEqual({ ...defaultRetryConfig(), maxAttempts: 7 });
    await sink.close();
  });

  it('plans copies under the normalized bucket prefix', async () => {
    // Prepare
    const sink = createS3Sink(s3Config({ bucket_prefix: 'archive' }), deps(), { sourceBucket: 'central' });
    const object = parseObjectKey(objectKeyFactory()) as LogObjectKey;
    // Act
    const [batch] = sink.createPlanner(object).flush();
    // Assess
    expect(batch!.payload.destinationKey).toBe(
      `archive/${object.tenantId}/${object.application}/${object.podName}/${object.fileName}`,
    );
    await sink.close();
  });

  it('refuses to build without the AWS runtime', () => {
    // Prepare
    const noAws = deps({ aws: undefined });
    // Act
    const error = configErrorOf(() => createS3Sink(s3Config(), noAws, { sourceBucket: 'central' }));
    // Assess
    expect(error.message).toContain("destination kind 's3' needs the AWS runtime");
  });

  it.each([{ sourceBucket: undefined }, { sourceBucket: '' }, { sourceBucket: '  ' }])(
    'refuses to build without a central bucket ($sourceBucket)',
    ({ sourceBucket }) => {
      // Prepare
      const options: S3SinkOptions = sourceBucket === undefined ? {} : { sourceBucket };
      // Act
      const error = configErrorOf(() => createS3Sink(s3Config(), deps(), options));
      // Assess
      expect(error.fieldErrors.map((e) => e.field)).toEqual([SOURCE_BUCKET_ENV]);
    },
  );

  it('refuses copy limits that break an S3 rule', () => {
    // Prepare
    const options: S3SinkOptions = { sourceBucket: 'central', copyLimits: { partSizeBytes: 1024 } };
    // Act
    const error = configErrorOf(() => createS3Sink(s3Config(), deps(), options));
    // Assess
    expect(error.fieldErrors.map((e) => e.field)).toEqual(['partSizeBytes']);
  });
});

describe('s3SinkDefinition', () => {
  it('reads the central bucket from $SOURCE_BUCKET when it creates a sink', async () => {
    // Prepare
    process.env[SOURCE_BUCKET_ENV] = 'central-from-env';
    // Act
    const sink = s3SinkDefinition.create(s3Config(), deps());
    // Assess
    expect(sink.kind).toBe(S3_KIND);
    await sink.close();
  });

  it('refuses to create a sink when $SOURCE_BUCKET is unset', () => {
    // Prepare
    delete process.env[SOURCE_BUCKET_ENV];
    // Act
    const error = configErrorOf(() => s3SinkDefinition.create(s3Config(), deps()));
    // Assess
    expect(error.fieldErrors.map((e) => e.field)).toEqual([SOURCE_BUCKET_ENV]);
  });

  it('prefers the central bucket the runtime passes over $SOURCE_BUCKET', async () => {
    // Prepare
    delete process.env[SOURCE_BUCKET_ENV];
    const definition = createS3SinkDefinition({ sourceBucket: 'central-from-runtime' });
    // Act
    const sink = definition.create(s3Config(), deps());
    // Assess
    expect(sink.kind).toBe(S3_KIND);
    await sink.close();
  });
});
