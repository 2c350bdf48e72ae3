import type { BufferedEvent, IngestBatch, IngestBuffer, IngestGroup, PendingGroup } from '../ports.js';
import { migrate, type SqliteDatabase } from './database.js';

/** One newline per line in the object body. */
const NEWLINE_BYTES = 1;

interface GroupRow {
  cluster_id: string;
  namespace: string;
  application: string;
  pod_name: string;
  events: number;
  bytes: number;
  oldest_ms: number;
}

interface LineRow {
  seq: number;
  line: string;
  bytes: number;
}

/**
 * The ingest write-ahead buffer in SQLite. `openDatabase` sets WAL with `synchronous =
 * FULL`, so a committed `append` survives a power loss before the collector hears 200.
 *
 * Rows carry a `batch_key` once assigned to an object; the key survives a crash, so a
 * restart re-writes the same object instead of a second one.
 *
 * The byte total for back-pressure is kept in memory (computed once at open) because a
 * `SUM` on every request would cost O(rows) exactly when the buffer is large. The table
 * therefore must have one writer process.
 *
 * @param db - an open database (see `openDatabase`)
 */
export function createSqliteIngestBuffer(db: SqliteDatabase): IngestBuffer {
  migrate(db, 'ingest_buffer', [
    {
      version: 1,
      description: 'Ingested events waiting to be written as objects.',
      up: (d) =>
        d.exec(`CREATE TABLE ingest_events (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          cluster_id TEXT NOT NULL,
          namespace TEXT NOT NULL,
          application TEXT NOT NULL,
          pod_name TEXT NOT NULL,
          received_at_ms INTEGER NOT NULL,
          bytes INTEGER NOT NULL,
          line TEXT NOT NULL,
          batch_key TEXT
        );
        CREATE INDEX ingest_events_unassigned ON ingest_events (cluster_id, namespace, application, pod_name, seq)
          WHERE batch_key IS NULL;
        CREATE INDEX ingest_events_assigned ON ingest_events (batch_key, seq) WHERE batch_key IS NOT NULL;`),
    },
  ]);

  const insert = db.prepare(
    `INSERT INTO ingest_events (cluster_id, namespace, application, pod_name, received_at_ms, bytes, line)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const groups = db.prepare(
    `SELECT cluster_id, namespace, application, pod_name,
            COUNT(*) AS events, SUM(bytes) AS bytes, MIN(received_at_ms) AS oldest_ms
     FROM ingest_events WHERE batch_key IS NULL
     GROUP BY cluster_id, namespace, application, pod_name`,
  );
  const unassignedOfGroup = db.prepare(
    `SELECT seq, line, bytes FROM ingest_events
     WHERE batch_key IS NULL AND cluster_id = ? AND namespace = ? AND application = ? AND pod_name = ?
     ORDER BY seq`,
  );
  const assign = db.prepare(
    `UPDATE ingest_events SET batch_key = ?
     WHERE batch_key IS NULL AND cluster_id = ? AND namespace = ? AND application = ? AND pod_name = ?
       AND seq <= ?`,
  );
  const assignedKeys = db.prepare(
    'SELECT DISTINCT batch_key AS key FROM ingest_events WHERE batch_key IS NOT NULL ORDER BY batch_key',
  );
  const linesOfBatch = db.prepare(
    'SELECT seq, line, bytes FROM ingest_events WHERE batch_key = ? ORDER BY seq',
  );
  const deleteBatch = db.prepare('DELETE FROM ingest_events WHERE batch_key = ? RETURNING bytes');
  const totalBytes = db.prepare('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM ingest_events');

  let heldBytes = (totalBytes.get() as { bytes: number }).bytes;

  // One transaction per request: one fsync, however many events the request holds.
  const appendAll = db.transaction((events: readonly BufferedEvent[], receivedAtMs: number): number => {
    let bytes = 0;
    for (const e of events) {
      const lineBytes = Buffer.byteLength(e.line, 'utf8') + NEWLINE_BYTES;
      insert.run(e.clusterId, e.namespace, e.application, e.podName, receivedAtMs, lineBytes, e.line);
      bytes += lineBytes;
    }
    return bytes;
  });

  const assignOldest = db.transaction(
    (group: IngestGroup, key: string, maxBytes: number): IngestBatch | undefined => {
      const lines: string[] = [];
      let bytes = 0;
      let lastSeq: number | undefined;
      const params = [group.clusterId, group.namespace, group.application, group.podName];
      for (const row of unassignedOfGroup.iterate(...params) as IterableIterator<LineRow>) {
        if (lastSeq !== undefined && bytes + row.bytes > maxBytes) break;
        lines.push(row.line);
        bytes += row.bytes;
        lastSeq = row.seq;
      }
      if (lastSeq === undefined) return undefined;
      assign.run(key, ...params, lastSeq);
      return { key, lines, bytes };
    },
  );

  const completeAll = db.transaction((key: string): number =>
    (deleteBatch.all(key) as { bytes: number }[]).reduce((sum, row) => sum + row.bytes, 0),
  );

  return {
    async append(events, receivedAtMs) {
      if (events.length === 0) return;
      heldBytes += appendAll(events, receivedAtMs);
    },
    async pendingBytes() {
      return heldBytes;
    },
    async pendingGroups(): Promise<PendingGroup[]> {
      return (groups.all() as GroupRow[]).map((row) => ({
        clusterId: row.cluster_id,
        namespace: row.namespace,
        application: row.application,
        podName: row.pod_name,
        events: row.events,
        bytes: row.bytes,
        oldestReceivedAtMs: row.oldest_ms,
      }));
    },
    async assignBatch(group, key, maxBytes) {
      return assignOldest(group, key, maxBytes);
    },
    async assignedBatchKeys() {
      return (assignedKeys.all() as { key: string }[]).map((row) => row.key);
    },
    async readBatch(key) {
      const rows = linesOfBatch.all(key) as LineRow[];
      if (rows.length === 0) return undefined;
      return {
        key,
        lines: rows.map((row) => row.line),
        bytes: rows.reduce((sum, row) => sum + row.bytes, 0),
      };
    },
    async completeBatch(key) {
      heldBytes -= completeAll(key);
    },
  };
}
