import { checkStatusUpdates } from '../destination-status-updates.js';
import type {
  DestinationCircuitState,
  DestinationStatusRecord,
  DestinationStatusStore,
  DestinationStatusUpdate,
} from '../ports.js';
import { type Migration, migrate, type SqliteDatabase } from './database.js';

/** What `createSqliteDestinationStatusStore` accepts. */
export interface SqliteDestinationStatusStoreOptions {
  /** The clock, in epoch ms, that stamps `updatedAtMs`; tests pass a fake one. Default `Date.now`. */
  readonly now?: () => number;
}

interface StatusRow {
  tenant_id: string;
  type: string;
  last_success_at: number | null;
  lag_ms: number | null;
  error_code: string | null;
  error_message: string | null;
  error_at: number | null;
  pending_retries: number;
  circuit_state: string | null;
  circuit_opened_at: number | null;
  circuit_next_probe_at: number | null;
  circuit_at: number | null;
  updated_at: number;
}

const STATUS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'destination_status',
    up: (db) => {
      // Times are epoch ms. `pending_retries` is the raw sum of the deltas and may dip below 0
      // while replicas' reports arrive out of order; readers see it floored at 0.
      db.exec(`
        CREATE TABLE destination_status (
          tenant_id TEXT NOT NULL,
          type TEXT NOT NULL,
          last_success_at INTEGER,
          lag_ms INTEGER,
          error_code TEXT,
          error_message TEXT,
          error_at INTEGER,
          pending_retries INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (tenant_id, type)
        )
      `);
    },
  },
  {
    version: 2,
    description: 'destination_status circuit breaker state',
    up: (db) => {
      // The last circuit state a replica reported; `circuit_at` orders reports (newest wins).
      db.exec(`
        ALTER TABLE destination_status ADD COLUMN circuit_state TEXT;
        ALTER TABLE destination_status ADD COLUMN circuit_opened_at INTEGER;
        ALTER TABLE destination_status ADD COLUMN circuit_next_probe_at INTEGER;
        ALTER TABLE destination_status ADD COLUMN circuit_at INTEGER;
      `);
    },
  },
];

/**
 * Creates the embedded destination-status store: per-destination health in SQLite, one row
 * per (tenant, type).
 *
 * An `apply` is one transaction. Times never move back: a success replaces the stored one
 * only when strictly newer, and its `lagMs` (or the lack of one) goes with it; the same holds
 * for `lastError` by its `atMs`, and for `circuit` by its `atMs`. Retry deltas add up as given, so reports that arrive out of
 * order still sum right; `pendingRetries` is reported floored at 0. Each update stamps
 * `updatedAtMs` with the time of the apply, even when its times were too old to keep.
 *
 * @param db - the router's database, from `openDatabase`; the store migrates its table
 * @param options - the clock
 * @example
 * const status = createSqliteDestinationStatusStore(openDatabase('.tlr/tlr.db'));
 * await status.apply([{ tenantId: 'team-a', type: 's3', lastSuccessAtMs: Date.now(), lagMs: 1_200 }]);
 */
