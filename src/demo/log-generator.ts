/**
 * Deterministic generator of hosted-control-plane log events, shaped exactly as Vector
 * writes them into the central store (ARCHITECTURE.md §1, object body). Used by the demo,
 * the benchmark and tests: the same options always give the same events.
 *
 * Everything it writes is ASCII without backslashes, so a line's UTF-16 length is its byte
 * length and `targetEventBytes` can be met without serializing an event twice.
 */
import { gzipSync } from 'node:zlib';
import { ConfigValidationError, type FieldError } from '../domain/errors.js';
import { isValidKeySegment } from '../domain/object-key.js';

/** The applications of a hosted control plane whose log styles the generator knows. */
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
] as const;

/** A hosted-control-plane application name. */
export type ControlPlaneApplication = (typeof CONTROL_PLANE_APPLICATIONS)[number];

/** A workload that is not part of the control plane; it writes plain-text lines. */
export const WORKLOAD_APPLICATION = 'my-app';

/** What a tenant runs when its `applications` are not given: the control plane plus the workload. */
export const DEFAULT_GENERATED_APPLICATIONS: readonly string[] = [
  ...CONTROL_PLANE_APPLICATIONS,
  WORKLOAD_APPLICATION,
];

/** The `kubernetes` block Vector's `kubernetes_logs` source adds to each event. */
export interface GeneratedKubernetesMetadata {
  readonly pod_name: string;
  readonly pod_namespace: string;
  readonly container_name: string;
  readonly pod_labels: { readonly app: string };
  readonly pod_uid: string;
}

/**
 * One generated event, as one NDJSON line of a central object.
 * `seq` is a positive integer, unique and increasing within one generator, so tests can
 * count lost and duplicated events.
 */
export interface GeneratedEvent {
  readonly message: string;
  /** RFC 3339, UTC (`Z`), microseconds: `2026-01-15T10:30:00.123456Z`. */
  readonly timestamp: string;
  readonly cluster_id: string;
  readonly namespace: string;
  readonly application: string;
  readonly pod_name: string;
  /** Shared by every event of the same pod; never mutate it. */
  readonly kubernetes: GeneratedKubernetesMetadata;
  readonly seq: number;
}

/** One tenant (a hosted-control-plane namespace) of the generated cluster. */
export interface LogGeneratorTenant {
  readonly namespace: string;
  /** Applications running in the namespace; default {@link DEFAULT_GENERATED_APPLICATIONS}. */
  readonly applications?: readonly string[];
  /** Pods per application; default 2 (etcd pods are a StatefulSet: `etcd-0`, `etcd-1`, …). */
  readonly podsPerApplication?: number;
}

/** What code passes to {@link createLogGenerator}. */
export interface LogGeneratorOptions {
  /** Seed of the pseudo-random generator (fractions dropped); the same seed gives the same events. */
  readonly seed: number;
  readonly clusterId: string;
  /** Events go round-robin across the tenants, in this order. */
  readonly tenants: readonly LogGeneratorTenant[];
  /** Time of the first event, epoch milliseconds. */
  readonly startMs: number;
  /** Clock advance per event, before jitter; default 1 ms. */
  readonly stepMs?: number;
  /**
   * Pad each message so the event's JSON line is exactly this many bytes (700 is a typical
   * Vector event). Padding goes into a field of structured messages, so they still parse,
   * and draws on its own random stream, so a target changes nothing else. A line already
   * longer is left whole: audit events run ~1,000–1,500 bytes, and with long application
   * names some klog lines ~800.
   */
  readonly targetEventBytes?: number;
}

/** A stream of generated events. */
export interface LogGenerator {
  /** The next event. */
  next(): GeneratedEvent;
  /** The next `n` events. */
  take(n: number): GeneratedEvent[];
  /** The next `n` events, lazily. */
  events(n: number): Generator<GeneratedEvent, void, undefined>;
}

const DEFAULT_STEP_MS = 1;
const DEFAULT_PODS_PER_APPLICATION = 2;
/** Words are drawn from this much text, more than gzip's 32 KiB window, so padding compresses like text. */
const MIN_PADDING_POOL_CHARS = 128 * 1024;
/** Longest token in the padding pool, so a word boundary is always near. */
const MAX_PADDING_TOKEN_CHARS = 24;
/** Length of `2026-01-15T10:30:00.123456Z`; years outside 0–9999 change it. */
const TIMESTAMP_CHARS = 27;
const OPTIONS_CONTEXT = 'log generator options';
const PADDING_SEED_OFFSET = 0x5bd1e995;

// ---------------------------------------------------------------------------------------------
// Randomness

