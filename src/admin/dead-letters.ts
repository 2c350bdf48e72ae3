import { encodeWorkItem } from '../pipeline/notification.js';
import type { DeadLetter, DeadLetterStore, NotificationQueue } from '../stores/ports.js';

export interface RedriveResult {
  readonly redriven: DeadLetter[];
  /** Dead letters that cannot be redriven, with why. */
  readonly skipped: { deadLetter: DeadLetter; why: string }[];
}

/**
 * Puts dead-lettered work back on the queue as a fresh delivery (attempt 0) scoped to its
 * destination, and marks each entry redriven. Progress already checkpointed is kept, so
 * a redrive resumes after the last accepted record.
 */
export async function redriveDeadLetters(
  deadLetters: DeadLetterStore,
  queue: NotificationQueue,
  entries: readonly DeadLetter[],
  nowMs: number = Date.now(),
): Promise<RedriveResult> {
  const result: RedriveResult = { redriven: [], skipped: [] };
  const redrivenIds = new Set<string>();
  for (const entry of entries) {
    // The same entry named twice (a full id and a prefix) is queued once.
    if (entry.redrivenAtMs !== undefined || redrivenIds.has(entry.id)) {
      result.skipped.push({ deadLetter: entry, why: 'already redriven' });
      continue;
    }
    if (entry.objectKey === '') {
      result.skipped.push({ deadLetter: entry, why: 'the message named no object' });
      continue;
    }
    await queue.send(
      encodeWorkItem({
        key: entry.objectKey,
        attempt: 0,
        ...(entry.destination !== '*' && { destinations: [entry.destination] }),
      }),
    );
    await deadLetters.markRedriven(entry.id, nowMs);
    redrivenIds.add(entry.id);
    result.redriven.push(entry);
  }
  return result;
}
