/**
 * Scenario (a): tenant A's CloudWatch Logs destination refused, slow (10 s answers) or flapping
 * (50 % 5xx) while tenants B–J deliver to `file` destinations, on the AWS runtime
 * (`tlr process --mode sqs` against moto; the embedded `tlr up` has no AWS destinations).
 * The fault proxy between the router and moto applies the fault to CloudWatch Logs calls naming
 * A's log group only. Each mode is a fresh deployment and router; the harness puts one object per
 * tenant per second and measures, per B–J event, checker arrival time − time before the put.
 *
 * Usage: node dist/bench/chaos/isolation.js  (CHAOS_ISOLATION_SECONDS=60, CHAOS_ISOLATION_EVENTS=50 per object)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  logGroupOf,
  putCloudwatchConfig,
  putEventsObject,
  putFileConfigs,
  startChaosDeployment,
  startTlrProcess,
  stopChaosDeployment,
  type ChaosDeployment,
} from './aws.js';
import { awsJsonError, type FaultRule } from './fault-proxy.js';
import {
  type Child,
  type Conditions,
  conditionsNow,
  DestinationChecker,
  envNumber,
  finishConditions,
  makeTemp,
  percentile,
  removeTemp,
  REPORT_DIR,
  sleep,
  TENANTS,
  waitUntil,
} from './lib.js';

export const IsolationMode = {
  BASELINE: 'baseline',
  REFUSED: 'refused',
  SLOW: 'slow',
  FLAPPING: 'flapping',
} as const;
export type IsolationMode = (typeof IsolationMode)[keyof typeof IsolationMode];

const TENANT_A = TENANTS[0]!;
const OTHERS = TENANTS.slice(1);
/** Answer time of the slow destination. */
export const SLOW_ANSWER_MS = 10_000;

/** The proxy rules of a mode: CloudWatch Logs calls naming tenant A's log group. */
function rulesOf(mode: IsolationMode): FaultRule[] {
  const group = JSON.stringify(logGroupOf(TENANT_A));
  const match = (r: { target: string; body: string }) => r.target.startsWith('Logs_20140328.') && r.body.includes(group);
  switch (mode) {
    case IsolationMode.REFUSED:
      return [{ name: 'a_refused', match, action: { kind: 'reset' } }];
    case IsolationMode.SLOW:
      return [{ name: 'a_slow', match, action: { kind: 'delay', delayMs: SLOW_ANSWER_MS } }];
    case IsolationMode.FLAPPING:
      return [
        {
          name: 'a_5xx',
          match,
          probability: 0.5,
          action: awsJsonError(503, 'ServiceUnavailableException', 'application/x-amz-json-1.1'),
        },
      ];
    default:
      return [];
  }
}

export interface IsolationModeResult {
  readonly mode: IsolationMode;
  readonly conditions: Conditions;
  readonly seconds: number;
  readonly eventsPerObject: number;
  /** B–J events measured (after the warm-up). */
  readonly othersEvents: number;
  readonly othersLost: number;
  readonly othersDuplicates: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** B–J events / (last B–J arrival − first put), events/s. */
  readonly throughput: number;
  /** Latency at each percent 0..100, for the plot. */
  readonly cdfMs: readonly number[];
  /** Requests the proxy saw and faults it applied. */
  readonly proxyCounts: Record<string, number>;
  /** The router's last warnings and errors. */
  readonly routerOutput: string;
}

export interface IsolationOptions {
  readonly seconds: number;
  readonly eventsPerObject: number;
  readonly modes?: readonly IsolationMode[];
  readonly seed?: number;
}

