import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  CONTROL_PLANE_APPLICATIONS,
  createLogGenerator,
  DEFAULT_GENERATED_APPLICATIONS,
  type GeneratedEvent,
  gzipNdjson,
  type LogGeneratorOptions,
  toNdjson,
  WORKLOAD_APPLICATION,
} from '../../src/demo/log-generator.js';
import { ConfigValidationError } from '../../src/domain/errors.js';

const START_MS = Date.UTC(2026, 0, 15, 10, 30, 0);
/** A long, realistic cluster id: the envelope around each message is then as large as in production. */
const CLUSTER_ID = '2a7c1d9e-5b3f-4c8a-9e1d-7f6b5a4c3d2e';
const RFC3339_MICROS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** klog header: `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`. */
const KLOG_LINE = /^([IWEF])(\d{2})(\d{2}) (\d{2}:\d{2}:\d{2}\.\d{6}) +\d+ [\w.-]+\.go:\d+\] \S.*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const KLOG_APPLICATIONS = [
  'kube-controller-manager',
  'openshift-controller-manager',
  'openshift-route-controller-manager',
  'kube-scheduler',
  'oauth-openshift',
  'openshift-oauth-apiserver',
] as const;
const AUDIT_APPLICATIONS = ['kube-apiserver', 'openshift-apiserver'] as const;

function options(overrides: Partial<LogGeneratorOptions> = {}): LogGeneratorOptions {
  return {
    seed: 42,
    clusterId: CLUSTER_ID,
    tenants: [
      { namespace: 'clusters-acme' },
      { namespace: 'clusters-globex', applications: ['kube-apiserver', 'etcd'], podsPerApplication: 3 },
    ],
    startMs: START_MS,
    ...overrides,
  };
}

function generate(count: number, overrides: Partial<LogGeneratorOptions> = {}): GeneratedEvent[] {
  return createLogGenerator(options(overrides)).take(count);
}

function lineBytes(event: GeneratedEvent): number {
  return Buffer.byteLength(JSON.stringify(event));
}

