import { randomUUID } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { awsErrorName } from '../../aws/index.js';
import { ConfigValidationError } from '../../domain/index.js';
import type { DeadLetter, DeadLetterStore, NewDeadLetter } from '../ports.js';
import { DEAD_LETTERS_BY_TENANT_INDEX, DeadLetterAttribute as A } from './dynamodb-tables.js';

/** What `createDynamoDeadLetterStore` needs. */
export interface DynamoDeadLetterStoreOptions {
  /** A document client over a client built with `awsClientConfig(settings)`. */
  readonly client: DynamoDBDocumentClient;
  /** The dead-letter table: `id` (partition, S), with the `by_tenant` index (`tenant_id` + `created_at`). */
  readonly tableName: string;
  /** The clock, in epoch ms, that stamps `createdAtMs`; tests pass a fake one. Default `Date.now`. */
  readonly now?: () => number;
}

type DeadLetterItem = Record<string, unknown>;

// Entries of one millisecond are ordered by this counter, as the embedded store orders them by
// rowid. It orders one process's entries; entries of different replicas in the same
// millisecond have no true order anyway.
let lastSeq = 0;

/**
 * Creates the dead-letter store on a DynamoDB table: work refused for good, with the
 * reason, shared by every replica.
 *
 * `list` with a tenant reads the `by_tenant` index newest first (index reads are eventually
 * consistent, so an entry added a moment ago may be missing). `list` without a tenant scans
 * the whole table and sorts it, which is fine for operators but not for a hot path. `get`
 * is strongly consistent. Failures surface as the SDK's own errors.
 *
 * @param options - the client, the table name and the clock
 * @throws ConfigValidationError when the table name is empty
 * @example
 * const store = createDynamoDeadLetterStore({
 *   client: DynamoDBDocumentClient.from(new DynamoDBClient(awsClientConfig(awsSettingsFromEnv()))),
 *   tableName: 'tlr-dead-letters',
 * });
 * const recent = await store.list({ tenantId: 'team-a', limit: 20 });
 */
export function createDynamoDeadLetterStore(options: DynamoDeadLetterStoreOptions): DeadLetterStore {
  const { client, tableName } = options;
  const now = options.now ?? Date.now;
  if (tableName === '') {
    throw new ConfigValidationError(
      [{ field: 'tableName', message: 'must not be empty' }],
      'DynamoDB dead-letter store options',
    );
  }

  /**
   * The entries of a tenant, newest first as far as `created_at` goes. With a limit, reading
   * stops once the limit is reached and the entries of the last millisecond are all in, so
   * the caller's tie-break by sequence sees the whole millisecond.
   */
  async function queryTenant(tenantId: string, includeRedriven: boolean, limit: number | undefined) {
    const items: DeadLetterItem[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: DEAD_LETTERS_BY_TENANT_INDEX,
          KeyConditionExpression: '#t = :t',
          ScanIndexForward: false,
          ...(!includeRedriven && { FilterExpression: 'attribute_not_exists(#r)' }),
          ExpressionAttributeNames: { '#t': A.TENANT_ID, ...(!includeRedriven && { '#r': A.REDRIVEN_AT }) },
          ExpressionAttributeValues: { ':t': tenantId },
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
      if (limit !== undefined && items.length > limit && createdAt(items[limit - 1]!) > createdAt(items.at(-1)!)) break;
    } while (startKey !== undefined);
    return items;
  }

  async function scanAll(includeRedriven: boolean) {
    const items: DeadLetterItem[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await client.send(
        new ScanCommand({
          TableName: tableName,
          ConsistentRead: true,
          ...(!includeRedriven && {
            FilterExpression: 'attribute_not_exists(#r)',
            ExpressionAttributeNames: { '#r': A.REDRIVEN_AT },
          }),
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }

  return {
    async add(entry: NewDeadLetter): Promise<DeadLetter> {
      lastSeq += 1;
      const item: DeadLetterItem = {
        [A.ID]: randomUUID(),
        [A.TENANT_ID]: entry.tenantId,
        [A.DESTINATION]: entry.destination,
        [A.OBJECT_KEY]: entry.objectKey,
        [A.REASON]: entry.reason,
        [A.MESSAGE]: entry.message,
        [A.ATTEMPTS]: entry.attempts,
        [A.OFFSET]: entry.offset,
        [A.CREATED_AT]: now(),
        [A.CREATED_SEQ]: lastSeq,
      };
      await client.send(new PutCommand({ TableName: tableName, Item: item }));
      return toDeadLetter(item);
    },

    /**
     * Newest first; without `limit` (or with a negative one, as in the embedded store), every
     * match; redriven entries only with `includeRedriven`.
     */
    async list(filter = {}): Promise<DeadLetter[]> {
      const includeRedriven = filter.includeRedriven === true;
      const limit = filter.limit === undefined || filter.limit < 0 ? undefined : Math.floor(filter.limit);
      if (limit === 0) return [];
      const items =
        filter.tenantId === undefined
          ? await scanAll(includeRedriven)
          : await queryTenant(filter.tenantId, includeRedriven, limit);
      items.sort(newestFirst);
      return (limit === undefined ? items : items.slice(0, limit)).map(toDeadLetter);
    },

    async get(id: string): Promise<DeadLetter | undefined> {
      const { Item: item } = await client.send(
        new GetCommand({ TableName: tableName, Key: { [A.ID]: id }, ConsistentRead: true }),
      );
      return item && toDeadLetter(item);
    },

    /** Stamps the entry as redriven; an unknown id changes nothing. */
    async markRedriven(id: string, atMs: number): Promise<void> {
      try {
        await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { [A.ID]: id },
            UpdateExpression: 'SET #r = :at',
            // Without the condition an unknown id would create a bare item.
            ConditionExpression: 'attribute_exists(#id)',
            ExpressionAttributeNames: { '#r': A.REDRIVEN_AT, '#id': A.ID },
            ExpressionAttributeValues: { ':at': atMs },
          }),
        );
      } catch (error) {
        if (awsErrorName(error) !== 'ConditionalCheckFailedException') throw error;
      }
    },
  };
}

function createdAt(item: DeadLetterItem): number {
  return Number(item[A.CREATED_AT]);
}

function newestFirst(a: DeadLetterItem, b: DeadLetterItem): number {
  return createdAt(b) - createdAt(a) || Number(b[A.CREATED_SEQ] ?? 0) - Number(a[A.CREATED_SEQ] ?? 0);
}

function toDeadLetter(item: DeadLetterItem): DeadLetter {
  const redrivenAt = item[A.REDRIVEN_AT];
  return {
    id: String(item[A.ID]),
    tenantId: String(item[A.TENANT_ID]),
    destination: String(item[A.DESTINATION]),
    objectKey: String(item[A.OBJECT_KEY]),
    reason: String(item[A.REASON]),
    message: String(item[A.MESSAGE]),
    attempts: Number(item[A.ATTEMPTS]),
    offset: Number(item[A.OFFSET]),
    createdAtMs: createdAt(item),
    ...(typeof redrivenAt === 'number' && { redrivenAtMs: redrivenAt }),
  };
}
