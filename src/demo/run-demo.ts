import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createConfigService } from '../admin/index.js';
import type { Logger } from '../logging/index.js';
import { startEmbeddedRouter } from '../runtimes/embedded.js';
import { localConfigServiceDeps } from '../runtimes/config-api-local.js';
import { postEvents } from './ingest-client.js';
import { createLogGenerator } from './log-generator.js';
import {
  DEMO_ACTOR,
  DEMO_CLUSTER_ID,
  DEMO_TENANTS,
  demoConfigs,
  expectDeliveries,
  summarizeDemo,
  type TenantSummary,
} from './scenario.js';

export interface DemoRunOptions {
  readonly events: number;
  readonly logger: Logger;
  /** Keep the temporary data directory (its path is in the result). */
  readonly keepDataDir?: boolean;
  /** Give up waiting for deliveries after this long. */
  readonly timeoutMs?: number;
  readonly seed?: number;
  /** Progress: phase, done, total. */
  readonly onProgress?: (phase: 'ingest' | 'deliver', done: number, total: number) => void;
}

export interface DemoRunResult {
  readonly ok: boolean;
  readonly dataDir: string;
  readonly tenants: TenantSummary[];
  readonly elapsedMs: number;
}

const POST_BATCH_EVENTS = 500;
const POLL_INTERVAL_MS = 100;

function deliveredSoFar(registry: Registry): Promise<number> {
  const metric = registry.getSingleMetric('tlr_events_delivered_total');
  if (!metric) return Promise.resolve(0);
  return Promise.resolve(metric.get()).then((m) => m.values.reduce((sum, v) => sum + v.value, 0));
}

/**
 * The one-shot demo: starts a router in a temporary data directory, loads the demo
 * tenants, sends generated control-plane logs through HTTP ingest, waits until the
 * processor delivered them, and compares every destination with what was expected.
 * `ok` only when every expected event arrived once and nothing reached a wrong tenant.
 */
export async function runDemo(options: DemoRunOptions): Promise<DemoRunResult> {
  const startedMs = Date.now();
  const dataDir = await mkdtemp(join(tmpdir(), 'tlr-demo-'));
  const registry = new Registry();
  const router = await startEmbeddedRouter({
    dataDir,
    port: 0,
    logger: options.logger,
    registry,
    ingest: { maxBatchAgeMs: 300, flushIntervalMs: 100 },
  });
  try {
    const configs = demoConfigs();
    await createConfigService(localConfigServiceDeps(router.stores, options.logger, router.registry)).applyAll(
      configs,
      DEMO_ACTOR,
    );
    const generator = createLogGenerator({
      seed: options.seed ?? 42,
      clusterId: DEMO_CLUSTER_ID,
      tenants: DEMO_TENANTS.map((t) => ({ namespace: t.namespace, applications: t.applications })),
      startMs: Date.now() - 60_000,
    });
    const events = generator.take(options.events);
    const expectation = expectDeliveries(events, configs, dataDir);
    const expectedTotal = [...expectation.byDestination.values()].reduce((n, d) => n + d.seqs.size, 0);

    for (let i = 0; i < events.length; i += POST_BATCH_EVENTS) {
      await postEvents(
        { url: router.url, token: router.ingestToken },
        events.slice(i, i + POST_BATCH_EVENTS),
      );
      options.onProgress?.('ingest', Math.min(events.length, i + POST_BATCH_EVENTS), events.length);
    }

    const deadlineMs = Date.now() + (options.timeoutMs ?? 60_000);
    let delivered = 0;
    while (Date.now() < deadlineMs) {
      delivered = await deliveredSoFar(registry);
      options.onProgress?.('deliver', delivered, expectedTotal);
      if (delivered >= expectedTotal) break;
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    }
    // Let anything still in flight land, so duplicates would show.
    await router.stop();
    const tenants = await summarizeDemo(
      expectation,
      DEMO_TENANTS.map((t) => t.namespace),
    );
    const ok = tenants.every((t) => t.missing === 0 && t.duplicates === 0 && t.unexpected === 0);
    return { ok, dataDir, tenants, elapsedMs: Date.now() - startedMs };
  } finally {
    await router.stop();
    if (!options.keepDataDir) await rm(dataDir, { recursive: true, force: true });
  }
}
