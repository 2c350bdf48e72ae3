import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import {
  type ApplyResult,
  type ConfigService,
  type ConfigValidationReport,
  createConfigService,
  type TenantStatusView,
  viewConfigRow,
} from '../../admin/index.js';
import { type ApiClient, ApiClientError, createApiClient } from '../../api/client/index.js';
import { createBuiltinSinkRegistry, type SinkRegistry } from '../../sinks/registry.js';
import {
  CliError,
  type CliIo,
  cliLogger,
  dataDirOf,
  type GlobalOptions,
  readStdinText,
  toJson,
  withLocalStores,
  withStores,
} from '../context.js';
import { renderTable } from '../table.js';
import { localConfigServiceDeps } from '../../runtimes/config-api-local.js';
import { runningRouterUrl } from '../../runtimes/embedded.js';

const PAGE = 1_000;

/** Environment variables of API mode. */
export const ConfigsApiEnv = {
  /** The API's base URL; the same as `--api-url`. */
  URL: 'TLR_API_URL',
  /** The pre-shared key; otherwise `<data-dir>/api-psk` is read. */
  PSK: 'TLR_API_PSK',
} as const;

/** How long a local live check (`configs validate` without `--api-url`) may take, as the API allows it. */
export const LOCAL_VALIDATE_TIMEOUT_MS = 20_000;

type ApplyAction = ApplyResult['action'] | 'updated' | 'deleted';

async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = path === '-' ? await readStdinText() : await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read '${path}': ${(error as NodeJS.ErrnoException).code ?? String(error)}.`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`'${path}' is not valid JSON: ${(error as Error).message}`);
  }
}

async function readConfigFile(path: string): Promise<unknown[]> {
  const parsed = await readJsonFile(path);
  return Array.isArray(parsed) ? parsed : [parsed];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function filterText(row: Record<string, unknown>): string {
  const desired = Array.isArray(row['desired_logs']) ? (row['desired_logs'] as string[]) : [];
  const groups = Array.isArray(row['groups']) ? (row['groups'] as string[]) : [];
  if (desired.length === 0 && groups.length === 0) return '(all applications)';
  return [...groups.map((g) => `group:${g}`), ...desired].join(', ');
}

/** An API failure as the CLI reports it: the server's message and code, then each field. */
function cliErrorOf(error: unknown, prefix = ''): unknown {
  if (!(error instanceof ApiClientError)) return error;
  const where = error.status === undefined ? error.code : `${error.code}, HTTP ${error.status}`;
  const lines = [`${prefix}${error.message} (${where})`];
  for (const detail of error.details) {
    const field = detail.field ?? (detail.index !== undefined ? `[${detail.index}]` : '(request)');
    lines.push(`  - ${field}: ${detail.message}`);
  }
  return new CliError(lines.join('\n'));
}

/**
 * The API key of API mode: `TLR_API_PSK`, else the key file of the data directory. The file
 * is only read: creating a key here would make one the server does not know.
 */
async function readApiPsk(options: GlobalOptions): Promise<string> {
  const fromEnv = process.env[ConfigsApiEnv.PSK]?.trim();
  if (fromEnv) return fromEnv;
  // Loaded only in API mode: the key-source module brings the Secrets Manager client along.
  const { localPskPath } = await import('../../api/auth/psk.js');
  const path = localPskPath(dataDirOf(options));
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CliError(
        `No API key: ${ConfigsApiEnv.PSK} is not set and ${path} does not exist. Set ${ConfigsApiEnv.PSK} to the ` +
          `API's key, or run \`tlr up\` once with this data directory to create ${path}.`,
      );
    }
    throw new CliError(`Cannot read the API key file ${path}: ${code ?? String(error)}.`);
  }
  const key = text.trim();
  if (key === '') throw new CliError(`The API key file ${path} is empty; set ${ConfigsApiEnv.PSK} or remove the file and run \`tlr up\`.`);
  return key;
}

/** Who the audit log names for a change made with the local store. */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

/**
 * Runs `work` with the config service over the store `--store` names (the service needs the
 * audit log and destination status besides the configs).
 */
