import { gzipSync } from 'node:zlib';

/**
 * Deterministic generator of hosted-control-plane log events, shaped exactly as Vector
 * writes them into the central store. Used by the demo, the benchmark and tests.
 */

/** Applications of a hosted control plane, plus one workload for contrast. */
export const CONTROL_PLANE_APPLICATIONS = [
  'kube-apiserver',
  'openshift-apiserver',
  'kube-controller-manager',
  'openshift-controller-manager',
  'openshift-route-controller-manager',
  'kube-scheduler',
  'oauth-openshift',
  'openshift-oauth-apiserver',
  'etcd',
  'my-app',
] as const;

/** One generated event. `seq` is unique and increasing within one generator. */
export interface GeneratedEvent {
  message: string;
  timestamp: string;
  cluster_id: string;
  namespace: string;
  application: string;
  pod_name: string;
  kubernetes: {
    pod_name: string;
    pod_namespace: string;
    container_name: string;
    pod_labels: { app: string };
    pod_uid: string;
  };
  seq: number;
}

export interface LogGeneratorOptions {
  readonly seed: number;
  readonly clusterId: string;
  readonly tenants: ReadonlyArray<{
    namespace: string;
    applications?: readonly string[];
    podsPerApplication?: number;
  }>;
  /** Time of the first event. */
  readonly startMs: number;
  /** Time between consecutive events (before jitter); default 1 ms. */
  readonly stepMs?: number;
  /** Pad messages so each event's JSON line is roughly this many bytes. */
  readonly targetEventBytes?: number;
}

export interface LogGenerator {
  next(): GeneratedEvent;
  take(n: number): GeneratedEvent[];
  events(n: number): Generator<GeneratedEvent>;
}

/** mulberry32: a small, fast, seedable PRNG; good enough for test data. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ALPHANUM = 'bcdfghjklmnpqrstvwxz2456789';
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] as const;
const RESOURCES = [
  'pods',
  'configmaps',
  'secrets',
  'deployments',
  'leases',
  'nodes',
  'routes',
  'events',
] as const;
const USERS = [
  'system:serviceaccount:openshift-monitoring:prometheus-k8s',
  'system:kube-controller-manager',
  'system:kube-scheduler',
  'system:admin',
  'kube:admin',
] as const;
const KLOG_FILES = [
  'controller.go',
  'leaderelection.go',
  'reflector.go',
  'scheduler.go',
  'shared_informer.go',
] as const;
const KLOG_TEXTS = [
  '"Successfully synced" key="openshift-ingress/router-default"',
  '"Attempting to acquire leader lease" lease="kube-system/kube-controller-manager"',
  '"Watch close" reflector="k8s.io/client-go/informers/factory.go:159" type="*v1.Pod" totalItems=42',
  '"Unable to schedule pod; no fit; waiting" pod="default/web-7c9f" err="0/3 nodes are available"',
  '"Caches populated" type="*v1.ConfigMap" reflector="k8s.io/client-go/informers/factory.go:159"',
] as const;
const SEVERITIES = ['I', 'I', 'I', 'I', 'W', 'E'] as const;

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function suffix(random: () => number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHANUM[Math.floor(random() * ALPHANUM.length)];
  return s;
}

function hex(random: () => number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += Math.floor(random() * 16).toString(16);
  return s;
}

function uuid(random: () => number): string {
  const h = hex(random, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** RFC 3339 with microseconds and Z, as Vector writes timestamps. */
function rfc3339Micros(ms: number, micros: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}${String(micros).padStart(3, '0')}Z`;
}

function klogTime(ms: number, micros: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(5, 7)}${iso.slice(8, 10)} ${iso.slice(11, 23)}${String(micros).padStart(3, '0')}`;
}

