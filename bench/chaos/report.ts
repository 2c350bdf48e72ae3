/**
 * Builds the chaos report from the scenario files in a directory (`isolation.json`,
 * `kill9.json`, `aws-outage.json`, `soak.json`, whichever exist): `results.json` (every figure
 * with its conditions), `latency.svg` (B–J delivery latency per isolation mode), `soak.svg`
 * (RSS, fds, queue depth, latency over the soak) and `README.md` (the table).
 *
 * Usage: node dist/bench/chaos/report.js [dir]  (default docs/reliability)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IsolationModeResult, IsolationResult } from './isolation.js';
import type { KillResult } from './kill.js';
import type { Conditions } from './lib.js';
import { REPORT_DIR } from './lib.js';
import type { OutageResult } from './outage.js';
import type { SoakResult } from './soak.js';
import { renderPanels } from './svg.js';

/** The isolation target: B–J within 10 % of the run where A is healthy. */
export const ISOLATION_TOLERANCE = 0.1;

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

const n = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const yes = (ok: boolean) => (ok ? '**met**' : '**not met**');

function conditionsText(c: Conditions, extra: string): string {
  const load = c.loadAverage.map((l) => l.toFixed(1)).join('→');
  return `${extra}; ${c.cores} cores, Node ${c.node}, load ${load}, ${c.date.slice(0, 16).replace('T', ' ')}Z`;
}

interface IsolationVerdict {
  readonly mode: string;
  readonly p50Ratio: number;
  readonly p99Ratio: number;
  readonly throughputRatio: number;
  readonly met: boolean;
}

export function judgeIsolation(result: IsolationResult): IsolationVerdict[] {
  const baseline = result.modes.find((m) => m.mode === 'baseline');
  if (!baseline) return [];
  return result.modes
    .filter((m) => m.mode !== 'baseline')
    .map((m) => {
      const p50Ratio = m.p50Ms / baseline.p50Ms;
      const p99Ratio = m.p99Ms / baseline.p99Ms;
      const throughputRatio = m.throughput / baseline.throughput;
      return {
        mode: m.mode,
        p50Ratio,
        p99Ratio,
        throughputRatio,
        met:
          m.othersLost === 0 &&
          p50Ratio <= 1 + ISOLATION_TOLERANCE &&
          p99Ratio <= 1 + ISOLATION_TOLERANCE &&
          throughputRatio >= 1 - ISOLATION_TOLERANCE,
      };
    });
}

