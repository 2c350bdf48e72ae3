import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { type AttributeValue, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, type Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../src/aws/index.js';
import {
  decodeSubscriptionData,
  type FirehoseTransformationResult,
  type IngestSummary,
} from '../../src/ingest/cloudwatch/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { parseNotification } from '../../src/pipeline/notification.js';
import { awsRuntimeConfigFromEnv } from '../../src/runtimes/aws-env.js';
import { type AwsRouter, createAwsRouter } from '../../src/runtimes/aws-router.js';
import { type CloudwatchLambda, createCloudwatchLambda } from '../../src/runtimes/lambda-cloudwatch.js';
import { createRouterTables, defaultRouterTableNames } from '../../src/stores/aws/dynamodb-tables.js';
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
  let dynamo: DynamoDBClient;
  const lambdas: CloudwatchLambda[] = [];
  const routers: AwsRouter[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    logs = new CloudWatchLogsClient(awsClientConfig(moto.settings));
    // Kinesis defaults to HTTP/2, which moto rejects; awsClientConfig gives an HTTP/1.1 handler.
    kinesis = new KinesisClient(awsClientConfig(moto.settings));
    s3 = new S3Client(awsClientConfig(moto.settings, { s3: true }));
    sqs = new SQSClient(awsClientConfig(moto.settings));
    dynamo = new DynamoDBClient(awsClientConfig(moto.settings));
  });

  afterEach(async () => {
    for (const lambda of lambdas.splice(0)) lambda.close();
    for (const router of routers.splice(0)) await router.close();
  });

  afterAll(async () => {
    for (const client of [logs, kinesis, s3, sqs, dynamo]) client?.destroy();
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

  /** Puts messages into log streams of one subscribed EKS log group; every record the subscription sent to Kinesis. */
  async function forwardedRecords(messagesByStream: Record<string, string[]>, atMs: number) {
    const cluster = `eks-${randomId()}`;
    const [first, ...others] = Object.keys(messagesByStream);
    const { logGroup, iterator } = await subscribedLogGroup(cluster, first!);
    for (const logStream of others) {
      await logs.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName: logStream }));
    }
    for (const [logStream, messages] of Object.entries(messagesByStream)) {
      await logs.send(
        new PutLogEventsCommand({
          logGroupName: logGroup,
          logStreamName: logStream,
          logEvents: messages.map((message, i) => ({ timestamp: atMs + i, message })),
        }),
      );
    }
    const { Records } = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
    return { cluster, logGroup, records: Records ?? [] };
  }

  async function forwardedRecord(logStream: string, messages: string[], atMs: number) {
    return forwardedRecords({ [logStream]: messages }, atMs);
  }

  /** The router's tables holding one delivery-config row, and a router on them reading `queueUrl` and `bucket`. */
  async function router(row: Record<string, AttributeValue>, queueUrl: string, bucket: string): Promise<AwsRouter> {
    const tables = defaultRouterTableNames(`configs-${randomId()}`);
    await createRouterTables(dynamo, tables);
    await dynamo.send(new PutItemCommand({ TableName: tables.configs, Item: row }));
    const env = {
      AWS_REGION: moto.settings.region,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_S3_USE_PATH_STYLE: 'true',
      TENANT_CONFIG_TABLE: tables.configs,
      SQS_QUEUE_URL: queueUrl,
      SOURCE_BUCKET: bucket,
    };
    const created = createAwsRouter(awsRuntimeConfigFromEnv('sqs', env), { logger: silentLogger, registry: new Registry() });
    routers.push(created);
    return created;
  }

  /** Receives until `count` messages arrived (or 10 s passed). */
  async function receiveAll(queueUrl: string, count: number): Promise<Message[]> {
    const received: Message[] = [];
    const deadline = Date.now() + 10_000;
    while (received.length < count && Date.now() < deadline) {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      received.push(...(Messages ?? []));
    }
    return received;
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

  it("delivers the subscription's lines through the processor to the EKS tenant's s3 destination, klog and audit parsed", async () => {
    // Prepare
    const tenant = `acme-${randomId()}`;
    const apiStream = `kube-apiserver-${randomId()}`;
    const auditStream = `kube-apiserver-audit-${randomId()}`;
    const atMs = Date.now() - 60_000;
    const klogLines = [
      `${klogHeader('I', atMs)} "HTTP" verb="LIST" URI="/api/v1/pods?limit=500" latency="3.4ms" resp=200`,
      `${klogHeader('E', atMs + 1)} "Unhandled Error" err="etcd request timed out"`,
    ];
    const auditId = randomUUID();
    const auditLine = JSON.stringify({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: auditId,
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/team-a/secrets/db',
      verb: 'get',
      user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      sourceIPs: ['10.0.12.7'],
      userAgent: 'kubectl/v1.31.0',
      objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 200 },
      requestReceivedTimestamp: '2026-05-22T12:34:56.123456Z',
      stageTimestamp: '2026-05-22T12:34:56.130000Z',
      annotations: { 'authorization.k8s.io/decision': 'allow' },
    });
    const { cluster, records } = await forwardedRecords({ [apiStream]: klogLines, [auditStream]: [auditLine] }, atMs);
    const { bucket, queueUrl, lambda } = await deployment(tenant);
    const centralKeys: string[] = [];
    for (const record of records) {
      const summary = (await lambda.handle({ awslogs: { data: Buffer.from(record.Data!).toString('base64') } })) as IngestSummary;
      centralKeys.push(...summary.centralKeys);
    }
    const destination = `eks-dest-${randomId()}`;
    await s3.send(new CreateBucketCommand({ Bucket: destination }));
    const processor = await router(
      { tenant_id: { S: tenant }, type: { S: 's3' }, bucket_name: { S: destination }, bucket_prefix: { S: 'eks' } },
      queueUrl,
      bucket,
    );
    const messages = await receiveAll(queueUrl, centralKeys.length);

    // Act
    const settled = await processor.processor.processMessages(messages.map((m) => m.Body!), new AbortController().signal);

    // Assess
    expect(records).toHaveLength(2);
    expect(centralKeys).toHaveLength(2);
    expect(messages).toHaveLength(2);
    const items = settled.map((s) => (s.status === 'fulfilled' ? s.value.items : s.reason as unknown)).flat();
    expect(items).toEqual(
      centralKeys.map(() =>
        expect.objectContaining({ tenantId: tenant, result: 'completed', destinations: [expect.objectContaining({ type: 's3', status: 'delivered' })] }),
      ),
    );
    // The tenant's copies: the central keys without the cluster segment, under its prefix.
    const copies = centralKeys.map((k) => `eks/${k.split('/').slice(1).join('/')}`).sort();
    expect(await keys(destination)).toEqual(copies);
    const [apiCopy, auditCopy] = [copies.find((k) => k.includes(`/${apiStream}/`))!, copies.find((k) => k.includes(`/${auditStream}/`))!];
    const api = await objectLines(destination, apiCopy);
    const audit = await objectLines(destination, auditCopy);
    expect([...api, ...audit].map((e) => e['message'])).toEqual([...klogLines, auditLine]);
    const origin = { cluster_id: cluster, namespace: tenant };
    expect(api).toMatchObject([
      { ...origin, application: 'kube-apiserver', pod_name: apiStream, format: 'klog', level: 'info', msg: 'HTTP' },
      { ...origin, application: 'kube-apiserver', pod_name: apiStream, format: 'klog', level: 'error', msg: 'Unhandled Error' },
    ]);
    expect(api.map((e) => e['fields'])).toEqual([
      { verb: 'LIST', URI: '/api/v1/pods?limit=500', latency: '3.4ms', resp: '200' },
      { err: 'etcd request timed out' },
    ]);
    expect(audit).toMatchObject([{ ...origin, application: 'kube-apiserver-audit', pod_name: auditStream, format: 'audit' }]);
    expect(audit[0]!['audit']).toEqual({
      audit_id: auditId,
      stage: 'ResponseComplete',
      verb: 'get',
      request_uri: '/api/v1/namespaces/team-a/secrets/db',
      user_username: 'kubernetes-admin',
      user_groups: ['system:masters', 'system:authenticated'],
      user_agent: 'kubectl/v1.31.0',
      source_ips: ['10.0.12.7'],
      object_resource: 'secrets',
      object_namespace: 'team-a',
      object_name: 'db',
      object_api_version: 'v1',
      response_code: 200,
      request_received_timestamp: '2026-05-22T12:34:56.123456Z',
      stage_timestamp: '2026-05-22T12:34:56.130000Z',
      annotations: '{"authorization.k8s.io/decision":"allow"}',
    });
  });

  it('fails the invocation with every problem named when the environment is incomplete', () => {
    expect(() => createCloudwatchLambda({ EKS_TENANT: 'acme' }, { logger: silentLogger })).toThrow(
      "Invalid environment: 'SOURCE_BUCKET' is required (the central bucket objects are written to); " +
        "'SQS_QUEUE_URL' is required (the queue the processor reads).",
    );
  });
});
