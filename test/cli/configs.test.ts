import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeliveryConfig } from '../../src/domain/index.js';
import { runCli, withStores } from '../helpers/cli.js';
import { deliveryConfigFactory, randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

let dataDir: string;

/** `tlr --data-dir <dataDir> <args>`. */
function tlr(...args: string[]) {
  return runCli(['--data-dir', dataDir, ...args]);
}

/** Writes `content` (JSON-encoded unless a string) to a fresh file and returns its path. */
async function configFile(content: unknown): Promise<string> {
  const path = join(await makeTempDir('tlr-configs-file-'), 'configs.json');
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

async function storedRows(): Promise<Record<string, unknown>[]> {
  return withStores(dataDir, async ({ configs }) => (await configs.listAll({ limit: 1_000 })).rows);
}

/** Stores a row as given, bypassing validation, as a hand edit of the database would. */
async function putRaw(row: Record<string, unknown>): Promise<void> {
  await withStores(dataDir, ({ configs }) => configs.put(row as DeliveryConfig));
}

/** The body lines of a table (header and rule dropped), split on runs of two or more spaces. */
function tableRows(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .slice(2)
    .map((line) => line.split(/ {2,}/));
}

beforeEach(async () => {
  dataDir = await makeTempDir('tlr-cli-configs-');
});

afterEach(async () => {
  vi.useRealTimers();
  await removeTempDirs();
});

describe('tlr configs apply', () => {
  it('creates the config of a file holding one object', async () => {
    // Prepare
    const config = deliveryConfigFactory({ desired_logs: ['kube-apiserver'] });
    const file = await configFile(config);

    // Act
    const run = await tlr('configs', 'apply', '-f', file);

    // Assess
    expect(run).toEqual({ code: 0, stdout: `created ${config.tenant_id}/file\n`, stderr: '' });
    const rows = await storedRows();
    expect(rows).toEqual([
      {
        ...config,
        enabled: true,
        groups: [],
        created_at: expect.any(String),
        updated_at: expect.any(String),
      },
    ]);
  });

  it('creates every config of a file holding an array', async () => {
    // Prepare
    const first = deliveryConfigFactory();
    const second = deliveryConfigFactory({ tenant_id: first.tenant_id, type: 'file:archive' });
    const third = deliveryConfigFactory();
    const file = await configFile([first, second, third]);

    // Act
    const run = await tlr('configs', 'apply', '-f', file);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `created ${first.tenant_id}/file\ncreated ${first.tenant_id}/file:archive\ncreated ${third.tenant_id}/file\n`,
    );
    expect((await storedRows()).map((r) => `${r['tenant_id']}/${r['type']}`).sort()).toEqual(
      [`${first.tenant_id}/file`, `${first.tenant_id}/file:archive`, `${third.tenant_id}/file`].sort(),
    );
  });

  it('replaces an existing config, keeping created_at and moving updated_at', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['Date'] });
    const config = deliveryConfigFactory();
    vi.setSystemTime(Date.UTC(2026, 0, 1, 8, 0, 0));
    expect((await tlr('configs', 'apply', '-f', await configFile(config))).code).toBe(0);
    vi.setSystemTime(Date.UTC(2026, 0, 2, 9, 30, 0));
    const changed = { ...config, directory: `/srv/logs/${randomId()}` };

    // Act
    const run = await tlr('configs', 'apply', '-f', await configFile(changed));

    // Assess
    expect(run).toEqual({ code: 0, stdout: `replaced ${config.tenant_id}/file\n`, stderr: '' });
    const [row] = await storedRows();
    expect(row).toMatchObject({
      directory: changed.directory,
      created_at: '2026-01-01T08:00:00.000Z',
      updated_at: '2026-01-02T09:30:00.000Z',
    });
  });

  it('prints the results as JSON with --json', async () => {
    // Prepare
    const existing = deliveryConfigFactory();
    await tlr('configs', 'apply', '-f', await configFile(existing));
    const fresh = deliveryConfigFactory();

    // Act
    const run = await runCli([
      '--data-dir',
      dataDir,
      '--json',
      'configs',
      'apply',
      '-f',
      await configFile([existing, fresh]),
    ]);

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([
      { tenantId: existing.tenant_id, type: 'file', action: 'replaced' },
      { tenantId: fresh.tenant_id, type: 'file', action: 'created' },
    ]);
  });

  it('exits 1, prints every field error of an invalid config and writes nothing', async () => {
    // Prepare
    const file = await configFile({
      tenant_id: 'Not_A_Namespace',
      type: 'file',
      groups: ['no-such-group'],
      colour: 'blue',
    });

    // Act
    const run = await tlr('configs', 'apply', '-f', file);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^Error: invalid delivery config:\n/);
    expect(run.stderr).toContain('  - [0].tenant_id: must be a Kubernetes namespace name');
    expect(run.stderr).toContain("  - [0].groups: has unknown group 'no-such-group'");
    expect(run.stderr).toContain('  - [0].colour: is not a known field');
    expect(run.stderr).toContain('  - [0].directory: is required');
    expect(await storedRows()).toEqual([]);
  });

  it('writes none of several configs when one of them is invalid', async () => {
    // Prepare
    const valid = deliveryConfigFactory();
    const invalid = deliveryConfigFactory({ directory: '' });
    const alsoValid = deliveryConfigFactory();
    const file = await configFile([valid, invalid, alsoValid]);

    // Act
    const run = await tlr('configs', 'apply', '-f', file);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'Error: invalid delivery config:\n  - [1].directory: must be a non-empty directory path\n',
    );
    expect(await storedRows()).toEqual([]);
  });

  it('lists the errors of every invalid config among several, by index', async () => {
    // Prepare
    const file = await configFile([
      deliveryConfigFactory({ type: 'ftp' }),
      deliveryConfigFactory(),
      deliveryConfigFactory({ enabled: 'yes' }),
    ]);

    // Act
    const run = await tlr('configs', 'apply', '-f', file);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'Error: invalid delivery configs:\n' +
        "  - [0].type: has unknown destination kind 'ftp'\n" +
        '  - [2].enabled: must be boolean\n',
    );
    expect(await storedRows()).toEqual([]);
  });

  it('names the whole value when an array entry is not an object', async () => {
    // Prepare
    const file = await configFile([deliveryConfigFactory(), 'file']);

    // Act
    const run = await tlr('configs', 'apply', '-f', file);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('  - [1]: A delivery config must be a JSON object\n');
    expect(await storedRows()).toEqual([]);
  });

  it.each([
    {
      case: 'a missing file',
      path: async () => join(await makeTempDir('tlr-configs-missing-'), 'nope.json'),
      message: /^Error: Cannot read '.+nope\.json': ENOENT\.\n$/,
    },
    {
      case: 'a directory',
      path: async () => {
        const dir = join(await makeTempDir('tlr-configs-dir-'), 'configs.json');
        await mkdir(dir);
        return dir;
      },
      message: /^Error: Cannot read '.+configs\.json': EISDIR\.\n$/,
    },
    {
      case: 'a file that is not JSON',
      path: () => configFile('tenant_id: acme\ntype: file\n'),
      message: /^Error: '.+configs\.json' is not valid JSON: /,
    },
    {
      case: 'an empty file',
      path: () => configFile(''),
      message: /^Error: '.+configs\.json' is not valid JSON: /,
    },
  ])('exits 1 with a clear message for $case', async ({ path, message }) => {
    // Prepare
    const file = await path();

    // Act
    const run = await tlr('configs', 'apply', '-f', file);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(await storedRows()).toEqual([]);
  });

  it('exits 1 when -f is not given', async () => {
    // Prepare
    // Act
    const run = await tlr('configs', 'apply');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("required option '-f, --file <file>' not specified");
  });
});

