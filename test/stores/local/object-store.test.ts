import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigValidationError,
  ErrorCode,
  ObjectKeyError,
  ObjectNotFoundError,
} from '../../../src/domain/errors.js';
import { createFileObjectStore, StoreFullError } from '../../../src/stores/local/object-store.js';
import type { ObjectInfo, ObjectStore } from '../../../src/stores/ports.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const KEY = 'c1/team-a/api/api-1/20260101-000000-0b6f3d0e.json.gz';

async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of iterable) keys.push(info.key);
  return keys;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** UTF-8 byte order, the order S3 lists keys in. */
function utf8Sorted(keys: readonly string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

let rootDir: string;

beforeEach(async () => {
  rootDir = join(await makeTempDir('tlr-objects-'), 'objects');
});

afterEach(async () => {
  await removeTempDirs();
});

describe('createFileObjectStore put and get', () => {
  it('reads back the bytes it wrote, with their size and modification time', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir });
    const beforeMs = Date.now();

    // Act
    await store.put(KEY, bytes('{"message":"hello"}\n'));
    const { body, info } = await store.get(KEY);

    // Assess
    expect((await buffer(body)).toString('utf8')).toBe('{"message":"hello"}\n');
    expect(info).toMatchObject({ key: KEY, size: 20 });
    expect(info.lastModifiedMs).toBeGreaterThanOrEqual(beforeMs - 1000);
    expect(Number.isInteger(info.lastModifiedMs)).toBe(true);
  });

  it('replaces an existing object and leaves no temp file behind', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir });
    await store.put(KEY, bytes('old'));

    // Act
    await store.put(KEY, bytes('newer'));

    // Assess
    const { body } = await store.get(KEY);
    expect((await buffer(body)).toString('utf8')).toBe('newer');
    expect(await readdir(join(rootDir, 'c1/team-a/api/api-1'))).toEqual(['20260101-000000-0b6f3d0e.json.gz']);
  });

  it('streams the object as it was when opened, even if it is replaced while reading', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir });
    await store.put(KEY, bytes('first version'));
    const { body, info } = await store.get(KEY);

    // Act
    await store.put(KEY, bytes('second, longer version'));

    // Assess
    expect((await buffer(body)).toString('utf8')).toBe('first version');
    expect(info.size).toBe(13);
  });

  it('throws ObjectNotFoundError for a key that does not exist', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir });

    // Act
    const error = await rejection(store.get(KEY));

    // Assess
    expect(error).toBeInstanceOf(ObjectNotFoundError);
    expect(error).toMatchObject({ code: ErrorCode.OBJECT_NOT_FOUND, key: KEY });
  });

  it.each([
    ['a prefix of existing keys', 'c1/team-a'],
    ['a key below an existing object', `${KEY}/more`],
  ])('throws ObjectNotFoundError for %s', async (_case, key) => {
    // Prepare
    const store = createFileObjectStore({ rootDir });
    await store.put(KEY, bytes('x'));

    // Act
    const error = await rejection(store.get(key));

    // Assess
    expect(error).toBeInstanceOf(ObjectNotFoundError);
  });
});

describe('createFileObjectStore head', () => {
  it('returns the info of an existing object', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir });
    await store.put(KEY, bytes('12345'));

    // Act
    const info = await store.head(KEY);

    // Assess
    expect(info).toMatchObject({ key: KEY, size: 5 });
  });

  it.each([
    ['a missing key', 'c1/nothing-here.json.gz'],
    ['a directory', 'c1/team-a'],
  ])('returns undefined for %s', async (_case, key) => {
    // Prepare
    const store = createFileObjectStore({ rootDir });
    await store.put(KEY, bytes('x'));

    // Act
    const info = await store.head(key);

    // Assess
    expect(info).toBeUndefined();
  });
});

describe.each([
  ['empty', ''],
  ['absolute', '/etc/passwd'],
  ['with a .. segment', 'c1/../../etc/passwd'],
  ['only ..', '..'],
  ['with a . segment', 'c1/./x'],
  ['with an empty segment', 'c1//x'],
  ['with a trailing slash', 'c1/x/'],
  ['with a NUL character', 'c1/x\0y'],
  ['with a temp-file segment', 'c1/.tmp-1234'],
])('createFileObjectStore with a key %s', (_case, key) => {
  it.each([
    ['put', (store: ObjectStore) => store.put(key, bytes('x'))],
    ['get', (store: ObjectStore) => store.get(key)],
    ['head', (store: ObjectStore) => store.head(key)],
  ])('refuses it in %s with ObjectKeyError', async (_op, call) => {
    // Prepare
    const store = createFileObjectStore({ rootDir });

    // Act
    const error = await rejection(call(store));

    // Assess
    expect(error).toBeInstanceOf(ObjectKeyError);
    expect(error).toMatchObject({ code: ErrorCode.INVALID_OBJECT_KEY, key });
  });
});

describe('createFileObjectStore key clashes', () => {
  it.each([
    ['below an existing object', 'c1/a', 'c1/a/b'],
    ['at an existing prefix', 'c1/a/b', 'c1/a'],
  ])('refuses a key %s with ObjectKeyError', async (_case, existing, clashing) => {
    // Prepare
    const store = createFileObjectStore({ rootDir });
    await store.put(existing, bytes('x'));

    // Act
    const error = await rejection(store.put(clashing, bytes('y')));

    // Assess
    expect(error).toBeInstanceOf(ObjectKeyError);
    expect(await collect(store.list())).toEqual([existing]);
  });
});

