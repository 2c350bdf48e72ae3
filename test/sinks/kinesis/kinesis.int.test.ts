import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
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
  RetriesExhaustedError,
  validateDeliveryConfig,
} from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import {
  createKinesisSink,
  KINESIS_TRUNCATED_METRIC,
  type KinesisPayload,
  kinesisSinkDefinition,
} from '../../../src/sinks/kinesis/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import type { Batch, Sink } from '../../../src/sinks/types.js';
import {
  type AwsRequestProxy,
  awsJsonErrorFault,
  kinesisPartialFailure,
  PUT_RECORDS_TARGET,
  startAwsRequestProxy,
} from '../../helpers/aws-request-proxy.js';
import {
  deliveryConfigFactory,
  logRecordFactory,
  logRecordsFactory,
  ndjsonOfRecords,
  objectKeyFactory,
  randomId,
  sortedLines,
} from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { caught } from '../../helpers/rejection.js';

const CENTRAL_ROLE_ARN = 'arn:aws:iam::111111111111:role/tlr-central';
const TENANT_ACCOUNT = '222222222222';
const OTHER_REGION = 'eu-west-1';
const lookup = createSinkRegistry([kinesisSinkDefinition]).lookup;

/** One record read back from a stream. */
interface StoredRecord {
  readonly data: string;
  readonly partitionKey: string;
}






