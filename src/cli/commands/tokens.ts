import type { Command } from 'commander';
import { CliError, type CliIo, type GlobalOptions, toJson, withLocalStores } from '../context.js';
import { renderTable } from '../table.js';

/** `tlr tokens create|list|revoke`: ingest tokens bound to a cluster and namespaces. */
export function registerTokensCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  const tokens = program
    .command('tokens')
    .description('Manage ingest tokens (each bound to a cluster and namespaces).');

  tokens
    .command('create')
    .description('Create an ingest token; it is printed once.')
    .requiredOption('--cluster <id>', 'the cluster id the token writes as')
    .option('--namespaces <list>', "comma-separated namespaces or globs ('team-*'); default '*'", '*')
    .option('--description <text>', 'a note shown by `tokens list`')
    .action(async (options: { cluster: string; namespaces: string; description?: string }) => {
      const namespaces = options.namespaces
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== '');
      if (namespaces.length === 0)
        throw new CliError('--namespaces needs at least one namespace or pattern.');
      await withLocalStores(globals(), async (stores) => {
        const created = await stores.tokens.create({
          clusterId: options.cluster,
          namespaces,
          ...(options.description !== undefined && { description: options.description }),
        });
        if (globals().json) io.out(toJson({ ...created, clusterId: options.cluster, namespaces }));
        else
          io.out(
            `Token ${created.id} for cluster '${options.cluster}' (${namespaces.join(', ')}):\n${created.token}\n`,
          );
      });
    });

  tokens
    .command('list')
    .description('List ingest tokens (without secrets).')
    .action(async () => {
      await withLocalStores(globals(), async (stores) => {
        const bindings = await stores.tokens.list();
        if (globals().json) {
          io.out(toJson(bindings));
          return;
        }
        io.out(
          renderTable(
            bindings,
            [
              { header: 'ID', value: (b) => b.id },
              { header: 'CLUSTER', value: (b) => b.clusterId },
              { header: 'NAMESPACES', value: (b) => b.namespaces.join(', ') },
              { header: 'CREATED', value: (b) => new Date(b.createdAtMs).toISOString() },
              { header: 'DESCRIPTION', value: (b) => b.description ?? '' },
            ],
            'No ingest tokens.',
          ),
        );
      });
    });

  tokens
    .command('revoke <id>')
    .description('Revoke an ingest token.')
    .action(async (id: string) => {
      await withLocalStores(globals(), async (stores) => {
        if (!(await stores.tokens.revoke(id))) throw new CliError(`No ingest token with id '${id}'.`);
        io.out(`revoked ${id}\n`);
      });
    });
}
