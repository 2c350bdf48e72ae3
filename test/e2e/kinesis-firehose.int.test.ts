import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { CreateDeliveryStreamCommand, FirehoseClient } from '@aws-sdk/client-firehose';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity } from '@smithy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../src/aws/index.js';
import type { GeneratedEvent } from '../../src/demo/log-generator.js';
import {
  CENTRAL_ROLE,
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
import { PUT_RECORD_BATCH_TARGET, PUT_RECORDS_TARGET } from '../helpers/aws-request-proxy.js';
import { motoUnavailable, useFakeAwsCredentials } from '../helpers/moto.js';

/** Shards of each tenant stream: more than one, so reading back must cover every shard. */
const SHARDS = 2;
/** The prefix the tenant's Firehose stream writes its objects under. */
const FIREHOSE_PREFIX = 'logs/';

interface StoredRecord {
  readonly partitionKey: string;
  readonly data: string;
}

interface World extends CentralDeployment {
  /** The tenant delivering to Kinesis, its roles' credentials, its own stream and its audit stream. */
  kinesisTenant: string;
  kinesisCredentials: AwsCredentialIdentity;
  ownStream: string;
  auditStream: string;
  /** The tenant delivering to Firehose, its Firehose stream and the bucket that stream writes to. */
  firehoseTenant: string;
  firehoseCredentials: AwsCredentialIdentity;
  deliveryStream: string;
  firehoseBucket: string;
}

/** Creates streams of {@link SHARDS} shards in the tenant's account. */
async function createStreams(w: CentralDeployment, credentials: AwsCredentialIdentity, names: string[]): Promise<void> {
  const kinesis = new KinesisClient(awsClientConfig(w.moto.settings, { credentials }));
  try {
    for (const StreamName of names) {
      await kinesis.send(new CreateStreamCommand({ StreamName, ShardCount: SHARDS }));
      await waitUntilStreamExists({ client: kinesis, maxWaitTime: 30 }, { StreamName });
    }
  } finally {
    kinesis.destroy();
  }
}

/** A Direct PUT Firehose stream in the tenant's account writing to a new bucket there. */
async function createDeliveryStream(
  w: CentralDeployment,
  credentials: AwsCredentialIdentity,
  name: string,
  bucket: string,
): Promise<void> {
  const s3 = new S3Client(awsClientConfig(w.moto.settings, { credentials, s3: true }));
  const firehose = new FirehoseClient(awsClientConfig(w.moto.settings, { credentials }));
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await firehose.send(
      new CreateDeliveryStreamCommand({
        DeliveryStreamName: name,
        DeliveryStreamType: 'DirectPut',
        S3DestinationConfiguration: {
          RoleARN: 'arn:aws:iam::111111111111:role/firehose-delivery',
          BucketARN: `arn:aws:s3:::${bucket}`,
          Prefix: FIREHOSE_PREFIX,
        },
      }),
    );
  } finally {
    s3.destroy();
    firehose.destroy();
  }
}

/** Every record of a stream, over all its shards from TRIM_HORIZON. */
async function readStream(w: World, streamName: string): Promise<StoredRecord[]> {
  const kinesis = new KinesisClient(awsClientConfig(w.moto.settings, { credentials: w.kinesisCredentials }));
  try {
    const stored: StoredRecord[] = [];
    const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
    expect(Shards).toHaveLength(SHARDS);
    for (const shard of Shards) {
      let { ShardIterator: iterator } = await kinesis.send(
        new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      while (iterator !== undefined) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        const records = page.Records ?? [];
        stored.push(...records.map((r) => ({ partitionKey: r.PartitionKey!, data: Buffer.from(r.Data!).toString('utf8') })));
        iterator = records.length === 0 ? undefined : page.NextShardIterator;
      }
    }
    return stored;
  } finally {
    kinesis.destroy();
  }
}

