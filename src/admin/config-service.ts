import {
  commonConfigProperties,
  ConfigValidationError,
  type DeliveryConfig,
  ErrorCode,
  type FieldError,
  isConfigActive,
  parseConfigType,
  readDeliveryConfig,
  RouterError,
  TENANT_SETTINGS_TYPE,
  tenantSettingsFieldErrors,
  type ValidatedDeliveryConfig,
  validateDeliveryConfig,
} from '../domain/index.js';
import type { SinkRegistry } from '../sinks/registry.js';
import { type ApplyResult, ConfigBatchValidationError, type IndexedConfigErrors, stripTimestamps } from './delivery-configs.js';
import { type AccessCheckStep, AccessCheckStatus, type SinkDeps } from '../sinks/types.js';
import { expectationOf } from '../stores/config-changes.js';
import {
  AuditAction,
  type AuditEntry,
  type AuditLogStore,
  ConfigChangeOutcome,
  type DeadLetterStore,
  type DeliveryConfigStore,
  type DestinationCircuitState,
  type DestinationStatusStore,
} from '../stores/ports.js';

/**
 * The delivery-config operations behind the REST API and the local `tlr configs`
 * commands, written once: strict validation on write, conflict and existence rules,
 * PATCH as a JSON merge patch, the audit entry of every change, the live check, tenant
 * status and offboarding.
 *
 * Every change is written with its audit entry in one atomic store call, conditional on the
 * row being as this request read it (`updated_at` versions it): a change racing another one
 * is refused with {@link ConfigChangedError} instead of overwriting it unseen, and no change
 * is ever kept without its entry.
 */

/** No config of that tenant and type. */
export class ConfigNotFoundError extends RouterError {
  override readonly name = 'ConfigNotFoundError';
  constructor(
    readonly tenantId: string,
    readonly type?: string,
  ) {
    super(
      ErrorCode.CONFIG_NOT_FOUND,
      type === undefined
        ? `Tenant '${tenantId}' has no delivery configs.`
        : `Tenant '${tenantId}' has no delivery config of type '${type}'.`,
    );
  }
}

/** A create for a (tenant, type) that exists already. */
export class ConfigExistsError extends RouterError {
  override readonly name = 'ConfigExistsError';
  constructor(
    readonly tenantId: string,
    readonly type: string,
  ) {
    super(
      ErrorCode.CONFIG_EXISTS,
      `Tenant '${tenantId}' already has a delivery config of type '${type}'; replace it with PUT or change it with PATCH.`,
    );
  }
}

/**
 * A change refused because another request changed the config after this one read it:
 * writing it would have overwritten that change unseen. Read the config again and retry.
 * Without `type`: the tenant's configs kept changing while it was offboarded.
 */
export class ConfigChangedError extends RouterError {
  override readonly name = 'ConfigChangedError';
  constructor(
    readonly tenantId: string,
    readonly type?: string,
  ) {
    super(
      ErrorCode.CONFIG_CHANGED,
      type === undefined
        ? `Tenant '${tenantId}' had delivery configs changed by another request while it was offboarded; retry.`
        : `Tenant '${tenantId}''s delivery config of type '${type}' was changed by another request after it ` +
            'was read; read it again and retry.',
    );
  }
}

/**
 * A request that is wrong as a request, before any field rule: a body naming another
 * tenant or type than the path, an empty PATCH, a field no destination kind has.
 */
export class ConfigRequestError extends RouterError {
  override readonly name = 'ConfigRequestError';
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(ErrorCode.BAD_CONFIG_REQUEST, message);
  }
}

/** Fields a PATCH cannot change: they are the row's key. */
const KEY_FIELDS = ['tenant_id', 'type'] as const;
/**
 * Listings offboarding works through: configs changed while it deletes are skipped, and the
 * tenant is listed once more to delete them as they are now; still changing after that is a 409.
 */
