/**
 * `npm run bench:aws` (after `npm run build`): the AWS runtime's processor (createAwsRouter)
 * delivering central S3 objects to tenants' CloudWatch Logs groups, all on moto.
 *
 * Starts moto and, in a child process so its JSON parsing is not counted as the processor's
 * CPU, the recording request proxy (test/helpers/aws-request-proxy.ts) in front of it. Creates
 * a central bucket, the router's DynamoDB tables and one `cloudwatch` delivery config per
 * tenant, puts generated gzip NDJSON objects (~700-byte events, several pods per tenant) into
 * the bucket, then hands the keys to `processor.processItems` in Lambda-sized batches
 * (BENCH_AWS_BATCH, default 100: an SQS event source with a batching window). Measures wall
 * and process CPU time, and from the proxy: PutLogEvents calls per stream against the least
 * possible, STS AssumeRole calls and DynamoDB calls by operation. A second run on a fresh
 * router with twice the objects shows which calls grow with the number of objects.
 *
 * Options: BENCH_AWS_TENANTS (default 4), BENCH_AWS_PODS (pods per tenant, 2),
 * BENCH_AWS_OBJECTS (40), BENCH_AWS_EVENTS_PER_OBJECT (5000), BENCH_AWS_BATCH (100).
 * Prints markdown tables, writes bench/out/aws-results.json, exits 1 when a check fails.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { type AttributeValue, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { Registry } from 'prom-client';
import { type AwsSettings, awsClientConfig } from '../src/aws/index.js';
import { createLogGenerator, type LogGenerator } from '../src/demo/log-generator.js';
import { formatKeyTimestamp } from '../src/domain/index.js';
import { silentLogger } from '../src/logging/index.js';
import { awsRuntimeConfigFromEnv } from '../src/runtimes/aws-env.js';
import { createAwsRouter } from '../src/runtimes/aws-router.js';
import { createRouterTables, defaultRouterTableNames } from '../src/stores/aws/index.js';
import type { MotoServer } from '../test/helpers/moto.js';
import {
  PUT_LOG_EVENTS_EVENT_OVERHEAD,
  PUT_LOG_EVENTS_MAX_BYTES,
  PUT_LOG_EVENTS_MAX_EVENTS,
  startAwsRequestProxy,
} from '../test/helpers/aws-request-proxy.js';
import { EVENT_BYTES } from './data.js';

/** Messages per processor call, like one Lambda invocation's SQS batch. */
const BATCH_SIZE = Number(process.env['BENCH_AWS_BATCH'] ?? 100);
const here = dirname(fileURLToPath(import.meta.url));
const PROXY_CHILD_FLAG = '--proxy-child';
const CENTRAL_ROLE = 'arn:aws:iam::222222222222:role/CentralLogDistribution';
const customerRole = (tenant: string) => `arn:aws:iam::111111111111:role/CustomerLogDistribution-${tenant}`;
const logGroupFor = (tenant: string) => `/bench/${tenant}`;
const APPLICATION = 'kube-controller-manager';
const CLUSTER = 'bench-cluster';
/** The resolver's config cache TTL (DEFAULT_CONFIG_CACHE_TTL_MS in src/pipeline/tenant-destinations.ts). */
const CONFIG_CACHE_TTL_MS = 5_000;
/** Events of the moto-only reference run. */
const MOTO_FLOOR_EVENTS = 50_000;

// ---------------------------------------------------------------------------------------------
// The proxy child: runs the recording proxy and folds what it saw into counts, so the bodies of
// hundreds of MB of PutLogEvents are neither kept nor parsed in the measured process.

interface StreamStats {
  group: string;
  stream: string;
  /** Every PutLogEvents request to the stream, re-sends included. */
  calls: number;
  /**
   * Requests identical to the stream's previous one: the re-send after the sink created a
   * missing log group or stream (the first request to a new stream fails with
   * ResourceNotFoundException). Their events are not counted again below.
   */
  resends: number;
  events: number;
  /** Σ (UTF-8 message bytes + 26), as CloudWatch counts a request's size. */
  bytes: number;
  /** The previous request's shape, to spot a re-send. */
  last?: string;
}

