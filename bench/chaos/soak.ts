/**
 * Scenario (d): a soak at a steady rate into `tlr up` (10 tenants, `file` destinations).
 * Every 10 s it samples the router's RSS (`/proc/<pid>/status` VmRSS), open file descriptors
 * (`/proc/<pid>/fd`), queue depth (`tlr_queue_messages`), ingest buffer bytes
 * (`tlr_ingest_buffer_bytes`) and the delivery lag, appending each sample as one JSON line to
 * `soak-samples.jsonl`, so a run killed half-way still leaves its samples. At the end it checks
 * every acknowledged event arrived once and judges "flat" (see {@link judgeFlat}).
 *
 * Usage: node dist/bench/chaos/soak.js  (CHAOS_SOAK_MINUTES=30, CHAOS_SOAK_RATE=500 events/s)
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  chaosEvent,
  type Conditions,
  conditionsNow,
  DestinationChecker,
  envNumber,
  finishConditions,
  makeTemp,
  metricSum,
  percentile,
  postBatch,
  processStats,
  removeTemp,
  REPORT_DIR,
  scrapeMetrics,
  seedFileConfigs,
  sleep,
  startRouterUp,
  TENANTS,
  waitUntil,
} from './lib.js';

export interface SoakSample {
  /** Seconds since the start. */
  readonly t: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly queueVisible: number;
  readonly queueInFlight: number;
  readonly queueDelayed: number;
  readonly ingestBufferBytes: number;
  readonly sent: number;
  readonly acked: number;
  readonly delivered: number;
  /** Delivery latency of the events that arrived since the previous sample, ms. */
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** 1-minute load average of the machine (other work shares the cores). */
  readonly load1: number;
}

export interface FlatVerdict {
  readonly metric: string;
  readonly first: number;
  readonly last: number;
  readonly rule: string;
  readonly flat: boolean;
}