const OFFBOARD_PASSES = 2;
/** The latest time a `Date` can hold, in epoch ms. */
const MAX_DATE_MS = 8.64e15;

/** What the live check of one config found. */
export interface ConfigValidationReport {
  readonly tenant_id: string;
  readonly type: string;
  /** No field error and no failed step. */
  readonly valid: boolean;
  readonly field_errors: FieldError[];
  readonly steps: AccessCheckStep[];
}

/** The last error of a destination, as the API reports it. */
export interface DestinationErrorView {
  readonly code: string;
  readonly message: string;
  readonly at: string;
}

/** One destination of a tenant's status. */
export interface DestinationStatusView {
  readonly type: string;
  readonly kind: string;
  /** Whether a config of that type exists now (false: only history is left). */
  readonly configured: boolean;
  /** Configured, enabled and its `ttl` not passed. */
  readonly active: boolean;
  /** Whether the stored row reads as a usable config. */
  readonly config_valid: boolean;
  readonly last_success_at?: string;
  /** Seconds from an object's creation to its delivery, at the last success. */
  readonly lag_seconds?: number;
  readonly last_error?: DestinationErrorView;
  readonly pending_retries: number;
  /** Dead letters not yet redriven, up to {@link STATUS_DEAD_LETTER_SCAN}. */
  readonly dead_letters: number;
  /** The circuit breaker as a replica last reported it; absent until one changed state. */
  readonly circuit?: DestinationCircuitView;
}

/** A destination's circuit breaker in a tenant's status (times RFC 3339). */
export interface DestinationCircuitView {
  readonly state: DestinationCircuitState;
  readonly opened_at?: string;
  readonly next_probe_at?: string;
  /** When a replica reported this state. */
  readonly reported_at: string;
}

/** A tenant's delivery status. */
export interface TenantStatusView {
  readonly tenant_id: string;
  readonly destinations: DestinationStatusView[];
  /** Dead letters not tied to one destination (the object was refused before routing). */
  readonly unrouted_dead_letters: number;
}

/** Dead letters counted per status request; more are reported as this many. */
export const STATUS_DEAD_LETTER_SCAN = 10_000;

/** What the service works on. */
export interface ConfigServiceDeps {
  /** Writes every change together with its audit entry (`applyChange`). */
  readonly store: DeliveryConfigStore;
  /** Read for the audit listing: the log `store` appends to (same database, or the deployment's audit table). */
  readonly audit: AuditLogStore;
  readonly status: DestinationStatusStore;
  readonly deadLetters: DeadLetterStore;
  readonly sinks: SinkRegistry;
  /** What sinks get; the live check builds its AWS clients from `aws`. */
  readonly sinkDeps: SinkDeps;
  /** The clock, epoch ms; default `Date.now`. */
  readonly now?: () => number;
}

