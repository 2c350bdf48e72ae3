import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CloudWatchLogsClient, GetLogEventsCommand, DescribeLogStreamsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { type AttributeValue, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../src/aws/index.js';
import { createLogGenerator, type GeneratedEvent } from '../../src/demo/log-generator.js';
import { messageText, toLogRecord } from '../../src/domain/index.js';
import { createRouterTables, defaultRouterTableNames } from '../../src/stores/aws/dynamodb-tables.js';
import { type AwsRequestProxy, startAwsRequestProxy } from '../helpers/aws-request-proxy.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../helpers/moto.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CENTRAL_ROLE = 'arn:aws:iam::222222222222:role/CentralLogDistribution';
const customerRole = (tenant: string) => `arn:aws:iam::111111111111:role/CustomerLogDistribution-${tenant}`;

interface World {
  moto: MotoServer;
  proxy: AwsRequestProxy;
  s3: S3Client;
  sqs: SQSClient;
  id: string;
  central: string;
  acmeBucket: string;
  queueUrl: string;
  env: Record<string, string>;
}

function runTlr(args: string[], env: Record<string, string>, stdin?: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'tlr.js'), ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.stdin.end(stdin ?? '');
    child.on('exit', (code) => resolve({ code, output }));
  });
}

async function putLogObject(w: World, tenant: string, application: string, events: GeneratedEvent[]): Promise<string> {
  const key = `c1/${tenant}/${application}/${application}-0/20260101-100000-${randomUUID()}.json.gz`;
  const body = gzipSync(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  await w.s3.send(new PutObjectCommand({ Bucket: w.central, Key: key, Body: body }));
  return key;
}

function eventsFor(tenant: string, application: string, count: number, seed: number): GeneratedEvent[] {
  return createLogGenerator({
    seed,
    clusterId: 'c1',
    tenants: [{ namespace: tenant, applications: [application], podsPerApplication: 1 }],
    startMs: Date.now() - 3_600_000,
  }).take(count);
}

/** Log groups live in the tenant's account: read them back with the tenant role's credentials. */
async function tenantLogsClient(w: World, tenant: string): Promise<CloudWatchLogsClient> {
  const sts = new STSClient(awsClientConfig(w.moto.settings));
  const { Credentials } = await sts.send(
    new AssumeRoleCommand({ RoleArn: customerRole(tenant), RoleSessionName: 'test-reader', ExternalId: 'test' }),
  );
  return new CloudWatchLogsClient(
    awsClientConfig(w.moto.settings, {
      credentials: {
        accessKeyId: Credentials!.AccessKeyId!,
        secretAccessKey: Credentials!.SecretAccessKey!,
        sessionToken: Credentials!.SessionToken!,
      },
    }),
  );
}

async function readStream(w: World, group: string): Promise<string[]> {
  const logs = await tenantLogsClient(w, group.split('/').at(-1)!);
  const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group }));
  const messages: string[] = [];
  for (const stream of streams.logStreams ?? []) {
    let token: string | undefined;
    for (;;) {
      const page = await logs.send(
        new GetLogEventsCommand({
          logGroupName: group,
          logStreamName: stream.logStreamName!,
          startFromHead: true,
          ...(token && { nextToken: token }),
        }),
      );
      messages.push(...(page.events ?? []).map((e) => e.message!));
      if (!page.nextForwardToken || page.nextForwardToken === token) break;
      token = page.nextForwardToken;
    }
  }
  return messages;
}

