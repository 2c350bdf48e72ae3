import { setTimeout as delay } from 'node:timers/promises';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { awsErrorName } from '../../aws/index.js';
import { ConfigValidationError, type FieldError } from '../../domain/index.js';
import { checkStatusUpdates, mergeStatusUpdates } from '../destination-status-updates.js';
import type {
  DestinationCircuitState,
  DestinationStatusRecord,
  DestinationStatusStore,
  DestinationStatusUpdate,
} from '../ports.js';
import { UnprocessedKeysError } from './dynamodb-checkpoint-store.js';
import { DestinationStatusAttribute as A } from './dynamodb-tables.js';

/**
 * BatchWriteItem takes at most 25 requests per call.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
 */
const MAX_REQUESTS_PER_BATCH_WRITE = 25;
/** Destinations updated at once by one `apply`, so a large batch does not open hundreds of requests. */
const MAX_CONCURRENT_DESTINATIONS = 16;
/** Calls per chunk of deletes before unprocessed items (throttling) fail `deleteTenant`. */
const DEFAULT_UNPROCESSED_ITEMS_MAX_ATTEMPTS = 5;
/** First wait before sending unprocessed items again; doubles per attempt. */
const DEFAULT_UNPROCESSED_ITEMS_INITIAL_DELAY_MS = 50;
const UNPROCESSED_ITEMS_MAX_DELAY_MS = 1_000;

/** What `createDynamoDestinationStatusStore` needs. */
export interface DynamoDestinationStatusStoreOptions {
  /** A document client over a client built with `awsClientConfig(settings)`. */
  readonly client: DynamoDBDocumentClient;
  /** The status table: `tenant_id` (partition, S) + `type` (sort, S). */
  readonly tableName: string;
  /** The clock, in epoch ms, that stamps `updatedAtMs`; tests pass a fake one. Default `Date.now`. */
  readonly now?: () => number;
  /** Calls per 25 deletes while DynamoDB leaves items unprocessed. Default 5. */
  readonly unprocessedItemsMaxAttempts?: number;
  /** First wait before sending unprocessed items again, doubling up to 1 s. Default 50 ms. */
  readonly unprocessedItemsInitialDelayMs?: number;
}

// `type` is a DynamoDB reserved word (moto does not reject it, AWS does), so every
// expression names attributes through placeholders.
const NAMES = {
  '#t': A.TENANT_ID,
  '#y': A.TYPE,
  '#success': A.LAST_SUCCESS_AT,
  '#lag': A.LAG_MS,
  '#ecode': A.LAST_ERROR_CODE,
  '#emsg': A.LAST_ERROR_MESSAGE,
  '#eat': A.LAST_ERROR_AT,
  '#pending': A.PENDING_RETRIES,
  '#cstate': A.CIRCUIT_STATE,
  '#copened': A.CIRCUIT_OPENED_AT,
  '#cprobe': A.CIRCUIT_NEXT_PROBE_AT,
  '#cat': A.CIRCUIT_AT,
  '#updated': A.UPDATED_AT,
} as const;
type NamePlaceholder = keyof typeof NAMES;

/** One part of an UpdateItem: its clauses, the placeholders and values they use, and its condition. */
interface UpdatePart {
  readonly set: readonly string[];
  readonly add?: readonly string[];
  readonly remove?: readonly string[];
  readonly names: readonly NamePlaceholder[];
  readonly values: Record<string, unknown>;
  readonly condition?: string;
}

