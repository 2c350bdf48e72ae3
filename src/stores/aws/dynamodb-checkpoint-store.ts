import { setTimeout as delay } from 'node:timers/promises';
import { BatchGetCommand, type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { awsErrorName } from '../../aws/index.js';
import { ConfigValidationError, ErrorCode, type FieldError, RouterError } from '../../domain/index.js';
import type { Checkpoint, CheckpointStore } from '../ports.js';
import { CheckpointAttribute } from './dynamodb-tables.js';

/**
 * How long a checkpoint is kept after its last save. It must outlive the central bucket's
 * objects (their lifecycle expiry), or a late redelivery of an object would start over and
 * deliver duplicates.
 */
export const DEFAULT_CHECKPOINT_TTL_SECONDS = 30 * 24 * 60 * 60;

/**
 * BatchGetItem reads at most 100 keys per call.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
 */
const MAX_KEYS_PER_BATCH_GET = 100;
/** Calls per chunk of keys before unprocessed keys (throttling) fail the read. */
const DEFAULT_UNPROCESSED_KEYS_MAX_ATTEMPTS = 5;
/** First wait before asking again for unprocessed keys; doubles per attempt. */
const DEFAULT_UNPROCESSED_KEYS_INITIAL_DELAY_MS = 50;
const UNPROCESSED_KEYS_MAX_DELAY_MS = 1_000;

/** What `createDynamoCheckpointStore` needs. */
export interface DynamoCheckpointStoreOptions {
  /** A document client over a client built with `awsClientConfig(settings)`. */
  readonly client: DynamoDBDocumentClient;
  /** The checkpoint table: `object_key` (partition, S) + `destination_id` (sort, S), TTL on `expires_at`. */
  readonly tableName: string;
  /** How long a checkpoint is kept after its last save. Default 30 days (`DEFAULT_CHECKPOINT_TTL_SECONDS`). */
  readonly ttlSeconds?: number;
  /** The clock, in epoch ms, for `updated_at` and `expires_at`. Default `Date.now`. */
  readonly now?: () => number;
  /** Calls per 100 keys while DynamoDB leaves keys unprocessed. Default 5. */
  readonly unprocessedKeysMaxAttempts?: number;
  /** First wait before asking again for unprocessed keys, doubling up to 1 s. Default 50 ms. */
  readonly unprocessedKeysInitialDelayMs?: number;
}

/**
 * DynamoDB still left keys unprocessed (it does so when throttled) after every attempt.
 * Retryable: the whole read may be tried again later.
 */
export class UnprocessedKeysError extends RouterError {
  override readonly name = 'UnprocessedKeysError';
  readonly retryable = true;

  /**
   * @param tableName - the table read
   * @param unprocessed - how many keys were still unprocessed
   * @param attempts - how many calls were made for them
   */
  constructor(
    readonly tableName: string,
    readonly unprocessed: number,
    readonly attempts: number,
  ) {
    super(
      ErrorCode.RETRIES_EXHAUSTED,
      `DynamoDB left ${unprocessed} keys of table '${tableName}' unprocessed after ${attempts} attempts.`,
    );
  }
}

/**
 * Creates the checkpoint store on a DynamoDB table: progress per (object, destination),
 * shared by every replica. A save never moves a checkpoint backwards, even when replicas
 * save at once: the offset only grows and `done` only turns on, each through a conditional
 * write, so a stale save is a no-op rather than an error. Each save pushes `expires_at`
 * (the table's TTL attribute) `ttlSeconds` ahead. Reads are strongly consistent.
 *
 * @param options - the client, the table name, the TTL and the clock
 * @throws ConfigValidationError when the table name is empty, or `ttlSeconds` or a retry option is not a whole number
 * @example
 * const store = createDynamoCheckpointStore({
 *   client: DynamoDBDocumentClient.from(new DynamoDBClient(awsClientConfig(awsSettingsFromEnv()))),
 *   tableName: 'tlr-checkpoints',
 * });
 * await store.save('c1/team-a/api/api-1/20260101-000000-1.json.gz', 'team-a/s3', { offset: 41, done: false });
 */
export function createDynamoCheckpointStore(options: DynamoCheckpointStoreOptions): CheckpointStore {
  const { client, tableName } = options;
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_CHECKPOINT_TTL_SECONDS;
  const now = options.now ?? Date.now;
  const maxAttempts = options.unprocessedKeysMaxAttempts ?? DEFAULT_UNPROCESSED_KEYS_MAX_ATTEMPTS;
  const initialDelayMs = options.unprocessedKeysInitialDelayMs ?? DEFAULT_UNPROCESSED_KEYS_INITIAL_DELAY_MS;
  validateOptions({
    tableName,
    ttlSeconds,
    unprocessedKeysMaxAttempts: maxAttempts,
    unprocessedKeysInitialDelayMs: initialDelayMs,
  });

  const names = {
    '#key': CheckpointAttribute.OBJECT_KEY,
    '#offset': CheckpointAttribute.OFFSET,
    '#done': CheckpointAttribute.DONE,
    '#updated': CheckpointAttribute.UPDATED_AT,
    '#expires': CheckpointAttribute.EXPIRES_AT,
  };

  /** Reads one chunk of ≤ 100 keys, asking again for the keys DynamoDB left unprocessed. */
  async function readChunk(objectKey: string, destinationIds: string[], into: Map<string, Checkpoint>): Promise<void> {
    let keys: Record<string, unknown>[] = destinationIds.map((id) => checkpointKey(objectKey, id));
    for (let attempt = 1; ; attempt += 1) {
      const result = await client.send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: {
              Keys: keys,
              ConsistentRead: true,
              ProjectionExpression: '#destination, #offset, #done',
              ExpressionAttributeNames: {
                '#destination': CheckpointAttribute.DESTINATION_ID,
                '#offset': CheckpointAttribute.OFFSET,
                '#done': CheckpointAttribute.DONE,
              },
            },
          },
        }),
      );
      for (const item of result.Responses?.[tableName] ?? []) {
        into.set(String(item[CheckpointAttribute.DESTINATION_ID]), {
          offset: Number(item[CheckpointAttribute.OFFSET]),
          done: item[CheckpointAttribute.DONE] === true,
        });
      }
      keys = result.UnprocessedKeys?.[tableName]?.Keys ?? [];
      if (keys.length === 0) return;
      if (attempt >= maxAttempts) throw new UnprocessedKeysError(tableName, keys.length, attempt);
      // AWS asks for exponential backoff before retrying unprocessed keys; jitter spreads replicas.
      const capMs = Math.min(initialDelayMs * 2 ** (attempt - 1), UNPROCESSED_KEYS_MAX_DELAY_MS);
      await delay(Math.round(capMs * (0.5 + Math.random() / 2)));
    }
  }

  return {
    async getMany(objectKey: string, destinationIds: readonly string[]): Promise<Map<string, Checkpoint>> {
      const checkpoints = new Map<string, Checkpoint>();
      // BatchGetItem refuses a request that names the same key twice.
      const unique = [...new Set(destinationIds)];
      const chunks: string[][] = [];
      for (let i = 0; i < unique.length; i += MAX_KEYS_PER_BATCH_GET) {
        chunks.push(unique.slice(i, i + MAX_KEYS_PER_BATCH_GET));
      }
      await Promise.all(chunks.map((chunk) => readChunk(objectKey, chunk, checkpoints)));
      return checkpoints;
    },

    async save(objectKey: string, destinationId: string, checkpoint: Checkpoint): Promise<void> {
      if (!(Number.isSafeInteger(checkpoint.offset) && checkpoint.offset >= -1)) {
        throw new RangeError(`A checkpoint offset must be a whole number ≥ -1, got ${checkpoint.offset}.`);
      }
      const nowMs = now();
      const stamps = { ':now': nowMs, ':expires': Math.floor(nowMs / 1000) + ttlSeconds };
      const key = checkpointKey(objectKey, destinationId);

      // A write cannot take the larger of two offsets, so it is up to two conditional writes,
      // each atomic: the first moves the offset forward — or, for `done`, keeps it equal, which
      // is how the processor marks an object complete — and is the usual, only call; when the
      // stored offset is further, the second only turns `done` on. `if_not_exists` keeps a
      // stored `done` when a further offset arrives without it, so `done` is never undone.
      const movedForward = await updateIf({
        TableName: tableName,
        Key: key,
        UpdateExpression: `SET #offset = :offset, #done = ${checkpoint.done ? ':true' : 'if_not_exists(#done, :false)'}, #updated = :now, #expires = :expires`,
        ConditionExpression: `attribute_not_exists(#key) OR #offset ${checkpoint.done ? '<=' : '<'} :offset`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ':offset': checkpoint.offset,
          ...(checkpoint.done ? { ':true': true } : { ':false': false }),
          ...stamps,
        },
      });
      if (movedForward || !checkpoint.done) return;
      await updateIf({
        TableName: tableName,
        Key: key,
        UpdateExpression: 'SET #done = :true, #updated = :now, #expires = :expires',
        // A missing item has no `done`, so this also refuses to create one.
        ConditionExpression: '#done = :false',
        ExpressionAttributeNames: { '#done': names['#done'], '#updated': names['#updated'], '#expires': names['#expires'] },
        ExpressionAttributeValues: { ':true': true, ':false': false, ...stamps },
      });
    },
  };

  /** Runs a conditional update; false when the condition did not hold (nothing changed). */
  async function updateIf(input: ConstructorParameters<typeof UpdateCommand>[0]): Promise<boolean> {
    try {
      await client.send(new UpdateCommand(input));
      return true;
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }
}

function checkpointKey(objectKey: string, destinationId: string): Record<string, string> {
  return { [CheckpointAttribute.OBJECT_KEY]: objectKey, [CheckpointAttribute.DESTINATION_ID]: destinationId };
}

function validateOptions(options: {
  tableName: string;
  ttlSeconds: number;
  unprocessedKeysMaxAttempts: number;
  unprocessedKeysInitialDelayMs: number;
}): void {
  const errors: FieldError[] = [];
  if (options.tableName === '') errors.push({ field: 'tableName', message: 'must not be empty' });
  for (const field of ['ttlSeconds', 'unprocessedKeysMaxAttempts'] as const) {
    const value = options[field];
    if (!(Number.isSafeInteger(value) && value >= 1)) errors.push({ field, message: 'must be a whole number ≥ 1' });
  }
  const delayMs = options.unprocessedKeysInitialDelayMs;
  if (!(Number.isSafeInteger(delayMs) && delayMs >= 0)) {
    errors.push({ field: 'unprocessedKeysInitialDelayMs', message: 'must be a whole number ≥ 0' });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'DynamoDB checkpoint store options');
}
