import { CreateDeliveryStreamCommand, FirehoseClient } from '@aws-sdk/client-firehose';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  awsClientConfig,
  type AwsSettings,
  createCredentialBroker,
  type CredentialBroker,
} from '../../../src/aws/index.js';
import { sendWithRetry } from '../../../src/delivery/index.js';
import {
  DeliveryError,
  type LogObjectKey,
  type LogRecord,
  parseObjectKey,
  validateDeliveryConfig,
} from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { createFirehoseSink, type FirehosePayload, firehoseSinkDefinition } from '../../../src/sinks/firehose/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import type { Batch, Sink } from '../../../src/sinks/types.js';
import {
  type AwsRequestProxy,
  awsJsonErrorFault,
  firehosePartialFailure,
  PUT_RECORD_BATCH_TARGET,
  startAwsRequestProxy,
} from '../../helpers/aws-request-proxy.js';
import {
  deliveryConfigFactory,
  logRecordsFactory,
  ndjsonOfRecords,
  objectKeyFactory,
  randomId,
  sortedLines,
} from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { caught } from '../../helpers/rejection.js';

const CENTRAL_ROLE_ARN = 'arn:aws:iam::111111111111:role/tlr-central';
const TENANT_ACCOUNT = '222222222222';
const lookup = createSinkRegistry([firehoseSinkDefinition]).lookup;






