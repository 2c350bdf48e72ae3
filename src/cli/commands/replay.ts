import type { Command } from 'commander';
import { replayTenant } from '../../admin/index.js';
import { parseRfc3339Ms } from '../../domain/index.js';
import { CliError, type CliIo, type GlobalOptions, toJson, withStores } from '../context.js';

function parseTime(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  // RFC 3339 only: Date.parse would read 'March 1' as 2001 and zone-less times as local time.
  const ms = parseRfc3339Ms(value.trim());
  if (ms === undefined) {
    throw new CliError(`${flag} '${value}' is not an RFC 3339 time with a zone (e.g. 2024-01-15T10:00:00Z).`);
  }
  return ms;
}

/** `tlr replay`: re-deliver a tenant's objects of a time range. */
export function registerReplayCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  program
    .command('replay')
    .description("Re-deliver a tenant's logs of a time range (for a tenant that fixed its destination).")
    .requiredOption('--tenant <tenant>', 'the tenant (namespace)')
    .option('--since <time>', 'from this time (inclusive, RFC 3339)')
    .option('--until <time>', 'up to this time (exclusive, RFC 3339)')
    .option('--destination <type...>', 'only these config types (default: every matching destination)')
    .action(async (options: { tenant: string; since?: string; until?: string; destination?: string[] }) => {
      const sinceMs = parseTime(options.since, '--since');
      const untilMs = parseTime(options.until, '--until');
      if (sinceMs !== undefined && untilMs !== undefined && untilMs <= sinceMs) {
        throw new CliError('--until must be later than --since.');
      }
      await withStores(globals(), async (stores) => {
        let lastReportMs = Date.now();
        if (!stores.objects) throw new CliError('Replay needs the central bucket: set SOURCE_BUCKET.');
        const result = await replayTenant(stores.objects, stores.queue, {
          tenantId: options.tenant,
          ...(sinceMs !== undefined && { sinceMs }),
          ...(untilMs !== undefined && { untilMs }),
          ...(options.destination !== undefined && { destinations: options.destination }),
          onProgress: (queued) => {
            if (Date.now() - lastReportMs < 1_000) return;
            lastReportMs = Date.now();
            io.err(`Queued ${queued} objects so far.\n`);
          },
        });
        if (globals().json) {
          io.out(toJson(result));
          return;
        }
        io.out(
          `Queued ${result.queued} object(s) of tenant '${options.tenant}' for replay ${result.replayId}; ` +
            'a running `tlr up` delivers them.\n',
        );
        if (result.undated > 0)
          io.out(
            `${result.undated} object(s) had no time in their name; their last-modified time was used.\n`,
          );
      });
    });
}
