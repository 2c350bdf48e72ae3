/**
 * `npm run chaos`: the full chaos profile, one scenario after the other, each writing its JSON
 * into `docs/reliability/` (or `CHAOS_OUT`), then the report (README.md, results.json, SVG plots).
 *
 * - (a) isolation: `CHAOS_ISOLATION_SECONDS` (60) of feed per mode, `CHAOS_ISOLATION_EVENTS` (50) per object
 * - (b) kill -9: `CHAOS_EVENTS` (1,000,000) events, `CHAOS_KILLS` (20) kills
 * - (c) AWS outage: `CHAOS_OUTAGE_OBJECTS` (10 per tenant) × `CHAOS_OUTAGE_EVENTS` (1,000), `CHAOS_PAUSE_SECONDS` (20),
 *   `CHAOS_BLACKOUT_SECONDS` (20), `CHAOS_THROTTLE` (0.2)
 * - (d) soak: `CHAOS_SOAK_MINUTES` (30; 0 skips it) at `CHAOS_SOAK_RATE` (500) events/s
 *
 * `CHAOS_SCENARIOS` (comma-separated: isolation,kill9,outage,soak) runs a subset; `CHAOS_SEED` (1) seeds kill
 * points and fault draws. Exit status 1 when a scenario lost an event or repeated more than the bound.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runIsolation } from './isolation.js';
import { runKill } from './kill.js';
import { envNumber, REPORT_DIR } from './lib.js';
import { runOutage } from './outage.js';
import { writeReport } from './report.js';
import { runSoak } from './soak.js';

const selected = new Set((process.env['CHAOS_SCENARIOS'] ?? 'isolation,kill9,outage,soak').split(','));
const seed = envNumber('CHAOS_SEED', 1);
let failed = false;
await mkdir(REPORT_DIR, { recursive: true });
const save = async (name: string, value: unknown) => {
  await writeFile(join(REPORT_DIR, name), `${JSON.stringify(value, null, 1)}\n`);
};

if (selected.has('isolation')) {
  process.stderr.write('(a) isolation\n');
  const result = await runIsolation({
    seconds: envNumber('CHAOS_ISOLATION_SECONDS', 60),
    eventsPerObject: envNumber('CHAOS_ISOLATION_EVENTS', 50),
    seed,
  });
  await save('isolation.json', result);
  failed ||= result.modes.some((m) => m.othersLost > 0);
}
if (selected.has('kill9')) {
  process.stderr.write('(b) kill -9\n');
  const result = await runKill({ events: envNumber('CHAOS_EVENTS', 1_000_000), kills: envNumber('CHAOS_KILLS', 20), seed });
  await save('kill9.json', result);
  failed ||= result.lost > 0 || !result.withinBound;
}
if (selected.has('outage')) {
  process.stderr.write('(c) AWS outage and throttling\n');
  const result = await runOutage({
    objectsPerTenant: envNumber('CHAOS_OUTAGE_OBJECTS', 10),
    eventsPerObject: envNumber('CHAOS_OUTAGE_EVENTS', 1_000),
    pauseSeconds: envNumber('CHAOS_PAUSE_SECONDS', 20),
    blackoutSeconds: envNumber('CHAOS_BLACKOUT_SECONDS', 20),
    throttle: envNumber('CHAOS_THROTTLE', 0.2),
    seed,
  });
  await save('aws-outage.json', result);
  failed ||= result.lost > 0 || !result.withinBound || result.deadLetters > 0;
}
const soakMinutes = envNumber('CHAOS_SOAK_MINUTES', 30);
if (selected.has('soak') && soakMinutes > 0) {
  process.stderr.write(`(d) soak, ${soakMinutes} min\n`);
  const result = await runSoak({
    minutes: soakMinutes,
    ratePerSecond: envNumber('CHAOS_SOAK_RATE', 500),
    samplesFile: join(REPORT_DIR, 'soak-samples.jsonl'),
  });
  await save('soak.json', result);
  failed ||= result.lost > 0 || !result.flat;
}
await writeReport(REPORT_DIR);
process.stderr.write(`Report written to ${join(REPORT_DIR, 'README.md')}.\n`);
process.exitCode = failed ? 1 : 0;