const COLORS = ['#1f77b4', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd'];

function latencySvg(result: IsolationResult): string {
  return renderPanels(
    [
      {
        title: 'Tenants B–J: delivery latency by state of tenant A’s destination (CDF)',
        xLabel: 'latency, ms (put into S3 → line seen in the file; log scale)',
        yLabel: 'percentile',
        logX: true,
        series: result.modes.map((m: IsolationModeResult, i) => ({
          name: `A ${m.mode}`,
          color: COLORS[i % COLORS.length]!,
          points: m.cdfMs.map((ms, p) => [Math.max(1, ms), p] as const),
        })),
      },
      {
        title: 'Tenants B–J: p50 and p99 by mode',
        xLabel: 'mode (0 = baseline, 1 = refused, 2 = slow, 3 = flapping)',
        yLabel: 'ms',
        series: [
          { name: 'p50', color: COLORS[0]!, points: result.modes.map((m, i) => [i, m.p50Ms] as const) },
          { name: 'p99', color: COLORS[1]!, points: result.modes.map((m, i) => [i, m.p99Ms] as const) },
        ],
      },
    ],
    `${result.tenants} tenants; ${result.modes[0]?.seconds ?? 0} s feed per mode; ` +
      `${result.modes[0]?.conditions.cores ?? 0} cores shared with moto and other work`,
  );
}

function soakSvg(result: SoakResult): string {
  const minutes = (t: number) => t / 60;
  const pts = (f: (s: SoakResult['samples'][number]) => number) => result.samples.map((s) => [minutes(s.t), f(s)] as const);
  return renderPanels(
    [
      { title: 'Router RSS', xLabel: 'minutes', yLabel: 'MB', series: [{ name: 'VmRSS', color: COLORS[0]!, points: pts((s) => s.rssMb) }] },
      { title: 'Open file descriptors', xLabel: 'minutes', yLabel: 'fds', series: [{ name: 'fds', color: COLORS[2]!, points: pts((s) => s.fds) }] },
      {
        title: 'Backlog',
        xLabel: 'minutes',
        yLabel: 'messages / KiB',
        series: [
          { name: 'queue messages', color: COLORS[1]!, points: pts((s) => s.queueVisible + s.queueInFlight + s.queueDelayed) },
          { name: 'ingest buffer KiB', color: COLORS[4]!, points: pts((s) => s.ingestBufferBytes / 1024) },
        ],
      },
      {
        title: 'Delivery latency (ingest POST → line seen, per 10 s window)',
        xLabel: 'minutes',
        yLabel: 'ms',
        series: [
          { name: 'p50', color: COLORS[0]!, points: pts((s) => s.latencyP50Ms) },
          { name: 'p99', color: COLORS[1]!, points: pts((s) => s.latencyP99Ms) },
          { name: 'load avg ×1000', color: '#999', points: pts((s) => s.load1 * 1000) },
        ],
      },
    ],
    `${result.ratePerSecond} events/s over ${result.tenants} tenants for ${result.minutes} min; ` +
      `${result.conditions.cores} cores, Node ${result.conditions.node}`,
  );
}

/** Writes results.json, the SVGs and README.md into `dir` from the scenario files found there. */
export async function writeReport(dir: string): Promise<void> {
  const isolation = await readJson<IsolationResult>(join(dir, 'isolation.json'));
  const kill = await readJson<KillResult>(join(dir, 'kill9.json'));
  const outage = await readJson<OutageResult>(join(dir, 'aws-outage.json'));
  const soak = await readJson<SoakResult>(join(dir, 'soak.json'));
  const isolationVerdicts = isolation ? judgeIsolation(isolation) : [];
  const rows: string[] = [];
  const row = (...cells: string[]) => rows.push(`| ${cells.join(' | ')} |`);

  if (isolation) {
    const base = isolation.modes.find((m) => m.mode === 'baseline');
    for (const m of isolation.modes) {
      const v = isolationVerdicts.find((x) => x.mode === m.mode);
      const ratios = v
        ? ` (×${v.p50Ratio.toFixed(2)}, ×${v.p99Ratio.toFixed(2)}, ×${v.throughputRatio.toFixed(2)} of baseline)`
        : ' (reference)';
      row(
        `(a) isolation: A ${m.mode}`,
        conditionsText(m.conditions, `${n(m.othersEvents)} B–J events, 10 tenants, ${m.seconds} s, ${m.eventsPerObject} events/object/s/tenant`),
        `B–J p50 ${n(m.p50Ms)} ms, p99 ${n(m.p99Ms)} ms, ${n(m.throughput)} events/s${ratios}; ` +
          `not arrived 180 s after the feed ${n(m.othersLost)}; duplicates ${n(m.othersDuplicates)}`,
        'p50, p99 ≤ 1.10 × baseline; throughput ≥ 0.90 × baseline',
        v ? yes(v.met) : base ? '–' : 'no baseline',
      );
    }
  }
  if (kill) {
    const interrupted = kill.pendingAtKill.filter((p) => p > 0).length;
    row(
      '(b) kill -9 × ' + kill.kills,
      conditionsText(kill.conditions, `${n(kill.events)} events sent, 10 tenants, seed ${kill.seed}`),
      `acked ${n(kill.acked)} (unknown outcome ${n(kill.unknownOutcome)}, of which delivered ${n(kill.unknownDelivered)}); ` +
        `lost ${n(kill.lost)} (queue dead-lettered ${kill.queueDeadLettered ?? '–'} messages); ` +
        `duplicates ${n(kill.duplicates)} in ≤ ${kill.maxDuplicateRuns} runs per destination; ` +
        `${interrupted}/${kill.kills} kills with work pending; ${n(kill.eventsPerSecond)} events/s overall`,
      `0 lost; per destination ≤ ${kill.kills} repeated runs and ≤ ${kill.kills} × ${n(kill.maxBatchEvents)} lines`,
      yes(kill.lost === 0 && kill.withinBound),
    );
  }
  if (outage) {
    const counts = outage.proxyCounts;
    row(
      '(c) AWS unreachable + throttled',
      conditionsText(outage.conditions, `${n(outage.events)} events in ${outage.objects} objects, 10 tenants`),
      `moto SIGSTOP ${outage.pauseSeconds} s, connections reset ${outage.blackoutSeconds} s, ` +
        `${counts['dynamodb_throttled'] ?? 0} DynamoDB + ${counts['sqs_throttled'] ?? 0} SQS throttles; ` +
        `lost ${outage.lost}; duplicates ${outage.duplicates}; dead letters ${outage.deadLetters}; ` +
        `all delivered ${outage.recoverySeconds} s after the outage; queue left ${outage.queueDepthAfter}`,
      '0 lost, 0 dead letters, recovery with no manual step; duplicates ≤ one batch per destination per outage',
      yes(outage.lost === 0 && outage.withinBound && outage.deadLetters === 0 && !outage.routerExitedEarly),
    );
  }
  if (soak) {
    for (const v of soak.verdicts) {
      row(
        `(d) soak: ${v.metric}`,
        conditionsText(soak.conditions, `${soak.minutes} min at ${soak.ratePerSecond} events/s, 10 tenants, ${n(soak.acked)} events`),
        `first ${(soak.windowSeconds / 60).toFixed(1)} min ${v.first}, last ${(soak.windowSeconds / 60).toFixed(1)} min ${v.last}`,
        `flat: ${v.rule}`,
        yes(v.flat),
      );
    }
    row(
      '(d) soak: loss',
      conditionsText(soak.conditions, `${n(soak.acked)} events acknowledged`),
      `lost ${soak.lost}, duplicates ${soak.duplicates}`,
      '0 lost',
      yes(soak.lost === 0),
    );
  }

  if (isolation) await writeFile(join(dir, 'latency.svg'), latencySvg(isolation));
  if (soak) await writeFile(join(dir, 'soak.svg'), soakSvg(soak));
  const results = {
    generated: new Date().toISOString(),
    isolation: isolation && {
      ...isolation,
      modes: isolation.modes.map((m) => ({ ...m, routerOutput: undefined })),
      verdicts: isolationVerdicts,
    },
    kill9: kill,
    awsOutage: outage && { ...outage, routerOutput: undefined },
    soak: soak && { ...soak, samples: `${soak.samples.length} samples in soak.json` },
  };
  await writeFile(join(dir, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);

  const readme = [
    '# Chaos and soak report',
    '',
    'Generated by `npm run chaos` (`bench/chaos/`); the short profile runs in `npm test`',
    '(`test/chaos/chaos.int.test.ts`) and asserts loss and duplicate counts only. How each scenario',
    'works, its knobs and what the figures mean: [`METHOD.md`](METHOD.md); what the runs found in the',
    'product: [`FINDINGS.md`](FINDINGS.md).',
    '',
    '| scenario | conditions (events, tenants, cores, Node, load average start→end, date) | measured | target | result |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    ...(isolation ? ['![B–J delivery latency by mode](latency.svg)', ''] : []),
    ...(soak ? ['![Soak: RSS, open fds, backlog, latency](soak.svg)', ''] : []),
    'Data: `results.json` (every figure with its conditions), `isolation.json`, `kill9.json`, `aws-outage.json`,',
    '`soak.json` and `soak-samples.jsonl` (one sample every 10 s). Extra runs cited in `FINDINGS.md`, written by hand',
    'with `CHAOS_OUT`: `kill9-4-kills.json` (`CHAOS_KILLS=4`), `isolation-slow-20s.json`',
    '(`CHAOS_ISOLATION_MODES=slow CHAOS_ISOLATION_SECONDS=20`).',
    '',
  ].join('\n');
  await writeFile(join(dir, 'README.md'), readme);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await writeReport(process.argv[2] ?? REPORT_DIR);
}
