import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeliveryError, ErrorCode } from '../../../src/domain/errors.js';
import { FileAppender, toFileDeliveryError } from '../../../src/sinks/file/client.js';
import { readAllNdjson } from '../../helpers/ndjson-files.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const FILE = 'api/2024-01-15/10.ndjson';

function payload(entries: Record<string, string>): ReadonlyMap<string, string> {
  return new Map(Object.entries(entries));
}

/** Appends and returns the DeliveryError it failed with; fails the test when it succeeds. */
async function appendError(appender: FileAppender, dir: string, file = FILE): Promise<DeliveryError> {
  try {
    await appender.append(dir, payload({ [file]: '{"a":1}\n' }));
  } catch (error) {
    if (error instanceof DeliveryError) return error;
    throw error;
  }
  throw new Error('expected the append to fail');
}

afterEach(removeTempDirs);

describe('FileAppender', () => {
  it('creates the folders and appends each file of a batch, batch after batch', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-client-');
    const appender = new FileAppender();
    await appender.append(dir, payload({ [FILE]: '{"n":1}\n', 'api/2024-01-15/11.ndjson': '{"n":2}\n' }));
    // Act
    await appender.append(dir, payload({ [FILE]: '{"n":3}\n{"n":4}\n' }));
    // Assess
    expect(await readFile(join(dir, FILE), 'utf8')).toBe('{"n":1}\n{"n":3}\n{"n":4}\n');
    expect(await readFile(join(dir, 'api/2024-01-15/11.ndjson'), 'utf8')).toBe('{"n":2}\n');
  });

  it.each([
    { before: '{"n":1}\n{"n":2', kept: '{"n":1}\n', case: 'a torn last line' },
    { before: '{"n":1', kept: '', case: 'a file holding only a torn line' },
    {
      before: `{"n":1}\n{"big":"${'x'.repeat(200_000)}`,
      kept: '{"n":1}\n',
      case: 'a torn line longer than the tail scan window',
    },
  ])('cuts $case back to the last newline before the first append', async ({ before, kept }) => {
    // Prepare
    const dir = await makeTempDir('tlr-file-client-');
    const path = join(dir, FILE);
    await mkdir(join(dir, 'api/2024-01-15'), { recursive: true });
    await writeFile(path, before);
    const onRepair = vi.fn();
    // Act
    await new FileAppender().append(dir, payload({ [FILE]: '{"n":3}\n' }), onRepair);
    // Assess
    expect(await readFile(path, 'utf8')).toBe(`${kept}{"n":3}\n`);
    expect(onRepair).toHaveBeenCalledExactlyOnceWith(
      path,
      Buffer.byteLength(before) - Buffer.byteLength(kept),
    );
  });

  it('leaves a file that ends with a newline as it is', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-client-');
    const path = join(dir, FILE);
    await mkdir(join(dir, 'api/2024-01-15'), { recursive: true });
    await writeFile(path, '{"n":1}\n');
    const onRepair = vi.fn();
    // Act
    await new FileAppender().append(dir, payload({ [FILE]: '{"n":2}\n' }), onRepair);
    // Assess
    expect(await readFile(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n');
    expect(onRepair).not.toHaveBeenCalled();
  });

  it('checks a file for a torn line only on its first append', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-client-');
    const path = join(dir, FILE);
    await mkdir(join(dir, 'api/2024-01-15'), { recursive: true });
    await writeFile(path, '{"n":1}\n{"torn');
    const appender = new FileAppender();
    const onRepair = vi.fn();
    await appender.append(dir, payload({ [FILE]: '{"n":2}\n' }), onRepair);
    // Act
    await appender.append(dir, payload({ [FILE]: '{"n":3}\n' }), onRepair);
    // Assess
    expect(onRepair).toHaveBeenCalledTimes(1);
    expect(await readFile(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n{"n":3}\n');
  });

  it('never interleaves lines of concurrent appends to one file', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-client-');
    const appender = new FileAppender();
    const batches = Array.from({ length: 60 }, (_, batch) =>
      Array.from(
        { length: 20 },
        (_, line) =>
          `${JSON.stringify({ batch, line, pad: 'é'.repeat((batch * 997 + line * 131) % 3_000) })}\n`,
      ).join(''),
    );
    // Act
    await Promise.all(batches.map((text) => appender.append(dir, payload({ [FILE]: text }))));
    // Assess
    const lines = await readAllNdjson(dir);
    expect(lines).toHaveLength(60 * 20);
    const linesByBatch = new Map<number, number[]>();
    for (const { batch, line } of lines as { batch: number; line: number }[]) {
      linesByBatch.set(batch, [...(linesByBatch.get(batch) ?? []), line]);
    }
    for (const lineNumbers of linesByBatch.values()) {
      expect(lineNumbers).toEqual(Array.from({ length: 20 }, (_, i) => i));
    }
  });

  it.each([
    {
      case: 'the destination directory is a regular file',
      prepare: (dir: string) => writeFile(join(dir, 'out'), 'not a directory'),
      code: 'ENOTDIR',
    },
    {
      case: "the application's folder is a regular file",
      prepare: (dir: string) => mkdir(join(dir, 'out')).then(() => writeFile(join(dir, 'out/api'), '')),
      code: 'ENOTDIR',
    },
    {
      case: "the day's folder is a regular file",
      prepare: (dir: string) =>
        mkdir(join(dir, 'out/api'), { recursive: true }).then(() =>
          writeFile(join(dir, 'out/api/2024-01-15'), ''),
        ),
      code: 'EEXIST',
    },
    {
      case: "the hour's file is a directory",
      prepare: (dir: string) => mkdir(join(dir, 'out', FILE), { recursive: true }),
      code: 'EISDIR',
    },
  ])('refuses for good, by error code, when $case', async ({ prepare, code }) => {
    // Prepare
    const dir = await makeTempDir('tlr-file-client-');
    await prepare(dir);
    // Act
    const error = await appendError(new FileAppender(), join(dir, 'out'));
    // Assess
    expect(error.code).toBe(ErrorCode.DELIVERY_FAILED);
    expect(error.retryable).toBe(false);
    expect(error.reason).toBe(`fs_${code.toLowerCase()}`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe(code);
  });

  it('keeps appending to other files after one append failed', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-client-');
    await mkdir(join(dir, FILE), { recursive: true });
    const appender = new FileAppender();
    await appendError(appender, dir);
    // Act
    await appender.append(dir, payload({ 'api/2024-01-15/11.ndjson': '{"n":1}\n' }));
    // Assess
    expect(await readFile(join(dir, 'api/2024-01-15/11.ndjson'), 'utf8')).toBe('{"n":1}\n');
  });
});

