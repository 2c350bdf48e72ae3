import { gunzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseObjectKey } from '../../../src/domain/index.js';
import {
  classifyDataMessage,
  createCloudwatchWriter,
  type DataMessage,
  type EksLogRecord,
  planAnalyticsObjects,
  planCentralObjects,
  readSubscriptionPayload,
  validateCloudwatchIngestConfig,
} from '../../../src/ingest/cloudwatch/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { parseNotification } from '../../../src/pipeline/notification.js';
import { type LocalStores, openLocalStores } from '../../../src/runtimes/local-stores.js';
import type { ObjectStore } from '../../../src/stores/ports.js';
import { auditEventFactory, cloudwatchLogEventFactory, dataMessageFactory } from '../../helpers/cloudwatch-logs.js';
import { randomId } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const KEY_FILE = /^\d{8}-\d{6}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json\.gz$/;

function records(overrides: Parameters<typeof dataMessageFactory>[0] = {}, tenant = 'acme'): EksLogRecord[] {
  const payload = readSubscriptionPayload(dataMessageFactory(overrides)) as DataMessage;
  const result = classifyDataMessage(payload, { tenant });
  if (!result.ok) throw new Error(result.message);
  return result.records;
}

async function readLines(store: ObjectStore, key: string): Promise<Record<string, unknown>[]> {
  const { body } = await store.get(key);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return gunzipSync(Buffer.concat(chunks))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function listKeys(store: ObjectStore, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix !== undefined ? { prefix } : {})) keys.push(info.key);
  return keys;
}

describe('planCentralObjects', () => {
  it('writes one object per pod at the central key layout, named from the first event time', () => {
    // Prepare
    const cluster = `eks-${randomId()}`;
    const events = [
      cloudwatchLogEventFactory({ timestamp: Date.UTC(2026, 4, 22, 12, 0, 1) }),
      cloudwatchLogEventFactory({ timestamp: Date.UTC(2026, 4, 22, 12, 0, 2) }),
    ];
    const input = records({ cluster, logStream: 'kube-apiserver-a1b2', logEvents: events });

    // Act
    const objects = planCentralObjects(input, 1024 * 1024);

    // Assess
    expect(objects).toHaveLength(1);
    const key = parseObjectKey(objects[0]!.key);
    expect(key).toMatchObject({
      kind: 'log',
      clusterId: cluster,
      tenantId: 'acme',
      application: 'kube-apiserver',
      podName: 'kube-apiserver-a1b2',
    });
    expect(key.kind === 'log' && key.fileName).toMatch(KEY_FILE);
    expect(key.kind === 'log' && key.fileName.startsWith('20260522-120001-')).toBe(true);
    expect(objects[0]!.events).toBe(2);
  });

  it('names the same events the same key, so a retried write overwrites rather than duplicates', () => {
    // Prepare
    const input = records();

    // Act
    const first = planCentralObjects(input, 1024 * 1024);
    const again = planCentralObjects(input.map((r) => ({ ...r })), 1024 * 1024);
    const other = planCentralObjects(records({ logStream: input[0]!.logStream, cluster: input[0]!.cluster }), 1024 * 1024);

    // Assess
    expect(again.map((o) => o.key)).toEqual(first.map((o) => o.key));
    expect(other[0]!.key).not.toBe(first[0]!.key);
  });

  it('cuts a group into objects of at most the size limit, a bigger event alone', () => {
    // Prepare
    const events = Array.from({ length: 5 }, (_, i) =>
      cloudwatchLogEventFactory({ message: i === 2 ? 'x'.repeat(3_000) : `line ${i}`, timestamp: Date.UTC(2026, 4, 22, 12, 0, i) }));
    const input = records({ logEvents: events });

    // Act
    const objects = planCentralObjects(input, 1_500);

    // Assess
    expect(objects.map((o) => o.events)).toEqual([2, 1, 2]);
    expect(new Set(objects.map((o) => o.key)).size).toBe(3);
    expect(objects.flatMap((o) => o.ndjson.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { event_id: string }).event_id)))
      .toEqual(input.map((r) => r.eventId));
  });
});