function auditMessage(random: () => number, timestamp: string, namespace: string): string {
  const verb = pick(random, VERBS);
  const resource = pick(random, RESOURCES);
  const name = `${resource.slice(0, -1)}-${suffix(random, 5)}`;
  return JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: uuid(random),
    stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/${namespace}/${resource}/${name}`,
    verb,
    user: { username: pick(random, USERS), groups: ['system:authenticated'] },
    sourceIPs: [`10.128.${Math.floor(random() * 255)}.${Math.floor(random() * 255)}`],
    objectRef: { resource, namespace, name, apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: verb === 'create' ? 201 : 200 },
    requestReceivedTimestamp: timestamp,
    stageTimestamp: timestamp,
  });
}

function messageFor(
  random: () => number,
  app: string,
  ms: number,
  micros: number,
  ts: string,
  ns: string,
): string {
  switch (app) {
    case 'kube-apiserver':
    case 'openshift-apiserver':
      return auditMessage(random, ts, ns);
    case 'etcd':
      return JSON.stringify({
        level: random() < 0.9 ? 'info' : 'warn',
        ts,
        caller: 'etcdserver/server.go:1342',
        msg: random() < 0.5 ? 'triggering snapshot' : 'apply request took too long',
        'took-ms': Math.floor(random() * 300),
      });
    case 'oauth-openshift':
    case 'openshift-oauth-apiserver':
      return random() < 0.5
        ? `${pick(random, SEVERITIES)}${klogTime(ms, micros)}       1 login.go:177] Login succeeded for user "user-${suffix(random, 4)}"`
        : `${pick(random, SEVERITIES)}${klogTime(ms, micros)}       1 tokens.go:92] Issued access token for client "console"`;
    case 'my-app':
      return `GET /api/items/${Math.floor(random() * 10_000)} 200 ${Math.floor(random() * 50)}ms`;
    default:
      return `${pick(random, SEVERITIES)}${klogTime(ms, micros)}       1 ${pick(random, KLOG_FILES)}:${100 + Math.floor(random() * 900)}] ${pick(random, KLOG_TEXTS)}`;
  }
}

const PADDING_WORDS = [
  'request',
  'handler',
  'latency',
  'watch',
  'cache',
  'sync',
  'resource',
  'version',
  'node',
  'lease',
];

function paddingPool(random: () => number, length: number): string {
  const words: string[] = [];
  let size = 0;
  while (size < length) {
    const word = random() < 0.5 ? pick(random, PADDING_WORDS) : suffix(random, 3 + Math.floor(random() * 8));
    words.push(word);
    size += word.length + 1;
  }
  return words.join(' ');
}

/**
 * Creates a generator. The same options give the same events.
 *
 * @example createLogGenerator({ seed: 1, clusterId: 'c1', tenants: [{ namespace: 'acme' }], startMs: Date.now() }).take(10)
 */
export function createLogGenerator(options: LogGeneratorOptions): LogGenerator {
  const random = mulberry32(options.seed);
  const stepMs = options.stepMs ?? 1;
  const tenants = options.tenants.map((tenant) => {
    const applications = tenant.applications ?? CONTROL_PLANE_APPLICATIONS;
    const pods = applications.map((app) =>
      Array.from({ length: tenant.podsPerApplication ?? 2 }, () => ({
        app,
        name: `${app}-${suffix(random, 9)}-${suffix(random, 5)}`,
        uid: uuid(random),
        lastMs: Number.NEGATIVE_INFINITY,
      })),
    );
    return { namespace: tenant.namespace, pods };
  });
  if (tenants.length === 0) throw new Error('The log generator needs at least one tenant.');
  let seq = 0;
  let clockMs = options.startMs;
  const padding =
    options.targetEventBytes !== undefined ? paddingPool(random, options.targetEventBytes * 4 + 1024) : '';

  const next = (): GeneratedEvent => {
    const tenant = tenants[seq % tenants.length]!;
    seq++;
    const pod = pick(random, pick(random, tenant.pods));
    clockMs += stepMs;
    // Jitter, but one pod's times never go backwards.
    const ms = Math.max(pod.lastMs, clockMs + Math.floor(random() * stepMs));
    pod.lastMs = ms;
    const micros = Math.floor(random() * 1000);
    const timestamp = rfc3339Micros(ms, micros);
    let message = messageFor(random, pod.app, ms, micros, timestamp, tenant.namespace);
    const event: GeneratedEvent = {
      message,
      timestamp,
      cluster_id: options.clusterId,
      namespace: tenant.namespace,
      application: pod.app,
      pod_name: pod.name,
      kubernetes: {
        pod_name: pod.name,
        pod_namespace: tenant.namespace,
        container_name: pod.app,
        pod_labels: { app: pod.app },
        pod_uid: pod.uid,
      },
      seq,
    };
    if (options.targetEventBytes !== undefined) {
      const missing = options.targetEventBytes - JSON.stringify(event).length;
      if (missing > 1) {
        // Word-like padding from a random pool compresses like real text, not like 'xxxx'.
        const start = Math.floor(random() * (padding.length - missing));
        message += ` ${padding.slice(start, start + missing - 1)}`;
        event.message = message;
      }
    }
    return event;
  };

  return {
    next,
    take: (n) => Array.from({ length: n }, next),
    *events(n) {
      for (let i = 0; i < n; i++) yield next();
    },
  };
}

/** Events as NDJSON: one JSON line each, with a trailing newline. */
export function toNdjson(events: readonly object[]): string {
  return events.length === 0 ? '' : `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
}

/** Events as a gzip NDJSON object body. */
export function gzipNdjson(events: readonly object[]): Buffer {
  return gzipSync(toNdjson(events));
}
