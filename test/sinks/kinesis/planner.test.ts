import { describe, expect, it } from 'vitest';
import { type LogObjectKey, type LogRecord, parseObjectKey } from '../../../src/domain/index.js';
import {
  createKinesisPlanner,
  defaultKinesisLimits,
  type KinesisPayload,
  type KinesisSinkConfig,
  kinesisStreamFor,
  LogCategory,
  logCategoryOf,
  partitionKeyFor,
} from '../../../src/sinks/kinesis/index.js';
import type { Batch } from '../../../src/sinks/types.js';
import { objectKeyFactory } from '../../helpers/factories.js';

const STREAM = { StreamName: 'logs' } as const;
/** `{"message":"…"}` is 14 bytes around the message. */
const MESSAGE_JSON_OVERHEAD = 14;

/** A record whose JSON line is exactly `bytes` long. */
function lineOf(offset: number, bytes: number): LogRecord {
  const event = { message: String(offset).padEnd(bytes - MESSAGE_JSON_OVERHEAD, 'x') };
  return { offset, timestampMs: 0, event, json: JSON.stringify(event) };
}

function objectOf(parts: Parameters<typeof objectKeyFactory>[0]): LogObjectKey {
  return parseObjectKey(objectKeyFactory(parts)) as LogObjectKey;
}

function planAll(planner: ReturnType<typeof createKinesisPlanner>, records: readonly LogRecord[]): Batch<KinesisPayload>[] {
  return [...records.flatMap((r) => planner.add(r)), ...planner.flush()];
}

describe('partitionKeyFor', () => {
  const object = objectOf({ clusterId: 'c1', namespace: 'team-a', application: 'web', podName: 'web-7d9-x2' });

  it.each([
    { template: undefined, key: 'web-7d9-x2' },
    { template: '{pod_name}', key: 'web-7d9-x2' },
    { template: '{namespace}/{application}', key: 'team-a/web' },
    { template: '{cluster_id}:{namespace}:{application}:{pod_name}', key: 'c1:team-a:web:web-7d9-x2' },
    { template: 'fixed', key: 'fixed' },
    { template: `${'k'.repeat(250)}{pod_name}`, key: `${'k'.repeat(250)}web-7d`.slice(0, 256) },
    { template: `${'😀'.repeat(255)}{pod_name}`, key: `${'😀'.repeat(255)}w` },
  ])('fills $template as $key, at most 256 characters', ({ template, key }) => {
    // Prepare
    // Act
    const filled = partitionKeyFor(object, template);

    // Assess
    expect(filled).toBe(key);
    expect([...filled].length).toBeLessThanOrEqual(256);
  });
});

describe('logCategoryOf', () => {
  it.each([
    { application: 'kube-apiserver-audit', namespace: 'openshift-kube-apiserver', category: LogCategory.AUDIT },
    { application: 'openshift-apiserver-audit', namespace: 'team-a', category: LogCategory.AUDIT },
    { application: 'audit', namespace: 'team-a', category: LogCategory.AUDIT },
    { application: 'kube-apiserver', namespace: 'team-a', category: LogCategory.INFRASTRUCTURE },
    { application: 'oauth-openshift', namespace: 'team-a', category: LogCategory.INFRASTRUCTURE },
    { application: 'prometheus', namespace: 'openshift-monitoring', category: LogCategory.INFRASTRUCTURE },
    { application: 'coredns', namespace: 'kube-system', category: LogCategory.INFRASTRUCTURE },
    { application: 'router', namespace: 'openshift', category: LogCategory.INFRASTRUCTURE },
    { application: 'web', namespace: 'default', category: LogCategory.INFRASTRUCTURE },
    { application: 'web', namespace: 'kubeflow', category: LogCategory.APPLICATION },
    { application: 'auditor', namespace: 'team-a', category: LogCategory.APPLICATION },
    { application: 'web', namespace: 'team-a', category: LogCategory.APPLICATION },
  ])('files $application in $namespace as $category', ({ application, namespace, category }) => {
    // Prepare
    const object = objectOf({ application, namespace });

    // Act
    const found = logCategoryOf(object);

    // Assess
    expect(found).toBe(category);
  });
});

