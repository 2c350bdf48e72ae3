import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DeliveryError } from '../../domain/index.js';
import type { FilePayload } from './planner.js';

/** Filesystem error codes that will not go away by retrying. */
const PERMANENT_FS_CODES: ReadonlySet<string> = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  // `mkdir -p` of a folder that exists as a regular file (`open` with 'a+' never says EEXIST).
  'EEXIST',
  'ENAMETOOLONG',
  'ELOOP',
  'EINVAL',
]);

const TAIL_SCAN_BYTES = 64 * 1024;
/** Paths remembered as checked for a torn last line. */
const MAX_CHECKED_PATHS = 10_000;
const NEWLINE = 0x0a;

type RepairListener = (path: string, bytesRemoved: number) => void;

/** Maps a filesystem failure to a DeliveryError by its `code`. */
export function toFileDeliveryError(error: unknown, path: string): DeliveryError {
  const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  return new DeliveryError(`Appending to '${path}' failed: ${code}.`, {
    retryable: !PERMANENT_FS_CODES.has(code),
    reason: `fs_${code.toLowerCase()}`,
    cause: error,
  });
}

/**
 * Appends NDJSON to files under one directory: one `write` and one `fsync` per file per
 * batch. Appends to one file are serialized, and the first append to a file in this
 * process cuts off a partial last line that a crash may have left, so a reader never
 * sees a torn record followed by a good one on the same line.
 */
export class FileAppender {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly checked = new Set<string>();

  /**
   * Appends every file's text of a batch durably.
   * @param onRepair - told the path and the bytes cut when a partial line was removed
   * @throws DeliveryError classified by the filesystem error code
   */
  async append(directory: string, payload: FilePayload, onRepair: RepairListener = () => {}): Promise<void> {
    await Promise.all(
      [...payload].map(([relative, text]) => this.appendOne(join(directory, relative), text, onRepair)),
    );
  }

  private appendOne(path: string, text: string, onRepair: RepairListener): Promise<void> {
    const previous = this.queues.get(path) ?? Promise.resolve();
    const next = previous.then(() => this.write(path, text, onRepair));
    const settled = next.catch(() => {});
    this.queues.set(path, settled);
    void settled.then(() => {
      if (this.queues.get(path) === settled) this.queues.delete(path);
    });
    return next;
  }

  private async write(path: string, text: string, onRepair: RepairListener): Promise<void> {
    try {
      await mkdir(dirname(path), { recursive: true });
      const handle = await open(path, 'a+');
      try {
        if (!this.checked.has(path)) {
          const removed = await cutPartialLastLine(handle);
          if (removed > 0) onRepair(path, removed);
          // Forgetting is safe (the next append checks again); it only bounds memory.
          if (this.checked.size >= MAX_CHECKED_PATHS) this.checked.clear();
          this.checked.add(path);
        }
        // appendFile loops until every byte is written; a single write() may write fewer.
        await handle.appendFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw toFileDeliveryError(error, path);
    }
  }
}

/** Cuts a file back to its last newline; returns the bytes removed (0 when none). */
async function cutPartialLastLine(handle: FileHandle): Promise<number> {
  const { size } = await handle.stat();
  if (size === 0) return 0;
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  if (last[0] === NEWLINE) return 0;
  let end = size;
  let keep = 0;
  const chunk = Buffer.alloc(TAIL_SCAN_BYTES);
  while (end > 0) {
    const start = Math.max(0, end - TAIL_SCAN_BYTES);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const index = chunk.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (index >= 0) {
      keep = start + index + 1;
      break;
    }
    end = start;
  }
  await handle.truncate(keep);
  return size - keep;
}