async function withConfigService<T>(options: GlobalOptions, work: (service: ConfigService) => Promise<T>): Promise<T> {
  const store = (options.store ?? process.env['TLR_STORE'] ?? 'local').trim().toLowerCase();
  const logger = cliLogger(options);
  const registry = new Registry();
  if (store === 'local') {
    return withLocalStores(options, (stores) => work(createConfigService(localConfigServiceDeps(stores, logger, registry))));
  }
  if (store !== 'aws') throw new CliError(`--store must be 'local' or 'aws', got '${store}'.`);
  const { awsRuntimeConfigFromEnv, ExecutionMode } = await import('../../runtimes/aws-env.js');
  const { createAwsRouter } = await import('../../runtimes/aws-router.js');
  const { awsConfigServiceDeps } = await import('../../runtimes/config-api-aws.js');
  const router = createAwsRouter(awsRuntimeConfigFromEnv(ExecutionMode.MANUAL), { logger, registry });
  try {
    return await work(createConfigService(awsConfigServiceDeps(router)));
  } finally {
    await router.close();
  }
}

/** `--set field=jsonValue`, collected into one patch. */
function collectSet(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const at = value.indexOf('=');
  const field = at === -1 ? '' : value.slice(0, at).trim();
  if (field === '') throw new CliError(`--set '${value}' must be field=value, with the value as JSON.`);
  const text = value.slice(at + 1);
  try {
    return { ...previous, [field]: JSON.parse(text) as unknown };
  } catch {
    throw new CliError(
      `--set '${value}': the value must be JSON, so quote a string (--set '${field}="${text}"'); null removes the field.`,
    );
  }
}