/** The delivery-config operations; every change takes the actor that goes to the audit log. */
export interface ConfigService {
  listAll(options: { limit: number; cursor?: string }): Promise<{ items: Record<string, unknown>[]; nextCursor?: string }>;
  /** The tenant's configs (settings row included), in type order. */
  listTenant(tenantId: string): Promise<Record<string, unknown>[]>;
  /** @throws ConfigNotFoundError */
  get(tenantId: string, type: string): Promise<Record<string, unknown>>;
  /**
   * @throws ConfigRequestError when the body names another tenant, or a field no kind has
   * @throws ConfigValidationError listing every field error
   * @throws ConfigExistsError
   */
  create(tenantId: string, body: unknown, actor: string): Promise<DeliveryConfig>;
  /**
   * @throws ConfigRequestError, ConfigValidationError, ConfigNotFoundError
   * @throws ConfigChangedError when another request changed the config since it was read here
   */
  replace(tenantId: string, type: string, body: unknown, actor: string): Promise<DeliveryConfig>;
  /**
   * Applies a JSON merge patch (RFC 7396: `null` removes a field) to the stored row and
   * validates the result strictly. Fields the stored row holds but no kind knows (a row
   * written by hand) are dropped, as a read would.
   * @throws ConfigRequestError when the patch is empty, not an object, or changes the key
   * @throws ConfigValidationError, ConfigNotFoundError
   * @throws ConfigChangedError when another request changed the config since it was read here
   */
  patch(tenantId: string, type: string, patch: unknown, actor: string): Promise<DeliveryConfig>;
  /** @throws ConfigNotFoundError, ConfigChangedError (as for `replace`) */
  remove(tenantId: string, type: string, actor: string): Promise<void>;
  /**
   * Creates or replaces several configs, all or nothing on validation: every config is
   * checked by the rules of a write first, and nothing is written unless all pass. Each
   * change is audited. (`tlr configs apply` on a store.)
   * @throws ConfigBatchValidationError listing every problem of every config
   * @throws ConfigExistsError, ConfigChangedError when another request wrote one of the configs
   *   meanwhile; the configs before it stay applied
   */
  applyAll(inputs: readonly unknown[], actor: string): Promise<ApplyResult[]>;
  /** Field checks, then the kind's live access check when the fields pass. @throws ConfigNotFoundError */
  validate(tenantId: string, type: string, signal: AbortSignal): Promise<ConfigValidationReport>;
  status(tenantId: string): Promise<TenantStatusView>;
  /**
   * Removes every config of the tenant and what is known of its destinations' health;
   * delayed retries still queued find no destination and are dropped when they come due.
   * Dead letters and the audit log are kept.
   * @returns how many configs this call removed
   * @throws ConfigNotFoundError when the tenant has no configs
   * @throws ConfigChangedError when its configs were still being changed after a second listing;
   *   the ones removed stay removed, and destination status is kept
   */
  offboard(tenantId: string, actor: string): Promise<number>;
  audit(tenantId: string, options: { limit: number; cursor?: string }): Promise<{ items: AuditEntry[]; nextCursor?: string }>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Numbers a store cannot keep exactly: beyond 2^53 − 1 in magnitude, JSON numbers lose
 * precision and DynamoDB's document client refuses to write them, so they are field errors
 * on write rather than a failed write (`ttl: 1e21`, `retry.maxAttempts: 1e300`).
 */
function unsafeNumberErrors(value: unknown, field: string): FieldError[] {
  if (typeof value === 'number') {
    return Math.abs(value) > Number.MAX_SAFE_INTEGER
      ? [{ field, message: `must be at most ${Number.MAX_SAFE_INTEGER} in magnitude` }]
      : [];
  }
  if (Array.isArray(value)) return value.flatMap((item, i) => unsafeNumberErrors(item, `${field}[${i}]`));
  if (isPlainObject(value)) {
    return Object.entries(value).flatMap(([key, item]) => unsafeNumberErrors(item, field === '' ? key : `${field}.${key}`));
  }
  return [];
}

/**
 * Builds the service.
 *
 * @example
 * const service = createConfigService({ store, audit, status, deadLetters, sinks, sinkDeps });
 * await service.create('acme', { type: 'cloudwatch', log_group_name: '/acme', … }, 'psk:current');
 */
export function createConfigService(deps: ConfigServiceDeps): ConfigService {
  const { store, sinks } = deps;
  const now = deps.now ?? Date.now;

  /** Which kind (other than `kind`) declares a field, for a precise message. */
  const kindOwning = (field: string): string | undefined =>
    sinks.kinds().find((k) => Object.hasOwn(sinks.get(k)!.spec.properties, field));

  /**
   * Everything a body gets wrong by the rules of a write: fields no kind has (`unknown`: a
   * bad request on their own), fields of another kind, schema and cross-field rules, and the
   * rules that depend on the clock (`errors`, all listed at once).
   */
  const writeProblems = (
    body: unknown,
  ): { config?: ValidatedDeliveryConfig; unknown: string[]; errors: FieldError[] } => {
    if (!isPlainObject(body)) {
      try {
        validateDeliveryConfig(body, sinks.lookup);
      } catch (error) {
        if (error instanceof ConfigValidationError) return { unknown: [], errors: error.fieldErrors };
        throw error;
      }
    }
    const input = body as Record<string, unknown>;
    if (input['type'] === TENANT_SETTINGS_TYPE) {
      // The settings row has its own schema (rate limits, quota): every field is checked there.
      const schemaErrors = tenantSettingsFieldErrors(input);
      const settingsErrors = [
        ...schemaErrors,
        ...unsafeNumberErrors(input, '').filter((e) => !schemaErrors.some((f) => f.field === e.field)),
      ];
      return settingsErrors.length === 0
        ? { config: input as ValidatedDeliveryConfig, unknown: [], errors: [] }
        : { unknown: [], errors: settingsErrors };
    }
    const parsed = typeof input['type'] === 'string' ? parseConfigType(input['type']) : undefined;
    const spec = parsed ? sinks.get(parsed.kind)?.spec : undefined;
    const unknown: string[] = [];
    const wrongKind: FieldError[] = [];
    for (const field of Object.keys(input)) {
      if (Object.hasOwn(commonConfigProperties, field) || (spec && Object.hasOwn(spec.properties, field))) continue;
      const owner = kindOwning(field);
      if (owner === undefined) unknown.push(field);
      else if (spec) wrongKind.push({ field, message: `belongs to kind '${owner}', not '${spec.kind}'` });
    }
    const clockErrors: FieldError[] = [];
    const ttl = input['ttl'];
    if (typeof ttl === 'number' && Number.isInteger(ttl) && ttl * 1000 <= now())
      clockErrors.push({ field: 'ttl', message: 'must be a future time in epoch seconds, or absent' });
    let config: ValidatedDeliveryConfig | undefined;
    let fieldErrors: FieldError[] = [];
    try {
      config = validateDeliveryConfig(input, sinks.lookup);
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
      fieldErrors = error.fieldErrors.filter((e) => !wrongKind.some((w) => w.field === e.field));
    }
    const numberErrors = unsafeNumberErrors(input, '').filter(
      (e) => ![...wrongKind, ...fieldErrors].some((f) => f.field === e.field),
    );
    const errors = [...wrongKind, ...fieldErrors, ...clockErrors, ...numberErrors];
    return errors.length === 0 && config ? { config, unknown, errors } : { unknown, errors };
  };

  /**
   * Strict validation on write: a field no destination kind has is a bad request (400); a
   * field of another kind is a field error (422), listed with the rest.
   */
  const validateForWrite = (body: Record<string, unknown>): ValidatedDeliveryConfig => {
    const problems = writeProblems(body);
    const field = problems.unknown[0];
    if (field !== undefined) throw new ConfigRequestError(`'${field}' is not a field of any delivery config.`, field);
    if (!problems.config) throw new ConfigValidationError(problems.errors);
    return problems.config;
  };

  /** Fails like {@link validateForWrite} on a field no kind has, for PATCH bodies. */
  const checkFieldNames = (body: Record<string, unknown>): void => {
    const field = Object.keys(body).find(
      (f) => !Object.hasOwn(commonConfigProperties, f) && kindOwning(f) === undefined,
    );
    if (field !== undefined) throw new ConfigRequestError(`'${field}' is not a field of any delivery config.`, field);
  };

  const bodyFor = (tenantId: string, body: unknown, type?: string): Record<string, unknown> => {
    if (!isPlainObject(body)) throw new ConfigRequestError('The body must be a JSON object (one delivery config).');
    const input = stripTimestamps(body);
    if (input['tenant_id'] !== undefined && input['tenant_id'] !== tenantId)
      throw new ConfigRequestError(
        `The body's tenant_id '${String(input['tenant_id'])}' differs from the path's '${tenantId}'.`,
        'tenant_id',
      );
    if (type !== undefined && input['type'] !== undefined && input['type'] !== type)
      throw new ConfigRequestError(`The body's type '${String(input['type'])}' differs from the path's '${type}'.`, 'type');
    return { ...input, tenant_id: tenantId, ...(type !== undefined && { type }) };
  };

  /**
   * The time of a change to a row stamped `previous`: now, or 1 ms after `previous` when the
   * clock has not passed it (two changes in one ms, clocks of replicas apart, a fixed test
   * clock). Every write so gives the row a later `updated_at` than the one read, and a request
   * still expecting an older one conflicts; the audit log lists the row's changes in order.
   */
  const changeTimeAfter = (previous: unknown): number => {
    const nowMs = now();
    const previousMs = typeof previous === 'string' ? Date.parse(previous) : Number.NaN;
    return previousMs >= nowMs && previousMs < MAX_DATE_MS ? previousMs + 1 : nowMs;
  };

  /** Why a change found the row other than it was read: removed meanwhile (404) or changed (409). */
  const conflictError = async (tenantId: string, type: string): Promise<RouterError> =>
    (await store.get(tenantId, type)) === undefined
      ? new ConfigNotFoundError(tenantId, type)
      : new ConfigChangedError(tenantId, type);

  /** Creates the row with its audit entry, if no row has that key. */
  const createRow = async (config: ValidatedDeliveryConfig, actor: string): Promise<DeliveryConfig> => {
    const atMs = now();
    const stamp = new Date(atMs).toISOString();
    const row: DeliveryConfig = { ...config, created_at: stamp, updated_at: stamp };
    const outcome = await store.applyChange(
      { put: row },
      { absent: true },
      { tenantId: row.tenant_id, type: row.type, action: AuditAction.CREATE, actor, atMs, after: row },
    );
    if (outcome === ConfigChangeOutcome.CONFLICT) throw new ConfigExistsError(row.tenant_id, row.type);
    return row;
  };

  /** Replaces `existing`, as read, with `config` and its audit entry, if the row is still as read. */
  const replaceRow = async (
    existing: Record<string, unknown>,
    config: ValidatedDeliveryConfig,
    action: typeof AuditAction.REPLACE | typeof AuditAction.UPDATE,
    actor: string,
  ): Promise<DeliveryConfig> => {
    const atMs = changeTimeAfter(existing['updated_at']);
    const stamp = new Date(atMs).toISOString();
    const createdAt = typeof existing['created_at'] === 'string' ? existing['created_at'] : stamp;
    const row: DeliveryConfig = { ...config, created_at: createdAt, updated_at: stamp };
    const { tenant_id: tenantId, type } = row;
    const outcome = await store.applyChange(
      { put: row },
      expectationOf(existing),
      { tenantId, type, action, actor, atMs, before: existing, after: row },
    );
    if (outcome === ConfigChangeOutcome.CONFLICT) throw await conflictError(tenantId, type);
    return row;
  };

  const requireRow = async (tenantId: string, type: string): Promise<Record<string, unknown>> => {
    const row = await store.get(tenantId, type);
    if (!row) throw new ConfigNotFoundError(tenantId, type);
    return row;
  };

  return {
    async listAll(options) {
      const page = await store.listAll(options);
      return { items: page.rows, ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }) };
    },

