/**
 * Shared pieces of the chaos and soak harness (`npm run chaos`): the router as a child
 * process, events with unique ids, an HTTP ingest sender, a checker that tails the `file`
 * destinations and counts loss and duplicates exactly, process and metrics sampling, and
 * the conditions every figure is recorded with.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem, type as osType, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyDeliveryConfigs } from '../../src/admin/index.js';
import { openLocalStores } from '../../src/runtimes/local-stores.js';
import { createBuiltinSinkRegistry } from '../../src/sinks/registry.js';

/** The repository root (this file runs from `bench/chaos` or `dist/bench/chaos`). */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return dir;
})();
export const TLR_BIN = join(ROOT, 'bin', 'tlr.js');
/** Where the report and its data go. */
export const REPORT_DIR = process.env['CHAOS_OUT'] ?? join(ROOT, 'docs', 'reliability');

/** Ten tenants: A is the one whose destination misbehaves in the isolation scenario. */
export const TENANTS: readonly string[] = 'abcdefghij'.split('').map((c) => `tenant-${c}`);
/** A static ingest token (`TLR_INGEST_TOKEN`) for cluster `local`, so restarts keep it. */
export const INGEST_TOKEN = 'chaos-ingest-token-0123456789abcdef0123456789';
const MESSAGE_PAD = 'x'.repeat(120);

/** Mulberry32: a small seeded PRNG, so kill points and faults repeat for a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One event as the checker reads it back: `seq` unique per run, `sent_ms` when it left the harness. */
export interface ChaosEvent {
  readonly message: string;
  readonly timestamp: string;
  readonly cluster_id: string;
  readonly namespace: string;
  readonly application: string;
  readonly pod_name: string;
  readonly seq: number;
  readonly sent_ms: number;
}

/** An event of `tenant` with id `seq`, stamped now (~250 bytes as NDJSON). */
export function chaosEvent(tenant: string, seq: number, clusterId = 'local', nowMs = Date.now()): ChaosEvent {
  return {
    message: `chaos event ${seq} of ${tenant} ${MESSAGE_PAD}`,
    timestamp: new Date(nowMs).toISOString(),
    cluster_id: clusterId,
    namespace: tenant,
    application: 'app',
    pod_name: 'app-0',
    seq,
    sent_ms: nowMs,
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A temporary directory removed by {@link removeTemp}. */
export async function makeTemp(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeTemp(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** One `file` destination per tenant, `<outDir>/<tenant>`, written into the data directory's config store. */
export async function seedFileConfigs(dataDir: string, outDir: string, tenants = TENANTS): Promise<void> {
  const stores = openLocalStores(dataDir);
  try {
    await applyDeliveryConfigs(
      stores.configs,
      createBuiltinSinkRegistry(),
      tenants.map((tenant) => ({ tenant_id: tenant, type: 'file', directory: join(outDir, tenant) })),
    );
  } finally {
    stores.close();
  }
}

/** A child process of the harness, stopped by its own PID. */
export interface Child {
  readonly pid: number;
  readonly exited: Promise<number | null>;
  /** The last 8 KiB of its stdout and stderr. */
  output(): string;
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

const children = new Set<ChildProcess>();

/** Spawns a process whose output is kept (tail) and which is killed by PID when the harness exits. */
export function spawnChild(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd = ROOT): Child {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-8_192);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? -1 : null));
    }),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid!,
    exited,
    output: () => out,
    async kill9() {
      if (alive()) process.kill(child.pid!, 'SIGKILL');
      await exited;
    },
    async stop(graceMs = 15_000) {
      if (alive()) process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => {
        if (alive()) process.kill(child.pid!, 'SIGKILL');
      }, graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Kills (SIGKILL, by PID) every child the harness started and did not stop. */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}
process.once('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllChildren();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/** A running `tlr up`. */
export interface RouterUp extends Child {
  readonly url: string;
}

/**
 * Starts `node bin/tlr.js --data-dir <dir> up --port 0` with a fixed ingest token and waits
 * until it prints its URL.
 * @throws when the project is not built or the router exits or hangs before listening
 */
export async function startRouterUp(dataDir: string, extraArgs: readonly string[] = []): Promise<RouterUp> {
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error("Run 'npm run build' first.");
  const child = spawnChild(process.execPath, [TLR_BIN, '--data-dir', dataDir, 'up', '--port', '0', ...extraArgs], {
    ...process.env,
    LOG_LEVEL: 'warn',
    TLR_INGEST_TOKEN: INGEST_TOKEN,
  });
  const deadline = Date.now() + 30_000;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  for (;;) {
    const match = /tlr is up at (http:\/\/\S+)/.exec(child.output());
    if (match) return { ...child, url: match[1]! };
    if (exited) throw new Error(`tlr up exited before listening:\n${child.output()}`);
    if (Date.now() > deadline) {
      await child.kill9();
      throw new Error(`tlr up did not listen within 30 s:\n${child.output()}`);
    }
    await sleep(50);
  }
}

/** What one POST to the ingest came to: `acked` only on a 200 (the events are durable then). */
export type PostOutcome = 'acked' | 'failed';

/**
 * POSTs events as NDJSON; waits out 429/503 back-pressure (bounded), never retries a request
 * whose outcome is unknown (connection lost), so an acknowledged event is exactly one the router took.
 */
export async function postBatch(url: string, events: readonly object[], maxBackoffs = 60): Promise<PostOutcome> {
  const body = `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
  for (let attempt = 0; attempt <= maxBackoffs; attempt++) {
    let response: Response;
    try {
      response = await fetch(`${url}/api/v1/ingest`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${INGEST_TOKEN}` },
        body,
        signal: AbortSignal.timeout(60_000),
      });
    } catch {
      return 'failed';
    }
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return 'acked';
    if (response.status !== 429 && response.status !== 503) return 'failed';
    await sleep(500);
  }
  return 'failed';
}

