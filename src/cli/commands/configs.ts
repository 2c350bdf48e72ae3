import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { applyDeliveryConfigs, viewConfigRow } from '../../admin/index.js';
import { createBuiltinSinkRegistry } from '../../sinks/registry.js';
import { CliError, type CliIo, type GlobalOptions, readStdinText, toJson, withStores } from '../context.js';
import { renderTable } from '../table.js';

const PAGE = 1_000;

async function readConfigFile(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = path === '-' ? await readStdinText() : await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read '${path}': ${(error as NodeJS.ErrnoException).code ?? String(error)}.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CliError(`'${path}' is not valid JSON: ${(error as Error).message}`);
  }
  return Array.isArray(parsed) ? parsed : [parsed];
}


function filterText(row: Record<string, unknown>): string {
  const desired = Array.isArray(row['desired_logs']) ? (row['desired_logs'] as string[]) : [];
  const groups = Array.isArray(row['groups']) ? (row['groups'] as string[]) : [];
  if (desired.length === 0 && groups.length === 0) return '(all applications)';
  return [...groups.map((g) => `group:${g}`), ...desired].join(', ');
}

/** `tlr configs list|get|apply|delete` on the local store. */
export function registerConfigsCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  const configs = program
    .command('configs')
    .description("Manage tenants' delivery configs in the local store.");
  const sinks = createBuiltinSinkRegistry();

  configs
    .command('list')
    .description('List delivery configs, with whether each is usable.')
    .option('--tenant <tenant>', 'only this tenant')
    .action(async (options: { tenant?: string }) => {
      await withStores(globals(), async (stores) => {
        const rows: Record<string, unknown>[] = [];
        if (options.tenant) rows.push(...(await stores.configs.listTenant(options.tenant)));
        else {
          let cursor: string | undefined;
          do {
            const page = await stores.configs.listAll({
              limit: PAGE,
              ...(cursor !== undefined && { cursor }),
            });
            rows.push(...page.rows);
            cursor = page.nextCursor;
          } while (cursor);
        }
        const views = rows.map((row) => viewConfigRow(row, sinks));
        if (globals().json) {
          io.out(toJson(views.map((v) => ({ ...v.row, _status: v.status, _problems: v.problems }))));
          return;
        }
        io.out(
          renderTable(
            views,
            [
              { header: 'TENANT', value: (v) => v.tenantId },
              { header: 'TYPE', value: (v) => v.type },
              { header: 'ENABLED', value: (v) => String(v.row['enabled'] !== false) },
              { header: 'APPLICATIONS', value: (v) => filterText(v.row) },
              {
                header: 'STATUS',
                value: (v) => (v.problems.length ? `${v.status}: ${v.problems.join('; ')}` : v.status),
              },
            ],
            'No delivery configs. Add one with `tlr configs apply -f config.json`.',
          ),
        );
      });
    });

  configs
    .command('get <tenant> <type>')
    .description('Print one delivery config as JSON.')
    .action(async (tenant: string, type: string) => {
      await withStores(globals(), async (stores) => {
        const row = await stores.configs.get(tenant, type);
        if (!row) throw new CliError(`No delivery config '${type}' for tenant '${tenant}'.`);
        io.out(toJson(row));
      });
    });

  configs
    .command('apply')
    .description(
      'Create or replace delivery configs from a JSON file (one object or an array). All or nothing.',
    )
    .requiredOption('-f, --file <file>', "JSON file, or '-' for standard input")
    .action(async (options: { file: string }) => {
      const inputs = await readConfigFile(options.file);
      await withStores(globals(), async (stores) => {
        const results = await applyDeliveryConfigs(stores.configs, sinks, inputs);
        if (globals().json) io.out(toJson(results));
        else for (const r of results) io.out(`${r.action} ${r.tenantId}/${r.type}\n`);
      });
    });

  configs
    .command('delete <tenant> <type>')
    .description('Delete one delivery config.')
    .action(async (tenant: string, type: string) => {
      await withStores(globals(), async (stores) => {
        if (!(await stores.configs.delete(tenant, type))) {
          throw new CliError(`No delivery config '${type}' for tenant '${tenant}'.`);
        }
        io.out(`deleted ${tenant}/${type}\n`);
      });
    });
}