    listTenant: (tenantId) => store.listTenant(tenantId),

    get: (tenantId, type) => requireRow(tenantId, type),

    async create(tenantId, body, actor) {
      return createRow(validateForWrite(bodyFor(tenantId, body)), actor);
    },

    async replace(tenantId, type, body, actor) {
      const input = bodyFor(tenantId, body, type);
      const existing = await requireRow(tenantId, type);
      return replaceRow(existing, validateForWrite(input), AuditAction.REPLACE, actor);
    },

    async patch(tenantId, type, patch, actor) {
      if (!isPlainObject(patch)) throw new ConfigRequestError('A PATCH body must be a JSON object of fields to change.');
      const changes = stripTimestamps(patch);
      if (Object.keys(changes).length === 0)
        throw new ConfigRequestError('The PATCH body changes nothing; name at least one field.');
      for (const field of KEY_FIELDS) {
        if (field in changes)
          throw new ConfigRequestError(
            `'${field}' cannot be changed by PATCH; create a config under the new key and delete this one.`,
            field,
          );
      }
      const existing = await requireRow(tenantId, type);
      const read = readDeliveryConfig(existing, sinks.lookup);
      // A hand-written row that no longer reads cleanly is patched from what a read keeps.
      const base = stripTimestamps(read.ok ? { ...read.config } : existing);
      for (const [field, value] of Object.entries(changes)) {
        if (value === null) delete base[field];
        else base[field] = value;
      }
      if (type !== TENANT_SETTINGS_TYPE) checkFieldNames(changes);
      // The patch applies to the row as read; if another request changes the row before this
      // write, the write conflicts rather than undoing that change.
      return replaceRow(existing, validateForWrite(base), AuditAction.UPDATE, actor);
    },

