import { createBuiltinSinkRegistry } from '../sinks/registry.js';
import { type ConfigApiServer, type ConfigApiServerOptions, createConfigApiApp, resolveApiAuth } from './config-api-server.js';
import { openLocalStores } from './local-stores.js';

/**
 * The config API over the SQLite stores of a data directory (`tlr api --store local`).
 * It does not take the data directory's lock: `tlr up` may run beside it (SQLite WAL).
 */
export async function openLocalConfigApi(options: ConfigApiServerOptions): Promise<ConfigApiServer> {
  const { logger, registry } = options;
  const stores = openLocalStores(options.dataDir);
  try {
    const app = createConfigApiApp(
      {
        store: stores.configs,
        audit: stores.audit,
        status: stores.status,
        deadLetters: stores.deadLetters,
        sinks: createBuiltinSinkRegistry(),
        sinkDeps: { baseDir: stores.dataDir, logger, registry },
      },
      {
        logger,
        registry,
        auth: await resolveApiAuth(options),
        storeCheck: async () => {
          stores.db.prepare('SELECT 1').get();
          return { status: 'ok' };
        },
      },
    );
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
