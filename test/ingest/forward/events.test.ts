import { describe, expect, it } from 'vitest';
import { defaultForwardConfig, type ForwardMappingConfig } from '../../../src/ingest/forward/config.js';
import { createForwardEventMapper, type ForwardIdentity } from '../../../src/ingest/forward/events.js';
import type { EntryResult } from '../../../src/ingest/forward/protocol.js';
import { createNamespaceMatcher } from '../../../src/ingest/http/auth.js';
import { readEventIdentity, toBufferedEvent } from '../../../src/ingest/http/events.js';

const TIME = { seconds: 1_768_473_000, nanoseconds: 42 };
const HEX64 = 'a'.repeat(64);

function identity(namespaces: string[] = ['*'], clusterId = 'cluster-a'): ForwardIdentity {
  return { id: 'shared-key', clusterId, namespaces, allows: createNamespaceMatcher(namespaces) };
}

function entries(...records: Record<string, unknown>[]): EntryResult[] {
  return records.map((record) => ({ ok: true, entry: { time: TIME, record } }));
}

function mapper(overrides: Partial<ForwardMappingConfig> = {}) {
  return createForwardEventMapper({ ...defaultForwardConfig().mapping, ...overrides });
}

describe('createForwardEventMapper', () => {
  it('places a fluentd/OpenShift record by its kubernetes metadata and keeps the record as the event', () => {
    // Prepare
    const record = {
      message: 'GET /healthz 200',
      '@timestamp': '2026-01-15T10:30:00.000042Z',
      kubernetes: { namespace_name: 'team-a', pod_name: 'api-7d9f-x2', container_name: 'server', labels: { app: 'billing' } },
    };

    // Act
    const { events, refused } = mapper()('kubernetes.var.log.containers.x', entries(record), identity());

    // Assess
    expect(refused.size).toBe(0);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ clusterId: 'cluster-a', namespace: 'team-a', application: 'billing', podName: 'api-7d9f-x2' });
    expect(JSON.parse(events[0]!.line)).toEqual({
      ...record,
      timestamp: '2026-01-15T10:30:00.000000042Z',
      cluster_id: 'cluster-a',
      namespace: 'team-a',
      application: 'billing',
      pod_name: 'api-7d9f-x2',
    });
  });

  it("renames a Fluent Bit record's `log` to `message` in place and falls back to the container for the application", () => {
    // Prepare
    const record = {
      stream: 'stdout',
      log: 'hello\n',
      kubernetes: { namespace_name: 'team-b', pod_name: 'worker-0', container_name: 'worker', labels: {} },
    };

    // Act
    const { events } = mapper()('kube.var.log.containers.worker-0_team-b_worker-x.log', entries(record), identity());

    // Assess
    expect(events[0]).toMatchObject({ namespace: 'team-b', application: 'worker', podName: 'worker-0' });
    expect(Object.keys(JSON.parse(events[0]!.line)).slice(0, 3)).toEqual(['stream', 'message', 'kubernetes']);
    expect(JSON.parse(events[0]!.line)).not.toHaveProperty('log');
    expect(JSON.parse(events[0]!.line)['message']).toBe('hello\n');
  });

  it('keeps a record’s own message and timestamp', () => {
    // Act
    const { events } = mapper()(
      't',
      entries({ message: 'm', log: 'l', timestamp: '2020-01-01T00:00:00Z', namespace: 'team-c' }),
      identity(),
    );

    // Assess
    expect(JSON.parse(events[0]!.line)).toMatchObject({ message: 'm', log: 'l', timestamp: '2020-01-01T00:00:00Z' });
  });

  it("takes the operator's JSON Pointers over the built-in layouts", () => {
    // Prepare
    const map = mapper({
      namespace: ['/kubernetes/labels/tenant'],
      application: ['/kubernetes/labels/app.kubernetes.io~1name', '/kubernetes/container_name'],
    });
    const record = {
      kubernetes: {
        namespace_name: 'shared-ns',
        pod_name: 'p-1',
        container_name: 'c',
        labels: { tenant: 'team-d', 'app.kubernetes.io/name': 'portal' },
      },
    };

    // Act
    const { events } = map('t', entries(record), identity());

    // Assess
    expect(events[0]).toMatchObject({ namespace: 'team-d', application: 'portal', podName: 'p-1' });
  });

  it.each([
    [
      'a Fluent Bit container log tag',
      `kube.var.log.containers.web-5c9-abcde_team-e_nginx-${HEX64}.log`,
      { namespace: 'team-e', application: 'nginx', podName: 'web-5c9-abcde' },
    ],
    [
      'a fluentd /var/log/pods tag',
      'kubernetes.var.log.pods.team-f_db-0_0f8fad5b-d9cb-469f-a165-70867728950e.postgres.0.log',
      { namespace: 'team-f', application: 'postgres', podName: 'db-0' },
    ],
  ])('places a record without metadata by %s', (_case, tag, expected) => {
    // Act
    const { events } = mapper()(tag, entries({ log: 'x' }), identity());

    // Assess
    expect(events[0]).toMatchObject(expected);
  });

  it('refuses records that name no namespace, by record or tag, and counts them', () => {
    // Act
    const { events, refused, firstRefusal } = mapper()('app.logs', entries({ log: 'x' }, { log: 'y' }), identity());

    // Assess
    expect(events).toEqual([]);
    expect(refused).toEqual(new Map([['missing_namespace', 2]]));
    expect(firstRefusal).toMatch(/names no namespace/);
  });

  it('refuses records outside the identity’s namespaces or of another cluster, and unusable entries', () => {
    // Prepare
    const input: EntryResult[] = [
      ...entries(
        { namespace: 'team-a' },
        { namespace: 'other' },
        { namespace: 'team-b', cluster_id: 'cluster-z' },
        { namespace: 'team/bad' },
      ),
      { ok: false, message: 'The entry cannot be decoded.' },
    ];

    // Act
    const { events, refused } = mapper()('t', input, identity(['team-*']));

    // Assess
    expect(events.map((e) => e.namespace)).toEqual(['team-a']);
    expect(Object.fromEntries(refused)).toEqual({
      forbidden_namespace: 1,
      forbidden_cluster: 1,
      invalid_namespace: 1,
      invalid_entry: 1,
    });
  });

  it('stores the very line the HTTP ingest stores for the same event', () => {
    // Prepare
    const record = {
      message: 'm',
      namespace: 'team-a',
      timestamp: '2026-01-15T10:30:00Z',
      kubernetes: { pod_name: 'p', labels: { app: 'a' } },
    };
    const http = readEventIdentity(structuredClone(record));

    // Act
    const { events } = mapper()('t', entries(structuredClone(record)), identity());

    // Assess
    expect(http.ok).toBe(true);
    expect(events).toEqual([http.ok && toBufferedEvent(http.event, http.identity, 'cluster-a')]);
  });
});