interface Random {
  /** A uniform 32-bit unsigned integer. */
  u32(): number;
  /** A uniform integer in [0, n). */
  below(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(probability: number): boolean;
}

/** mulberry32 (Tommy Ettinger): tiny, fast and seedable; fine for test data, not for secrets. */
function createRandom(seed: number): Random {
  const integer = Math.floor(seed);
  let state = (integer >>> 0) ^ Math.imul(Math.floor(integer / 4_294_967_296) >>> 0, 0x9e3779b1);
  const u32 = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const below = (n: number): number => Math.floor((u32() / 4_294_967_296) * n);
  return {
    u32,
    below,
    pick: <T>(items: readonly T[]): T => items[below(items.length)]!,
    chance: (probability) => u32() / 4_294_967_296 < probability,
  };
}

/** The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes). */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function nameSuffix(random: Random, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += NAME_ALPHABET[random.below(NAME_ALPHABET.length)];
  return s;
}

const HEX_BYTES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Eight lowercase hex digits; a byte table is several times faster than `toString(16)`. */
function hex8(random: Random): string {
  const n = random.u32();
  return (
    HEX_BYTES[n >>> 24]! + HEX_BYTES[(n >>> 16) & 255]! + HEX_BYTES[(n >>> 8) & 255]! + HEX_BYTES[n & 255]!
  );
}

/** A version 4 UUID. */
function uuid(random: Random): string {
  const a = hex8(random);
  const b = hex8(random);
  const c = hex8(random);
  const d = hex8(random);
  const variant = '89ab'[random.below(4)]!;
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`;
}

function millis(random: Random, maxMs: number): string {
  return `${random.below(maxMs)}.${String(random.below(1000)).padStart(3, '0')}ms`;
}

// ---------------------------------------------------------------------------------------------
// Time

/** Formats epoch microseconds; caches the part that changes once a second. */
class TimeFormatter {
  #second = Number.NaN;
  #isoPrefix = '';
  #klogPrefix = '';

  #load(micros: number): number {
    const second = Math.floor(micros / 1_000_000);
    if (second !== this.#second) {
      const iso = new Date(second * 1000).toISOString(); // 2026-01-15T10:30:00.000Z
      this.#second = second;
      this.#isoPrefix = iso.slice(0, 20);
      this.#klogPrefix = `${iso.slice(5, 7)}${iso.slice(8, 10)} ${iso.slice(11, 20)}`;
    }
    return micros - second * 1_000_000;
  }

  /** `2026-01-15T10:30:00.123456Z` */
  rfc3339(micros: number): string {
    const fraction = this.#load(micros);
    return `${this.#isoPrefix}${String(1_000_000 + fraction).slice(1)}Z`;
  }

  /** `0115 10:30:00.123456`, the klog header time. */
  klog(micros: number): string {
    const fraction = this.#load(micros);
    return `${this.#klogPrefix}${String(1_000_000 + fraction).slice(1)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The hosted cluster the control plane manages (what audit events and klog lines talk about)

interface GuestWorkload {
  readonly namespace: string;
  readonly deployment: string;
  readonly replicaSet: string;
  readonly pods: readonly string[];
  readonly uid: string;
}

interface GuestCluster {
  readonly workloads: readonly GuestWorkload[];
  readonly nodes: readonly string[];
}

const GUEST_DEPLOYMENTS: ReadonlyArray<readonly [namespace: string, deployment: string]> = [
  ['openshift-monitoring', 'prometheus-operator'],
  ['openshift-monitoring', 'kube-state-metrics'],
  ['openshift-monitoring', 'thanos-querier'],
  ['openshift-ingress', 'router-default'],
  ['openshift-console', 'console'],
  ['openshift-console', 'downloads'],
  ['openshift-image-registry', 'image-registry'],
  ['openshift-dns', 'dns-default'],
  ['openshift-operator-lifecycle-manager', 'olm-operator'],
  ['openshift-network-diagnostics', 'network-check-source'],
  ['kube-system', 'konnectivity-agent'],
  ['default', 'web'],
  ['payments', 'payments-api'],
  ['payments', 'ledger-worker'],
  ['shop', 'cart'],
  ['shop', 'checkout'],
  ['shop', 'catalog'],
];
const GUEST_NODES = 6;

function createGuestCluster(random: Random): GuestCluster {
  const workloads = GUEST_DEPLOYMENTS.map(([namespace, deployment]) => {
    const replicaSet = `${deployment}-${nameSuffix(random, 10)}`;
    return {
      namespace,
      deployment,
      replicaSet,
      pods: [0, 1, 2].map(() => `${replicaSet}-${nameSuffix(random, 5)}`),
      uid: uuid(random),
    };
  });
  const nodes = Array.from(
    { length: GUEST_NODES },
    () => `ip-10-0-${random.below(64)}-${1 + random.below(254)}.ec2.internal`,
  );
  return { workloads, nodes };
}

// ---------------------------------------------------------------------------------------------
// Messages

/** What a message template sees: the current event, the generator's randomness and world. */
interface MessageContext {
  readonly random: Random;
  readonly guest: GuestCluster;
  readonly time: TimeFormatter;
  /** The event time, epoch microseconds. */
  micros: number;
  timestamp: string;
  pod: PodState;
}

/**
 * How one application writes its lines. A message is `head + close`; padding goes
 * between them wrapped in `padOpen … padClose`, so JSON messages stay valid JSON.
 */
interface MessageStyle {
  readonly head: (c: MessageContext) => string;
  readonly close: string;
  readonly padOpen: string;
  readonly padClose: string;
}

interface AuditUser {
  readonly username: string;
  readonly groups: readonly string[];
  readonly userAgent: string;
}

interface AuditResource {
  readonly resource: string;
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly namespaced: boolean;
  /** The object's name; undefined for resources that are only created (reviews). */
  readonly name: ((w: GuestWorkload, c: MessageContext) => string) | undefined;
}

/** @param groupVersion - `v1` for the core group, else `apps/v1` */
function auditResource(
  resource: string,
  groupVersion: string,
  namespaced: boolean,
  name?: (w: GuestWorkload, c: MessageContext) => string,
): AuditResource {
  const slash = groupVersion.indexOf('/');
  return {
    resource,
    group: slash === -1 ? '' : groupVersion.slice(0, slash),
    version: groupVersion.slice(slash + 1),
    namespaced,
    name,
  };
}

const SA_GROUPS = (namespace: string) => [
  'system:serviceaccounts',
  `system:serviceaccounts:${namespace}`,
  'system:authenticated',
];
const KUBE_VERSION = 'v1.29.8';
const KUBE_AGENT_SUFFIX = '(linux/amd64) kubernetes/0ca4c1a';

const KUBE_APISERVER_USERS: readonly AuditUser[] = [
  {
    username: 'system:serviceaccount:openshift-monitoring:prometheus-k8s',
    groups: SA_GROUPS('openshift-monitoring'),
    userAgent: 'Prometheus/2.52.0',
  },
  {
    username: 'system:kube-controller-manager',
    groups: ['system:authenticated'],
    userAgent: `kube-controller-manager/${KUBE_VERSION} ${KUBE_AGENT_SUFFIX}/leader-election`,
  },
  {
    username: 'system:kube-scheduler',
    groups: ['system:authenticated'],
    userAgent: `kube-scheduler/${KUBE_VERSION} ${KUBE_AGENT_SUFFIX}/scheduler`,
  },
  {
    username: 'system:serviceaccount:openshift-ingress-operator:ingress-operator',
    groups: SA_GROUPS('openshift-ingress-operator'),
    userAgent: `ingress-operator/v0.0.0 ${KUBE_AGENT_SUFFIX}`,
  },
  {
    username: 'system:serviceaccount:kube-system:konnectivity-agent',
    groups: SA_GROUPS('kube-system'),
    userAgent: `proxy-agent/v0.0.0 ${KUBE_AGENT_SUFFIX}`,
  },
  {
    username: 'alice@example.com',
    groups: ['system:authenticated:oauth', 'system:authenticated'],
    userAgent: `oc/4.16.0 ${KUBE_AGENT_SUFFIX}`,
  },
];

const OPENSHIFT_APISERVER_USERS: readonly AuditUser[] = [
  {
    username: 'system:serviceaccount:openshift-console:console',
    groups: SA_GROUPS('openshift-console'),
    userAgent: 'console/v0.0.0',
  },
  {
    username: 'system:serviceaccount:openshift-route-controller-manager:route-controller-manager-sa',
    groups: SA_GROUPS('openshift-route-controller-manager'),
    userAgent: `route-controller-manager/v0.0.0 ${KUBE_AGENT_SUFFIX}`,
  },
  {
    username: 'system:serviceaccount:openshift-image-registry:registry',
    groups: SA_GROUPS('openshift-image-registry'),
    userAgent: `dockerregistry/v0.0.0 ${KUBE_AGENT_SUFFIX}`,
  },
  {
    username: 'bob@example.com',
    groups: ['system:authenticated:oauth', 'system:authenticated'],
    userAgent: `oc/4.16.0 ${KUBE_AGENT_SUFFIX}`,
  },
];

const byDeployment = (w: GuestWorkload): string => w.deployment;

const KUBE_RESOURCES: readonly AuditResource[] = [
  auditResource('pods', 'v1', true, (w, c) => c.random.pick(w.pods)),
  auditResource('configmaps', 'v1', true, (w) => `${w.deployment}-config`),
  auditResource('secrets', 'v1', true, (w) => `${w.deployment}-tls`),
  auditResource('services', 'v1', true, byDeployment),
  auditResource('endpoints', 'v1', true, byDeployment),
  auditResource('nodes', 'v1', false, (_, c) => c.random.pick(c.guest.nodes)),
  auditResource('leases', 'coordination.k8s.io/v1', true, byDeployment),
  auditResource('deployments', 'apps/v1', true, byDeployment),
  auditResource('replicasets', 'apps/v1', true, (w) => w.replicaSet),
  auditResource(
    'endpointslices',
    'discovery.k8s.io/v1',
    true,
    (w, c) => `${w.deployment}-${nameSuffix(c.random, 5)}`,
  ),
  auditResource('subjectaccessreviews', 'authorization.k8s.io/v1', false),
];

const OPENSHIFT_RESOURCES: readonly AuditResource[] = [
  auditResource('routes', 'route.openshift.io/v1', true, byDeployment),
  auditResource('imagestreams', 'image.openshift.io/v1', true, byDeployment),
  auditResource(
    'builds',
    'build.openshift.io/v1',
    true,
    (w, c) => `${w.deployment}-${1 + c.random.below(40)}`,
  ),
  auditResource('deploymentconfigs', 'apps.openshift.io/v1', true, byDeployment),
  auditResource('templates', 'template.openshift.io/v1', true, (w) => `${w.deployment}-template`),
  auditResource('projects', 'project.openshift.io/v1', false, (w) => w.namespace),
];

/** Verbs, repeated to weigh them roughly as a busy API server sees them. */
const VERBS = 'get get get get get list list watch watch update patch patch create create delete'.split(' ');

function auditMessage(
  users: readonly AuditUser[],
  resources: readonly AuditResource[],
): (c: MessageContext) => string {
  return (c) => {
    const { random } = c;
    const user = random.pick(users);
    const ref = random.pick(resources);
    const verb = ref.name === undefined ? 'create' : random.pick(VERBS);
    const w = random.pick(c.guest.workloads);
    const collection =
      `${ref.group === '' ? '/api/v1' : `/apis/${ref.group}/${ref.version}`}` +
      `${ref.namespaced ? `/namespaces/${w.namespace}` : ''}/${ref.resource}`;
    const named = verb !== 'list' && verb !== 'watch' && verb !== 'create';
    const name = named && ref.name !== undefined ? ref.name(w, c) : '';
    let requestURI = named ? `${collection}/${name}` : collection;
    if (verb === 'list') requestURI += '?limit=500&resourceVersion=0';
    if (verb === 'watch') {
      const seconds = 300 + random.below(300);
      requestURI +=
        `?allowWatchBookmarks=true&resourceVersion=${10_000_000 + random.below(90_000_000)}` +
        `&timeout=${Math.floor(seconds / 60)}m${seconds % 60}s&timeoutSeconds=${seconds}&watch=true`;
    }
    let code = verb === 'create' ? 201 : 200;
    if (verb === 'get' && random.chance(0.08)) code = 404;
    else if ((verb === 'update' || verb === 'patch') && random.chance(0.05)) code = 409;
    else if (user.username.includes('@') && random.chance(0.1)) code = 403;
    const objectRef =
      `{"resource":"${ref.resource}"` +
      `${ref.namespaced ? `,"namespace":"${w.namespace}"` : ''}` +
      `${name === '' ? '' : `,"name":"${name}"`}` +
      `${ref.group === '' ? '' : `,"apiGroup":"${ref.group}"`},"apiVersion":"${ref.version}"}`;
    const stage = verb === 'watch' ? 'ResponseStarted' : 'ResponseComplete';
    const stageTimestamp = c.time.rfc3339(c.micros + 150 + random.below(verb === 'list' ? 80_000 : 8_000));
    return (
      `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"${uuid(random)}",` +
      `"stage":"${stage}","requestURI":"${requestURI}","verb":"${verb}",` +
      `"user":{"username":"${user.username}","groups":["${user.groups.join('","')}"]},` +
      `"sourceIPs":["10.${random.chance(0.7) ? 128 + random.below(4) : 0}.${random.below(256)}.${1 + random.below(254)}"],` +
      `"userAgent":"${user.userAgent}","objectRef":${objectRef},` +
      `"responseStatus":{"metadata":{},"code":${code}},` +
      `"requestReceivedTimestamp":"${c.timestamp}","stageTimestamp":"${stageTimestamp}"`
    );
  };
}

/** One kind of klog line: `file.go:line] text`, with its severity and relative weight. */
interface KlogTemplate {
  readonly severity: 'I' | 'W' | 'E';
  readonly weight: number;
  readonly text: (c: MessageContext) => string;
}

const klog = (
  severity: KlogTemplate['severity'],
  weight: number,
  text: KlogTemplate['text'],
): KlogTemplate => ({ severity, weight, text });
const workload = (c: MessageContext): GuestWorkload => c.random.pick(c.guest.workloads);
const podRef = (c: MessageContext): string => {
  const w = workload(c);
  return `${w.namespace}/${c.random.pick(w.pods)}`;
};
const leaseTexts = (lease: string): KlogTemplate[] => [
  klog('I', 6, () => `leaderelection.go:281] successfully renewed lease ${lease}`),
  klog(
    'E',
    1,
    (c) =>
      `leaderelection.go:332] error retrieving resource lock ${lease}: Get "https://kube-apiserver:6443/apis/coordination.k8s.io/v1/namespaces/${lease.replace('/', '/leases/')}?timeout=5s": ` +
      (c.random.chance(0.5)
        ? 'context deadline exceeded'
        : 'net/http: request canceled (Client.Timeout exceeded)'),
  ),
];
const reflectorWarning = (informer: string, types: readonly string[]): KlogTemplate =>
  klog(
    'W',
    2,
    (c) =>
      `reflector.go:547] ${informer}: failed to list *${c.random.pick(types)}: ` +
      (c.random.chance(0.5)
        ? 'the server is currently unable to handle the request'
        : 'Get "https://kube-apiserver:6443/api/v1/pods?limit=500": dial tcp 172.30.0.1:6443: connect: connection refused'),
  );
const CLIENT_GO_INFORMERS = 'k8s.io/client-go/informers/factory.go:159';

const LOGIN_USERS = ['alice@example.com', 'bob@example.com', 'carol', 'dave', 'kube:admin'] as const;
const IDENTITY_PROVIDERS = ['htpasswd', 'corp-oidc', 'github'] as const;
const OAUTH_CLIENTS = ['openshift-browser-client', 'openshift-challenging-client', 'console'] as const;

const KLOG_TEMPLATES: Readonly<Record<string, readonly KlogTemplate[]>> = {
  'kube-controller-manager': [
    klog('I', 10, (c) => {
      const w = workload(c);
      return `replica_set.go:676] "Finished syncing" logger="replicaset-controller" kind="ReplicaSet" key="${w.namespace}/${w.replicaSet}" duration="${millis(c.random, 20)}"`;
    }),
    klog('I', 6, (c) => {
      const w = workload(c);
      return `garbagecollector.go:549] "Processing item" logger="garbage-collector-controller" item="[v1/Pod, namespace: ${w.namespace}, name: ${c.random.pick(w.pods)}, uid: ${w.uid}]" virtual=false`;
    }),
    klog('I', 5, (c) => {
      const w = workload(c);
      const replicas = 1 + c.random.below(5);
      return `event.go:389] "Event occurred" object="${w.namespace}/${w.deployment}" fieldPath="" kind="Deployment" apiVersion="apps/v1" type="Normal" reason="ScalingReplicaSet" message="Scaled up replica set ${w.replicaSet} to ${replicas}"`;
    }),
    ...leaseTexts('kube-system/kube-controller-manager'),
    klog('W', 2, (c) => {
      const w = workload(c);
      return `endpointslice_controller.go:311] "Error syncing endpoint slices for service, retrying" logger="endpointslice-controller" key="${w.namespace}/${w.deployment}" err="EndpointSlice informer cache is out of date"`;
    }),
    reflectorWarning(CLIENT_GO_INFORMERS, ['v1.Pod', 'v1.Secret', 'v1.PersistentVolume']),
    klog(
      'E',
      1,
      () =>
        'resource_quota_controller.go:440] "Error during resource discovery" err="unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: stale GroupVersion discovery: metrics.k8s.io/v1beta1"',
    ),
  ],
  'openshift-controller-manager': [
    klog('I', 8, (c) => {
      const w = workload(c);
      return `build_controller.go:1440] "Build phase changed" build="${w.namespace}/${w.deployment}-${1 + c.random.below(40)}" phase="${c.random.pick(['Pending', 'Running', 'Complete'])}"`;
    }),
    klog('I', 6, (c) => {
      const w = workload(c);
      return `create_dockercfg_secrets.go:219] "Created dockercfg secret" serviceaccount="${w.namespace}/default" secret="default-dockercfg-${nameSuffix(c.random, 5)}"`;
    }),
    klog(
      'I',
      4,
      (c) =>
        `image_trigger_controller.go:318] "Image trigger resolved" deployment="${workload(c).namespace}/${workload(c).deployment}" image="image-registry.openshift-image-registry.svc:5000/sha256:${hex8(c.random)}${hex8(c.random)}"`,
    ),
    ...leaseTexts('openshift-controller-manager/openshift-master-controllers'),
    reflectorWarning('github.com/openshift/client-go/image/informers/externalversions/factory.go:101', [
      'v1.ImageStream',
      'v1.BuildConfig',
    ]),
    klog('E', 1, (c) => {
      const w = workload(c);
      return `imagestream_controller.go:136] "Error syncing image stream" key="${w.namespace}/${w.deployment}" err="Internal error occurred: registry.redhat.io/ubi9/ubi:latest: unauthorized: authentication required"`;
    }),
  ],
  'openshift-route-controller-manager': [
    klog('I', 10, (c) => {
      const w = workload(c);
      return `ingress.go:313] "Synced ingress to route" ingress="${w.namespace}/${w.deployment}" route="${w.namespace}/${w.deployment}-${nameSuffix(c.random, 5)}"`;
    }),
    ...leaseTexts('openshift-route-controller-manager/openshift-route-controllers'),
    klog('W', 2, (c) => {
      const w = workload(c);
      return `ingress.go:486] "Unable to process ingress" ingress="${w.namespace}/${w.deployment}" err="secret ${w.deployment}-tls not found"`;
    }),
    reflectorWarning(CLIENT_GO_INFORMERS, ['v1.Ingress', 'v1.Service']),
  ],
  'kube-scheduler': [
    klog(
      'I',
      12,
      (c) =>
        `schedule_one.go:302] "Successfully bound pod to node" pod="${podRef(c)}" node="${c.random.pick(c.guest.nodes)}" evaluatedNodes=${GUEST_NODES} feasibleNodes=${1 + c.random.below(GUEST_NODES)}`,
    ),
    klog(
      'I',
      3,
      (c) =>
        `schedule_one.go:1011] "Unable to schedule pod; no fit; waiting" pod="${podRef(c)}" err="0/${GUEST_NODES} nodes are available: 3 Insufficient cpu, 3 node(s) had untolerated taint {node-role.kubernetes.io/master: }. preemption: 0/${GUEST_NODES} nodes are available: 3 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling."`,
    ),
    ...leaseTexts('kube-system/kube-scheduler'),
    reflectorWarning(CLIENT_GO_INFORMERS, ['v1.PersistentVolumeClaim', 'v1.CSINode', 'v1.Pod']),
  ],
  'oauth-openshift': [
    klog(
      'I',
      8,
      (c) =>
        `login.go:177] "Login succeeded" user="${c.random.pick(LOGIN_USERS)}" provider="${c.random.pick(IDENTITY_PROVIDERS)}"`,
    ),
    klog(
      'I',
      5,
      (c) =>
        `authorize.go:126] "Authorization granted" user="${c.random.pick(LOGIN_USERS)}" client="${c.random.pick(OAUTH_CLIENTS)}" scopes="user:full"`,
    ),
    klog(
      'E',
      2,
      (c) =>
        `basicauth.go:50] "Login failed" user="${c.random.pick(['mallory', 'root', 'admin', 'eve@example.com'])}" provider="htpasswd" err="invalid username or password"`,
    ),
    klog('E', 1, () => 'errorpage.go:28] AuthenticationError: invalid_grant'),
    reflectorWarning(CLIENT_GO_INFORMERS, ['v1.ConfigMap', 'v1.Secret']),
  ],
  'openshift-oauth-apiserver': [
    klog(
      'I',
      8,
      (c) =>
        `httplog.go:132] "HTTP" verb="${c.random.pick(['GET', 'GET', 'POST', 'DELETE'])}" URI="/apis/oauth.openshift.io/v1/oauthaccesstokens/sha256~${hex8(c.random)}${hex8(c.random)}" latency="${millis(c.random, 9)}" userAgent="oauth-server/v0.0.0 ${KUBE_AGENT_SUFFIX}" audit-ID="${uuid(c.random)}" srcIP="10.128.${c.random.below(4)}.${1 + c.random.below(254)}:${32768 + c.random.below(28000)}" resp=${c.random.chance(0.95) ? 200 : 404}`,
    ),
    klog(
      'I',
      5,
      (c) =>
        `oauthaccesstoken.go:84] "Created OAuth access token" user="${c.random.pick(LOGIN_USERS)}" client="${c.random.pick(OAUTH_CLIENTS)}" expiresIn=86400`,
    ),
    klog(
      'E',
      2,
      () =>
        'authentication.go:73] "Unable to authenticate the request" err="[invalid bearer token, token lookup failed]"',
    ),
    reflectorWarning(CLIENT_GO_INFORMERS, ['v1.OAuthClient', 'v1.User']),
  ],
};

/** Repeats each template by its weight, so a uniform pick is a weighted pick. */
function byWeight(templates: readonly KlogTemplate[]): KlogTemplate[] {
  return templates.flatMap((t) => Array.from({ length: t.weight }, () => t));
}

/** `I0115 10:30:00.123456       1 file.go:123] text` — klog's header, pid padded to 7. */
function klogMessage(templates: readonly KlogTemplate[]): (c: MessageContext) => string {
  const weighted = byWeight(templates);
  return (c) => {
    const template = c.random.pick(weighted);
    return `${template.severity}${c.time.klog(c.micros)}       1 ${template.text(c)}`;
  };
}

/** etcd's zap JSON lines; `ts` is the event time. */
function etcdMessage(c: MessageContext): string {
  const { random, pod } = c;
  const head = '{"level":"';
  const ts = `","ts":"${c.timestamp}","caller":"`;
  const revision = 1_000_000 + random.below(9_000_000);
  const roll = random.below(100);
  if (roll < 30) {
    return `${head}info${ts}mvcc/index.go:214","msg":"compact tree index","revision":${revision}`;
  }
  if (roll < 55) {
    const size = 40 + random.below(80);
    return (
      `${head}info${ts}mvcc/kvstore_compaction.go:68","msg":"finished scheduled compaction",` +
      `"compact-revision":${revision},"took":"${millis(random, 60)}","hash":${random.u32()},` +
      `"current-db-size-bytes":${size * 1_048_576},"current-db-size":"${size} MB",` +
      `"current-db-size-in-use-bytes":${(size >> 1) * 1_048_576},"current-db-size-in-use":"${size >> 1} MB"`
    );
  }
  if (roll < 70) {
    const applied = revision * 3;
    return (
      `${head}info${ts}etcdserver/server.go:1374","msg":"triggering snapshot",` +
      `"local-member-id":"${pod.memberId}","local-member-applied-index":${applied},` +
      `"local-member-snapshot-index":${applied - 100_000},"local-member-snapshot-count":100000`
    );
  }
  if (roll < 92) {
    const w = random.pick(c.guest.workloads);
    return (
      `${head}warn${ts}etcdserver/util.go:170","msg":"apply request took too long",` +
      `"took":"${100 + random.below(400)}.${random.below(1000)}ms","expected-duration":"100ms",` +
      `"prefix":"read-only range ","request":"key:/kubernetes.io/pods/${w.namespace}/${random.pick(w.pods)} ",` +
      `"response":"range_response_count:1 size:${2_000 + random.below(6_000)}"`
    );
  }
  if (roll < 97) {
    return (
      `${head}warn${ts}rafthttp/probing_status.go:82","msg":"prober found high clock drift",` +
      `"round-tripper-name":"ROUND_TRIPPER_RAFT_MESSAGE","remote-peer-id":"${pod.peerId}",` +
      `"clock-drift":"1.${random.below(1000)}s","rtt":"${millis(random, 4)}"`
    );
  }
  return (
    `${head}error${ts}etcdserver/v3_server.go:897","msg":"timed out waiting for read index response (local node might have slow network)",` +
    '"timeout":"7s"'
  );
}

