import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redriveDeadLetters } from '../../src/admin/dead-letters.js';
import { parseNotification, type WorkItem } from '../../src/pipeline/notification.js';
import { type LocalStores, openLocalStores } from '../../src/runtimes/local-stores.js';
import type { DeadLetter, NewDeadLetter } from '../../src/stores/ports.js';
import { objectKeyFactory, randomId } from '../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const NOW_MS = Date.UTC(2026, 1, 3, 4, 5, 6);

let stores: LocalStores;

function newDeadLetter(overrides: Partial<NewDeadLetter> = {}): NewDeadLetter {
  const tenantId = `tenant-${randomId()}`;
  return {
    tenantId,
    destination: 'file',
    objectKey: objectKeyFactory({ namespace: tenantId }),
    reason: 'retries_exhausted',
    message: 'Gave up after 5 attempts.',
    attempts: 5,
    offset: 3,
    ...overrides,
  };
}

async function add(...entries: NewDeadLetter[]): Promise<DeadLetter[]> {
  const added: DeadLetter[] = [];
  for (const entry of entries) added.push(await stores.deadLetters.add(entry));
  return added;
}

async function queuedItems(): Promise<WorkItem[]> {
  const items: WorkItem[] = [];
  for (;;) {
    const batch = await stores.queue.receive({ maxMessages: 10, waitMs: 0 });
    if (batch.length === 0) return items;
    for (const m of batch) items.push(...parseNotification(m.body).items);
  }
}

beforeEach(async () => {
  stores = openLocalStores(await makeTempDir('tlr-admin-dlq-'));
});

afterEach(async () => {
  stores.close();
  await removeTempDirs();
});

describe('redriveDeadLetters', () => {
  it('queues each entry from attempt 0, scoped to its destination, and marks it redriven at now', async () => {
    // Prepare
    const [a, b] = await add(newDeadLetter(), newDeadLetter({ destination: 'file:archive' }));

    // Act
    const result = await redriveDeadLetters(stores.deadLetters, stores.queue, [a!, b!], NOW_MS);

    // Assess
    expect(result).toEqual({ redriven: [a, b], skipped: [] });
    expect(await queuedItems()).toEqual([
      { key: a!.objectKey, destinations: ['file'], attempt: 0 },
      { key: b!.objectKey, destinations: ['file:archive'], attempt: 0 },
    ]);
    expect(await stores.deadLetters.get(a!.id)).toMatchObject({ redrivenAtMs: NOW_MS });
    expect(await stores.deadLetters.get(b!.id)).toMatchObject({ redrivenAtMs: NOW_MS });
  });

  it('queues an entry refused before routing for every destination', async () => {
    // Prepare
    const [entry] = await add(newDeadLetter({ destination: '*', reason: 'corrupt_object' }));

    // Act
    await redriveDeadLetters(stores.deadLetters, stores.queue, [entry!], NOW_MS);

    // Assess
    expect(await queuedItems()).toEqual([{ key: entry!.objectKey, attempt: 0 }]);
  });

  it.each([
    {
      case: 'an entry already redriven',
      prepare: async () => {
        const [entry] = await add(newDeadLetter());
        await stores.deadLetters.markRedriven(entry!.id, NOW_MS - 1_000);
        return (await stores.deadLetters.get(entry!.id))!;
      },
      why: 'already redriven',
      redrivenAtMs: NOW_MS - 1_000,
    },
    {
      case: 'an entry whose message named no object',
      prepare: async () => (await add(newDeadLetter({ objectKey: '', destination: '*' })))[0]!,
      why: 'the message named no object',
      redrivenAtMs: undefined,
    },
  ])('skips $case with the reason and queues nothing for it', async ({ prepare, why, redrivenAtMs }) => {
    // Prepare
    const skippedEntry = await prepare();
    const [good] = await add(newDeadLetter());

    // Act
    const result = await redriveDeadLetters(stores.deadLetters, stores.queue, [skippedEntry, good!], NOW_MS);

    // Assess
    expect(result).toEqual({ redriven: [good], skipped: [{ deadLetter: skippedEntry, why }] });
    expect((await queuedItems()).map((i) => i.key)).toEqual([good!.objectKey]);
    expect((await stores.deadLetters.get(skippedEntry.id))?.redrivenAtMs).toBe(redrivenAtMs);
  });

  it('queues an entry given twice once and skips the repeat as already redriven', async () => {
    // Prepare
    const [entry] = await add(newDeadLetter());

    // Act
    const result = await redriveDeadLetters(stores.deadLetters, stores.queue, [entry!, entry!], NOW_MS);

    // Assess
    expect(result).toEqual({ redriven: [entry], skipped: [{ deadLetter: entry, why: 'already redriven' }] });
    expect(await queuedItems()).toHaveLength(1);
  });

  it('does nothing for no entries', async () => {
    // Prepare
    // Act
    const result = await redriveDeadLetters(stores.deadLetters, stores.queue, [], NOW_MS);

    // Assess
    expect(result).toEqual({ redriven: [], skipped: [] });
    expect(await queuedItems()).toEqual([]);
  });
});
