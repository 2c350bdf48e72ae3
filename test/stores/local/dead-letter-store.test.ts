import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteDeadLetterStore } from '../../../src/stores/local/dead-letter-store.js';
import type { DeadLetterStore, NewDeadLetter } from '../../../src/stores/ports.js';
import { randomId } from '../../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const START_MS = 1_767_225_600_000;
const UUID_REGEX = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let dbPath: string;
let db: SqliteDatabase;
let clockMs: number;
let store: DeadLetterStore;

function newDeadLetter(overrides: Partial<NewDeadLetter> = {}): NewDeadLetter {
  const tenantId = overrides.tenantId ?? `tenant-${randomId()}`;
  return {
    tenantId,
    destination: 'cloudwatch',
    objectKey: `c1/${tenantId}/app/pod/20260101-000000-${randomId()}.json.gz`,
    reason: 'retries_exhausted',
    message: 'Gave up after 5 attempts: throttled.',
    attempts: 5,
    offset: 41,
    ...overrides,
  };
}

beforeEach(async () => {
  dbPath = join(await makeTempDir('tlr-dead-letters-'), 'router.db');
  db = openDatabase(dbPath);
  clockMs = START_MS;
  store = createSqliteDeadLetterStore(db, { now: () => clockMs });
});

afterEach(async () => {
  if (db.open) db.close();
  await removeTempDirs();
});

describe('createSqliteDeadLetterStore add and get', () => {
  it('stores an entry with a random UUID and the creation time, and reads it back', async () => {
    // Prepare
    const entry = newDeadLetter();

    // Act
    const added = await store.add(entry);
    const read = await store.get(added.id);

    // Assess
    expect(added).toEqual({ ...entry, id: expect.stringMatching(UUID_REGEX), createdAtMs: START_MS });
    expect(read).toEqual(added);
    expect(read).not.toHaveProperty('redrivenAtMs');
  });

  it('gives each entry its own id', async () => {
    // Prepare
    const entry = newDeadLetter();

    // Act
    const [a, b] = [await store.add(entry), await store.add(entry)];

    // Assess
    expect(a.id).not.toBe(b.id);
  });

  it('returns undefined for an unknown id', async () => {
    // Prepare
    await store.add(newDeadLetter());

    // Act
    const read = await store.get('00000000-0000-4000-8000-000000000000');

    // Assess
    expect(read).toBeUndefined();
  });

  it('keeps entries when the database is opened again', async () => {
    // Prepare
    const added = await store.add(newDeadLetter());
    db.close();

    // Act
    db = openDatabase(dbPath);
    const read = await createSqliteDeadLetterStore(db).get(added.id);

    // Assess
    expect(read).toEqual(added);
  });
});

describe('createSqliteDeadLetterStore markRedriven', () => {
  it('stamps the entry with the redrive time', async () => {
    // Prepare
    const added = await store.add(newDeadLetter());

    // Act
    await store.markRedriven(added.id, START_MS + 5_000);

    // Assess
    expect(await store.get(added.id)).toEqual({ ...added, redrivenAtMs: START_MS + 5_000 });
  });

  it('changes nothing for an unknown id', async () => {
    // Prepare
    const added = await store.add(newDeadLetter());

    // Act
    await store.markRedriven('00000000-0000-4000-8000-000000000000', START_MS);

    // Assess
    expect(await store.list({ includeRedriven: true })).toEqual([added]);
  });
});

describe('createSqliteDeadLetterStore list', () => {
  /** Four entries a second apart: two tenants, the second one redriven. */
  async function addEntries() {
    const entries = [];
    for (const tenantId of ['tenant-a', 'tenant-a', 'tenant-b', 'tenant-a']) {
      entries.push(await store.add(newDeadLetter({ tenantId })));
      clockMs += 1_000;
    }
    await store.markRedriven(entries[1]!.id, clockMs);
    const [first, redriven, otherTenant, last] = entries;
    return {
      first: first!,
      redriven: { ...redriven!, redrivenAtMs: clockMs },
      otherTenant: otherTenant!,
      last: last!,
    };
  }

  it.each([
    ['no filter: every entry not redriven', {}, ['last', 'otherTenant', 'first']],
    ['includeRedriven', { includeRedriven: true }, ['last', 'otherTenant', 'redriven', 'first']],
    ['tenantId', { tenantId: 'tenant-a' }, ['last', 'first']],
    [
      'tenantId and includeRedriven',
      { tenantId: 'tenant-a', includeRedriven: true },
      ['last', 'redriven', 'first'],
    ],
    ['limit', { limit: 2 }, ['last', 'otherTenant']],
    ['a tenant with none', { tenantId: 'tenant-z' }, []],
  ] as const)('lists newest first, filtered by %s', async (_case, filter, expected) => {
    // Prepare
    const entries = await addEntries();

    // Act
    const listed = await store.list(filter);

    // Assess
    expect(listed).toEqual(expected.map((name) => entries[name]));
  });

  it('lists entries of the same millisecond newest first', async () => {
    // Prepare
    const older = await store.add(newDeadLetter());
    const newer = await store.add(newDeadLetter());

    // Act
    const listed = await store.list();

    // Assess
    expect(listed.map((e) => e.id)).toEqual([newer.id, older.id]);
  });
});