interface ProxySummary {
  requests: number;
  /** Calls per operation: `DynamoDB.Query`, `Logs.PutLogEvents`, `STS POST /`, `S3 GET object`, … */
  operations: Record<string, number>;
  assumeRoles: number;
  assumeRolesByArn: Record<string, number>;
  violations: string[];
  streams: StreamStats[];
}

type ChildRequest = { type: 'summary' } | { type: 'close' };
type ChildReply = { type: 'ready'; endpoint: string } | { type: 'summary'; summary: ProxySummary };

function operationName(call: string): string {
  // X-Amz-Target: `DynamoDB_20120810.Query`, `Logs_20140328.PutLogEvents`, `AmazonSQS.SendMessage`.
  const dot = call.indexOf('.');
  if (!call.includes(' ') && dot > 0) return `${call.slice(0, dot).replace(/_\d{8}$/, '')}${call.slice(dot)}`;
  const [method = '?', url = ''] = call.split(' ');
  const path = url.split('?')[0] ?? '';
  if (path === '/') return `STS ${method} /`;
  const segments = path.split('/').filter(Boolean);
  return `S3 ${method} ${segments.length > 1 ? 'object' : 'bucket'}`;
}

async function proxyChild(target: string): Promise<void> {
  const proxy = await startAwsRequestProxy(target);
  let summary = emptySummary();
  const streams = new Map<string, StreamStats>();
  const drain = () => {
    for (const call of proxy.calls.splice(0)) {
      summary.requests++;
      const op = operationName(call);
      summary.operations[op] = (summary.operations[op] ?? 0) + 1;
    }
    for (const params of proxy.assumeRoles.splice(0)) {
      summary.assumeRoles++;
      const arn = params['RoleArn'] ?? '?';
      summary.assumeRolesByArn[arn] = (summary.assumeRolesByArn[arn] ?? 0) + 1;
    }
    summary.violations.push(...proxy.violations.splice(0));
    for (const body of proxy.putLogEvents.splice(0)) {
      const id = `${body.logGroupName}\n${body.logStreamName}`;
      let s = streams.get(id);
      if (!s) {
        s = { group: body.logGroupName, stream: body.logStreamName, calls: 0, resends: 0, events: 0, bytes: 0 };
        streams.set(id, s);
      }
      s.calls++;
      const events = body.logEvents ?? [];
      let bytes = 0;
      for (const e of events) bytes += Buffer.byteLength(e.message) + PUT_LOG_EVENTS_EVENT_OVERHEAD;
      const shape = `${events.length} ${events[0]?.timestamp} ${events.at(-1)?.timestamp} ${bytes}`;
      if (shape === s.last) {
        s.resends++;
        continue;
      }
      s.last = shape;
      s.events += events.length;
      s.bytes += bytes;
    }
  };
  const timer = setInterval(drain, 200);
  const send = (reply: ChildReply) => process.send!(reply);
  process.on('message', (request: ChildRequest) => {
    if (request.type === 'summary') {
      drain();
      summary.streams = [...streams.values()].map(({ last: _, ...rest }) => rest).sort((a, b) => `${a.group}/${a.stream}`.localeCompare(`${b.group}/${b.stream}`));
      send({ type: 'summary', summary });
      summary = emptySummary();
      streams.clear();
    } else {
      clearInterval(timer);
      void proxy.close().then(() => process.disconnect());
    }
  });
  // The parent died or closed the channel: never outlive it.
  process.on('disconnect', () => {
    clearInterval(timer);
    void proxy.close().then(() => process.exit(0));
  });
  send({ type: 'ready', endpoint: proxy.endpoint });
}

function emptySummary(): ProxySummary {
  return { requests: 0, operations: {}, assumeRoles: 0, assumeRolesByArn: {}, violations: [], streams: [] };
}

interface ProxyHandle {
  endpoint: string;
  /** What the proxy saw since the previous summary (and forgets it). */
  summary(): Promise<ProxySummary>;
  stop(): Promise<void>;
}

