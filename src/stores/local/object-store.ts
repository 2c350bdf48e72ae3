import { randomUUID } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import {
  ConfigValidationError,
  ErrorCode,
  ObjectKeyError,
  ObjectNotFoundError,
  RouterError,
} from '../../domain/index.js';
import type { ObjectInfo, ObjectStore } from '../ports.js';

/**
 * Files written by `put` start with this prefix until they are renamed over their key.
 * Keys may not hold a segment with this prefix, so a temp file never shadows an object.
 */
const TEMP_FILE_PREFIX = '.tmp-';

/** What `createFileObjectStore` needs. */
export interface FileObjectStoreOptions {
  /** The directory holding the objects; created on the first write. */
  readonly rootDir: string;
  /**
   * Disk budget: the total size of all objects, in bytes. A write that would go over it
   * fails with StoreFullError. Unset means no budget (only the disk's own size).
   */
  readonly maxBytes?: number;
}

/** The local object store refused a write because its disk budget (or the disk) is full. */
export class StoreFullError extends RouterError {
  override readonly name = 'StoreFullError';
  /** The disk budget in bytes, or undefined when the disk itself is full. */
  readonly maxBytes: number | undefined;

  /**
   * @param message - a sentence saying what is full and how to make room
   * @param options - `maxBytes`: the budget that was hit, when it was the budget; `cause`: the disk error
   */
  constructor(message: string, options?: { maxBytes?: number; cause?: unknown }) {
    super(ErrorCode.STORE_FULL, message, { cause: options?.cause });
    this.maxBytes = options?.maxBytes;
  }
}

/**
 * Creates the embedded object store: each object is a file under `rootDir` at its key path.
 *
 * Writes are atomic and durable: a temp file in the target directory is written and fsynced,
 * renamed over the target, then the directory is fsynced. A reader sees the old object or
 * the new one, never a partial one, and a crash after `put` resolves keeps the object.
 *
 * @param options - the root directory and the optional disk budget
 * @throws ConfigValidationError when `maxBytes` is not a whole number ≥ 0
 * @example
 * const store = createFileObjectStore({ rootDir: '/var/lib/tlr/objects', maxBytes: 10 * 2 ** 30 });
 * await store.put('c1/team-a/api/api-1/20260101-000000-1.json.gz', body);
 */
export function createFileObjectStore(options: FileObjectStoreOptions): ObjectStore {
  const { maxBytes } = options;
  const rootDir = resolve(options.rootDir);
  if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
    throw new ConfigValidationError(
      [{ field: 'maxBytes', message: 'must be a whole number of bytes ≥ 0' }],
      'object store options',
    );
  }
  const budget = maxBytes === undefined ? undefined : new DiskBudget(rootDir, maxBytes);

  // Content type and encoding are not kept: the key's extension (`.json.gz`) already says them.
  async function put(key: string, body: Uint8Array): Promise<void> {
    const target = join(rootDir, ...keySegments(key));
    const reservedBytes = budget ? await budget.reserve(key, target, body.byteLength) : 0;
    try {
      await writeDurably(key, target, body);
    } catch (error) {
      budget?.release(reservedBytes);
      throw error;
    }
  }

  async function get(key: string): Promise<{ body: Readable; info: ObjectInfo }> {
    const path = join(rootDir, ...keySegments(key));
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissingPathError(error) || errorCode(error) === 'EISDIR') throw new ObjectNotFoundError(key);
      throw error;
    }
    try {
      // Stat the open handle, not the path: a concurrent put renames a new file over the
      // path, and the info must describe the bytes this stream will read.
      const stats = await handle.stat();
      if (!stats.isFile()) throw new ObjectNotFoundError(key);
      return { body: handle.createReadStream(), info: toInfo(key, stats) };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async function head(key: string): Promise<ObjectInfo | undefined> {
    const stats = await statOrUndefined(join(rootDir, ...keySegments(key)));
    return stats?.isFile() ? toInfo(key, stats) : undefined;
  }

  function list(listOptions?: { prefix?: string }): AsyncIterable<ObjectInfo> {
    return listObjects(rootDir, listOptions?.prefix ?? '');
  }

  return {
    put,
    get,
    head,
    list,
  };
}

