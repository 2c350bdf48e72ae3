/**
 * `npm run bench:forward`: Fluent Forward ingest throughput. This process runs the Forward
 * input over the embedded stores (SQLite ingest buffer, fsync per chunk) in a fresh data
 * directory; a child process plays the collectors: it logs in with the shared key and sends
 * CompressedPackedForward chunks of fluentd/OpenShift-shaped records (~700 bytes each), one
 * chunk in flight per connection, each waiting for its ack (fluentd `require_ack_response`).
 * The server's CPU time (user + system over all its threads, zlib's included) gives events
 * per CPU-second: what one core takes. When `taskset` exists the server is pinned to CPU 0
 * and the client to CPU 1. Prints a table and writes bench/out/forward-results.json.
 * Options: BENCH_FORWARD_EVENTS (300000 measured), BENCH_FORWARD_CHUNK_EVENTS (2000),
 * BENCH_FORWARD_CONNECTIONS (2), BENCH_FORWARD_WARMUP_EVENTS (40000).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Decoder, encode } from '@msgpack/msgpack';
import { Registry } from 'prom-client';
import {
  createForwardServer,
  createFrameScanner,
  encodeWithEventTime,
  eventTime,
  readEntries,
  validateForwardAuthConfig,
  validateForwardConfig,
} from '../src/ingest/forward/index.js';
import { silentLogger } from '../src/logging/index.js';
import { openLocalStores } from '../src/runtimes/local-stores.js';

const here = dirname(fileURLToPath(import.meta.url));
const measuredEvents = Number(process.env['BENCH_FORWARD_EVENTS'] ?? 300_000);
const chunkEvents = Number(process.env['BENCH_FORWARD_CHUNK_EVENTS'] ?? 2_000);
const connections = Number(process.env['BENCH_FORWARD_CONNECTIONS'] ?? 2);
const warmupEvents = Number(process.env['BENCH_FORWARD_WARMUP_EVENTS'] ?? 40_000);
const SHARED_KEY = 'bench-forward-shared-key-0123456789';
const TENANTS = ['acme', 'globex', 'initech', 'umbrella'];
const APPS = ['kube-apiserver', 'etcd', 'oauth-openshift', 'kube-controller-manager'];
/** Distinct chunk bodies the client cycles through (each send gets a fresh chunk id). */
const DISTINCT_BODIES = 16;

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
}

// ————— Client (child process) —————

/** A deterministic pseudo-random generator, so runs send the same data. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A record as OpenShift's fluentd collector (ViaQ) ships it, padded to ~700 bytes of JSON. */
function viaqRecord(random: () => number, i: number): Record<string, unknown> {
  const tenant = TENANTS[i % TENANTS.length]!;
  const app = APPS[Math.floor(random() * APPS.length)]!;
  const words = Array.from({ length: 28 }, () => Math.floor(random() * 36 ** 6).toString(36)).join(' ');
  return {
    message: `I0115 10:30:00.${String(i % 1_000_000).padStart(6, '0')} 1 ${app}.go:${100 + (i % 900)}] ${words}`,
    level: 'info',
    hostname: 'ip-10-0-1-23.ec2.internal',
    '@timestamp': '2026-01-15T10:30:00.000000+00:00',
    kubernetes: {
      namespace_name: tenant,
      pod_name: `${app}-${tenant}-0`,
      container_name: app,
      container_image: `quay.io/openshift/${app}:v4.18`,
      host: 'ip-10-0-1-23.ec2.internal',
      labels: { app, 'hypershift.openshift.io/hosted-control-plane': 'true' },
    },
    pipeline_metadata: { collector: { name: 'fluentd', version: '1.16.2' } },
  };
}

/**
 * CompressedPackedForward entry streams, gzip'd, ready to wrap with a chunk id; and the same
 * records as gzip NDJSON, for the calibration row.
 */
