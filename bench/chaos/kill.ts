/**
 * Scenario (b): `kill -9` of `tlr up` at seeded random points while events stream in through
 * HTTP ingest and are delivered to one `file` destination per tenant. After each kill the
 * router restarts on the same data directory. The checker then counts, per destination and
 * exactly by `seq`: acknowledged events missing (loss), repeated lines (duplicates) and runs
 * of repeated lines (one repeated batch makes one run).
 *
 * Usage: node dist/bench/chaos/kill.js  (CHAOS_EVENTS=1000000, CHAOS_KILLS=20, CHAOS_SEED=1)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FILE_MAX_BATCH_EVENTS } from '../../src/sinks/file/config.js';
import {
  chaosEvent,
  type Conditions,
  conditionsNow,
  DestinationChecker,
  envNumber,
  finishConditions,
  makeTemp,
  metricSum,
  postBatch,
  removeTemp,
  REPORT_DIR,
  type RouterUp,
  scrapeMetrics,
  seedFileConfigs,
  seededRandom,
  sleep,
  startRouterUp,
  TENANTS,
  waitUntil,
} from './lib.js';

export interface KillOptions {
  readonly events: number;
  readonly kills: number;
  readonly seed: number;
  /** Events per ingest request. */
  readonly batchEvents?: number;
  /** Concurrent senders. */
  readonly senders?: number;
  /** How long to wait for the last deliveries after sending, ms. */
  readonly drainTimeoutMs?: number;
}

export interface DestinationKillReport {
  readonly tenant: string;
  readonly acked: number;
  readonly missing: number;
  readonly duplicates: number;
  readonly duplicateRuns: number;
  readonly unexpected: number;
}

export interface KillResult {
  readonly scenario: 'kill9';
  readonly conditions: Conditions;
  readonly events: number;
  readonly tenants: number;
  readonly kills: number;
  readonly seed: number;
  readonly acked: number;
  /** Events of requests that got no answer (the router died under them): may or may not be delivered. */
  readonly unknownOutcome: number;
  readonly unknownDelivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly maxDuplicateRuns: number;
  /** Asserted per destination: duplicate runs ≤ kills and duplicate lines ≤ kills × this. */
  readonly maxBatchEvents: number;
  readonly withinBound: boolean;
  /** Queue messages + ingest buffer bytes seen just before each kill (0 = nothing was pending). */
  readonly pendingAtKill: readonly number[];
  /** When each kill happened, ms after the start. */
  readonly killTimesMs: readonly number[];
  /** Messages the embedded queue moved to its own dead-letter table (received more than 5 times). */
  readonly queueDeadLettered: number;
  readonly wallMs: number;
  readonly eventsPerSecond: number;
  readonly destinations: readonly DestinationKillReport[];
}

/** Messages visible, in flight or delayed (not the queue's dead-lettered ones). */
function backlog(metrics: ReadonlyMap<string, number>): number {
  return ['visible', 'in_flight', 'delayed'].reduce(
    (sum, state) => sum + metricSum(metrics, 'tlr_queue_messages', `state="${state}"`),
    0,
  );
}