async function runMode(mode: IsolationMode, options: IsolationOptions, seed: number): Promise<IsolationModeResult> {
  const conditions = conditionsNow();
  const outDir = await makeTemp('tlr-chaos-iso-');
  let d: ChaosDeployment | undefined;
  let router: Child | undefined;
  try {
    d = await startChaosDeployment(seed);
    await putFileConfigs(d, OTHERS, outDir);
    await putCloudwatchConfig(d, TENANT_A);
    d.proxy.setRules(rulesOf(mode));
    router = startTlrProcess(d);
    const checker = new DestinationChecker(outDir, OTHERS, false);
    let seq = 0;
    const expected = new Map<string, number[]>(OTHERS.map((t) => [t, []]));
    // Warm-up (not measured): one object per tenant, until B–J have it.
    for (const tenant of TENANTS) {
      const seqs = Array.from({ length: options.eventsPerObject }, () => ++seq);
      await putEventsObject(d, tenant, seqs);
      if (tenant !== TENANT_A) expected.get(tenant)!.push(...seqs);
    }
    const warmed = await waitUntil(async () => {
      await checker.poll();
      return checker.missing(expected) === 0;
    }, 60_000, 250);
    if (!warmed) throw new Error(`${mode}: the warm-up objects were not delivered in 60 s:\n${router.output()}`);
    const firstMeasured = seq + 1;
    const latencies: number[] = [];
    let lastArrival = 0;
    checker.onArrival = (_tenant, event, now) => {
      if (event.seq >= firstMeasured && event.sent_ms !== undefined) {
        latencies.push(now - event.sent_ms);
        lastArrival = now;
      }
    };
    const feedStart = Date.now();
    let feeding = true;
    const poller = (async () => {
      while (feeding) {
        await checker.poll();
        await sleep(250);
      }
    })();
    for (let tick = 0; tick < options.seconds; tick++) {
      for (const tenant of TENANTS) {
        const seqs = Array.from({ length: options.eventsPerObject }, () => ++seq);
        await putEventsObject(d, tenant, seqs);
        if (tenant !== TENANT_A) expected.get(tenant)!.push(...seqs);
      }
      await sleep(Math.max(0, feedStart + (tick + 1) * 1000 - Date.now()));
    }
    await waitUntil(async () => {
      await checker.poll();
      return checker.missing(expected) === 0;
    }, 180_000, 250);
    feeding = false;
    await poller;
    await checker.poll();
    let duplicates = 0;
    for (const c of checker.counts.values()) duplicates += c.duplicates;
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      mode,
      conditions: finishConditions(conditions),
      seconds: options.seconds,
      eventsPerObject: options.eventsPerObject,
      othersEvents: latencies.length,
      othersLost: checker.missing(expected),
      othersDuplicates: duplicates,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: sorted.at(-1) ?? Number.NaN,
      throughput: Math.round((latencies.length / Math.max(1, lastArrival - feedStart)) * 1000),
      cdfMs: Array.from({ length: 101 }, (_, p) => percentile(sorted, Math.max(p, 0.001))),
      proxyCounts: { ...d.proxy.counts },
      routerOutput: router.output().slice(-4_000),
    };
  } finally {
    await router?.stop(10_000);
    await stopChaosDeployment(d);
    await removeTemp(outDir);
  }
}

export interface IsolationResult {
  readonly scenario: 'isolation';
  readonly tenants: number;
  readonly modes: readonly IsolationModeResult[];
}

/** Runs the modes one after the other (baseline first). */
export async function runIsolation(options: IsolationOptions): Promise<IsolationResult> {
  const modes = options.modes ?? Object.values(IsolationMode);
  const results: IsolationModeResult[] = [];
  for (const [i, mode] of modes.entries()) {
    process.stderr.write(`isolation: ${mode}...\n`);
    results.push(await runMode(mode, options, (options.seed ?? 1) + i));
  }
  return { scenario: 'isolation', tenants: TENANTS.length, modes: results };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await mkdir(REPORT_DIR, { recursive: true });
  const modes = process.env['CHAOS_ISOLATION_MODES']?.split(',') as IsolationMode[] | undefined;
  const result = await runIsolation({
    seconds: envNumber('CHAOS_ISOLATION_SECONDS', 60),
    eventsPerObject: envNumber('CHAOS_ISOLATION_EVENTS', 50),
    seed: envNumber('CHAOS_SEED', 1),
    ...(modes && { modes }),
  });
  await writeFile(join(REPORT_DIR, 'isolation.json'), `${JSON.stringify(result, null, 1)}\n`);
  for (const m of result.modes) {
    const { cdfMs: _cdf, routerOutput: _output, ...row } = m;
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
}
