import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { createApplicationFilter, type DeliveryConfig } from '../domain/index.js';

/**
 * The demo: a few tenants of one cluster with different filters, and the check that every
 * expected event arrived exactly once and nowhere else.
 */

/** The cluster the demo writes as (the default local ingest token's cluster). */
/** Who the demo's config changes are recorded as in the audit log. */
export const DEMO_ACTOR = 'demo';
export const DEMO_CLUSTER_ID = 'local';

export interface DemoTenant {
  readonly namespace: string;
  readonly applications: readonly string[];
  /** What the demo shows with this tenant. */
  readonly note: string;
}

const CONTROL_PLANE = [
  'kube-apiserver',
  'openshift-apiserver',
  'kube-controller-manager',
  'openshift-controller-manager',
  'kube-scheduler',
  'oauth-openshift',
  'etcd',
] as const;

/** The demo tenants and the applications each runs. */
export const DEMO_TENANTS: readonly DemoTenant[] = [
  { namespace: 'acme', applications: [...CONTROL_PLANE, 'my-app'], note: 'every application' },
  { namespace: 'globex', applications: CONTROL_PLANE, note: 'desired_logs kube-apiserver + group Scheduler' },
  { namespace: 'initech', applications: CONTROL_PLANE, note: 'two file destinations with different filters' },
  { namespace: 'umbrella', applications: CONTROL_PLANE, note: 'its only config is disabled' },
  { namespace: 'hooli', applications: CONTROL_PLANE, note: 'no config at all' },
];

/**
 * The demo's delivery configs; outputs under `<outputsDir>/<tenant>[-<name>]`.
 * @param outputsDir - relative to the data directory, or absolute
 */
export function demoConfigs(outputsDir = 'outputs'): Record<string, unknown>[] {
  const dir = (name: string) => join(outputsDir, name);
  return [
    { tenant_id: 'acme', type: 'file', directory: dir('acme') },
    {
      tenant_id: 'globex',
      type: 'file',
      directory: dir('globex'),
      desired_logs: ['kube-apiserver'],
      groups: ['scheduler'],
    },
    { tenant_id: 'initech', type: 'file', directory: dir('initech'), groups: ['Controller Manager'] },
    {
      tenant_id: 'initech',
      type: 'file:audit',
      directory: dir('initech-audit'),
      desired_logs: ['kube-apiserver', 'openshift-apiserver'],
      groups: ['Authentication'],
    },
    { tenant_id: 'umbrella', type: 'file', directory: dir('umbrella'), enabled: false },
  ];
}

/** The minimum of an event the check needs. */
export interface DemoEvent {
  readonly seq: number;
  readonly namespace: string;
  readonly application: string;
}

/** Per tenant: what came in, what should be and was delivered, and why the rest was not. */
export interface TenantSummary {
  readonly tenant: string;
  readonly received: number;
  /** Deliveries expected: one per (event, matching active destination). */
  readonly routed: number;
  readonly delivered: number;
  readonly missing: number;
  readonly duplicates: number;
  /** Deliveries to this tenant's destinations of events that were not meant for them. */
  readonly unexpected: number;
  readonly skipped: Readonly<Record<string, number>>;
}

/** Expected seq ids per destination directory, from the configs and the events sent. */
export interface DemoExpectation {
  readonly byDestination: Map<string, { tenant: string; directory: string; seqs: Set<number> }>;
  readonly received: Map<string, number>;
  readonly skipped: Map<string, Record<string, number>>;
}

/**
 * Works out where each event must land: a destination gets an event when the config is
 * enabled and its application filter passes.
 */
export function expectDeliveries(
  events: Iterable<DemoEvent>,
  configs: readonly Record<string, unknown>[],
  baseDir: string,
): DemoExpectation {
  const byTenant = new Map<string, { key: string; enabled: boolean; accepts: (app: string) => boolean }[]>();
  const byDestination: DemoExpectation['byDestination'] = new Map();
  for (const config of configs as unknown as DeliveryConfig[]) {
    const key = `${config.tenant_id}/${config.type}`;
    const directory = String(config['directory']);
    byDestination.set(key, {
      tenant: config.tenant_id,
      directory: isAbsolute(directory) ? directory : resolve(baseDir, directory),
      seqs: new Set(),
    });
    const list = byTenant.get(config.tenant_id) ?? [];
    list.push({ key, enabled: config.enabled !== false, accepts: createApplicationFilter(config) });
    byTenant.set(config.tenant_id, list);
  }
  const received = new Map<string, number>();
  const skipped = new Map<string, Record<string, number>>();
  const skip = (tenant: string, reason: string) => {
    const reasons = skipped.get(tenant) ?? {};
    reasons[reason] = (reasons[reason] ?? 0) + 1;
    skipped.set(tenant, reasons);
  };
  for (const event of events) {
    received.set(event.namespace, (received.get(event.namespace) ?? 0) + 1);
    const destinations = byTenant.get(event.namespace);
    if (!destinations) {
      skip(event.namespace, 'no config');
      continue;
    }
    let routed = false;
    for (const d of destinations) {
      if (!d.accepts(event.application)) continue;
      if (!d.enabled) continue;
      byDestination.get(d.key)!.seqs.add(event.seq);
      routed = true;
    }
    if (!routed) {
      skip(event.namespace, destinations.every((d) => !d.enabled) ? 'config disabled' : 'filtered out');
    }
  }
  return { byDestination, received, skipped };
}

async function listFiles(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path)));
    else if (entry.name.endsWith('.ndjson')) files.push(path);
  }
  return files;
}

/** The (namespace, seq) of every line under a destination directory. */
export async function readDelivered(directory: string): Promise<{ namespace: string; seq: number }[]> {
  const found: { namespace: string; seq: number }[] = [];
  for (const file of await listFiles(directory)) {
    const lines = (await readFile(file, 'utf8')).split('\n');
    // Only newline-terminated lines are records: text after the last newline is an append
    // still in progress (or one a crash tore, which the next append cuts off).
    lines.pop();
    for (const line of lines) {
      if (line === '') continue;
      const event = JSON.parse(line) as { namespace?: unknown; seq?: unknown };
      found.push({ namespace: String(event.namespace), seq: Number(event.seq) });
    }
  }
  return found;
}

/** Compares what landed with what was expected, per tenant. */
export async function summarizeDemo(
  expectation: DemoExpectation,
  tenants: readonly string[],
): Promise<TenantSummary[]> {
  const totals = new Map<
    string,
    { routed: number; delivered: number; missing: number; duplicates: number; unexpected: number }
  >();
  for (const tenant of tenants)
    totals.set(tenant, { routed: 0, delivered: 0, missing: 0, duplicates: 0, unexpected: 0 });
  for (const destination of expectation.byDestination.values()) {
    const t = totals.get(destination.tenant)!;
    const seen = new Set<number>();
    for (const { namespace, seq } of await readDelivered(destination.directory)) {
      if (namespace !== destination.tenant || !destination.seqs.has(seq)) t.unexpected++;
      else if (seen.has(seq)) t.duplicates++;
      else {
        seen.add(seq);
        t.delivered++;
      }
    }
    t.routed += destination.seqs.size;
    t.missing += destination.seqs.size - seen.size;
  }
  return tenants.map((tenant) => ({
    tenant,
    received: expectation.received.get(tenant) ?? 0,
    ...totals.get(tenant)!,
    skipped: expectation.skipped.get(tenant) ?? {},
  }));
}
