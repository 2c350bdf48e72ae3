import { ConfigValidationError } from '../../domain/index.js';
import type { BufferedEvent, IngestBatch, IngestBuffer, IngestGroup, PendingGroup } from '../ports.js';
import { type Migration, migrate, type SqliteDatabase } from './database.js';

/** One newline per line in the object body. */
const NEWLINE_BYTES = 1;
const NEWLINE = 0x0a;
/**
 * Default chunk size: small enough that objects of a few MiB come out within a few percent
 * of their size limit, large enough that a 10 MiB request is a few hundred rows at most.
 */
export const DEFAULT_MAX_CHUNK_BYTES = 64 * 1024;

/** What `createSqliteIngestBuffer` accepts. */
export interface SqliteIngestBufferOptions {
  /**
   * Largest chunk in bytes (lines plus newlines); a single bigger event gets a chunk of its
   * own. Batches are made of whole chunks. Default 64 KiB.
   */
  readonly maxChunkBytes?: number;
}

interface GroupRow {
  cluster_id: string;
  namespace: string;
  application: string;
  pod_name: string;
  events: number;
  bytes: number;
  oldest_ms: number;
}

interface ChunkRow {
  seq: number;
  events: number;
  bytes: number;
}

interface Chunk extends IngestGroup {
  events: number;
  /** Bytes of `body` in use: the lines, each with its newline. */
  bytes: number;
  /** The chunk's NDJSON, written in place as the lines arrive. */
  body: Buffer;
}

/** The open chunks of one request, by cluster, namespace, application and pod (no key strings to build per event). */
type OpenChunks = Map<string, Map<string, Map<string, Map<string, Chunk>>>>;

function nested<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}

const INGEST_BUFFER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'Ingested events in chunks per group and request, waiting to be written as objects.',
    up: (d) =>
      d.exec(`CREATE TABLE ingest_chunks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        cluster_id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        application TEXT NOT NULL,
        pod_name TEXT NOT NULL,
        received_at_ms INTEGER NOT NULL,
        events INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        batch_key TEXT
      );
      CREATE TABLE ingest_chunk_bodies (
        seq INTEGER PRIMARY KEY,
        ndjson TEXT NOT NULL
      );
      CREATE INDEX ingest_chunks_unassigned
        ON ingest_chunks (cluster_id, namespace, application, pod_name, seq, received_at_ms, events, bytes)
        WHERE batch_key IS NULL;
      CREATE INDEX ingest_chunks_assigned ON ingest_chunks (batch_key, seq) WHERE batch_key IS NOT NULL;`),
  },
];

/**
 * The ingest write-ahead buffer in SQLite. `openDatabase` sets WAL with `synchronous =
 * FULL`, so a committed `append` survives a power loss before the collector hears 200.
 *
 * Events are stored as chunks: the NDJSON of one group's events from one request, cut at
 * `maxChunkBytes`. A request from a node's collector mixes events of many pods; one row
 * per event would scatter each group over every page, and flushing a group would then
 * rewrite most of the table. Chunk metadata and bodies live in separate tables so that
 * assigning a chunk to a batch rewrites a few bytes, not the body.
 *
 * Rows carry a `batch_key` once assigned to an object; the key survives a crash, so a
 * restart re-writes the same object instead of a second one.
 *
 * The byte total for back-pressure is kept in memory (summed once at open), so the table
 * must have one writer process.
 *
 * @param db - an open database (see `openDatabase`)
 * @throws ConfigValidationError when `maxChunkBytes` is not a whole number ≥ 1
 */
