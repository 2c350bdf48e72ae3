import { describe, expect, it } from 'vitest';
import { type LogObjectKey, type LogRecord, parseObjectKey } from '../../../src/domain/index.js';
import { MULTIPART_MAX_PARTS, type S3CopyLimits } from '../../../src/sinks/s3/config.js';
import {
  createS3Planner,
  destinationKeyFor,
  metadataValue,
  needsMultipartCopy,
  planCopyParts,
} from '../../../src/sinks/s3/planner.js';
import { logEventFactory, objectKeyFactory } from '../../helpers/factories.js';

function logObject(key = objectKeyFactory()): LogObjectKey {
  return parseObjectKey(key) as LogObjectKey;
}

function recordsAt(offsets: readonly number[]): LogRecord[] {
  return offsets.map((offset) => {
    const event = logEventFactory({ seq: offset });
    return { offset, timestampMs: 0, event, json: JSON.stringify(event) };
  });
}

const KIB_LIMITS: S3CopyLimits = { multipartThresholdBytes: 1024, partSizeBytes: 1024, minPartSizeBytes: 1024 };

describe('destinationKeyFor', () => {
  it.each([
    {
      key: 'c1/team-a/api/pod-1/20240115-103000-u.json.gz',
      prefix: 'ROSA/cluster-logs/',
      expected: 'ROSA/cluster-logs/team-a/api/pod-1/20240115-103000-u.json.gz',
    },
    {
      key: 'c1/team-a/api/pod-1/2024/01/15/f.json.gz',
      prefix: 'logs/',
      expected: 'logs/team-a/api/pod-1/2024/01/15/f.json.gz',
    },
    { key: 'c1/team-a/api/pod 1/f+ü.json.gz', prefix: '', expected: 'team-a/api/pod 1/f+ü.json.gz' },
  ])('puts $key at $expected, without the cluster id', ({ key, prefix, expected }) => {
    // Prepare
    const object = logObject(key);
    // Act
    const destination = destinationKeyFor(prefix, object);
    // Assess
    expect(destination).toBe(expected);
    expect(destination.split('/')).not.toContain('c1');
  });
});

describe('metadataValue', () => {
  it.each([
    { value: 'team-a', expected: 'team-a' },
    { value: 'pod with space', expected: 'pod with space' },
    { value: 'pöd', expected: `=?UTF-8?B?${Buffer.from('pöd').toString('base64')}?=` },
    { value: 'tab\there', expected: `=?UTF-8?B?${Buffer.from('tab\there').toString('base64')}?=` },
  ])('sends $value as $expected', ({ value, expected }) => {
    // Prepare
    // Act
    const sent = metadataValue(value);
    // Assess
    expect(sent).toBe(expected);
  });
});

