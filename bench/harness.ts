import { Registry } from 'prom-client';
import { applyDeliveryConfigs } from '../src/admin/index.js';
import { silentLogger } from '../src/logging/index.js';
import type { Processor } from '../src/pipeline/processor.js';
import { createLocalProcessor, type LocalStores, openLocalStores } from '../src/runtimes/local-stores.js';
import { builtinSinkDefinitions, createSinkRegistry } from '../src/sinks/registry.js';
import { nullSinkDefinition } from './null-sink.js';

/** A processor on local stores in `dataDir` with tenant `bench` delivering to `destination`. */
export async function benchProcessor(
  dataDir: string,
  destination: Record<string, unknown>,
): Promise<{ processor: Processor; stores: LocalStores; close(): Promise<void> }> {
  const stores = openLocalStores(dataDir);
  const registry = new Registry();
  const sinks = createSinkRegistry([...builtinSinkDefinitions, nullSinkDefinition]);
  for (const row of await stores.configs.listTenant('bench'))
    await stores.configs.delete('bench', String(row['type']));
  await applyDeliveryConfigs(stores.configs, sinks, [{ tenant_id: 'bench', ...destination }]);
  const { processor, resolver } = createLocalProcessor(stores, { sinks, logger: silentLogger, registry });
  return {
    processor,
    stores,
    async close() {
      await resolver.close();
      stores.close();
    },
  };
}
