import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ConfigApiServer,
  type OpenConfigApiStores,
  sqliteConfigApiBackend,
  startConfigApiServer,
  tenantIdFactory,
} from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

/**
 * `tlr configs … --api-url`: the CLI against the real API (`createApiApp` with the real
 * config service, auth plugin and schemas over SQLite) listening on 127.0.0.1.
 */

let stores: OpenConfigApiStores;
let server: ConfigApiServer;
let dataDir: string;
let scratch: string;

beforeAll(async () => {
  stores = await sqliteConfigApiBackend().open();
  server = await startConfigApiServer(stores);
});

afterAll(async () => {
  await server.close();
  await stores.close();
});

beforeEach(async () => {
  dataDir = await makeTempDir('tlr-cli-configs-api-');
  scratch = await makeTempDir('tlr-cli-configs-api-files-');
  vi.stubEnv('TLR_API_PSK', server.keys[0]!);
  vi.stubEnv('TLR_API_URL', '');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await removeTempDirs();
});

/** `tlr --data-dir <dataDir> [--json] configs --api-url <server> <args>`. */
function tlr(...args: string[]) {
  return runCli(['--data-dir', dataDir, 'configs', '--api-url', server.baseUrl, ...args]);
}

function tlrJson(...args: string[]) {
  return runCli(['--data-dir', dataDir, '--json', 'configs', '--api-url', server.baseUrl, ...args]);
}

/** Writes `content` (JSON-encoded unless a string) to a fresh file and returns its path. */
async function jsonFile(content: unknown): Promise<string> {
  const path = join(scratch, `${randomId()}.json`);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** A valid `file` config of a fresh tenant, delivering under the scratch directory. */
function fileConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> & { tenant_id: string; type: string } {
  return { tenant_id: tenantIdFactory(), type: 'file', directory: join(scratch, randomId()), ...overrides } as never;
}

/** The stored row, read through the API. */
async function storedRow(tenant: string, type: string): Promise<Record<string, unknown> | undefined> {
  const response = await server.call('GET', `/api/v1/tenants/${tenant}/delivery-configs/${encodeURIComponent(type)}`);
  return response.status === 200 ? response.body : undefined;
}

/** The body lines of a table (header and rule dropped), split on runs of two or more spaces. */
function tableRows(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .slice(2)
    .map((line) => line.split(/ {2,}/));
}

describe('tlr configs apply --api-url', () => {
  it('creates a config, then replaces it when applied again', async () => {
    // Prepare
    const config = fileConfig();
    const changed = { ...config, desired_logs: ['etcd'] };

    // Act
    const first = await tlr('apply', '-f', await jsonFile(config));
    const second = await tlr('apply', '-f', await jsonFile(changed));

    // Assess
    expect(first).toEqual({ code: 0, stdout: `created ${config.tenant_id}/file\n`, stderr: '' });
    expect(second).toEqual({ code: 0, stdout: `replaced ${config.tenant_id}/file\n`, stderr: '' });
    expect(await storedRow(config.tenant_id, 'file')).toMatchObject({ directory: config.directory, desired_logs: ['etcd'] });
  });

  it('stops at the first invalid config, naming it, its code and its fields, and keeps those before', async () => {
    // Prepare
    const good = fileConfig();
    const bad = fileConfig({ directory: '', colour: 'blue' });
    const after = fileConfig();

    // Act
    const run = await tlr('apply', '-f', await jsonFile([good, bad, after]));

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`created ${good.tenant_id}/file\n`);
    expect(run.stderr).toMatch(new RegExp(`^Error: \\[1\\] ${bad.tenant_id}/file: .+ \\((bad_request|validation_failed), HTTP 4\\d\\d\\)\\n`));
    expect(run.stderr).toMatch(/\n {2}- \S+: /);
    expect(await storedRow(good.tenant_id, 'file')).toBeDefined();
    expect(await storedRow(after.tenant_id, 'file')).toBeUndefined();
  });

  it('prints the results as JSON with --json', async () => {
    // Prepare
    const config = fileConfig();
    await tlr('apply', '-f', await jsonFile(config));
    const fresh = fileConfig();

    // Act
    const run = await tlrJson('apply', '-f', await jsonFile([config, fresh]));

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([
      { tenantId: config.tenant_id, type: 'file', action: 'replaced' },
      { tenantId: fresh.tenant_id, type: 'file', action: 'created' },
    ]);
  });

  it('refuses a config without tenant_id before sending anything', async () => {
    // Prepare
    const { tenant_id: _tenant, ...config } = fileConfig();

    // Act
    const run = await tlr('apply', '-f', await jsonFile(config));

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: "Error: [0]: a delivery config must be a JSON object with 'tenant_id' and 'type' to be sent to the API.\n",
    });
  });
});

