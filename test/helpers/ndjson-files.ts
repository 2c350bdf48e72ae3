import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Every `.ndjson` file under a directory, each parsed line by line, keyed by the path
 * relative to the directory (`/`-separated). A line that is not JSON throws, so a torn
 * or interleaved line fails the test that reads it. A missing directory reads as empty.
 */
export async function readNdjsonTree(dir: string): Promise<Map<string, Record<string, unknown>[]>> {
  const files = new Map<string, Record<string, unknown>[]>();
  let entries: string[];
  try {
    entries = (await readdir(dir, { recursive: true })) as string[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return files;
    throw error;
  }
  for (const entry of entries.filter((e) => e.endsWith('.ndjson')).sort()) {
    const path = join(dir, entry);
    const text = await readFile(path, 'utf8');
    if (text !== '' && !text.endsWith('\n')) throw new Error(`'${path}' does not end with a newline.`);
    const lines = text === '' ? [] : text.slice(0, -1).split('\n');
    files.set(
      relative(dir, path).split('\\').join('/'),
      lines.map((line, i) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          throw new Error(`Line ${i + 1} of '${path}' is not JSON: ${line.slice(0, 200)}`);
        }
      }),
    );
  }
  return files;
}

/** Every line of every `.ndjson` file under a directory, in path order. */
export async function readAllNdjson(dir: string): Promise<Record<string, unknown>[]> {
  return [...(await readNdjsonTree(dir)).values()].flat();
}
