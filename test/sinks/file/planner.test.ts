import { describe, expect, it } from 'vitest';
import { type LogObjectKey, type LogRecord, parseObjectKey } from '../../../src/domain/index.js';
import { FILE_MAX_BATCH_BYTES, FILE_MAX_BATCH_EVENTS } from '../../../src/sinks/file/config.js';
import { createFilePlanner, type FilePayload, filePathFor } from '../../../src/sinks/file/planner.js';
import type { Batch } from '../../../src/sinks/types.js';
import { logEventFactory, objectKeyFactory } from '../../helpers/factories.js';

function logObject(application = 'kube-apiserver'): LogObjectKey {
  return parseObjectKey(objectKeyFactory({ application })) as LogObjectKey;
}

function recordAt(offset: number, timestampMs: number): LogRecord {
  const event = logEventFactory({ timestamp: new Date(timestampMs).toISOString(), seq: offset });
  return { offset, timestampMs, event, json: JSON.stringify(event) };
}

function planAll(
  planner: ReturnType<typeof createFilePlanner>,
  records: readonly LogRecord[],
): Batch<FilePayload>[] {
  const batches = records.flatMap((record) => planner.add(record));
  return [...batches, ...planner.flush()];
}

describe('filePathFor', () => {
  it.each([
    { at: '2024-01-15T10:30:00.000Z', expected: 'api/2024-01-15/10.ndjson' },
    { at: '2024-01-15T00:00:00.000Z', expected: 'api/2024-01-15/00.ndjson' },
    { at: '2024-12-31T23:59:59.999Z', expected: 'api/2024-12-31/23.ndjson' },
    { at: '1970-01-01T00:00:00.000Z', expected: 'api/1970-01-01/00.ndjson' },
  ])('files a record of $at under $expected (UTC)', ({ at, expected }) => {
    // Prepare
    const timestampMs = Date.parse(at);
    // Act
    const path = filePathFor('api', timestampMs);
    // Assess
    expect(path).toBe(expected);
  });

  it.each([{ timestampMs: Number.NaN }, { timestampMs: Number.POSITIVE_INFINITY }])(
    'files a record with no usable time ($timestampMs) under the epoch',
    ({ timestampMs }) => {
      // Prepare
      // Act
      const path = filePathFor('api', timestampMs);
      // Assess
      expect(path).toBe('api/1970-01-01/00.ndjson');
    },
  );
});

describe('createFilePlanner', () => {
  it('writes each record as its JSON line under the file of its application and hour, one file per batch', () => {
    // Prepare
    const object = logObject('oauth-openshift');
    const tenOClock = Date.parse('2024-01-15T10:00:00.000Z');
    const records = [
      recordAt(0, tenOClock + 1),
      recordAt(1, tenOClock + 3_599_999),
      recordAt(2, tenOClock + 3_600_000),
      recordAt(3, tenOClock - 1),
      recordAt(4, tenOClock + 5),
    ];
    // Act
    const batches = planAll(createFilePlanner(object), records);
    // Assess
    // A batch never spans two files, so a retry after a failed write cannot repeat lines in another file.
    expect(batches.map((b) => [b.firstOffset, b.lastOffset, [...b.payload.keys()]])).toEqual([
      [0, 1, ['oauth-openshift/2024-01-15/10.ndjson']],
      [2, 2, ['oauth-openshift/2024-01-15/11.ndjson']],
      [3, 3, ['oauth-openshift/2024-01-15/09.ndjson']],
      [4, 4, ['oauth-openshift/2024-01-15/10.ndjson']],
    ]);
    expect(batches[0]!.payload.get('oauth-openshift/2024-01-15/10.ndjson')).toBe(`${records[0]!.json}\n${records[1]!.json}\n`);
  });

  it('counts each line with its newline in the batch bytes', () => {
    // Prepare
    const records = [recordAt(0, 0), recordAt(1, 0)];
    // Act
    const [batch] = planAll(createFilePlanner(logObject()), records);
    // Assess
    expect(batch!.bytes).toBe(records[0]!.json.length + 1 + records[1]!.json.length + 1);
  });

  it('cuts batches at the planner limits with contiguous offsets', () => {
    // Prepare
    const records = Array.from({ length: 7 }, (_, i) => recordAt(i, Date.parse('2024-01-15T10:00:00Z')));
    // Act
    const batches = planAll(createFilePlanner(logObject(), { maxEvents: 3, maxBytes: 1_000_000 }), records);
    // Assess
    expect(batches.map((b) => [b.firstOffset, b.lastOffset])).toEqual([
      [0, 2],
      [3, 5],
      [6, 6],
    ]);
  });

  it('defaults to the file destination limits', () => {
    // Prepare
    const planner = createFilePlanner(logObject());
    const record = recordAt(0, 0);
    // Act
    const closed = Array.from({ length: FILE_MAX_BATCH_EVENTS + 1 }, (_, offset) =>
      planner.add({ ...record, offset }),
    ).flat();
    // Assess
    expect(closed).toHaveLength(1);
    expect(closed[0]!.count).toBe(FILE_MAX_BATCH_EVENTS);
    expect(closed[0]!.bytes).toBeLessThanOrEqual(FILE_MAX_BATCH_BYTES);
  });

  it('returns nothing on flush when no record was added', () => {
    // Prepare
    const planner = createFilePlanner(logObject());
    // Act
    const batches = planner.flush();
    // Assess
    expect(batches).toEqual([]);
  });
});