/**
 * Creates the destination-status store on a DynamoDB table: per-destination health, one item
 * per (tenant, type), shared by every replica.
 *
 * Times never move back even when replicas write at once: a success is written by an
 * UpdateItem conditioned on the stored `last_success_at` being older (or absent), with its
 * lag in the same write (or the stored lag removed), so the lag always belongs to the
 * success beside it; the same for the last error and the circuit state, each by its time. A failed condition means the
 * report was stale and is ignored. Retry deltas go through `ADD`, so concurrent reports
 * add up; `pendingRetries` is reported floored at 0. `updated_at` and the delta ride on the
 * first write whose condition holds, or on a write of their own when none does.
 *
 * `apply` first folds the updates of each destination into one (same result as applying
 * them in order), then writes destinations in parallel, up to two or three UpdateItem calls
 * each (usually one). Unlike the embedded store it is not atomic across destinations: when
 * a call fails, the destinations already written stay written. Reads are strongly consistent.
 * Failures surface as the SDK's own errors.
 *
 * @param options - the client, the table name, the clock and the retry of unprocessed deletes
 * @throws ConfigValidationError when the table name is empty or a retry option is not a whole number
 * @example
 * const status = createDynamoDestinationStatusStore({
 *   client: DynamoDBDocumentClient.from(new DynamoDBClient(awsClientConfig(awsSettingsFromEnv()))),
 *   tableName: 'tlr-status',
 * });
 * await status.apply([{ tenantId: 'team-a', type: 's3', lastSuccessAtMs: Date.now(), lagMs: 1_200 }]);
 */
