/**
 * Child process of the benchmark: processes one object to the null destination and
 * reports its peak RSS, so memory from generating the data does not count.
 * Usage: node dist/bench/rss-probe.js <dataDir> <key>
 */
import { benchProcessor } from './harness.js';

const [dataDir, key] = process.argv.slice(2);
if (!dataDir || !key) {
  process.stderr.write('Usage: rss-probe <dataDir> <key>\n');
  process.exit(2);
}
const SAMPLE_MS = 5;
const { processor, close } = await benchProcessor(dataDir, { type: 'null' });
global.gc?.();
const baselineRss = process.memoryUsage.rss();
let peakRss = baselineRss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, SAMPLE_MS);
const started = performance.now();
const outcome = await processor.processItem({ key, attempt: 0 }, new AbortController().signal);
const elapsedMs = performance.now() - started;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage.rss());
await close();
process.stdout.write(
  `${JSON.stringify({
    baselineRssBytes: baselineRss,
    peakRssBytes: peakRss,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    records: outcome.stats?.records ?? 0,
    result: outcome.result,
    elapsedMs,
  })}\n`,
);
