import type { Command } from 'commander';
import { redriveDeadLetters } from '../../admin/index.js';
import type { DeadLetter } from '../../stores/ports.js';
import { CliError, type CliIo, type GlobalOptions, toJson, withStores } from '../context.js';
import { renderTable } from '../table.js';

const SHORT_ID = 8;

function findById(entries: readonly DeadLetter[], id: string): DeadLetter {
  const matches = entries.filter((e) => e.id === id || e.id.startsWith(id));
  if (matches.length === 0) throw new CliError(`No dead letter with id '${id}'.`);
  if (matches.length > 1)
    throw new CliError(`Id prefix '${id}' matches ${matches.length} dead letters; give more of it.`);
  return matches[0]!;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`--limit '${value}' must be a whole number ≥ 1.`);
  return n;
}

/** `tlr dlq list|show|redrive` on the local dead-letter store. */
export function registerDlqCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  const dlq = program.command('dlq').description('Inspect and redrive dead-lettered work.');

  dlq
    .command('list')
    .description('List dead letters, newest first.')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--all', 'include entries already redriven')
    .option('--limit <n>', 'at most this many', parseLimit, 100)
    .action(async (options: { tenant?: string; all?: boolean; limit: number }) => {
      await withStores(globals(), async (stores) => {
        const entries = await stores.deadLetters.list({
          ...(options.tenant !== undefined && { tenantId: options.tenant }),
          includeRedriven: options.all === true,
          limit: options.limit,
        });
        if (globals().json) {
          io.out(toJson(entries));
          return;
        }
        io.out(
          renderTable(
            entries,
            [
              { header: 'ID', value: (e) => e.id.slice(0, SHORT_ID) },
              { header: 'CREATED', value: (e) => new Date(e.createdAtMs).toISOString() },
              { header: 'TENANT', value: (e) => e.tenantId || '-' },
              { header: 'DESTINATION', value: (e) => e.destination },
              { header: 'REASON', value: (e) => e.reason },
              { header: 'ATTEMPTS', value: (e) => e.attempts, align: 'right' },
              { header: 'OBJECT', value: (e) => e.objectKey || '-' },
            ],
            'No dead letters.',
          ),
        );
      });
    });

  dlq
    .command('show <id>')
    .description('Print one dead letter (full id or a unique prefix) as JSON.')
    .action(async (id: string) => {
      await withStores(globals(), async (stores) => {
        const entry =
          (await stores.deadLetters.get(id)) ??
          findById(await stores.deadLetters.list({ includeRedriven: true, limit: 100_000 }), id);
        io.out(toJson(entry));
      });
    });

  dlq
    .command('redrive [ids...]')
    .description('Queue dead-lettered work again (by id, or every entry of a tenant with --tenant).')
    .option('--tenant <tenant>', 'every entry of this tenant that was not redriven yet')
    .action(async (ids: string[], options: { tenant?: string }) => {
      if (ids.length === 0 && !options.tenant)
        throw new CliError('Name dead letter ids, or a tenant with --tenant.');
      await withStores(globals(), async (stores) => {
        const all = await stores.deadLetters.list({ includeRedriven: true, limit: 100_000 });
        const entries = options.tenant
          ? all.filter((e) => e.tenantId === options.tenant && e.redrivenAtMs === undefined)
          : ids.map((id) => findById(all, id));
        const result = await redriveDeadLetters(stores.deadLetters, stores.queue, entries);
        if (globals().json) {
          io.out(toJson(result));
          return;
        }
        io.out(`Redrove ${result.redriven.length} dead letter(s); a running \`tlr up\` delivers them.\n`);
        for (const s of result.skipped) io.out(`skipped ${s.deadLetter.id.slice(0, SHORT_ID)}: ${s.why}\n`);
      });
    });
}