describe('kinesisStreamFor', () => {
  const arn = 'arn:aws:kinesis:us-east-1:222222222222:stream/infra';
  const routed = { stream_name: 'own', streams: { audit: 'audit-logs', infrastructure: arn } } as unknown as KinesisSinkConfig;
  const byArn = { stream_arn: 'arn:aws:kinesis:us-east-1:222222222222:stream/own' } as unknown as KinesisSinkConfig;

  it.each([
    { name: 'audit to its stream by name', config: routed, parts: { application: 'kube-apiserver-audit' }, target: { StreamName: 'audit-logs' } },
    { name: 'infrastructure to its stream by ARN', config: routed, parts: { namespace: 'openshift-dns' }, target: { StreamARN: arn } },
    { name: 'application, not routed, to the own stream', config: routed, parts: { namespace: 'team-a' }, target: { StreamName: 'own' } },
    { name: 'everything to the own stream by ARN', config: byArn, parts: { application: 'audit' }, target: { StreamARN: byArn.stream_arn } },
  ])('sends $name', ({ config, parts, target }) => {
    // Prepare
    const object = objectOf(parts);

    // Act
    const chosen = kinesisStreamFor(config, object);

    // Assess
    expect(chosen).toEqual(target);
  });
});

describe('createKinesisPlanner', () => {
  describe.each([
    // Lines of 99 bytes take 100 with their newline; records are at most 1,000 bytes, key included.
    { keyLength: 1, lineBytes: 99, linesPerRecord: [9, 9, 9, 9, 9, 5] },
    { keyLength: 100, lineBytes: 99, linesPerRecord: [9, 9, 9, 9, 9, 5] },
    { keyLength: 101, lineBytes: 99, linesPerRecord: [8, 8, 8, 8, 8, 8, 2] },
    { keyLength: 256, lineBytes: 99, linesPerRecord: [7, 7, 7, 7, 7, 7, 7, 1] },
  ])('with a partition key of $keyLength characters', ({ keyLength, lineBytes, linesPerRecord }) => {
    it('counts the key against the record size and the request size', () => {
      // Prepare
      const key = 'k'.repeat(keyLength);
      const limits = { maxRecordBytes: 1_000, maxRecordsPerRequest: 500, maxRequestBytes: 100_000 };
      const records = Array.from({ length: 50 }, (_, i) => lineOf(i, lineBytes));

      // Act
      const batches = planAll(createKinesisPlanner(STREAM, key, { limits }), records);

      // Assess
      expect(batches).toHaveLength(1);
      const [batch] = batches;
      expect(batch!.payload.stream).toEqual(STREAM);
      expect(batch!.payload.partitionKey).toBe(key);
      expect(batch!.payload.records.map((r) => r.lines)).toEqual(linesPerRecord);
      expect(batch!.payload.records.every((r) => r.bytes === r.data.length + keyLength && r.bytes <= 1_000)).toBe(true);
      expect(batch!.bytes).toBe(batch!.payload.records.reduce((n, r) => n + r.bytes, 0));
    });
  });

  it.each([
    // Two lines of 2,100 bytes do not fit a 4,096-byte record: each line is a record.
    { name: '500 records per request', lines: 1_201, lineBytes: 2_100, limits: { maxRecordBytes: 4_096 }, requests: [500, 500, 201] },
    { name: 'the 10 MiB request cap', lines: 20, lineBytes: 600_000, limits: {}, requests: [17, 3] },
    { name: 'a lowered request cap (moto: 5 MB)', lines: 20, lineBytes: 600_000, limits: { maxRequestBytes: 5_000_000 }, requests: [8, 8, 4] },
  ])('cuts requests at $name', ({ lines, lineBytes, limits, requests }) => {
    // Prepare
    const records = Array.from({ length: lines }, (_, i) => lineOf(i, lineBytes));
    const planner = createKinesisPlanner(STREAM, 'pod-0', { limits: { ...defaultKinesisLimits(), ...limits } });

    // Act
    const batches = planAll(planner, records);

    // Assess
    expect(batches.map((b) => b.payload.records.length)).toEqual(requests);
    expect(batches.map((b) => b.count)).toEqual(requests);
  });
});
