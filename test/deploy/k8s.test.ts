import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerIngestCommand } from '../../src/cli/commands/ingest.js';
import { registerProcessCommand } from '../../src/cli/commands/process.js';
import { parseByteSize, parsePort, registerUpCommand } from '../../src/cli/commands/up.js';
import { isValidKeySegment } from '../../src/domain/object-key.js';
import { awsRuntimeConfigFromEnv, ExecutionMode } from '../../src/runtimes/aws-env.js';
import {
  findGeneratedConfigMap,
  findObject,
  type KubeObject,
  kubectlUnavailable,
  renderKustomization,
} from '../helpers/kustomize.js';

// The slice of the Kubernetes API these tests read; kubernetes-models validates the rest.
interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
  seLinuxOptions?: { type?: string };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
  secret?: { secretName: string };
  emptyDir?: Record<string, unknown>;
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: SecurityContext;
  containers: Container[];
  volumes?: Volume[];
}
interface Workload extends KubeObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    strategy?: { type: string };
  };
}

const OVERLAYS = ['aws', 'aws-ingest-gateway', 'openshift', 'single-node'] as const;
type Overlay = (typeof OVERLAYS)[number];
const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

/** The model class of each kind the manifests use; `.validate()` checks an object against the Kubernetes OpenAPI schema. */
const MODELS: Readonly<Record<string, new (data: never) => { validate(): void }>> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

/**
 * kubernetes-models has no model for OpenShift's SecurityContextConstraints, so its check
 * is structural: the fields OpenShift requires (security.openshift.io/v1 marks the
 * strategies and the booleans below as required) with the types it accepts.
 */
function validateSecurityContextConstraints(scc: Record<string, unknown>): void {
  for (const field of ['allowHostDirVolumePlugin', 'allowHostIPC', 'allowHostNetwork', 'allowHostPID', 'allowHostPorts',
    'allowPrivilegedContainer', 'readOnlyRootFilesystem']) {
    if (typeof scc[field] !== 'boolean') throw new Error(`SecurityContextConstraints.${field} must be a boolean.`);
  }
  const strategies: Record<string, readonly string[]> = {
    runAsUser: ['MustRunAs', 'MustRunAsRange', 'MustRunAsNonRoot', 'RunAsAny'],
    seLinuxContext: ['MustRunAs', 'RunAsAny'],
    fsGroup: ['MustRunAs', 'RunAsAny'],
    supplementalGroups: ['MustRunAs', 'RunAsAny'],
  };
  for (const [field, types] of Object.entries(strategies)) {
    const strategy = scc[field] as { type?: string } | undefined;
    if (!strategy || !types.includes(strategy.type ?? '')) {
      throw new Error(`SecurityContextConstraints.${field}.type must be one of ${types.join(', ')}.`);
    }
  }
  for (const field of ['volumes', 'requiredDropCapabilities', 'allowedCapabilities', 'users', 'groups']) {
    if (scc[field] !== undefined && !Array.isArray(scc[field])) throw new Error(`SecurityContextConstraints.${field} must be a list.`);
  }
}

function validateObject(object: KubeObject): void {
  if (object.apiVersion === 'security.openshift.io/v1' && object.kind === 'SecurityContextConstraints') {
    validateSecurityContextConstraints(object as unknown as Record<string, unknown>);
    return;
  }
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`No schema check for ${object.apiVersion} ${object.kind}; add its model to MODELS.`);
  new Model(object as never).validate();
}

const workloadsOf = (objects: readonly KubeObject[]) => objects.filter((o) => WORKLOAD_KINDS.has(o.kind)) as Workload[];
const containersOf = (objects: readonly KubeObject[]) =>
  workloadsOf(objects).flatMap((w) =>
    w.spec.template.spec.containers.map((c) => ({ workload: w, pod: w.spec.template.spec, container: c })));