describe.skipIf(motoUnavailable)('kinesis sink against moto', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  /** The router's settings: every AWS request goes through the proxy to moto. */
  let settings: AwsSettings;
  let broker: CredentialBroker;
  /** Sets up and reads tenant streams directly in moto, with its own sessions. */
  let setupBroker: CredentialBroker;
  let registry: Registry;
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
    proxy.putRecords.length = 0;
    proxy.violations.length = 0;
    registry = new Registry();
  });
  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => s.close()));
    // Every PutRecords request of every test must respect the AWS limits moto does not enforce.
    expect(proxy.violations).toEqual([]);
  });

  function tenantRole(): string {
    return `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`;
  }

  /** A Kinesis client in the tenant's account (moto keeps accounts apart, as AWS does). */
  function tenantKinesis(roleArn: string, region = moto.settings.region): KinesisClient {
    const credentials = setupBroker.forTenant({ roleArn, tenantId: 'setup', region });
    return new KinesisClient(awsClientConfig(moto.settings, { region, credentials }));
  }

  /** Creates a stream of one shard (so records read back in the order they were put). */
  async function createStream(roleArn: string, region = moto.settings.region): Promise<string> {
    const name = `logs-${randomId()}`;
    const kinesis = tenantKinesis(roleArn, region);
    try {
      await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    } finally {
      kinesis.destroy();
    }
    return name;
  }

  /** Every record of a stream, shard by shard, oldest first. */
  async function readBack(roleArn: string, streamName: string, region = moto.settings.region): Promise<StoredRecord[]> {
    const kinesis = tenantKinesis(roleArn, region);
    try {
      const stored: StoredRecord[] = [];
      const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
      for (const shard of Shards) {
        let { ShardIterator: iterator } = await kinesis.send(
          new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
        );
        while (iterator !== undefined) {
          const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
          const records = page.Records ?? [];
          stored.push(...records.map((r) => ({ data: Buffer.from(r.Data!).toString('utf8'), partitionKey: r.PartitionKey! })));
          iterator = records.length === 0 ? undefined : page.NextShardIterator;
        }
      }
      return stored;
    } finally {
      kinesis.destroy();
    }
  }

  function kinesisSink(fields: Record<string, unknown>): Sink<KinesisPayload> {
    const config = deliveryConfigFactory({
      type: 'kinesis',
      directory: undefined,
      retry: { initialIntervalMs: 1, maxIntervalMs: 5, maxAttempts: 3 },
      ...fields,
    });
    const sink = createKinesisSink(validateDeliveryConfig(config, lookup), {
      baseDir: '.',
      logger: silentLogger,
      registry,
      aws: { settings, credentials: broker },
    });
    sinks.push(sink);
    return sink;
  }

  function logObject(parts: Parameters<typeof objectKeyFactory>[0] = {}): LogObjectKey {
    return parseObjectKey(objectKeyFactory(parts)) as LogObjectKey;
  }

  function plan(sink: Sink<KinesisPayload>, object: LogObjectKey, records: readonly LogRecord[]): Batch<KinesisPayload>[] {
    const planner = sink.createPlanner(object);
    return [...records.flatMap((r) => planner.add(r)), ...planner.flush()];
  }

  /** Plans and sends as the processor does: each batch with the sink's quick retries. */
  async function deliver(sink: Sink<KinesisPayload>, object: LogObjectKey, records: readonly LogRecord[]) {
    const batches = plan(sink, object, records);
    for (const batch of batches) {
      await sendWithRetry((b, s) => sink.send(b, s), batch, sink.retry, new AbortController().signal);
    }
    return batches;
  }

  it("delivers a tenant's lines as NDJSON records into its stream through the role chain, read back exactly", async () => {
    // Prepare
    const roleArn = tenantRole();
    const streamName = await createStream(roleArn);
    const sink = kinesisSink({ log_distribution_role_arn: roleArn, stream_name: streamName });
    const object = logObject();
    const records = logRecordsFactory(50);

    // Act
    const batches = await deliver(sink, object, records);

    // Assess
    expect(batches.map((b) => [b.firstOffset, b.lastOffset, b.count])).toEqual([[0, 49, 50]]);
    const stored = await readBack(roleArn, streamName);
    expect(stored).toEqual([{ data: ndjsonOfRecords(records), partitionKey: object.podName }]);
    expect(proxy.putRecords).toHaveLength(1);
  });

  it('aggregates lines up to max_record_bytes and keeps every request under max_request_bytes', async () => {
    // Prepare: a request cap far below moto's 5 MB, so several requests are needed.
    const roleArn = tenantRole();
    const streamName = await createStream(roleArn);
    const sink = kinesisSink({
      log_distribution_role_arn: roleArn,
      stream_name: streamName,
      partition_key_template: '{namespace}/{pod_name}',
      max_record_bytes: 4_096,
      max_request_bytes: 65_536,
    });
    const object = logObject();
    const records = logRecordsFactory(2_000, 150);

    // Act
    const batches = await deliver(sink, object, records);

    // Assess
    const key = `${object.tenantId}/${object.podName}`;
    expect(batches.length).toBeGreaterThan(3);
    expect(batches.reduce((n, b) => n + b.count, 0)).toBe(2_000);
    for (const request of proxy.putRecords) {
      const sizes = request.records.map((r) => r.dataBytes + Buffer.byteLength(r.partitionKey));
      expect(Math.max(...sizes)).toBeLessThanOrEqual(4_096);
      expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(65_536);
    }
    const stored = await readBack(roleArn, streamName);
    expect(stored.length).toBe(proxy.putRecords.reduce((n, r) => n + r.records.length, 0));
    expect(stored.every((r) => r.partitionKey === key && r.data.endsWith('\n'))).toBe(true);
    expect(stored.map((r) => r.data).join('')).toBe(ndjsonOfRecords(records));
  });

  it('puts at most 500 records per request when each line fills a record', async () => {
    // Prepare: two 2,000-byte lines do not fit one 4,096-byte record, so each line is a record.
    const roleArn = tenantRole();
    const streamName = await createStream(roleArn);
    const sink = kinesisSink({ log_distribution_role_arn: roleArn, stream_name: streamName, max_record_bytes: 4_096 });
    const records = logRecordsFactory(1_201, 2_000);

    // Act
    await deliver(sink, logObject(), records);

    // Assess
    expect(proxy.putRecords.map((r) => r.records.length)).toEqual([500, 500, 201]);
    const stored = await readBack(roleArn, streamName);
    expect(stored.map((r) => r.data)).toEqual(records.map((r) => `${r.json}\n`));
  });

  it('cuts a line larger than a record, keeping it valid JSON with the marker, and counts it', async () => {
    // Prepare
    const roleArn = tenantRole();
    const streamName = await createStream(roleArn);
    const sink = kinesisSink({ log_distribution_role_arn: roleArn, stream_name: streamName, max_record_bytes: 8_192 });
    const records = [logRecordFactory(0, 'before'), logRecordFactory(1, 'x'.repeat(20_000)), logRecordFactory(2, 'after')];

    // Act
    await deliver(sink, logObject(), records);

    // Assess
    const lines = (await readBack(roleArn, streamName)).map((r) => r.data).join('').split('\n').slice(0, -1);
    expect(lines).toHaveLength(3);
    expect([lines[0], lines[2]]).toEqual([records[0]!.json, records[2]!.json]);
    const cut = JSON.parse(lines[1]!) as Record<string, unknown>;
    expect(cut['message']).toMatch(/^x+…\[truncated by tlr: \d+ bytes\]$/);
    expect({ ...cut, message: undefined }).toEqual({ ...records[1]!.event, message: undefined });
    expect(await metricValue(registry, KINESIS_TRUNCATED_METRIC)).toBe(1);
  });

  it('routes audit and infrastructure objects to the streams of their category, the rest to its own stream', async () => {
    // Prepare
    const roleArn = tenantRole();
    const [own, audit, infrastructure] = [await createStream(roleArn), await createStream(roleArn), await createStream(roleArn)];
    const sink = kinesisSink({
      log_distribution_role_arn: roleArn,
      stream_name: own,
      streams: { audit, infrastructure: `arn:aws:kinesis:${moto.settings.region}:${TENANT_ACCOUNT}:stream/${infrastructure}` },
    });
    const objects = {
      audit: logObject({ application: 'kube-apiserver-audit', namespace: 'openshift-kube-apiserver' }),
      infrastructure: logObject({ namespace: 'openshift-monitoring' }),
      application: logObject({ namespace: 'team-a' }),
    };
    const lines = { audit: logRecordsFactory(3), infrastructure: logRecordsFactory(4), application: logRecordsFactory(5) };

    // Act
    for (const category of ['audit', 'infrastructure', 'application'] as const) {
      await deliver(sink, objects[category], lines[category]);
    }

    // Assess
    expect((await readBack(roleArn, audit)).map((r) => r.data)).toEqual([ndjsonOfRecords(lines.audit)]);
    expect((await readBack(roleArn, infrastructure)).map((r) => r.data)).toEqual([ndjsonOfRecords(lines.infrastructure)]);
    expect((await readBack(roleArn, own)).map((r) => r.data)).toEqual([ndjsonOfRecords(lines.application)]);
    expect(proxy.putRecords.map((r) => r.streamName ?? r.streamArn)).toEqual([
      audit,
      `arn:aws:kinesis:${moto.settings.region}:${TENANT_ACCOUNT}:stream/${infrastructure}`,
      own,
    ]);
  });

  it("writes to a stream given by ARN in the ARN's region", async () => {
    // Prepare
    const roleArn = tenantRole();
    const streamName = await createStream(roleArn, OTHER_REGION);
    const sink = kinesisSink({
      log_distribution_role_arn: roleArn,
      stream_arn: `arn:aws:kinesis:${OTHER_REGION}:${TENANT_ACCOUNT}:stream/${streamName}`,
    });
    const records = logRecordsFactory(7);

    // Act
    await deliver(sink, logObject(), records);

    // Assess
    expect((await readBack(roleArn, streamName, OTHER_REGION)).map((r) => r.data)).toEqual([ndjsonOfRecords(records)]);
  });

  it('sends again only the records a PutRecords answer refused, ending with each line once (injected by the proxy)', async () => {
    // Prepare: ten records in one request; the first answer refuses three of them.
    const roleArn = tenantRole();
    const streamName = await createStream(roleArn);
    const sink = kinesisSink({ log_distribution_role_arn: roleArn, stream_name: streamName, max_record_bytes: 4_096 });
    const records = logRecordsFactory(10, 3_000);
    const refused = new Set([1, 4, 9]);
    proxy.rewrite(
      kinesisPartialFailure((i) => (!refused.has(i) ? undefined : i === 4 ? 'InternalFailure' : 'ProvisionedThroughputExceededException')),
    );

    // Act
    const batches = await deliver(sink, logObject(), records);

    // Assess
    expect(batches).toHaveLength(1);
    expect(proxy.putRecords.map((r) => r.records.length)).toEqual([10, 3]);
    expect(proxy.putRecords[1]!.records.map((r) => r.data)).toEqual([...refused].map((i) => `${records[i]!.json}\n`));
    const stored = (await readBack(roleArn, streamName)).map((r) => r.data);
    expect(stored).toHaveLength(10);
    expect(sortedLines(stored.join(''))).toEqual(sortedLines(ndjsonOfRecords(records)));
  });

  it('gives up with RetriesExhaustedError when a record keeps being refused, having re-sent only it (injected)', async () => {
    // Prepare
    const roleArn = tenantRole();
    const streamName = await createStream(roleArn);
    const sink = kinesisSink({ log_distribution_role_arn: roleArn, stream_name: streamName, max_record_bytes: 4_096 });
    const records = logRecordsFactory(4, 3_000);
    proxy.rewrite(kinesisPartialFailure((i) => (i === 0 ? 'ProvisionedThroughputExceededException' : undefined), 3));

    // Act
    const error = await caught(deliver(sink, logObject(), records));

    // Assess
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect((error as RetriesExhaustedError).lastError.reason).toBe('throttled');
    expect(proxy.putRecords.map((r) => r.records.length)).toEqual([4, 1, 1]);
    expect((await readBack(roleArn, streamName)).map((r) => r.data)).toEqual(records.slice(1).map((r) => `${r.json}\n`));
  });

  it('delivers once after a throttled PutRecords call (injected by the proxy)', async () => {
    // Prepare
    const roleArn = tenantRole();
    const streamName = await createStream(roleArn);
    const sink = kinesisSink({ log_distribution_role_arn: roleArn, stream_name: streamName });
    proxy.inject(awsJsonErrorFault(PUT_RECORDS_TARGET, 'ProvisionedThroughputExceededException', 400, 1));
    const records = logRecordsFactory(5);

    // Act
    await deliver(sink, logObject(), records);

    // Assess
    expect(proxy.putRecords).toHaveLength(2);
    expect((await readBack(roleArn, streamName)).map((r) => r.data)).toEqual([ndjsonOfRecords(records)]);
  });

  it('fails with a permanent resource_not_found when the stream does not exist', async () => {
    // Prepare
    const sink = kinesisSink({ log_distribution_role_arn: tenantRole(), stream_name: `missing-${randomId()}` });
    const [batch] = plan(sink, logObject(), logRecordsFactory(2));

    // Act
    const error = await caught(sendWithRetry((b, s) => sink.send(b, s), batch!, sink.retry, new AbortController().signal));

    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect([(error as DeliveryError).retryable, (error as DeliveryError).reason]).toEqual([false, 'resource_not_found']);
    expect(proxy.putRecords).toHaveLength(1);
  });

  it.each([
    { name: 'AccessDeniedException', status: 400, retryable: false, reason: 'access_denied' },
    { name: 'KMSDisabledException', status: 400, retryable: false, reason: 'kms_disabled' },
    { name: 'InvalidArgumentException', status: 400, retryable: false, reason: 'invalid_argument' },
    { name: 'LimitExceededException', status: 400, retryable: true, reason: 'throttled' },
    { name: 'InternalFailure', status: 500, retryable: true, reason: 'service_unavailable' },
  ])('fails a PutRecords answered $name with retryable=$retryable (injected by the proxy)', async ({ name, status, retryable, reason }) => {
    // Prepare
    const roleArn = tenantRole();
    const sink = kinesisSink({ log_distribution_role_arn: roleArn, stream_name: await createStream(roleArn) });
    proxy.inject(awsJsonErrorFault(PUT_RECORDS_TARGET, name, status));
    const [batch] = plan(sink, logObject(), logRecordsFactory(1));

    // Act
    const error = await caught(sink.send(batch!, new AbortController().signal));

    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect([(error as DeliveryError).retryable, (error as DeliveryError).reason]).toEqual([retryable, reason]);
  });
});
