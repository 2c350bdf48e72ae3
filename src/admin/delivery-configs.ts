import {
  ConfigValidationError,
  type DeliveryConfig,
  type FieldError,
  readDeliveryConfig,
  TENANT_SETTINGS_TYPE,
  type ValidatedDeliveryConfig,
  validateDeliveryConfig,
  validateTenantSettings,
} from '../domain/index.js';
import type { SinkRegistry } from '../sinks/registry.js';
import type { DeliveryConfigStore } from '../stores/ports.js';

/** The validation errors of one config among several given at once. */
export interface IndexedConfigErrors {
  readonly index: number;
  readonly tenantId?: string;
  readonly type?: string;
  readonly errors: readonly FieldError[];
}

/** Several configs failed validation; nothing was written. */
export class ConfigBatchValidationError extends ConfigValidationError {
  constructor(readonly invalid: readonly IndexedConfigErrors[]) {
    super(
      invalid.flatMap((i) =>
        i.errors.map((e) => ({
          field: e.field ? `[${i.index}].${e.field}` : `[${i.index}]`,
          message: e.message,
        })),
      ),
      `delivery config${invalid.length === 1 ? '' : 's'}`,
    );
  }
}

export interface ApplyResult {
  readonly tenantId: string;
  readonly type: string;
  readonly action: 'created' | 'replaced';
}

/**
 * Validates every config strictly and, only if all pass, creates or replaces each one,
 * keeping `created_at` of a replaced row and setting `updated_at`. Writes no audit entry:
 * for seeding stores in tests and benchmarks; operators' changes go through
 * `ConfigService.applyAll`.
 *
 * @param inputs - configs as a user wrote them
 * @throws ConfigBatchValidationError listing every field error of every config
 */
export async function applyDeliveryConfigs(
  store: DeliveryConfigStore,
  sinks: SinkRegistry,
  inputs: readonly unknown[],
  nowMs: number = Date.now(),
): Promise<ApplyResult[]> {
  const validated: ValidatedDeliveryConfig[] = [];
  const invalid: IndexedConfigErrors[] = [];
  inputs.forEach((input, index) => {
    try {
      const body = stripTimestamps(input);
      if (isSettingsRow(body)) {
        validateTenantSettings(body);
        validated.push(body as ValidatedDeliveryConfig);
      } else validated.push(validateDeliveryConfig(body, sinks.lookup));
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
      const row = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
      invalid.push({
        index,
        ...(typeof row['tenant_id'] === 'string' && { tenantId: row['tenant_id'] }),
        ...(typeof row['type'] === 'string' && { type: row['type'] }),
        errors: error.fieldErrors,
      });
    }
  });
  if (invalid.length > 0) throw new ConfigBatchValidationError(invalid);
  const now = new Date(nowMs).toISOString();
  const results: ApplyResult[] = [];
  for (const config of validated) {
    const existing = await store.get(config.tenant_id, config.type);
    const createdAt = typeof existing?.['created_at'] === 'string' ? existing['created_at'] : now;
    const row: DeliveryConfig = { ...config, created_at: createdAt, updated_at: now };
    if (existing) await store.put(row);
    else if (!(await store.create(row))) await store.put(row);

    results.push({
      tenantId: config.tenant_id,
      type: config.type,
      action: existing ? 'replaced' : 'created',
    });
  }
  return results;
}

// Timestamps are the store's to set; a config copied from `configs get` may carry them.
/**
 * A config without the fields the store sets (`created_at`, `updated_at`): a body may carry
 * them, copied from a GET, and they are ignored. Anything not an object passes unchanged.
 */
export function stripTimestamps(input: Record<string, unknown>): Record<string, unknown>;
export function stripTimestamps(input: unknown): unknown;
export function stripTimestamps(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const { created_at: _c, updated_at: _u, ...rest } = input as Record<string, unknown>;
  return rest;
}

function isSettingsRow(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && (input as Record<string, unknown>)['type'] === TENANT_SETTINGS_TYPE;
}

/** A stored row with how it reads: usable, usable with warnings, or not. */
export interface ConfigRowView {
  readonly tenantId: string;
  readonly type: string;
  readonly row: Record<string, unknown>;
  readonly status: 'valid' | 'invalid' | 'settings';
  readonly problems: readonly string[];
}

/** Reads a stored row leniently, as the processor will. */
export function viewConfigRow(row: Record<string, unknown>, sinks: SinkRegistry): ConfigRowView {
  const tenantId = String(row['tenant_id'] ?? '');
  const type = String(row['type'] ?? '');
  if (type === TENANT_SETTINGS_TYPE) return { tenantId, type, row, status: 'settings', problems: [] };
  const result = readDeliveryConfig(row, sinks.lookup);
  return result.ok
    ? { tenantId, type, row, status: 'valid', problems: result.warnings }
    : {
        tenantId,
        type,
        row,
        status: 'invalid',
        problems: result.error.fieldErrors.map((e) => `${e.field}: ${e.message}`),
      };
}