function micros(timestamp: string): number {
  return Date.parse(`${timestamp.slice(0, 23)}Z`) * 1000 + Number(timestamp.slice(23, 26));
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('createLogGenerator', () => {
  it('gives the same events for the same seed', () => {
    // Prepare
    const first = createLogGenerator(options());
    const second = createLogGenerator(options());

    // Act
    const a = first.take(2_000);
    const b = second.take(2_000);

    // Assess
    expect(b).toEqual(a);
  });

  it('gives different events for a different seed', () => {
    // Prepare
    // Act
    const a = generate(200, { seed: 1 });
    const b = generate(200, { seed: 2 });

    // Assess
    expect(b.map((e) => e.message)).not.toEqual(a.map((e) => e.message));
    expect(b.map((e) => e.pod_name)).not.toEqual(a.map((e) => e.pod_name));
  });

  it('numbers events 1, 2, 3, … across next, take and events', () => {
    // Prepare
    const generator = createLogGenerator(options());

    // Act
    const events = [generator.next(), ...generator.take(500), ...generator.events(500)];

    // Assess
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 1_001 }, (_, i) => i + 1));
  });

  it('goes round-robin across tenants in the order given', () => {
    // Prepare
    const tenants = [{ namespace: 'a' }, { namespace: 'b' }, { namespace: 'c' }];

    // Act
    const events = generate(9, { tenants });

    // Assess
    expect(events.map((e) => e.namespace)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('fills every Vector field, with pod metadata that matches the event', () => {
    // Prepare
    // Act
    const events = generate(2_000);

    // Assess
    for (const event of events) {
      expect(Object.keys(event).sort()).toEqual(
        [
          'application',
          'cluster_id',
          'kubernetes',
          'message',
          'namespace',
          'pod_name',
          'seq',
          'timestamp',
        ].sort(),
      );
      expect(event.cluster_id).toBe(CLUSTER_ID);
      expect(event.message.length).toBeGreaterThan(0);
      expect(event.kubernetes).toEqual({
        pod_name: event.pod_name,
        pod_namespace: event.namespace,
        container_name: event.application,
        pod_labels: { app: event.application },
        pod_uid: expect.stringMatching(UUID),
      });
    }
  });

  it('picks applications from the tenant list and gives each its own pods named after it', () => {
    // Prepare
    const tenants = [
      {
        namespace: 'clusters-acme',
        applications: ['kube-apiserver', 'etcd', 'payments-api'],
        podsPerApplication: 3,
      },
    ];

    // Act
    const events = generate(3_000, { tenants });

    // Assess
    const podsByApp = new Map<string, Set<string>>();
    const uidByPod = new Map<string, string>();
    for (const event of events) {
      expect(tenants[0]!.applications).toContain(event.application);
      expect(event.pod_name.startsWith(`${event.application}-`)).toBe(true);
      podsByApp.set(event.application, (podsByApp.get(event.application) ?? new Set()).add(event.pod_name));
      expect(uidByPod.get(event.pod_name) ?? event.kubernetes.pod_uid).toBe(event.kubernetes.pod_uid);
      uidByPod.set(event.pod_name, event.kubernetes.pod_uid);
    }
    expect([...podsByApp.keys()].sort()).toEqual(['etcd', 'kube-apiserver', 'payments-api']);
    expect([...podsByApp.get('etcd')!].sort()).toEqual(['etcd-0', 'etcd-1', 'etcd-2']);
    const apiPods = [...podsByApp.get('kube-apiserver')!];
    expect(apiPods).toHaveLength(3);
    for (const pod of apiPods) expect(pod).toMatch(/^kube-apiserver-[b-z2-9]{9,10}-[b-z2-9]{5}$/);
    // Pods of one Deployment share its ReplicaSet hash.
    expect(new Set(apiPods.map((pod) => pod.slice(0, pod.lastIndexOf('-')))).size).toBe(1);
  });

  it('runs the whole control plane and the workload when a tenant lists no applications', () => {
    // Prepare
    // Act
    const events = generate(4_000, { tenants: [{ namespace: 'clusters-acme' }] });

    // Assess
    expect(new Set(events.map((e) => e.application))).toEqual(new Set(DEFAULT_GENERATED_APPLICATIONS));
    expect(DEFAULT_GENERATED_APPLICATIONS).toEqual([...CONTROL_PLANE_APPLICATIONS, WORKLOAD_APPLICATION]);
  });

  it.each(AUDIT_APPLICATIONS)('writes %s messages as Kubernetes audit events', (application) => {
    // Prepare
    const tenants = [{ namespace: 'clusters-acme', applications: [application] }];

    // Act
    const events = generate(500, { tenants });

    // Assess
    const verbs = new Set<string>();
    for (const event of events) {
      const audit = JSON.parse(event.message);
      expect(audit).toMatchObject({
        kind: 'Event',
        apiVersion: 'audit.k8s.io/v1',
        level: 'Metadata',
        auditID: expect.stringMatching(UUID),
        stage: expect.stringMatching(/^Response(Started|Complete)$/),
        requestURI: expect.stringMatching(/^\/apis?\//),
        verb: expect.any(String),
        user: { username: expect.any(String) },
        sourceIPs: [expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/)],
        objectRef: { resource: expect.any(String), apiVersion: expect.any(String) },
        responseStatus: { code: expect.any(Number) },
        requestReceivedTimestamp: event.timestamp,
        stageTimestamp: expect.stringMatching(RFC3339_MICROS_UTC),
      });
      expect(audit.requestURI).toContain(`/${audit.objectRef.resource}`);
      expect(micros(audit.stageTimestamp)).toBeGreaterThan(micros(audit.requestReceivedTimestamp));
      verbs.add(audit.verb);
    }
    expect([...verbs].sort()).toEqual(['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']);
  });

  it.each(KLOG_APPLICATIONS)(
    'writes %s messages as klog lines stamped with the event time',
    (application) => {
      // Prepare
      const tenants = [{ namespace: 'clusters-acme', applications: [application] }];

      // Act
      const events = generate(1_000, { tenants });

      // Assess
      const severities = new Set<string>();
      for (const event of events) {
        const match = KLOG_LINE.exec(event.message);
        expect(match, event.message).not.toBeNull();
        const [, severity, month, day, time] = match!;
        expect(`${month}-${day}T${time}`).toBe(event.timestamp.slice(5, 26));
        severities.add(severity!);
      }
      expect(severities).toContain('I');
      expect(severities.size).toBeGreaterThan(1);
    },
  );

  it('writes oauth login lines for oauth-openshift', () => {
    // Prepare
    const tenants = [{ namespace: 'clusters-acme', applications: ['oauth-openshift'] }];

    // Act
    const messages = generate(300, { tenants }).map((e) => e.message);

    // Assess
    expect(messages.some((m) => m.includes('"Login succeeded" user="'))).toBe(true);
    expect(messages.some((m) => /^E.*"Login failed"/.test(m))).toBe(true);
  });

  it('writes etcd messages as zap JSON lines stamped with the event time', () => {
    // Prepare
    const tenants = [{ namespace: 'clusters-acme', applications: ['etcd'] }];

    // Act
    const events = generate(500, { tenants });

    // Assess
    const levels = new Set<string>();
    for (const event of events) {
      const line = JSON.parse(event.message);
      expect(line).toMatchObject({
        level: expect.stringMatching(/^(info|warn|error)$/),
        ts: event.timestamp,
        caller: expect.stringMatching(/^[\w/]+\.go:\d+$/),
        msg: expect.any(String),
      });
      levels.add(line.level);
    }
    expect(levels).toEqual(new Set(['info', 'warn', 'error']));
  });

  it.each([WORKLOAD_APPLICATION, 'payments-api'])('writes plain-text lines for %s', (application) => {
    // Prepare
    const tenants = [{ namespace: 'shop', applications: [application] }];

    // Act
    const events = generate(200, { tenants });

    // Assess
    for (const event of events) {
      expect(event.message).toMatch(
        /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} +(INFO|WARN|ERROR) 1 --- \[/,
      );
      expect(event.message).not.toMatch(KLOG_LINE);
      expect(() => JSON.parse(event.message)).toThrow();
    }
  });

  it('writes RFC 3339 UTC timestamps with microseconds, from startMs on', () => {
    // Prepare
    // Act
    const events = generate(1_000);

    // Assess
    for (const event of events) {
      expect(event.timestamp).toMatch(RFC3339_MICROS_UTC);
      expect(micros(event.timestamp)).toBeGreaterThanOrEqual(START_MS * 1000);
    }
    expect(events[0]!.timestamp.startsWith('2026-01-15T10:30:00.000')).toBe(true);
  });

  it('advances the clock by stepMs per event, with at most one step of jitter', () => {
    // Prepare
    const stepMs = 10;

    // Act
    const events = generate(1_000, { stepMs });

    // Assess
    events.forEach((event, i) => {
      const offsetMicros = micros(event.timestamp) - START_MS * 1000;
      expect(offsetMicros).toBeGreaterThanOrEqual(i * stepMs * 1000);
      expect(offsetMicros).toBeLessThan((i + 1) * stepMs * 1000 + 1000);
    });
  });

  it.each([0, 1, 50])('never moves one pod back in time (stepMs %d)', (stepMs) => {
    // Prepare
    const tenants = [
      { namespace: 'clusters-acme', applications: ['etcd', 'kube-scheduler'], podsPerApplication: 2 },
    ];

    // Act
    const events = generate(5_000, { tenants, stepMs });

    // Assess
    const lastByPod = new Map<string, number>();
    for (const event of events) {
      const time = micros(event.timestamp);
      expect(time).toBeGreaterThan(lastByPod.get(event.pod_name) ?? Number.NEGATIVE_INFINITY);
      lastByPod.set(event.pod_name, time);
    }
  });

  describe('with targetEventBytes', () => {
    it('pads every application to within 10% of a target above its natural size', () => {
      // Prepare
      const targetEventBytes = 1_700;

      // Act
      const events = generate(5_000, { targetEventBytes, tenants: [{ namespace: 'clusters-acme' }] });

      // Assess
      for (const event of events) {
        expect(lineBytes(event)).toBeGreaterThanOrEqual(targetEventBytes * 0.9);
        expect(lineBytes(event)).toBeLessThanOrEqual(targetEventBytes * 1.1);
      }
      const exact = events.filter((e) => lineBytes(e) === targetEventBytes).length;
      expect(exact / events.length).toBeGreaterThan(0.95);
    });

    it('pads kube-controller-manager lines to 700 bytes within 10%, as the benchmark generates them', () => {
      // Prepare
      const targetEventBytes = 700;
      const tenants = [
        { namespace: 'bench', applications: ['kube-controller-manager'], podsPerApplication: 1 },
      ];

      // Act
      const events = generate(5_000, { clusterId: 'bench-cluster', tenants, targetEventBytes });

      // Assess
      for (const event of events) {
        expect(lineBytes(event)).toBeGreaterThanOrEqual(targetEventBytes * 0.9);
        expect(lineBytes(event)).toBeLessThanOrEqual(targetEventBytes * 1.1);
      }
    });

    it('keeps padded audit and etcd messages valid JSON and klog lines valid klog', () => {
      // Prepare
      const tenants = [
        {
          namespace: 'clusters-acme',
          applications: [...AUDIT_APPLICATIONS, 'etcd', 'kube-controller-manager'],
        },
      ];

      // Act
      const events = generate(2_000, { tenants, targetEventBytes: 2_000 });

      // Assess
      for (const event of events) {
        if (event.application === 'kube-controller-manager') expect(event.message).toMatch(KLOG_LINE);
        else expect(() => JSON.parse(event.message)).not.toThrow();
      }
    });

    it('changes nothing but the padding', () => {
      // Prepare
      const tenants = [
        { namespace: 'clusters-acme', applications: [...KLOG_APPLICATIONS, WORKLOAD_APPLICATION] },
      ];

      // Act
      const plain = generate(1_000, { tenants });
      const padded = generate(1_000, { tenants, targetEventBytes: 900 });

      // Assess
      let lengthened = 0;
      padded.forEach((event, i) => {
        const { message, ...rest } = event;
        const { message: plainMessage, ...plainRest } = plain[i]!;
        expect(rest).toEqual(plainRest);
        expect(message.startsWith(plainMessage)).toBe(true);
        if (message.length > plainMessage.length) lengthened++;
      });
      expect(lengthened / padded.length).toBeGreaterThan(0.9);
    });

    it('leaves messages that are already longer than the target whole', () => {
      // Prepare
      // Act
      const plain = generate(500);
      const padded = generate(500, { targetEventBytes: 100 });

      // Assess
      expect(padded).toEqual(plain);
    });

    it('writes padding that gzip compresses like log text, not like repeated filler', () => {
      // Prepare
      const events = generate(5_000, {
        tenants: [{ namespace: 'bench', applications: ['kube-controller-manager'], podsPerApplication: 1 }],
        targetEventBytes: 700,
      });

      // Act
      const ratio = Buffer.byteLength(toNdjson(events)) / gzipNdjson(events).length;

      // Assess
      expect(ratio).toBeGreaterThan(4);
      expect(ratio).toBeLessThan(30);
    });
  });

  it.each([
    { field: 'tenants', change: { tenants: [] } },
    { field: 'tenants.0.namespace', change: { tenants: [{ namespace: ' ' }] } },
    { field: 'tenants.0.applications', change: { tenants: [{ namespace: 'a', applications: [] }] } },
    {
      field: 'tenants.0.applications.1',
      change: { tenants: [{ namespace: 'a', applications: ['etcd', 'a/b'] }] },
    },
    {
      field: 'tenants.0.podsPerApplication',
      change: { tenants: [{ namespace: 'a', podsPerApplication: 0 }] },
    },
    { field: 'clusterId', change: { clusterId: '' } },
    { field: 'seed', change: { seed: Number.NaN } },
    { field: 'startMs', change: { startMs: -1 } },
    { field: 'stepMs', change: { stepMs: -1 } },
    { field: 'targetEventBytes', change: { targetEventBytes: 0 } },
  ])('rejects a bad $field, naming it', ({ field, change }) => {
    // Prepare
    const bad = options(change as Partial<LogGeneratorOptions>);

    // Act
    const error = catchError(() => createLogGenerator(bad));

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toEqual([field]);
  });
});

describe('toNdjson', () => {
  it('writes one JSON line per event, each ending in a newline', () => {
    // Prepare
    const events = generate(3);

    // Act
    const text = toNdjson(events);

    // Assess
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((line) => JSON.parse(line))).toEqual(events);
  });

  it('writes nothing for no events', () => {
    // Prepare
    // Act
    const text = toNdjson([]);

    // Assess
    expect(text).toBe('');
  });
});

describe('gzipNdjson', () => {
  it('round-trips through gunzip to the same NDJSON', () => {
    // Prepare
    const events = generate(1_000, { targetEventBytes: 700 });

    // Act
    const body = gzipNdjson(events);

    // Assess
    expect(body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const text = gunzipSync(body).toString('utf8');
    expect(text).toBe(toNdjson(events));
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line).seq),
    ).toEqual(events.map((e) => e.seq));
  });
});
