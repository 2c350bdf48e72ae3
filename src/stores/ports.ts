import type { Readable } from 'node:stream';
import type { DeliveryConfig } from '../domain/index.js';

/**
 * Ports: what the pipeline, ingest and API need from storage. Adapters live in
 * `local/` (filesystem + SQLite) and `aws/` (S3, SQS, DynamoDB).
 */

/** What a listing or a read says about an object. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly lastModifiedMs: number;
}

/** The central object store. */
export interface ObjectStore {
  /**
   * Writes an object durably (on disk, fsynced) and returns only then; overwrites.
   * @throws StoreFullError (local) when the disk budget would be exceeded
   */
  put(
    key: string,
    body: Uint8Array,
    options?: { contentType?: string; contentEncoding?: string },
  ): Promise<void>;
  /**
   * Opens an object as a stream.
   * @throws ObjectNotFoundError when the key does not exist
   */
  get(key: string): Promise<{ body: Readable; info: ObjectInfo }>;
  /** The object's info, or undefined when it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object under a prefix, in key order, paginated underneath. */
  list(options?: { prefix?: string }): AsyncIterable<ObjectInfo>;
}

/** A message received from the queue. */
export interface QueueMessage {
  readonly id: string;
  /** Pass back to `delete`/`changeVisibility`; valid for this receive only. */
  readonly receiptHandle: string;
  readonly body: string;
  /** How many times the message has been received, this time included. */
  readonly receiveCount: number;
}

/** The notification queue (SQS semantics: at-least-once, visibility timeout, delay). */
export interface NotificationQueue {
  /** Enqueues durably; `delayMs` hides the message for that long (SQS caps at 900 s). */
  send(body: string, options?: { delayMs?: number }): Promise<void>;
  /**
   * Receives up to `maxMessages` (≤ 10) visible messages, waiting up to `waitMs` for the first.
   * Received messages stay invisible for `visibilityTimeoutMs` unless deleted.
   */
  receive(options: {
    maxMessages: number;
    waitMs: number;
    visibilityTimeoutMs?: number;
    signal?: AbortSignal;
  }): Promise<QueueMessage[]>;
  /** Acknowledges a message: it is gone for good. */
  delete(receiptHandle: string): Promise<void>;
  /** Changes how long a received message stays invisible (0 = visible again now). */
  changeVisibility(receiptHandle: string, visibilityTimeoutMs: number): Promise<void>;
  /**
   * Says that processing of a received message begins (it may have waited in the consumer's
   * window for a slot until now). A queue that can tell then counts only started attempts
   * toward its redrive limit when a crashed consumer's messages are released; SQS cannot, and
   * has no such method.
   */
  markStarted?(receiptHandle: string): Promise<void>;
  /** Approximate depth, for metrics and status. */
  stats(): Promise<QueueStats>;
}

export interface QueueStats {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
  /** Messages moved to the queue's own dead-letter backstop after too many receives. */
  readonly deadLettered: number;
}

/** One change to one delivery-config row: write the whole row, or delete it. */
export type ConfigChange =
  | { readonly put: DeliveryConfig; readonly delete?: never }
  | { readonly delete: { readonly tenantId: string; readonly type: string }; readonly put?: never };

/**
 * What a conditional change expects of the stored row when it is applied. `updated_at`
 * serves as the row's version: the config service sets a new one on every write.
 * - `{ absent: true }`: there is no row under the key.
 * - `{ updatedAt: 'x' }`: the row exists and its `updated_at` is the string `'x'`.
 * - `{ updatedAt: undefined }`: the row exists and has no string `updated_at` (a row written
 *   by hand), so such a row can still be changed.
 */
export type ConfigRowExpectation = { readonly absent: true } | { readonly updatedAt: string | undefined };

/** What a conditional change came to. */
export const ConfigChangeOutcome = {
  /** The row and the audit entry were both written. */
  APPLIED: 'applied',
  /** The stored row did not meet the expectation; nothing was written. */
  CONFLICT: 'conflict',
} as const;
export type ConfigChangeOutcome = (typeof ConfigChangeOutcome)[keyof typeof ConfigChangeOutcome];