/** Per destination: what arrived, counted exactly by `seq`. */
export interface DestinationCount {
  readonly seen: Map<number, number>;
  lines: number;
  duplicates: number;
  /** Contiguous runs of repeated lines in one file: one repeated batch makes one run. */
  duplicateRuns: number;
  /** Lines of another tenant, or not JSON. */
  unexpected: number;
  /** Arrival latency (checker time − `sent_ms`) of first arrivals, ms. */
  readonly latencies: number[];
}

interface TailState {
  offset: number;
  inRun: boolean;
  partial: string;
}

/**
 * Tails every `.ndjson` file under one directory per tenant, reading only appended bytes, and
 * counts each line by tenant and `seq`. Only newline-terminated lines count (a torn tail is
 * an append in progress, or one a crash tore, which the next append cuts off).
 */
export class DestinationChecker {
  readonly counts = new Map<string, DestinationCount>();
  private readonly files = new Map<string, TailState>();
  /** Called for each first arrival, with the tenant, the event and the checker's clock. */
  onArrival?: (tenant: string, event: { seq: number; sent_ms?: number }, nowMs: number) => void;

  constructor(
    private readonly outDir: string,
    readonly tenants: readonly string[] = TENANTS,
    private readonly keepLatencies = true,
  ) {
    for (const tenant of tenants) {
      this.counts.set(tenant, { seen: new Map(), lines: 0, duplicates: 0, duplicateRuns: 0, unexpected: 0, latencies: [] });
    }
  }

  /** Reads what was appended since the last poll. */
  async poll(): Promise<void> {
    for (const tenant of this.tenants) {
      const dir = join(this.outDir, tenant);
      let entries: string[];
      try {
        entries = ((await readdir(dir, { recursive: true })) as string[]).filter((e) => e.endsWith('.ndjson')).sort();
      } catch {
        continue;
      }
      for (const entry of entries) await this.readFile(tenant, join(dir, entry));
    }
  }

