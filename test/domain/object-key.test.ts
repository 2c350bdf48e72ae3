import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ObjectKeyError } from '../../src/domain/errors.js';
import {
  buildObjectKey,
  formatKeyTimestamp,
  isValidKeySegment,
  parseKeyTimestamp,
  parseObjectKey,
} from '../../src/domain/object-key.js';
import { objectKeyPartsFactory } from '../helpers/factories.js';

const FILE = '20240115-103000-0b6f3d0e.json.gz';

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('parseObjectKey', () => {
  it('splits a five-segment key into cluster, tenant, application, pod and file', () => {
    // Prepare
    const { clusterId, namespace, application, podName } = objectKeyPartsFactory();
    const key = `${clusterId}/${namespace}/${application}/${podName}/${FILE}`;

    // Act
    const parsed = parseObjectKey(key);

    // Assess
    expect(parsed).toEqual({
      kind: 'log',
      key,
      clusterId,
      tenantId: namespace,
      application,
      podName,
      middle: [],
      fileName: FILE,
    });
  });

  it('keeps the segments between the pod and the file name, in order', () => {
    // Prepare
    const key = `c1/team-a/kube-apiserver/pod-1/2024/01/15/${FILE}`;

    // Act
    const parsed = parseObjectKey(key);

    // Assess
    expect(parsed).toMatchObject({
      kind: 'log',
      tenantId: 'team-a',
      podName: 'pod-1',
      middle: ['2024', '01', '15'],
      fileName: FILE,
    });
  });

  it.each([
    { key: '', why: 'the empty key' },
    { key: 'c1/team-a/app/pod-1', why: 'four segments' },
    { key: 'c1/team-a/app', why: 'three segments' },
  ])('rejects $why as having fewer than 5 segments', ({ key }) => {
    // Prepare
    // Act
    const error = catchError(() => parseObjectKey(key));

    // Assess
    expect(error).toBeInstanceOf(ObjectKeyError);
    expect((error as ObjectKeyError).message).toMatch(/expected at least 5/);
    expect((error as ObjectKeyError).key).toBe(key);
  });

  it.each([
    { key: `/team-a/app/pod-1/${FILE}`, segment: 'cluster_id' },
    { key: `c1//app/pod-1/${FILE}`, segment: 'namespace' },
    { key: `c1/team-a/ /pod-1/${FILE}`, segment: 'application' },
    { key: `c1/team-a/app/\t/${FILE}`, segment: 'pod_name' },
    { key: 'c1/team-a/app/pod-1/', segment: 'file name' },
    { key: `c1/team-a/app/pod-1//${FILE}`, segment: 'segment 5' },
  ])('rejects a key with an empty or blank $segment segment, naming it', ({ key, segment }) => {
    // Prepare
    // Act
    const error = catchError(() => parseObjectKey(key));

    // Assess
    expect(error).toBeInstanceOf(ObjectKeyError);
    expect((error as ObjectKeyError).code).toBe(ErrorCode.INVALID_OBJECT_KEY);
    expect((error as ObjectKeyError).message).toContain(`empty ${segment} `);
    expect((error as ObjectKeyError).key).toBe(key);
  });

  it.each([{ key: '_analytics/2024/01/15/report.json.gz' }, { key: '_marker' }, { key: '_internal//x' }])(
    "returns kind 'internal' for the router's own key $key",
    ({ key }) => {
      // Prepare
      // Act
      const parsed = parseObjectKey(key);

      // Assess
      expect(parsed).toEqual({ kind: 'internal', key });
    },
  );

  it("treats '_' as internal only in the first segment", () => {
    // Prepare
    const key = `c1/_team/app/pod-1/${FILE}`;

    // Act
    const parsed = parseObjectKey(key);

    // Assess
    expect(parsed).toMatchObject({ kind: 'log', tenantId: '_team' });
  });
});