export function createSqliteDestinationStatusStore(
  db: SqliteDatabase,
  options: SqliteDestinationStatusStoreOptions = {},
): DestinationStatusStore {
  const now = options.now ?? Date.now;
  migrate(db, 'destination_status', STATUS_MIGRATIONS);

  // On conflict every right-hand side reads the row as it was before this statement, so the
  // success test can decide both `lag_ms` and `last_success_at`.
  const upsert = db.prepare<[StatusRow]>(
    `INSERT INTO destination_status
       (tenant_id, type, last_success_at, lag_ms, error_code, error_message, error_at, pending_retries,
        circuit_state, circuit_opened_at, circuit_next_probe_at, circuit_at, updated_at)
     VALUES
       (@tenant_id, @type, @last_success_at, @lag_ms, @error_code, @error_message, @error_at, @pending_retries,
        @circuit_state, @circuit_opened_at, @circuit_next_probe_at, @circuit_at, @updated_at)
     ON CONFLICT (tenant_id, type) DO UPDATE SET
       last_success_at = CASE WHEN ${newer('last_success_at')} THEN excluded.last_success_at ELSE last_success_at END,
       lag_ms = CASE WHEN ${newer('last_success_at')} THEN excluded.lag_ms ELSE lag_ms END,
       error_code = CASE WHEN ${newer('error_at')} THEN excluded.error_code ELSE error_code END,
       error_message = CASE WHEN ${newer('error_at')} THEN excluded.error_message ELSE error_message END,
       error_at = CASE WHEN ${newer('error_at')} THEN excluded.error_at ELSE error_at END,
       pending_retries = pending_retries + excluded.pending_retries,
       circuit_state = CASE WHEN ${newer('circuit_at')} THEN excluded.circuit_state ELSE circuit_state END,
       circuit_opened_at = CASE WHEN ${newer('circuit_at')} THEN excluded.circuit_opened_at ELSE circuit_opened_at END,
       circuit_next_probe_at =
         CASE WHEN ${newer('circuit_at')} THEN excluded.circuit_next_probe_at ELSE circuit_next_probe_at END,
       circuit_at = CASE WHEN ${newer('circuit_at')} THEN excluded.circuit_at ELSE circuit_at END,
       updated_at = excluded.updated_at`,
  );
  const selectTenant = db.prepare<[string], StatusRow>(
    'SELECT * FROM destination_status WHERE tenant_id = ? ORDER BY type',
  );
  const deleteAll = db.prepare<[string]>('DELETE FROM destination_status WHERE tenant_id = ?');

  const applyAll = db.transaction((updates: readonly DestinationStatusUpdate[], nowMs: number) => {
    for (const update of updates) upsert.run(toRow(update, nowMs));
  });

  return {
    /**
     * Applies every update in one transaction, in order.
     * @throws RangeError when an update is malformed; nothing is written then
     */
    async apply(updates) {
      checkStatusUpdates(updates);
      if (updates.length === 0) return;
      applyAll(updates, now());
    },

    async listTenant(tenantId) {
      return selectTenant.all(tenantId).map(toRecord);
    },

    async deleteTenant(tenantId) {
      deleteAll.run(tenantId);
    },
  };
}

/** The SQL test "the incoming time is set and later than the stored one (or none is stored)". */
function newer(column: 'last_success_at' | 'error_at' | 'circuit_at'): string {
  return `(excluded.${column} IS NOT NULL AND (${column} IS NULL OR excluded.${column} > ${column}))`;
}

function toRow(update: DestinationStatusUpdate, nowMs: number): StatusRow {
  const success = update.lastSuccessAtMs;
  return {
    tenant_id: update.tenantId,
    type: update.type,
    last_success_at: success ?? null,
    // A lag without its success is dropped: it would otherwise stick to an older success.
    lag_ms: success !== undefined ? (update.lagMs ?? null) : null,
    error_code: update.lastError?.code ?? null,
    error_message: update.lastError?.message ?? null,
    error_at: update.lastError?.atMs ?? null,
    pending_retries: update.pendingRetriesDelta ?? 0,
    circuit_state: update.circuit?.state ?? null,
    circuit_opened_at: update.circuit?.openedAtMs ?? null,
    circuit_next_probe_at: update.circuit?.nextProbeAtMs ?? null,
    circuit_at: update.circuit?.atMs ?? null,
    updated_at: nowMs,
  };
}

function toRecord(row: StatusRow): DestinationStatusRecord {
  return {
    tenantId: row.tenant_id,
    type: row.type,
    ...(row.last_success_at !== null && { lastSuccessAtMs: row.last_success_at }),
    ...(row.lag_ms !== null && { lagMs: row.lag_ms }),
    ...(row.error_at !== null && {
      lastError: { code: row.error_code ?? '', message: row.error_message ?? '', atMs: row.error_at },
    }),
    pendingRetries: Math.max(0, row.pending_retries),
    ...(row.circuit_at !== null && {
      circuit: {
        state: (row.circuit_state ?? 'closed') as DestinationCircuitState,
        ...(row.circuit_opened_at !== null && { openedAtMs: row.circuit_opened_at }),
        ...(row.circuit_next_probe_at !== null && { nextProbeAtMs: row.circuit_next_probe_at }),
        atMs: row.circuit_at,
      },
    }),
    updatedAtMs: row.updated_at,
  };
}
