import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const execFileAsync = promisify(execFile);

/** The repository's Kubernetes manifests. */
export const K8S_DIR = fileURLToPath(new URL('../../deploy/k8s', import.meta.url));

/** A rendered Kubernetes object, as plain data. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}

function probeKubectl(): string | undefined {
  const result = spawnSync('kubectl', ['version', '--client', '--output=json'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error || result.status !== 0) return undefined;
  try {
    const version = JSON.parse(result.stdout) as { clientVersion?: { gitVersion?: string }; kustomizeVersion?: string };
    return `kubectl ${version.clientVersion?.gitVersion ?? '?'}, kustomize ${version.kustomizeVersion ?? '?'}`;
  } catch {
    return undefined;
  }
}

/** Which kubectl renders the manifests, or undefined when there is none. */
export const kubectlVersion: string | undefined = probeKubectl();

/**
 * Why the manifest tests cannot run here, or undefined when they can. In CI a missing
 * kubectl is an error, not a skip.
 */
export const kubectlUnavailable: string | undefined = kubectlVersion
  ? undefined
  : 'kubectl (with its built-in kustomize) is not on PATH';

if (kubectlUnavailable && process.env['CI']) {
  throw new Error(`CI requires kubectl to render deploy/k8s: ${kubectlUnavailable}.`);
}
if (kubectlUnavailable) {
  process.stderr.write(`Skipping Kubernetes manifest tests: ${kubectlUnavailable}.\n`);
}

/**
 * Renders a kustomization with `kubectl kustomize` and parses every object it prints.
 *
 * @param dir - the kustomization directory, relative to deploy/k8s (`overlays/aws`)
 * @throws Error with kubectl's message when the kustomization does not build
 */
export async function renderKustomization(dir: string): Promise<KubeObject[]> {
  const { stdout } = await execFileAsync('kubectl', ['kustomize', join(K8S_DIR, dir)], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: 60_000,
  });
  return parseAllDocuments(stdout).flatMap((document) => {
    if (document.errors.length > 0) throw document.errors[0];
    const value = document.toJS() as KubeObject | null;
    return value === null ? [] : [value];
  });
}

/**
 * The one object of a kind and name.
 *
 * @throws Error naming what was looked for when there is not exactly one
 */
export function findObject<T = KubeObject>(objects: readonly KubeObject[], kind: string, name: string): T {
  const matches = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (matches.length !== 1) throw new Error(`Expected one ${kind} '${name}', found ${matches.length}.`);
  return matches[0] as T;
}

/**
 * The one ConfigMap generated from a `configMapGenerator` entry: kustomize appends a
 * content hash to its name (`tlr-collector-settings-7fddc98k4m`).
 */
export function findGeneratedConfigMap(objects: readonly KubeObject[], name: string): { data: Record<string, string> } {
  const pattern = new RegExp(`^${name}-[a-z0-9]{10}$`);
  const matches = objects.filter((o) => o.kind === 'ConfigMap' && pattern.test(o.metadata.name));
  if (matches.length !== 1) throw new Error(`Expected one generated ConfigMap '${name}-<hash>', found ${matches.length}.`);
  return matches[0] as unknown as { data: Record<string, string> };
}