const WORKLOAD_LOGGERS = [
  'c.e.shop.OrderController',
  'c.e.shop.CartService',
  'c.e.shop.PaymentClient',
  'o.s.web.servlet.DispatcherServlet',
  'c.z.hikari.pool.HikariPool',
] as const;

/** A Spring Boot style line: `2026-01-15 10:30:00.123  INFO 1 --- [exec-3] logger : text`. */
function workloadMessage(c: MessageContext): string {
  const { random } = c;
  const roll = random.below(100);
  const level = roll < 85 ? ' INFO' : roll < 95 ? ' WARN' : 'ERROR';
  const id = 10_000 + random.below(90_000);
  const text =
    level === ' INFO'
      ? random.chance(0.5)
        ? `Order ${id} created for customer ${random.below(5_000)} in ${random.below(90)} ms`
        : `GET /api/items/${id} completed with status 200 in ${random.below(40)} ms`
      : level === ' WARN'
        ? `Slow response from payments backend: ${300 + random.below(2_000)} ms for order ${id}`
        : `Payment authorization failed for order ${id}: upstream returned 503, will retry`;
  const ts = c.timestamp;
  return `${ts.slice(0, 10)} ${ts.slice(11, 23)} ${level} 1 --- [http-nio-8080-exec-${1 + random.below(10)}] ${random.pick(WORKLOAD_LOGGERS)} : ${text}`;
}