    async remove(tenantId, type, actor) {
      const existing = await requireRow(tenantId, type);
      const outcome = await store.applyChange(
        { delete: { tenantId, type } },
        expectationOf(existing),
        { tenantId, type, action: AuditAction.DELETE, actor, atMs: changeTimeAfter(existing['updated_at']), before: existing },
      );
      if (outcome === ConfigChangeOutcome.CONFLICT) throw await conflictError(tenantId, type);
    },

    async applyAll(inputs, actor) {
      const valid: ValidatedDeliveryConfig[] = [];
      const invalid: IndexedConfigErrors[] = [];
      inputs.forEach((input, index) => {
        const problems = writeProblems(stripTimestamps(input));
        if (problems.config) {
          valid.push(problems.config);
          return;
        }
        const row = isPlainObject(input) ? input : {};
        invalid.push({
          index,
          ...(typeof row['tenant_id'] === 'string' && { tenantId: row['tenant_id'] }),
          ...(typeof row['type'] === 'string' && { type: row['type'] }),
          errors: problems.errors,
        });
      });
      if (invalid.length > 0) throw new ConfigBatchValidationError(invalid);
      const results: ApplyResult[] = [];
      for (const config of valid) {
        const existing = await store.get(config.tenant_id, config.type);
        if (existing) await replaceRow(existing, config, AuditAction.REPLACE, actor);
        else await createRow(config, actor);
        results.push({ tenantId: config.tenant_id, type: config.type, action: existing ? 'replaced' : 'created' });
      }
      return results;
    },