export function createSqliteIngestBuffer(
  db: SqliteDatabase,
  options: SqliteIngestBufferOptions = {},
): IngestBuffer {
  const maxChunkBytes = options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
  if (!Number.isInteger(maxChunkBytes) || maxChunkBytes < 1) {
    throw new ConfigValidationError(
      [{ field: 'maxChunkBytes', message: 'must be a whole number of bytes ≥ 1' }],
      'ingest buffer options',
    );
  }
  migrate(db, 'ingest_buffer', INGEST_BUFFER_MIGRATIONS);

  const insertChunk = db.prepare(
    `INSERT INTO ingest_chunks (cluster_id, namespace, application, pod_name, received_at_ms, events, bytes)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertBody = db.prepare('INSERT INTO ingest_chunk_bodies (seq, ndjson) VALUES (?, ?)');
  const groups = db.prepare(
    `SELECT cluster_id, namespace, application, pod_name,
            SUM(events) AS events, SUM(bytes) AS bytes, MIN(received_at_ms) AS oldest_ms
     FROM ingest_chunks WHERE batch_key IS NULL
     GROUP BY cluster_id, namespace, application, pod_name`,
  );
  const unassignedOfGroup = db.prepare(
    `SELECT seq, events, bytes FROM ingest_chunks
     WHERE batch_key IS NULL AND cluster_id = ? AND namespace = ? AND application = ? AND pod_name = ?
     ORDER BY seq`,
  );
  const assign = db.prepare(
    `UPDATE ingest_chunks SET batch_key = ?
     WHERE batch_key IS NULL AND cluster_id = ? AND namespace = ? AND application = ? AND pod_name = ?
       AND seq <= ?`,
  );
  const assignedKeys = db.prepare(
    'SELECT DISTINCT batch_key AS key FROM ingest_chunks WHERE batch_key IS NOT NULL ORDER BY batch_key',
  );
  const chunksOfBatch = db.prepare(
    `SELECT c.events, c.bytes, b.ndjson FROM ingest_chunks c JOIN ingest_chunk_bodies b ON b.seq = c.seq
     WHERE c.batch_key = ? ORDER BY c.seq`,
  );
  const deleteBodies = db.prepare(
    'DELETE FROM ingest_chunk_bodies WHERE seq IN (SELECT seq FROM ingest_chunks WHERE batch_key = ?)',
  );
  const deleteChunks = db.prepare('DELETE FROM ingest_chunks WHERE batch_key = ? RETURNING bytes');
  const totalBytes = db.prepare('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM ingest_chunks');

  let heldBytes = (totalBytes.get() as { bytes: number }).bytes;

  /**
   * Cuts a request into chunks per group, in arrival order. Each line is encoded once, straight
   * into its chunk's buffer (stored as a BLOB), rather than kept as a string, joined and
   * encoded again by the driver: half the appending cost for the Forward input (docs/benchmarks.md).
   */
  function toChunks(events: readonly BufferedEvent[]): Chunk[] {
    const chunks: Chunk[] = [];
    const open: OpenChunks = new Map();
    for (const e of events) {
      const byNamespace = nested(open, e.clusterId, () => new Map());
      const byPod = nested(nested(byNamespace, e.namespace, () => new Map()), e.application, () => new Map());
      let chunk = byPod.get(e.podName);
      // A UTF-16 code unit takes at most 3 UTF-8 bytes, so only a line near the end of the
      // chunk needs its exact length measured.
      const roomNeeded = e.line.length * 3 + NEWLINE_BYTES;
      if (chunk && chunk.body.length - chunk.bytes < roomNeeded) {
        const lineBytes = Buffer.byteLength(e.line, 'utf8') + NEWLINE_BYTES;
        // A chunk's buffer holds at least `maxChunkBytes`, so a line that keeps within the limit fits.
        if (chunk.bytes + lineBytes > maxChunkBytes) chunk = undefined;
      }
      if (!chunk) {
        chunk = {
          clusterId: e.clusterId,
          namespace: e.namespace,
          application: e.application,
          podName: e.podName,
          events: 0,
          bytes: 0,
          body: Buffer.allocUnsafe(Math.max(maxChunkBytes, Buffer.byteLength(e.line, 'utf8') + NEWLINE_BYTES)),
        };
        chunks.push(chunk);
        byPod.set(e.podName, chunk);
      }
      chunk.bytes += chunk.body.write(e.line, chunk.bytes, 'utf8');
      chunk.body[chunk.bytes++] = NEWLINE;
      chunk.events++;
    }
    return chunks;
  }

  // One transaction per request: one fsync, however many events the request holds.
  const appendAll = db.transaction((chunks: readonly Chunk[], receivedAtMs: number): number => {
    let bytes = 0;
    for (const c of chunks) {
      const { lastInsertRowid } = insertChunk.run(
        c.clusterId,
        c.namespace,
        c.application,
        c.podName,
        receivedAtMs,
        c.events,
        c.bytes,
      );
      insertBody.run(lastInsertRowid, c.body.subarray(0, c.bytes));
      bytes += c.bytes;
    }
    return bytes;
  });

  function readAssigned(key: string): IngestBatch | undefined {
    // Bodies are BLOBs; rows written before they were are TEXT.
    const rows = chunksOfBatch.all(key) as { events: number; bytes: number; ndjson: Buffer | string }[];
    if (rows.length === 0) return undefined;
    let events = 0;
    let bytes = 0;
    for (const row of rows) {
      events += row.events;
      bytes += row.bytes;
    }
    const body = Buffer.concat(rows.map((row) => (typeof row.ndjson === 'string' ? Buffer.from(row.ndjson, 'utf8') : row.ndjson)), bytes);
    return { key, body, events, bytes };
  }

  const assignOldest = db.transaction((group: IngestGroup, key: string, maxBytes: number): boolean => {
    let bytes = 0;
    let lastSeq: number | undefined;
    const params = [group.clusterId, group.namespace, group.application, group.podName];
    for (const row of unassignedOfGroup.iterate(...params) as IterableIterator<ChunkRow>) {
      if (lastSeq !== undefined && bytes + row.bytes > maxBytes) break;
      bytes += row.bytes;
      lastSeq = row.seq;
    }
    if (lastSeq === undefined) return false;
    assign.run(key, ...params, lastSeq);
    return true;
  });

  const completeAll = db.transaction((key: string): number => {
    deleteBodies.run(key);
    return (deleteChunks.all(key) as { bytes: number }[]).reduce((sum, row) => sum + row.bytes, 0);
  });

  return {
    async append(events, receivedAtMs) {
      if (events.length === 0) return;
      heldBytes += appendAll(toChunks(events), receivedAtMs);
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
      return assignOldest(group, key, maxBytes) ? readAssigned(key) : undefined;
    },
    async assignedBatchKeys() {
      return (assignedKeys.all() as { key: string }[]).map((row) => row.key);
    },
    async readBatch(key) {
      return readAssigned(key);
    },
    async completeBatch(key) {
      heldBytes -= completeAll(key);
    },
  };
}