const AUDIT_STYLE_PADDING = {
  close: '}',
  padOpen: ',"annotations":{"authorization.k8s.io/reason":"',
  padClose: '"}',
};
const KLOG_STYLE_PADDING = { close: '', padOpen: ' detail="', padClose: '"' };

const MESSAGE_STYLES: Readonly<Record<string, MessageStyle>> = {
  'kube-apiserver': { head: auditMessage(KUBE_APISERVER_USERS, KUBE_RESOURCES), ...AUDIT_STYLE_PADDING },
  'openshift-apiserver': {
    head: auditMessage(OPENSHIFT_APISERVER_USERS, OPENSHIFT_RESOURCES),
    ...AUDIT_STYLE_PADDING,
  },
  etcd: { head: etcdMessage, close: '}', padOpen: ',"detail":"', padClose: '"' },
  ...Object.fromEntries(
    Object.entries(KLOG_TEMPLATES).map(([app, templates]) => [
      app,
      { head: klogMessage(templates), ...KLOG_STYLE_PADDING },
    ]),
  ),
};

/** Any application the generator does not know writes like the workload. */
const PLAIN_STYLE: MessageStyle = { head: workloadMessage, close: '', padOpen: ' | ', padClose: '' };

/**
 * Length of generated `text` once inside a JSON string, outer quotes not counted. Generated
 * text is ASCII without backslashes or control characters, so `"` is the only character
 * JSON escapes; `indexOf` finds them far faster than `JSON.stringify` re-encodes the text.
 */