function printRows(io: CliIo, json: boolean, rows: readonly Record<string, unknown>[], sinks: SinkRegistry): void {
  const views = rows.map((row) => viewConfigRow(row, sinks));
  if (json) {
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
}

function printReport(io: CliIo, json: boolean, report: ConfigValidationReport): void {
  if (json) {
    io.out(toJson(report));
    return;
  }
  if (report.field_errors.length > 0) {
    io.out('Field errors:\n');
    for (const e of report.field_errors) io.out(`  - ${e.field || '(config)'}: ${e.message}\n`);
  }
  io.out(
    renderTable(
      report.steps,
      [
        { header: 'STEP', value: (s) => s.step },
        { header: 'STATUS', value: (s) => s.status },
        { header: 'CODE', value: (s) => s.code },
        { header: 'MESSAGE', value: (s) => s.message },
      ],
      'No live check ran.',
    ),
  );
  io.out(`${report.valid ? 'valid' : 'not valid'}: ${report.tenant_id}/${report.type}\n`);
}

function printStatus(io: CliIo, json: boolean, status: TenantStatusView): void {
  if (json) {
    io.out(toJson(status));
    return;
  }
  io.out(
    renderTable(
      status.destinations,
      [
        { header: 'TYPE', value: (d) => d.type },
        { header: 'ACTIVE', value: (d) => String(d.active) },
        { header: 'CONFIG', value: (d) => (!d.configured ? 'removed' : d.config_valid ? 'valid' : 'invalid') },
        { header: 'LAST SUCCESS', value: (d) => d.last_success_at ?? '-' },
        { header: 'LAG', value: (d) => (d.lag_seconds === undefined ? '-' : `${d.lag_seconds} s`), align: 'right' },
        { header: 'RETRIES', value: (d) => d.pending_retries, align: 'right' },
        { header: 'DEAD LETTERS', value: (d) => d.dead_letters, align: 'right' },
        { header: 'CIRCUIT', value: (d) => circuitText(d.circuit) },
        {
          header: 'LAST ERROR',
          value: (d) => (d.last_error ? `${d.last_error.at} ${d.last_error.code}: ${d.last_error.message}` : '-'),
        },
      ],
      `Tenant '${status.tenant_id}' has no destinations.`,
    ),
  );
  if (status.unrouted_dead_letters > 0) {
    io.out(`${status.unrouted_dead_letters} dead letters of objects refused before routing (tlr dlq list).\n`);
  }
}

/** `closed`, `half_open`, or `open until <next probe>`; `-` when no breaker ever changed state. */
function circuitText(circuit: TenantStatusView['destinations'][number]['circuit']): string {
  if (!circuit) return '-';
  return circuit.state === 'open' && circuit.next_probe_at !== undefined ? `open until ${circuit.next_probe_at}` : circuit.state;
}

function printAction(
  io: CliIo,
  json: boolean,
  results: readonly { tenantId: string; type: string; action: ApplyAction }[],
): void {
  if (json) io.out(toJson(results));
  else for (const r of results) io.out(`${r.action} ${r.tenantId}/${r.type}\n`);
}

/**
 * Sends configs one by one: a create, and a replace when one of that type exists (409).
 * Not all or nothing: it stops at the first failure, and those before it stay applied.
 */
async function applyThroughApi(api: ApiClient, inputs: readonly unknown[]): Promise<{ results: ApplyResult[]; error?: unknown }> {
  const results: ApplyResult[] = [];
  for (const [index, input] of inputs.entries()) {
    const tenantId = isRecord(input) ? input['tenant_id'] : undefined;
    const type = isRecord(input) ? input['type'] : undefined;
    if (!isRecord(input) || typeof tenantId !== 'string' || tenantId === '' || typeof type !== 'string' || type === '') {
      return {
        results,
        error: new CliError(`[${index}]: a delivery config must be a JSON object with 'tenant_id' and 'type' to be sent to the API.`),
      };
    }
    try {
      try {
        await api.createConfig(tenantId, input);
        results.push({ tenantId, type, action: 'created' });
      } catch (error) {
        if (!(error instanceof ApiClientError) || error.status !== 409) throw error;
        await api.replaceConfig(tenantId, type, input);
        results.push({ tenantId, type, action: 'replaced' });
      }
    } catch (error) {
      return { results, error: cliErrorOf(error, `[${index}] ${tenantId}/${type}: `) };
    }
  }
  return { results };
}

/**
 * `tlr configs list|get|apply|patch|delete|validate|status`: on the local store (or
 * `--store aws`), or through the delivery-config API with `--api-url` (env `TLR_API_URL`).
 */
export function registerConfigsCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  const configs = program
    .command('configs')
    .description(
      "Manage tenants' delivery configs: in the local store (or --store aws), or through the delivery-config API " +
        `with --api-url (env ${ConfigsApiEnv.URL}; key from ${ConfigsApiEnv.PSK} or <data-dir>/api-psk).`,
    )
    .option(
      '--api-url <url>',
      `work through the API at this URL, e.g. http://127.0.0.1:8080 (env ${ConfigsApiEnv.URL}); default: the tlr up ` +
        'running on the data directory, else the store itself',
    );
  const sinks = createBuiltinSinkRegistry();

  /** `--api-url`, `TLR_API_URL`, else the `tlr up` running on the data directory, if any. */
  const apiUrl = (): string | undefined => {
    const url = configs.opts<{ apiUrl?: string }>().apiUrl ?? process.env[ConfigsApiEnv.URL];
    if (url?.trim()) return url.trim();
    return (globals().store ?? process.env['TLR_STORE'] ?? 'local') === 'local' ? runningRouterUrl(dataDirOf(globals())) : undefined;
  };
  /** Runs `work` with an API client when an API URL is given; undefined otherwise. */
  const viaApi = async <T>(work: (api: ApiClient) => Promise<T>): Promise<{ value: T } | undefined> => {
    const url = apiUrl();
    if (url === undefined) return undefined;
    let api: ApiClient;
    try {
      api = createApiClient({ baseUrl: url, psk: await readApiPsk(globals()) });
    } catch (error) {
      if (error instanceof TypeError) throw new CliError(`--api-url: ${error.message}`);
      throw error;
    }
    try {
      return { value: await work(api) };
    } catch (error) {
      throw cliErrorOf(error);
    }
  };
  const json = () => globals().json === true;

  configs
    .command('list')
    .description('List delivery configs, with whether each is usable.')
    .option('--tenant <tenant>', 'only this tenant')
    .action(async (options: { tenant?: string }) => {
      const fromApi = await viaApi((api) => (options.tenant ? api.listTenantConfigs(options.tenant) : api.listAllConfigs()));
      if (fromApi) {
        printRows(io, json(), fromApi.value, sinks);
        return;
      }
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
        printRows(io, json(), rows, sinks);
      });
    });

  configs
    .command('get <tenant> <type>')
    .description('Print one delivery config as JSON.')
    .action(async (tenant: string, type: string) => {
      const fromApi = await viaApi((api) => api.getConfig(tenant, type));
      if (fromApi) {
        io.out(toJson(fromApi.value));
        return;
      }
      await withStores(globals(), async (stores) => {
        const row = await stores.configs.get(tenant, type);
        if (!row) throw new CliError(`No delivery config '${type}' for tenant '${tenant}'.`);
        io.out(toJson(row));
      });
    });

  configs
    .command('apply')
    .description(
      'Create or replace delivery configs from a JSON file (one object or an array). All or nothing on the store; ' +
        'through the API one by one, stopping at the first failure.',
    )
    .requiredOption('-f, --file <file>', "JSON file, or '-' for standard input")
    .action(async (options: { file: string }) => {
      const inputs = await readConfigFile(options.file);
      const fromApi = await viaApi((api) => applyThroughApi(api, inputs));
      if (fromApi) {
        // What was applied before a failure is reported too: it stays applied.
        printAction(io, json(), fromApi.value.results);
        if (fromApi.value.error !== undefined) throw fromApi.value.error;
        return;
      }
      printAction(io, json(), await withConfigService(globals(), (service) => service.applyAll(inputs, cliActor())));
    });

  configs
    .command('patch <tenant> <type>')
    .description(
      'Change some fields of a delivery config: a JSON merge patch from a file, or --set field=value (repeatable, the ' +
        'value as JSON; null removes the field).',
    )
    .option('-f, --file <file>', "JSON object file, or '-' for standard input")
    .option('--set <field=json>', 'set one field; repeat for more', collectSet)
    .action(async (tenant: string, type: string, options: { file?: string; set?: Record<string, unknown> }) => {
      if (options.file === undefined && options.set === undefined) {
        throw new CliError('Give the fields to change with -f <file> or --set field=value.');
      }
      const fromFile = options.file === undefined ? {} : await readJsonFile(options.file);
      if (!isRecord(fromFile)) throw new CliError(`'${options.file}' must hold one JSON object: the fields to change.`);
      const patch = { ...fromFile, ...options.set };
      const fromApi = await viaApi((api) => api.patchConfig(tenant, type, patch));
      const row = fromApi
        ? fromApi.value
        : await withConfigService(globals(), (service) => service.patch(tenant, type, patch, cliActor()));
      if (json()) io.out(toJson(row));
      else printAction(io, false, [{ tenantId: tenant, type, action: 'updated' }]);
    });

  configs
    .command('delete <tenant> <type>')
    .description('Delete one delivery config.')
    .action(async (tenant: string, type: string) => {
      const fromApi = await viaApi((api) => api.deleteConfig(tenant, type));
      if (!fromApi) await withConfigService(globals(), (service) => service.remove(tenant, type, cliActor()));
      printAction(io, json(), [{ tenantId: tenant, type, action: 'deleted' }]);
    });

  configs
    .command('validate <tenant> <type>')
    .description("Check a stored config's fields, then live that the router can reach its destination. Exits 1 when not valid.")
    .action(async (tenant: string, type: string) => {
      const fromApi = await viaApi((api) => api.validateConfig(tenant, type));
      const report = fromApi
        ? fromApi.value
        : await withConfigService(globals(), (service) =>
          service.validate(tenant, type, AbortSignal.timeout(LOCAL_VALIDATE_TIMEOUT_MS)),
        );
      printReport(io, json(), report);
      if (!report.valid) throw new CliError(`The delivery config '${type}' of tenant '${tenant}' is not valid.`);
    });

  configs
    .command('status <tenant>')
    .description('Show each destination of a tenant: last success, lag, retries waiting, dead letters, last error.')
    .action(async (tenant: string) => {
      const fromApi = await viaApi((api) => api.tenantStatus(tenant));
      const status = fromApi ? fromApi.value : await withConfigService(globals(), (service) => service.status(tenant));
      printStatus(io, json(), status);
    });
}
