import { createGzip } from 'node:zlib';
import { createLogGenerator } from '../src/demo/log-generator.js';
import type { ObjectStore } from '../src/stores/ports.js';

/** Target size of one generated event as a JSON line: a typical Vector event. */
export const EVENT_BYTES = 700;

/**
 * Writes `objects` gzip NDJSON objects of `eventsPerObject` ~700-byte events each into the
 * store under tenant `bench`, returning their keys and the uncompressed bytes.
 */
export async function generateObjects(
  store: ObjectStore,
  objects: number,
  eventsPerObject: number,
  seed = 7,
): Promise<{ keys: string[]; events: number; bytes: number; gzipBytes: number }> {
  const generator = createLogGenerator({
    seed,
    clusterId: 'bench-cluster',
    tenants: [{ namespace: 'bench', applications: ['kube-controller-manager'], podsPerApplication: 1 }],
    startMs: Date.UTC(2026, 0, 1),
    targetEventBytes: EVENT_BYTES,
  });
  const keys: string[] = [];
  let bytes = 0;
  let gzipBytes = 0;
  for (let i = 0; i < objects; i++) {
    const body = await gzipLines(generator, eventsPerObject);
    bytes += body.raw;
    gzipBytes += body.gzip.length;
    const key = `bench-cluster/bench/kube-controller-manager/kube-controller-manager-0/20260101-000000-${String(i).padStart(6, '0')}.json.gz`;
    await store.put(key, body.gzip);
    keys.push(key);
  }
  return { keys, events: objects * eventsPerObject, bytes, gzipBytes };
}

/** Gzips `count` generated events, streaming so a 64 MB object never sits uncompressed in memory twice. */
export async function gzipLines(
  generator: ReturnType<typeof createLogGenerator>,
  count: number,
): Promise<{ gzip: Buffer; raw: number }> {
  const gzip = createGzip({ level: 6 });
  const chunks: Buffer[] = [];
  gzip.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  let raw = 0;
  const BLOCK = 1_000;
  for (let n = 0; n < count; n += BLOCK) {
    const text = `${generator
      .take(Math.min(BLOCK, count - n))
      .map((e) => JSON.stringify(e))
      .join('\n')}\n`;
    raw += Buffer.byteLength(text);
    if (!gzip.write(text)) await new Promise((r) => gzip.once('drain', r));
  }
  gzip.end();
  await done;
  return { gzip: Buffer.concat(chunks), raw };
}