function makeBodies(): { gzip: Buffer; rawBytes: number; ndjsonGzip: Buffer }[] {
  const random = prng(11);
  const bodies = [];
  for (let b = 0; b < DISTINCT_BODIES; b++) {
    const seconds = 1_768_473_000 + b;
    const records = Array.from({ length: chunkEvents }, (_, i) => viaqRecord(random, b * chunkEvents + i));
    const raw = Buffer.concat(records.map((r, i) => encodeWithEventTime([eventTime(seconds, i * 1_000), r])));
    const ndjson = `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
    bodies.push({ gzip: gzipSync(raw), rawBytes: raw.length, ndjsonGzip: gzipSync(ndjson) });
  }
  return bodies;
}

function frame(body: Buffer, chunk: string): Buffer {
  const header = Buffer.alloc(5);
  header[0] = 0xc6; // bin32
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([
    Buffer.from([0x93]),
    encode('kubernetes.var.log.containers'),
    header,
    body,
    encode({ chunk, compressed: 'gzip', size: chunkEvents }),
  ]);
}

/** One connection: reads the server's answers in order. */
async function openConnection(port: number): Promise<{ socket: Socket; next(): Promise<unknown> }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const scanner = createFrameScanner(1024 * 1024);
  const decoder = new Decoder();
  const queue: unknown[] = [];
  const waiters: ((v: unknown) => void)[] = [];
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
    for (;;) {
      const scan = scanner.scan(pending);
      if (scan.status !== 'complete') break;
      const value = decoder.decode(pending.subarray(0, scan.bytes));
      pending = pending.subarray(scan.bytes);
      scanner.reset();
      const waiter = waiters.shift();
      if (waiter) waiter(value);
      else queue.push(value);
    }
  });
  socket.on('close', () => {
    if (waiters.length > 0) {
      process.stderr.write('The server closed a connection.\n');
      process.exit(2);
    }
  });
  return {
    socket,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))),
  };
}

async function login(conn: Awaited<ReturnType<typeof openConnection>>): Promise<void> {
  const [, { nonce }] = (await conn.next()) as [string, { nonce: Uint8Array }];
  const salt = randomBytes(16);
  const hostname = 'bench-client';
  const digest = createHash('sha512').update(salt).update(hostname).update(nonce).update(SHARED_KEY).digest('hex');
  conn.socket.write(encode(['PING', hostname, salt, digest, '', '']));
  const pong = (await conn.next()) as unknown[];
  if (pong[1] !== true) throw new Error(`Login failed: ${String(pong[2])}`);
}

async function runClient(port: number): Promise<void> {
  const bodies = makeBodies();
  const conns = await Promise.all(Array.from({ length: connections }, () => openConnection(port)));
  await Promise.all(conns.map(login));
  let bodyIndex = 0;
  /** Sends `chunks` chunks over every connection, each waiting for its ack. */
  const send = async (chunks: number): Promise<{ events: number; rawBytes: number; wireBytes: number }> => {
    let next = 0;
    let rawBytes = 0;
    let wireBytes = 0;
    await Promise.all(
      conns.map(async (conn) => {
        while (next < chunks) {
          next++;
          const body = bodies[bodyIndex++ % bodies.length]!;
          const chunk = randomBytes(16).toString('base64');
          const bytes = frame(body.gzip, chunk);
          rawBytes += body.rawBytes;
          wireBytes += bytes.length;
          conn.socket.write(bytes);
          const answer = (await conn.next()) as { ack?: string };
          if (answer.ack !== chunk) throw new Error(`Expected the ack of ${chunk}, got ${JSON.stringify(answer)}.`);
        }
      }),
    );
    return { events: chunks * chunkEvents, rawBytes, wireBytes };
  };
  await send(Math.ceil(warmupEvents / chunkEvents));
  process.stdout.write(`${JSON.stringify({ phase: 'measure' })}\n`);
  const started = performance.now();
  const sent = await send(Math.ceil(measuredEvents / chunkEvents));
  const wallMs = performance.now() - started;
  process.stdout.write(`${JSON.stringify({ phase: 'done', wallMs, ...sent })}\n`);
  for (const conn of conns) conn.socket.end();
}

// ————— Server (this process) —————

interface CpuFigure {
  cpuMs: number;
  eventsPerCpuSecond: number;
}

function cpuFigure(events: number, work: () => number): CpuFigure {
  const before = process.cpuUsage();
  const checksum = work();
  const cpu = process.cpuUsage(before);
  if (checksum === 0) throw new Error('The measured work did nothing.');
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { cpuMs: Math.round(cpuMs), eventsPerCpuSecond: Math.round(events / (cpuMs / 1000)) };
}

/**
 * Two in-process references on the same records: the floor (gunzip, decode and JSON-encode
 * the chunks, storing nothing; the distance from it to the full run is framing, key mapping
 * and the buffer), and gunzip + JSON.parse of the records as NDJSON, the baseline row of
 * `npm run bench`, to compare this machine's state with the runs in docs/benchmarks.md.
 */
function measureReferences(events: number): { floor: CpuFigure; calibration: CpuFigure } {
  const bodies = makeBodies();
  const chunks = Math.ceil(events / chunkEvents);
  const floor = cpuFigure(chunks * chunkEvents, () => {
    let bytes = 0;
    for (let i = 0; i < chunks; i++) {
      for (const entry of readEntries(gunzipSync(bodies[i % bodies.length]!.gzip))) {
        if (entry.ok) bytes += JSON.stringify(entry.entry.record).length;
      }
    }
    return bytes;
  });
  const calibration = cpuFigure(chunks * chunkEvents, () => {
    let fields = 0;
    for (let i = 0; i < chunks; i++) {
      const text = gunzipSync(bodies[i % bodies.length]!.ndjsonGzip).toString('utf8');
      for (const line of text.split('\n')) if (line) fields += Object.keys(JSON.parse(line) as object).length;
    }
    return fields;
  });
  return { floor, calibration };
}

interface ClientLine {
  phase: 'measure' | 'done';
  wallMs?: number;
  events?: number;
  rawBytes?: number;
  wireBytes?: number;
}

async function runServer(): Promise<void> {
  const pin = hasTaskset();
  if (pin) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });
  measureReferences(warmupEvents); // warm up, as the client's warm-up does for the server
  const references = measureReferences(process.env['BENCH_FORWARD_SKIP_REFERENCES'] ? chunkEvents : measuredEvents);
  const { floor, calibration } = references;
  const dataDir = await mkdtemp(join(tmpdir(), 'tlr-bench-forward-'));
  const stores = openLocalStores(dataDir);
  const server = createForwardServer({
    config: validateForwardConfig({ port: 0, maxBufferedBytes: Number.MAX_SAFE_INTEGER }),
    auth: validateForwardAuthConfig({ shared_key: SHARED_KEY }),
    buffer: process.env['BENCH_FORWARD_NULL_BUFFER'] ? { ...stores.ingestBuffer, append: async () => {} } : stores.ingestBuffer,
    logger: silentLogger,
    registry: new Registry(),
  });
  const { port } = await server.listen();
  const script = fileURLToPath(import.meta.url);
  const command = pin ? 'taskset' : process.execPath;
  const args = [...(pin ? ['-c', '1', process.execPath] : []), ...process.execArgv, script, 'client', String(port)];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));

  let cpuBefore = process.cpuUsage();
  let done: ClientLine | undefined;
  let cpuMs = 0;
  let systemMs = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    const message = JSON.parse(line) as ClientLine;
    if (message.phase === 'measure') {
      cpuBefore = process.cpuUsage();
    } else {
      const cpu = process.cpuUsage(cpuBefore);
      cpuMs = (cpu.user + cpu.system) / 1000;
      systemMs = cpu.system / 1000;
      done = message;
    }
  }
  const code = await exited;
  const buffered = (await stores.ingestBuffer.pendingGroups()).reduce((n, g) => n + g.events, 0);
  await server.close();
  stores.close();
  await rm(dataDir, { recursive: true, force: true });
  if (code !== 0 || !done) throw new Error(`The client failed (exit ${code}).`);

  const events = done.events!;
  const wallMs = done.wallMs!;
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    pinned: pin,
    connections,
    chunkEvents,
    events,
    bufferedAll: buffered,
    wallMs: Math.round(wallMs),
    serverCpuMs: Math.round(cpuMs),
    /** Of which in the kernel: socket reads, WAL writes, fsync. */
    serverSystemMs: Math.round(systemMs),
    eventsPerSecond: Math.round(events / (wallMs / 1000)),
    eventsPerCpuSecond: Math.round(events / (cpuMs / 1000)),
    bytesPerEvent: Math.round(done.rawBytes! / events),
    gzipRatio: Math.round((done.rawBytes! / done.wireBytes!) * 10) / 10,
    floor,
    calibration,
  };
  console.log('| scenario | events | wall ms | CPU ms | events/s | events/CPU-s |');
  console.log('|---|---|---|---|---|---|');
  console.log(
    `| calibration: gunzip + JSON.parse of the records as NDJSON | ${events} | – | ${calibration.cpuMs} | – | ` +
      `${calibration.eventsPerCpuSecond} |`,
  );
  console.log(`| floor: gunzip + decode + JSON, nothing stored | ${events} | – | ${floor.cpuMs} | – | ${floor.eventsPerCpuSecond} |`);
  console.log(
    `| Forward → buffer, ${connections} connections, ${chunkEvents} events/chunk, acked | ${events} | ${result.wallMs} | ` +
      `${result.serverCpuMs} | ${result.eventsPerSecond} | ${result.eventsPerCpuSecond} |`,
  );
  console.log(
    `server CPU in the kernel: ${result.serverSystemMs} ms; msgpack bytes/event: ${result.bytesPerEvent}, ` +
      `gzip ratio: ${result.gzipRatio}, pinned: ${pin}`,
  );
  // Run from dist/bench/: results go to bench/out/ in the source tree, as the other benches' do.
  const outDir = join(here, '..', '..', 'bench', 'out');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'forward-results.json'), `${JSON.stringify(result, null, 2)}\n`);
  const expected = events + Math.ceil(warmupEvents / chunkEvents) * chunkEvents;
  if (buffered !== expected) throw new Error(`The buffer holds ${buffered} events, expected ${expected}.`);
}

if (process.argv[2] === 'client') {
  await runClient(Number(process.argv[3]));
} else {
  await runServer();
}
