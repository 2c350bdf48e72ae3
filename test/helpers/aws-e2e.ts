import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type AttributeValue, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import { awsClientConfig, type AwsSettings } from '../../src/aws/index.js';
import { createLogGenerator, type GeneratedEvent } from '../../src/demo/log-generator.js';
import { createRouterTables, defaultRouterTableNames, type RouterTableNames } from '../../src/stores/aws/dynamodb-tables.js';
import { type AwsRequestProxy, startAwsRequestProxy } from './aws-request-proxy.js';
import { type MotoServer, startMoto } from './moto.js';

/**
 * End-to-end helpers for the AWS deployment against moto: the central bucket notifying
 * S3 → SNS → SQS, the router's DynamoDB tables, the environment `tlr process` reads, and
 * the tenant side (roles in another account, read back with their credentials).
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The router's central role; its account id is the default ExternalId. */
export const CENTRAL_ROLE = 'arn:aws:iam::222222222222:role/CentralLogDistribution';

/** A tenant's role in the customer account, which the router assumes through {@link CENTRAL_ROLE}. */
export const customerRole = (tenant: string) => `arn:aws:iam::111111111111:role/CustomerLogDistribution-${tenant}`;

/** A central deployment in one moto, every router request going through the request proxy. */
export interface CentralDeployment {
  readonly moto: MotoServer;
  readonly proxy: AwsRequestProxy;
  /** Clients of the central account, straight to moto. */
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  /** Unique suffix of this deployment's names. */
  readonly id: string;
  /** The central bucket. */
  readonly central: string;
  readonly queueUrl: string;
  readonly tables: RouterTableNames;
  /** The environment of `tlr process` and the Lambda handler: every AWS call through the proxy. */
  readonly env: Record<string, string>;
}

/**
 * Starts moto and the request proxy, and creates the central bucket notifying
 * `s3:ObjectCreated:*` of `.gz` keys through an SNS topic to an SQS queue, and the router tables.
 *
 * @param buckets - other buckets to create in the central account (a tenant's `s3` destination)
 */
export async function startCentralDeployment(buckets: readonly string[] = []): Promise<CentralDeployment> {
  const moto = await startMoto();
  const proxy = await startAwsRequestProxy(moto.endpoint);
  const config = awsClientConfig(moto.settings, { s3: true, maxAttempts: 3 });
  const id = randomUUID().slice(0, 8);
  const s3 = new S3Client(config);
  const sqs = new SQSClient(config);
  const sns = new SNSClient(config);
  const dynamo = new DynamoDBClient(config);
  const central = `central-${id}`;
  await s3.send(new CreateBucketCommand({ Bucket: central }));
  for (const bucket of buckets) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `notifications-${id}` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl!, AttributeNames: ['QueueArn'] }));
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `central-${id}` }));
  await sns.send(new SubscribeCommand({ TopicArn: TopicArn!, Protocol: 'sqs', Endpoint: Attributes!.QueueArn! }));
  sns.destroy();
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
  await createRouterTables(dynamo, tables);
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
  // moto sends an s3:TestEvent when notifications are configured; let it arrive.
  await new Promise((r) => setTimeout(r, 200));
  return { moto, proxy, s3, sqs, dynamo, id, central, queueUrl: queueUrl!, tables, env };
}

/** Closes the clients and stops the proxy and moto. */
export async function stopCentralDeployment(d: CentralDeployment | undefined): Promise<void> {
  for (const client of [d?.s3, d?.sqs, d?.dynamo]) client?.destroy();
  await d?.proxy.close();
  await d?.moto.stop();
}

/** Writes delivery-config rows as operators write them: plain attributes (String Sets, maps). */
export async function putConfigRows(d: CentralDeployment, rows: readonly Record<string, AttributeValue>[]): Promise<void> {
  for (const Item of rows) await d.dynamo.send(new PutItemCommand({ TableName: d.tables.configs, Item }));
}

/** Runs `node bin/tlr.js …` (the built CLI) as its own process; resolves with its exit code and output. */
export function runTlr(
  args: string[],
  env: Record<string, string>,
  stdin?: string,
): Promise<{ code: number | null; output: string }> {
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

/**
 * Puts a gzip NDJSON object of events at the central key layout
 * `c1/<tenant>/<application>/<application>-0/<time>-<uuid>.json.gz`.
 *
 * @returns the key
 */
export async function putLogObject(
  d: Pick<CentralDeployment, 's3' | 'central'>,
  tenant: string,
  application: string,
  events: GeneratedEvent[],
): Promise<string> {
  const key = `c1/${tenant}/${application}/${application}-0/20260101-100000-${randomUUID()}.json.gz`;
  const body = gzipSync(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  await d.s3.send(new PutObjectCommand({ Bucket: d.central, Key: key, Body: body }));
  return key;
}

/** `count` generated events of one application of one tenant, the same for the same seed. */
export function eventsFor(tenant: string, application: string, count: number, seed: number): GeneratedEvent[] {
  return createLogGenerator({
    seed,
    clusterId: 'c1',
    tenants: [{ namespace: tenant, applications: [application], podsPerApplication: 1 }],
    startMs: Date.now() - 3_600_000,
  }).take(count);
}

/** Messages in the queue, visible or in flight. */
export async function queueDepth(d: Pick<CentralDeployment, 'sqs' | 'queueUrl'>): Promise<number> {
  const { Attributes } = await d.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: d.queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/**
 * Credentials of a role assumed straight in moto: how a test creates and reads the resources
 * of the tenant's account (moto keeps accounts apart, as AWS does).
 */
export async function tenantCredentials(settings: AwsSettings, roleArn: string): Promise<AwsCredentialIdentity> {
  const sts = new STSClient(awsClientConfig(settings));
  try {
    const { Credentials } = await sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'test-reader', ExternalId: 'test' }),
    );
    return {
      accessKeyId: Credentials!.AccessKeyId!,
      secretAccessKey: Credentials!.SecretAccessKey!,
      sessionToken: Credentials!.SessionToken!,
    };
  } finally {
    sts.destroy();
  }
}
