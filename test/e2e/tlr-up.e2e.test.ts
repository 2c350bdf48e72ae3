import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyDeliveryConfigs } from '../../src/admin/index.js';
import { createApiClient } from '../../src/api/client/index.js';
import { postEvents } from '../../src/demo/ingest-client.js';
import { createLogGenerator, type GeneratedEvent } from '../../src/demo/log-generator.js';
import {
  DEMO_CLUSTER_ID,
  DEMO_TENANTS,
  demoConfigs,
  expectDeliveries,
  readDelivered,
} from '../../src/demo/scenario.js';
import { openLocalStores } from '../../src/runtimes/local-stores.js';
import { createBuiltinSinkRegistry } from '../../src/sinks/registry.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';
import { killAllTlr, startTlrUp, type TlrProcess } from '../helpers/tlr-process.js';

// Times inside one hour, so each destination writes one file per application.
const START_MS = Date.UTC(2026, 0, 1, 10, 5, 0);

async function seedDemoConfigs(dataDir: string): Promise<Record<string, unknown>[]> {
  const configs = demoConfigs();
  const stores = openLocalStores(dataDir);
  try {
    await applyDeliveryConfigs(stores.configs, createBuiltinSinkRegistry(), configs);
  } finally {
    stores.close();
  }
  return configs;
}

function generate(count: number, seed: number): GeneratedEvent[] {
  return createLogGenerator({
    seed,
    clusterId: DEMO_CLUSTER_ID,
    tenants: DEMO_TENANTS.map((t) => ({ namespace: t.namespace, applications: t.applications })),
    startMs: START_MS,
  }).take(count);
}

interface DestinationReport {
  readonly key: string;
  readonly expectedAcked: number;
  readonly missingAcked: number;
  readonly unexpected: number;
  readonly duplicates: number;
  /** Contiguous runs of repeated lines: one repeated batch makes one run. */
  readonly duplicateRuns: number;
}

async function inspect(
  dataDir: string,
  configs: Record<string, unknown>[],
  sent: readonly GeneratedEvent[],
  acked: ReadonlySet<number>,
): Promise<DestinationReport[]> {
  const expectation = expectDeliveries(sent, configs, dataDir);
  const reports: DestinationReport[] = [];
  for (const [key, destination] of expectation.byDestination) {
    const seen = new Set<number>();
    let unexpected = 0;
    let duplicates = 0;
    let duplicateRuns = 0;
    let inRun = false;
    for (const { namespace, seq } of await readDelivered(destination.directory)) {
      if (namespace !== destination.tenant || !destination.seqs.has(seq)) unexpected++;
      if (seen.has(seq)) {
        duplicates++;
        if (!inRun) duplicateRuns++;
        inRun = true;
      } else {
        seen.add(seq);
        inRun = false;
      }
    }
    const ackedHere = [...destination.seqs].filter((s) => acked.has(s));
    reports.push({
      key,
      expectedAcked: ackedHere.length,
      missingAcked: ackedHere.filter((s) => !seen.has(s)).length,
      unexpected,
      duplicates,
      duplicateRuns,
    });
  }
  return reports;
}