/** The environment a container gets: its envFrom ConfigMaps, then its env entries (values or ConfigMap keys). */
function containerEnv(objects: readonly KubeObject[], namespace: string, container: Container): Record<string, string> {
  const configMap = (name: string) => {
    const found = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name && o.metadata.namespace === namespace);
    if (!found) throw new Error(`ConfigMap '${name}' is not in namespace '${namespace}'.`);
    return (found as unknown as { data?: Record<string, string> }).data ?? {};
  };
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, configMap(source.configMapRef.name));
  }
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) env[entry.name] = entry.value;
    const ref = entry.valueFrom?.configMapKeyRef;
    if (ref) env[entry.name] = configMap(ref.name)[ref.key]!;
  }
  return env;
}

/** Reads the names `awsRuntimeConfigFromEnv` looks up while it parses `env`. */
function namesReadBy(parse: (env: NodeJS.ProcessEnv) => unknown, env: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const tracked = new Proxy(env, {
    get: (target, name) => {
      if (typeof name === 'string') read.add(name);
      return Reflect.get(target, name);
    },
  });
  parse(tracked);
  return read;
}

const rendered = {} as Record<Overlay, KubeObject[]>;

describe.skipIf(kubectlUnavailable)('deploy/k8s', () => {
  beforeAll(async () => {
    const all = await Promise.all(OVERLAYS.map((overlay) => renderKustomization(`overlays/${overlay}`)));
    OVERLAYS.forEach((overlay, i) => {
      rendered[overlay] = all[i]!;
    });
  }, 120_000);

  describe.each(OVERLAYS)('overlays/%s', (overlay) => {
    it('renders objects that each pass their Kubernetes schema check', () => {
      // Prepare
      const objects = rendered[overlay];

      // Act
      const failures = objects.flatMap((object) => {
        try {
          validateObject(object);
          return [];
        } catch (error) {
          return [`${object.kind}/${object.metadata.name}: ${(error as Error).message}`];
        }
      });

      // Assess
      expect(objects.length).toBeGreaterThan(5);
      expect(failures).toEqual([]);
    });

    it('puts every namespaced object in tlr-system or tlr-heartbeat, both of which it creates', () => {
      // Prepare
      const objects = rendered[overlay];
      const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'SecurityContextConstraints']);

      // Act
      const namespaces = new Set(objects.filter((o) => !clusterScoped.has(o.kind)).map((o) => o.metadata.namespace));
      const created = objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);

      // Assess
      expect([...namespaces].sort()).toEqual(['tlr-heartbeat', 'tlr-system']);
      expect(created.sort()).toEqual(['tlr-heartbeat', 'tlr-system']);
    });

    it('refers only to ConfigMaps, ServiceAccounts and claims it renders in the same namespace', () => {
      // Prepare
      const objects = rendered[overlay];
      const exists = (kind: string, name: string, namespace?: string) =>
        objects.some((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace);

      // Act
      const missing = workloadsOf(objects).flatMap((w) => {
        const { namespace } = w.metadata;
        const pod = w.spec.template.spec;
        const refs: [string, string][] = [
          ...(pod.serviceAccountName ? [['ServiceAccount', pod.serviceAccountName] as [string, string]] : []),
          ...(pod.volumes ?? []).flatMap((v): [string, string][] => [
            ...(v.configMap ? [['ConfigMap', v.configMap.name] as [string, string]] : []),
            ...(v.persistentVolumeClaim ? [['PersistentVolumeClaim', v.persistentVolumeClaim.claimName] as [string, string]] : []),
          ]),
          ...pod.containers.flatMap((c) => (c.envFrom ?? []).flatMap((e): [string, string][] =>
            e.configMapRef ? [['ConfigMap', e.configMapRef.name]] : [])),
        ];
        return refs.filter(([kind, name]) => !exists(kind, name, namespace)).map(([kind, name]) => `${w.metadata.name} -> ${kind}/${name}`);
      });

      // Assess
      expect(missing).toEqual([]);
    });

    it('runs no container privileged, with privilege escalation or with a capability', () => {
      // Prepare
      const containers = containersOf(rendered[overlay]);

      // Act
      const offenders = containers.filter(({ container }) => {
        const sc = container.securityContext ?? {};
        return sc.privileged !== false || sc.allowPrivilegeEscalation !== false ||
          JSON.stringify(sc.capabilities?.drop) !== '["ALL"]' || (sc.capabilities?.add ?? []).length > 0;
      });

      // Assess
      expect(containers.length).toBeGreaterThan(1);
      expect(offenders.map(({ container }) => container.name)).toEqual([]);
    });

    it('runs every container but the collector as non-root on a read-only root filesystem with the runtime seccomp profile', () => {
      // Prepare
      const containers = containersOf(rendered[overlay]).filter(({ workload }) => workload.metadata.name !== 'tlr-collector');

      // Act
      const offenders = containers.filter(({ pod, container }) => {
        const podSc = pod.securityContext ?? {};
        const runAsUser = container.securityContext?.runAsUser ?? podSc.runAsUser;
        return podSc.runAsNonRoot !== true || runAsUser === 0 || container.securityContext?.readOnlyRootFilesystem !== true ||
          podSc.seccompProfile?.type !== 'RuntimeDefault';
      });

      // Assess
      expect(containers.length).toBeGreaterThan(0);
      expect(offenders.map(({ container }) => container.name)).toEqual([]);
    });

    it('gives every container CPU and memory requests and limits', () => {
      // Prepare
      const containers = containersOf(rendered[overlay]);

      // Act
      const offenders = containers.filter(({ container: { resources } }) =>
        !resources?.requests?.['cpu'] || !resources.requests['memory'] || !resources.limits?.['cpu'] || !resources.limits['memory']);

      // Assess
      expect(offenders.map(({ container }) => container.name)).toEqual([]);
    });

    it('pins every image to a version tag, never latest', () => {
      // Prepare
      const images = containersOf(rendered[overlay]).map(({ container }) => container.image);

      // Act
      const unpinned = images.filter((image) => !/:[0-9][\w.-]*$/.test(image) && !image.includes('@sha256:'));

      // Assess
      expect(unpinned).toEqual([]);
    });
  });

  describe('collector', () => {
    it.each(OVERLAYS)('collects only namespaces labelled tlr.io/tenant=true, a label the heartbeat namespace carries (%s)', (overlay) => {
      // Prepare
      const objects = rendered[overlay];
      const vector = findGeneratedConfigMap(objects, 'tlr-collector-vector').data;

      // Act
      const pipeline = parseYaml(vector['pipeline.yaml']!) as { sources: Record<string, Record<string, unknown>> };
      const source = Object.values(pipeline.sources).find((s) => s['type'] === 'kubernetes_logs')!;
      const heartbeat = findObject(objects, 'Namespace', 'tlr-heartbeat') as { metadata: { labels: Record<string, string> } };

      // Assess
      expect(source['extra_namespace_label_selector']).toBe('tlr.io/tenant=true');
      expect(heartbeat.metadata.labels['tlr.io/tenant']).toBe('true');
      expect(findObject(objects, 'Namespace', 'tlr-system').metadata['labels']).not.toHaveProperty('tlr.io/tenant');
    });

    it('lets the collector only list and watch pods, namespaces and nodes', () => {
      // Prepare
      const objects = rendered.aws;

      // Act
      const role = findObject(objects, 'ClusterRole', 'tlr-collector') as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
      const binding = findObject(objects, 'ClusterRoleBinding', 'tlr-collector') as unknown as { subjects: { kind: string; name: string; namespace: string }[] };

      // Assess
      expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods', 'namespaces', 'nodes'], verbs: ['list', 'watch'] }]);
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'tlr-collector', namespace: 'tlr-system' }]);
    });

    it.each(OVERLAYS)('gives Vector a non-empty value for every variable its configuration requires (%s)', (overlay) => {
      // Prepare
      const objects = rendered[overlay];
      const vector = findGeneratedConfigMap(objects, 'tlr-collector-vector').data;
      const daemonSet = findObject<Workload>(objects, 'DaemonSet', 'tlr-collector');
      const container = daemonSet.spec.template.spec.containers[0]!;

      // Act
      const text = Object.values(vector).join('\n');
      const references = [...text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
      const required = [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]+\}/g)].map((m) => m[1]!);
      const env = containerEnv(objects, 'tlr-system', container);
      const fromSecrets = (container.env ?? [])
        .filter((e) => e.valueFrom?.secretKeyRef && e.valueFrom.secretKeyRef.optional !== true)
        .map((e) => e.name);

      // Assess: Vector interpolates every $NAME, comments included, so each must be a required reference
      expect(references.length).toBeGreaterThan(0);
      expect(required).toEqual(references);
      for (const name of required) {
        expect(env[name] ?? (fromSecrets.includes(name) ? 'from a Secret' : ''), name).not.toBe('');
      }
    });

    it('keeps the central key fields the processor parses valid for the configured cluster id', () => {
      // Prepare
      const settings = findGeneratedConfigMap(rendered.aws, 'tlr-collector-settings').data;
      const processor = findGeneratedConfigMap(rendered.aws, 'tlr-processor-env').data;

      // Act
      const clusterId = settings['CLUSTER_ID']!;

      // Assess
      expect(isValidKeySegment(clusterId)).toBe(true);
      expect(clusterId.startsWith('_')).toBe(false);
      expect(settings['TLR_CENTRAL_BUCKET']).toBe(processor['SOURCE_BUCKET']);
      expect(settings['AWS_REGION']).toBe(processor['AWS_REGION']);
    });

    it('reads /var/log read-only and keeps checkpoints and the disk buffer in a hostPath data dir', () => {
      // Prepare
      const daemonSet = findObject<Workload>(rendered.aws, 'DaemonSet', 'tlr-collector');
      const pod = daemonSet.spec.template.spec;
      const mounts = pod.containers[0]!.volumeMounts!;
      const volume = (mountPath: string) =>
        pod.volumes!.find((v) => v.name === mounts.find((m) => m.mountPath === mountPath)!.name)!;
      const pipeline = parseYaml(findGeneratedConfigMap(rendered.aws, 'tlr-collector-vector').data['pipeline.yaml']!) as { data_dir: string };

      // Act
      const varLog = mounts.find((m) => m.mountPath === '/var/log/')!;

      // Assess
      expect(varLog.readOnly).toBe(true);
      expect(volume('/var/log/').hostPath?.path).toBe('/var/log/');
      expect(volume(pipeline.data_dir).hostPath?.path).toBe('/var/lib/tlr-collector');
      expect(pod.containers[0]!.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(mounts.filter((m) => !m.readOnly).map((m) => m.mountPath)).toEqual([pipeline.data_dir]);
    });
  });

  describe('processor', () => {
    it.each(['aws', 'openshift'] as const)(
      'hands awsRuntimeConfigFromEnv only variables it reads, and they parse to the deployment\'s settings (%s)',
      (overlay) => {
        // Prepare
        const objects = rendered[overlay];
        const deployment = findObject<Workload>(objects, 'Deployment', 'tlr-processor');
        const env = containerEnv(objects, 'tlr-system', deployment.spec.template.spec.containers[0]!);

        // Act
        const read = namesReadBy((e) => awsRuntimeConfigFromEnv(ExecutionMode.SQS, e), env);
        const config = awsRuntimeConfigFromEnv(ExecutionMode.SQS, env);

        // Assess
        expect(Object.keys(env).filter((name) => !read.has(name))).toEqual([]);
        expect(config).toMatchObject({
          configTable: 'tlr-delivery-configs',
          checkpointTable: 'tlr-delivery-configs-checkpoints',
          queueUrl: env['SQS_QUEUE_URL'],
          deadLetterQueueUrl: env['SQS_DLQ_URL'],
          sourceBucket: env['SOURCE_BUCKET'],
          centralRoleArn: env['CENTRAL_LOG_DISTRIBUTION_ROLE_ARN'],
          concurrency: 4,
          logLevelWasInvalid: false,
          aws: { region: 'eu-west-1' },
        });
        expect(config.queueUrl).toMatch(/^https:\/\/sqs\.eu-west-1\.amazonaws\.com\/\d{12}\/.+/);
      },
    );

    it('runs `tlr process --mode sqs` with flags the command defines and probes the health route it serves', () => {
      // Prepare
      const deployment = findObject<Workload>(rendered.aws, 'Deployment', 'tlr-processor');
      const container = deployment.spec.template.spec.containers[0]!;
      const program = new Command();
      registerProcessCommand(program, { out: () => {}, err: () => {} }, () => ({}));
      const flags = program.commands.find((c) => c.name() === 'process')!.options.map((o) => o.long);

      // Act
      const args = container.args!;
      const metricsPort = Number(args[args.indexOf('--metrics-port') + 1]);
      const probePort = container.ports!.find((p) => p.name === container.readinessProbe!.httpGet!.port)!.containerPort;

      // Assess
      expect(args.slice(0, 3)).toEqual(['process', '--mode', 'sqs']);
      expect(args.filter((a) => a.startsWith('--')).filter((a) => !flags.includes(a))).toEqual([]);
      expect(args[args.indexOf('--metrics-host') + 1]).toBe('0.0.0.0');
      expect(probePort).toBe(metricsPort);
      expect(container.readinessProbe!.httpGet!.path).toBe('/api/v1/health');
      expect(container.livenessProbe!.httpGet!.path).toBe('/api/v1/health');
    });

    it('scales the processor Deployment on the queue depth external metric', () => {
      // Prepare
      const hpa = findObject(rendered.aws, 'HorizontalPodAutoscaler', 'tlr-processor') as unknown as {
        spec: {
          scaleTargetRef: { apiVersion: string; kind: string; name: string };
          minReplicas: number;
          maxReplicas: number;
          metrics: { type: string; external?: { metric: { name: string }; target: { type: string } } }[];
        };
      };

      // Act
      const { scaleTargetRef, metrics, minReplicas, maxReplicas } = hpa.spec;

      // Assess
      expect(scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'tlr-processor' });
      expect(findObject(rendered.aws, 'Deployment', 'tlr-processor')).toBeDefined();
      expect(metrics).toHaveLength(1);
      expect(metrics[0]!.type).toBe('External');
      expect(metrics[0]!.external!.metric.name).toBe('sqs_approximate_number_of_messages_visible');
      expect(metrics[0]!.external!.target.type).toBe('AverageValue');
      expect(minReplicas).toBeGreaterThanOrEqual(1);
      expect(maxReplicas).toBeGreaterThan(minReplicas);
    });

    it('keeps a poller through voluntary disruptions, selecting the processor pods', () => {
      // Prepare
      const pdb = findObject(rendered.aws, 'PodDisruptionBudget', 'tlr-processor') as unknown as {
        spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
      };
      const podLabels = findObject<Workload>(rendered.aws, 'Deployment', 'tlr-processor').spec.template.metadata.labels;

      // Act
      const selects = Object.entries(pdb.spec.selector.matchLabels).every(([k, v]) => podLabels[k] === v);

      // Assess
      expect(selects).toBe(true);
      expect(pdb.spec.minAvailable).toBe(1);
    });

    it.each([
      // EKS Pod Identity (what deploy/cdk's roles trust by default) needs no annotation, and an
      // IRSA annotation would take precedence over it in the AWS SDKs' credential chain.
      ['aws', undefined, undefined],
      ['openshift', /^arn:aws:iam::\d{12}:role\/tlr-collector-writer$/, /^arn:aws:iam::\d{12}:role\/tlr-processor$/],
    ] as const)('gives the ServiceAccounts the deploy/cdk roles the way %s expects', (overlay, collector, processor) => {
      // Prepare
      const roleOf = (name: string) =>
        (findObject(rendered[overlay], 'ServiceAccount', name).metadata['annotations'] as Record<string, string> | undefined)
          ?.['eks.amazonaws.com/role-arn'];

      // Act
      const roles = { collector: roleOf('tlr-collector'), processor: roleOf('tlr-processor') };

      // Assess
      if (collector) expect(roles.collector).toMatch(collector);
      else expect(roles.collector).toBeUndefined();
      if (processor) expect(roles.processor).toMatch(processor);
      else expect(roles.processor).toBeUndefined();
    });
  });

  describe('ingest gateway', () => {
    interface GatewaySet extends Workload {
      spec: Workload['spec'] & {
        serviceName: string;
        replicas: number;
        volumeClaimTemplates: { metadata: { name: string } }[];
      };
    }

    it('leaves the gateway out of the aws overlay, so it stays opt-in', () => {
      // Act
      const gateways = rendered.aws.filter((o) => o.metadata.name.startsWith('tlr-ingest-gateway'));

      // Assess
      expect(gateways).toEqual([]);
    });

    it('runs `tlr ingest serve` on all interfaces with flags the command defines, its buffer on a claim per replica', () => {
      // Prepare
      const objects = rendered['aws-ingest-gateway'];
      const set = findObject<GatewaySet>(objects, 'StatefulSet', 'tlr-ingest-gateway');
      const pod = set.spec.template.spec;
      const container = pod.containers[0]!;
      const program = new Command();
      registerIngestCommand(program, { out: () => {}, err: () => {} }, () => ({}));
      const serve = program.commands.find((c) => c.name() === 'ingest')!.commands.find((c) => c.name() === 'serve')!;
      const flags = serve.options.map((o) => o.long);

      // Act
      const args = container.args!;
      const env = containerEnv(objects, 'tlr-system', container);
      const mountOf = (path: string) => container.volumeMounts!.find((m) => path.startsWith(`${m.mountPath}/`) || m.mountPath === path)!;
      const secretOf = (path: string) => pod.volumes!.find((v) => v.name === mountOf(path).name)?.secret?.secretName;
      const settings = findGeneratedConfigMap(objects, 'tlr-collector-settings').data;

      // Assess
      expect(args.slice(0, 2)).toEqual(['ingest', 'serve']);
      expect(args.filter((a) => a.startsWith('--')).filter((a) => !flags.includes(a))).toEqual([]);
      expect(args[args.indexOf('--host') + 1]).toBe('0.0.0.0');
      expect(args[args.indexOf('--forward-host') + 1]).toBe('0.0.0.0');
      expect(args).toContain('--forward');
      expect(secretOf(args[args.indexOf('--tokens-file') + 1]!)).toBe('tlr-ingest-gateway');
      expect(secretOf(args[args.indexOf('--forward-auth') + 1]!)).toBe('tlr-ingest-gateway');
      expect(env['SOURCE_BUCKET']).toBe(settings['TLR_CENTRAL_BUCKET']);
      expect(env['AWS_REGION']).toBe(settings['AWS_REGION']);
      expect(mountOf(env['TLR_DATA_DIR']!).name).toBe(set.spec.volumeClaimTemplates[0]!.metadata.name);
      expect(pod.volumes!.some((v) => v.name === mountOf(env['TLR_DATA_DIR']!).name)).toBe(false);
      expect(findObject(objects, 'Service', set.spec.serviceName)).toBeDefined();
      expect(pod.serviceAccountName).toBe('tlr-ingest-gateway');
      expect(findObject(objects, 'ServiceAccount', 'tlr-ingest-gateway')).toBeDefined();
      expect(container.readinessProbe!.httpGet!.path).toBe('/api/v1/health');
      expect(container.livenessProbe!.httpGet!.path).toBe('/api/v1/health');
    });

    it('sends the Service\'s HTTP and Forward ports to the container ports the flags listen on', () => {
      // Prepare
      const objects = rendered['aws-ingest-gateway'];
      const set = findObject<GatewaySet>(objects, 'StatefulSet', 'tlr-ingest-gateway');
      const container = set.spec.template.spec.containers[0]!;
      const service = findObject(objects, 'Service', 'tlr-ingest-gateway') as unknown as {
        spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] };
      };
      const args = container.args!;

      // Act
      const target = (name: string) =>
        container.ports!.find((p) => p.name === service.spec.ports.find((s) => s.name === name)!.targetPort)!.containerPort;

      // Assess
      expect(target('http')).toBe(parsePort(args[args.indexOf('--port') + 1]!));
      expect(target('forward')).toBe(parsePort(args[args.indexOf('--forward-port') + 1]!));
      expect(container.readinessProbe!.httpGet!.port).toBe('http');
      const podLabels = set.spec.template.metadata.labels;
      expect(Object.entries(service.spec.selector).every(([k, v]) => podLabels[k] === v)).toBe(true);
    });
  });

  describe('heartbeat', () => {
    it.each(OVERLAYS)('reports the cluster id the collector stamps on events (%s)', (overlay) => {
      // Prepare
      const objects = rendered[overlay];
      const deployment = findObject<Workload>(objects, 'Deployment', 'heartbeat');

      // Act
      const env = containerEnv(objects, 'tlr-heartbeat', deployment.spec.template.spec.containers[0]!);
      const collector = findGeneratedConfigMap(objects, 'tlr-collector-settings').data;

      // Assess
      expect(env['CLUSTER_ID']).toBe(collector['CLUSTER_ID']);
      expect(env['CLUSTER_ID']).not.toBe('');
      expect(env['HEARTBEAT_INTERVAL_SECONDS']).toBe('120');
    });

    it('prints one JSON heartbeat line at once and exits cleanly on SIGTERM', async () => {
      // Prepare: run the container's script with /bin/sh as the kubelet would, after its
      // $$ → $ expansion, with the rendered environment.
      const objects = rendered.aws;
      const container = findObject<Workload>(objects, 'Deployment', 'heartbeat').spec.template.spec.containers[0]!;
      const env = containerEnv(objects, 'tlr-heartbeat', container);
      const script = container.args![0]!.replaceAll('$$', '$');
      const child = spawn(container.command![0]!, [...container.command!.slice(1), script], {
        env: { PATH: process.env['PATH'], ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });

      // Act
      const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');

      // Assess
      const event = JSON.parse(line) as Record<string, string>;
      expect(event).toEqual({ message: 'heartbeat', timestamp: expect.any(String), cluster_id: env['CLUSTER_ID'] });
      expect(event['timestamp']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect(Math.abs(Date.parse(event['timestamp']!) - Date.now())).toBeLessThan(60_000);
      expect(await exited).toBe(0);
    });
  });

  describe('openshift', () => {
    it('grants an unprivileged hostPath SCC running as uid 0 to the collector ServiceAccount alone', () => {
      // Prepare
      const objects = rendered.openshift;

      // Act
      const scc = findObject(objects, 'SecurityContextConstraints', 'tlr-collector') as unknown as Record<string, unknown>;
      const role = findObject(objects, 'ClusterRole', 'tlr-collector-scc') as unknown as { rules: unknown[] };
      const binding = findObject(objects, 'RoleBinding', 'tlr-collector-scc') as unknown as {
        metadata: { namespace: string };
        roleRef: { name: string };
        subjects: unknown[];
      };
      const collectorPod = findObject<Workload>(objects, 'DaemonSet', 'tlr-collector').spec.template.spec;

      // Assess
      expect(scc).toMatchObject({
        allowHostDirVolumePlugin: true,
        allowPrivilegedContainer: false,
        allowPrivilegeEscalation: false,
        allowHostNetwork: false,
        allowHostPID: false,
        requiredDropCapabilities: ['ALL'],
        readOnlyRootFilesystem: true,
        runAsUser: { type: 'MustRunAs', uid: 0 },
        users: [],
        groups: [],
      });
      expect(scc['volumes']).toContain('hostPath');
      expect(role.rules).toEqual([{
        apiGroups: ['security.openshift.io'],
        resources: ['securitycontextconstraints'],
        resourceNames: ['tlr-collector'],
        verbs: ['use'],
      }]);
      expect(binding.roleRef.name).toBe('tlr-collector-scc');
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'tlr-collector', namespace: 'tlr-system' }]);
      expect(collectorPod.securityContext?.seLinuxOptions?.type).toBe((scc['seLinuxContext'] as { seLinuxOptions: { type: string } })
        .seLinuxOptions.type);
    });

    it('leaves the uid of the processor and the heartbeat to OpenShift', () => {
      // Prepare
      const workloads = ['tlr-processor', 'heartbeat'].map((name) => findObject<Workload>(rendered.openshift, 'Deployment', name));

      // Act
      const fixed = workloads.filter((w) => {
        const pod = w.spec.template.spec;
        return pod.securityContext?.runAsUser !== undefined || pod.securityContext?.runAsGroup !== undefined ||
          pod.containers.some((c) => c.securityContext?.runAsUser !== undefined);
      });

      // Assess
      expect(fixed.map((w) => w.metadata.name)).toEqual([]);
    });
  });

  describe('single-node', () => {
    it('runs one `tlr up` on all interfaces with its data directory on the claim, behind a Service', () => {
      // Prepare
      const objects = rendered['single-node'];
      const deployment = findObject<Workload>(objects, 'Deployment', 'tlr');
      const container = deployment.spec.template.spec.containers[0]!;
      const program = new Command();
      registerUpCommand(program, { out: () => {}, err: () => {} }, () => ({}));
      const flags = program.commands.find((c) => c.name() === 'up')!.options.map((o) => o.long);
      const service = findObject(objects, 'Service', 'tlr') as unknown as {
        spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
      };

      // Act
      const args = container.args!;
      const port = parsePort(args[args.indexOf('--port') + 1]!);
      const dataDir = containerEnv(objects, 'tlr-system', container)['TLR_DATA_DIR'];
      const dataMount = container.volumeMounts!.find((m) => m.mountPath === dataDir)!;
      const dataVolume = deployment.spec.template.spec.volumes!.find((v) => v.name === dataMount.name)!;

      // Assess
      expect(args[0]).toBe('up');
      expect(args.filter((a) => a.startsWith('--')).filter((a) => !flags.includes(a))).toEqual([]);
      expect(args[args.indexOf('--host') + 1]).toBe('0.0.0.0');
      expect(parseByteSize(args[args.indexOf('--store-budget') + 1]!)).toBeLessThan(20 * 1024 ** 3);
      expect(dataVolume.persistentVolumeClaim?.claimName).toBe('tlr-data');
      expect(deployment.spec.strategy?.type).toBe('Recreate');
      expect((deployment.spec as unknown as { replicas: number }).replicas).toBe(1);
      expect(container.ports!.find((p) => p.name === service.spec.ports[0]!.targetPort)!.containerPort).toBe(port);
      const podLabels = deployment.spec.template.metadata.labels;
      expect(Object.entries(service.spec.selector).every(([k, v]) => podLabels[k] === v)).toBe(true);
    });

    it('sends the collector\'s events to the Service\'s ingest route with the token tlr up accepts', () => {
      // Prepare
      const objects = rendered['single-node'];
      const vector = findGeneratedConfigMap(objects, 'tlr-collector-vector').data;
      const sink = parseYaml(vector['sink.yaml']!) as { sinks: Record<string, Record<string, unknown>> };
      const tokenOf = (kind: string, name: string) => {
        const container = findObject<Workload>(objects, kind, name).spec.template.spec.containers[0]!;
        return container.env!.find((e) => e.name === 'TLR_INGEST_TOKEN')!.valueFrom!.secretKeyRef;
      };

      // Act
      const [http] = Object.values(sink.sinks);
      const settings = findGeneratedConfigMap(objects, 'tlr-collector-settings').data;

      // Assess
      expect(Object.keys(sink.sinks)).toHaveLength(1);
      expect(http).toMatchObject({
        type: 'http',
        uri: 'http://tlr.tlr-system.svc:8080/api/v1/ingest',
        framing: { method: 'newline_delimited' },
        encoding: { codec: 'json' },
        auth: { strategy: 'bearer' },
      });
      expect(tokenOf('DaemonSet', 'tlr-collector')).toEqual(tokenOf('Deployment', 'tlr'));
      // TLR_INGEST_TOKEN is bound to cluster 'local' (src/runtimes/embedded.ts LOCAL_CLUSTER_ID).
      expect(settings['CLUSTER_ID']).toBe('local');
    });
  });
});