/** Where tenants' delivery configs live. Rows are returned as stored (read leniently). */
export interface DeliveryConfigStore {
  /** Every row of a tenant, the settings row included. */
  listTenant(tenantId: string): Promise<Record<string, unknown>[]>;
  get(tenantId: string, type: string): Promise<Record<string, unknown> | undefined>;
  /** Creates the row; returns false (and changes nothing) when it already exists. */
  create(config: DeliveryConfig): Promise<boolean>;
  /** Creates or replaces the row. */
  put(config: DeliveryConfig): Promise<void>;
  /** Returns false when there was no such row. */
  delete(tenantId: string, type: string): Promise<boolean>;
  /**
   * Applies a change and appends its audit entry atomically, only when the stored row meets
   * `expect`: both are written, or neither. The entry goes to the audit log kept beside this
   * store (the same SQLite database; the deployment's audit table on DynamoDB), so the
   * `AuditLogStore` over that log lists it.
   * @returns `conflict` (nothing written) when the row does not meet `expect`
   * @throws RangeError when the audit entry is invalid or names another (tenant, type) than the change
   * @throws the storage's own error when either write fails; then neither is kept
   */
  applyChange(change: ConfigChange, expect: ConfigRowExpectation, audit: NewAuditEntry): Promise<ConfigChangeOutcome>;
  /** Every row, in (tenant_id, type) order, a page at a time; `cursor` is opaque. */
  listAll(options: { limit: number; cursor?: string }): Promise<{
    rows: Record<string, unknown>[];
    nextCursor?: string;
  }>;
}

/** Progress of one destination on one object. */
export interface Checkpoint {
  /** Offset of the last record the destination accepted; -1 when none yet. */
  readonly offset: number;
  /** Every record of the object is final for this destination. */
  readonly done: boolean;
}

/** Progress per (object, destination), so a retry resumes after the last accepted record. */
export interface CheckpointStore {
  /** Checkpoints of the given destinations on one object; absent ones are missing from the map. */
  getMany(objectKey: string, destinationIds: readonly string[]): Promise<Map<string, Checkpoint>>;
  /** Saves progress; never moves a checkpoint backwards (a lower offset is ignored). */
  save(objectKey: string, destinationId: string, checkpoint: Checkpoint): Promise<void>;
}

/** The answer of a quota reservation. */
export interface QuotaReservation {
  /** Whether the bytes were added: the day's total stays within the cap. */
  readonly allowed: boolean;
  /** The day's total after the call (unchanged when refused; 0 for a day with nothing yet). */
  readonly used: number;
}

/**
 * Daily byte counters per tenant, shared by every replica: the hard daily quota.
 * `add` is one atomic conditional operation, so replicas never overshoot the cap together.
 */
export interface TenantQuotaStore {
  /**
   * Adds `bytes` to the tenant's total of `dayUtc` if the total stays at most `cap`.
   *
   * @param tenantId - the tenant
   * @param dayUtc - the UTC day, `YYYY-MM-DD`
   * @param bytes - bytes to reserve, a whole number ≥ 0
   * @param cap - the day's cap, a whole number ≥ 0
   * @throws RangeError when `bytes` or `cap` is not a whole number ≥ 0, or `dayUtc` is malformed
   */
  add(tenantId: string, dayUtc: string, bytes: number, cap: number): Promise<QuotaReservation>;
}

/** A UTC day as quota stores key it: `YYYY-MM-DD`. */
export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** Checks the arguments of `TenantQuotaStore.add`, the same for every adapter. */
export function checkQuotaArguments(dayUtc: string, bytes: number, cap: number): void {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(dayUtc)) throw new RangeError(`A quota day must be YYYY-MM-DD, got '${dayUtc}'.`);
  if (!(Number.isSafeInteger(bytes) && bytes >= 0)) {
    throw new RangeError(`Quota bytes must be a whole number ≥ 0, got ${bytes}.`);
  }
  if (!(Number.isSafeInteger(cap) && cap >= 0)) throw new RangeError(`A quota cap must be a whole number ≥ 0, got ${cap}.`);
}

/** A unit of work that was refused for good, with the reason. */
export interface DeadLetter {
  readonly id: string;
  readonly tenantId: string;
  /** The config `type`, or `*` when the whole object was refused before routing. */
  readonly destination: string;
  readonly objectKey: string;
  /** Short stable reason: `invalid_object_key`, `corrupt_object`, `retries_exhausted`, … */
  readonly reason: string;
  /** A sentence with the details. */
  readonly message: string;
  readonly attempts: number;
  /** Offset of the last record the destination had accepted (-1 for none). */
  readonly offset: number;
  readonly createdAtMs: number;
  readonly redrivenAtMs?: number;
}