describe('tlr configs list', () => {
  it('shows every config in a table with its filter and status', async () => {
    // Prepare
    const all = deliveryConfigFactory({ tenant_id: `a-${randomId()}` });
    const filtered = deliveryConfigFactory({
      tenant_id: `b-${randomId()}`,
      desired_logs: ['etcd'],
      groups: ['Scheduler'],
      enabled: false,
    });
    await tlr('configs', 'apply', '-f', await configFile([all, filtered]));

    // Act
    const run = await tlr('configs', 'list');

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/^TENANT +TYPE +ENABLED +APPLICATIONS +STATUS$/);
    expect(tableRows(run.stdout)).toEqual([
      [all.tenant_id, 'file', 'true', '(all applications)', 'valid'],
      [filtered.tenant_id, 'file', 'false', 'group:Scheduler, etcd', 'valid'],
    ]);
  });

  it('flags a hand-written invalid row as invalid and still lists the valid ones', async () => {
    // Prepare
    const valid = deliveryConfigFactory({ tenant_id: `a-${randomId()}` });
    await tlr('configs', 'apply', '-f', await configFile(valid));
    const brokenTenant = `b-${randomId()}`;
    await putRaw({ tenant_id: brokenTenant, type: 'file', enabled: true, desired_logs: [], groups: [] });

    // Act
    const run = await tlr('configs', 'list');

    // Assess
    expect(run.code).toBe(0);
    expect(tableRows(run.stdout)).toEqual([
      [valid.tenant_id, 'file', 'true', '(all applications)', 'valid'],
      [brokenTenant, 'file', 'true', '(all applications)', 'invalid: directory: is required'],
    ]);
  });

  it('shows the warnings of a stored row that is usable once unknown parts are dropped', async () => {
    // Prepare
    const row = { ...deliveryConfigFactory(), groups: ['API', 'Gone'], legacy: 1 };
    await putRaw(row);

    // Act
    const run = await tlr('configs', 'list');

    // Assess
    expect(tableRows(run.stdout)).toEqual([
      [
        row.tenant_id,
        'file',
        'true',
        'group:API, group:Gone',
        "valid: Ignored unknown field 'legacy'.; Ignored unknown group 'Gone'.",
      ],
    ]);
  });

  it('lists only the given tenant with --tenant', async () => {
    // Prepare
    const wanted = deliveryConfigFactory();
    const other = deliveryConfigFactory();
    await tlr('configs', 'apply', '-f', await configFile([wanted, other]));

    // Act
    const run = await tlr('configs', 'list', '--tenant', wanted.tenant_id);

    // Assess
    expect(run.code).toBe(0);
    expect(tableRows(run.stdout).map((r) => r[0])).toEqual([wanted.tenant_id]);
  });

  it('prints a hint when there are no configs', async () => {
    // Prepare
    // Act
    const run = await tlr('configs', 'list');

    // Assess
    expect(run).toEqual({
      code: 0,
      stdout: 'No delivery configs. Add one with `tlr configs apply -f config.json`.\n',
      stderr: '',
    });
  });

  it('prints rows with their status and problems as JSON with --json', async () => {
    // Prepare
    const valid = deliveryConfigFactory({ tenant_id: `a-${randomId()}` });
    await tlr('configs', 'apply', '-f', await configFile(valid));
    const broken = { tenant_id: `b-${randomId()}`, type: 'file', directory: 7 };
    await putRaw(broken);

    // Act
    const run = await runCli(['--data-dir', dataDir, '--json', 'configs', 'list']);

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([
      expect.objectContaining({ ...valid, _status: 'valid', _problems: [] }),
      { ...broken, _status: 'invalid', _problems: ['directory: must be a non-empty directory path'] },
    ]);
  });
});