describe('createFileObjectStore list', () => {
  const keys = [
    'b',
    'a/b',
    'a-c',
    'a/a/z',
    'a.d/x',
    'a/ab',
    'c1/team-a/app/pod/20260101-000000-1.json.gz',
    'c1/team-a/app/pod/20260101-000000-2.json.gz',
    'c1/team-ab/app/pod/20260101-000000-3.json.gz',
    'u/\uFF01',
    'u/\u{1F600}',
    'u/é',
  ];

  async function storeWithKeys(): Promise<ObjectStore> {
    const store = createFileObjectStore({ rootDir });
    for (const key of keys) await store.put(key, bytes(key));
    return store;
  }

  it('lists every object in UTF-8 byte order of the full key', async () => {
    // Prepare
    const store = await storeWithKeys();

    // Act
    const listed = await collect(store.list());

    // Assess
    expect(listed).toEqual(utf8Sorted(keys));
  });

  it.each([
    ['a whole directory', 'c1/team-a/', keys.filter((k) => k.startsWith('c1/team-a/'))],
    ['part of a segment', 'c1/team-a', keys.filter((k) => k.startsWith('c1/team-a'))],
    ['part of a first segment', 'a', keys.filter((k) => k.startsWith('a'))],
    ['a full key', 'a/b', ['a/b']],
    ['a missing directory', 'nothing/here/', []],
    ['a path below an object', 'b/c', []],
    ['the empty string', '', keys],
  ])('lists only keys under a prefix that is %s', async (_case, prefix, expected) => {
    // Prepare
    const store = await storeWithKeys();

    // Act
    const listed = await collect(store.list({ prefix }));

    // Assess
    expect(listed).toEqual(utf8Sorted(expected));
  });

  it('returns each object with its size', async () => {
    // Prepare
    const store = await storeWithKeys();

    // Act
    const infos: ObjectInfo[] = [];
    for await (const info of store.list({ prefix: 'a/' })) infos.push(info);

    // Assess
    expect(infos.map((i) => [i.key, i.size])).toEqual(
      utf8Sorted(['a/b', 'a/a/z', 'a/ab']).map((k) => [k, k.length]),
    );
  });

  it('skips temp files left by an interrupted write', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir });
    await store.put('c1/a', bytes('x'));
    await writeFile(join(rootDir, 'c1', '.tmp-interrupted'), 'partial');

    // Act
    const listed = await collect(store.list());

    // Assess
    expect(listed).toEqual(['c1/a']);
  });

  it('lists nothing before the first write', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir });

    // Act
    const listed = await collect(store.list());

    // Assess
    expect(listed).toEqual([]);
  });

  it('refuses a prefix whose directory part is unsafe', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir });

    // Act
    const error = await rejection(collect(store.list({ prefix: '../' })));

    // Assess
    expect(error).toBeInstanceOf(ObjectKeyError);
  });
});

describe('createFileObjectStore disk budget', () => {
  it('accepts writes up to maxBytes exactly', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir, maxBytes: 10 });

    // Act
    await store.put('c1/a', bytes('12345'));
    await store.put('c1/b', bytes('12345'));

    // Assess
    expect(await collect(store.list())).toEqual(['c1/a', 'c1/b']);
  });

  it('refuses a write over maxBytes with StoreFullError and writes nothing', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir, maxBytes: 10 });
    await store.put('c1/a', bytes('123456'));

    // Act
    const error = await rejection(store.put('c1/b', bytes('12345')));

    // Assess
    expect(error).toBeInstanceOf(StoreFullError);
    expect(error).toMatchObject({ code: ErrorCode.STORE_FULL, maxBytes: 10 });
    expect((error as Error).message).toContain('maxBytes');
    expect(await store.head('c1/b')).toBeUndefined();
  });

  it('counts objects already on disk when it opens', async () => {
    // Prepare
    await mkdir(join(rootDir, 'c1'), { recursive: true });
    await writeFile(join(rootDir, 'c1', 'existing'), '12345678');
    const store = createFileObjectStore({ rootDir, maxBytes: 10 });

    // Act
    const error = await rejection(store.put('c1/new', bytes('123')));

    // Assess
    expect(error).toBeInstanceOf(StoreFullError);
  });

  it('credits the bytes of the object a write replaces', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir, maxBytes: 10 });
    await store.put('c1/a', bytes('12345678'));

    // Act
    await store.put('c1/a', bytes('1234567890'));

    // Assess
    expect(await store.head('c1/a')).toMatchObject({ size: 10 });
  });

  it('gives back the room reserved by a write that failed', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir, maxBytes: 10 });
    await store.put('c1/a', bytes('1234'));
    await rejection(store.put('c1/a/clash', bytes('1234')));

    // Act
    await store.put('c1/b', bytes('123456'));

    // Assess
    expect(await collect(store.list())).toEqual(['c1/a', 'c1/b']);
  });

  it('lets only as many concurrent writes through as fit in the budget', async () => {
    // Prepare
    const store = createFileObjectStore({ rootDir, maxBytes: 10 });

    // Act
    const results = await Promise.allSettled(['a', 'b', 'c'].map((k) => store.put(`c1/${k}`, bytes('1234'))));

    // Assess
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.map((r) => r.reason)).toEqual([expect.any(StoreFullError)]);
  });

  it.each([[-1], [1.5], [Number.NaN]])('refuses maxBytes = %s with ConfigValidationError', (maxBytes) => {
    // Prepare
    const options = { rootDir, maxBytes };

    // Act
    const create = () => createFileObjectStore(options);

    // Assess
    expect(create).toThrow(ConfigValidationError);
  });
});
