import type { Command } from 'commander';
import { runDemo, type TenantSummary } from '../../demo/index.js';
import { createLogger, LogLevel, parseLogLevel } from '../../logging/index.js';
import { CliError, type CliIo, type GlobalOptions, toJson } from '../context.js';
import { createProgressBar, type ProgressBar } from '../progress.js';
import { renderTable } from '../table.js';

function skippedText(summary: TenantSummary): string {
  const entries = Object.entries(summary.skipped);
  return entries.length === 0 ? '-' : entries.map(([why, n]) => `${n} ${why}`).join(', ');
}

/** `tlr demo`: the whole idea, end to end, in a temporary data directory. */
export function registerDemoCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  program
    .command('demo')
    .description(
      'Run a one-shot demo: several tenants with different filters, generated control-plane logs through ' +
        'ingest, store and processor to file destinations; exits 0 only if every expected event arrived once ' +
        'and none reached a wrong tenant.',
    )
    .option('--events <n>', 'events to generate', (v) => Number.parseInt(v, 10), 5_000)
    .option('--keep', 'keep the temporary data directory')
    .option('--timeout <seconds>', 'give up waiting for deliveries after this long', (v) => Number(v), 60)
    .action(async (options: { events: number; keep?: boolean; timeout: number }) => {
      if (!Number.isInteger(options.events) || options.events < 1)
        throw new CliError('--events must be a whole number ≥ 1.');
      if (!(options.timeout > 0)) throw new CliError('--timeout must be a number of seconds > 0.');
      // Quiet by default: the progress bars and the table are the output.
      const logger = createLogger({
        level: parseLogLevel(globals().logLevel ?? LogLevel.WARN),
        format: 'pretty',
      });
      const bars: Partial<Record<'ingest' | 'deliver', ProgressBar>> = {};
      const result = await runDemo({
        events: options.events,
        logger,
        keepDataDir: options.keep === true,
        timeoutMs: options.timeout * 1000,
        onProgress: (phase, done, total) => {
          if (globals().json) return;
          if (phase === 'deliver' && bars.ingest && !bars.deliver) bars.ingest.finish();
          bars[phase] ??= createProgressBar({
            label: phase === 'ingest' ? 'Ingest ' : 'Deliver',
            total,
            unit: phase === 'ingest' ? 'events' : 'deliveries',
          });
          bars[phase].update(done);
        },
      });
      bars.deliver?.finish();
      if (globals().json) io.out(toJson(result));
      else {
        io.out('\n');
        io.out(
          renderTable(result.tenants, [
            { header: 'TENANT', value: (t) => t.tenant },
            { header: 'IN', value: (t) => t.received, align: 'right' },
            { header: 'ROUTED', value: (t) => t.routed, align: 'right' },
            { header: 'DELIVERED', value: (t) => t.delivered, align: 'right' },
            { header: 'MISSING', value: (t) => t.missing, align: 'right' },
            { header: 'DUPLICATE', value: (t) => t.duplicates, align: 'right' },
            { header: 'WRONG TENANT', value: (t) => t.unexpected, align: 'right' },
            { header: 'SKIPPED (WHY)', value: skippedText },
          ]),
        );
        io.out(
          `\n${result.ok ? 'OK' : 'FAILED'}: ${
            result.ok
              ? 'every expected event arrived exactly once, and none reached another tenant'
              : 'some events are missing, duplicated or reached the wrong tenant'
          } (${(result.elapsedMs / 1000).toFixed(1)} s).\n`,
        );
        if (options.keep) io.out(`Data kept in ${result.dataDir}\n`);
      }
      if (!result.ok) throw new CliError('The demo did not deliver exactly what was expected.', 1);
    });
}