async function startProxyChild(target: string): Promise<ProxyHandle> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [PROXY_CHILD_FLAG, target], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = <T extends ChildReply['type']>(type: T) =>
    new Promise<Extract<ChildReply, { type: T }>>((resolve, reject) => {
      const onMessage = (m: ChildReply) => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as Extract<ChildReply, { type: T }>);
      };
      const onExit = (code: number | null) => {
        child.off('message', onMessage);
        reject(new Error(`The proxy child exited (${code}) before answering '${type}'.`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = await next('ready');
  return {
    endpoint: ready.endpoint,
    async summary() {
      const reply = next('summary');
      child.send({ type: 'summary' } satisfies ChildRequest);
      return (await reply).summary;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ type: 'close' } satisfies ChildRequest);
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Data

interface StreamSource {
  tenant: string;
  podName: string;
  generator: LogGenerator;
}

interface GeneratedObject {
  key: string;
  tenant: string;
  podName: string;
  events: number;
  /** Uncompressed NDJSON bytes. */
  lineBytes: number;
  /** Σ (UTF-8 message bytes + 26): what CloudWatch counts. */
  cloudwatchBytes: number;
  gzipBytes: number;
}

/** One generator per (tenant, pod), each its own stream; timestamps start 55 minutes ago at 1 ms per event. */
function streamSources(tenants: string[], podsPerTenant: number, startMs: number): StreamSource[] {
  const sources: StreamSource[] = [];
  for (const [t, tenant] of tenants.entries()) {
    for (let p = 0; p < podsPerTenant; p++) {
      const generator = createLogGenerator({
        seed: 1_000 + t * 100 + p,
        clusterId: CLUSTER,
        tenants: [{ namespace: tenant, applications: [APPLICATION], podsPerApplication: 1 }],
        startMs,
        targetEventBytes: EVENT_BYTES,
      });
      // The generator names its pod; read it from a first event.
      sources.push({ tenant, podName: generator.next().pod_name, generator });
    }
  }
  return sources;
}

/** Generates `objects` objects round-robin over the streams and puts them into the central bucket. */
async function putObjects(
  s3: S3Client,
  bucket: string,
  sources: StreamSource[],
  objects: number,
  eventsPerObject: number,
  label: string,
): Promise<GeneratedObject[]> {
  const out: GeneratedObject[] = [];
  for (let i = 0; i < objects; i++) {
    const source = sources[i % sources.length]!;
    const events = source.generator.take(eventsPerObject);
    let cloudwatchBytes = 0;
    for (const e of events) cloudwatchBytes += Buffer.byteLength(e.message) + PUT_LOG_EVENTS_EVENT_OVERHEAD;
    const text = `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
    const gzip = gzipSync(text);
    const firstMs = Date.parse(events[0]!.timestamp);
    const key = `${CLUSTER}/${source.tenant}/${APPLICATION}/${source.podName}/${formatKeyTimestamp(firstMs)}-${label}-${String(i).padStart(5, '0')}.json.gz`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: gzip }));
    out.push({
      key,
      tenant: source.tenant,
      podName: source.podName,
      events: events.length,
      lineBytes: Buffer.byteLength(text),
      cloudwatchBytes,
      gzipBytes: gzip.length,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Runs

interface StreamResult extends StreamStats {
  /** max(⌈bytes / 1 MiB⌉, ⌈events / 10,000⌉): the fewest calls packing the stream in time order. */
  bound: number;
  /** Σ over the stream's objects of the same bound: the fewest calls when no request spans two objects. */
  perObjectFloor: number;
  objects: number;
  withinBound: boolean;
}

interface RunResult {
  name: string;
  objects: number;
  events: number;
  lineBytes: number;
  wallMs: number;
  cpuMs: number;
  eventsPerSecond: number;
  cpuMicrosPerEvent: number;
  putLogEvents: number;
  /** Of which re-sends after creating a missing group or stream. */
  putLogEventsResends: number;
  putLogEventsBound: number;
  putLogEventsPerObjectFloor: number;
  assumeRoles: number;
  assumeRolesByArn: Record<string, number>;
  dynamodb: Record<string, number>;
  operations: Record<string, number>;
  violations: string[];
  streams: StreamResult[];
  /** Config-cache expiries the run's wall time allows: tenants × ⌈wall / TTL⌉. */
  configQueriesExpectedFromTtl: number;
}

const callBound = (events: number, bytes: number) =>
  Math.max(Math.ceil(bytes / PUT_LOG_EVENTS_MAX_BYTES), Math.ceil(events / PUT_LOG_EVENTS_MAX_EVENTS));

async function runProcessor(
  name: string,
  env: Record<string, string>,
  objects: GeneratedObject[],
  proxy: ProxyHandle,
  tenants: number,
): Promise<RunResult> {
  await proxy.summary(); // forget setup calls
  const router = createAwsRouter(awsRuntimeConfigFromEnv('manual', env), { logger: silentLogger, registry: new Registry() });
  const signal = new AbortController().signal;
  const events = objects.reduce((n, o) => n + o.events, 0);
  const lineBytes = objects.reduce((n, o) => n + o.lineBytes, 0);
  let wallMs: number;
  let cpuMs: number;
  try {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    // The objects arrive as Lambda batches of BENCH_AWS_BATCH messages (an SQS event source
    // with a batching window); each batch packs consecutive objects of one pod together.
    for (let start = 0; start < objects.length; start += BATCH_SIZE) {
      const batch = objects.slice(start, start + BATCH_SIZE);
      const settled = await router.processor.processItems(
        batch.map(({ key }) => ({ key, attempt: 0 })),
        signal,
      );
      settled.forEach((result, n) => {
        const key = batch[n]!.key;
        if (result.status === 'rejected') throw new Error(`${key}: ${String(result.reason)}`);
        if (result.value.result !== 'completed') {
          throw new Error(`${key}: ${result.value.result} ${JSON.stringify(result.value.destinations)}`);
        }
      });
    }
    wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    cpuMs = (cpu.user + cpu.system) / 1000;
  } finally {
    await router.close();
  }
  const seen = await proxy.summary();
  const streams: StreamResult[] = seen.streams.map((s) => {
    const own = objects.filter((o) => logGroupFor(o.tenant) === s.group && o.podName === s.stream);
    const bound = callBound(s.events, s.bytes);
    return {
      ...s,
      bound,
      perObjectFloor: own.reduce((n, o) => n + callBound(o.events, o.cloudwatchBytes), 0),
      objects: own.length,
      withinBound: s.calls <= bound + 1,
    };
  });
  const dynamodb: Record<string, number> = {};
  for (const op of ['Query', 'GetItem', 'BatchGetItem', 'UpdateItem', 'PutItem']) dynamodb[op] = 0;
  for (const [op, n] of Object.entries(seen.operations)) {
    if (op.startsWith('DynamoDB.')) dynamodb[op.slice('DynamoDB.'.length)] = n;
  }
  return {
    name,
    objects: objects.length,
    events,
    lineBytes,
    wallMs: Math.round(wallMs),
    cpuMs: Math.round(cpuMs),
    eventsPerSecond: Math.round(events / (wallMs / 1000)),
    cpuMicrosPerEvent: Math.round(((cpuMs * 1000) / events) * 10) / 10,
    putLogEvents: streams.reduce((n, s) => n + s.calls, 0),
    putLogEventsResends: streams.reduce((n, s) => n + s.resends, 0),
    putLogEventsBound: streams.reduce((n, s) => n + s.bound, 0),
    putLogEventsPerObjectFloor: streams.reduce((n, s) => n + s.perObjectFloor, 0),
    assumeRoles: seen.assumeRoles,
    assumeRolesByArn: seen.assumeRolesByArn,
    dynamodb,
    operations: seen.operations,
    violations: seen.violations,
    streams,
    configQueriesExpectedFromTtl: tenants * Math.ceil(wallMs / CONFIG_CACHE_TTL_MS),
  };
}

interface MotoFloor {
  events: number;
  calls: number;
  wallMs: number;
  eventsPerSecond: number;
}

/** moto alone: PutLogEvents of full requests straight from an SDK client, no processor and no proxy. */
async function motoFloor(settings: AwsSettings): Promise<MotoFloor> {
  const logs = new CloudWatchLogsClient(awsClientConfig(settings, { maxAttempts: 3 }));
  const generator = createLogGenerator({
    seed: 99,
    clusterId: CLUSTER,
    tenants: [{ namespace: 'floor', applications: [APPLICATION], podsPerApplication: 1 }],
    startMs: Date.now() - 50 * 60_000,
    targetEventBytes: EVENT_BYTES,
  });
  const events = generator
    .take(MOTO_FLOOR_EVENTS)
    .map((e) => ({ timestamp: Math.floor(Date.parse(e.timestamp)), message: e.message }));
  const batches: (typeof events)[] = [];
  let open: typeof events = [];
  let bytes = 0;
  for (const e of events) {
    const size = Buffer.byteLength(e.message) + PUT_LOG_EVENTS_EVENT_OVERHEAD;
    if (open.length >= PUT_LOG_EVENTS_MAX_EVENTS || bytes + size > PUT_LOG_EVENTS_MAX_BYTES) {
      batches.push(open);
      open = [];
      bytes = 0;
    }
    open.push(e);
    bytes += size;
  }
  if (open.length > 0) batches.push(open);
  const logGroupName = '/bench/moto-floor';
  const logStreamName = 'floor';
  await logs.send(new CreateLogGroupCommand({ logGroupName }));
  await logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
  const started = performance.now();
  for (const logEvents of batches) await logs.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents }));
  const wallMs = performance.now() - started;
  logs.destroy();
  return {
    events: events.length,
    calls: batches.length,
    wallMs: Math.round(wallMs),
    eventsPerSecond: Math.round(events.length / (wallMs / 1000)),
  };
}

/** Events stored per stream of a tenant's group, read with the tenant role's credentials (moto keeps the group in that account). */
async function storedEvents(settings: AwsSettings, tenant: string): Promise<Map<string, number>> {
  const sts = new STSClient(awsClientConfig(settings));
  const { Credentials } = await sts.send(
    new AssumeRoleCommand({ RoleArn: customerRole(tenant), RoleSessionName: 'bench-reader', ExternalId: 'bench' }),
  );
  sts.destroy();
  const logs = new CloudWatchLogsClient(
    awsClientConfig(settings, {
      maxAttempts: 3,
      credentials: {
        accessKeyId: Credentials!.AccessKeyId!,
        secretAccessKey: Credentials!.SecretAccessKey!,
        sessionToken: Credentials!.SessionToken!,
      },
    }),
  );
  const counts = new Map<string, number>();
  const group = logGroupFor(tenant);
  const { logStreams } = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group }));
  for (const stream of logStreams ?? []) {
    let n = 0;
    let token: string | undefined;
    for (;;) {
      const page = await logs.send(
        new GetLogEventsCommand({
          logGroupName: group,
          logStreamName: stream.logStreamName!,
          startFromHead: true,
          ...(token && { nextToken: token }),
        }),
      );
      n += page.events?.length ?? 0;
      if (!page.nextForwardToken || page.nextForwardToken === token) break;
      token = page.nextForwardToken;
    }
    counts.set(stream.logStreamName!, n);
  }
  logs.destroy();
  return counts;
}

// ---------------------------------------------------------------------------------------------

const fmt = (n: number) => n.toLocaleString('en-US');

async function main(): Promise<void> {
  const tenantCount = Number(process.env['BENCH_AWS_TENANTS'] ?? 4);
  const podsPerTenant = Number(process.env['BENCH_AWS_PODS'] ?? 2);
  const objects = Number(process.env['BENCH_AWS_OBJECTS'] ?? 40);
  const eventsPerObject = Number(process.env['BENCH_AWS_EVENTS_PER_OBJECT'] ?? 5_000);
  // moto accepts any credentials; never let the SDK look for real ones.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' });
  delete process.env['AWS_SESSION_TOKEN'];
  delete process.env['AWS_PROFILE'];

  const { motoUnavailable, startMoto } = await import('../test/helpers/moto.js');
  if (motoUnavailable) throw new Error(`Cannot run: ${motoUnavailable}.`);
  let moto: MotoServer | undefined;
  let proxy: ProxyHandle | undefined;
  const failures: string[] = [];
  try {
    moto = await startMoto();
    proxy = await startProxyChild(moto.endpoint);
    const id = randomUUID().slice(0, 8);
    // Setup goes straight to moto; only the router's calls pass the proxy.
    const direct = awsClientConfig(moto.settings, { s3: true, maxAttempts: 3 });
    const s3 = new S3Client(direct);
    const dynamo = new DynamoDBClient(direct);
    const bucket = `bench-central-${id}`;
    const tables = defaultRouterTableNames(`configs-${id}`);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await createRouterTables(dynamo, tables);
    const tenants = Array.from({ length: tenantCount }, (_, i) => `tenant-${i + 1}`);
    for (const tenant of tenants) {
      const Item: Record<string, AttributeValue> = {
        tenant_id: { S: tenant },
        type: { S: 'cloudwatch' },
        log_distribution_role_arn: { S: customerRole(tenant) },
        log_group_name: { S: logGroupFor(tenant) },
      };
      await dynamo.send(new PutItemCommand({ TableName: tables.configs, Item }));
    }
    dynamo.destroy();

    const sources = streamSources(tenants, podsPerTenant, Date.now() - 55 * 60_000);
    process.stderr.write(
      `Generating ${objects} + ${2 * objects} objects of ${eventsPerObject} ~${EVENT_BYTES}-byte events ` +
        `(${tenantCount} tenants × ${podsPerTenant} pods)...\n`,
    );
    const first = await putObjects(s3, bucket, sources, objects, eventsPerObject, 'a');
    const second = await putObjects(s3, bucket, sources, 2 * objects, eventsPerObject, 'b');
    s3.destroy();

    const env = {
      AWS_ENDPOINT_URL: proxy.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_S3_USE_PATH_STYLE: 'true',
      TENANT_CONFIG_TABLE: tables.configs,
      CHECKPOINT_TABLE: tables.checkpoints,
      DEAD_LETTER_TABLE: tables.deadLetters,
      AUDIT_TABLE: tables.audit,
      DESTINATION_STATUS_TABLE: tables.status,
      SOURCE_BUCKET: bucket,
      CENTRAL_LOG_DISTRIBUTION_ROLE_ARN: CENTRAL_ROLE,
      LOG_LEVEL: 'WARN',
    };
    process.stderr.write(`Run 1: ${objects} objects...\n`);
    const run1 = await runProcessor(`run 1 (${objects} objects)`, env, first, proxy, tenantCount);
    process.stderr.write(`Run 2 (fresh router): ${2 * objects} objects...\n`);
    const run2 = await runProcessor(`run 2 (${2 * objects} objects)`, env, second, proxy, tenantCount);
    const runs = [run1, run2];
    process.stderr.write('moto alone: PutLogEvents of full requests...\n');
    const floor = await motoFloor(moto.settings);

    // Checks.
    for (const run of runs) {
      for (const v of run.violations) failures.push(`${run.name}: PutLogEvents limit violation: ${v}`);
      const sent = run.streams.reduce((n, s) => n + s.events, 0);
      if (sent !== run.events) {
        failures.push(`${run.name}: PutLogEvents carried ${sent} events (re-sends not counted), the objects held ${run.events}.`);
      }
      for (const s of run.streams) {
        if (!s.withinBound) {
          failures.push(
            `${run.name}: ${s.group} ${s.stream}: ${s.calls} PutLogEvents calls > bound ${s.bound} + 1 ` +
              `(${fmt(s.events)} events, ${fmt(s.bytes)} bytes over ${s.objects} objects; ` +
              `${s.perObjectFloor} when no request may span two objects).`,
          );
        }
      }
    }
    const expectedPerStream = new Map<string, number>();
    for (const o of [...first, ...second]) {
      const id2 = `${logGroupFor(o.tenant)} ${o.podName}`;
      expectedPerStream.set(id2, (expectedPerStream.get(id2) ?? 0) + o.events);
    }
    let stored = 0;
    for (const tenant of tenants) {
      for (const [stream, n] of await storedEvents(moto.settings, tenant)) {
        stored += n;
        const expected = expectedPerStream.get(`${logGroupFor(tenant)} ${stream}`) ?? 0;
        if (n !== expected) failures.push(`moto holds ${n} events in ${logGroupFor(tenant)} ${stream}, expected ${expected}.`);
      }
    }
    const expectedTotal = run1.events + run2.events;
    if (stored !== expectedTotal) failures.push(`moto holds ${stored} events in the tenants' groups, expected ${expectedTotal}.`);

    const conditions = {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      moto: '5.2.1',
      tenants: tenantCount,
      podsPerTenant,
      streams: sources.length,
      objects,
      eventsPerObject,
      eventLineBytes: Math.round(run1.lineBytes / run1.events),
      cloudwatchEventBytes: Math.round(first.reduce((n, o) => n + o.cloudwatchBytes, 0) / run1.events),
      gzipRatio: Math.round((run1.lineBytes / first.reduce((n, o) => n + o.gzipBytes, 0)) * 10) / 10,
      date: new Date().toISOString(),
    };
    const w = (s: string) => process.stdout.write(s);
    w(`\nConditions: ${JSON.stringify(conditions)}\n\n`);
    w('| run | objects | events | wall ms | CPU ms | events/s | CPU µs/event | PutLogEvents (re-sends) | bound (Σ streams) | per-object floor |\n');
    w('|---|---|---|---|---|---|---|---|---|---|\n');
    for (const r of runs) {
      w(
        `| ${r.name} | ${r.objects} | ${fmt(r.events)} | ${fmt(r.wallMs)} | ${fmt(r.cpuMs)} | ${fmt(r.eventsPerSecond)} | ` +
          `${r.cpuMicrosPerEvent} | ${r.putLogEvents} (${r.putLogEventsResends}) | ${r.putLogEventsBound} | ${r.putLogEventsPerObjectFloor} |\n`,
      );
    }
    w(`| moto alone (SDK → moto, full requests) | – | ${fmt(floor.events)} | ${fmt(floor.wallMs)} | – | ${fmt(floor.eventsPerSecond)} | – | ${floor.calls} | – | – |\n`);
    w('\n| run | STS AssumeRole | DynamoDB Query | GetItem | BatchGetItem | UpdateItem | PutItem | other DynamoDB | config Queries the 5 s cache TTL allows |\n');
    w('|---|---|---|---|---|---|---|---|---|\n');
    for (const r of runs) {
      const { Query, GetItem, BatchGetItem, UpdateItem, PutItem, ...other } = r.dynamodb;
      const others = Object.entries(other).map(([k, v]) => `${k} ${v}`).join(', ') || '0';
      w(`| ${r.name} | ${r.assumeRoles} | ${Query} | ${GetItem} | ${BatchGetItem} | ${UpdateItem} | ${PutItem} | ${others} | ≤ ${r.configQueriesExpectedFromTtl} |\n`);
    }
    w('\n| run | log group | stream | objects | events | bytes | PutLogEvents (re-sends) | bound | per-object floor | ≤ bound + 1 |\n');
    w('|---|---|---|---|---|---|---|---|---|---|\n');
    for (const r of runs) {
      for (const s of r.streams) {
        w(
          `| ${r.name} | ${s.group} | ${s.stream} | ${s.objects} | ${fmt(s.events)} | ${fmt(s.bytes)} | ${s.calls} (${s.resends}) | ` +
            `${s.bound} | ${s.perObjectFloor} | ${s.withinBound ? 'yes' : '**no**'} |\n`,
        );
      }
    }
    w('\nAll calls by operation:\n');
    for (const r of runs) w(`- ${r.name}: ${JSON.stringify(r.operations)}\n`);
    const stsSame = run1.assumeRoles === run2.assumeRoles;
    const queriesSame = run1.dynamodb['Query'] === run2.dynamodb['Query'];
    w(
      `\nCaching: AssumeRole ${run1.assumeRoles} → ${run2.assumeRoles} with 2× the objects (${stsSame ? 'flat' : 'GROWS'}); ` +
        `config Query ${run1.dynamodb['Query']} → ${run2.dynamodb['Query']} (${queriesSame ? 'flat' : 'GROWS'}; ` +
        `the resolver caches a tenant's configs for ${CONFIG_CACHE_TTL_MS / 1000} s, so it follows wall time); ` +
        `checkpoint writes (UpdateItem) ${run1.dynamodb['UpdateItem']} → ${run2.dynamodb['UpdateItem']} grow with the ` +
        'objects, as expected (one per delivered batch, plus the writes that mark each object done).\n',
    );
    w(`moto alone takes ${fmt(floor.eventsPerSecond)} events/s of PutLogEvents: it bounds the wall-clock figures above.\n`);

    const outDir = join(here, '..', '..', 'bench', 'out');
    await mkdir(outDir, { recursive: true });
    await writeFile(
      join(outDir, 'aws-results.json'),
      `${JSON.stringify({ conditions, runs, motoFloor: floor, storedEvents: stored, failures }, null, 2)}\n`,
    );
    process.stderr.write(`\nWrote ${join(outDir, 'aws-results.json')}\n`);
  } finally {
    await proxy?.stop();
    await moto?.stop();
  }
  if (failures.length > 0) {
    process.stderr.write(`\nFAILED (${failures.length}):\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write('\nAll checks passed: no PutLogEvents limit violations, every stream within bound + 1, every event stored.\n');
  }
}

if (process.argv[2] === PROXY_CHILD_FLAG) {
  await proxyChild(process.argv[3]!);
} else {
  await main();
}