describe('buildObjectKey', () => {
  it('builds a key that parseObjectKey reads back into the same parts', () => {
    // Prepare
    const parts = objectKeyPartsFactory();
    const createdAtMs = Date.UTC(2024, 0, 15, 10, 30, 0, 456);
    const uuid = randomUUID();

    // Act
    const key = buildObjectKey(parts, createdAtMs, uuid);
    const parsed = parseObjectKey(key);

    // Assess
    expect(key).toBe(
      `${parts.clusterId}/${parts.namespace}/${parts.application}/${parts.podName}/20240115-103000-${uuid}.json.gz`,
    );
    expect(parsed).toEqual({
      kind: 'log',
      key,
      clusterId: parts.clusterId,
      tenantId: parts.namespace,
      application: parts.application,
      podName: parts.podName,
      middle: [],
      fileName: `20240115-103000-${uuid}.json.gz`,
    });
  });

  it('round-trips any valid segments through parseObjectKey', () => {
    // Prepare
    const segment = fc
      .string({ minLength: 1, maxLength: 20 })
      .filter((s) => isValidKeySegment(s) && !s.startsWith('_'));
    const parts = fc.record({
      clusterId: segment,
      namespace: segment,
      application: segment,
      podName: segment,
    });

    // Act
    // Assess
    fc.assert(
      fc.property(parts, fc.uuid(), (p, uuid) => {
        const parsed = parseObjectKey(buildObjectKey(p, 0, uuid));
        expect(parsed).toMatchObject({
          kind: 'log',
          clusterId: p.clusterId,
          tenantId: p.namespace,
          application: p.application,
          podName: p.podName,
          fileName: `19700101-000000-${uuid}.json.gz`,
        });
      }),
    );
  });

  it.each([
    { field: 'clusterId', name: 'cluster_id', value: '' },
    { field: 'namespace', name: 'namespace', value: '  ' },
    { field: 'application', name: 'application', value: 'kube/apiserver' },
    { field: 'podName', name: 'pod_name', value: '' },
  ])('rejects an invalid $name segment ($value), naming it', ({ field, name, value }) => {
    // Prepare
    const parts = objectKeyPartsFactory({ [field]: value });

    // Act
    const error = catchError(() => buildObjectKey(parts, 0, randomUUID()));

    // Assess
    expect(error).toBeInstanceOf(ObjectKeyError);
    expect((error as ObjectKeyError).message).toContain(`Invalid ${name} '${value}'`);
  });
});

describe('formatKeyTimestamp and parseKeyTimestamp', () => {
  it('formats a time as YYYYMMDD-HHMMSS in UTC', () => {
    // Prepare
    const ms = Date.UTC(2024, 0, 5, 7, 8, 9, 999);

    // Act
    const text = formatKeyTimestamp(ms);

    // Assess
    expect(text).toBe('20240105-070809');
  });

  it('reads the creation time from the start of a file name', () => {
    // Prepare
    const fileName = `20240115-103000-${randomUUID()}.json.gz`;

    // Act
    const ms = parseKeyTimestamp(fileName);

    // Assess
    expect(ms).toBe(Date.UTC(2024, 0, 15, 10, 30, 0));
  });

  it('round-trips any time to the whole second', () => {
    // Prepare
    const times = fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) });

    // Act
    // Assess
    fc.assert(
      fc.property(times, (ms) => {
        expect(parseKeyTimestamp(formatKeyTimestamp(ms))).toBe(ms - (ms % 1000));
      }),
    );
  });

  it.each([
    { fileName: 'report.json.gz' },
    { fileName: '2024-01-15T10:30:00.json.gz' },
    { fileName: '20240115103000.json.gz' },
    { fileName: '' },
  ])('returns undefined for the file name $fileName, which has no key timestamp', ({ fileName }) => {
    // Prepare
    // Act
    const ms = parseKeyTimestamp(fileName);

    // Assess
    expect(ms).toBeUndefined();
  });
});

describe('parseKeyTimestamp on impossible dates', () => {
  it.each(['20241301-000000-x.json.gz', '20240230-000000-x.json.gz', '20240101-250000-x.json.gz'])(
    'returns undefined for %s instead of rolling the date over',
    (fileName) => {
      // Prepare
      const name = fileName;

      // Act
      const ms = parseKeyTimestamp(name);

      // Assess
      expect(ms).toBeUndefined();
    },
  );
});

describe('parseObjectKey segment rules shared with every store', () => {
  it.each([
    { name: "a '..' pod", key: 'c1/ns/app/../20240101-000000-x.json.gz', problem: "starts with '.'" },
    { name: 'a hidden application', key: 'c1/ns/.tmp-app/pod/20240101-000000-x.json.gz', problem: "starts with '.'" },
    { name: 'a 256-byte namespace', key: `c1/${'é'.repeat(128)}/app/pod/f.json.gz`, problem: 'longer than 255 bytes' },
  ])('refuses $name, naming the segment and the rule', ({ key, problem }) => {
    // Prepare
    const parse = () => parseObjectKey(key);

    // Act
    let error: unknown;
    try {
      parse();
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ObjectKeyError);
    expect((error as Error).message).toContain(problem);
  });
});
