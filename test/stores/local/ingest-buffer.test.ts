import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteIngestBuffer } from '../../../src/stores/local/ingest-buffer.js';
import type { BufferedEvent, IngestBuffer, IngestGroup } from '../../../src/stores/ports.js';
import { objectKeyPartsFactory } from '../../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

function groupFactory(): IngestGroup {
  const { clusterId, namespace, application, podName } = objectKeyPartsFactory();
  return { clusterId, namespace, application, podName };
}

function eventsFor(group: IngestGroup, messages: readonly string[]): BufferedEvent[] {
  return messages.map((message) => ({ ...group, line: JSON.stringify({ message }) }));
}

/** The object body of events: one line each, newline-terminated. */
function ndjsonOf(events: readonly BufferedEvent[]): string {
  return events.map((e) => `${e.line}\n`).join('');
}

/** Object bytes of events: UTF-8 plus one newline each. */
function objectBytes(events: readonly BufferedEvent[]): number {
  return events.reduce((sum, e) => sum + Buffer.byteLength(e.line) + 1, 0);
}

describe('createSqliteIngestBuffer', () => {
  let dbPath: string;
  let db: SqliteDatabase;
  let buffer: IngestBuffer;

  beforeEach(async () => {
    dbPath = join(await makeTempDir('tlr-ingest-buffer-'), 'tlr.db');
    db = openDatabase(dbPath);
    buffer = createSqliteIngestBuffer(db);
  });

  afterEach(async () => {
    db.close();
    await removeTempDirs();
  });

  it('groups appended events by cluster, namespace, application and pod with their bytes and age', async () => {
    // Prepare
    const a = groupFactory();
    const b = groupFactory();
    const first = eventsFor(a, ['one', 'zwei ü']);
    const second = [...eventsFor(b, ['x']), ...eventsFor(a, ['three'])];

    // Act
    await buffer.append(first, 1_000);
    await buffer.append(second, 2_000);
    const groups = await buffer.pendingGroups();

    // Assess
    const aEvents = [...first, second[1]!];
    expect(groups).toHaveLength(2);
    expect(groups).toContainEqual({
      ...a,
      events: 3,
      bytes: objectBytes(aEvents),
      oldestReceivedAtMs: 1_000,
    });
    expect(groups).toContainEqual({
      ...b,
      events: 1,
      bytes: objectBytes([second[0]!]),
      oldestReceivedAtMs: 2_000,
    });
    expect(await buffer.pendingBytes()).toBe(objectBytes([...first, ...second]));
  });

  it("assigns a group's events in arrival order across requests, leaving other groups alone", async () => {
    // Prepare
    const a = groupFactory();
    const b = groupFactory();
    const first = [...eventsFor(a, ['a1']), ...eventsFor(b, ['b1']), ...eventsFor(a, ['a2'])];
    const second = [...eventsFor(b, ['b2']), ...eventsFor(a, ['a3'])];
    await buffer.append(first, 1_000);
    await buffer.append(second, 2_000);

    // Act
    const batch = await buffer.assignBatch(a, 'k/a', 1_000_000);

    // Assess
    const aEvents = [first[0]!, first[2]!, second[1]!];
    expect(batch).toEqual({ key: 'k/a', body: Buffer.from(ndjsonOf(aEvents)), events: 3, bytes: objectBytes(aEvents) });
    expect(await buffer.pendingGroups()).toEqual([
      { ...b, events: 2, bytes: objectBytes([first[1]!, second[0]!]), oldestReceivedAtMs: 1_000 },
    ]);
  });

  it('assigns the oldest events of a group up to the byte limit', async () => {
    // Prepare
    buffer = createSqliteIngestBuffer(db, { maxChunkBytes: 1 });
    const group = groupFactory();
    const events = eventsFor(group, ['a1', 'a2', 'a3', 'a4']);
    await buffer.append(events.slice(0, 1), 1_000);
    await buffer.append(events.slice(1), 2_000);
    const twoLines = objectBytes(events.slice(0, 2));

    // Act
    const batch = await buffer.assignBatch(group, 'k/1', twoLines);

    // Assess
    expect(batch).toEqual({ key: 'k/1', body: Buffer.from(ndjsonOf(events.slice(0, 2))), events: 2, bytes: twoLines });
    expect(await buffer.pendingGroups()).toEqual([
      { ...group, events: 2, bytes: objectBytes(events.slice(2)), oldestReceivedAtMs: 2_000 },
    ]);
  });

  it('assigns whole chunks only, cutting a request into chunks of at most maxChunkBytes', async () => {
    // Prepare
    const group = groupFactory();
    const events = eventsFor(group, ['e1', 'e2', 'e3', 'e4', 'e5']);
    const lineBytes = objectBytes(events.slice(0, 1));
    buffer = createSqliteIngestBuffer(db, { maxChunkBytes: 2 * lineBytes });
    await buffer.append(events, 1_000);

    // Act
    const first = await buffer.assignBatch(group, 'k/1', 3 * lineBytes);
    const second = await buffer.assignBatch(group, 'k/2', 3 * lineBytes);

    // Assess
    // Chunks hold 2, 2 and 1 events: the first batch cannot take 4, the second takes 2 + 1.
    expect([first?.events, second?.events]).toEqual([2, 3]);
    expect(`${first?.body.toString()}${second?.body.toString()}`).toBe(ndjsonOf(events));
  });

  it('cuts chunks at the exact UTF-8 size of multi-byte lines, whichever side of the limit they fall', async () => {
    // Prepare: lines of 2-, 3- and 4-byte characters whose UTF-16 length understates their bytes.
    const group = groupFactory();
    const events = eventsFor(group, ['ü'.repeat(40), '€'.repeat(40), '😀'.repeat(20), 'ascii', '€'.repeat(40)]);
    const bytesOf = (i: number) => objectBytes(events.slice(i, i + 1));
    // The first two lines fill a chunk exactly; the third does not fit after them.
    buffer = createSqliteIngestBuffer(db, { maxChunkBytes: bytesOf(0) + bytesOf(1) });
    await buffer.append(events, 1_000);

    // Act
    const first = await buffer.assignBatch(group, 'k/1', 1);
    const rest = await buffer.assignBatch(group, 'k/2', 1_000_000);

    // Assess
    expect(first).toEqual({ key: 'k/1', body: Buffer.from(ndjsonOf(events.slice(0, 2))), events: 2, bytes: bytesOf(0) + bytesOf(1) });
    expect(rest).toEqual({ key: 'k/2', body: Buffer.from(ndjsonOf(events.slice(2))), events: 3, bytes: objectBytes(events.slice(2)) });
    expect(await buffer.pendingBytes()).toBe(objectBytes(events));
  });

  it('reads bodies stored as text by earlier versions alongside the binary ones', async () => {
    // Prepare: one chunk as this version stores it, one as a TEXT row written before.
    const group = groupFactory();
    const [newer, older] = [eventsFor(group, ['binary']), eventsFor(group, ['text ü'])];
    await buffer.append(newer, 1_000);
    const { lastInsertRowid } = db
      .prepare(
        `INSERT INTO ingest_chunks (cluster_id, namespace, application, pod_name, received_at_ms, events, bytes)
         VALUES (?, ?, ?, ?, 2000, 1, ?)`,
      )
      .run(group.clusterId, group.namespace, group.application, group.podName, objectBytes(older));
    db.prepare('INSERT INTO ingest_chunk_bodies (seq, ndjson) VALUES (?, ?)').run(lastInsertRowid, ndjsonOf(older));

    // Act
    const batch = await buffer.assignBatch(group, 'k/1', 1_000_000);

    // Assess
    const all = [...newer, ...older];
    expect(batch).toEqual({ key: 'k/1', body: Buffer.from(ndjsonOf(all)), events: 2, bytes: objectBytes(all) });
  });

  it('assigns one event even when it alone exceeds the byte limit', async () => {
    // Prepare
    const group = groupFactory();
    await buffer.append(eventsFor(group, ['x'.repeat(100)]), 1_000);
    await buffer.append(eventsFor(group, ['small']), 2_000);

    // Act
    const batch = await buffer.assignBatch(group, 'k/big', 10);

    // Assess
    expect(batch?.events).toBe(1);
    expect(batch?.body.toString()).toContain('x'.repeat(100));
  });

  it('assigns nothing for a group without unassigned events', async () => {
    // Prepare
    const group = groupFactory();
    await buffer.append(eventsFor(group, ['a']), 1_000);
    await buffer.assignBatch(group, 'k/1', 1_000_000);

    // Act
    const batch = await buffer.assignBatch(group, 'k/2', 1_000_000);

    // Assess
    expect(batch).toBeUndefined();
    expect(await buffer.pendingGroups()).toEqual([]);
  });

  it('keeps assigned events readable under their key until the batch is completed', async () => {
    // Prepare
    const group = groupFactory();
    const events = eventsFor(group, ['a', 'b']);
    await buffer.append(events, 1_000);
    await buffer.assignBatch(group, 'k/1', 1_000_000);

    // Act
    const keys = await buffer.assignedBatchKeys();
    const batch = await buffer.readBatch('k/1');
    await buffer.completeBatch('k/1');

    // Assess
    expect(keys).toEqual(['k/1']);
    expect(batch).toEqual({ key: 'k/1', body: Buffer.from(ndjsonOf(events)), events: 2, bytes: objectBytes(events) });
    expect(await buffer.assignedBatchKeys()).toEqual([]);
    expect(await buffer.readBatch('k/1')).toBeUndefined();
    expect(await buffer.pendingBytes()).toBe(0);
    expect(db.prepare('SELECT COUNT(*) AS n FROM ingest_chunk_bodies').get()).toEqual({ n: 0 });
  });

  it('counts assigned but not completed events in the pending bytes', async () => {
    // Prepare
    const group = groupFactory();
    const events = eventsFor(group, ['a', 'b']);
    await buffer.append(events, 1_000);

    // Act
    await buffer.assignBatch(group, 'k/1', 1_000_000);

    // Assess
    expect(await buffer.pendingBytes()).toBe(objectBytes(events));
  });

  it('keeps events and their batch keys across a reopen, as after a crash', async () => {
    // Prepare
    const group = groupFactory();
    const events = eventsFor(group, ['a', 'b', 'c']);
    await buffer.append(events.slice(0, 1), 1_000);
    await buffer.append(events.slice(1), 2_000);
    await buffer.assignBatch(group, 'k/1', objectBytes(events.slice(0, 1)));
    db.close();

    // Act
    db = openDatabase(dbPath);
    const reopened = createSqliteIngestBuffer(db);

    // Assess
    expect(await reopened.assignedBatchKeys()).toEqual(['k/1']);
    expect((await reopened.readBatch('k/1'))?.body.toString()).toBe(ndjsonOf(events.slice(0, 1)));
    expect(await reopened.pendingGroups()).toEqual([
      { ...group, events: 2, bytes: objectBytes(events.slice(1)), oldestReceivedAtMs: 2_000 },
    ]);
    expect(await reopened.pendingBytes()).toBe(objectBytes(events));
  });

  it('stores nothing of a request when one of its events cannot be stored', async () => {
    // Prepare
    const group = groupFactory();
    const other = groupFactory();
    const events = [
      ...eventsFor(group, ['a']),
      { ...other, clusterId: null as unknown as string, line: '{}' },
    ];

    // Act
    const error = await buffer.append(events, 1_000).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(await buffer.pendingGroups()).toEqual([]);
    expect(await buffer.pendingBytes()).toBe(0);
  });

  it('appends thousands of events of many groups in one call', async () => {
    // Prepare
    const groups = Array.from({ length: 20 }, groupFactory);
    const events = Array.from({ length: 5_000 }, (_, i) => eventsFor(groups[i % 20]!, [`message ${i}`])[0]!);

    // Act
    await buffer.append(events, 1_000);

    // Assess
    const pending = await buffer.pendingGroups();
    expect(pending).toHaveLength(20);
    expect(pending.reduce((sum, g) => sum + g.events, 0)).toBe(5_000);
  });


  it.each([0, 1.5, -1])('refuses a chunk size of %s', (maxChunkBytes) => {
    // Act
    const create = () => createSqliteIngestBuffer(db, { maxChunkBytes });

    // Assess
    expect(create).toThrow(ConfigValidationError);
  });
});