export function createDynamoDestinationStatusStore(options: DynamoDestinationStatusStoreOptions): DestinationStatusStore {
  const { client, tableName } = options;
  const now = options.now ?? Date.now;
  const maxAttempts = options.unprocessedItemsMaxAttempts ?? DEFAULT_UNPROCESSED_ITEMS_MAX_ATTEMPTS;
  const initialDelayMs = options.unprocessedItemsInitialDelayMs ?? DEFAULT_UNPROCESSED_ITEMS_INITIAL_DELAY_MS;
  validateOptions({ tableName, unprocessedItemsMaxAttempts: maxAttempts, unprocessedItemsInitialDelayMs: initialDelayMs });

  /** Writes one (merged) update: the conditional parts first, the unconditional base on the first that lands. */
  async function applyOne(update: DestinationStatusUpdate, nowMs: number): Promise<void> {
    const key = statusKey(update.tenantId, update.type);
    const delta = update.pendingRetriesDelta ?? 0;
    const base: UpdatePart = {
      set: ['#updated = :now'],
      ...(delta !== 0 && { add: ['#pending :delta'] }),
      names: delta !== 0 ? ['#updated', '#pending'] : ['#updated'],
      values: { ':now': nowMs, ...(delta !== 0 && { ':delta': delta }) },
    };
    const conditional: UpdatePart[] = [];
    if (update.lastSuccessAtMs !== undefined) {
      const withLag = update.lagMs !== undefined;
      conditional.push({
        set: withLag ? ['#success = :success', '#lag = :lag'] : ['#success = :success'],
        // A success without a lag must not keep the lag of an older success.
        ...(!withLag && { remove: ['#lag'] }),
        names: ['#success', '#lag'],
        values: { ':success': update.lastSuccessAtMs, ...(withLag && { ':lag': update.lagMs }) },
        condition: 'attribute_not_exists(#success) OR #success < :success',
      });
    }
    if (update.lastError !== undefined) {
      conditional.push({
        set: ['#ecode = :ecode', '#emsg = :emsg', '#eat = :eat'],
        names: ['#ecode', '#emsg', '#eat'],
        values: { ':ecode': update.lastError.code, ':emsg': update.lastError.message, ':eat': update.lastError.atMs },
        condition: 'attribute_not_exists(#eat) OR #eat < :eat',
      });
    }
    if (update.circuit !== undefined) {
      const { state, openedAtMs, nextProbeAtMs, atMs } = update.circuit;
      // The times of an older state must not stay beside a newer one that has none.
      conditional.push({
        set: [
          '#cstate = :cstate',
          '#cat = :cat',
          ...(openedAtMs !== undefined ? ['#copened = :copened'] : []),
          ...(nextProbeAtMs !== undefined ? ['#cprobe = :cprobe'] : []),
        ],
        remove: [...(openedAtMs === undefined ? ['#copened'] : []), ...(nextProbeAtMs === undefined ? ['#cprobe'] : [])],
        names: ['#cstate', '#cat', '#copened', '#cprobe'],
        values: {
          ':cstate': state,
          ':cat': atMs,
          ...(openedAtMs !== undefined && { ':copened': openedAtMs }),
          ...(nextProbeAtMs !== undefined && { ':cprobe': nextProbeAtMs }),
        },
        condition: 'attribute_not_exists(#cat) OR #cat < :cat',
      });
    }
    // The base must land exactly once: a part whose condition fails writes nothing, its
    // ADD included, so the base moves on to the next part, or to a write of its own.
    let baseWritten = false;
    for (const part of conditional) {
      const landed = await updateIf(toUpdateInput(key, baseWritten ? [part] : [part, base]));
      if (landed) baseWritten = true;
    }
    if (!baseWritten) await client.send(new UpdateCommand(toUpdateInput(key, [base])));
  }

  /** Runs a conditional update; false when the condition did not hold (nothing changed). */
  async function updateIf(input: UpdateCommandInput): Promise<boolean> {
    try {
      await client.send(new UpdateCommand(input));
      return true;
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  function toUpdateInput(key: Record<string, string>, parts: readonly UpdatePart[]): UpdateCommandInput {
    const clauses = (['SET', 'ADD', 'REMOVE'] as const)
      .map((verb) => {
        const actions = parts.flatMap((p) => (verb === 'SET' ? p.set : verb === 'ADD' ? (p.add ?? []) : (p.remove ?? [])));
        return actions.length > 0 ? `${verb} ${actions.join(', ')}` : '';
      })
      .filter((clause) => clause !== '');
    const conditions = parts.flatMap((p) => (p.condition !== undefined ? [`(${p.condition})`] : []));
    // DynamoDB refuses placeholders that the expressions do not use, so pass only the parts' own.
    const names = Object.fromEntries(parts.flatMap((p) => p.names.map((n) => [n, NAMES[n]])));
    return {
      TableName: tableName,
      Key: key,
      UpdateExpression: clauses.join(' '),
      ...(conditions.length > 0 && { ConditionExpression: conditions.join(' AND ') }),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: Object.assign({}, ...parts.map((p) => p.values)) as Record<string, unknown>,
    };
  }

  /** Deletes one chunk of ≤ 25 keys, sending again the deletes DynamoDB left unprocessed. */
  async function deleteChunk(keys: Record<string, unknown>[]): Promise<void> {
    let requests = keys.map((key) => ({ DeleteRequest: { Key: key } }));
    for (let attempt = 1; ; attempt += 1) {
      const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
      requests = (result.UnprocessedItems?.[tableName] ?? []).flatMap((r) =>
        r.DeleteRequest?.Key !== undefined ? [{ DeleteRequest: { Key: r.DeleteRequest.Key } }] : [],
      );
      if (requests.length === 0) return;
      if (attempt >= maxAttempts) throw new UnprocessedKeysError(tableName, requests.length, attempt);
      // AWS asks for exponential backoff before retrying unprocessed items; jitter spreads replicas.
      const capMs = Math.min(initialDelayMs * 2 ** (attempt - 1), UNPROCESSED_ITEMS_MAX_DELAY_MS);
      await delay(Math.round(capMs * (0.5 + Math.random() / 2)));
    }
  }

  return {
    /**
     * Applies the updates, folded per destination.
     * @throws RangeError when an update is malformed; nothing is written then
     */
    async apply(updates) {
      checkStatusUpdates(updates);
      const merged = mergeStatusUpdates(updates);
      const nowMs = now();
      for (let i = 0; i < merged.length; i += MAX_CONCURRENT_DESTINATIONS) {
        await Promise.all(merged.slice(i, i + MAX_CONCURRENT_DESTINATIONS).map((u) => applyOne(u, nowMs)));
      }
    },

    /** The tenant's records in `type` order (the table's sort key order). */
    async listTenant(tenantId) {
      const records: DestinationStatusRecord[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: '#t = :t',
            ExpressionAttributeNames: { '#t': NAMES['#t'] },
            ExpressionAttributeValues: { ':t': tenantId },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) records.push(toRecord(item));
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return records;
    },

    /**
     * Deletes every record of the tenant, a page of keys at a time. A report applied while
     * this runs may create a record again; offboarding stops the reports first.
     * @throws UnprocessedKeysError when DynamoDB still leaves deletes unprocessed after every attempt
     */
    async deleteTenant(tenantId) {
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: '#t = :t',
            ProjectionExpression: '#t, #y',
            ExpressionAttributeNames: { '#t': NAMES['#t'], '#y': NAMES['#y'] },
            ExpressionAttributeValues: { ':t': tenantId },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        const keys = (page.Items ?? []).map((item) => statusKey(String(item[A.TENANT_ID]), String(item[A.TYPE])));
        const chunks: Record<string, unknown>[][] = [];
        for (let i = 0; i < keys.length; i += MAX_REQUESTS_PER_BATCH_WRITE) {
          chunks.push(keys.slice(i, i + MAX_REQUESTS_PER_BATCH_WRITE));
        }
        await Promise.all(chunks.map(deleteChunk));
        // Resuming after a key that was just deleted is fine: any key of the schema is a valid start.
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
    },
  };
}

function statusKey(tenantId: string, type: string): Record<string, string> {
  return { [A.TENANT_ID]: tenantId, [A.TYPE]: type };
}

function toRecord(item: Record<string, unknown>): DestinationStatusRecord {
  const number = (name: string): number | undefined => (typeof item[name] === 'number' ? (item[name] as number) : undefined);
  const lastSuccessAtMs = number(A.LAST_SUCCESS_AT);
  const lagMs = number(A.LAG_MS);
  const errorAtMs = number(A.LAST_ERROR_AT);
  const circuitAtMs = number(A.CIRCUIT_AT);
  const openedAtMs = number(A.CIRCUIT_OPENED_AT);
  const nextProbeAtMs = number(A.CIRCUIT_NEXT_PROBE_AT);
  return {
    tenantId: String(item[A.TENANT_ID]),
    type: String(item[A.TYPE]),
    ...(lastSuccessAtMs !== undefined && { lastSuccessAtMs }),
    ...(lagMs !== undefined && { lagMs }),
    ...(errorAtMs !== undefined && {
      lastError: {
        code: String(item[A.LAST_ERROR_CODE] ?? ''),
        message: String(item[A.LAST_ERROR_MESSAGE] ?? ''),
        atMs: errorAtMs,
      },
    }),
    pendingRetries: Math.max(0, number(A.PENDING_RETRIES) ?? 0),
    ...(circuitAtMs !== undefined && {
      circuit: {
        state: String(item[A.CIRCUIT_STATE] ?? 'closed') as DestinationCircuitState,
        ...(openedAtMs !== undefined && { openedAtMs }),
        ...(nextProbeAtMs !== undefined && { nextProbeAtMs }),
        atMs: circuitAtMs,
      },
    }),
    updatedAtMs: number(A.UPDATED_AT) ?? 0,
  };
}

function validateOptions(options: {
  tableName: string;
  unprocessedItemsMaxAttempts: number;
  unprocessedItemsInitialDelayMs: number;
}): void {
  const errors: FieldError[] = [];
  if (options.tableName === '') errors.push({ field: 'tableName', message: 'must not be empty' });
  const attempts = options.unprocessedItemsMaxAttempts;
  if (!(Number.isSafeInteger(attempts) && attempts >= 1)) {
    errors.push({ field: 'unprocessedItemsMaxAttempts', message: 'must be a whole number ≥ 1' });
  }
  const delayMs = options.unprocessedItemsInitialDelayMs;
  if (!(Number.isSafeInteger(delayMs) && delayMs >= 0)) {
    errors.push({ field: 'unprocessedItemsInitialDelayMs', message: 'must be a whole number ≥ 0' });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'DynamoDB destination status store options');
}
