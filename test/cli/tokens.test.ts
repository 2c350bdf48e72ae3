import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenBinding } from '../../src/stores/ports.js';
import { runCli, withStores } from '../helpers/cli.js';
import { randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const TOKEN_REGEX = /tlr_[A-Za-z0-9_-]{43}/;
const UUID_REGEX = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let dataDir: string;
let cluster: string;

function tlr(...args: string[]) {
  return runCli(['--data-dir', dataDir, ...args]);
}

function tlrJson(...args: string[]) {
  return runCli(['--data-dir', dataDir, '--json', ...args]);
}

async function createToken(...args: string[]): Promise<{ id: string; token: string }> {
  const run = await tlrJson('tokens', 'create', '--cluster', cluster, ...args);
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as { id: string; token: string };
}

async function verify(token: string): Promise<TokenBinding | undefined> {
  return withStores(dataDir, ({ tokens }) => tokens.verify(token));
}

beforeEach(async () => {
  dataDir = await makeTempDir('tlr-cli-tokens-');
  cluster = `cluster-${randomId()}`;
});

afterEach(async () => {
  await removeTempDirs();
});

describe('tlr tokens create', () => {
  it('prints a tlr_ token that the store accepts, bound to the cluster and namespaces', async () => {
    // Prepare
    // Act
    const run = await tlr('tokens', 'create', '--cluster', cluster, '--namespaces', 'team-a, team-b-*');

    // Assess
    expect(run.code).toBe(0);
    const [heading, token, rest] = run.stdout.split('\n');
    expect(heading).toMatch(
      new RegExp(`^Token [0-9a-f-]{36} for cluster '${cluster}' \\(team-a, team-b-\\*\\):$`),
    );
    expect(token).toMatch(new RegExp(`^${TOKEN_REGEX.source}$`));
    expect(rest).toBe('');
    expect(await verify(token!)).toMatchObject({ clusterId: cluster, namespaces: ['team-a', 'team-b-*'] });
  });

  it("binds a token to every namespace ('*') by default", async () => {
    // Prepare
    // Act
    const created = await createToken();

    // Assess
    expect(await verify(created.token)).toMatchObject({ namespaces: ['*'] });
  });

  it('prints the token with its binding as JSON with --json', async () => {
    // Prepare
    // Act
    const run = await tlrJson('tokens', 'create', '--cluster', cluster, '--description', 'CI runner');

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      id: expect.stringMatching(UUID_REGEX),
      token: expect.stringMatching(TOKEN_REGEX),
      clusterId: cluster,
      namespaces: ['*'],
    });
  });

  it.each([
    { case: 'empty', namespaces: '' },
    { case: 'only commas and blanks', namespaces: ' , ,' },
  ])('exits 1 when --namespaces is $case', async ({ namespaces }) => {
    // Prepare
    // Act
    const run = await tlr('tokens', 'create', '--cluster', cluster, '--namespaces', namespaces);

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error: --namespaces needs at least one namespace or pattern.\n',
    });
    expect((await tlrJson('tokens', 'list')).stdout).toBe('[]\n');
  });

  it.each([
    {
      case: 'a reserved cluster id',
      args: ['--cluster', '_internal'],
      error: "  - clusterId: must not start with '_'\n",
    },
    {
      case: 'a namespace that is not a name or glob',
      args: ['--cluster', 'c1', '--namespaces', 'Team/A'],
      error:
        "  - namespaces.0: must be a namespace name or a glob with '*' (lowercase letters, digits, '-', '*')\n",
    },
  ])('exits 1 and lists the field errors for $case', async ({ args, error }) => {
    // Prepare
    // Act
    const run = await tlr('tokens', 'create', ...args);

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr: `Error: invalid ingest token:\n${error}` });
  });

  it('exits 1 when --cluster is not given', async () => {
    // Prepare
    // Act
    const run = await tlr('tokens', 'create');

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("required option '--cluster <id>' not specified");
  });
});

describe('tlr tokens list', () => {
  it('shows every token without its secret', async () => {
    // Prepare
    const first = await createToken('--namespaces', 'a,b', '--description', 'build farm');
    const second = await createToken();

    // Act
    const run = await tlr('tokens', 'list');

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).not.toMatch(/tlr_/);
    expect(run.stdout).not.toContain(first.token.slice(4));
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +CLUSTER +NAMESPACES +CREATED +DESCRIPTION$/);
    expect(lines.slice(2).map((l) => l.split(/ {2,}/))).toEqual(
      expect.arrayContaining([
        [first.id, cluster, 'a, b', expect.stringMatching(/^\d{4}-\d\d-\d\dT/), 'build farm'],
        [second.id, cluster, '*', expect.stringMatching(/^\d{4}-\d\d-\d\dT/)],
      ]),
    );
    expect(lines).toHaveLength(4);
  });

  it('prints the bindings without secrets as JSON with --json', async () => {
    // Prepare
    const created = await createToken('--namespaces', 'a');

    // Act
    const run = await tlrJson('tokens', 'list');

    // Assess
    expect(run.stdout).not.toContain(created.token);
    expect(JSON.parse(run.stdout)).toEqual([
      { id: created.id, clusterId: cluster, namespaces: ['a'], createdAtMs: expect.any(Number) },
    ]);
  });

  it('prints a note when there are no tokens', async () => {
    // Prepare
    // Act
    const run = await tlr('tokens', 'list');

    // Assess
    expect(run).toEqual({ code: 0, stdout: 'No ingest tokens.\n', stderr: '' });
  });
});

describe('tlr tokens revoke', () => {
  it('revokes the token so the store no longer accepts it', async () => {
    // Prepare
    const revoked = await createToken();
    const kept = await createToken();

    // Act
    const run = await tlr('tokens', 'revoke', revoked.id);

    // Assess
    expect(run).toEqual({ code: 0, stdout: `revoked ${revoked.id}\n`, stderr: '' });
    expect(await verify(revoked.token)).toBeUndefined();
    expect(await verify(kept.token)).toMatchObject({ id: kept.id });
  });

  it('exits 1 for an unknown id', async () => {
    // Prepare
    await createToken();

    // Act
    const run = await tlr('tokens', 'revoke', 'no-such-id');

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr: "Error: No ingest token with id 'no-such-id'.\n" });
  });
});