async function queueDepth(w: World): Promise<number> {
  const { Attributes } = await w.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: w.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

const expectedMessages = (events: GeneratedEvent[]) =>
  events.map((e, i) =>
    messageText(toLogRecord({ event: e as unknown as Record<string, unknown>, json: JSON.stringify(e) }, i, 0)),
  );

describe.skipIf(motoUnavailable)('AWS deployment against moto', () => {
  let w: World;

  beforeAll(async () => {
    useFakeAwsCredentials();
    const moto = await startMoto();
    const proxy = await startAwsRequestProxy(moto.endpoint);
    const config = awsClientConfig(moto.settings, { s3: true, maxAttempts: 3 });
    const id = randomUUID().slice(0, 8);
    const s3 = new S3Client(config);
    const sqs = new SQSClient(config);
    const sns = new SNSClient(config);
    const central = `central-${id}`;
    const acmeBucket = `acme-logs-${id}`;
    await s3.send(new CreateBucketCommand({ Bucket: central }));
    await s3.send(new CreateBucketCommand({ Bucket: acmeBucket }));
    const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `notifications-${id}` }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl!, AttributeNames: ['QueueArn'] }));
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `central-${id}` }));
    await sns.send(new SubscribeCommand({ TopicArn: TopicArn!, Protocol: 'sqs', Endpoint: Attributes!.QueueArn! }));
    await s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: central,
        NotificationConfiguration: {
          TopicConfigurations: [
            { TopicArn: TopicArn!, Events: ['s3:ObjectCreated:*'], Filter: { Key: { FilterRules: [{ Name: 'suffix', Value: '.gz' }] } } },
          ],
        },
      }),
    );
    const tables = defaultRouterTableNames(`configs-${id}`);
    const dynamo = new DynamoDBClient(config);
    await createRouterTables(dynamo, tables);
    // Rows as operators write them today: plain attributes, desired_logs as a String Set.
    const rows: Record<string, AttributeValue>[] = [
      { tenant_id: { S: 'acme' }, type: { S: 'cloudwatch' }, log_distribution_role_arn: { S: customerRole('acme') }, log_group_name: { S: '/tlr/acme' } },
      { tenant_id: { S: 'acme' }, type: { S: 's3' }, bucket_name: { S: acmeBucket }, bucket_prefix: { S: 'logs' } },
      {
        tenant_id: { S: 'globex' },
        type: { S: 'cloudwatch' },
        log_distribution_role_arn: { S: customerRole('globex') },
        log_group_name: { S: '/tlr/globex' },
        desired_logs: { SS: ['kube-apiserver'] },
        external_id: { S: 'globex-own-external-id' },
      },
    ];
    for (const Item of rows) await dynamo.send(new PutItemCommand({ TableName: tables.configs, Item }));
    const env = {
      AWS_ENDPOINT_URL: proxy.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_S3_USE_PATH_STYLE: 'true',
      TENANT_CONFIG_TABLE: tables.configs,
      CHECKPOINT_TABLE: tables.checkpoints,
      DEAD_LETTER_TABLE: tables.deadLetters,
      AUDIT_TABLE: tables.audit,
      DESTINATION_STATUS_TABLE: tables.status,
      SQS_QUEUE_URL: queueUrl!,
      SOURCE_BUCKET: central,
      CENTRAL_LOG_DISTRIBUTION_ROLE_ARN: CENTRAL_ROLE,
      SQS_WAIT_SECONDS: '1',
      LOG_LEVEL: 'WARN',
    };
    w = { moto, proxy, s3, sqs, id, central, acmeBucket, queueUrl: queueUrl!, env };
    // moto sends an s3:TestEvent when notifications are configured; let it arrive.
    await new Promise((r) => setTimeout(r, 200));
  }, 60_000);

  afterAll(async () => {
    await w?.proxy.close();
    await w?.moto.stop();
  });

  it('delivers S3 → SNS → SQS notifications with `tlr process --mode sqs --drain` to each tenant’s CloudWatch groups and buckets by filter', async () => {
    // Prepare
    const acmeApi = eventsFor('acme', 'kube-apiserver', 300, 1);
    const acmeEtcd = eventsFor('acme', 'etcd', 200, 2);
    const globexApi = eventsFor('globex', 'kube-apiserver', 150, 3);
    const globexScheduler = eventsFor('globex', 'kube-scheduler', 100, 4);
    const acmeApiKey = await putLogObject(w, 'acme', 'kube-apiserver', acmeApi);
    await putLogObject(w, 'acme', 'etcd', acmeEtcd);
    await putLogObject(w, 'globex', 'kube-apiserver', globexApi);
    await putLogObject(w, 'globex', 'kube-scheduler', globexScheduler);

    // Act
    const run = await runTlr(['process', '--mode', 'sqs', '--drain'], w.env);

    // Assess
    expect(run.code, run.output).toBe(0);
    expect((await readStream(w, '/tlr/acme')).sort()).toEqual(expectedMessages([...acmeApi, ...acmeEtcd]).sort());
    expect((await readStream(w, '/tlr/globex')).sort()).toEqual(expectedMessages(globexApi).sort());
    const copyKey = `logs/acme/kube-apiserver/kube-apiserver-0/${acmeApiKey.split('/').at(-1)}`;
    const copy = await w.s3.send(new HeadObjectCommand({ Bucket: w.acmeBucket, Key: copyKey }));
    expect(copy.Metadata).toMatchObject({ 'tenant-id': 'acme', application: 'kube-apiserver', 'pod-name': 'kube-apiserver-0' });
    expect(JSON.stringify(copy.Metadata)).not.toContain('c1');
    expect(w.proxy.violations).toEqual([]);
    expect(w.proxy.putLogEvents.length).toBeGreaterThan(0);
    expect(await queueDepth(w)).toBe(0);
  }, 120_000);

  it('delivers the same kind of notifications through the Lambda handler, reporting no failures', async () => {
    // Prepare
    const events = eventsFor('acme', 'kube-scheduler', 120, 5);
    await putLogObject(w, 'acme', 'kube-scheduler', events);
    const received = await w.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: w.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }),
    );
    Object.assign(process.env, w.env, { AWS_ENDPOINT_URL: w.proxy.endpoint });
    const { handler } = await import('../../src/runtimes/lambda.js');
    const before = (await readStream(w, '/tlr/acme')).length;

    // Act
    const response = await handler(
      {
        Records: (received.Messages ?? []).map((m) => ({
          messageId: m.MessageId!,
          body: m.Body!,
          eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:notifications-${w.id}`,
        })),
      },
      { getRemainingTimeInMillis: () => 60_000 },
    );

    // Assess
    expect(received.Messages?.length).toBeGreaterThan(0);
    expect(response).toEqual({ batchItemFailures: [] });
    expect((await readStream(w, '/tlr/acme')).length).toBe(before + events.length);
    expect(w.proxy.violations).toEqual([]);
  }, 60_000);

  it('processes objects not yet delivered with `tlr process --mode scan --drain`, skipping the ones already done', async () => {
    // Prepare
    const events = eventsFor('globex', 'kube-apiserver', 80, 6);
    await putLogObject(w, 'globex', 'kube-apiserver', events);
    const before = (await readStream(w, '/tlr/globex')).length;

    // Act
    const run = await runTlr(['--json', 'process', '--mode', 'scan', '--drain'], w.env);

    // Assess
    expect(run.code, run.output).toBe(0);
    expect((await readStream(w, '/tlr/globex')).length).toBe(before + events.length);
    expect(w.proxy.violations).toEqual([]);
  }, 120_000);

  it('sends the central account id as ExternalId by default and a config’s own external_id when set', async () => {
    // Prepare
    const sent = w.proxy.assumeRoles;

    // Act
    const byRole = new Map(sent.map((p) => [p['RoleArn'], p]));

    // Assess
    expect(byRole.get(customerRole('acme'))).toMatchObject({ ExternalId: '222222222222' });
    expect(byRole.get(customerRole('globex'))).toMatchObject({ ExternalId: 'globex-own-external-id' });
    for (const params of sent) expect(params['RoleSessionName']!.length).toBeLessThanOrEqual(64);
  });

  it('dead-letters a malformed key with its reason in DynamoDB, listed and redriven by `tlr --store aws dlq`', async () => {
    // Prepare
    const badKey = `c1/acme/kube-apiserver/${randomUUID()}.json.gz`;
    await w.s3.send(new PutObjectCommand({ Bucket: w.central, Key: badKey, Body: gzipSync('{}\n') }));
    const drained = await runTlr(['process', '--mode', 'sqs', '--drain'], w.env);
    const depthBefore = await queueDepth(w);

    // Act
    const listed = await runTlr(['--store', 'aws', '--json', 'dlq', 'list', '--tenant', 'acme'], w.env);
    const redriven = await runTlr(['--store', 'aws', 'dlq', 'redrive', '--tenant', 'acme'], w.env);

    // Assess
    expect(drained.code, drained.output).toBe(0);
    expect(listed.code, listed.output).toBe(0);
    const entries = JSON.parse(listed.output) as { objectKey: string; reason: string; destination: string }[];
    expect(entries).toEqual([expect.objectContaining({ objectKey: badKey, reason: 'invalid_object_key', destination: '*' })]);
    expect(redriven.code, redriven.output).toBe(0);
    expect(redriven.output).toContain('Redrove 1 dead letter(s)');
    expect(await queueDepth(w)).toBe(depthBefore + 1);
  }, 120_000);

  it('processes one SNS envelope given on stdin with `tlr process --mode manual`', async () => {
    // Prepare
    const events = eventsFor('globex', 'kube-apiserver', 40, 7);
    const key = await putLogObject(w, 'globex', 'kube-apiserver', events);
    const s3Event = { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: w.central }, object: { key: encodeURIComponent(key) } } }] };
    const envelope = JSON.stringify({ Type: 'Notification', TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: JSON.stringify(s3Event) });
    const before = (await readStream(w, '/tlr/globex')).length;

    // Act
    const run = await runTlr(['process', '--mode', 'manual'], w.env, envelope);

    // Assess
    expect(run.code, run.output).toBe(0);
    const outcome = JSON.parse(run.output.slice(run.output.indexOf('{'))) as { items: { result: string }[] };
    expect(outcome.items.map((i) => i.result)).toEqual(['completed']);
    expect((await readStream(w, '/tlr/globex')).length).toBe(before + events.length);
  }, 60_000);
});