    async validate(tenantId, type, signal) {
      const row = await requireRow(tenantId, type);
      const report = (field_errors: FieldError[], steps: AccessCheckStep[]): ConfigValidationReport => ({
        tenant_id: tenantId,
        type,
        valid: field_errors.length === 0 && steps.every((s) => s.status !== AccessCheckStatus.FAILED),
        field_errors,
        steps,
      });
      if (type === TENANT_SETTINGS_TYPE) {
        const settingsErrors = tenantSettingsFieldErrors(row);
        return report(settingsErrors, [
          { step: 'live_check', status: AccessCheckStatus.SKIPPED, message: 'The tenant settings row has no live check.' },
        ]);
      }
      let config: ValidatedDeliveryConfig;
      try {
        config = validateDeliveryConfig(stripTimestamps(row), sinks.lookup);
      } catch (error) {
        if (!(error instanceof ConfigValidationError)) throw error;
        return report(error.fieldErrors, []);
      }
      const definition = sinks.get(parseConfigType(type)?.kind ?? '');
      if (!definition?.checkAccess) {
        return report([], [
          { step: 'live_check', status: AccessCheckStatus.SKIPPED, message: `Kind '${definition?.kind}' has no live check.` },
        ]);
      }
      return report([], await definition.checkAccess(config, deps.sinkDeps, signal));
    },

