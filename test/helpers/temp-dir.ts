import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created = new Set<string>();

/**
 * Makes a fresh directory under the OS temp dir; `removeTempDirs` deletes it.
 *
 * @param prefix - start of the directory name, to tell tests' leftovers apart (`tlr-queue-`)
 */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  created.add(dir);
  return dir;
}

/** Deletes every directory made by `makeTempDir` so far; call it in `afterEach`. */
export async function removeTempDirs(): Promise<void> {
  const dirs = [...created];
  created.clear();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}