/** The content of every object moto's Firehose wrote into the tenant's bucket (one per PutRecordBatch). */
async function readFirehoseObjects(w: World): Promise<string[]> {
  const s3 = new S3Client(awsClientConfig(w.moto.settings, { credentials: w.firehoseCredentials, s3: true }));
  try {
    const bodies: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: w.firehoseBucket,
          Prefix: FIREHOSE_PREFIX,
          ...(token && { ContinuationToken: token }),
        }),
      );
      for (const object of page.Contents ?? []) {
        const got = await s3.send(new GetObjectCommand({ Bucket: w.firehoseBucket, Key: object.Key! }));
        bodies.push(await got.Body!.transformToString('utf8'));
      }
      token = page.NextContinuationToken;
    } while (token);
    return bodies;
  } finally {
    s3.destroy();
  }
}

/** The NDJSON lines of records or objects, each ending with a newline, sorted (a multiset). */
function sortedLines(texts: readonly string[]): string[] {
  for (const text of texts) expect(text.endsWith('\n'), 'every record and object ends with a newline').toBe(true);
  return texts
    .join('')
    .split('\n')
    .filter((l) => l !== '')
    .sort();
}

/** The lines the central objects of these events hold, sorted. */
const expectedLines = (...events: GeneratedEvent[][]) =>
  events
    .flat()
    .map((e) => JSON.stringify(e))
    .sort();

