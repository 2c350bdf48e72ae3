/**
 * `npm run bench:api`: authenticated GETs per second against the delivery-config API on
 * the SQLite store. The server runs in a child process (one Node thread: one core for the
 * request path; pinned to CPU 0 with `taskset` when available), the load generator here
 * (pinned to CPU 1). Every request is signed anew, as a client would. Prints a table and
 * writes bench/out/api-load.json.
 * Options: BENCH_API_SECONDS (default 10), BENCH_API_CONNECTIONS (32), BENCH_API_TENANTS (1000).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { signRequest } from '../src/api/auth/hmac.js';
import { openLocalStores } from '../src/runtimes/local-stores.js';

const here = dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env['BENCH_API_SECONDS'] ?? 10);
const connections = Number(process.env['BENCH_API_CONNECTIONS'] ?? 32);
const tenants = Number(process.env['BENCH_API_TENANTS'] ?? 1_000);
const WARMUP_MS = 2_000;
const PSK = 'bench-api-pre-shared-key-0123456789';

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
}

async function seed(dataDir: string): Promise<void> {
  const stores = openLocalStores(dataDir);
  try {
    const stamp = new Date().toISOString();
    for (let i = 0; i < tenants; i++) {
      const tenant = `tenant-${i}`;
      await stores.configs.put({
        tenant_id: tenant,
        type: 'cloudwatch',
        enabled: true,
        desired_logs: [],
        groups: ['api'],
        log_group_name: `/tenants/${tenant}`,
        log_distribution_role_arn: `arn:aws:iam::${String(100000000000 + i)}:role/log-distribution`,
        created_at: stamp,
        updated_at: stamp,
      });
      await stores.configs.put({
        tenant_id: tenant,
        type: 's3',
        enabled: true,
        desired_logs: ['kube-apiserver'],
        groups: [],
        bucket_name: `tenant-${i}-logs`,
        bucket_prefix: 'logs/',
        created_at: stamp,
        updated_at: stamp,
      });
    }
  } finally {
    stores.close();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tlr-bench-api-'));
  await seed(dataDir);
  const pin = hasTaskset();
  if (pin) execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const serverScript = join(here, 'api-server.js');
  const command = pin ? 'taskset' : process.execPath;
  const args = pin ? ['-c', '0', process.execPath, serverScript, dataDir] : [serverScript, dataDir];
  const child = spawn(command, args, { env: { ...process.env, TLR_API_PSK: PSK }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  const { port } = JSON.parse(String(first.value)) as { port: number };

  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const get = (path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const headers = signRequest({ method: 'GET', pathAndQuery: path, timestamp: new Date().toISOString(), key: PSK });
      const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent, headers: { ...headers } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });

  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let measuring = false;
  let stop = false;
  /** Every request, warm-up included: the server's CPU time covers them all. */
  let total = 0;
  const loop = async (n: number) => {
    let i = n;
    while (!stop) {
      i = (i + connections) % tenants;
      const path = i % 4 === 0 ? `/api/v1/tenants/tenant-${i}/delivery-configs` : `/api/v1/tenants/tenant-${i}/delivery-configs/cloudwatch`;
      const started = performance.now();
      const status = await get(path);
      total++;
      if (measuring) {
        latencies.push(performance.now() - started);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }
  };
  const loops = Array.from({ length: connections }, (_, n) => loop(n));
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const wallMs = performance.now() - started;
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  child.kill('SIGTERM');
  const last = await lines.next();
  const { cpuMs } = JSON.parse(String(last.value)) as { cpuMs: number };
  await rm(dataDir, { recursive: true, force: true });

  latencies.sort((a, b) => a - b);
  const ok = statuses.get(200) ?? 0;
  const result = {
    bench: 'api-load',
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    serverPinnedToOneCore: pin,
    connections,
    tenants,
    seconds: Math.round(wallMs) / 1000,
    requests: latencies.length,
    ok,
    statuses: Object.fromEntries(statuses),
    requestsPerSecond: Math.round((ok / wallMs) * 1000),
    p50Ms: Math.round(percentile(latencies, 50) * 100) / 100,
    p99Ms: Math.round(percentile(latencies, 99) * 100) / 100,
    // Includes the warm-up: CPU per wall second of the server process over the whole run.
    serverCpuMs: Math.round(cpuMs),
    serverCpuPerRequestMs: Math.round((cpuMs / Math.max(1, total)) * 1000) / 1000,
    /** What one core could serve at that cost: the server's ceiling, beyond the generator's. */
    serverCapacityPerCore: Math.round(1000 / Math.max(0.001, cpuMs / Math.max(1, total))),
  };
  process.stdout.write(
    [
      `api-load: ${result.requestsPerSecond} authenticated GETs/s (${ok} × 200 in ${result.seconds} s, ${connections} connections)`,
      `  latency p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms; statuses ${JSON.stringify(result.statuses)}`,
      `  server pinned to one core: ${pin}; server CPU ${result.serverCpuPerRequestMs} ms per request ` +
        `(one core's ceiling ≈ ${result.serverCapacityPerCore} requests/s)`,
      `  ${result.node}, ${result.cores} × ${result.cpu}`,
      '',
    ].join('\n'),
  );
  const outDir = join(here, '..', '..', 'bench', 'out');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'api-load.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (ok !== latencies.length) {
    process.stderr.write('Some requests did not answer 200; see the statuses above.\n');
    process.exitCode = 1;
  }
}

await main();