export type NewDeadLetter = Omit<DeadLetter, 'id' | 'createdAtMs' | 'redrivenAtMs'>;

/** Dead letters with reasons; redrive puts the work back on the queue. */
export interface DeadLetterStore {
  add(entry: NewDeadLetter): Promise<DeadLetter>;
  /** Newest first. */
  list(filter?: { tenantId?: string; includeRedriven?: boolean; limit?: number }): Promise<DeadLetter[]>;
  get(id: string): Promise<DeadLetter | undefined>;
  markRedriven(id: string, atMs: number): Promise<void>;
}

/** What an ingest token may write: one cluster, and the namespaces matching its patterns. */
export interface TokenBinding {
  readonly id: string;
  /** The cluster every event sent with the token belongs to. */
  readonly clusterId: string;
  /** Exact namespace names or globs with `*` (`team-*`, `*`). */
  readonly namespaces: string[];
  readonly description?: string;
  readonly createdAtMs: number;
}

/** What is needed to issue an ingest token. */
export interface NewIngestToken {
  readonly clusterId: string;
  readonly namespaces: readonly string[];
  readonly description?: string;
}

/** Ingest tokens: only a hash of each secret is kept, so the plaintext is shown once. */
export interface IngestTokenStore {
  /**
   * Issues a token bound to a cluster and namespace patterns.
   * @returns the binding id and the plaintext token, which cannot be read again later
   * @throws ConfigValidationError when the cluster id or a namespace pattern is invalid
   */
  create(input: NewIngestToken): Promise<{ id: string; token: string }>;
  /** The binding of a plaintext token, or undefined when it is unknown or revoked. */
  verify(token: string): Promise<TokenBinding | undefined>;
  /** Every binding, oldest first, without secrets. */
  list(): Promise<TokenBinding[]>;
  /** Revokes a token; returns false when there was no such id. */
  revoke(id: string): Promise<boolean>;
}

/** The object-key group of a buffered event: one object holds events of one group only. */
export interface IngestGroup {
  readonly clusterId: string;
  readonly namespace: string;
  readonly application: string;
  readonly podName: string;
}

/** One accepted event, as it will be written: `line` is one JSON object without newline. */
export interface BufferedEvent extends IngestGroup {
  readonly line: string;
}

/** Events of one group waiting for a batch, with what the flush policy needs. */
export interface PendingGroup extends IngestGroup {
  readonly events: number;
  /** Uncompressed object bytes: UTF-8 bytes of the lines plus one newline each. */
  readonly bytes: number;
  readonly oldestReceivedAtMs: number;
}

/** Events assigned to one object key, in arrival order. */
export interface IngestBatch {
  readonly key: string;
  /** The object body before compression (UTF-8 NDJSON): one event per line, each line ending in `\n`. */
  readonly body: Buffer;
  readonly events: number;
  /** Uncompressed object bytes, newlines included. */
  readonly bytes: number;
}

/**
 * The durable write-ahead buffer of ingested events. An event is acknowledged to the
 * collector once `append` resolves; it leaves the buffer only after its object is written
 * and notified. Batching is two-phase so a crash between the steps never loses or
 * duplicates an object: rows are first assigned to a key, then deleted when done.
 */
export interface IngestBuffer {
  /** Appends events in one durable transaction; resolves only after the commit. */
  append(events: readonly BufferedEvent[], receivedAtMs: number): Promise<void>;
  /** Bytes held and not yet flushed (assigned batches included), for back-pressure. */
  pendingBytes(): Promise<number>;
  /** The groups holding events not yet assigned to a batch. */
  pendingGroups(): Promise<PendingGroup[]>;
  /**
   * Assigns the oldest unassigned events of a group to `key`, as many as fit in
   * `maxBytes` (at least one), in one transaction. An adapter that stores events in
   * chunks assigns whole chunks, so a batch exceeds `maxBytes` only when one chunk does.
   * @returns the batch, or undefined when the group has no unassigned events
   */
  assignBatch(group: IngestGroup, key: string, maxBytes: number): Promise<IngestBatch | undefined>;
  /** Keys of batches assigned but not completed (left by a crash or a failed write). */
  assignedBatchKeys(): Promise<string[]>;
  /** The events assigned to a key, or undefined when there are none. */
  readBatch(key: string): Promise<IngestBatch | undefined>;
  /** Deletes a batch's events once its object is written and notified. */
  completeBatch(key: string): Promise<void>;
}

