import type { Registry } from 'prom-client';
import type { ConfigServiceDeps } from '../admin/index.js';
import type { Logger } from '../logging/index.js';
import { createBuiltinSinkRegistry } from '../sinks/registry.js';
import { type ConfigApiServer, type ConfigApiServerOptions, createConfigApiApp, resolveApiAuth } from './config-api-server.js';
import { type LocalStores, openLocalStores } from './local-stores.js';

/** What the config service works on, over the embedded stores of a data directory. */
export function localConfigServiceDeps(
  stores: LocalStores,
  logger: Logger,
  registry: Registry,
): Omit<ConfigServiceDeps, 'now'> {
  return {
    store: stores.configs,
    audit: stores.audit,
    status: stores.status,
    deadLetters: stores.deadLetters,
    sinks: createBuiltinSinkRegistry(),
    sinkDeps: { baseDir: stores.dataDir, logger, registry },
  };
}

/**
 * The config API over the SQLite stores of a data directory (`tlr api --store local`).
 * It does not take the data directory's lock: `tlr up` may run beside it (SQLite WAL).
 */
export async function openLocalConfigApi(options: ConfigApiServerOptions): Promise<ConfigApiServer> {
  const { logger, registry } = options;
  const stores = openLocalStores(options.dataDir);
  try {
    const app = createConfigApiApp(localConfigServiceDeps(stores, logger, registry), {
        logger,
        registry,
        auth: await resolveApiAuth(options),
      storeCheck: async () => {
        stores.db.prepare('SELECT 1').get();
        return { status: 'ok' };
      },
    });
    return {
      app,
      async close() {
        await app.close();
        stores.close();
      },
    };
  } catch (error) {
    stores.close();
    throw error;
  }
}
