import { randomUUID } from 'node:crypto';
import { parseKeyTimestamp, parseObjectKey } from '../domain/index.js';
import { encodeWorkItem } from '../pipeline/notification.js';
import type { NotificationQueue, ObjectStore } from '../stores/ports.js';

export interface ReplayOptions {
  readonly tenantId: string;
  /** Inclusive lower bound (epoch ms) on the object's creation time. */
  readonly sinceMs?: number;
  /** Exclusive upper bound (epoch ms). */
  readonly untilMs?: number;
  /** Config types to re-deliver to; every matching destination when absent. */
  readonly destinations?: readonly string[];
  /** Told the number of objects queued so far. */
  readonly onProgress?: (queued: number) => void;
}

export interface ReplayResult {
  readonly replayId: string;
  readonly queued: number;
  /** Objects of the tenant whose creation time could not be read from the key. */
  readonly undated: number;
}

/**
 * Queues every central object of a tenant in a time range for re-delivery. The replay has
 * its own checkpoints, so objects delivered before are delivered again, once.
 * An object's time is the `YYYYMMDD-HHMMSS` of its file name, else its last-modified time.
 */
export async function replayTenant(
  objects: ObjectStore,
  queue: NotificationQueue,
  options: ReplayOptions,
): Promise<ReplayResult> {
  const replayId = randomUUID();
  let queued = 0;
  let undated = 0;
  for await (const info of objects.list()) {
    let parsed: ReturnType<typeof parseObjectKey>;
    try {
      parsed = parseObjectKey(info.key);
    } catch {
      continue; // not a log object; the processor dead-lettered it when it arrived
    }
    if (parsed.kind !== 'log' || parsed.tenantId !== options.tenantId) continue;
    let createdMs = parseKeyTimestamp(parsed.fileName);
    if (createdMs === undefined) {
      undated++;
      createdMs = info.lastModifiedMs;
    }
    if (options.sinceMs !== undefined && createdMs < options.sinceMs) continue;
    if (options.untilMs !== undefined && createdMs >= options.untilMs) continue;
    await queue.send(
      encodeWorkItem({
        key: info.key,
        attempt: 0,
        replayId,
        ...(options.destinations !== undefined && { destinations: options.destinations }),
      }),
    );
    queued++;
    options.onProgress?.(queued);
  }
  return { replayId, queued, undated };
}
