import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type DemoEvent,
  type DemoExpectation,
  demoConfigs,
  expectDeliveries,
  readDelivered,
  summarizeDemo,
} from '../../src/demo/scenario.js';
import { randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

let baseDir: string;
let seq: number;

function event(namespace: string, application: string): DemoEvent {
  seq += 1;
  return { seq, namespace, application };
}

/** Appends lines `{namespace, seq}` to an NDJSON file under `directory`, as the file sink lays them out. */
async function writeLines(
  directory: string,
  lines: readonly { namespace: string; seq: number }[],
  file = join('kube-apiserver', '2026-03-01', '10.ndjson'),
): Promise<void> {
  const path = join(directory, file);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, lines.map((l) => `${JSON.stringify({ ...l, message: 'm' })}\n`).join(''), {
    flag: 'a',
  });
}

function destination(expectation: DemoExpectation, key: string) {
  const found = expectation.byDestination.get(key);
  expect(found, `destination ${key}`).toBeDefined();
  return found!;
}

beforeEach(async () => {
  baseDir = await makeTempDir('tlr-demo-scenario-');
  seq = 0;
});

afterEach(async () => {
  await removeTempDirs();
});

describe('expectDeliveries', () => {
  it('routes an event to every enabled destination of its tenant whose filter passes', async () => {
    // Prepare
    const configs = [
      { tenant_id: 'a', type: 'file', directory: 'out/a' },
      { tenant_id: 'a', type: 'file:api', directory: '/abs/a-api', desired_logs: ['kube-apiserver'] },
      { tenant_id: 'a', type: 'file:sched', directory: 'out/a-sched', groups: ['scheduler'] },
    ];
    const api = event('a', 'kube-apiserver');
    const sched = event('a', 'kube-scheduler');
    const etcd = event('a', 'etcd');

    // Act
    const expectation = expectDeliveries([api, sched, etcd], configs, baseDir);

    // Assess
    expect(destination(expectation, 'a/file')).toEqual({
      tenant: 'a',
      directory: join(baseDir, 'out/a'),
      seqs: new Set([api.seq, sched.seq, etcd.seq]),
    });
    expect(destination(expectation, 'a/file:api')).toEqual({
      tenant: 'a',
      directory: '/abs/a-api',
      seqs: new Set([api.seq]),
    });
    expect(destination(expectation, 'a/file:sched').seqs).toEqual(new Set([sched.seq]));
    expect(expectation.received).toEqual(new Map([['a', 3]]));
    expect(expectation.skipped).toEqual(new Map());
  });

  it.each([
    {
      reason: 'filtered out',
      case: 'one filtering config',
      configs: [{ tenant_id: 't', type: 'file', directory: 'd', desired_logs: ['etcd'] }],
    },
    {
      reason: 'filtered out',
      case: 'a filtering config beside a disabled one',
      configs: [
        { tenant_id: 't', type: 'file', directory: 'd', desired_logs: ['etcd'] },
        { tenant_id: 't', type: 'file:off', directory: 'd2', enabled: false },
      ],
    },
    {
      reason: 'config disabled',
      case: 'its only config disabled',
      configs: [{ tenant_id: 't', type: 'file', directory: 'd', enabled: false }],
    },
    {
      reason: 'no config',
      case: 'only another tenant configured',
      configs: [{ tenant_id: 'other', type: 'file', directory: 'd' }],
    },
  ])('counts an event no destination takes as $reason with $case', ({ reason, configs }) => {
    // Prepare
    const events = [event('t', 'kube-apiserver'), event('t', 'oauth-openshift')];

    // Act
    const expectation = expectDeliveries(events, configs, baseDir);

    // Assess
    expect(expectation.received.get('t')).toBe(2);
    expect(expectation.skipped.get('t')).toEqual({ [reason]: 2 });
    for (const d of expectation.byDestination.values()) expect(d.seqs.size).toBe(0);
  });

  it('counts received and skipped events per tenant', () => {
    // Prepare
    const configs = [
      { tenant_id: 'a', type: 'file', directory: 'a', desired_logs: ['etcd'] },
      { tenant_id: 'b', type: 'file', directory: 'b', enabled: false },
    ];
    const events = [
      event('a', 'etcd'),
      event('a', 'kube-scheduler'),
      event('b', 'etcd'),
      event('c', 'etcd'),
      event('c', 'etcd'),
    ];

    // Act
    const expectation = expectDeliveries(events, configs, baseDir);

    // Assess
    expect(expectation.received).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
        ['c', 2],
      ]),
    );
    expect(expectation.skipped).toEqual(
      new Map([
        ['a', { 'filtered out': 1 }],
        ['b', { 'config disabled': 1 }],
        ['c', { 'no config': 2 }],
      ]),
    );
  });

  it('expects something for every enabled demo config and nothing for the disabled one', () => {
    // Prepare
    const events = ['acme', 'globex', 'initech', 'umbrella', 'hooli'].flatMap((ns) => [
      event(ns, 'kube-apiserver'),
      event(ns, 'kube-scheduler'),
      event(ns, 'oauth-openshift'),
      event(ns, 'kube-controller-manager'),
    ]);

    // Act
    const expectation = expectDeliveries(events, demoConfigs(), baseDir);

    // Assess
    const sizes = Object.fromEntries([...expectation.byDestination].map(([k, d]) => [k, d.seqs.size]));
    expect(sizes).toEqual({
      'acme/file': 4,
      'globex/file': 2,
      'initech/file': 1,
      'initech/file:audit': 2,
      'umbrella/file': 0,
    });
    expect(expectation.skipped.get('umbrella')).toEqual({ 'config disabled': 4 });
    expect(expectation.skipped.get('hooli')).toEqual({ 'no config': 4 });
    expect(expectation.skipped.get('initech')).toEqual({ 'filtered out': 1 });
  });
});

