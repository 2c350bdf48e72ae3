import { join } from 'node:path';
import { createConfigService } from '../admin/index.js';
import type { Logger } from '../logging/index.js';
import type { EmbeddedRouter } from '../runtimes/embedded.js';
import { localConfigServiceDeps } from '../runtimes/config-api-local.js';
import { postEvents } from './ingest-client.js';
import { createLogGenerator } from './log-generator.js';
import { DEMO_ACTOR, DEMO_CLUSTER_ID, DEMO_TENANTS, demoConfigs } from './scenario.js';

export interface DemoTrafficOptions {
  readonly router: EmbeddedRouter;
  readonly ratePerSecond: number;
  readonly logger: Logger;
  /** Where to print what the demo does (stdout in the CLI). */
  readonly print: (text: string) => void;
  readonly statusIntervalMs?: number;
}

const TICK_MS = 1_000;

/**
 * For `tlr up --demo`: loads the demo tenants' configs (replacing earlier ones) and sends
 * generated control-plane logs through the router's own ingest at a steady rate, printing
 * a status line now and then.
 */
export async function startDemoTraffic(options: DemoTrafficOptions): Promise<{ stop(): Promise<void> }> {
  const { router, print } = options;
  await createConfigService(localConfigServiceDeps(router.stores, options.logger, router.registry)).applyAll(
      demoConfigs(),
      DEMO_ACTOR,
    );
  const generator = createLogGenerator({
    seed: Date.now() % 1_000_000,
    clusterId: DEMO_CLUSTER_ID,
    tenants: DEMO_TENANTS.map((t) => ({ namespace: t.namespace, applications: t.applications })),
    startMs: Date.now(),
    stepMs: Math.max(1, Math.round(1000 / options.ratePerSecond)),
  });
  const outputs = join(router.dataDir, 'outputs');
  print(
    [
      `Demo: sending ~${options.ratePerSecond} generated control-plane events/s for ${DEMO_TENANTS.length} tenants:`,
      ...DEMO_TENANTS.map((t) => `  ${t.namespace.padEnd(9)} ${t.note}`),
      `Delivered logs land under ${outputs}/<tenant>/<application>/<date>/<hour>.ndjson`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  let sent = 0;
  let busy = false;
  const tick = setInterval(() => {
    if (busy) return; // the router is behind; skip a tick rather than pile up requests
    busy = true;
    postEvents({ url: router.url, token: router.ingestToken }, generator.take(options.ratePerSecond))
      .then((r) => {
        sent += r.accepted;
      })
      .catch((error: unknown) => options.logger.warn('Demo traffic could not be sent.', { error }))
      .finally(() => {
        busy = false;
      });
  }, TICK_MS);
  const status = setInterval(async () => {
    const metric = router.registry.getSingleMetric('tlr_events_delivered_total');
    const delivered = metric ? (await metric.get()).values.reduce((n, v) => n + v.value, 0) : 0;
    print(`Demo: ${sent} events sent, ${delivered} deliveries made.\n`);
  }, options.statusIntervalMs ?? 10_000);
  return {
    async stop() {
      clearInterval(tick);
      clearInterval(status);
      while (busy) await new Promise((r) => setTimeout(r, 50));
    },
  };
}
