/**
 * Scenario (c): the AWS side unreachable for a while, and throttled, under `tlr process --mode sqs`.
 * DynamoDB and SQS calls are throttled at random through the fault proxy for the whole run
 * (`ProvisionedThroughputExceededException`, `RequestThrottled`); after the first half of the
 * objects, moto is paused with SIGSTOP for a while and resumed with SIGCONT (never restarted: a
 * restarted moto is empty), then the proxy resets every connection for a while (a network
 * outage). The second half of the objects is written during that outage. Nobody touches the
 * router: the run passes when every event arrives, the queue drains and nothing is dead-lettered.
 *
 * Usage: node dist/bench/chaos/outage.js  (CHAOS_OUTAGE_OBJECTS=10 per tenant, CHAOS_OUTAGE_EVENTS=1000 per object,
 * CHAOS_PAUSE_SECONDS=20, CHAOS_BLACKOUT_SECONDS=20, CHAOS_THROTTLE=0.2)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { FILE_MAX_BATCH_EVENTS } from '../../src/sinks/file/config.js';
import { queueDepth } from '../../test/helpers/aws-e2e.js';
import {
  type ChaosDeployment,
  putEventsObject,
  putFileConfigs,
  startChaosDeployment,
  startTlrProcess,
  stopChaosDeployment,
} from './aws.js';
import { awsJsonError } from './fault-proxy.js';
import {
  type Child,
  type Conditions,
  conditionsNow,
  DestinationChecker,
  envNumber,
  finishConditions,
  makeTemp,
  removeTemp,
  REPORT_DIR,
  sleep,
  TENANTS,
  waitUntil,
} from './lib.js';

export interface OutageOptions {
  readonly objectsPerTenant: number;
  readonly eventsPerObject: number;
  readonly pauseSeconds: number;
  readonly blackoutSeconds: number;
  /** Chance that a DynamoDB or SQS call is throttled, 0–1. */
  readonly throttle: number;
  /** Instead of a chance: throttle every n-th DynamoDB and SQS call, at most `throttleLimit` each (deterministic). */
  readonly throttleEvery?: number;
  readonly throttleLimit?: number;
  /** Let the SDK's retry of a throttled call through, so no call fails for throttling alone. */
  readonly spareRetries?: boolean;
  readonly seed?: number;
  readonly drainTimeoutMs?: number;
}

export interface OutageResult {
  readonly scenario: 'aws_outage';
  readonly conditions: Conditions;
  readonly tenants: number;
  readonly events: number;
  readonly objects: number;
  readonly pauseSeconds: number;
  readonly blackoutSeconds: number;
  readonly throttle: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly maxDuplicateRuns: number;
  /** Outage windows (pause + blackout): duplicates are asserted ≤ this × max batch per destination. */
  readonly outages: number;
  readonly withinBound: boolean;
  readonly deadLetters: number;
  readonly queueDepthAfter: number;
  /** From the end of the last outage until every event had arrived. */
  readonly recoverySeconds: number;
  readonly routerExitedEarly: boolean;
  readonly proxyCounts: Record<string, number>;
  /** [seconds after the last outage, distinct events delivered], every 5 s. */
  readonly progress: readonly (readonly [number, number])[];
  /** The router's last output (warnings and errors). */
  readonly routerOutput: string;
}

const isDynamo = (r: { target: string }) => r.target.startsWith('DynamoDB_20120810.');
const isSqs = (r: { target: string }) => r.target.startsWith('AmazonSQS.');