describe('tlr configs list|get|delete --api-url', () => {
  it('lists a tenant in the table the local store gives, and as JSON with --json', async () => {
    // Prepare
    const config = fileConfig({ desired_logs: ['etcd'], groups: ['Scheduler'] });
    const other = fileConfig({ tenant_id: config.tenant_id, type: 'file:archive' });
    await tlr('apply', '-f', await jsonFile([config, other]));

    // Act
    const table = await tlr('list', '--tenant', config.tenant_id);
    const json = await tlrJson('list', '--tenant', config.tenant_id);

    // Assess
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^TENANT +TYPE +ENABLED +APPLICATIONS +STATUS$/);
    expect(tableRows(table.stdout)).toEqual([
      [config.tenant_id, 'file', 'true', 'group:Scheduler, etcd', 'valid'],
      [config.tenant_id, 'file:archive', 'true', '(all applications)', 'valid'],
    ]);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ tenant_id: config.tenant_id, type: 'file', _status: 'valid', _problems: [] }),
      expect.objectContaining({ tenant_id: config.tenant_id, type: 'file:archive', _status: 'valid', _problems: [] }),
    ]);
  });

  it('lists every tenant across pages', async () => {
    // Prepare
    const configs = [fileConfig(), fileConfig(), fileConfig()];
    await tlr('apply', '-f', await jsonFile(configs));

    // Act
    const run = await tlrJson('list');

    // Assess
    expect(run.code).toBe(0);
    const tenants = (JSON.parse(run.stdout) as { tenant_id: string }[]).map((row) => row.tenant_id);
    expect(tenants).toEqual(expect.arrayContaining(configs.map((c) => c.tenant_id)));
  });

  it('prints one config as JSON, and exits 1 with the server code for one that does not exist', async () => {
    // Prepare
    const config = fileConfig({ type: 'file:archive' });
    await tlr('apply', '-f', await jsonFile(config));

    // Act
    const found = await tlr('get', config.tenant_id, 'file:archive');
    const missing = await tlr('get', config.tenant_id, 'file:other');

    // Assess
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout)).toMatchObject({ tenant_id: config.tenant_id, type: 'file:archive', directory: config.directory });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^Error: .*'file:other'.* \(not_found, HTTP 404\)\n$/);
  });

  it('deletes a config', async () => {
    // Prepare
    const config = fileConfig();
    await tlr('apply', '-f', await jsonFile(config));

    // Act
    const run = await tlr('delete', config.tenant_id, 'file');

    // Assess
    expect(run).toEqual({ code: 0, stdout: `deleted ${config.tenant_id}/file\n`, stderr: '' });
    expect(await storedRow(config.tenant_id, 'file')).toBeUndefined();
  });

  it('takes --api-url after the subcommand and from TLR_API_URL as well', async () => {
    // Prepare
    const config = fileConfig();
    await tlr('apply', '-f', await jsonFile(config));

    // Act
    const after = await runCli(['--data-dir', dataDir, 'configs', 'get', config.tenant_id, 'file', '--api-url', server.baseUrl]);
    vi.stubEnv('TLR_API_URL', server.baseUrl);
    const fromEnv = await runCli(['--data-dir', dataDir, 'configs', 'get', config.tenant_id, 'file']);

    // Assess
    expect(after.code).toBe(0);
    expect(fromEnv.code).toBe(0);
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(fromEnv.stdout));
  });
});

describe('tlr configs patch --api-url', () => {
  it('sets fields given with --set as JSON values', async () => {
    // Prepare
    const config = fileConfig();
    await tlr('apply', '-f', await jsonFile(config));

    // Act
    const run = await tlr('patch', config.tenant_id, 'file', '--set', 'enabled=false', '--set', 'desired_logs=["etcd","kube-apiserver"]');

    // Assess
    expect(run).toEqual({ code: 0, stdout: `updated ${config.tenant_id}/file\n`, stderr: '' });
    expect(await storedRow(config.tenant_id, 'file')).toMatchObject({
      directory: config.directory,
      enabled: false,
      desired_logs: ['etcd', 'kube-apiserver'],
    });
  });

  it('applies a merge patch from a file, --set winning, and prints the row with --json', async () => {
    // Prepare
    const config = fileConfig({ desired_logs: ['etcd'] });
    await tlr('apply', '-f', await jsonFile(config));
    const directory = join(scratch, randomId());

    // Act
    const run = await tlrJson('patch', config.tenant_id, 'file', '-f', await jsonFile({ desired_logs: null, enabled: false }), '--set', `directory="${directory}"`);

    // Assess
    expect(run.code).toBe(0);
    const row = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(row).toMatchObject({ tenant_id: config.tenant_id, type: 'file', enabled: false, directory });
    expect(row['desired_logs'] ?? []).toEqual([]);
  });

  it("exits 1 with the server's field errors for an invalid patch", async () => {
    // Prepare
    const config = fileConfig();
    await tlr('apply', '-f', await jsonFile(config));

    // Act
    const run = await tlr('patch', config.tenant_id, 'file', '--set', 'enabled="yes"');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/\(validation_failed, HTTP 4\d\d\)\n {2}- enabled: /);
  });

  it.each([
    { case: 'no fields', args: [], message: 'Error: Give the fields to change with -f <file> or --set field=value.\n' },
    {
      case: 'a value that is not JSON',
      args: ['--set', 'directory=/srv/logs'],
      message: 'Error: --set \'directory=/srv/logs\': the value must be JSON, so quote a string (--set \'directory="/srv/logs"\'); null removes the field.\n',
    },
    { case: 'no field name', args: ['--set', '=1'], message: "Error: --set '=1' must be field=value, with the value as JSON.\n" },
  ])('exits 1 for $case', async ({ args, message }) => {
    // Prepare
    const tenant = tenantIdFactory();

    // Act
    const run = await tlr('patch', tenant, 'file', ...args);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(message);
  });
});

