import type { Registry } from 'prom-client';
import {
  ConfigValidationError,
  createApplicationFilter,
  destinationId,
  parseConfigType,
  readDeliveryConfig,
  readTenantSettings,
  TENANT_SETTINGS_TYPE,
  type TenantSettings,
  type ValidatedDeliveryConfig,
} from '../domain/index.js';
import type { Logger } from '../logging/index.js';
import { counter } from '../metrics/index.js';
import type { SinkRegistry } from '../sinks/registry.js';
import type { Sink, SinkDeps } from '../sinks/types.js';
import type { DeliveryConfigStore } from '../stores/ports.js';

/** A usable destination of a tenant. */
export interface ResolvedDestination {
  /** `tenant/type`. */
  readonly id: string;
  readonly type: string;
  readonly kind: string;
  readonly config: ValidatedDeliveryConfig;
  /** The application filter of the config. */
  readonly accepts: (application: string) => boolean;
  readonly sink: Sink;
}

/** A row that cannot be used; its work is dead-lettered with this error. */
export interface InvalidDestination {
  readonly type: string;
  readonly message: string;
}

export interface TenantDestinations {
  readonly destinations: readonly ResolvedDestination[];
  readonly invalid: readonly InvalidDestination[];
  /**
   * The tenant's settings row (`type = "tenant"`: rate limits, daily quota), read leniently;
   * absent when the tenant has none.
   */
  readonly settings?: TenantSettings;
}

export interface TenantDestinationResolver {
  /** The tenant's destinations, from a cache at most `ttlMs` old. */
  resolve(tenantId: string): Promise<TenantDestinations>;
  /** Drops cached rows (all tenants when none is named). */
  invalidate(tenantId?: string): void;
  /** Closes every sink built so far. */
  close(): Promise<void>;
}

export interface TenantDestinationResolverOptions {
  readonly store: DeliveryConfigStore;
  readonly sinks: SinkRegistry;
  readonly sinkDeps: SinkDeps;
  readonly logger: Logger;
  readonly registry: Registry;
  /** How long a tenant's rows are cached. */
  readonly ttlMs?: number;
  /** How long a sink replaced by a new config version keeps serving in-flight deliveries. */
  readonly retireAfterMs?: number;
  readonly now?: () => number;
}

/** Config rows change rarely and are read for every object: cache them briefly. */
export const DEFAULT_CONFIG_CACHE_TTL_MS = 5_000;
/** Longer than one object's quick retries, so no in-flight send loses its sink. */
export const DEFAULT_SINK_RETIRE_AFTER_MS = 120_000;

/**
 * Loads, validates (leniently) and caches each tenant's delivery configs, and keeps one
 * sink per config version. One bad row never hides the tenant's other rows.
 */