/**
 * Tracks the bytes used by objects against `maxBytes`. The total is computed once, on the
 * first write, by walking the directory, then kept up to date by every write. It is
 * approximate when the same key is written concurrently, or when files change behind the
 * store's back; it is exact again after a restart.
 */
class DiskBudget {
  private usedBytes: Promise<number> | undefined;
  private delta = 0;

  constructor(
    private readonly rootDir: string,
    private readonly maxBytes: number,
  ) {}

  /**
   * Reserves room for a write of `newBytes` to `key`, crediting the object it replaces.
   * @returns the bytes reserved, to pass to `release` if the write fails
   * @throws StoreFullError when the write would go over the budget
   */
  async reserve(key: string, target: string, newBytes: number): Promise<number> {
    this.usedBytes ??= sumObjectBytes(this.rootDir).catch((error: unknown) => {
      // Walk again on the next write rather than failing every write from now on.
      this.usedBytes = undefined;
      throw error;
    });
    const [walkedBytes, replaced] = await Promise.all([this.usedBytes, statOrUndefined(target)]);
    const replacedBytes = replaced?.isFile() ? replaced.size : 0;
    const reservedBytes = newBytes - replacedBytes;
    const usedBytes = walkedBytes + this.delta;
    // Check and reserve with no await in between, so concurrent writes cannot both take the last room.
    if (usedBytes + reservedBytes > this.maxBytes) {
      throw new StoreFullError(
        `The local object store is full: writing '${key}' (${newBytes} bytes) would bring it to ` +
          `${usedBytes + reservedBytes} bytes, over its budget of maxBytes = ${this.maxBytes} bytes. ` +
          'Raise the budget (tlr up --store-budget, or maxBytes of the object store), or remove objects ' +
          'that were already delivered.',
        { maxBytes: this.maxBytes },
      );
    }
    this.delta += reservedBytes;
    return reservedBytes;
  }

  /** Gives back a reservation whose write failed. */
  release(reservedBytes: number): void {
    this.delta -= reservedBytes;
  }
}

async function sumObjectBytes(rootDir: string): Promise<number> {
  let total = 0;
  for await (const info of listObjects(rootDir, '')) total += info.size;
  return total;
}

/**
 * Writes `body` to a temp file next to `target`, fsyncs it, renames it over `target` and
 * fsyncs every directory whose entries changed, so the object survives a crash.
 */
async function writeDurably(key: string, target: string, body: Uint8Array): Promise<void> {
  const dir = dirname(target);
  let firstCreatedDir: string | undefined;
  try {
    firstCreatedDir = await mkdir(dir, { recursive: true });
  } catch (error) {
    // A path component is an existing object: on a filesystem a key cannot be both.
    if (errorCode(error) === 'ENOTDIR' || errorCode(error) === 'EEXIST') throw keyCollisionError(key, error);
    throw asStoreFullError(error) ?? error;
  }

  const tempPath = join(dir, `${TEMP_FILE_PREFIX}${randomUUID()}`);
  try {
    const handle = await open(tempPath, 'wx', 0o644);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tempPath, target);
  } catch (error) {
    await unlink(tempPath).catch(() => undefined);
    if (errorCode(error) === 'EISDIR') throw keyCollisionError(key, error);
    throw asStoreFullError(error) ?? error;
  }

  // The rename is durable once its directory is synced; directories that mkdir created are
  // durable once their parents are synced, up to the first pre-existing one.
  const dirsToSync = [dir];
  if (firstCreatedDir !== undefined) {
    let d = dir;
    while (d !== firstCreatedDir && dirname(d) !== d) {
      d = dirname(d);
      dirsToSync.push(d);
    }
    dirsToSync.push(dirname(firstCreatedDir));
  }
  for (const d of dirsToSync) await syncDirectory(d);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Lists objects under `prefix` in UTF-8 byte order of the full key (the order S3 lists in).
 * Only the directory at hand is read into memory, plus the unvisited entries of its parents.
 */
