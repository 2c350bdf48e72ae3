import type { Checkpoint, CheckpointStore } from '../ports.js';
import { type Migration, migrate, type SqliteDatabase } from './database.js';

interface CheckpointRow {
  destination_id: string;
  offset: number;
  done: number;
}

const CHECKPOINT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'checkpoints',
    up: (db) => {
      // `offset` is an SQL keyword, hence the quotes; `updated_at` is epoch ms, for cleanup by age.
      db.exec(`
        CREATE TABLE checkpoints (
          object_key TEXT NOT NULL,
          destination_id TEXT NOT NULL,
          "offset" INTEGER NOT NULL,
          done INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (object_key, destination_id)
        )
      `);
    },
  },
];

/** The embedded checkpoint store, which can also tell whether progress was made lately. */
export type SqliteCheckpointStore = CheckpointStore & {
  /**
   * Whether any of these objects' checkpoints moved forward at or after `sinceMs` (epoch ms):
   * a save that repeats older progress does not count.
   */
  savedSince(checkpointKeys: readonly string[], sinceMs: number): boolean;
};

/**
 * Creates the embedded checkpoint store: progress per (object, destination) in SQLite.
 * A save is one statement, durable on commit.
 *
 * @param db - the router's database, from `openDatabase`; the store migrates its table
 */
export function createSqliteCheckpointStore(db: SqliteDatabase): SqliteCheckpointStore {
  migrate(db, 'checkpoints', CHECKPOINT_MIGRATIONS);

  // The destination ids travel as one JSON array, so one prepared statement serves any count.
  const selectMany = db.prepare<[string, string], CheckpointRow>(
    `SELECT destination_id, "offset", done FROM checkpoints
     WHERE object_key = ? AND destination_id IN (SELECT value FROM json_each(?))`,
  );
  // A retry that rebuilt its batches, or a slower replica, may report older progress: the
  // WHERE keeps the stored checkpoint unless the new one is further, and MAX keeps each
  // column from moving back (a `done` with a lower offset keeps the higher offset).
  const saveForward = db.prepare<[string, string, number, number, number]>(
    `INSERT INTO checkpoints (object_key, destination_id, "offset", done, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (object_key, destination_id) DO UPDATE SET
       "offset" = MAX(checkpoints."offset", excluded."offset"),
       done = MAX(checkpoints.done, excluded.done),
       updated_at = excluded.updated_at
     WHERE excluded."offset" > checkpoints."offset" OR (excluded.done = 1 AND checkpoints.done = 0)`,
  );

  // `updated_at` moves only when a save moved the checkpoint forward (the WHERE above).
  const selectSavedSince = db.prepare<[string, number], { found: number }>(
    `SELECT 1 AS found FROM checkpoints
     WHERE object_key IN (SELECT value FROM json_each(?)) AND updated_at >= ? LIMIT 1`,
  );

  return {
    savedSince(checkpointKeys: readonly string[], sinceMs: number): boolean {
      if (checkpointKeys.length === 0) return false;
      return selectSavedSince.get(JSON.stringify(checkpointKeys), sinceMs) !== undefined;
    },

    async getMany(objectKey: string, destinationIds: readonly string[]): Promise<Map<string, Checkpoint>> {
      const checkpoints = new Map<string, Checkpoint>();
      if (destinationIds.length === 0) return checkpoints;
      for (const row of selectMany.all(objectKey, JSON.stringify(destinationIds))) {
        checkpoints.set(row.destination_id, { offset: row.offset, done: row.done === 1 });
      }
      return checkpoints;
    },

    async save(objectKey: string, destinationId: string, checkpoint: Checkpoint): Promise<void> {
      if (!(Number.isSafeInteger(checkpoint.offset) && checkpoint.offset >= -1)) {
        throw new RangeError(`A checkpoint offset must be a whole number ≥ -1, got ${checkpoint.offset}.`);
      }
      saveForward.run(objectKey, destinationId, checkpoint.offset, checkpoint.done ? 1 : 0, Date.now());
    },
  };
}
