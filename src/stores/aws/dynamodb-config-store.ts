import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { awsErrorName } from '../../aws/index.js';
import { ConfigValidationError, type DeliveryConfig } from '../../domain/index.js';
import { type ConfigCursorPosition, decodeConfigCursor, encodeConfigCursor } from '../config-cursor.js';
import type { DeliveryConfigStore } from '../ports.js';
import { ConfigTableKey } from './dynamodb-tables.js';

/** What `createDynamoConfigStore` needs. */
export interface DynamoConfigStoreOptions {
  /** A document client over a client built with `awsClientConfig(settings)`. */
  readonly client: DynamoDBDocumentClient;
  /** The delivery-config table: `tenant_id` (partition, S) + `type` (sort, S). */
  readonly tableName: string;
}

/** Where a page ended: the key of its last row (the same cursor shape as the embedded store). */

// `type` is a DynamoDB reserved word (moto does not reject it, AWS does), so every
// expression names the key attributes through placeholders.
const KEY_NAMES = { '#t': ConfigTableKey.TENANT_ID } as const;

/**
 * Creates the delivery-config store on a DynamoDB table, one item per (tenant, type), as
 * operators write them by hand today. Rows come back as stored with two read normalisations
 * only: a String Set (or Number Set) becomes a sorted array, and an integer beyond 2^53 (which
 * the document client returns as a BigInt) becomes the nearest number. Defaults such as `enabled` are applied
 * later, by `readDeliveryConfig`. Reads are strongly consistent. Failures surface as the
 * SDK's own errors, so callers can classify them with `isRetryableAwsError`.
 *
 * `listAll` pages in the table's scan order, which on DynamoDB is not (tenant_id, type)
 * order: rows of one tenant are together and sorted by type, but tenants come in hash order.
 * Each row appears exactly once across the pages of one pass.
 *
 * @param options - the client and the table name
 * @throws ConfigValidationError when the table name is empty
 * @example
 * const store = createDynamoConfigStore({
 *   client: DynamoDBDocumentClient.from(new DynamoDBClient(awsClientConfig(awsSettingsFromEnv()))),
 *   tableName: 'tlr-delivery-configs',
 * });
 * const rows = await store.listTenant('team-a');
 */
export function createDynamoConfigStore(options: DynamoConfigStoreOptions): DeliveryConfigStore {
  const { client, tableName } = options;
  if (tableName === '') {
    throw new ConfigValidationError([{ field: 'tableName', message: 'must not be empty' }], 'DynamoDB config store options');
  }

  return {
    async listTenant(tenantId) {
      const rows: Record<string, unknown>[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: '#t = :t',
            ExpressionAttributeNames: KEY_NAMES,
            ExpressionAttributeValues: { ':t': tenantId },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) rows.push(normalizeRow(item));
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return rows;
    },

    async get(tenantId, type) {
      const { Item: item } = await client.send(
        new GetCommand({ TableName: tableName, Key: configKey(tenantId, type), ConsistentRead: true }),
      );
      return item && normalizeRow(item);
    },

    async create(config) {
      try {
        await client.send(
          new PutCommand({
            TableName: tableName,
            Item: toItem(config),
            ConditionExpression: 'attribute_not_exists(#t)',
            ExpressionAttributeNames: KEY_NAMES,
          }),
        );
        return true;
      } catch (error) {
        if (awsErrorName(error) === 'ConditionalCheckFailedException') return false;
        throw error;
      }
    },

    async put(config) {
      await client.send(new PutCommand({ TableName: tableName, Item: toItem(config) }));
    },

    async delete(tenantId, type) {
      const { Attributes: old } = await client.send(
        new DeleteCommand({ TableName: tableName, Key: configKey(tenantId, type), ReturnValues: 'ALL_OLD' }),
      );
      return old !== undefined;
    },

    async listAll({ limit, cursor }) {
      if (!(Number.isSafeInteger(limit) && limit >= 1)) {
        throw new RangeError(`listAll limit must be a whole number ≥ 1, got ${limit}.`);
      }
      const after = cursor === undefined ? undefined : decodeConfigCursor(cursor);
      // One row more than asked tells whether another page exists, so the last page has no
      // cursor. A Scan page also stops at 1 MB, so keep scanning until the page is full.
      // Resuming from the last row's own key (not LastEvaluatedKey) works even when that row
      // was deleted since: DynamoDB accepts any key of the table's schema as a start.
      const items: Record<string, unknown>[] = [];
      let startKey: Record<string, unknown> | undefined = after && configKey(after.t, after.y);
      do {
        const page = await client.send(
          new ScanCommand({
            TableName: tableName,
            Limit: limit + 1 - items.length,
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        items.push(...(page.Items ?? []));
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined && items.length <= limit);
      const rows = items.slice(0, limit);
      const last = rows.at(-1);
      return {
        rows: rows.map(normalizeRow),
        ...(items.length > limit && last && { nextCursor: encodeConfigCursor(cursorPosition(last)) }),
      };
    },
  };

  function configKey(tenantId: string, type: string): Record<string, string> {
    return { [ConfigTableKey.TENANT_ID]: tenantId, [ConfigTableKey.TYPE]: type };
  }
}

/**
 * The item to write: the config as JSON would keep it, like the embedded store (which stores
 * `JSON.stringify(config)`), so both stores give back the same row and `undefined` fields
 * are dropped instead of failing the marshaller.
 */
function toItem(config: DeliveryConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
}

/**
 * A row as read, normalised where DynamoDB has types JSON lacks. Operators write
 * `desired_logs` and `groups` as String Sets; the document client returns those as JS Sets,
 * which JSON (and the config schema) would not see as arrays.
 */
function normalizeRow(item: Record<string, unknown>): Record<string, unknown> {
  return normalizeValue(item) as Record<string, unknown>;
}

function normalizeValue(value: unknown): unknown {
  if (value instanceof Set) {
    const members = [...(value as Set<unknown>)].map(normalizeValue);
    if (members.every((m) => typeof m === 'string')) return (members as string[]).sort();
    if (members.every((m) => typeof m === 'number')) return (members as number[]).sort((a, b) => a - b);
    return members;
  }
  // The document client turns numbers beyond 2^53 into BigInt, which JSON cannot write.
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(normalizeValue);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, normalizeValue(v)]));
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function cursorPosition(item: Record<string, unknown>): ConfigCursorPosition {
  return { t: String(item[ConfigTableKey.TENANT_ID]), y: String(item[ConfigTableKey.TYPE]) };
}


