import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../src/aws/index.js';
import {
  decodeSubscriptionData,
  type FirehoseTransformationResult,
  type IngestSummary,
} from '../../src/ingest/cloudwatch/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { parseNotification } from '../../src/pipeline/notification.js';
import { type CloudwatchLambda, createCloudwatchLambda } from '../../src/runtimes/lambda-cloudwatch.js';
import { firehoseEvent } from '../helpers/cloudwatch-logs.js';
import { randomId } from '../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../helpers/moto.js';

/** Microseconds appended to the milliseconds of the klog times below. */
const MICROS = '123';

/** A klog header for a time, as kube-apiserver writes it (no year, microseconds). */
function klogHeader(letter: string, ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${letter}${iso.slice(5, 7)}${iso.slice(8, 10)} ${iso.slice(11, 23)}${MICROS}      10 handler.go:153]`;
}

describe.skipIf(motoUnavailable)('the CloudWatch Lambda against moto: subscription filter → Kinesis → handler → S3 + SQS', () => {
  let moto: MotoServer;
  let logs: CloudWatchLogsClient;
  let kinesis: KinesisClient;
  let s3: S3Client;
  let sqs: SQSClient;
  const lambdas: CloudwatchLambda[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    logs = new CloudWatchLogsClient(awsClientConfig(moto.settings));
    // Kinesis defaults to HTTP/2, which moto rejects; awsClientConfig gives an HTTP/1.1 handler.
    kinesis = new KinesisClient(awsClientConfig(moto.settings));
    s3 = new S3Client(awsClientConfig(moto.settings, { s3: true }));
    sqs = new SQSClient(awsClientConfig(moto.settings));
  });

  afterEach(() => {
    for (const lambda of lambdas.splice(0)) lambda.close();
  });

  afterAll(async () => {
    for (const client of [logs, kinesis, s3, sqs]) client?.destroy();
    await moto?.stop();
  });

  /** A subscription filter from an EKS-named log group to a Kinesis stream, and the first shard's iterator. */
  async function subscribedLogGroup(cluster: string, logStream: string): Promise<{ logGroup: string; iterator: string }> {
    const logGroup = `/aws/eks/${cluster}/cluster`;
    const streamName = `cwl-${randomId()}`;
    await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
    const { StreamDescription } = await kinesis.send(new DescribeStreamCommand({ StreamName: streamName }));
    await logs.send(new CreateLogGroupCommand({ logGroupName: logGroup }));
    await logs.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName: logStream }));
    await logs.send(
      new PutSubscriptionFilterCommand({
        logGroupName: logGroup,
        filterName: 'to-kinesis',
        filterPattern: '',
        destinationArn: StreamDescription!.StreamARN!,
        roleArn: 'arn:aws:iam::123456789012:role/cwl-to-kinesis',
      }),
    );
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: StreamDescription!.Shards![0]!.ShardId!,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    return { logGroup, iterator: ShardIterator! };
  }

  /** Central bucket and queue, and a handler built from the environment pointing at them. */
  async function deployment(tenant: string, extraEnv: Record<string, string> = {}) {
    const bucket = `central-${randomId()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `tlr-${randomId()}` }));
    const lambda = createCloudwatchLambda(
      {
        EKS_TENANT: tenant,
        SOURCE_BUCKET: bucket,
        SQS_QUEUE_URL: QueueUrl!,
        AWS_REGION: moto.settings.region,
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_S3_USE_PATH_STYLE: 'true',
        ...extraEnv,
      },
      { logger: silentLogger },
    );
    lambdas.push(lambda);
    return { bucket, queueUrl: QueueUrl!, lambda };
  }

  async function objectLines(bucket: string, key: string): Promise<Record<string, unknown>[]> {
    const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return gunzipSync(await Body!.transformToByteArray())
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async function keys(bucket: string): Promise<string[]> {
    const { Contents } = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (Contents ?? []).map((c) => c.Key!).sort();
  }

  async function forwardedRecord(logStream: string, messages: string[], atMs: number) {
    const cluster = `eks-${randomId()}`;
    const { logGroup, iterator } = await subscribedLogGroup(cluster, logStream);
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: logGroup,
        logStreamName: logStream,
        logEvents: messages.map((message, i) => ({ timestamp: atMs + i, message })),
      }),
    );
    const { Records } = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
    return { cluster, logGroup, records: Records ?? [] };
  }

  it('delivers a real DATA_MESSAGE that the handler writes to the central bucket and notifies on SQS', async () => {
    // Prepare
    const tenant = `acme-${randomId()}`;
    const logStream = `kube-apiserver-${randomId()}`;
    const atMs = Date.now() - 60_000;
    const lines = [
      `${klogHeader('I', atMs)} "HTTP" verb="GET" URI="/readyz" latency="1.2ms" resp=200`,
      `${klogHeader('W', atMs + 1)} Slow request took 1.5s`,
    ];
    const { cluster, logGroup, records } = await forwardedRecord(logStream, lines, atMs);
    const { bucket, queueUrl, lambda } = await deployment(tenant, { ANALYTICS_PREFIX: '_analytics/eks/' });

    // Act
    expect(records).toHaveLength(1);
    const payload = await decodeSubscriptionData(records[0]!.Data!, { maxBytes: 1024 * 1024 });
    const summary = (await lambda.handle({ awslogs: { data: Buffer.from(records[0]!.Data!).toString('base64') } })) as IngestSummary;

    // Assess
    expect(payload).toMatchObject({ messageType: 'DATA_MESSAGE', logGroup, logStream, subscriptionFilters: ['to-kinesis'] });
    expect(summary).toMatchObject({ dataMessages: 1, controlMessages: 0, refusedMessages: 0, events: 2 });
    const [centralKey] = summary.centralKeys;
    expect(centralKey).toMatch(new RegExp(`^${cluster}/${tenant}/kube-apiserver/${logStream}/\\d{8}-\\d{6}-[0-9a-f-]{36}\\.json\\.gz$`));
    expect(await keys(bucket)).toEqual([...summary.analyticsKeys, centralKey].sort());
    const central = await objectLines(bucket, centralKey!);
    expect(central).toMatchObject([
      { message: lines[0], cluster_id: cluster, namespace: tenant, application: 'kube-apiserver', pod_name: logStream, level: 'info' },
      { message: lines[1], level: 'warning', msg: 'Slow request took 1.5s' },
    ]);
    expect(central[0]!['fields']).toEqual({ verb: 'GET', URI: '/readyz', latency: '1.2ms', resp: '200' });
    expect(central[0]!['timestamp']).toBe(`${new Date(atMs).toISOString().slice(0, 23)}${MICROS}Z`);
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    expect((Messages ?? []).map((m) => parseNotification(m.Body!).items)).toEqual([[{ key: centralKey, attempt: 0 }]]);
    const analytics = await objectLines(bucket, summary.analyticsKeys[0]!);
    expect(summary.analyticsKeys[0]).toMatch(/^_analytics\/eks\/component=kube-apiserver\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\//);
    expect(analytics.map((r) => r['message'])).toEqual(['HTTP', 'Slow request took 1.5s']);
  });

  it('transforms the same real payload as a Firehose record and writes it centrally', async () => {
    // Prepare
    const tenant = `acme-${randomId()}`;
    const logStream = `authenticator-${randomId()}`;
    const line = 'time="2026-05-22T12:34:56Z" level=info msg="access granted" arn="arn:aws:iam::123456789012:role/admin"';
    const { records } = await forwardedRecord(logStream, [line], Date.now() - 60_000);
    const { bucket, lambda } = await deployment(tenant);
    const event = firehoseEvent([Buffer.from(records[0]!.Data!).toString('base64')]);

    // Act
    const response = (await lambda.handle(event)) as FirehoseTransformationResult;

    // Assess
    expect(response.records.map((r) => [r.recordId, r.result])).toEqual([[event.records[0]!.recordId, 'Ok']]);
    const row = JSON.parse(Buffer.from(response.records[0]!.data, 'base64').toString('utf8')) as Record<string, unknown>;
    expect(row).toMatchObject({ format: 'logfmt', level: 'info', tenant, fields: { msg: 'access granted' } });
    expect((await keys(bucket)).filter((k) => k.includes('/authenticator/'))).toHaveLength(1);
  });

  it('fails the invocation with every problem named when the environment is incomplete', () => {
    expect(() => createCloudwatchLambda({ EKS_TENANT: 'acme' }, { logger: silentLogger })).toThrow(
      "Invalid environment: 'SOURCE_BUCKET' is required (the central bucket objects are written to); " +
        "'SQS_QUEUE_URL' is required (the queue the processor reads).",
    );
  });
});