function jsonStringLength(text: string): number {
  let length = text.length;
  for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) length++;
  return length;
}

// ---------------------------------------------------------------------------------------------
// Padding

const PADDING_WORDS = (
  'request handler latency watch cache sync resource version node lease namespace informer ' +
  'reflector queue retry status ready timeout endpoint service selector replica rollout condition ' +
  'observed generation leader quota admission webhook token certificate revision snapshot applied ' +
  'committed pending scheduled evicted throttled'
).split(' ');
const PADDING_KEYS = ['attempt', 'duration', 'bytes', 'items', 'rv', 'backoff', 'depth', 'shard'] as const;

/** Log-like words, counters and ids: compresses roughly like real control-plane text. */
function createPaddingPool(random: Random, minChars: number): string {
  const tokens: string[] = [];
  let chars = 0;
  while (chars < minChars) {
    const roll = random.below(10);
    const token =
      roll < 7
        ? random.pick(PADDING_WORDS)
        : roll < 9
          ? `${random.pick(PADDING_KEYS)}=${random.below(roll === 7 ? 100 : 100_000)}`
          : hex8(random);
    tokens.push(token);
    chars += token.length + 1;
  }
  return tokens.join(' ');
}

// ---------------------------------------------------------------------------------------------
// The generator

interface PodState {
  readonly application: string;
  readonly name: string;
  readonly kubernetes: GeneratedKubernetesMetadata;
  readonly style: MessageStyle;
  /** JSON line length of this pod's events without message, with a 1-digit seq. */
  readonly emptyLineChars: number;
  readonly memberId: string;
  readonly peerId: string;
  lastMicros: number;
}

