import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { AccessCheckStatus, type AccessCheckStep, type SinkDeps } from '../types.js';
import { type FileSinkConfig, resolveFileDirectory } from './config.js';

/** Steps of a `file` access check. */
export const FileAccessStep = {
  WRITE_DIRECTORY: 'write_directory',
} as const;
export type FileAccessStep = (typeof FileAccessStep)[keyof typeof FileAccessStep];

/** The nearest existing path at or above `path`, or the error that stopped the walk. */
async function nearestExisting(path: string): Promise<{ path: string; isDirectory: boolean } | { path: string; error: unknown }> {
  let current = path;
  for (;;) {
    try {
      return { path: current, isDirectory: (await stat(current)).isDirectory() };
    } catch (error) {
      const parent = dirname(current);
      // ENOTDIR: an ancestor is a file; walking up finds it and reports it by name.
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) return { path: current, error };
      current = parent;
    }
  }
}

function failed(code: string, message: string): AccessCheckStep {
  return { step: FileAccessStep.WRITE_DIRECTORY, status: AccessCheckStatus.FAILED, code, message };
}

/**
 * Checks that a `file` destination's directory exists and is writable, or can be created:
 * the nearest existing directory at or above it must allow creating entries (write and
 * search permission), as delivery's `mkdir -p` and appends need. Nothing is written. The
 * code of a failed step is the filesystem error code (`EACCES`, `ENOTDIR`, `EROFS`, …).
 * Never throws.
 *
 * @param config - a validated `file` config
 * @param deps - `baseDir` resolves a relative directory, as for the sink
 * @param _signal - unused: the check is a few local system calls
 * @example const [step] = await checkFileAccess(config, { baseDir: '.tlr', logger, registry }, signal);
 */
export async function checkFileAccess(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  _signal?: AbortSignal,
): Promise<AccessCheckStep[]> {
  const directory = resolveFileDirectory((config as unknown as FileSinkConfig).directory, deps.baseDir);
  const found = await nearestExisting(directory);
  if ('error' in found) {
    const code = (found.error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    return [failed(code, `The directory '${directory}' cannot be checked: '${found.path}' is not accessible (${code}).`)];
  }
  if (!found.isDirectory) {
    return [failed('ENOTDIR', `The directory '${directory}' cannot be created: '${found.path}' exists and is not a directory.`)];
  }
  const exists = found.path === directory;
  try {
    // Creating entries in a directory takes write and search (execute) permission on it.
    await access(found.path, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    const what = exists
      ? `The directory '${directory}' is not writable by the router`
      : `The directory '${directory}' does not exist and cannot be created: '${found.path}' is not writable by the router`;
    return [failed(code, `${what} (${code}).`)];
  }
  return [
    {
      step: FileAccessStep.WRITE_DIRECTORY,
      status: AccessCheckStatus.OK,
      message: exists
        ? `The directory '${directory}' exists and is writable.`
        : `The directory '${directory}' does not exist yet; delivery creates it under '${found.path}', which is writable.`,
    },
  ];
}
