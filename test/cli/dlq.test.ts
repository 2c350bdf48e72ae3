import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseNotification } from '../../src/pipeline/notification.js';
import type { DeadLetter, NewDeadLetter } from '../../src/stores/ports.js';
import { drainQueue, runCli, withStores } from '../helpers/cli.js';
import { objectKeyFactory, randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

let dataDir: string;

function tlr(...args: string[]) {
  return runCli(['--data-dir', dataDir, ...args]);
}

function tlrJson(...args: string[]) {
  return runCli(['--data-dir', dataDir, '--json', ...args]);
}

function newDeadLetter(overrides: Partial<NewDeadLetter> = {}): NewDeadLetter {
  const tenantId = overrides.tenantId ?? `tenant-${randomId()}`;
  return {
    tenantId,
    destination: 'file',
    objectKey: overrides.objectKey ?? objectKeyFactory({ namespace: tenantId }),
    reason: 'retries_exhausted',
    message: 'Gave up after 5 attempts: EACCES.',
    attempts: 5,
    offset: 12,
    ...overrides,
  };
}

async function addDeadLetters(...entries: NewDeadLetter[]): Promise<DeadLetter[]> {
  return withStores(dataDir, async ({ deadLetters }) => {
    const added: DeadLetter[] = [];
    for (const entry of entries) added.push(await deadLetters.add(entry));
    return added;
  });
}

async function storedDeadLetters(): Promise<DeadLetter[]> {
  return withStores(dataDir, ({ deadLetters }) => deadLetters.list({ includeRedriven: true }));
}

/** Dead letters until two share a first character (pigeonhole: at most 17 for hex ids). */
async function twoWithCommonPrefix(): Promise<{ prefix: string; entries: DeadLetter[] }> {
  const byFirst = new Map<string, DeadLetter[]>();
  for (;;) {
    const [entry] = await addDeadLetters(newDeadLetter());
    const group = [...(byFirst.get(entry!.id[0]!) ?? []), entry!];
    if (group.length === 2) return { prefix: entry!.id[0]!, entries: group };
    byFirst.set(entry!.id[0]!, group);
  }
}

function tableRows(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .slice(2)
    .map((line) => line.split(/ {2,}/));
}

beforeEach(async () => {
  dataDir = await makeTempDir('tlr-cli-dlq-');
});

afterEach(async () => {
  await removeTempDirs();
});

describe('tlr dlq list', () => {
  it('shows dead letters in a table with short ids', async () => {
    // Prepare
    const [entry] = await addDeadLetters(newDeadLetter());

    // Act
    const run = await tlr('dlq', 'list');

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/^ID +CREATED +TENANT +DESTINATION +REASON +ATTEMPTS +OBJECT$/);
    expect(tableRows(run.stdout)).toEqual([
      [
        entry!.id.slice(0, 8),
        new Date(entry!.createdAtMs).toISOString(),
        entry!.tenantId,
        'file',
        'retries_exhausted',
        '5',
        entry!.objectKey,
      ],
    ]);
  });

  it('shows a dash for an entry without tenant or object', async () => {
    // Prepare
    await addDeadLetters(
      newDeadLetter({ tenantId: '', destination: '*', objectKey: '', reason: 'invalid_notification' }),
    );

    // Act
    const run = await tlr('dlq', 'list');

    // Assess
    const [row] = tableRows(run.stdout);
    expect(row!.slice(2)).toEqual(['-', '*', 'invalid_notification', '5', '-']);
  });

  it('prints the entries as JSON with --json', async () => {
    // Prepare
    const added = await addDeadLetters(newDeadLetter(), newDeadLetter());

    // Act
    const run = await tlrJson('dlq', 'list');

    // Assess
    expect(run.code).toBe(0);
    const listed = JSON.parse(run.stdout) as DeadLetter[];
    expect(listed).toHaveLength(2);
    expect(listed).toEqual(expect.arrayContaining(added));
  });

  it('lists only the given tenant with --tenant', async () => {
    // Prepare
    const [wanted] = await addDeadLetters(newDeadLetter(), newDeadLetter(), newDeadLetter());

    // Act
    const run = await tlrJson('dlq', 'list', '--tenant', wanted!.tenantId);

    // Assess
    expect(JSON.parse(run.stdout)).toEqual([wanted]);
  });

  it('lists at most --limit entries', async () => {
    // Prepare
    await addDeadLetters(newDeadLetter(), newDeadLetter(), newDeadLetter());

    // Act
    const run = await tlrJson('dlq', 'list', '--limit', '2');

    // Assess
    expect(JSON.parse(run.stdout)).toHaveLength(2);
  });

  it.each([
    { case: 'not a number', limit: 'abc' },
    { case: 'zero', limit: '0' },
    { case: 'a fraction', limit: '1.5' },
  ])('exits 1 when --limit is $case', async ({ limit }) => {
    // Prepare
    await addDeadLetters(newDeadLetter());

    // Act
    const run = await tlr('dlq', 'list', '--limit', limit);

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: --limit '${limit}' must be a whole number ≥ 1.\n`,
    });
  });

  it('prints a note when there are no dead letters', async () => {
    // Prepare
    // Act
    const run = await tlr('dlq', 'list');

    // Assess
    expect(run).toEqual({ code: 0, stdout: 'No dead letters.\n', stderr: '' });
  });
});

describe('tlr dlq show', () => {
  it.each([
    { case: 'full id', length: 36 },
    { case: 'unique prefix', length: 8 },
  ])('prints the dead letter named by its $case as JSON', async ({ length }) => {
    // Prepare
    const [entry] = await addDeadLetters(newDeadLetter());

    // Act
    const run = await tlr('dlq', 'show', entry!.id.slice(0, length));

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(entry);
  });

  it('exits 1 when no dead letter has the id', async () => {
    // Prepare
    await addDeadLetters(newDeadLetter());

    // Act
    const run = await tlr('dlq', 'show', 'not-an-id');

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr: "Error: No dead letter with id 'not-an-id'.\n" });
  });

  it('exits 1 when the prefix matches several dead letters', async () => {
    // Prepare
    const { prefix } = await twoWithCommonPrefix();

    // Act
    const run = await tlr('dlq', 'show', prefix);

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: Id prefix '${prefix}' matches 2 dead letters; give more of it.\n`,
    });
  });
});