interface TenantState {
  readonly namespace: string;
  /** Pods grouped by application, so an application is picked first, then one of its pods. */
  readonly pods: readonly (readonly PodState[])[];
}

function validateOptions(options: LogGeneratorOptions): void {
  const errors: FieldError[] = [];
  const check = (ok: boolean, field: string, message: string) => {
    if (!ok) errors.push({ field, message });
  };
  check(Number.isFinite(options.seed), 'seed', 'must be a finite number');
  check(isValidKeySegment(options.clusterId ?? ''), 'clusterId', 'must be a non-blank key segment');
  check(
    Number.isFinite(options.startMs) && options.startMs >= 0,
    'startMs',
    'must be epoch milliseconds ≥ 0',
  );
  const stepMs = options.stepMs ?? DEFAULT_STEP_MS;
  check(Number.isFinite(stepMs) && stepMs >= 0, 'stepMs', 'must be a finite number ≥ 0');
  if (options.targetEventBytes !== undefined) {
    check(
      Number.isInteger(options.targetEventBytes) && options.targetEventBytes > 0,
      'targetEventBytes',
      'must be a positive integer',
    );
  }
  check(options.tenants.length > 0, 'tenants', 'must list at least one tenant');
  options.tenants.forEach((tenant, i) => {
    check(
      isValidKeySegment(tenant.namespace ?? ''),
      `tenants.${i}.namespace`,
      'must be a non-blank key segment',
    );
    const apps = tenant.applications;
    if (apps !== undefined) {
      check(apps.length > 0, `tenants.${i}.applications`, 'must list at least one application');
      apps.forEach((app, j) => {
        check(isValidKeySegment(app), `tenants.${i}.applications.${j}`, 'must be a non-blank key segment');
      });
    }
    const pods = tenant.podsPerApplication ?? DEFAULT_PODS_PER_APPLICATION;
    check(Number.isInteger(pods) && pods >= 1, `tenants.${i}.podsPerApplication`, 'must be an integer ≥ 1');
  });
  if (errors.length > 0) throw new ConfigValidationError(errors, OPTIONS_CONTEXT);
}