describe('planAnalyticsObjects', () => {
  it('writes one object per component, day and hour under the prefix, from the CloudWatch timestamps', () => {
    // Prepare
    const events = [
      cloudwatchLogEventFactory({ timestamp: Date.UTC(2026, 4, 22, 23, 59, 59) }),
      cloudwatchLogEventFactory({ timestamp: Date.UTC(2026, 4, 23, 0, 0, 1) }),
      cloudwatchLogEventFactory({ timestamp: Date.UTC(2026, 4, 23, 0, 30, 0) }),
    ];
    const input = records({ logStream: 'kube-scheduler-1', logEvents: events });

    // Act
    const objects = planAnalyticsObjects(input, '_analytics/eks/', 1024 * 1024);

    // Assess
    expect(objects.map((o) => o.key.replace(/[^/]+$/, ''))).toEqual([
      '_analytics/eks/component=kube-scheduler/dt=2026-05-22/hour=23/',
      '_analytics/eks/component=kube-scheduler/dt=2026-05-23/hour=00/',
    ]);
    expect(objects.map((o) => o.events)).toEqual([1, 2]);
    expect(objects[1]!.key.split('/').at(-1)).toMatch(/^20260523-000001-/);
    expect(parseObjectKey(objects[0]!.key).kind).toBe('internal');
  });

  it('writes rows of the analytics columns', () => {
    // Prepare
    const audit = auditEventFactory();
    const input = records({ logStream: 'kube-apiserver-audit-1', logEvents: [cloudwatchLogEventFactory({ message: JSON.stringify(audit) })] });

    // Act
    const [object] = planAnalyticsObjects(input, '_analytics/eks/', 1024 * 1024);

    // Assess
    const row = JSON.parse(object!.ndjson) as Record<string, unknown>;
    expect(row).toMatchObject({
      cluster: input[0]!.cluster,
      tenant: 'acme',
      log_stream: 'kube-apiserver-audit-1',
      event_id: input[0]!.eventId,
      format: 'audit',
      message: JSON.stringify(audit),
      audit_id: audit['auditID'],
      verb: 'list',
      response_code: 200,
      user_groups: ['system:serviceaccounts', 'system:authenticated'],
    });
    expect(row).not.toHaveProperty('component');
  });
});

describe('createCloudwatchWriter', () => {
  let dataDir: string;
  let stores: LocalStores;

  beforeEach(async () => {
    dataDir = await makeTempDir('tlr-cw-writer-');
    stores = openLocalStores(dataDir);
  });

  afterEach(async () => {
    stores.close();
    await removeTempDirs();
  });

  function writer(config: Record<string, unknown> = {}, registry = new Registry()) {
    return createCloudwatchWriter({
      centralStore: stores.objects,
      queue: stores.queue,
      analyticsStore: stores.objects,
      config: validateCloudwatchIngestConfig({ tenant: 'acme', ...config }),
      logger: silentLogger,
      registry,
    });
  }

  it('writes gzip NDJSON central objects and queues one work item each, after the object exists', async () => {
    // Prepare
    const input = records({ logStream: 'kube-controller-manager-7' });
    const registry = new Registry();

    // Act
    const result = await writer({}, registry).write(input);

    // Assess
    expect(result.analyticsKeys).toEqual([]);
    expect(await listKeys(stores.objects)).toEqual(result.centralKeys);
    const [line] = await readLines(stores.objects, result.centralKeys[0]!);
    expect(line).toEqual({
      message: input[0]!.message,
      timestamp: '2026-05-22T12:34:56.789012Z',
      cluster_id: input[0]!.cluster,
      namespace: 'acme',
      application: 'kube-controller-manager',
      pod_name: 'kube-controller-manager-7',
      log_group: input[0]!.logGroup,
      log_stream: 'kube-controller-manager-7',
      event_id: input[0]!.eventId,
      cloudwatch_timestamp: '2026-05-22T12:34:56.789Z',
      format: 'klog',
      level: 'info',
      thread_id: 1,
      source: 'server.go:42',
      msg: 'Request handled',
      fields: { id: expect.any(String) },
    });
    const messages = await stores.queue.receive({ maxMessages: 10, waitMs: 0 });
    expect(messages.map((m) => parseNotification(m.body).items)).toEqual([[{ key: result.centralKeys[0], attempt: 0 }]]);
    expect(await metricValue(registry, 'tlr_cloudwatch_objects_total', { target: 'central' })).toBe(1);
  });

  it('writes the analytics copy without notifying it', async () => {
    // Act
    const result = await writer({ analytics: {} }).write(records());

    // Assess
    expect(result.analyticsKeys).toHaveLength(1);
    expect(result.analyticsKeys[0]).toMatch(/^_analytics\/eks\/component=kube-apiserver\/dt=2026-05-22\/hour=12\//);
    expect(await listKeys(stores.objects, '_analytics/')).toEqual(result.analyticsKeys);
    expect(await stores.queue.receive({ maxMessages: 10, waitMs: 0 })).toHaveLength(1);
  });

  it('fails the write when the store fails, and counts it', async () => {
    // Prepare
    const registry = new Registry();
    const failing: ObjectStore = { ...stores.objects, put: () => Promise.reject(new Error('disk gone')) };
    const broken = createCloudwatchWriter({
      centralStore: failing,
      queue: stores.queue,
      config: validateCloudwatchIngestConfig({ tenant: 'acme' }),
      logger: silentLogger,
      registry,
    });

    // Act
    const write = broken.write(records());

    // Assess
    await expect(write).rejects.toThrow('disk gone');
    expect(await stores.queue.receive({ maxMessages: 10, waitMs: 0 })).toEqual([]);
    expect(await metricValue(registry, 'tlr_cloudwatch_write_failures_total', { target: 'central' })).toBe(1);
  });

  it('refuses to start with analytics but no analytics store', () => {
    expect(() =>
      createCloudwatchWriter({
        centralStore: stores.objects,
        queue: stores.queue,
        config: validateCloudwatchIngestConfig({ tenant: 'acme', analytics: {} }),
        logger: silentLogger,
        registry: new Registry(),
      })).toThrow('The CloudWatch writer has analytics configured but no analytics store.');
  });
});