/** What a change to a tenant's delivery configs was. */
export const AuditAction = {
  CREATE: 'create',
  REPLACE: 'replace',
  UPDATE: 'update',
  DELETE: 'delete',
  /** A config removed with every other of its tenant (`DELETE /tenants/{tenant}`): one entry each. */
  OFFBOARD: 'offboard',
} as const;
export type AuditAction = (typeof AuditAction)[keyof typeof AuditAction];

/** One change to a tenant's delivery configs, kept for audit (also after offboarding). */
export interface AuditEntry {
  readonly id: string;
  readonly tenantId: string;
  /** The config `type` changed. */
  readonly type: string;
  readonly action: AuditAction;
  /** Who: the API key id (`psk:current`), the authorizer's principal, or `cli:<user>`. */
  readonly actor: string;
  readonly atMs: number;
  /** The row before the change; absent for a creation. */
  readonly before?: Record<string, unknown>;
  /** The row after the change; absent for a deletion. */
  readonly after?: Record<string, unknown>;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

/** The append-only log of config changes. */
export interface AuditLogStore {
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  /**
   * A tenant's entries, newest first, a page at a time; `cursor` is opaque.
   * @throws InvalidCursorError when the cursor was not made by this store
   */
  list(
    tenantId: string,
    options: { limit: number; cursor?: string },
  ): Promise<{ entries: AuditEntry[]; nextCursor?: string }>;
}

/** The last error a destination reported. */
export interface DestinationError {
  /** The failure's stable reason (`throttled`, `access_denied`, `retries_exhausted`, …). */
  readonly code: string;
  readonly message: string;
  readonly atMs: number;
}

/** States of a destination's circuit breaker, as stored and reported. */
export const DestinationCircuitState = { CLOSED: 'closed', HALF_OPEN: 'half_open', OPEN: 'open' } as const;
export type DestinationCircuitState = (typeof DestinationCircuitState)[keyof typeof DestinationCircuitState];

/**
 * A destination's circuit breaker as a replica last reported it. Breakers live in each
 * replica's memory; the newest report (by `atMs`) wins, whichever replica made it.
 */
export interface DestinationCircuit {
  readonly state: DestinationCircuitState;
  /** When the circuit opened (epoch ms); with `open` and `half_open`. */
  readonly openedAtMs?: number;
  /** When a probe may go through (epoch ms); with `open`. */
  readonly nextProbeAtMs?: number;
  /** When the replica reported the state (epoch ms). */
  readonly atMs: number;
}

/** A change to what is known of one destination's health. */
export interface DestinationStatusUpdate {
  readonly tenantId: string;
  readonly type: string;
  /** A delivery succeeded at this time. */
  readonly lastSuccessAtMs?: number;
  /** With `lastSuccessAtMs`: ms from the object's creation to that delivery. */
  readonly lagMs?: number;
  readonly lastError?: DestinationError;
  /** Change of the number of delayed retries waiting (negative when they came due). */
  readonly pendingRetriesDelta?: number;
  /** The circuit breaker changed state; kept when newer than the stored one. */
  readonly circuit?: DestinationCircuit;
}

/** What is known of one destination's health. */
export interface DestinationStatusRecord {
  readonly tenantId: string;
  readonly type: string;
  readonly lastSuccessAtMs?: number;
  readonly lagMs?: number;
  readonly lastError?: DestinationError;
  /** Delayed retries waiting; never below 0. */
  readonly pendingRetries: number;
  /** The last circuit breaker state reported; absent when no breaker ever changed state. */
  readonly circuit?: DestinationCircuit;
  readonly updatedAtMs: number;
}

/** Per-destination health, written by the processor and read by the API's tenant status. */
export interface DestinationStatusStore {
  /**
   * Applies updates. Times never move back: an older success or error than the one stored
   * is ignored (replicas report out of order); retry deltas add up.
   */
  apply(updates: readonly DestinationStatusUpdate[]): Promise<void>;
  /** Every destination of a tenant with a record, in `type` order. */
  listTenant(tenantId: string): Promise<DestinationStatusRecord[]>;
  /** Forgets a tenant (offboarding). */
  deleteTenant(tenantId: string): Promise<void>;
}
