import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { CloudWatchLogsClient, GetLogEventsCommand, DescribeLogStreamsCommand } from '@aws-sdk/client-cloudwatch-logs';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../src/aws/index.js';
import type { GeneratedEvent } from '../../src/demo/log-generator.js';
import { messageText, toLogRecord } from '../../src/domain/index.js';
import {
  type CentralDeployment,
  customerRole,
  eventsFor,
  putConfigRows,
  putLogObject,
  queueDepth,
  runTlr,
  startCentralDeployment,
  stopCentralDeployment,
  tenantCredentials,
} from '../helpers/aws-e2e.js';
import { motoUnavailable, useFakeAwsCredentials } from '../helpers/moto.js';

interface World extends CentralDeployment {
  acmeBucket: string;
}

/** Log groups live in the tenant's account: read them back with the tenant role's credentials. */
async function tenantLogsClient(w: World, tenant: string): Promise<CloudWatchLogsClient> {
  const credentials = await tenantCredentials(w.moto.settings, customerRole(tenant));
  return new CloudWatchLogsClient(awsClientConfig(w.moto.settings, { credentials }));
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

const expectedMessages = (events: GeneratedEvent[]) =>
  events.map((e, i) =>
    messageText(toLogRecord({ event: e as unknown as Record<string, unknown>, json: JSON.stringify(e) }, i, 0)),
  );

describe.skipIf(motoUnavailable)('AWS deployment against moto', () => {
  let w: World;

  beforeAll(async () => {
    useFakeAwsCredentials();
    const acmeBucket = `acme-logs-${randomUUID().slice(0, 8)}`;
    const deployment = await startCentralDeployment([acmeBucket]);
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
    await putConfigRows(deployment, rows);
    w = { ...deployment, acmeBucket };
  }, 60_000);

  afterAll(async () => {
    await stopCentralDeployment(w);
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