describe('tlr configs get', () => {
  it('prints the stored config as JSON', async () => {
    // Prepare
    const config = deliveryConfigFactory({ type: 'file:archive' });
    await tlr('configs', 'apply', '-f', await configFile(config));

    // Act
    const run = await tlr('configs', 'get', config.tenant_id, 'file:archive');

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      ...config,
      enabled: true,
      desired_logs: [],
      groups: [],
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
  });

  it('exits 1 when the config does not exist', async () => {
    // Prepare
    const config = deliveryConfigFactory();
    await tlr('configs', 'apply', '-f', await configFile(config));

    // Act
    const run = await tlr('configs', 'get', config.tenant_id, 'file:other');

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: No delivery config 'file:other' for tenant '${config.tenant_id}'.\n`,
    });
  });
});

describe('tlr configs delete', () => {
  it('deletes the config and leaves the others', async () => {
    // Prepare
    const doomed = deliveryConfigFactory();
    const kept = deliveryConfigFactory({ tenant_id: doomed.tenant_id, type: 'file:kept' });
    await tlr('configs', 'apply', '-f', await configFile([doomed, kept]));

    // Act
    const run = await tlr('configs', 'delete', doomed.tenant_id, 'file');

    // Assess
    expect(run).toEqual({ code: 0, stdout: `deleted ${doomed.tenant_id}/file\n`, stderr: '' });
    expect((await storedRows()).map((r) => r['type'])).toEqual(['file:kept']);
  });

  it('exits 1 when the config does not exist', async () => {
    // Prepare
    const tenant = `tenant-${randomId()}`;

    // Act
    const run = await tlr('configs', 'delete', tenant, 'file');

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: Tenant '${tenant}' has no delivery config of type 'file'. (RTR_ERR_CONFIG_NOT_FOUND)\n`,
    });
  });
});