function createPod(
  random: Random,
  clusterId: string,
  namespace: string,
  application: string,
  name: string,
): PodState {
  const kubernetes: GeneratedKubernetesMetadata = Object.freeze({
    pod_name: name,
    pod_namespace: namespace,
    container_name: application,
    pod_labels: Object.freeze({ app: application }),
    pod_uid: uuid(random),
  });
  const skeleton: GeneratedEvent = {
    message: '',
    timestamp: 'x'.repeat(TIMESTAMP_CHARS),
    cluster_id: clusterId,
    namespace,
    application,
    pod_name: name,
    kubernetes,
    seq: 0,
  };
  return {
    application,
    name,
    kubernetes,
    style: MESSAGE_STYLES[application] ?? PLAIN_STYLE,
    emptyLineChars: JSON.stringify(skeleton).length,
    memberId: `${hex8(random)}${hex8(random)}`,
    peerId: `${hex8(random)}${hex8(random)}`,
    lastMicros: Number.NEGATIVE_INFINITY,
  };
}

function createTenant(random: Random, clusterId: string, tenant: LogGeneratorTenant): TenantState {
  const podCount = tenant.podsPerApplication ?? DEFAULT_PODS_PER_APPLICATION;
  const applications = tenant.applications ?? DEFAULT_GENERATED_APPLICATIONS;
  const pods = applications.map((application) => {
    // etcd runs as a StatefulSet; the rest as Deployments sharing one ReplicaSet hash.
    const replicaSet = `${application}-${nameSuffix(random, 9 + random.below(2))}`;
    return Array.from({ length: podCount }, (_, i) =>
      createPod(
        random,
        clusterId,
        tenant.namespace,
        application,
        application === 'etcd' ? `etcd-${i}` : `${replicaSet}-${nameSuffix(random, 5)}`,
      ),
    );
  });
  return { namespace: tenant.namespace, pods };
}