export interface SoakResult {
  readonly scenario: 'soak';
  readonly conditions: Conditions;
  readonly minutes: number;
  readonly ratePerSecond: number;
  readonly tenants: number;
  readonly sent: number;
  readonly acked: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly windowSeconds: number;
  readonly verdicts: readonly FlatVerdict[];
  readonly flat: boolean;
  readonly samples: readonly SoakSample[];
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const max = (xs: readonly number[]) => (xs.length === 0 ? Number.NaN : Math.max(...xs));

/**
 * "Flat" compares the first and the last window of samples (5 minutes each, or a third of a
 * shorter run); the first window starts at the first sample (no warm-up is dropped).
 * - RSS: mean of the last window ≤ mean of the first × 1.10 + 10 MB.
 * - open fds: max of the last window ≤ max of the first + 5.
 * - queue depth (visible + in flight + delayed) and ingest buffer: max of the last window
 *   ≤ max(2 × max of the first, a small floor: 50 messages / 4 MiB), i.e. no backlog builds up.
 */
export function judgeFlat(samples: readonly SoakSample[], windowSeconds: number): FlatVerdict[] {
  const end = samples.at(-1)?.t ?? 0;
  const first = samples.filter((s) => s.t <= windowSeconds);
  const last = samples.filter((s) => s.t > end - windowSeconds);
  const verdict = (metric: string, f: number, l: number, limit: number, rule: string): FlatVerdict => ({
    metric,
    first: Number(f.toFixed(1)),
    last: Number(l.toFixed(1)),
    rule,
    flat: l <= limit,
  });
  const rssFirst = mean(first.map((s) => s.rssMb));
  const fdsFirst = max(first.map((s) => s.fds));
  const depth = (s: SoakSample) => s.queueVisible + s.queueInFlight + s.queueDelayed;
  const depthFirst = max(first.map(depth));
  const bufferFirst = max(first.map((s) => s.ingestBufferBytes)) / 1024 ** 2;
  return [
    verdict('RSS MB (window mean)', rssFirst, mean(last.map((s) => s.rssMb)), rssFirst * 1.1 + 10, 'last ≤ first × 1.10 + 10 MB'),
    verdict('open fds (window max)', fdsFirst, max(last.map((s) => s.fds)), fdsFirst + 5, 'last ≤ first + 5'),
    verdict('queue depth (window max)', depthFirst, max(last.map(depth)), Math.max(2 * depthFirst, 50), 'last ≤ max(2 × first, 50)'),
    verdict(
      'ingest buffer MiB (window max)',
      bufferFirst,
      max(last.map((s) => s.ingestBufferBytes)) / 1024 ** 2,
      Math.max(2 * bufferFirst, 4),
      'last ≤ max(2 × first, 4 MiB)',
    ),
  ];
}

export interface SoakOptions {
  readonly minutes: number;
  readonly ratePerSecond: number;
  readonly sampleEveryMs?: number;
  /** JSON lines of samples, appended as they are taken. */
  readonly samplesFile?: string;
}

/** Runs the soak; the router is stopped by PID whatever happens. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const conditions = conditionsNow();
  const sampleEveryMs = options.sampleEveryMs ?? 10_000;
  const durationMs = options.minutes * 60_000;
  const windowSeconds = Math.min(300, (options.minutes * 60) / 3);
  const dataDir = await makeTemp('tlr-chaos-soak-');
  const outDir = join(dataDir, 'out');
  await seedFileConfigs(dataDir, outDir);
  const router = await startRouterUp(dataDir);
  const checker = new DestinationChecker(outDir, TENANTS, false);
  let windowLatencies: number[] = [];
  checker.onArrival = (_tenant, event, now) => {
    if (event.sent_ms !== undefined) windowLatencies.push(now - event.sent_ms);
  };
  const acked = new Map<string, number[]>(TENANTS.map((t) => [t, []]));
  const samples: SoakSample[] = [];
  let sent = 0;
  let ackedCount = 0;
  let seq = 0;
  const started = Date.now();
  if (options.samplesFile) await writeFile(options.samplesFile, '');
  try {
    // Sender: one request every 100 ms holding rate/10 events, round-robin over tenants.
    const tickMs = 100;
    const perTick = Math.max(1, Math.round(options.ratePerSecond / (1000 / tickMs)));
    const sender = (async () => {
      let next = started;
      const inFlight = new Set<Promise<void>>();
      while (Date.now() - started < durationMs) {
        const events = Array.from({ length: perTick }, () => {
          seq++;
          return chaosEvent(TENANTS[seq % TENANTS.length]!, seq);
        });
        sent += events.length;
        const p = postBatch(router.url, events).then((outcome) => {
          if (outcome !== 'acked') return;
          ackedCount += events.length;
          for (const e of events) acked.get(e.namespace)!.push(e.seq);
        });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        if (inFlight.size > 50) await Promise.race(inFlight);
        next += tickMs;
        await sleep(Math.max(0, next - Date.now()));
      }
      await Promise.all(inFlight);
    })();
    // The checker polls every second, so an arrival is timed to within a second.
    const poller = (async () => {
      while (Date.now() - started < durationMs) {
        await checker.poll();
        await sleep(1_000);
      }
    })();
    const sampler = (async () => {
      let nextSample = started + sampleEveryMs;
      while (Date.now() - started < durationMs + sampleEveryMs / 2) {
        await sleep(Math.max(0, nextSample - Date.now()));
        nextSample += sampleEveryMs;
        await checker.poll();
        const stats = await processStats(router.pid);
        const metrics = await scrapeMetrics(router.url).catch(() => new Map<string, number>());
        const sample: SoakSample = {
          t: Math.round((Date.now() - started) / 1000),
          rssMb: Number(((stats?.rssKb ?? Number.NaN) / 1024).toFixed(1)),
          fds: stats?.fds ?? Number.NaN,
          queueVisible: metricSum(metrics, 'tlr_queue_messages', 'state="visible"'),
          queueInFlight: metricSum(metrics, 'tlr_queue_messages', 'state="in_flight"'),
          queueDelayed: metricSum(metrics, 'tlr_queue_messages', 'state="delayed"'),
          ingestBufferBytes: metricSum(metrics, 'tlr_ingest_buffer_bytes'),
          sent,
          acked: ackedCount,
          delivered: checker.distinct(),
          latencyP50Ms: Math.round(percentile(windowLatencies, 50)),
          latencyP99Ms: Math.round(percentile(windowLatencies, 99)),
          load1: Number(loadavg()[0]!.toFixed(2)),
        };
        windowLatencies = [];
        samples.push(sample);
        if (options.samplesFile) await appendFile(options.samplesFile, `${JSON.stringify(sample)}\n`);
      }
    })();
    await Promise.all([sender, sampler, poller]);
    await waitUntil(async () => {
      await checker.poll();
      return checker.missing(acked) === 0;
    }, 120_000, 1_000);
    await router.stop();
    await checker.poll();
    let duplicates = 0;
    for (const c of checker.counts.values()) duplicates += c.duplicates;
    const verdicts = judgeFlat(samples, windowSeconds);
    return {
      scenario: 'soak',
      conditions: finishConditions(conditions),
      minutes: options.minutes,
      ratePerSecond: options.ratePerSecond,
      tenants: TENANTS.length,
      sent,
      acked: ackedCount,
      delivered: checker.distinct(),
      lost: checker.missing(acked),
      duplicates,
      windowSeconds,
      verdicts,
      flat: verdicts.every((v) => v.flat),
      samples,
    };
  } finally {
    await router.kill9();
    await removeTemp(dataDir);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await mkdir(REPORT_DIR, { recursive: true });
  const result = await runSoak({
    minutes: envNumber('CHAOS_SOAK_MINUTES', 30),
    ratePerSecond: envNumber('CHAOS_SOAK_RATE', 500),
    sampleEveryMs: envNumber('CHAOS_SOAK_SAMPLE_MS', 10_000),
    samplesFile: join(REPORT_DIR, 'soak-samples.jsonl'),
  });
  await writeFile(join(REPORT_DIR, 'soak.json'), `${JSON.stringify(result, null, 1)}\n`);
  const { samples: _samples, ...summary } = result;
  process.stdout.write(`${JSON.stringify(summary, null, 1)}\n`);
  process.exitCode = result.lost === 0 && result.flat ? 0 : 1;
}