describe('tlr configs patch (local store)', () => {
  it('changes the fields given and records the change under the CLI user', async () => {
    // Prepare
    const config = deliveryConfigFactory();
    await tlr('configs', 'apply', '-f', await configFile(config));

    // Act
    const run = await tlr('configs', 'patch', config.tenant_id, 'file', '--set', 'enabled=false', '--set', 'desired_logs=["etcd"]');

    // Assess
    expect(run).toEqual({ code: 0, stdout: `updated ${config.tenant_id}/file\n`, stderr: '' });
    const [row] = await storedRows();
    expect(row).toMatchObject({ directory: config.directory, enabled: false, desired_logs: ['etcd'] });
    const audit = await withStores(dataDir, ({ audit }) => audit.list(config.tenant_id, { limit: 10 }));
    expect(audit.entries).toEqual([
      expect.objectContaining({ action: 'update', type: 'file', actor: expect.stringMatching(/^cli:/) }),
      expect.objectContaining({ action: 'create', type: 'file', actor: expect.stringMatching(/^cli:/) }),
    ]);
  });

  it('exits 1 naming the config when there is none', async () => {
    // Prepare
    const tenant = `tenant-${randomId()}`;

    // Act
    const run = await tlr('configs', 'patch', tenant, 'file', '--set', 'enabled=false');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`Error: Tenant '${tenant}' has no delivery config of type 'file'. (RTR_ERR_CONFIG_NOT_FOUND)\n`);
  });
});

describe('tlr configs validate (local store)', () => {
  it('prints the live check and exits 0 when the directory is writable', async () => {
    // Prepare
    const config = deliveryConfigFactory({ directory: join(dataDir, 'out', randomId()) });
    await tlr('configs', 'apply', '-f', await configFile(config));

    // Act
    const run = await tlr('configs', 'validate', config.tenant_id, 'file');

    // Assess
    expect(run.code).toBe(0);
    expect(tableRows(run.stdout)[0]!.slice(0, 2)).toEqual(['write_directory', 'ok']);
  });

  it('exits 1 when the directory cannot be created', async () => {
    // Prepare
    const blocker = join(dataDir, `file-${randomId()}`);
    await writeFile(blocker, 'not a directory');
    const config = deliveryConfigFactory({ directory: join(blocker, 'logs') });
    await tlr('configs', 'apply', '-f', await configFile(config));

    // Act
    const run = await runCli(['--data-dir', dataDir, '--json', 'configs', 'validate', config.tenant_id, 'file']);

    // Assess
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ valid: false, steps: [{ status: 'failed', code: 'ENOTDIR' }] });
    expect(run.stderr).toBe(`Error: The delivery config 'file' of tenant '${config.tenant_id}' is not valid.\n`);
  });
});

describe('tlr configs status (local store)', () => {
  it('shows each destination of the tenant', async () => {
    // Prepare
    const config = deliveryConfigFactory();
    await tlr('configs', 'apply', '-f', await configFile(config));

    // Act
    const run = await tlr('configs', 'status', config.tenant_id);

    // Assess
    expect(run.code).toBe(0);
    expect(tableRows(run.stdout)).toEqual([['file', 'true', 'valid', '-', '-', '0', '0', '-', '-']]);
  });

  it('shows an open circuit with the time of its next probe', async () => {
    // Prepare
    const config = deliveryConfigFactory();
    await tlr('configs', 'apply', '-f', await configFile(config));
    const atMs = Date.UTC(2026, 0, 1, 12, 0, 0);
    await withStores(dataDir, ({ status }) =>
      status.apply([
        {
          tenantId: config.tenant_id,
          type: 'file',
          circuit: { state: 'open', openedAtMs: atMs, nextProbeAtMs: atMs + 30_000, atMs },
        },
      ]),
    );

    // Act
    const run = await tlr('configs', 'status', config.tenant_id);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/ CIRCUIT +LAST ERROR$/);
    expect(tableRows(run.stdout)[0]?.[7]).toBe('open until 2026-01-01T12:00:30.000Z');
  });
});