describe('tlr configs validate|status --api-url', () => {
  it('prints the steps and exits 0 for a config whose directory is writable', async () => {
    // Prepare
    const config = fileConfig();
    await tlr('apply', '-f', await jsonFile(config));

    // Act
    const run = await tlr('validate', config.tenant_id, 'file');

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/^STEP +STATUS +CODE +MESSAGE$/);
    expect(tableRows(run.stdout)[0]!.slice(0, 2)).toEqual(['write_directory', 'ok']);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe(`valid: ${config.tenant_id}/file`);
  });

  it('prints the failed step and exits 1 when the destination cannot be reached', async () => {
    // Prepare
    const blocker = join(scratch, `file-${randomId()}`);
    await writeFile(blocker, 'not a directory');
    const config = fileConfig({ directory: join(blocker, 'logs') });
    await tlr('apply', '-f', await jsonFile(config));

    // Act
    const table = await tlr('validate', config.tenant_id, 'file');
    const json = await tlrJson('validate', config.tenant_id, 'file');

    // Assess
    expect(table.code).toBe(1);
    expect(tableRows(table.stdout)[0]!.slice(0, 3)).toEqual(['write_directory', 'failed', 'ENOTDIR']);
    expect(table.stderr).toBe(`Error: The delivery config 'file' of tenant '${config.tenant_id}' is not valid.\n`);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      valid: false,
      steps: [{ step: 'write_directory', status: 'failed', code: 'ENOTDIR' }],
    });
  });

  it("shows a tenant's destinations", async () => {
    // Prepare
    const config = fileConfig();
    await tlr('apply', '-f', await jsonFile(config));

    // Act
    const table = await tlr('status', config.tenant_id);
    const json = await tlrJson('status', config.tenant_id);

    // Assess
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^TYPE +ACTIVE +CONFIG +LAST SUCCESS +LAG +RETRIES +DEAD LETTERS +CIRCUIT +LAST ERROR$/,
    );
    expect(tableRows(table.stdout)).toEqual([['file', 'true', 'valid', '-', '-', '0', '0', '-', '-']]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      tenant_id: config.tenant_id,
      destinations: [{ type: 'file', active: true, configured: true, pending_retries: 0, dead_letters: 0 }],
    });
  });
});

describe('tlr configs --api-url key and connection', () => {
  it('reads the key from <data-dir>/api-psk when TLR_API_PSK is not set', async () => {
    // Prepare
    vi.stubEnv('TLR_API_PSK', '');
    const keyFile = join(dataDir, 'api-psk');
    await writeFile(keyFile, `${server.keys[0]}\n`);
    await chmod(keyFile, 0o600);

    // Act
    const run = await tlr('list', '--tenant', tenantIdFactory());

    // Assess
    expect(run).toMatchObject({ code: 0, stderr: '' });
  });

  it('says how to get a key when there is none', async () => {
    // Prepare
    vi.stubEnv('TLR_API_PSK', '');

    // Act
    const run = await tlr('list');

    // Assess
    const keyFile = join(dataDir, 'api-psk');
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `Error: No API key: TLR_API_PSK is not set and ${keyFile} does not exist. Set TLR_API_PSK to the API's key, ` +
        `or run \`tlr up\` once with this data directory to create ${keyFile}.\n`,
    });
  });

  it('exits 1 with the server message when the key is wrong', async () => {
    // Prepare
    vi.stubEnv('TLR_API_PSK', `wrong-${randomId()}-${randomId()}`);

    // Act
    const run = await tlr('list');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: The signature does not match.* \(unauthorized, HTTP 401\)\n$/);
  });

  it('names the URL and asks whether the server runs when nothing listens there', async () => {
    // Prepare
    const closed = await startConfigApiServer(stores);
    await closed.close();

    // Act
    const run = await runCli(['--data-dir', dataDir, 'configs', '--api-url', closed.baseUrl, 'list']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `Error: Cannot connect to the API at ${closed.baseUrl}: the connection was refused, so no server is listening there. ` +
        'Check that the API server is running and that the URL is right. (connection_refused)\n',
    );
  });

  it('refuses an API URL that is not http(s)', async () => {
    // Prepare
    // Act
    const run = await runCli(['--data-dir', dataDir, 'configs', '--api-url', 'ftp://example.com', 'list']);

    // Assess
    expect(run).toMatchObject({ code: 1, stderr: "Error: --api-url: The API URL must start with http:// or https://, got 'ftp://example.com'.\n" });
  });
});