async function* listObjects(rootDir: string, prefix: string): AsyncGenerator<ObjectInfo> {
  const lastSlash = prefix.lastIndexOf('/');
  const dirKey = prefix.slice(0, lastSlash + 1);
  const namePrefix = prefix.slice(lastSlash + 1);
  const startDir = dirKey === '' ? rootDir : join(rootDir, ...keySegments(dirKey.slice(0, -1)));
  yield* walkDirectory(startDir, dirKey, namePrefix);
}

async function* walkDirectory(dir: string, dirKey: string, namePrefix: string): AsyncGenerator<ObjectInfo> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissingPathError(error)) return;
    throw error;
  }
  const children = entries
    .filter((e) => (e.isFile() || e.isDirectory()) && !e.name.startsWith(TEMP_FILE_PREFIX))
    .filter((e) => e.name.startsWith(namePrefix))
    // A directory's keys all start with `name/`, so sorting it as `name/` puts it exactly
    // where its keys fall among the files (`a-c` < `a/b` because '-' < '/').
    .map((e) => ({ entry: e, sortKey: Buffer.from(e.isDirectory() ? `${e.name}/` : e.name) }))
    .sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));

  for (const { entry } of children) {
    const path = join(dir, entry.name);
    const key = `${dirKey}${entry.name}`;
    if (entry.isDirectory()) {
      yield* walkDirectory(path, `${key}/`, '');
      continue;
    }
    // The file may have been replaced (fine) or removed (skip) since readdir.
    const stats = await statOrUndefined(path);
    if (stats?.isFile()) yield toInfo(key, stats);
  }
}

/**
 * Splits a key into path segments, refusing keys that could escape `rootDir` or clash
 * with the store's own files.
 * @throws ObjectKeyError when the key is unsafe as a relative file path
 */
function keySegments(key: string): string[] {
  const reason = unsafeKeyReason(key);
  if (reason !== undefined) {
    throw new ObjectKeyError(`Object key '${key}' cannot be stored as a file: ${reason}.`, key);
  }
  return key.split('/');
}

function unsafeKeyReason(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (key.includes('\0')) return 'it contains a NUL character';
  if (key.startsWith('/')) return "it starts with '/'";
  for (const segment of key.split('/')) {
    if (segment === '') return "it has an empty segment ('//' or a trailing '/')";
    if (segment === '.' || segment === '..') return `it has a '${segment}' segment`;
    if (segment.startsWith(TEMP_FILE_PREFIX))
      return `a segment starts with '${TEMP_FILE_PREFIX}', kept for temp files`;
  }
  return undefined;
}

function keyCollisionError(key: string, cause: unknown): ObjectKeyError {
  const error = new ObjectKeyError(
    `Object key '${key}' clashes with an existing object: the local store keeps objects as files, ` +
      'so a key cannot also be the prefix of another key followed by /.',
    key,
  );
  error.cause = cause;
  return error;
}

function asStoreFullError(error: unknown): StoreFullError | undefined {
  const code = errorCode(error);
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined;
  return new StoreFullError(
    'The disk holding the local object store is full (or over its quota); free space on it, or set a ' +
      'budget below the free space (tlr up --store-budget) so ingest answers 503 before the disk fills.',
    { cause: error },
  );
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isMissingPathError(error)) return undefined;
    throw error;
  }
}

function toInfo(key: string, stats: Stats): ObjectInfo {
  return { key, size: stats.size, lastModifiedMs: Math.trunc(stats.mtimeMs) };
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOTDIR: a path component is a file, so nothing exists below it. */
function isMissingPathError(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