describe('toFileDeliveryError', () => {
  it.each([
    { code: 'EACCES', retryable: false },
    { code: 'EPERM', retryable: false },
    { code: 'EROFS', retryable: false },
    { code: 'ENOTDIR', retryable: false },
    { code: 'EISDIR', retryable: false },
    { code: 'EEXIST', retryable: false },
    { code: 'ENAMETOOLONG', retryable: false },
    { code: 'ELOOP', retryable: false },
    { code: 'EINVAL', retryable: false },
    { code: 'ENOSPC', retryable: true },
    { code: 'EDQUOT', retryable: true },
    { code: 'EIO', retryable: true },
    { code: 'EMFILE', retryable: true },
    { code: 'EAGAIN', retryable: true },
    { code: 'EBUSY', retryable: true },
  ])('classifies $code as retryable: $retryable', ({ code, retryable }) => {
    // Prepare
    const cause = Object.assign(new Error(`${code}: failed`), { code });
    // Act
    const error = toFileDeliveryError(cause, '/var/log/tlr/a.ndjson');
    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error.retryable).toBe(retryable);
    expect(error.reason).toBe(`fs_${code.toLowerCase()}`);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(`Appending to '/var/log/tlr/a.ndjson' failed: ${code}.`);
  });

  it('treats a failure without a code as retryable, reason fs_unknown', () => {
    // Prepare
    const cause = new Error('something odd');
    // Act
    const error = toFileDeliveryError(cause, '/x');
    // Assess
    expect(error.retryable).toBe(true);
    expect(error.reason).toBe('fs_unknown');
  });
});