/** Runs scenario (c); moto, the proxy and the router are stopped by PID whatever happens. */
export async function runOutage(options: OutageOptions): Promise<OutageResult> {
  const conditions = conditionsNow();
  const outDir = await makeTemp('tlr-chaos-outage-');
  let d: ChaosDeployment | undefined;
  let router: Child | undefined;
  try {
    d = await startChaosDeployment(options.seed ?? 1);
    await putFileConfigs(d, TENANTS, outDir);
    const throttling = {
      probability: options.throttle,
      ...(options.throttleEvery !== undefined && { every: options.throttleEvery }),
      ...(options.throttleLimit !== undefined && { limit: options.throttleLimit }),
      ...(options.spareRetries !== undefined && { spareRetries: options.spareRetries }),
    };
    d.proxy.setRules([
      {
        name: 'dynamodb_throttled',
        match: isDynamo,
        ...throttling,
        action: awsJsonError(400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException'),
      },
      {
        name: 'sqs_throttled',
        match: isSqs,
        ...throttling,
        action: awsJsonError(400, 'com.amazonaws.sqs#RequestThrottled'),
      },
    ]);
    router = startTlrProcess(d);
    let stopping = false;
    let routerExitedEarly = false;
    void router.exited.then(() => {
      routerExitedEarly = !stopping;
    });
    const checker = new DestinationChecker(outDir, TENANTS, false);
    const expected = new Map<string, number[]>(TENANTS.map((t) => [t, []]));
    let seq = 0;
    const putHalf = async (objects: number) => {
      for (let o = 0; o < objects; o++) {
        for (const tenant of TENANTS) {
          const seqs = Array.from({ length: options.eventsPerObject }, () => ++seq);
          await putEventsObject(d!, tenant, seqs);
          expected.get(tenant)!.push(...seqs);
        }
      }
    };
    const firstHalf = Math.ceil(options.objectsPerTenant / 2);
    await putHalf(firstHalf);
    await sleep(2_000);
    process.kill(d.central.moto.pid, 'SIGSTOP');
    try {
      await sleep(options.pauseSeconds * 1000);
    } finally {
      process.kill(d.central.moto.pid, 'SIGCONT');
    }
    d.proxy.blackout = options.blackoutSeconds > 0;
    const blackoutEnd = Date.now() + options.blackoutSeconds * 1000;
    try {
      await putHalf(options.objectsPerTenant - firstHalf);
      await sleep(Math.max(0, blackoutEnd - Date.now()));
    } finally {
      d.proxy.blackout = false;
    }
    const recoveredFrom = Date.now();
    const progress: [number, number][] = [];
    await waitUntil(async () => {
      await checker.poll();
      const t = Math.round((Date.now() - recoveredFrom) / 1000);
      if (progress.length === 0 || t - progress.at(-1)![0] >= 5) progress.push([t, checker.distinct()]);
      return checker.missing(expected) === 0;
    }, options.drainTimeoutMs ?? 420_000, 500);
    const recoverySeconds = Number(((Date.now() - recoveredFrom) / 1000).toFixed(1));
    await waitUntil(async () => (await queueDepth(d!.central)) === 0, 30_000, 1_000);
    const queueDepthAfter = await queueDepth(d.central);
    stopping = true;
    const routerOutput = router.output().slice(-3_000);
    await router.stop(10_000);
    await checker.poll();
    const { Count: deadLetters } = await d.central.dynamo.send(
      new ScanCommand({ TableName: d.central.tables.deadLetters, Select: 'COUNT' }),
    );
    const counts = [...checker.counts.values()];
    const outages = (options.pauseSeconds > 0 ? 1 : 0) + (options.blackoutSeconds > 0 ? 1 : 0);
    return {
      scenario: 'aws_outage',
      conditions: finishConditions(conditions),
      tenants: TENANTS.length,
      events: seq,
      objects: options.objectsPerTenant * TENANTS.length,
      pauseSeconds: options.pauseSeconds,
      blackoutSeconds: options.blackoutSeconds,
      throttle: options.throttle,
      delivered: checker.distinct(),
      lost: checker.missing(expected) + counts.reduce((n, c) => n + c.unexpected, 0),
      duplicates: counts.reduce((n, c) => n + c.duplicates, 0),
      maxDuplicateRuns: Math.max(...counts.map((c) => c.duplicateRuns)),
      outages,
      withinBound: counts.every((c) => c.duplicateRuns <= outages && c.duplicates <= outages * FILE_MAX_BATCH_EVENTS),
      deadLetters: deadLetters ?? 0,
      queueDepthAfter,
      recoverySeconds,
      routerExitedEarly,
      proxyCounts: { ...d.proxy.counts },
      progress,
      routerOutput,
    };
  } finally {
    await router?.kill9();
    await stopChaosDeployment(d);
    await removeTemp(outDir);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await mkdir(REPORT_DIR, { recursive: true });
  const result = await runOutage({
    objectsPerTenant: envNumber('CHAOS_OUTAGE_OBJECTS', 10),
    eventsPerObject: envNumber('CHAOS_OUTAGE_EVENTS', 1_000),
    pauseSeconds: envNumber('CHAOS_PAUSE_SECONDS', 20),
    blackoutSeconds: envNumber('CHAOS_BLACKOUT_SECONDS', 20),
    throttle: envNumber('CHAOS_THROTTLE', 0.2),
    seed: envNumber('CHAOS_SEED', 1),
  });
  await writeFile(join(REPORT_DIR, 'aws-outage.json'), `${JSON.stringify(result, null, 1)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
  process.exitCode = result.lost === 0 && result.withinBound && result.deadLetters === 0 ? 0 : 1;
}