export function createTenantDestinationResolver(
  options: TenantDestinationResolverOptions,
): TenantDestinationResolver {
  const ttlMs = options.ttlMs ?? DEFAULT_CONFIG_CACHE_TTL_MS;
  const retireAfterMs = options.retireAfterMs ?? DEFAULT_SINK_RETIRE_AFTER_MS;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { expiresAtMs: number; value: Promise<TenantDestinations> }>();
  const sinks = new Map<string, { version: string; sink: Sink }>();
  const reported = new Set<string>();
  const invalidRows = counter(options.registry, {
    name: 'tlr_invalid_config_rows_total',
    help: 'Delivery config rows that could not be used when loaded (each distinct row version once).',
    labelNames: ['tenant'],
  });

  const reportOnce = (key: string, report: () => void) => {
    if (reported.has(key)) return;
    reported.add(key);
    report();
  };

  const sinkFor = (config: ValidatedDeliveryConfig, kind: string): Sink => {
    const id = destinationId(config);
    const version = JSON.stringify(config);
    const cached = sinks.get(id);
    if (cached?.version === version) return cached.sink;
    const definition = options.sinks.get(kind);
    if (!definition) throw new Error(`No sink registered for kind '${kind}'.`);
    const sink = definition.create(config, options.sinkDeps);
    sinks.set(id, { version, sink });
    if (cached) retire(cached.sink);
    return sink;
  };

  // Deliveries that resolved the old version may still be sending through it: close it later.
  const retiring = new Map<NodeJS.Timeout, Sink>();
  const closeQuietly = (sink: Sink) =>
    sink.close().catch((error: unknown) => options.logger.warn('Closing a replaced sink failed.', { error }));
  const retire = (sink: Sink) => {
    const timer = setTimeout(() => {
      retiring.delete(timer);
      void closeQuietly(sink);
    }, retireAfterMs);
    timer.unref();
    retiring.set(timer, sink);
  };
  const retireRemoved = (tenantId: string, present: ReadonlySet<string>) => {
    for (const [id, entry] of sinks) {
      if (id.startsWith(`${tenantId}/`) && !present.has(id)) {
        sinks.delete(id);
        retire(entry.sink);
      }
    }
  };

  const load = async (tenantId: string): Promise<TenantDestinations> => {
    const rows = await options.store.listTenant(tenantId);
    const destinations: ResolvedDestination[] = [];
    const invalid: InvalidDestination[] = [];
    let settings: TenantSettings | undefined;
    for (const row of rows) {
      const type = typeof row['type'] === 'string' ? row['type'] : '';
      if (type === TENANT_SETTINGS_TYPE) {
        const read = readTenantSettings(row);
        settings = read.settings;
        if (read.warnings.length > 0) {
          // A bad field is dropped (no limit from it); delivery goes on.
          reportOnce(`${tenantId}/${type}/${JSON.stringify(row)}`, () =>
            options.logger.warn('Tenant settings row read with warnings; the fields named are ignored.', {
              tenant: tenantId,
              warnings: read.warnings,
            }),
          );
        }
        continue;
      }
      const result = readDeliveryConfig(row, options.sinks.lookup);
      const rowKey = `${tenantId}/${type}/${JSON.stringify(row)}`;
      const reportInvalid = (error: ConfigValidationError) => {
        // A row that someone switched off does not refuse work, valid or not.
        if (row['enabled'] === false) return;
        invalid.push({ type: type || '(missing type)', message: error.message });
        reportOnce(rowKey, () => {
          invalidRows.inc({ tenant: tenantId });
          options.logger.warn('Ignoring an invalid delivery config row; its work is dead-lettered.', {
            tenant: tenantId,
            type,
            error: error.message,
          });
        });
      };
      if (!result.ok) {
        reportInvalid(result.error);
        continue;
      }
      if (result.warnings.length > 0) {
        reportOnce(rowKey, () =>
          options.logger.warn('Delivery config row read with warnings.', {
            tenant: tenantId,
            type,
            warnings: result.warnings,
          }),
        );
      }
      const kind = parseConfigType(result.config.type)!.kind;
      let sink: Sink;
      try {
        sink = sinkFor(result.config, kind);
      } catch (error) {
        // A sink factory may refuse a config the schema let through; that row alone is invalid.
        if (!(error instanceof ConfigValidationError)) throw error;
        reportInvalid(error);
        continue;
      }
      destinations.push({
        id: destinationId(result.config),
        type: result.config.type,
        kind,
        config: result.config,
        accepts: createApplicationFilter(result.config),
        sink,
      });
    }
    retireRemoved(tenantId, new Set(destinations.map((d) => d.id)));
    return { destinations, invalid, ...(settings !== undefined && { settings }) };
  };

  return {
    resolve(tenantId) {
      const cached = cache.get(tenantId);
      if (cached && cached.expiresAtMs > now()) return cached.value;
      const value = load(tenantId);
      cache.set(tenantId, { expiresAtMs: now() + ttlMs, value });
      // A failed load must not be cached: the next object tries again.
      value.catch(() => {
        if (cache.get(tenantId)?.value === value) cache.delete(tenantId);
      });
      return value;
    },
    invalidate(tenantId) {
      if (tenantId === undefined) cache.clear();
      else cache.delete(tenantId);
    },
    async close() {
      cache.clear();
      const retired = [...retiring.entries()];
      retiring.clear();
      for (const [timer] of retired) clearTimeout(timer);
      await Promise.all([
        ...retired.map(([, sink]) => closeQuietly(sink)),
        ...[...sinks.values()].map(({ sink }) => sink.close()),
      ]);
      sinks.clear();
    },
  };
}