async function waitForDelivery(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('tlr up as a process', () => {
  afterEach(async () => {
    await killAllTlr();
    await removeTempDirs();
  });

  it('delivers events POSTed for several tenants to exactly the destinations their filters select', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-e2e-');
    const configs = await seedDemoConfigs(dataDir);
    const tlr = await startTlrUp(dataDir);
    const events = generate(3_000, 5);
    const acked = new Set(events.map((e) => e.seq));

    // Act
    for (let i = 0; i < events.length; i += 500) {
      await postEvents({ url: tlr.url, token: tlr.token }, events.slice(i, i + 500));
    }
    await waitForDelivery(
      async () => (await inspect(dataDir, configs, events, acked)).every((r) => r.missingAcked === 0),
      30_000,
    );
    const exitCode = await tlr.stop();

    // Assess
    const reports = await inspect(dataDir, configs, events, acked);
    expect(
      reports.map((r) => ({
        key: r.key,
        missing: r.missingAcked,
        unexpected: r.unexpected,
        duplicates: r.duplicates,
      })),
    ).toEqual(reports.map((r) => ({ key: r.key, missing: 0, unexpected: 0, duplicates: 0 })));
    expect(reports.find((r) => r.key === 'acme/file')!.expectedAcked).toBe(600);
    expect(reports.find((r) => r.key === 'umbrella/file')!.expectedAcked).toBe(0);
    expect(exitCode).toBe(0);
  });

  it('takes a config through the signed API, delivers to it, and reports the delivery in the tenant status', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-e2e-api-');
    const tlr = await startTlrUp(dataDir);
    const psk = (await readFile(join(dataDir, 'api-psk'), 'utf8')).trim();
    const api = createApiClient({ baseUrl: tlr.url, psk });
    const acme = DEMO_TENANTS[0]!.namespace;
    const directory = join(dataDir, 'api-out');
    const events = generate(400, 11).filter((e) => e.namespace === acme);

    // Act
    const created = await api.createConfig(acme, { type: 'file', directory });
    await postEvents({ url: tlr.url, token: tlr.token }, events);
    await waitForDelivery(async () => (await readDelivered(directory).catch(() => [])).length >= events.length, 30_000);
    // Status is written behind delivery, every 5 s.
    let status = await api.tenantStatus(acme);
    const deadline = Date.now() + 30_000;
    while (status.destinations[0]?.last_success_at === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      status = await api.tenantStatus(acme);
    }
    const delivered = await readDelivered(directory);
    const audit = await api.audit(acme);
    const exitCode = await tlr.stop();

    // Assess
    expect(created).toMatchObject({ tenant_id: acme, type: 'file', enabled: true });
    expect(delivered.map((d) => d.seq).sort((a, b) => a - b)).toEqual(events.map((e) => e.seq).sort((a, b) => a - b));
    expect(status.destinations).toEqual([
      expect.objectContaining({
        type: 'file',
        configured: true,
        active: true,
        last_success_at: expect.any(String),
        lag_seconds: expect.any(Number),
        pending_retries: 0,
        dead_letters: 0,
      }),
    ]);
    expect(audit.items).toEqual([expect.objectContaining({ action: 'create', actor: 'psk:current', type: 'file' })]);
    expect(exitCode).toBe(0);
  });

  it('sends tlr configs through the running tlr up when no --api-url is given, and to the store once it stopped', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-e2e-default-url-');
    const tlr = await startTlrUp(dataDir);
    const psk = (await readFile(join(dataDir, 'api-psk'), 'utf8')).trim();
    const api = createApiClient({ baseUrl: tlr.url, psk });
    const tenant = DEMO_TENANTS[0]!.namespace;
    const env = { TLR_API_URL: process.env['TLR_API_URL'] };
    delete process.env['TLR_API_URL'];

    try {
      // Act
      const whileUp = await runCli(['--data-dir', dataDir, 'configs', 'patch', tenant, 'file', '--set', 'enabled=true']);
      await api.createConfig(tenant, { type: 'file', directory: join(dataDir, 'out') });
      const patched = await runCli(['--data-dir', dataDir, 'configs', 'patch', tenant, 'file', '--set', 'enabled=false']);
      const audit = await api.audit(tenant);
      await tlr.stop();
      const afterStop = await runCli(['--data-dir', dataDir, '--json', 'configs', 'get', tenant, 'file']);

      // Assess
      expect(whileUp.code).toBe(1);
      expect(whileUp.stderr).toMatch(/not_found|HTTP 404/);
      expect(patched.code).toBe(0);
      // Signed with the data directory's key: the change went through the API.
      expect(audit.items[0]).toMatchObject({ action: 'update', actor: 'psk:current' });
      expect(afterStop.code).toBe(0);
      expect(JSON.parse(afterStop.stdout)).toMatchObject({ tenant_id: tenant, enabled: false });
    } finally {
      if (env.TLR_API_URL !== undefined) process.env['TLR_API_URL'] = env.TLR_API_URL;
    }
  });

  it('delivers every acknowledged event after kill -9 at random moments of ingest and delivery, repeating at most one batch per destination per kill', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-e2e-kill-');
    const configs = await seedDemoConfigs(dataDir);
    const events = generate(60_000, 9);
    const batchSize = 250;
    const kills = 3;
    const acked = new Set<number>();
    const pendingAtKill: number[] = [];
    let tlr: TlrProcess = await startTlrUp(dataDir);
    let restarted: Promise<void> = Promise.resolve();
    let next = 0;

    // Act
    const sender = async () => {
      while (next * batchSize < events.length) {
        const slice = events.slice(next * batchSize, (next + 1) * batchSize);
        next++;
        await restarted;
        try {
          // No client retry: an event counts as acknowledged only on a 200.
          await postEvents({ url: tlr.url, token: tlr.token, maxAttempts: 1 }, slice);
          for (const e of slice) acked.add(e.seq);
        } catch {
          // Unknown outcome (the process died under the request): may be delivered, never counted as lost.
        }
      }
    };
    // Kill points spread over the run, so each kill lands while events are still arriving.
    const totalBatches = Math.ceil(events.length / batchSize);
    const killAt = Array.from({ length: kills }, (_, k) =>
      Math.floor(totalBatches * ((k + 0.5 + Math.random() * 0.4) / (kills + 1))),
    );
    const killer = async () => {
      for (const at of killAt) {
        while (next < at) await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
        let restart!: () => void;
        restarted = new Promise((r) => {
          restart = r;
        });
        await tlr.kill9();
        const stores = openLocalStores(dataDir);
        const queue = await stores.queue.stats();
        pendingAtKill.push(queue.visible + queue.inFlight + (await stores.ingestBuffer.pendingBytes()));
        stores.close();
        tlr = await startTlrUp(dataDir);
        restart();
      }
    };
    await Promise.all([sender(), sender(), killer()]);
    await waitForDelivery(
      async () => (await inspect(dataDir, configs, events, acked)).every((r) => r.missingAcked === 0),
      60_000,
    );
    const exitCode = await tlr.stop();

    // Assess
    const reports = await inspect(dataDir, configs, events, acked);
    if (process.env['TLR_E2E_REPORT'])
      console.log(JSON.stringify({ acked: acked.size, pendingAtKill, reports }, null, 1));
    expect(
      pendingAtKill.some((p) => p > 0),
      'at least one kill must interrupt pending work',
    ).toBe(true);
    expect(acked.size).toBeGreaterThan(events.length * 0.8);
    for (const report of reports) {
      expect(report, report.key).toMatchObject({ missingAcked: 0, unexpected: 0 });
      expect(report.duplicateRuns, `${report.key}: ${report.duplicates} duplicate lines`).toBeLessThanOrEqual(
        kills,
      );
    }
    expect(exitCode).toBe(0);
  }, 180_000);
});