    async status(tenantId) {
      const [rows, records, letters] = await Promise.all([
        store.listTenant(tenantId),
        deps.status.listTenant(tenantId),
        deps.deadLetters.list({ tenantId, limit: STATUS_DEAD_LETTER_SCAN }),
      ]);
      const lettersBy = new Map<string, number>();
      for (const letter of letters) lettersBy.set(letter.destination, (lettersBy.get(letter.destination) ?? 0) + 1);
      const recordBy = new Map(records.map((r) => [r.type, r]));
      const rowBy = new Map(
        rows.filter((r) => r['type'] !== TENANT_SETTINGS_TYPE).map((r) => [String(r['type']), r] as const),
      );
      const types = new Set([...rowBy.keys(), ...recordBy.keys(), ...[...lettersBy.keys()].filter((t) => t !== '*')]);
      const nowMs = now();
      const destinations = [...types].sort().map((type): DestinationStatusView => {
        const row = rowBy.get(type);
        const read = row ? readDeliveryConfig(row, sinks.lookup) : undefined;
        const rec = recordBy.get(type);
        return {
          type,
          kind: parseConfigType(type)?.kind ?? type,
          configured: row !== undefined,
          active: read?.ok === true && isConfigActive(read.config, nowMs),
          config_valid: read?.ok === true,
          ...(rec?.lastSuccessAtMs !== undefined && { last_success_at: new Date(rec.lastSuccessAtMs).toISOString() }),
          ...(rec?.lagMs !== undefined && { lag_seconds: Math.round(rec.lagMs / 100) / 10 }),
          ...(rec?.lastError !== undefined && {
            last_error: {
              code: rec.lastError.code,
              message: rec.lastError.message,
              at: new Date(rec.lastError.atMs).toISOString(),
            },
          }),
          pending_retries: rec?.pendingRetries ?? 0,
          dead_letters: lettersBy.get(type) ?? 0,
          ...(rec?.circuit !== undefined && {
            circuit: {
              state: rec.circuit.state,
              ...(rec.circuit.openedAtMs !== undefined && { opened_at: new Date(rec.circuit.openedAtMs).toISOString() }),
              ...(rec.circuit.nextProbeAtMs !== undefined && {
                next_probe_at: new Date(rec.circuit.nextProbeAtMs).toISOString(),
              }),
              reported_at: new Date(rec.circuit.atMs).toISOString(),
            },
          }),
        };
      });
      return { tenant_id: tenantId, destinations, unrouted_dead_letters: lettersBy.get('*') ?? 0 };
    },

    async offboard(tenantId, actor) {
      let removed = 0;
      for (let pass = 1; pass <= OFFBOARD_PASSES; pass += 1) {
        const rows = await store.listTenant(tenantId);
        if (rows.length === 0 && pass === 1) throw new ConfigNotFoundError(tenantId);
        let conflicts = 0;
        // One change and entry per config, each as small as a delete's: a tenant's configs
        // together can exceed what one store item or transaction holds (DynamoDB: 400 KB, 4 MB).
        for (const row of rows) {
          const type = String(row['type']);
          const outcome = await store.applyChange(
            { delete: { tenantId, type } },
            expectationOf(row),
            { tenantId, type, action: AuditAction.OFFBOARD, actor, atMs: changeTimeAfter(row['updated_at']), before: row },
          );
          if (outcome === ConfigChangeOutcome.APPLIED) removed += 1;
          else conflicts += 1;
        }
        if (conflicts === 0) {
          await deps.status.deleteTenant(tenantId);
          return removed;
        }
      }
      throw new ConfigChangedError(tenantId);
    },

    async audit(tenantId, options) {
      const page = await deps.audit.list(tenantId, options);
      return { items: page.entries, ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }) };
    },
  };
}
