import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { collectDefaultMetrics } from 'prom-client';
import { DEFAULT_HOST, DEFAULT_PORT } from '../../runtimes/embedded.js';
import { openAwsConfigApi } from '../../runtimes/config-api-aws.js';
import { openLocalConfigApi } from '../../runtimes/config-api-local.js';
import { ConfigApiStore } from '../../runtimes/config-api-server.js';
import { CliError, type CliIo, cliLogger, dataDirOf, type GlobalOptions } from '../context.js';
import { parsePort } from './up.js';

/** `tlr api`: the delivery-config API alone, over the local store or the AWS tables. */
export function registerApiCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  program
    .command('api')
    .description(
      'Serve the delivery-config API alone (no ingest, no processor). --store aws uses TENANT_CONFIG_TABLE and the ' +
        'other tables from the environment; the key comes from TLR_API_PSK, PSK_SECRET_NAME or <data-dir>/api-psk.',
    )
    .option('--host <host>', 'listen address', DEFAULT_HOST)
    .option('--port <port>', 'listen port (0 = any free port)', parsePort, DEFAULT_PORT)
    .action(async (options: { host: string; port: number }) => {
      const g = globals();
      const store = (g.store ?? process.env['TLR_STORE'] ?? ConfigApiStore.LOCAL).trim().toLowerCase();
      if (store !== ConfigApiStore.LOCAL && store !== ConfigApiStore.AWS) {
        throw new CliError(`--store must be 'local' or 'aws', got '${store}'.`);
      }
      const logger = cliLogger(g);
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      const open = store === ConfigApiStore.LOCAL ? openLocalConfigApi : openAwsConfigApi;
      const server = await open({
        store,
        dataDir: dataDirOf(g),
        env: process.env,
        logger,
        registry,
      });
      try {
        await server.app.listen({ host: options.host, port: options.port });
      } catch (error) {
        await server.close();
        throw new CliError(`Cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`);
      }
      const address = server.app.server.address();
      const url = typeof address === 'object' && address ? `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${address.port}` : '';
      io.out(`tlr api is up at ${url} (store: ${store}); docs at ${url}/api/v1/docs\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await server.close();
    });
}
