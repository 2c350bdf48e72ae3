import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig, type AwsSinkDeps, type CredentialBroker } from '../../../src/aws/index.js';
import {
  AbortedError,
  type DeliveryConfig,
  DeliveryError,
  type LogObjectKey,
  ObjectNotFoundError,
  parseObjectKey,
  validateDeliveryConfig,
} from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { createProcessor, DestinationStatus } from '../../../src/pipeline/processor.js';
import { createTenantDestinationResolver } from '../../../src/pipeline/tenant-destinations.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import type { S3CopyLimits } from '../../../src/sinks/s3/config.js';
import {
  createS3Sink,
  createS3SinkDefinition,
  destinationKeyFor,
  type S3SinkOptions,
  s3SinkDefinition,
} from '../../../src/sinks/s3/index.js';
import type { Sink, SinkDeps } from '../../../src/sinks/types.js';
import {
  createSqliteCheckpointStore,
  createSqliteConfigStore,
  createSqliteDeadLetterStore,
  createSqliteQueue,
  openDatabase,
} from '../../../src/stores/local/index.js';
import type { ObjectStore } from '../../../src/stores/ports.js';
import { deliveryConfigFactory, gzipObject, logEventFactory, randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';
import {
  isCopyObject,
  isGetBucketLocation,
  isHeadBucket,
  isUploadPartCopy,
  type S3Fault,
  testClientFactory,
} from './s3-test-clients.js';

const lookup = createSinkRegistry([s3SinkDefinition]).lookup;
/** Tiny parts, so moto (started with S3_UPLOAD_PART_MIN_SIZE=1024) copies small objects in parts. */
const KIB_LIMITS: S3CopyLimits = { multipartThresholdBytes: 1024, partSizeBytes: 1024, minPartSizeBytes: 1024 };
const DELIVERED_AT_MS = Date.parse('2024-01-15T11:00:00.000Z');
const OTHER_REGION = 'eu-west-1';

const signal = () => new AbortController().signal;

describe.skipIf(motoUnavailable)('s3 sink against moto', () => {
  let moto: MotoServer;
  let admin: S3Client;
  let adminEu: S3Client;
  let sourceBucket: string;
  const sinks: Sink[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto({ S3_UPLOAD_PART_MIN_SIZE: '1024' });
    admin = new S3Client(awsClientConfig(moto.settings, { s3: true }));
    adminEu = new S3Client(awsClientConfig(moto.settings, { s3: true, region: OTHER_REGION }));
    sourceBucket = `central-${randomId()}`;
    await admin.send(new CreateBucketCommand({ Bucket: sourceBucket }));
  });

  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((sink) => sink.close()));
    await removeTempDirs();
  });

  afterAll(async () => {
    admin?.destroy();
    adminEu?.destroy();
    await moto?.stop();
  });

  /** Times the broker handed out the central role's credentials. */
  let centralCredentialsAsked = 0;
  /** The central role's credentials as the broker would hand them out (moto accepts any). */
  const broker: CredentialBroker = {
    central: () => {
      centralCredentialsAsked += 1;
      return async () => ({ accessKeyId: 'testing', secretAccessKey: 'testing' });
    },
    forTenant: () => {
      throw new Error('The s3 sink must act as the central role only.');
    },
  };

  function sinkDeps(): SinkDeps & { aws: AwsSinkDeps } {
    return {
      baseDir: '/nonexistent',
      logger: silentLogger,
      registry: new Registry(),
      aws: { settings: moto.settings, credentials: broker },
    };
  }

  function s3Config(bucket: string, overrides: Record<string, unknown> = {}) {
    return validateDeliveryConfig(
      deliveryConfigFactory({ type: 's3', directory: undefined, bucket_name: bucket, ...overrides }),
      lookup,
    );
  }

  function s3Sink(bucket: string, configOverrides: Record<string, unknown> = {}, options: S3SinkOptions = {}) {
    const sink = createS3Sink(s3Config(bucket, configOverrides), sinkDeps(), {
      sourceBucket,
      now: () => DELIVERED_AT_MS,
      ...options,
    });
    sinks.push(sink);
    return sink;
  }

  async function newBucket(region = 'us-east-1'): Promise<string> {
    const bucket = `tenant-${randomId()}`;
    if (region === 'us-east-1') await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    else {
      await adminEu.send(
        new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: OTHER_REGION } }),
      );
    }
    return bucket;
  }

  /** Puts a gzip NDJSON object in the central bucket, as Vector writes it (its content headers included). */
  async function putCentralObject(
    key = `cluster-${randomId()}/team-${randomId()}/kube-apiserver/pod-${randomId()}/20240115-103000-u.json.gz`,
    body: Buffer = gzipObject([logEventFactory(), logEventFactory()]),
  ): Promise<{ key: string; object: LogObjectKey; body: Buffer }> {
    await admin.send(
      new PutObjectCommand({
        Bucket: sourceBucket,
        Key: key,
        Body: body,
        ContentType: 'application/json',
        ContentEncoding: 'gzip',
        Metadata: { 'cluster-id': key.split('/')[0]!, 'source-account': '111122223333' },
      }),
    );
    return { key, object: parseObjectKey(key) as LogObjectKey, body };
  }

  /** Plans one object as the processor does (no records needed) and sends its one batch. */
  async function deliver(sink: Sink, object: LogObjectKey, abort: AbortSignal = signal()): Promise<void> {
    const batches = sink.createPlanner(object).flush();
    expect(batches).toHaveLength(1);
    for (const batch of batches) await sink.send(batch, abort);
  }

  async function deliveryError(action: Promise<unknown>): Promise<DeliveryError> {
    const error = await action.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }

  async function readBack(client: S3Client, bucket: string, key: string) {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = Buffer.from(await object.Body!.transformToByteArray());
    return { object, body };
  }

  it('copies the object to {prefix}{tenant}/{application}/{pod}/…/{file} byte for byte', async () => {
    // Prepare
    const bucket = await newBucket();
    const key = `cluster-${randomId()}/team-a/kube-apiserver/pod-1/2024/01/15/20240115-103000-u.json.gz`;
    const { object, body } = await putCentralObject(key);
    const sink = s3Sink(bucket, { bucket_prefix: 'archive' });
    // Act
    await deliver(sink, object);
    // Assess
    const copied = await readBack(admin, bucket, 'archive/team-a/kube-apiserver/pod-1/2024/01/15/20240115-103000-u.json.gz');
    expect(copied.body.equals(body)).toBe(true);
  });

  it("copies with the central role's credentials, never a tenant role's", async () => {
    // Prepare
    const bucket = await newBucket();
    const { object } = await putCentralObject();
    const sink = s3Sink(bucket);
    const askedBefore = centralCredentialsAsked;
    // Act
    await deliver(sink, object);
    // Assess
    expect(centralCredentialsAsked).toBeGreaterThan(askedBefore);
  });

  it('replaces the metadata with the tenant, application, pod and delivery time, and nothing about the cluster', async () => {
    // Prepare
    const bucket = await newBucket();
    const { object } = await putCentralObject();
    const sink = s3Sink(bucket);
    // Act
    await deliver(sink, object);
    // Assess
    const head = await admin.send(
      new HeadObjectCommand({ Bucket: bucket, Key: destinationKeyFor('ROSA/cluster-logs/', object) }),
    );
    expect(head.Metadata).toEqual({
      'tenant-id': object.tenantId,
      application: object.application,
      'pod-name': object.podName,
      'delivery-timestamp': new Date(DELIVERED_AT_MS).toISOString(),
    });
    const everything = JSON.stringify(head);
    expect(everything).not.toContain(object.clusterId);
    expect(everything).not.toContain(sourceBucket);
    expect(everything).not.toContain('111122223333');
  });

  it('sets Content-Type application/x-ndjson and Content-Encoding gzip, which REPLACE would drop', async () => {
    // Prepare
    const bucket = await newBucket();
    const { object } = await putCentralObject();
    const sink = s3Sink(bucket);
    // Act
    await deliver(sink, object);
    // Assess
    const head = await admin.send(
      new HeadObjectCommand({ Bucket: bucket, Key: destinationKeyFor('ROSA/cluster-logs/', object) }),
    );
    expect(head.ContentType).toBe('application/x-ndjson');
    expect(head.ContentEncoding).toBe('gzip');
  });

  it('grants the bucket owner full control of the copy', async () => {
    // Prepare
    const bucket = await newBucket();
    const { object } = await putCentralObject();
    const clients = testClientFactory(moto.settings);
    const sink = s3Sink(bucket, {}, { createClient: clients.create });
    // Act
    await deliver(sink, object);
    // Assess
    const acl = await admin.send(
      new GetObjectAclCommand({ Bucket: bucket, Key: destinationKeyFor('ROSA/cluster-logs/', object) }),
    );
    const fullControl = (acl.Grants ?? []).filter((g) => g.Permission === 'FULL_CONTROL');
    expect(fullControl).toHaveLength(1);
    expect(fullControl[0]!.Grantee?.ID).toBe(acl.Owner?.ID);
    // moto keeps one FULL_CONTROL grant whatever the ACL, so check what was asked for as well.
    const copy = clients.requests.find((r) => r.headers['x-amz-copy-source'] !== undefined);
    expect(copy?.headers).toMatchObject({
      'x-amz-acl': 'bucket-owner-full-control',
      'x-amz-metadata-directive': 'REPLACE',
    });
  });

  it('encrypts the copy with the configured KMS key', async () => {
    // Prepare
    const bucket = await newBucket();
    const { object } = await putCentralObject();
    const kmsKeyId = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const sink = s3Sink(bucket, { sse_kms_key_id: kmsKeyId });
    // Act
    await deliver(sink, object);
    // Assess
    const head = await admin.send(
      new HeadObjectCommand({ Bucket: bucket, Key: destinationKeyFor('ROSA/cluster-logs/', object) }),
    );
    expect(head.ServerSideEncryption).toBe('aws:kms');
    expect(head.SSEKMSKeyId).toBe(kmsKeyId);
  });

  it('copies an empty object too', async () => {
    // Prepare
    const bucket = await newBucket();
    const { object } = await putCentralObject(undefined, Buffer.alloc(0));
    const sink = s3Sink(bucket, {}, { copyLimits: KIB_LIMITS });
    // Act
    await deliver(sink, object);
    // Assess
    const copied = await readBack(admin, bucket, destinationKeyFor('ROSA/cluster-logs/', object));
    expect(copied.body.length).toBe(0);
  });

  describe.each([
    { what: 'spaces', pod: 'pod with space', file: 'a b.json.gz', encoded: 'pod%20with%20space/a%20b.json.gz' },
    { what: 'a plus sign', pod: 'pod+plus', file: 'a+b.json.gz', encoded: 'pod%2Bplus/a%2Bb.json.gz' },
    { what: 'unicode', pod: 'pöd-日本', file: 'ünï.json.gz', encoded: 'p%C3%B6d-%E6%97%A5%E6%9C%AC/%C3%BCn%C3%AF.json.gz' },
    { what: 'percent, question mark, hash and ampersand', pod: 'pod%25', file: '50%?#&=.json.gz', encoded: 'pod%2525/50%25%3F%23%26%3D.json.gz' },
  ])('a central key with $what', ({ pod, file, encoded }) => {
    it('is URL-encoded in CopySource and lands at the same characters in the tenant bucket', async () => {
      // Prepare
      const bucket = await newBucket();
      const cluster = `cluster-${randomId()}`;
      const { object, body } = await putCentralObject(`${cluster}/team-a/app/${pod}/${file}`);
      const clients = testClientFactory(moto.settings);
      const sink = s3Sink(bucket, { bucket_prefix: '' }, { createClient: clients.create });
      // Act
      await deliver(sink, object);
      // Assess
      const copied = await readBack(admin, bucket, `team-a/app/${pod}/${file}`);
      expect(copied.body.equals(body)).toBe(true);
      const sources = clients.requests.map((r) => r.headers['x-amz-copy-source']).filter(Boolean);
      expect(sources).toEqual([`${sourceBucket}/${cluster}/team-a/app/${encoded}`]);
    });

    it('is URL-encoded in every UploadPartCopy of a multipart copy', async () => {
      // Prepare
      const bucket = await newBucket();
      const cluster = `cluster-${randomId()}`;
      const { object, body } = await putCentralObject(`${cluster}/team-a/app/${pod}/${file}`, randomBytes(2_500));
      const clients = testClientFactory(moto.settings);
      const sink = s3Sink(bucket, { bucket_prefix: '' }, { copyLimits: KIB_LIMITS, createClient: clients.create });
      // Act
      await deliver(sink, object);
      // Assess
      const copied = await readBack(admin, bucket, `team-a/app/${pod}/${file}`);
      expect(copied.body.equals(body)).toBe(true);
      const sources = clients.requests.map((r) => r.headers['x-amz-copy-source']).filter(Boolean);
      expect(sources).toEqual(Array(3).fill(`${sourceBucket}/${cluster}/team-a/app/${encoded}`));
    });
  });

  describe('above the multipart threshold', () => {
    it('copies in parts that reassemble byte-identical, with the same ACL, metadata and content headers', async () => {
      // Prepare
      const bucket = await newBucket();
      const { object, body } = await putCentralObject(undefined, randomBytes(5 * 1024 + 300));
      const clients = testClientFactory(moto.settings);
      const sink = s3Sink(bucket, {}, { copyLimits: KIB_LIMITS, createClient: clients.create });
      // Act
      await deliver(sink, object);
      // Assess
      const destinationKey = destinationKeyFor('ROSA/cluster-logs/', object);
      const copied = await readBack(admin, bucket, destinationKey);
      expect(copied.body.equals(body)).toBe(true);
      expect(clients.count('UploadPartCopyCommand')).toBe(6);
      expect(clients.count('CopyObjectCommand')).toBe(0);
      expect(clients.count('CompleteMultipartUploadCommand')).toBe(1);
      expect(copied.object.ContentType).toBe('application/x-ndjson');
      expect(copied.object.ContentEncoding).toBe('gzip');
      expect(copied.object.Metadata).toMatchObject({ 'tenant-id': object.tenantId, 'pod-name': object.podName });
      const acl = await admin.send(new GetObjectAclCommand({ Bucket: bucket, Key: destinationKey }));
      expect((acl.Grants ?? []).filter((g) => g.Permission === 'FULL_CONTROL')).toHaveLength(1);
      const create = clients.requests.find((r) => r.method === 'POST' && r.path.endsWith(destinationKey.split('/').at(-1)!));
      expect(create?.headers['x-amz-acl']).toBe('bucket-owner-full-control');
      const ranges = clients.requests.map((r) => r.headers['x-amz-copy-source-range']).filter(Boolean);
      expect(ranges.sort()).toEqual(
        ['bytes=0-1023', 'bytes=1024-2047', 'bytes=2048-3071', 'bytes=3072-4095', 'bytes=4096-5119', 'bytes=5120-5419'].sort(),
      );
      const head = await admin.send(new HeadObjectCommand({ Bucket: sourceBucket, Key: object.key }));
      const conditions = clients.requests.map((r) => r.headers['x-amz-copy-source-if-match']).filter(Boolean);
      expect(conditions).toEqual(Array(6).fill(head.ETag));
    });

    it('uses one CopyObject for an object exactly at the threshold', async () => {
      // Prepare
      const bucket = await newBucket();
      const { object, body } = await putCentralObject(undefined, randomBytes(1024));
      const clients = testClientFactory(moto.settings);
      const sink = s3Sink(bucket, {}, { copyLimits: KIB_LIMITS, createClient: clients.create });
      // Act
      await deliver(sink, object);
      // Assess
      const copied = await readBack(admin, bucket, destinationKeyFor('ROSA/cluster-logs/', object));
      expect(copied.body.equals(body)).toBe(true);
      expect(clients.count('CopyObjectCommand')).toBe(1);
      expect(clients.count('CreateMultipartUploadCommand')).toBe(0);
    });

    it('aborts the upload when a part fails and reports the failure as retryable (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket();
      const { object } = await putCentralObject(undefined, randomBytes(5 * 1024));
      const clients = testClientFactory(moto.settings, {
        'us-east-1': [{ match: isUploadPartCopy(3), status: 500, code: 'InternalError' }],
      });
      const sink = s3Sink(bucket, {}, { copyLimits: KIB_LIMITS, createClient: clients.create });
      // Act
      const error = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: true, reason: 'http_500' });
      expect(clients.count('AbortMultipartUploadCommand')).toBe(1);
      expect(clients.count('CompleteMultipartUploadCommand')).toBe(0);
      const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      expect(uploads.Uploads ?? []).toEqual([]);
      await expect(
        admin.send(new HeadObjectCommand({ Bucket: bucket, Key: destinationKeyFor('ROSA/cluster-logs/', object) })),
      ).rejects.toMatchObject({ name: 'NotFound' });
    });

    it('still reports the part failure when aborting the upload fails too (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket();
      const { object } = await putCentralObject(undefined, randomBytes(3 * 1024));
      const clients = testClientFactory(moto.settings, {
        'us-east-1': [
          { match: isUploadPartCopy(2), status: 403, code: 'AccessDenied' },
          { match: (r) => r.method === 'DELETE', status: 500, code: 'InternalError' },
        ],
      });
      const sink = s3Sink(bucket, {}, { copyLimits: KIB_LIMITS, createClient: clients.create });
      // Act
      const error = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: false, reason: 'access_denied' });
      expect(clients.count('AbortMultipartUploadCommand')).toBe(1);
    });
  });

  describe('failures', () => {
    it('fails a copy to a bucket that does not exist with a non-retryable no_such_bucket', async () => {
      // Prepare
      const { object } = await putCentralObject();
      const sink = s3Sink(`missing-${randomId()}`);
      // Act
      const error = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: false, reason: 'no_such_bucket' });
    });

    it('fails with no_such_bucket when the copy itself finds no bucket (region given, no lookup)', async () => {
      // Prepare
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings);
      const sink = s3Sink(`missing-${randomId()}`, { target_region: 'us-east-1' }, { createClient: clients.create });
      // Act
      const error = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: false, reason: 'no_such_bucket' });
      expect(clients.count('HeadBucketCommand')).toBe(0);
      expect(clients.count('CopyObjectCommand')).toBe(1);
    });

    it('fails with a non-retryable source_missing when the central object is gone', async () => {
      // Prepare
      const bucket = await newBucket();
      const object = parseObjectKey(`cluster-${randomId()}/team-a/app/pod/gone.json.gz`) as LogObjectKey;
      const sink = s3Sink(bucket);
      // Act
      const error = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: false, reason: 'source_missing' });
    });

    it('fails with source_missing when the object vanishes between its HEAD and the copy (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket();
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings, {
        'us-east-1': [{ match: isCopyObject, status: 404, code: 'NoSuchKey' }],
      });
      const sink = s3Sink(bucket, {}, { createClient: clients.create });
      // Act
      const error = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: false, reason: 'source_missing' });
    });

    it.each<{ fault: Omit<S3Fault, 'match'>; retryable: boolean; reason: string }>([
      { fault: { status: 403, code: 'AccessDenied' }, retryable: false, reason: 'access_denied' },
      { fault: { status: 400, code: 'InvalidBucketName' }, retryable: false, reason: 'invalid_bucket_name' },
      { fault: { status: 403, code: 'KMS.AccessDeniedException' }, retryable: false, reason: 'kms_access_denied' },
      { fault: { status: 400, code: 'KMS.DisabledException' }, retryable: false, reason: 'kms_key_disabled' },
      { fault: { status: 400, code: 'KMS.NotFoundException' }, retryable: false, reason: 'kms_key_not_found' },
      { fault: { status: 503, code: 'SlowDown' }, retryable: true, reason: 'slow_down' },
      { fault: { status: 500, code: 'InternalError' }, retryable: true, reason: 'http_500' },
    ])('maps a CopyObject answer $fault.code to retryable=$retryable ($reason) (injected fault)', async ({ fault, retryable, reason }) => {
      // Prepare
      const bucket = await newBucket();
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings, { 'us-east-1': [{ match: isCopyObject, ...fault }] });
      const sink = s3Sink(bucket, { sse_kms_key_id: 'alias/tenant-logs' }, { createClient: clients.create });
      // Act
      const error = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable, reason });
    });

    it('fails with a retryable error when S3 cannot be reached, and remembers no region', async () => {
      // Prepare
      const bucket = await newBucket();
      const { object } = await putCentralObject();
      const unreachable = { ...moto.settings, endpoint: 'http://127.0.0.1:9' };
      const sink = createS3Sink(s3Config(bucket), { ...sinkDeps(), aws: { settings: unreachable, credentials: broker } }, {
        sourceBucket,
      });
      sinks.push(sink);
      // Act
      const first = await deliveryError(deliver(sink, object));
      const second = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: first.retryable, reason: first.reason }).toEqual({ retryable: true, reason: 'network_error' });
      expect(second.reason).toBe('network_error');
    });

    it('stops with AbortedError when the caller aborts', async () => {
      // Prepare
      const bucket = await newBucket();
      const { object } = await putCentralObject();
      const sink = s3Sink(bucket);
      const controller = new AbortController();
      controller.abort();
      // Act
      const outcome = deliver(sink, object, controller.signal);
      // Assess
      await expect(outcome).rejects.toBeInstanceOf(AbortedError);
    });
  });

  describe('destination region', () => {
    it('copies to a bucket in another region through a client of that region, looking the region up once', async () => {
      // Prepare
      const bucket = await newBucket(OTHER_REGION);
      const first = await putCentralObject();
      const second = await putCentralObject();
      const clients = testClientFactory(moto.settings);
      const sink = s3Sink(bucket, {}, { createClient: clients.create });
      // Act
      await deliver(sink, first.object);
      await deliver(sink, second.object);
      // Assess
      expect(clients.count('HeadBucketCommand') + clients.count('GetBucketLocationCommand')).toBe(1);
      expect(clients.count('CopyObjectCommand', OTHER_REGION)).toBe(2);
      expect(clients.count('CopyObjectCommand', 'us-east-1')).toBe(0);
      expect(clients.regionsCreated.sort()).toEqual([OTHER_REGION, 'us-east-1']);
      for (const { object, body } of [first, second]) {
        const copied = await readBack(adminEu, bucket, destinationKeyFor('ROSA/cluster-logs/', object));
        expect(copied.body.equals(body)).toBe(true);
      }
    });

    it('shares one lookup between copies that start together', async () => {
      // Prepare
      const bucket = await newBucket(OTHER_REGION);
      const objects = await Promise.all([putCentralObject(), putCentralObject(), putCentralObject()]);
      const clients = testClientFactory(moto.settings);
      const sink = s3Sink(bucket, {}, { createClient: clients.create });
      // Act
      await Promise.all(objects.map(({ object }) => deliver(sink, object)));
      // Assess
      expect(clients.count('HeadBucketCommand')).toBe(1);
      expect(clients.count('CopyObjectCommand', OTHER_REGION)).toBe(3);
    });

    it('takes the region from a denied HeadBucket answer that names it (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket(OTHER_REGION);
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings, {
        'us-east-1': [{ match: isHeadBucket, status: 403, headers: { 'x-amz-bucket-region': OTHER_REGION } }],
      });
      const sink = s3Sink(bucket, {}, { createClient: clients.create });
      // Act
      await deliver(sink, object);
      // Assess
      expect(clients.count('GetBucketLocationCommand')).toBe(0);
      expect(clients.count('CopyObjectCommand', OTHER_REGION)).toBe(1);
    });

    it('asks GetBucketLocation when HeadBucket is denied without naming the region (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket(OTHER_REGION);
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings, { 'us-east-1': [{ match: isHeadBucket, status: 403 }] });
      const sink = s3Sink(bucket, {}, { createClient: clients.create });
      // Act
      await deliver(sink, object);
      // Assess
      expect(clients.count('GetBucketLocationCommand')).toBe(1);
      expect(clients.count('CopyObjectCommand', OTHER_REGION)).toBe(1);
    });

    it('copies in the central region when S3 will not tell the region at all (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket();
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings, {
        'us-east-1': [
          { match: isHeadBucket, status: 403 },
          { match: isGetBucketLocation, status: 403, code: 'AccessDenied' },
        ],
      });
      const sink = s3Sink(bucket, {}, { createClient: clients.create });
      // Act
      await deliver(sink, object);
      // Assess
      expect(clients.count('CopyObjectCommand', 'us-east-1')).toBe(1);
    });

    it('fails retryably when the region lookup gets a server error, and looks up again next time (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket(OTHER_REGION);
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings, { 'us-east-1': [{ match: isHeadBucket, status: 503 }] });
      const sink = s3Sink(bucket, {}, { createClient: clients.create });
      // Act
      const error = await deliveryError(deliver(sink, object));
      await deliver(sink, object);
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: true, reason: 'http_503' });
      expect(clients.count('HeadBucketCommand')).toBe(2);
      expect(clients.count('CopyObjectCommand', OTHER_REGION)).toBe(1);
    });

    it('follows a wrong-region answer to the region S3 names and remembers it (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket(OTHER_REGION);
      const first = await putCentralObject();
      const second = await putCentralObject();
      const clients = testClientFactory(moto.settings, {
        'us-east-1': [
          { match: isCopyObject, status: 301, code: 'PermanentRedirect', headers: { 'x-amz-bucket-region': OTHER_REGION } },
        ],
      });
      // The config says us-east-1: a stale region, as after the tenant moved the bucket.
      const sink = s3Sink(bucket, { target_region: 'us-east-1' }, { createClient: clients.create });
      // Act
      await deliver(sink, first.object);
      await deliver(sink, second.object);
      // Assess
      expect(clients.count('CopyObjectCommand', 'us-east-1')).toBe(1);
      expect(clients.count('CopyObjectCommand', OTHER_REGION)).toBe(2);
      expect(clients.count('HeadBucketCommand')).toBe(0);
      const copied = await readBack(adminEu, bucket, destinationKeyFor('ROSA/cluster-logs/', second.object));
      expect(copied.body.equals(second.body)).toBe(true);
    });

    it('fails retryably on a wrong-region answer that names no region, then looks the region up (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket(OTHER_REGION);
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings, {
        'us-east-1': [{ match: isCopyObject, status: 301, code: 'PermanentRedirect' }],
      });
      const sink = s3Sink(bucket, { target_region: 'us-east-1' }, { createClient: clients.create });
      // Act
      const error = await deliveryError(deliver(sink, object));
      await deliver(sink, object);
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: true, reason: 'wrong_region' });
      expect(clients.count('HeadBucketCommand')).toBe(1);
      expect(clients.count('CopyObjectCommand', OTHER_REGION)).toBe(1);
    });

    it('reports the second failure when the copy fails again in the region S3 named (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket(OTHER_REGION);
      const { object } = await putCentralObject();
      const clients = testClientFactory(moto.settings, {
        'us-east-1': [
          { match: isCopyObject, status: 301, code: 'PermanentRedirect', headers: { 'x-amz-bucket-region': OTHER_REGION } },
        ],
        [OTHER_REGION]: [{ match: isCopyObject, status: 403, code: 'AccessDenied' }],
      });
      const sink = s3Sink(bucket, { target_region: 'us-east-1' }, { createClient: clients.create });
      // Act
      const error = await deliveryError(deliver(sink, object));
      // Assess
      expect({ retryable: error.retryable, reason: error.reason }).toEqual({ retryable: false, reason: 'access_denied' });
    });
  });

  describe('through the processor', () => {
    /** The central bucket as the processor's object store (only `get` is used). */
    function centralStore(): ObjectStore {
      return {
        async get(key) {
          try {
            const answer = await admin.send(new GetObjectCommand({ Bucket: sourceBucket, Key: key }));
            return {
              body: answer.Body as Readable,
              info: { key, size: answer.ContentLength ?? 0, lastModifiedMs: answer.LastModified?.getTime() ?? 0 },
            };
          } catch (error) {
            if ((error as { name?: string }).name === 'NoSuchKey') throw new ObjectNotFoundError(key);
            throw error;
          }
        },
        head: () => Promise.reject(new Error('not used')),
        put: () => Promise.reject(new Error('not used')),
        list: () => {
          throw new Error('not used');
        },
      };
    }

    async function processorHarness(faults: Record<string, S3Fault[]>) {
      const dir = await makeTempDir('tlr-s3-sink-');
      const db = openDatabase(join(dir, 'tlr.db'));
      const registry = new Registry();
      const clients = testClientFactory(moto.settings, faults);
      const configs = createSqliteConfigStore(db);
      const checkpoints = createSqliteCheckpointStore(db);
      const queue = createSqliteQueue(db);
      const resolver = createTenantDestinationResolver({
        store: configs,
        sinks: createSinkRegistry([createS3SinkDefinition({ sourceBucket, createClient: clients.create })]),
        sinkDeps: sinkDeps(),
        logger: silentLogger,
        registry,
      });
      const processor = createProcessor({
        objectStore: centralStore(),
        resolver,
        checkpoints,
        deadLetters: createSqliteDeadLetterStore(db),
        queue,
        logger: silentLogger,
        registry,
      });
      const close = async () => {
        await resolver.close();
        queue.close();
        db.close();
      };
      return { processor, configs, queue, clients, close };
    }

    it('copies again on the delayed retry after a failed copy, and not again once the checkpoint is done (injected fault)', async () => {
      // Prepare
      const bucket = await newBucket();
      const tenant = `team-${randomId()}`;
      const { key, object, body } = await putCentralObject(
        `cluster-${randomId()}/${tenant}/kube-apiserver/pod-1/20240115-103000-u.json.gz`,
        gzipObject(Array.from({ length: 30 }, (_, seq) => logEventFactory({ seq }))),
      );
      const h = await processorHarness({ 'us-east-1': [{ match: isCopyObject, status: 500, code: 'InternalError' }] });
      try {
        await h.configs.put({
          tenant_id: tenant,
          type: 's3',
          bucket_name: bucket,
          retry: { maxAttempts: 1 },
        } as unknown as DeliveryConfig);
        // Act
        const failed = await h.processor.processItem({ key, attempt: 0 }, signal());
        const retried = await h.processor.processItem({ key, attempt: 1, destinations: ['s3'] }, signal());
        const redelivered = await h.processor.processItem({ key, attempt: 0 }, signal());
        // Assess
        expect(failed.destinations).toEqual([
          expect.objectContaining({ type: 's3', status: DestinationStatus.RETRY_SCHEDULED, reason: 'http_500' }),
        ]);
        expect((await h.queue.stats()).delayed).toBe(1);
        expect(retried.destinations).toEqual([
          expect.objectContaining({ type: 's3', status: DestinationStatus.DELIVERED, delivered: 30 }),
        ]);
        expect(redelivered.destinations).toEqual([
          expect.objectContaining({ type: 's3', status: DestinationStatus.ALREADY_DONE }),
        ]);
        expect(h.clients.count('CopyObjectCommand')).toBe(2);
        const copied = await readBack(admin, bucket, destinationKeyFor('ROSA/cluster-logs/', object));
        expect(copied.body.equals(body)).toBe(true);
      } finally {
        await h.close();
      }
    });

    it('dead-letters the object for the s3 destination when the tenant bucket does not exist', async () => {
      // Prepare
      const tenant = `team-${randomId()}`;
      const { key } = await putCentralObject(`cluster-${randomId()}/${tenant}/app/pod-1/20240115-103000-u.json.gz`);
      const h = await processorHarness({});
      try {
        await h.configs.put({ tenant_id: tenant, type: 's3', bucket_name: `missing-${randomId()}` } as unknown as DeliveryConfig);
        // Act
        const outcome = await h.processor.processItem({ key, attempt: 0 }, signal());
        // Assess
        expect(outcome.destinations).toEqual([
          expect.objectContaining({ type: 's3', status: DestinationStatus.DEAD_LETTERED, reason: 'no_such_bucket' }),
        ]);
        expect(h.clients.count('CopyObjectCommand')).toBe(0);
      } finally {
        await h.close();
      }
    });
  });
});