describe('tlr dlq redrive', () => {
  it('queues the work again for its destination only, from attempt 0, and marks it redriven', async () => {
    // Prepare
    const [entry, other] = await addDeadLetters(
      newDeadLetter({ destination: 'file:audit' }),
      newDeadLetter(),
    );

    // Act
    const run = await tlr('dlq', 'redrive', entry!.id.slice(0, 8));

    // Assess
    expect(run).toEqual({
      code: 0,
      stdout: 'Redrove 1 dead letter(s); a running `tlr up` delivers them.\n',
      stderr: '',
    });
    const messages = await drainQueue(dataDir);
    expect(messages.map((m) => parseNotification(m.body))).toEqual([
      { items: [{ key: entry!.objectKey, destinations: ['file:audit'], attempt: 0 }] },
    ]);
    const listed = JSON.parse((await tlrJson('dlq', 'list')).stdout) as DeadLetter[];
    expect(listed.map((e) => e.id)).toEqual([other!.id]);
    const all = JSON.parse((await tlrJson('dlq', 'list', '--all')).stdout) as DeadLetter[];
    expect(all.find((e) => e.id === entry!.id)?.redrivenAtMs).toEqual(expect.any(Number));
  });

  it('queues work refused before routing for every destination', async () => {
    // Prepare
    const [entry] = await addDeadLetters(newDeadLetter({ destination: '*', reason: 'corrupt_object' }));

    // Act
    const run = await tlr('dlq', 'redrive', entry!.id);

    // Assess
    expect(run.code).toBe(0);
    const messages = await drainQueue(dataDir);
    expect(messages.map((m) => parseNotification(m.body))).toEqual([
      { items: [{ key: entry!.objectKey, attempt: 0 }] },
    ]);
  });

  it('redrives every entry of a tenant not yet redriven with --tenant', async () => {
    // Prepare
    const tenantId = `tenant-${randomId()}`;
    const [first, second, , done] = await addDeadLetters(
      newDeadLetter({ tenantId }),
      newDeadLetter({ tenantId, destination: 'file:b' }),
      newDeadLetter(),
      newDeadLetter({ tenantId }),
    );
    await withStores(dataDir, ({ deadLetters }) => deadLetters.markRedriven(done!.id, 1));

    // Act
    const run = await tlr('dlq', 'redrive', '--tenant', tenantId);

    // Assess
    expect(run.stdout).toBe('Redrove 2 dead letter(s); a running `tlr up` delivers them.\n');
    const keys = (await drainQueue(dataDir)).flatMap((m) =>
      parseNotification(m.body).items.map((i) => i.key),
    );
    expect(keys.sort()).toEqual([first!.objectKey, second!.objectKey].sort());
    const pending = (await storedDeadLetters()).filter((e) => e.redrivenAtMs === undefined);
    expect(pending).toHaveLength(1);
    expect(pending[0]!.tenantId).not.toBe(tenantId);
  });

  it('skips an entry whose message named no object, with the reason', async () => {
    // Prepare
    const [entry] = await addDeadLetters(
      newDeadLetter({ tenantId: '', destination: '*', objectKey: '', reason: 'invalid_notification' }),
    );

    // Act
    const run = await tlr('dlq', 'redrive', entry!.id);

    // Assess
    expect(run).toEqual({
      code: 0,
      stdout:
        'Redrove 0 dead letter(s); a running `tlr up` delivers them.\n' +
        `skipped ${entry!.id.slice(0, 8)}: the message named no object\n`,
      stderr: '',
    });
    expect(await drainQueue(dataDir)).toEqual([]);
    expect((await storedDeadLetters())[0]!.redrivenAtMs).toBeUndefined();
  });

  it('skips an entry redriven before', async () => {
    // Prepare
    const [entry] = await addDeadLetters(newDeadLetter());
    await tlr('dlq', 'redrive', entry!.id);
    await drainQueue(dataDir);

    // Act
    const run = await tlr('dlq', 'redrive', entry!.id);

    // Assess
    expect(run.stdout).toBe(
      'Redrove 0 dead letter(s); a running `tlr up` delivers them.\n' +
        `skipped ${entry!.id.slice(0, 8)}: already redriven\n`,
    );
    expect(await drainQueue(dataDir)).toEqual([]);
  });

  it('queues an entry named twice (by full id and by prefix) once', async () => {
    // Prepare
    const [entry] = await addDeadLetters(newDeadLetter());

    // Act
    const run = await tlr('dlq', 'redrive', entry!.id, entry!.id.slice(0, 8));

    // Assess
    expect(run.stdout).toBe(
      'Redrove 1 dead letter(s); a running `tlr up` delivers them.\n' +
        `skipped ${entry!.id.slice(0, 8)}: already redriven\n`,
    );
    expect(await drainQueue(dataDir)).toHaveLength(1);
  });

  it('prints the result as JSON with --json', async () => {
    // Prepare
    const [good, bad] = await addDeadLetters(newDeadLetter(), newDeadLetter({ objectKey: '' }));

    // Act
    const run = await tlrJson('dlq', 'redrive', good!.id, bad!.id);

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      redriven: [good],
      skipped: [{ deadLetter: bad, why: 'the message named no object' }],
    });
  });

  it('exits 1 when neither ids nor --tenant are given', async () => {
    // Prepare
    await addDeadLetters(newDeadLetter());

    // Act
    const run = await tlr('dlq', 'redrive');

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error: Name dead letter ids, or a tenant with --tenant.\n',
    });
    expect(await drainQueue(dataDir)).toEqual([]);
  });

  it('exits 1 and queues nothing when one of the ids is unknown', async () => {
    // Prepare
    const [entry] = await addDeadLetters(newDeadLetter());

    // Act
    const run = await tlr('dlq', 'redrive', entry!.id, 'unknown');

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr: "Error: No dead letter with id 'unknown'.\n" });
    expect(await drainQueue(dataDir)).toEqual([]);
  });

  it('exits 1 and queues nothing when an id prefix is ambiguous', async () => {
    // Prepare
    const { prefix } = await twoWithCommonPrefix();

    // Act
    const run = await tlr('dlq', 'redrive', prefix);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`Error: Id prefix '${prefix}' matches 2 dead letters; give more of it.\n`);
    expect(await drainQueue(dataDir)).toEqual([]);
  });
});

describe('tlr --store', () => {
  it('refuses a store other than local or aws', async () => {
    // Prepare
    const args = ['--store', 'redis', 'dlq', 'list'];

    // Act
    const run = await runCli(args);

    // Assess
    expect(run).toMatchObject({ code: 1, stderr: "Error: --store must be 'local' or 'aws', got 'redis'.\n" });
  });

  it('names every missing AWS variable when --store aws has no environment', async () => {
    // Prepare
    const saved = process.env['TENANT_CONFIG_TABLE'];
    delete process.env['TENANT_CONFIG_TABLE'];

    // Act
    const run = await runCli(['--store', 'aws', 'dlq', 'list']);
    if (saved !== undefined) process.env['TENANT_CONFIG_TABLE'] = saved;

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('TENANT_CONFIG_TABLE: is required');
  });
});