describe.skipIf(motoUnavailable)('firehose sink against moto', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  /** The router's settings: every AWS request goes through the proxy to moto. */
  let settings: AwsSettings;
  let broker: CredentialBroker;
  /** Sets up and reads the tenant's Firehose stream and bucket directly in moto. */
  let setupBroker: CredentialBroker;
  const sinks: Sink[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    proxy = await startAwsRequestProxy(moto.endpoint);
    settings = { ...moto.settings, endpoint: proxy.endpoint };
    broker = createCredentialBroker({ settings, centralRoleArn: CENTRAL_ROLE_ARN });
    setupBroker = createCredentialBroker({ settings: moto.settings, centralRoleArn: CENTRAL_ROLE_ARN });
  });
  afterAll(async () => {
    await proxy?.close();
    await moto?.stop();
  });
  beforeEach(() => {
    proxy.clearFaults();
    proxy.putRecordBatches.length = 0;
    proxy.violations.length = 0;
  });
  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => s.close()));
    // Every PutRecordBatch request must respect the Firehose limits, which moto does not enforce.
    expect(proxy.violations).toEqual([]);
  });

  function tenantCredentials(roleArn: string) {
    return setupBroker.forTenant({ roleArn, tenantId: 'setup', region: moto.settings.region });
  }

  /**
   * A Firehose stream in the tenant's account delivering to a new bucket there (moto writes
   * one object per PutRecordBatch, with no buffering).
   */
  async function createDeliveryStream(roleArn: string): Promise<{ name: string; bucket: string }> {
    const name = `logs-${randomId()}`;
    const bucket = `firehose-${randomId()}`;
    const credentials = tenantCredentials(roleArn);
    const s3 = new S3Client(awsClientConfig(moto.settings, { credentials, s3: true }));
    const firehose = new FirehoseClient(awsClientConfig(moto.settings, { credentials }));
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await firehose.send(
        new CreateDeliveryStreamCommand({
          DeliveryStreamName: name,
          DeliveryStreamType: 'DirectPut',
          S3DestinationConfiguration: {
            RoleARN: `arn:aws:iam::${TENANT_ACCOUNT}:role/firehose-delivery`,
            BucketARN: `arn:aws:s3:::${bucket}`,
            Prefix: 'logs/',
          },
        }),
      );
    } finally {
      s3.destroy();
      firehose.destroy();
    }
    return { name, bucket };
  }

  /** The content of every object Firehose wrote to the bucket, one string per object. */
  async function readObjects(roleArn: string, bucket: string): Promise<string[]> {
    const s3 = new S3Client(awsClientConfig(moto.settings, { credentials: tenantCredentials(roleArn), s3: true }));
    try {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'logs/' }));
      const bodies: string[] = [];
      for (const object of listed.Contents ?? []) {
        const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key! }));
        bodies.push(await got.Body!.transformToString('utf8'));
      }
      return bodies;
    } finally {
      s3.destroy();
    }
  }

  function firehoseSink(fields: Record<string, unknown>): Sink<FirehosePayload> {
    const config = deliveryConfigFactory({
      type: 'firehose',
      directory: undefined,
      retry: { initialIntervalMs: 1, maxIntervalMs: 5, maxAttempts: 3 },
      ...fields,
    });
    const sink = createFirehoseSink(validateDeliveryConfig(config, lookup), {
      baseDir: '.',
      logger: silentLogger,
      registry: new Registry(),
      aws: { settings, credentials: broker },
    });
    sinks.push(sink);
    return sink;
  }

  function logObject(): LogObjectKey {
    return parseObjectKey(objectKeyFactory()) as LogObjectKey;
  }

  function plan(sink: Sink<FirehosePayload>, records: readonly LogRecord[]): Batch<FirehosePayload>[] {
    const planner = sink.createPlanner(logObject());
    return [...records.flatMap((r) => planner.add(r)), ...planner.flush()];
  }

  async function deliver(sink: Sink<FirehosePayload>, records: readonly LogRecord[]) {
    const batches = plan(sink, records);
    for (const batch of batches) {
      await sendWithRetry((b, s) => sink.send(b, s), batch, sink.retry, new AbortController().signal);
    }
    return batches;
  }

  it("delivers a tenant's lines through the role chain into its Firehose stream's S3 objects, as NDJSON exactly", async () => {
    // Prepare
    const roleArn = `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`;
    const { name, bucket } = await createDeliveryStream(roleArn);
    const sink = firehoseSink({ log_distribution_role_arn: roleArn, delivery_stream_name: name });
    const records = logRecordsFactory(60);

    // Act
    const batches = await deliver(sink, records);

    // Assess
    expect(batches.map((b) => [b.firstOffset, b.lastOffset, b.count])).toEqual([[0, 59, 60]]);
    expect(await readObjects(roleArn, bucket)).toEqual([ndjsonOfRecords(records)]);
  });

  it('packs lines into records of max_record_bytes and requests of max_request_bytes, every line delivered once', async () => {
    // Prepare
    const roleArn = `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`;
    const { name, bucket } = await createDeliveryStream(roleArn);
    const sink = firehoseSink({
      log_distribution_role_arn: roleArn,
      delivery_stream_name: name,
      max_record_bytes: 2_048,
      max_request_bytes: 16_384,
    });
    const records = logRecordsFactory(600, 100);

    // Act
    await deliver(sink, records);

    // Assess
    expect(proxy.putRecordBatches.length).toBeGreaterThan(3);
    for (const request of proxy.putRecordBatches) {
      expect(Math.max(...request.records.map((r) => r.dataBytes))).toBeLessThanOrEqual(2_048);
      expect(request.records.reduce((n, r) => n + r.dataBytes, 0)).toBeLessThanOrEqual(16_384);
      expect(request.records.every((r) => r.data.endsWith('\n'))).toBe(true);
    }
    const objects = await readObjects(roleArn, bucket);
    expect(objects).toHaveLength(proxy.putRecordBatches.length);
    expect(sortedLines(objects.join(''))).toEqual(sortedLines(ndjsonOfRecords(records)));
    // Each object is whole NDJSON: records end with a newline, so concatenation keeps lines apart.
    expect(objects.every((o) => o.endsWith('\n'))).toBe(true);
  });

  it('sends again only the records FailedPutCount reported, ending with each line once (injected by the proxy)', async () => {
    // Prepare: six records in one request; the first answer refuses two of them.
    const roleArn = `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`;
    const { name, bucket } = await createDeliveryStream(roleArn);
    const sink = firehoseSink({ log_distribution_role_arn: roleArn, delivery_stream_name: name, max_record_bytes: 2_048 });
    const records = logRecordsFactory(6, 1_500);
    proxy.rewrite(firehosePartialFailure((i) => (i === 2 || i === 5 ? 'ServiceUnavailableException' : undefined)));

    // Act
    const batches = await deliver(sink, records);

    // Assess
    expect(batches).toHaveLength(1);
    expect(proxy.putRecordBatches.map((r) => r.records.length)).toEqual([6, 2]);
    expect(proxy.putRecordBatches[1]!.records.map((r) => r.data)).toEqual([records[2], records[5]].map((r) => `${r!.json}\n`));
    const objects = await readObjects(roleArn, bucket);
    expect(objects).toHaveLength(2);
    expect(sortedLines(objects.join(''))).toEqual(sortedLines(ndjsonOfRecords(records)));
  });

  it('fails with a permanent resource_not_found when the Firehose stream does not exist', async () => {
    // Prepare
    const sink = firehoseSink({
      log_distribution_role_arn: `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`,
      delivery_stream_name: `missing-${randomId()}`,
    });
    const [batch] = plan(sink, logRecordsFactory(2));

    // Act
    const error = await caught(sendWithRetry((b, s) => sink.send(b, s), batch!, sink.retry, new AbortController().signal));

    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect([(error as DeliveryError).retryable, (error as DeliveryError).reason]).toEqual([false, 'resource_not_found']);
    expect(proxy.putRecordBatches).toHaveLength(1);
  });

  it.each([
    { name: 'InvalidKMSResourceException', status: 400, retryable: false, reason: 'kms_invalid_resource' },
    { name: 'InvalidSourceException', status: 400, retryable: false, reason: 'invalid_source' },
    { name: 'AccessDeniedException', status: 400, retryable: false, reason: 'access_denied' },
    { name: 'ServiceUnavailableException', status: 503, retryable: true, reason: 'throttled' },
  ])('fails a PutRecordBatch answered $name with retryable=$retryable (injected by the proxy)', async ({ name, status, retryable, reason }) => {
    // Prepare
    const roleArn = `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`;
    const stream = await createDeliveryStream(roleArn);
    const sink = firehoseSink({ log_distribution_role_arn: roleArn, delivery_stream_name: stream.name });
    proxy.inject(awsJsonErrorFault(PUT_RECORD_BATCH_TARGET, name, status));
    const [batch] = plan(sink, logRecordsFactory(1));

    // Act
    const error = await caught(sink.send(batch!, new AbortController().signal));

    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect([(error as DeliveryError).retryable, (error as DeliveryError).reason]).toEqual([retryable, reason]);
  });
});