/** Runs scenario (b); every router it started is killed by PID whatever happens. */
export async function runKill(options: KillOptions): Promise<KillResult> {
  const conditions = conditionsNow();
  const batchEvents = options.batchEvents ?? 1_000;
  const senders = options.senders ?? 2;
  const random = seededRandom(options.seed);
  const dataDir = await makeTemp('tlr-chaos-kill-');
  const outDir = join(dataDir, 'out');
  await seedFileConfigs(dataDir, outDir);
  const checker = new DestinationChecker(outDir, TENANTS, false);
  const acked = new Map<string, number[]>(TENANTS.map((t) => [t, []]));
  const unknown = new Map<string, number[]>(TENANTS.map((t) => [t, []]));
  const totalBatches = Math.ceil(options.events / batchEvents);
  // Kill points: seeded, spread over 5 %–95 % of the batches, each with a random extra delay.
  const killAt = Array.from({ length: options.kills }, () => Math.floor(totalBatches * (0.05 + 0.9 * random())))
    .sort((a, b) => a - b)
    .map((batch) => ({ batch, delayMs: Math.floor(random() * 400) }));
  const pendingAtKill: number[] = [];
  const killTimesMs: number[] = [];
  let router: RouterUp = await startRouterUp(dataDir);
  let restarted: Promise<void> = Promise.resolve();
  let next = 0;
  let ackedCount = 0;
  let unknownCount = 0;
  const started = Date.now();
  try {
    const sender = async () => {
      while (next < totalBatches) {
        const first = next * batchEvents;
        next++;
        const events = Array.from({ length: Math.min(batchEvents, options.events - first) }, (_, i) =>
          chaosEvent(TENANTS[(first + i) % TENANTS.length]!, first + i + 1),
        );
        await restarted;
        const outcome = await postBatch(router.url, events);
        const into = outcome === 'acked' ? acked : unknown;
        for (const e of events) into.get(e.namespace)!.push(e.seq);
        if (outcome === 'acked') ackedCount += events.length;
        else unknownCount += events.length;
      }
    };
    const killer = async () => {
      for (const { batch, delayMs } of killAt) {
        while (next < batch) await sleep(10);
        await sleep(delayMs);
        let restart!: () => void;
        restarted = new Promise((r) => {
          restart = r;
        });
        const metrics = await scrapeMetrics(router.url).catch(() => new Map<string, number>());
        await router.kill9();
        killTimesMs.push(Date.now() - started);
        pendingAtKill.push(backlog(metrics) + metricSum(metrics, 'tlr_ingest_buffer_bytes'));
        router = await startRouterUp(dataDir);
        restart();
      }
    };
    const poller = async () => {
      while (next < totalBatches) {
        await checker.poll();
        await sleep(2_000);
      }
    };
    await Promise.all([...Array.from({ length: senders }, sender), killer(), poller()]);
    // Drained: everything arrived, or nothing is left to do (queue and ingest buffer empty) and
    // nothing arrived for 20 s — what is missing then is lost, not late.
    let lastDistinct = -1;
    let lastProgress = Date.now();
    let metrics = new Map<string, number>();
    await waitUntil(async () => {
      await checker.poll();
      if (checker.missing(acked) === 0) return true;
      if (checker.distinct() !== lastDistinct) {
        lastDistinct = checker.distinct();
        lastProgress = Date.now();
      }
      metrics = await scrapeMetrics(router.url).catch(() => metrics);
      const idle = backlog(metrics) === 0 && metricSum(metrics, 'tlr_ingest_buffer_bytes') === 0;
      return idle && Date.now() - lastProgress > 20_000;
    }, options.drainTimeoutMs ?? 600_000, 1_000);
    const wallMs = Date.now() - started;
    metrics = await scrapeMetrics(router.url).catch(() => metrics);
    const queueDeadLettered = metricSum(metrics, 'tlr_queue_messages', 'state="dead_lettered"');
    await router.stop();
    await checker.poll();
    const destinations = TENANTS.map((tenant): DestinationKillReport => {
      const count = checker.counts.get(tenant)!;
      const seqs = acked.get(tenant)!;
      return {
        tenant,
        acked: seqs.length,
        missing: seqs.filter((s) => !count.seen.has(s)).length,
        duplicates: count.duplicates,
        duplicateRuns: count.duplicateRuns,
        unexpected: count.unexpected,
      };
    });
    const within = destinations.every(
      (d) => d.duplicateRuns <= options.kills && d.duplicates <= options.kills * FILE_MAX_BATCH_EVENTS,
    );
    let unknownDelivered = 0;
    for (const [tenant, seqs] of unknown) {
      const seen = checker.counts.get(tenant)!.seen;
      unknownDelivered += seqs.filter((s) => seen.has(s)).length;
    }
    return {
      scenario: 'kill9',
      conditions: finishConditions(conditions),
      events: options.events,
      tenants: TENANTS.length,
      kills: options.kills,
      seed: options.seed,
      acked: ackedCount,
      unknownOutcome: unknownCount,
      unknownDelivered,
      lost: destinations.reduce((n, d) => n + d.missing + d.unexpected, 0),
      duplicates: destinations.reduce((n, d) => n + d.duplicates, 0),
      maxDuplicateRuns: Math.max(...destinations.map((d) => d.duplicateRuns)),
      maxBatchEvents: FILE_MAX_BATCH_EVENTS,
      withinBound: within,
      pendingAtKill,
      killTimesMs,
      queueDeadLettered,
      wallMs,
      eventsPerSecond: Math.round((ackedCount / wallMs) * 1000),
      destinations,
    };
  } finally {
    await router.kill9();
    await removeTemp(dataDir);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await mkdir(REPORT_DIR, { recursive: true });
  const result = await runKill({
    events: envNumber('CHAOS_EVENTS', 1_000_000),
    kills: envNumber('CHAOS_KILLS', 20),
    seed: envNumber('CHAOS_SEED', 1),
  });
  await writeFile(join(REPORT_DIR, 'kill9.json'), `${JSON.stringify(result, null, 1)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
  process.exitCode = result.lost === 0 && result.withinBound ? 0 : 1;
}
