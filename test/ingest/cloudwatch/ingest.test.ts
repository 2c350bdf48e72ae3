import { gzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CloudwatchIngest,
  createCloudwatchIngest,
  createCloudwatchWriter,
  FIREHOSE_MAX_RESPONSE_BYTES,
  type FirehoseTransformationResult,
  type IngestSummary,
  validateCloudwatchIngestConfig,
} from '../../../src/ingest/cloudwatch/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { type LocalStores, openLocalStores } from '../../../src/runtimes/local-stores.js';
import {
  cloudwatchLogEventFactory,
  controlMessageFactory,
  dataMessageFactory,
  firehoseEvent,
  gzipPayload,
  subscriptionEvent,
} from '../../helpers/cloudwatch-logs.js';
import { metricValue } from '../../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

let stores: LocalStores;
let registry: Registry;
let ingest: CloudwatchIngest;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

async function objectKeys(prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of stores.objects.list(prefix !== undefined ? { prefix } : {})) keys.push(info.key);
  return keys;
}

beforeEach(async () => {
  stores = openLocalStores(await makeTempDir('tlr-cw-ingest-'));
  registry = new Registry();
  const config = validateCloudwatchIngestConfig({ tenant: 'acme', analytics: {} });
  const writer = createCloudwatchWriter({
    centralStore: stores.objects,
    queue: stores.queue,
    analyticsStore: stores.objects,
    config,
    logger: silentLogger,
    registry,
  });
  ingest = createCloudwatchIngest({ writer, config, logger: silentLogger, registry });
});

afterEach(async () => {
  stores.close();
  await removeTempDirs();
});

describe('transformFirehose', () => {
  it('answers each record in order: Ok with the rows, Dropped for control or empty, ProcessingFailed for bad input', async () => {
    // Prepare
    const data = dataMessageFactory({
      cluster: 'prod',
      logStream: 'kube-apiserver-1',
      logEvents: [
        cloudwatchLogEventFactory({ message: 'I0522 12:34:56.789012 1 a.go:1] Ready port=443' }),
        cloudwatchLogEventFactory({ message: 'W0522 12:34:57.000001 1 b.go:2] Slow' }),
      ],
    });
    const inputs = [
      b64(gzipPayload(data)),
      b64(gzipPayload(controlMessageFactory())),
      'not base64!',
      b64(Buffer.from('plain text')),
      b64(gzipSync('{oops')),
      b64(gzipPayload(dataMessageFactory({ logStream: 'etcd-1' }))),
      b64(gzipPayload(dataMessageFactory({ logEvents: [] }))),
    ];
    const event = firehoseEvent(inputs);

    // Act
    const response = await ingest.transformFirehose(event);

    // Assess
    expect(response.records.map((r) => r.recordId)).toEqual(event.records.map((r) => r.recordId));
    expect(response.records.map((r) => r.result)).toEqual([
      'Ok', 'Dropped', 'ProcessingFailed', 'ProcessingFailed', 'ProcessingFailed', 'ProcessingFailed', 'Dropped',
    ]);
    expect(response.records.slice(1).map((r) => r.data)).toEqual(inputs.slice(1));
    const rows = Buffer.from(response.records[0]!.data, 'base64').toString('utf8');
    expect(rows.endsWith('\n')).toBe(true);
    expect(rows.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { cluster: 'prod', tenant: 'acme', format: 'klog', level: 'info', message: 'Ready', fields: { port: '443' } },
      { cluster: 'prod', tenant: 'acme', format: 'klog', level: 'warning', message: 'Slow', source: 'b.go:2' },
    ]);
    expect(response.records[0]!.metadata).toEqual({ partitionKeys: { component: 'kube-apiserver', dt: '2026-05-22', hour: '12' } });
  });

  it('writes the accepted records to the central store too, and counts each outcome', async () => {
    // Prepare
    const event = firehoseEvent([
      b64(gzipPayload(dataMessageFactory({ cluster: 'prod', logStream: 'kube-scheduler-1' }))),
      b64(gzipPayload(dataMessageFactory({ cluster: 'prod', logStream: 'kube-scheduler-1' }))),
      b64(gzipPayload(controlMessageFactory())),
      'AAAA',
    ]);

    // Act
    await ingest.transformFirehose(event);

    // Assess
    const central = await objectKeys('prod/');
    expect(central).toHaveLength(1);
    expect(central[0]).toMatch(/^prod\/acme\/kube-scheduler\/kube-scheduler-1\//);
    expect(await objectKeys('_analytics/')).toHaveLength(1);
    expect(await metricValue(registry, 'tlr_cloudwatch_messages_total', { result: 'data' })).toBe(2);
    expect(await metricValue(registry, 'tlr_cloudwatch_messages_total', { result: 'control' })).toBe(1);
    expect(await metricValue(registry, 'tlr_cloudwatch_messages_total', { result: 'refused', reason: 'bad_gzip' })).toBe(1);
    expect(await metricValue(registry, 'tlr_cloudwatch_events_total', { component: 'kube-scheduler', format: 'klog' })).toBe(2);
  });

  it('fails a record whose rows would take the response over the Lambda limit, and keeps the others', async () => {
    // Prepare
    const big = 'x'.repeat(FIREHOSE_MAX_RESPONSE_BYTES / 2);
    const event = firehoseEvent([
      b64(gzipPayload(dataMessageFactory({ logEvents: [cloudwatchLogEventFactory({ message: big })] }))),
      b64(gzipPayload(dataMessageFactory({ logEvents: [cloudwatchLogEventFactory({ message: big })] }))),
      b64(gzipPayload(dataMessageFactory())),
    ]);

    // Act
    const response = await ingest.transformFirehose(event);

    // Assess
    expect(response.records.map((r) => r.result)).toEqual(['Ok', 'ProcessingFailed', 'Ok']);
    expect(response.records[1]!.data).toBe(event.records[1]!.data);
    expect(Buffer.byteLength(JSON.stringify(response))).toBeLessThan(FIREHOSE_MAX_RESPONSE_BYTES);
    expect(await metricValue(registry, 'tlr_cloudwatch_messages_total', { reason: 'firehose_response_too_large' })).toBe(1);
  });

  it('fails the whole batch when the central store fails, so Firehose retries it', async () => {
    // Prepare
    const config = validateCloudwatchIngestConfig({ tenant: 'acme' });
    const writer = createCloudwatchWriter({
      centralStore: { ...stores.objects, put: () => Promise.reject(new Error('S3 unreachable')) },
      queue: stores.queue,
      config,
      logger: silentLogger,
      registry,
    });
    const failing = createCloudwatchIngest({ writer, config, logger: silentLogger, registry });

    // Act
    const transform = failing.transformFirehose(firehoseEvent([b64(gzipPayload(dataMessageFactory()))]));

    // Assess
    await expect(transform).rejects.toThrow('S3 unreachable');
  });
});

