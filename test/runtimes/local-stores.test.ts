import { afterEach, describe, expect, it } from 'vitest';
import { encodeWorkItem } from '../../src/pipeline/notification.js';
import { createLogger, LogLevel } from '../../src/logging/index.js';
import {
  type LocalStores,
  madeProgressSince,
  openLocalStores,
  recordQueueDeadLetters,
} from '../../src/runtimes/local-stores.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const KEY = 'c1/team-a/app/pod/20260101-000000-a.json.gz';

let stores: LocalStores | undefined;

afterEach(async () => {
  stores?.close();
  stores = undefined;
  await removeTempDirs();
});

/** An S3 event naming `key`, as S3 sends it (form-URL-encoded key). */
function s3Event(key: string): string {
  return JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'b' }, object: { key } } }] });
}

describe('madeProgressSince', () => {
  it('finds forward progress of the objects a message names, apart per replay, and none in an unreadable body', async () => {
    // Prepare
    stores = openLocalStores(await makeTempDir('tlr-local-stores-'));
    const since = Date.now();
    await stores.checkpoints.save(`${KEY}#replay:r1`, 'team-a/s3', { offset: 4, done: false });
    const progressed = madeProgressSince(stores.checkpoints);

    // Act
    const replay = progressed(encodeWorkItem({ key: KEY, attempt: 0, replayId: 'r1' }), since);
    const firstDelivery = progressed(s3Event(KEY), since);
    const later = progressed(encodeWorkItem({ key: KEY, attempt: 0, replayId: 'r1' }), Date.now() + 60_000);
    const unreadable = progressed('not json', since);

    // Assess
    expect(replay).toBe(true);
    expect(firstDelivery).toBe(false);
    expect(later).toBe(false);
    expect(unreadable).toBe(false);
  });
});

describe('recordQueueDeadLetters', () => {
  it('lists a message the queue backstop moved in the dead-letter store, per object and scoped destination', async () => {
    // Prepare: a queue that moves a message on its second receive.
    stores = openLocalStores(await makeTempDir('tlr-local-stores-'), { maxReceiveCount: 1 });
    const scoped = encodeWorkItem({ key: KEY, attempt: 2, destinations: ['cloudwatch', 's3'] });
    for (const body of [s3Event(KEY), scoped, 'not json']) await stores.queue.send(body);
    for (const message of await stores.queue.receive({ maxMessages: 10, waitMs: 0 })) {
      await stores.queue.changeVisibility(message.receiptHandle, 0);
    }

    // Act
    const received = await stores.queue.receive({ maxMessages: 10, waitMs: 0 });
    const entries = await stores.deadLetters.list();

    // Assess
    expect(received).toEqual([]);
    const rows = entries.map((e) => [e.tenantId, e.destination, e.objectKey, e.reason, e.attempts]).sort();
    expect(rows).toEqual(
      [
        ['', '*', '', 'receive_limit_exceeded', 2],
        ['team-a', '*', KEY, 'receive_limit_exceeded', 2],
        ['team-a', 'cloudwatch', KEY, 'receive_limit_exceeded', 2],
        ['team-a', 's3', KEY, 'receive_limit_exceeded', 2],
      ].sort(),
    );
    expect(entries.find((e) => e.objectKey === '')?.message).toContain('Body: not json');
    expect(entries[0]?.message).toContain('tlr dlq redrive');
  });

  it('logs a failure to record and leaves the message in the queue backstop', async () => {
    // Prepare
    const errors: unknown[] = [];
    const logger = { ...createLogger({ level: LogLevel.ERROR }), error: (message: string) => errors.push(message) };
    const failing = {
      add: () => Promise.reject(new Error('disk full')),
      list: () => Promise.resolve([]),
      get: () => Promise.resolve(undefined),
      markRedriven: () => Promise.resolve(),
    };

    // Act
    await recordQueueDeadLetters(failing, [{ id: 'm1', body: s3Event(KEY), receiveCount: 6 }], logger as never);

    // Assess
    expect(errors).toEqual(['Recording a queue dead letter failed; it stays in the queue_dead_letters table.']);
  });
});
