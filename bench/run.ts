/**
 * `npm run bench`: processor throughput from pre-generated objects to the `file` and a null
 * destination, a bare gunzip + JSON.parse baseline on the same data, and peak RSS while
 * processing one 8 MB and one 64 MB gzip object. Prints a table and writes
 * bench/out/results.json. Options: BENCH_OBJECTS (default 30), BENCH_EVENTS_PER_OBJECT (10000).
 */
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { createLogGenerator } from '../src/demo/log-generator.js';
import { createFileObjectStore } from '../src/stores/local/index.js';
import { EVENT_BYTES, generateObjects, gzipLines } from './data.js';
import { benchProcessor } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const objects = Number(process.env['BENCH_OBJECTS'] ?? 30);
const eventsPerObject = Number(process.env['BENCH_EVENTS_PER_OBJECT'] ?? 10_000);
const rssSizesMb = (process.env['BENCH_RSS_MB'] ?? '8,64').split(',').map(Number);

interface ThroughputResult {
  name: string;
  events: number;
  wallMs: number;
  cpuMs: number;
  eventsPerSecond: number;
  eventsPerCpuSecond: number;
  mbPerSecond: number;
}

async function measure(
  name: string,
  events: number,
  bytes: number,
  work: () => Promise<void>,
): Promise<ThroughputResult> {
  global.gc?.();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await work();
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    name,
    events,
    wallMs: Math.round(wallMs),
    cpuMs: Math.round(cpuMs),
    eventsPerSecond: Math.round(events / (wallMs / 1000)),
    eventsPerCpuSecond: Math.round(events / (cpuMs / 1000)),
    mbPerSecond: Math.round((bytes / 1e6 / (wallMs / 1000)) * 10) / 10,
  };
}

async function bareParse(path: string): Promise<number> {
  let n = 0;
  let carry = '';
  for await (const chunk of createReadStream(path).pipe(createGunzip({ chunkSize: 64 * 1024 }))) {
    const text = carry + (chunk as Buffer).toString('utf8');
    const lines = text.split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      JSON.parse(line);
      n++;
    }
  }
  return n;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'tlr-bench-'));
  try {
    process.stderr.write(
      `Generating ${objects} objects of ${eventsPerObject} ~${EVENT_BYTES}-byte events...\n`,
    );
    const dataDir = join(root, 'data');
    const store = createFileObjectStore({ rootDir: join(dataDir, 'objects') });
    const data = await generateObjects(store, objects, eventsPerObject);
    const results: ThroughputResult[] = [];

    results.push(
      await measure('bare gunzip + JSON.parse (baseline)', data.events, data.bytes, async () => {
        let n = 0;
        for (const key of data.keys) n += await bareParse(join(dataDir, 'objects', key));
        if (n !== data.events) throw new Error(`Baseline read ${n} events, expected ${data.events}.`);
      }),
    );

    for (const [name, destination] of [
      ['processor -> null destination', { type: 'null' }],
      ['processor -> file destination', { type: 'file', directory: join(root, 'out') }],
    ] as const) {
      // A replay id per scenario keeps each scenario's checkpoints apart on the same objects.
      const { processor, close } = await benchProcessor(dataDir, destination);
      const signal = new AbortController().signal;
      const runId = name;
      results.push(
        await measure(name, data.events, data.bytes, async () => {
          for (const key of data.keys) {
            const outcome = await processor.processItem({ key, attempt: 0, replayId: runId }, signal);
            if (outcome.result !== 'completed') throw new Error(`${key}: ${outcome.result}`);
          }
        }),
      );
      await close();
    }

    const rss: {
      sizeMb: number;
      gzipBytes: number;
      records: number;
      baselineMb: number;
      peakMb: number;
      peakOverBaselineMb: number;
    }[] = [];
    const gzipPerEvent = data.gzipBytes / data.events;
    for (const sizeMb of rssSizesMb) {
      process.stderr.write(`Generating one ~${sizeMb} MB gzip object for the RSS probe...\n`);
      const probeDir = join(root, `rss-${sizeMb}`);
      const probeStore = createFileObjectStore({ rootDir: join(probeDir, 'objects') });
      const generator = createLogGenerator({
        seed: 11,
        clusterId: 'bench-cluster',
        tenants: [{ namespace: 'bench', applications: ['kube-controller-manager'], podsPerApplication: 1 }],
        startMs: Date.UTC(2026, 0, 1),
        targetEventBytes: EVENT_BYTES,
      });
      const body = await gzipLines(generator, Math.round((sizeMb * 1024 * 1024) / gzipPerEvent));
      const key =
        'bench-cluster/bench/kube-controller-manager/kube-controller-manager-0/20260101-000000-rss.json.gz';
      await probeStore.put(key, body.gzip);
      const output = execFileSync(
        process.execPath,
        ['--expose-gc', join(here, 'rss-probe.js'), probeDir, key],
        {
          encoding: 'utf8',
        },
      );
      const probe = JSON.parse(output) as { baselineRssBytes: number; peakRssBytes: number; records: number };
      const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
      rss.push({
        sizeMb,
        gzipBytes: body.gzip.length,
        records: probe.records,
        baselineMb: mb(probe.baselineRssBytes),
        peakMb: mb(probe.peakRssBytes),
        peakOverBaselineMb: mb(probe.peakRssBytes - probe.baselineRssBytes),
      });
    }

    const conditions = {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      objects,
      eventsPerObject,
      eventBytes: Math.round(data.bytes / data.events),
      compressionRatio: Math.round((data.bytes / data.gzipBytes) * 10) / 10,
      date: new Date().toISOString(),
    };
    process.stdout.write(`\nConditions: ${JSON.stringify(conditions)}\n\n`);
    process.stdout.write(
      '| scenario | events | wall ms | CPU ms | events/s | events/CPU-s | MB/s (uncompressed) |\n|---|---|---|---|---|---|---|\n',
    );
    for (const r of results) {
      process.stdout.write(
        `| ${r.name} | ${r.events} | ${r.wallMs} | ${r.cpuMs} | ${r.eventsPerSecond} | ${r.eventsPerCpuSecond} | ${r.mbPerSecond} |\n`,
      );
    }
    process.stdout.write(
      '\n| gzip object | records | RSS before MB | peak RSS MB | peak − before MB |\n|---|---|---|---|---|\n',
    );
    for (const r of rss) {
      process.stdout.write(
        `| ${(r.gzipBytes / 1024 / 1024).toFixed(1)} MB | ${r.records} | ${r.baselineMb} | ${r.peakMb} | ${r.peakOverBaselineMb} |\n`,
      );
    }
    const outDir = join(here, '..', '..', 'bench', 'out');
    await mkdir(outDir, { recursive: true });
    await writeFile(
      join(outDir, 'results.json'),
      `${JSON.stringify({ conditions, throughput: results, rss }, null, 2)}\n`,
    );
    process.stderr.write(`\nWrote ${join(outDir, 'results.json')}\n`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