describe('handleEvent', () => {
  it('writes a subscription event and sums it up', async () => {
    // Act
    const summary = (await ingest.handleEvent(subscriptionEvent(dataMessageFactory({ cluster: 'prod' })))) as IngestSummary;

    // Assess
    expect(summary).toMatchObject({ dataMessages: 1, controlMessages: 0, refusedMessages: 0, events: 1, refusals: [] });
    expect(summary.centralKeys).toEqual(await objectKeys('prod/'));
    expect(summary.analyticsKeys).toEqual(await objectKeys('_analytics/'));
  });

  it('ignores a control message and counts it', async () => {
    // Act
    const summary = (await ingest.handleEvent(subscriptionEvent(controlMessageFactory()))) as IngestSummary;

    // Assess
    expect(summary).toMatchObject({ dataMessages: 0, controlMessages: 1, events: 0, centralKeys: [] });
    expect(await objectKeys()).toEqual([]);
  });

  it('refuses an unknown stream with the reason, the message and the events counted', async () => {
    // Act
    const summary = (await ingest.handleEvent(
      subscriptionEvent(dataMessageFactory({ logStream: 'etcd-1', logEvents: [cloudwatchLogEventFactory(), cloudwatchLogEventFactory()] })),
    )) as IngestSummary;

    // Assess
    expect(summary.refusedMessages).toBe(1);
    expect(summary.refusals).toEqual([
      { reason: 'unknown_log_stream', message: expect.stringMatching(/^Log stream 'etcd-1' of/), source: 'awslogs.data' },
    ]);
    expect(await metricValue(registry, 'tlr_cloudwatch_refused_events_total', { reason: 'unknown_log_stream' })).toBe(2);
    expect(await objectKeys()).toEqual([]);
  });

  it('hands a Firehose event to the transformation', async () => {
    // Act
    const event = firehoseEvent([b64(gzipPayload(controlMessageFactory()))]);
    const response = (await ingest.handleEvent(event)) as FirehoseTransformationResult;

    // Assess
    expect(response.records.map((r) => r.result)).toEqual(['Dropped']);
  });

  it('refuses an event of another source without throwing', async () => {
    // Act
    const summary = (await ingest.handleEvent({ Records: [{ eventSource: 'aws:sqs' }] })) as IngestSummary;

    // Assess
    expect(summary.refusals).toEqual([{ reason: 'unknown_event', message: expect.stringContaining('neither a CloudWatch Logs subscription') }]);
    expect(await metricValue(registry, 'tlr_cloudwatch_messages_total', { result: 'refused', reason: 'unknown_event' })).toBe(1);
  });
});