describe('summarizeDemo', () => {
  const configs = [
    { tenant_id: 'a', type: 'file', directory: 'out/a' },
    { tenant_id: 'b', type: 'file', directory: 'out/b', desired_logs: ['etcd'] },
  ];
  let a1: DemoEvent;
  let a2: DemoEvent;
  let b1: DemoEvent;
  let bFiltered: DemoEvent;
  let expectation: DemoExpectation;
  let dirA: string;
  let dirB: string;

  beforeEach(() => {
    a1 = event('a', 'kube-apiserver');
    a2 = event('a', 'etcd');
    b1 = event('b', 'etcd');
    bFiltered = event('b', 'kube-apiserver');
    expectation = expectDeliveries([a1, a2, b1, bFiltered], configs, baseDir);
    dirA = join(baseDir, 'out/a');
    dirB = join(baseDir, 'out/b');
  });

  it('reports every expected event delivered once when the directories hold exactly them', async () => {
    // Prepare
    await writeLines(dirA, [a1], join('kube-apiserver', '2026-03-01', '10.ndjson'));
    await writeLines(dirA, [a2], join('etcd', '2026-03-01', '11.ndjson'));
    await writeLines(dirB, [b1]);

    // Act
    const summary = await summarizeDemo(expectation, ['a', 'b', 'idle']);

    // Assess
    expect(summary).toEqual([
      {
        tenant: 'a',
        received: 2,
        routed: 2,
        delivered: 2,
        missing: 0,
        duplicates: 0,
        unexpected: 0,
        skipped: {},
      },
      {
        tenant: 'b',
        received: 2,
        routed: 1,
        delivered: 1,
        missing: 0,
        duplicates: 0,
        unexpected: 0,
        skipped: { 'filtered out': 1 },
      },
      {
        tenant: 'idle',
        received: 0,
        routed: 0,
        delivered: 0,
        missing: 0,
        duplicates: 0,
        unexpected: 0,
        skipped: {},
      },
    ]);
  });

  it('detects a missing event', async () => {
    // Prepare
    await writeLines(dirA, [a1]);
    await writeLines(dirB, [b1]);

    // Act
    const [a] = await summarizeDemo(expectation, ['a', 'b']);

    // Assess
    expect(a).toMatchObject({ routed: 2, delivered: 1, missing: 1, duplicates: 0, unexpected: 0 });
  });

  it('counts every event missing when a destination directory does not exist', async () => {
    // Prepare
    // Act
    const [a, b] = await summarizeDemo(expectation, ['a', 'b']);

    // Assess
    expect(a).toMatchObject({ routed: 2, delivered: 0, missing: 2 });
    expect(b).toMatchObject({ routed: 1, delivered: 0, missing: 1 });
  });

  it('detects a duplicate line, even in another file of the destination', async () => {
    // Prepare
    await writeLines(dirA, [a1, a2]);
    await writeLines(dirA, [a1], join('kube-apiserver', '2026-03-01', '11.ndjson'));

    // Act
    const [a] = await summarizeDemo(expectation, ['a', 'b']);

    // Assess
    expect(a).toMatchObject({ delivered: 2, missing: 0, duplicates: 1, unexpected: 0 });
  });

  it.each([
    { case: 'a line of another tenant', line: () => ({ namespace: 'a', seq: a1.seq }) },
    {
      case: "the tenant's own event its filter refused",
      line: () => ({ namespace: 'b', seq: bFiltered.seq }),
    },
    { case: 'an event nobody sent', line: () => ({ namespace: 'b', seq: 9_999 }) },
  ])('counts $case in a destination directory as a wrong-tenant delivery', async ({ line }) => {
    // Prepare
    await writeLines(dirA, [a1, a2]);
    await writeLines(dirB, [b1, line()]);

    // Act
    const [, b] = await summarizeDemo(expectation, ['a', 'b']);

    // Assess
    expect(b).toMatchObject({ delivered: 1, missing: 0, duplicates: 0, unexpected: 1 });
  });

  it('counts a line of another tenant written into a destination as unexpected for the owner', async () => {
    // Prepare
    await writeLines(dirA, [a1, a2, { namespace: 'b', seq: a1.seq }]);

    // Act
    const [a, b] = await summarizeDemo(expectation, ['a', 'b']);

    // Assess
    expect(a).toMatchObject({ delivered: 2, missing: 0, duplicates: 0, unexpected: 1 });
    expect(b).toMatchObject({ delivered: 0, unexpected: 0 });
  });

  it('ignores files that are not NDJSON', async () => {
    // Prepare
    await writeLines(dirA, [a1, a2]);
    await writeLines(dirA, [a1, { namespace: 'z', seq: 1 }], 'notes.txt');

    // Act
    const [a] = await summarizeDemo(expectation, ['a', 'b']);

    // Assess
    expect(a).toMatchObject({ delivered: 2, duplicates: 0, unexpected: 0 });
  });
});

describe('readDelivered', () => {
  it('reads the namespace and seq of every line under a directory, skipping blank lines', async () => {
    // Prepare
    const dir = join(baseDir, randomId());
    await writeLines(dir, [
      { namespace: 'a', seq: 1 },
      { namespace: 'b', seq: 2 },
    ]);
    await writeFile(join(dir, 'top.ndjson'), '\n{"namespace":"c","seq":3}\n\n');

    // Act
    const found = await readDelivered(dir);

    // Assess
    expect(found).toEqual(
      expect.arrayContaining([
        { namespace: 'a', seq: 1 },
        { namespace: 'b', seq: 2 },
        { namespace: 'c', seq: 3 },
      ]),
    );
    expect(found).toHaveLength(3);
  });

  it('ignores text after the last newline: an append in progress or torn by a crash', async () => {
    // Prepare
    const dir = join(baseDir, randomId());
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'partial.ndjson'), '{"namespace":"a","seq":1}\n{"namespace":"a","se');

    // Act
    const found = await readDelivered(dir);

    // Assess
    expect(found).toEqual([{ namespace: 'a', seq: 1 }]);
  });
});