/**
 * Creates a deterministic generator of Vector-shaped log events for a cluster's tenants.
 *
 * Events go round-robin across the tenants; each picks one of its tenant's applications,
 * then one of that application's pods. The clock starts at `startMs` and advances `stepMs`
 * per event; each event adds up to one step of jitter, and one pod's timestamps always
 * increase (by at least 1 µs).
 *
 * @param options - seed, cluster, tenants, clock and optional padding target
 * @returns a generator; the same options give the same events, different seeds different ones
 * @throws ConfigValidationError naming every bad option (no tenants, blank namespace,
 *   empty application list, `podsPerApplication` < 1, negative `stepMs`, …)
 * @example
 * const generator = createLogGenerator({
 *   seed: 1,
 *   clusterId: 'c1',
 *   tenants: [{ namespace: 'clusters-acme', applications: ['kube-apiserver', 'etcd'] }],
 *   startMs: Date.UTC(2026, 0, 15, 10, 30),
 *   targetEventBytes: 700,
 * });
 * const body = gzipNdjson(generator.take(1_000));
 */
export function createLogGenerator(options: LogGeneratorOptions): LogGenerator {
  validateOptions(options);
  const random = createRandom(options.seed);
  const tenants = options.tenants.map((tenant) => createTenant(random, options.clusterId, tenant));
  const guest = createGuestCluster(random);
  const target = options.targetEventBytes;
  // Padding draws from its own stream, so a target changes nothing but the padding.
  const paddingRandom = createRandom(options.seed + PADDING_SEED_OFFSET);
  const padding =
    target === undefined
      ? ''
      : createPaddingPool(
          paddingRandom,
          Math.max(MIN_PADDING_POOL_CHARS, 4 * target + 4 * MAX_PADDING_TOKEN_CHARS),
        );
  const stepMicros = Math.round((options.stepMs ?? DEFAULT_STEP_MS) * 1000);
  const context: MessageContext = {
    random,
    guest,
    time: new TimeFormatter(),
    micros: 0,
    timestamp: '',
    pod: tenants[0]!.pods[0]![0]!,
  };
  let clockMicros = Math.round(options.startMs * 1000);
  let seq = 0;

  const pad = (
    pod: PodState,
    head: string,
    timestamp: string,
    seqValue: number,
    lineBytes: number,
  ): string => {
    const { style } = pod;
    const lineChars =
      pod.emptyLineChars +
      (timestamp.length - TIMESTAMP_CHARS) +
      (String(seqValue).length - 1) +
      jsonStringLength(head) +
      jsonStringLength(style.close);
    const missing =
      lineBytes - lineChars - jsonStringLength(style.padOpen) - jsonStringLength(style.padClose);
    if (missing < 1) return head + style.close;
    // Start at a word boundary somewhere in the pool; a token is at most MAX_PADDING_TOKEN_CHARS.
    const from =
      padding.indexOf(' ', paddingRandom.below(padding.length - missing - 2 * MAX_PADDING_TOKEN_CHARS)) + 1;
    return `${head}${style.padOpen}${padding.slice(from, from + missing)}${style.padClose}${style.close}`;
  };

  const next = (): GeneratedEvent => {
    const tenant = tenants[seq % tenants.length]!;
    seq++;
    const pod = random.pick(random.pick(tenant.pods));
    const micros = Math.max(
      pod.lastMicros + 1,
      clockMicros + (stepMicros > 0 ? random.below(stepMicros) : 0),
    );
    pod.lastMicros = micros;
    clockMicros += stepMicros;
    const timestamp = context.time.rfc3339(micros);
    context.micros = micros;
    context.timestamp = timestamp;
    context.pod = pod;
    const head = pod.style.head(context);
    return {
      message: target === undefined ? head + pod.style.close : pad(pod, head, timestamp, seq, target),
      timestamp,
      cluster_id: options.clusterId,
      namespace: tenant.namespace,
      application: pod.application,
      pod_name: pod.name,
      kubernetes: pod.kubernetes,
      seq,
    };
  };

  return {
    next,
    take(n) {
      const events: GeneratedEvent[] = new Array(n);
      for (let i = 0; i < n; i++) events[i] = next();
      return events;
    },
    *events(n) {
      for (let i = 0; i < n; i++) yield next();
    },
  };
}

/**
 * Serializes events as NDJSON, the central object body: one JSON line each, joined by
 * `'\n'`, with a trailing `'\n'` (empty string for no events).
 *
 * @param events - any JSON-serializable objects, usually {@link GeneratedEvent}s
 */
export function toNdjson(events: readonly object[]): string {
  let text = '';
  for (const event of events) text += `${JSON.stringify(event)}\n`;
  return text;
}

/**
 * Serializes events as a gzip NDJSON object body, as Vector writes it to the central store.
 *
 * @param events - any JSON-serializable objects, usually {@link GeneratedEvent}s
 * @returns gzip of {@link toNdjson}
 */
export function gzipNdjson(events: readonly object[]): Buffer {
  return gzipSync(toNdjson(events));
}
