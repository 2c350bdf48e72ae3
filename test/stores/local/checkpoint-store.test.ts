import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteCheckpointStore, type SqliteCheckpointStore } from '../../../src/stores/local/checkpoint-store.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import type { Checkpoint } from '../../../src/stores/ports.js';
import { randomId } from '../../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

let dbPath: string;
let db: SqliteDatabase;
let store: SqliteCheckpointStore;
let objectKey: string;

beforeEach(async () => {
  dbPath = join(await makeTempDir('tlr-checkpoints-'), 'router.db');
  db = openDatabase(dbPath);
  store = createSqliteCheckpointStore(db);
  objectKey = `c1/tenant-${randomId()}/app/pod/20260101-000000-${randomId()}.json.gz`;
});

afterEach(async () => {
  if (db.open) db.close();
  await removeTempDirs();
});

describe('createSqliteCheckpointStore getMany', () => {
  it('returns the checkpoints of the asked destinations and leaves out the ones never saved', async () => {
    // Prepare
    await store.save(objectKey, 't/cloudwatch', { offset: 41, done: false });
    await store.save(objectKey, 't/s3', { offset: 99, done: true });
    await store.save(objectKey, 't/kinesis', { offset: 7, done: false });

    // Act
    const checkpoints = await store.getMany(objectKey, ['t/cloudwatch', 't/s3', 't/never']);

    // Assess
    expect(checkpoints).toEqual(
      new Map([
        ['t/cloudwatch', { offset: 41, done: false }],
        ['t/s3', { offset: 99, done: true }],
      ]),
    );
  });

  it("keeps each object's checkpoints apart", async () => {
    // Prepare
    await store.save(objectKey, 't/s3', { offset: 5, done: false });

    // Act
    const checkpoints = await store.getMany(`${objectKey}.other`, ['t/s3']);

    // Assess
    expect(checkpoints.size).toBe(0);
  });

  it('returns an empty map when asked for no destinations', async () => {
    // Prepare
    await store.save(objectKey, 't/s3', { offset: 5, done: false });

    // Act
    const checkpoints = await store.getMany(objectKey, []);

    // Assess
    expect(checkpoints.size).toBe(0);
  });

  it('keeps checkpoints when the database is opened again', async () => {
    // Prepare
    await store.save(objectKey, 't/s3', { offset: 12, done: false });
    db.close();

    // Act
    db = openDatabase(dbPath);
    const checkpoints = await createSqliteCheckpointStore(db).getMany(objectKey, ['t/s3']);

    // Assess
    expect(checkpoints.get('t/s3')).toEqual({ offset: 12, done: false });
  });
});

describe('createSqliteCheckpointStore save', () => {
  it.each<[string, Checkpoint, Checkpoint, Checkpoint]>([
    [
      'a higher offset moves it forward',
      { offset: 10, done: false },
      { offset: 20, done: false },
      { offset: 20, done: false },
    ],
    [
      'a lower offset is ignored',
      { offset: 20, done: false },
      { offset: 10, done: false },
      { offset: 20, done: false },
    ],
    [
      'the same offset is ignored',
      { offset: 20, done: false },
      { offset: 20, done: false },
      { offset: 20, done: false },
    ],
    [
      'done at the same offset marks it done',
      { offset: 20, done: false },
      { offset: 20, done: true },
      { offset: 20, done: true },
    ],
    [
      'done at a lower offset marks it done and keeps the offset',
      { offset: 20, done: false },
      { offset: 5, done: true },
      { offset: 20, done: true },
    ],
    [
      'not done never undoes done',
      { offset: 20, done: true },
      { offset: 30, done: false },
      { offset: 30, done: true },
    ],
    [
      'a lower offset after done is ignored',
      { offset: 20, done: true },
      { offset: -1, done: false },
      { offset: 20, done: true },
    ],
  ])('%s', async (_case, first, second, expected) => {
    // Prepare
    await store.save(objectKey, 't/s3', first);

    // Act
    await store.save(objectKey, 't/s3', second);

    // Assess
    expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual(expected);
  });

  it('saves a first checkpoint with no record accepted yet', async () => {
    // Prepare
    const checkpoint = { offset: -1, done: false };

    // Act
    await store.save(objectKey, 't/s3', checkpoint);

    // Assess
    expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual(checkpoint);
  });

  it.each([[-2], [1.5], [Number.NaN]])('refuses offset %s with RangeError', async (offset) => {
    // Prepare
    const checkpoint = { offset, done: false };

    // Act
    const saving = store.save(objectKey, 't/s3', checkpoint);

    // Assess
    await expect(saving).rejects.toBeInstanceOf(RangeError);
  });
});

describe('createSqliteCheckpointStore savedSince', () => {
  it('is true only for forward progress of the named objects at or after the time', async () => {
    // Prepare
    const other = `${objectKey}.other`;
    await store.save(objectKey, 't/s3', { offset: 10, done: false });
    const afterFirst = Date.now() + 1;
    await new Promise((r) => setTimeout(r, 5));

    // Act: a repeat of older progress, then progress on another object.
    await store.save(objectKey, 't/s3', { offset: 5, done: false });
    await store.save(other, 't/s3', { offset: 3, done: false });
    const before = store.savedSince([objectKey], afterFirst);
    const otherMoved = store.savedSince([objectKey, other], afterFirst);
    const none = store.savedSince([], 0);
    await store.save(objectKey, 't/s3', { offset: 10, done: true });
    const afterDone = store.savedSince([objectKey], afterFirst);

    // Assess
    expect(before).toBe(false);
    expect(otherMoved).toBe(true);
    expect(none).toBe(false);
    expect(afterDone).toBe(true);
  });
});