describe('createS3Planner', () => {
  it('closes no batch while records arrive', () => {
    // Prepare
    const planner = createS3Planner(logObject(), 'logs/');
    // Act
    const closed = recordsAt([0, 1, 2, 3]).flatMap((r) => planner.add(r));
    // Assess
    expect(closed).toEqual([]);
  });

  it('flushes one batch copying the whole object, spanning offset 0 to the last record seen', () => {
    // Prepare
    const object = logObject();
    const planner = createS3Planner(object, 'logs/');
    const records = recordsAt([0, 1, 2, 3, 4]);
    for (const record of records) planner.add(record);
    // Act
    const batches = planner.flush();
    // Assess
    expect(batches).toHaveLength(1);
    expect(batches[0]).toEqual({
      firstOffset: 0,
      lastOffset: 4,
      count: 5,
      bytes: records.reduce((sum, r) => sum + r.json.length + 1, 0),
      payload: {
        sourceKey: object.key,
        destinationKey: destinationKeyFor('logs/', object),
        metadata: { 'tenant-id': object.tenantId, application: object.application, 'pod-name': object.podName },
      },
    });
  });

  it('still copies an object without records, as a batch ending at offset -1', () => {
    // Prepare
    const object = logObject();
    const planner = createS3Planner(object, 'logs/');
    // Act
    const batches = planner.flush();
    // Assess
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ firstOffset: 0, lastOffset: -1, count: 0, bytes: 0 });
    expect(batches[0]!.payload.sourceKey).toBe(object.key);
  });

  it('copies the whole object when a retry resumes after a checkpoint, ending at the highest offset', () => {
    // Prepare
    const planner = createS3Planner(logObject(), 'logs/');
    for (const record of recordsAt([7, 9, 8])) planner.add(record);
    // Act
    const batches = planner.flush();
    // Assess
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ firstOffset: 0, lastOffset: 9, count: 3 });
  });

  it('returns nothing from a second flush, so one planner never copies twice', () => {
    // Prepare
    const planner = createS3Planner(logObject(), 'logs/');
    planner.flush();
    // Act
    const again = planner.flush();
    // Assess
    expect(again).toEqual([]);
  });

  it('names the tenant, application and pod in the metadata and nothing about the cluster', () => {
    // Prepare
    const object = logObject('cluster-secret/team-a/api/pod-1/f.json.gz');
    const planner = createS3Planner(object, '');
    // Act
    const [batch] = planner.flush();
    // Assess
    expect(Object.keys(batch!.payload.metadata).sort()).toEqual(['application', 'pod-name', 'tenant-id']);
    expect(JSON.stringify(batch!.payload.metadata)).not.toContain('cluster-secret');
  });
});

describe('needsMultipartCopy', () => {
  it.each([
    { size: 0, expected: false },
    { size: 1024, expected: false },
    { size: 1025, expected: true },
  ])('copies $size bytes in parts: $expected (threshold 1024)', ({ size, expected }) => {
    // Prepare
    // Act
    const multipart = needsMultipartCopy(size, KIB_LIMITS);
    // Assess
    expect(multipart).toBe(expected);
  });
});

describe('planCopyParts', () => {
  it.each([
    { size: 1, expected: [[1, 0, 0]] },
    { size: 1024, expected: [[1, 0, 1023]] },
    { size: 2048, expected: [[1, 0, 1023], [2, 1024, 2047]] },
    { size: 2500, expected: [[1, 0, 1023], [2, 1024, 2047], [3, 2048, 2499]] },
  ])('cuts $size bytes into inclusive 1 KiB ranges, the last one shorter', ({ size, expected }) => {
    // Prepare
    // Act
    const parts = planCopyParts(size, KIB_LIMITS);
    // Assess
    expect(parts.map((p) => [p.partNumber, p.firstByte, p.lastByte])).toEqual(expected);
  });

  it('grows the parts when the object would need more than 10,000 of them', () => {
    // Prepare
    const size = 1024 * MULTIPART_MAX_PARTS * 3 + 7;
    // Act
    const parts = planCopyParts(size, KIB_LIMITS);
    // Assess
    expect(parts.length).toBeLessThanOrEqual(MULTIPART_MAX_PARTS);
    expect(parts[0]!.firstByte).toBe(0);
    expect(parts.at(-1)!.lastByte).toBe(size - 1);
    for (const [i, part] of parts.entries()) {
      if (i > 0) expect(part.firstByte).toBe(parts[i - 1]!.lastByte + 1);
    }
  });
});

describe('createS3Planner source bucket', () => {
  it.each([
    { case: 'the notification named a bucket', bucket: 'central-eu', expected: { sourceBucket: 'central-eu' } },
    { case: 'no bucket was named', bucket: undefined, expected: {} },
  ])('copies from the bucket of the notification when $case', ({ bucket, expected }) => {
    // Prepare
    const planner = createS3Planner(logObject(), 'logs/', bucket);

    // Act
    const [batch] = planner.flush();

    // Assess
    expect(batch!.payload).toMatchObject(expected);
    if (bucket === undefined) expect(batch!.payload).not.toHaveProperty('sourceBucket');
  });
});