describe.skipIf(motoUnavailable)('AWS deployment against moto: central objects → tlr process → Kinesis and Firehose', () => {
  let w: World;

  beforeAll(async () => {
    useFakeAwsCredentials();
    const deployment = await startCentralDeployment();
    const { id } = deployment;
    const kinesisTenant = `kin-${id}`;
    const firehoseTenant = `fh-${id}`;
    const [kinesisCredentials, firehoseCredentials] = [
      await tenantCredentials(deployment.moto.settings, customerRole(kinesisTenant)),
      await tenantCredentials(deployment.moto.settings, customerRole(firehoseTenant)),
    ];
    const ownStream = `logs-${id}`;
    const auditStream = `audit-${id}`;
    await createStreams(deployment, kinesisCredentials, [ownStream, auditStream]);
    const deliveryStream = `logs-${id}`;
    const firehoseBucket = `firehose-${id}`;
    await createDeliveryStream(deployment, firehoseCredentials, deliveryStream, firehoseBucket);
    // Rows as operators write them: plain attributes, `streams` as a map; partition_key_template left at its default.
    const rows: Record<string, AttributeValue>[] = [
      {
        tenant_id: { S: kinesisTenant },
        type: { S: 'kinesis' },
        log_distribution_role_arn: { S: customerRole(kinesisTenant) },
        stream_name: { S: ownStream },
        streams: { M: { audit: { S: auditStream } } },
      },
      {
        tenant_id: { S: firehoseTenant },
        type: { S: 'firehose' },
        log_distribution_role_arn: { S: customerRole(firehoseTenant) },
        delivery_stream_name: { S: deliveryStream },
      },
    ];
    await putConfigRows(deployment, rows);
    w = {
      ...deployment,
      kinesisTenant,
      kinesisCredentials,
      ownStream,
      auditStream,
      firehoseTenant,
      firehoseCredentials,
      deliveryStream,
      firehoseBucket,
    };
  }, 60_000);

  afterAll(async () => {
    await stopCentralDeployment(w);
  });

  it("delivers each tenant's objects with `tlr process --mode sqs --drain` to its Kinesis streams by category and its Firehose stream", async () => {
    // Prepare
    const apiserver = eventsFor(w.kinesisTenant, 'kube-apiserver', 300, 11);
    const workload = eventsFor(w.kinesisTenant, 'my-app', 120, 12);
    const audit = eventsFor(w.kinesisTenant, 'kube-apiserver-audit', 150, 13);
    const firehoseApi = eventsFor(w.firehoseTenant, 'kube-apiserver', 250, 14);
    const firehoseEtcd = eventsFor(w.firehoseTenant, 'etcd', 100, 15);
    await putLogObject(w, w.kinesisTenant, 'kube-apiserver', apiserver);
    await putLogObject(w, w.kinesisTenant, 'my-app', workload);
    await putLogObject(w, w.kinesisTenant, 'kube-apiserver-audit', audit);
    await putLogObject(w, w.firehoseTenant, 'kube-apiserver', firehoseApi);
    await putLogObject(w, w.firehoseTenant, 'etcd', firehoseEtcd);

    // Act
    const run = await runTlr(['process', '--mode', 'sqs', '--drain'], w.env);

    // Assess
    expect(run.code, run.output).toBe(0);
    const own = await readStream(w, w.ownStream);
    const audited = await readStream(w, w.auditStream);
    expect(sortedLines(own.map((r) => r.data))).toEqual(expectedLines(apiserver, workload));
    expect(sortedLines(audited.map((r) => r.data))).toEqual(expectedLines(audit));
    // The default partition key is the object's pod: every line of a record comes from that pod's object.
    for (const record of [...own, ...audited]) {
      const applications = new Set(record.data.trimEnd().split('\n').map((l) => (JSON.parse(l) as GeneratedEvent).application));
      expect([...applications].map((a) => `${a}-0`)).toEqual([record.partitionKey]);
    }
    expect(sortedLines(await readFirehoseObjects(w))).toEqual(expectedLines(firehoseApi, firehoseEtcd));
    expect(w.proxy.violations).toEqual([]);
    expect(new Set(w.proxy.putRecords.map((r) => r.streamName))).toEqual(new Set([w.ownStream, w.auditStream]));
    expect(new Set(w.proxy.putRecordBatches.map((r) => r.deliveryStreamName))).toEqual(new Set([w.deliveryStream]));
    const roles = [...new Set(w.proxy.assumeRoles.map((p) => p['RoleArn']))].sort();
    expect(roles).toEqual([CENTRAL_ROLE, customerRole(w.kinesisTenant), customerRole(w.firehoseTenant)].sort());
    expect(await queueDepth(w)).toBe(0);
  }, 120_000);

  it('does not write the lines of an object again when its notification comes a second time', async () => {
    // Prepare
    const events = eventsFor(w.kinesisTenant, 'kube-scheduler', 60, 16);
    const key = await putLogObject(w, w.kinesisTenant, 'kube-scheduler', events);
    const first = await runTlr(['process', '--mode', 'sqs', '--drain'], w.env);
    const before = sortedLines((await readStream(w, w.ownStream)).map((r) => r.data));
    const calls = w.proxy.calls.filter((c) => c === PUT_RECORDS_TARGET || c === PUT_RECORD_BATCH_TARGET).length;
    const s3Event = { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: w.central }, object: { key: encodeURIComponent(key) } } }] };
    const envelope = JSON.stringify({ Type: 'Notification', TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: JSON.stringify(s3Event) });

    // Act
    const again = await runTlr(['process', '--mode', 'manual'], w.env, envelope);

    // Assess
    expect(first.code, first.output).toBe(0);
    expect(before.filter((l) => (JSON.parse(l) as GeneratedEvent).application === 'kube-scheduler')).toEqual(expectedLines(events));
    expect(again.code, again.output).toBe(0);
    const outcome = JSON.parse(again.output.slice(again.output.indexOf('{'))) as {
      items: { result: string; destinations: { type: string; status: string }[] }[];
    };
    expect(outcome.items).toEqual([
      expect.objectContaining({ result: 'completed', destinations: [expect.objectContaining({ type: 'kinesis', status: 'already_done' })] }),
    ]);
    expect(sortedLines((await readStream(w, w.ownStream)).map((r) => r.data))).toEqual(before);
    expect(w.proxy.calls.filter((c) => c === PUT_RECORDS_TARGET || c === PUT_RECORD_BATCH_TARGET)).toHaveLength(calls);
    expect(w.proxy.violations).toEqual([]);
    expect(await queueDepth(w)).toBe(0);
  }, 120_000);
});
