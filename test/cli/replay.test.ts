import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseNotification, type WorkItem } from '../../src/pipeline/notification.js';
import { drainQueue, runCli, withStores } from '../helpers/cli.js';
import { gzipObject, objectKeyFactory, randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const UUID_REGEX = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const SINCE = '2026-03-01T10:00:00Z';
const UNTIL = '2026-03-01T12:00:00Z';
const SINCE_MS = Date.parse(SINCE);
const UNTIL_MS = Date.parse(UNTIL);

let dataDir: string;
let tenant: string;

function tlr(...args: string[]) {
  return runCli(['--data-dir', dataDir, ...args]);
}

/** A central object key `c1/<tenant>/<app>/<pod>/<YYYYMMDD-HHMMSS>-<id>.json.gz`. */
function keyAt(createdAtMs: number, namespace = tenant): string {
  return objectKeyFactory({ clusterId: 'c1', namespace, createdAtMs });
}

async function putObjects(...keys: string[]): Promise<void> {
  await withStores(dataDir, async ({ objects }) => {
    for (const key of keys) await objects.put(key, gzipObject([{ message: 'x' }]));
  });
}

async function queuedItems(): Promise<WorkItem[]> {
  return (await drainQueue(dataDir)).flatMap((m) => parseNotification(m.body).items);
}

beforeEach(async () => {
  dataDir = await makeTempDir('tlr-cli-replay-');
  tenant = `tenant-${randomId()}`;
});

afterEach(async () => {
  await removeTempDirs();
});

describe('tlr replay', () => {
  it("queues only the tenant's objects in [since, until), under one replay id", async () => {
    // Prepare
    const atSince = keyAt(SINCE_MS);
    const inside = keyAt(UNTIL_MS - 1_000);
    const before = keyAt(SINCE_MS - 1_000);
    const atUntil = keyAt(UNTIL_MS);
    const otherTenant = keyAt(SINCE_MS + 60_000, `other-${randomId()}`);
    await putObjects(atSince, inside, before, atUntil, otherTenant);

    // Act
    const run = await tlr('replay', '--tenant', tenant, '--since', SINCE, '--until', UNTIL);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const replayId = UUID_REGEX.exec(run.stdout)?.[0];
    expect(run.stdout).toBe(
      `Queued 2 object(s) of tenant '${tenant}' for replay ${replayId}; a running \`tlr up\` delivers them.\n`,
    );
    const items = await queuedItems();
    expect(items.map((i) => i.key).sort()).toEqual([atSince, inside].sort());
    expect(items).toEqual(items.map((i) => ({ key: i.key, attempt: 0, replayId })));
  });

  it('queues every object of the tenant without --since and --until', async () => {
    // Prepare
    const keys = [keyAt(Date.UTC(2020, 0, 1)), keyAt(Date.UTC(2030, 0, 1))];
    await putObjects(...keys, keyAt(Date.UTC(2025, 0, 1), `other-${randomId()}`));

    // Act
    const run = await tlr('replay', '--tenant', tenant);

    // Assess
    expect(run.code).toBe(0);
    expect((await queuedItems()).map((i) => i.key).sort()).toEqual(keys.sort());
  });

  it('scopes the queued work to the --destination types', async () => {
    // Prepare
    const key = keyAt(SINCE_MS);
    await putObjects(key);

    // Act
    const run = await tlr('replay', '--tenant', tenant, '--destination', 'file', 'file:audit');

    // Assess
    expect(run.code).toBe(0);
    expect(await queuedItems()).toEqual([
      { key, destinations: ['file', 'file:audit'], attempt: 0, replayId: expect.stringMatching(UUID_REGEX) },
    ]);
  });

  it('prints the result as JSON with --json', async () => {
    // Prepare
    await putObjects(keyAt(SINCE_MS));

    // Act
    const run = await runCli(['--data-dir', dataDir, '--json', 'replay', '--tenant', tenant]);

    // Assess
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { replayId: string };
    expect(result).toEqual({ replayId: expect.stringMatching(UUID_REGEX), queued: 1, undated: 0 });
    expect((await queuedItems())[0]?.replayId).toBe(result.replayId);
  });

  it('says how many objects had no time in their name', async () => {
    // Prepare
    await putObjects(`c1/${tenant}/app/pod/export-${randomId()}.json.gz`);

    // Act
    const run = await tlr('replay', '--tenant', tenant, '--since', '2000-01-01T00:00:00Z');

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Queued 1 object(s) of tenant '${tenant}'`);
    expect(run.stdout).toContain(
      '1 object(s) had no time in their name; their last-modified time was used.\n',
    );
  });

  it('queues nothing for a tenant without objects, and says so', async () => {
    // Prepare
    await putObjects(keyAt(SINCE_MS, `other-${randomId()}`));

    // Act
    const run = await tlr('replay', '--tenant', tenant);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Queued 0 object\(s\) of tenant /);
    expect(await queuedItems()).toEqual([]);
  });

  it.each([
    {
      case: 'a --since that is not a date',
      args: ['--since', 'yesterday'],
      message:
        "Error: --since 'yesterday' is not an RFC 3339 time with a zone (e.g. 2024-01-15T10:00:00Z).\n",
    },
    {
      case: 'a --since without a zone (would be local time)',
      args: ['--since', '2026-01-01T10:00:00'],
      message:
        "Error: --since '2026-01-01T10:00:00' is not an RFC 3339 time with a zone (e.g. 2024-01-15T10:00:00Z).\n",
    },
    {
      case: 'a --since in a loose format (Date.parse would guess a year)',
      args: ['--since', 'March 1'],
      message: "Error: --since 'March 1' is not an RFC 3339 time with a zone (e.g. 2024-01-15T10:00:00Z).\n",
    },
    {
      case: 'an --until that is not a date',
      args: ['--since', SINCE, '--until', '2026-13-45'],
      message:
        "Error: --until '2026-13-45' is not an RFC 3339 time with a zone (e.g. 2024-01-15T10:00:00Z).\n",
    },
    {
      case: 'an --until equal to --since',
      args: ['--since', SINCE, '--until', SINCE],
      message: 'Error: --until must be later than --since.\n',
    },
    {
      case: 'an --until before --since',
      args: ['--since', UNTIL, '--until', SINCE],
      message: 'Error: --until must be later than --since.\n',
    },
  ])('exits 1 and queues nothing for $case', async ({ args, message }) => {
    // Prepare
    await putObjects(keyAt(SINCE_MS));

    // Act
    const run = await tlr('replay', '--tenant', tenant, ...args);

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr: message });
    expect(await queuedItems()).toEqual([]);
  });

  it('exits 1 when --tenant is not given', async () => {
    // Prepare
    // Act
    const run = await tlr('replay', '--since', SINCE);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("required option '--tenant <tenant>' not specified");
  });
});