  private async readFile(tenant: string, path: string): Promise<void> {
    const state = this.files.get(path) ?? { offset: 0, inRun: false, partial: '' };
    this.files.set(path, state);
    const size = (await stat(path)).size;
    if (size <= state.offset) return;
    const handle = await open(path, 'r');
    let text: string;
    try {
      const buffer = Buffer.alloc(size - state.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, state.offset);
      text = buffer.subarray(0, bytesRead).toString('utf8');
      state.offset += bytesRead;
    } finally {
      await handle.close();
    }
    const lines = (state.partial + text).split('\n');
    state.partial = lines.pop() ?? '';
    const now = Date.now();
    const count = this.counts.get(tenant)!;
    for (const line of lines) {
      if (line === '') continue;
      count.lines++;
      let event: { namespace?: unknown; seq?: unknown; sent_ms?: unknown };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        count.unexpected++;
        continue;
      }
      if (event.namespace !== tenant || typeof event.seq !== 'number') {
        count.unexpected++;
        continue;
      }
      const times = count.seen.get(event.seq) ?? 0;
      count.seen.set(event.seq, times + 1);
      if (times > 0) {
        count.duplicates++;
        if (!state.inRun) count.duplicateRuns++;
        state.inRun = true;
        continue;
      }
      state.inRun = false;
      const sentMs = typeof event.sent_ms === 'number' ? event.sent_ms : undefined;
      if (this.keepLatencies && sentMs !== undefined) count.latencies.push(now - sentMs);
      this.onArrival?.(tenant, { seq: event.seq, ...(sentMs !== undefined && { sent_ms: sentMs }) }, now);
    }
  }

  /** Distinct events seen across every tenant. */
  distinct(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c.seen.size;
    return n;
  }

  /** Of `expected` (tenant → seqs), how many have not arrived. */
  missing(expected: ReadonlyMap<string, readonly number[] | ReadonlySet<number>>): number {
    let n = 0;
    for (const [tenant, seqs] of expected) {
      const seen = this.counts.get(tenant)?.seen;
      for (const seq of seqs) if (!seen?.has(seq)) n++;
    }
    return n;
  }
}

/** Percentile (nearest rank) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** RSS (kB, `VmRSS`) and open file descriptors of a process, from `/proc`. */
export async function processStats(pid: number): Promise<{ rssKb: number; fds: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    return { rssKb, fds };
  } catch {
    return undefined;
  }
}

/** Prometheus text of `/metrics`, as `name{labels}` → value. */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

/** Sum of every series of a metric whose labels contain `labelPart` (e.g. `state="visible"`). */
export function metricSum(metrics: ReadonlyMap<string, number>, name: string, labelPart = ''): number {
  let sum = 0;
  for (const [key, value] of metrics) {
    if ((key === name || key.startsWith(`${name}{`)) && key.includes(labelPart)) sum += value;
  }
  return sum;
}

/** The machine and moment a figure was measured on. */
export interface Conditions {
  readonly date: string;
  readonly node: string;
  readonly cores: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly os: string;
  /** 1-minute load average when the scenario started and ended. */
  readonly loadAverage: readonly number[];
}

export function conditionsNow(): Conditions {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    os: `${osType()} ${release()}`,
    loadAverage: [Number(loadavg()[0]!.toFixed(2))],
  };
}

/** Conditions with the load average at the end appended. */
export function finishConditions(c: Conditions): Conditions {
  return { ...c, loadAverage: [...c.loadAverage, Number(loadavg()[0]!.toFixed(2))] };
}

/** Reads an integer knob from the environment. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}='${raw}' is not a non-negative number.`);
  return n;
}

/** Waits until `check` is true, polling every `everyMs`, at most `timeoutMs`; returns whether it became true. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, everyMs = 500): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}
