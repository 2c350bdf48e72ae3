import { randomUUID } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { awsErrorName } from '../../aws/index.js';
import { ConfigValidationError, type DeliveryConfig } from '../../domain/index.js';
import { CONFIG_VERSION_FIELD, checkConfigChangeAudit, configChangeKey } from '../config-changes.js';
import { type ConfigCursorPosition, decodeConfigCursor, encodeConfigCursor } from '../config-cursor.js';
import { ConfigChangeOutcome, type ConfigRowExpectation, type DeliveryConfigStore } from '../ports.js';
import { dynamoAuditItem } from './dynamodb-audit-log-store.js';
import { ConfigTableKey } from './dynamodb-tables.js';

/** What `createDynamoConfigStore` needs. */
export interface DynamoConfigStoreOptions {
  /** A document client over a client built with `awsClientConfig(settings)`. */
  readonly client: DynamoDBDocumentClient;
  /** The delivery-config table: `tenant_id` (partition, S) + `type` (sort, S). */
  readonly tableName: string;
  /**
   * The audit table (`AUDIT_TABLE`) that `applyChange` puts each change's entry into, in the
   * same transaction as the change: `tenant_id` (partition, S) + `entry_key` (sort, S).
   */
  readonly auditTableName: string;
}

/** Why DynamoDB cancelled one action of a transaction, as `CancellationReasons` names it. */
const CancellationCode = {
  /** The action's ConditionExpression was not met. */
  CONDITIONAL_CHECK_FAILED: 'ConditionalCheckFailed',
  /** Another transaction was changing the same item at that moment. */
  TRANSACTION_CONFLICT: 'TransactionConflict',
} as const;

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
 * `applyChange` is one TransactWriteItems call: the config Put or Delete, conditional on the
 * stored row, and the audit entry's Put into the audit table. Each item stays within
 * DynamoDB's 400 KB; the two together are far below the 4 MB a transaction may carry.
 *
 * @param options - the client, the config table and the audit table
 * @throws ConfigValidationError when a table name is empty
 * @example
 * const store = createDynamoConfigStore({
 *   client: DynamoDBDocumentClient.from(new DynamoDBClient(awsClientConfig(awsSettingsFromEnv()))),
 *   tableName: 'tlr-delivery-configs',
 *   auditTableName: 'tlr-delivery-configs-audit',
 * });
 * const rows = await store.listTenant('team-a');
 */
export function createDynamoConfigStore(options: DynamoConfigStoreOptions): DeliveryConfigStore {
  const { client, tableName, auditTableName } = options;
  const emptyNames = [
    ...(tableName === '' ? [{ field: 'tableName', message: 'must not be empty' }] : []),
    ...(auditTableName === '' ? [{ field: 'auditTableName', message: 'must not be empty' }] : []),
  ];
  if (emptyNames.length > 0) throw new ConfigValidationError(emptyNames, 'DynamoDB config store options');

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

    async applyChange(change, expect, audit) {
      checkConfigChangeAudit(change, audit);
      const key = configChangeKey(change);
      const condition = conditionOf(expect);
      const configAction =
        change.put !== undefined
          ? { Put: { TableName: tableName, Item: toItem(change.put), ...condition } }
          : { Delete: { TableName: tableName, Key: configKey(key.tenantId, key.type), ...condition } };
      try {
        await client.send(
          new TransactWriteCommand({
            // The config action first: cancellation reasons come in the order of the actions.
            TransactItems: [configAction, { Put: { TableName: auditTableName, Item: dynamoAuditItem(audit) } }],
            // An SDK retry resends this token: when the first attempt was applied but its answer
            // was lost, DynamoDB answers success instead of checking the condition again against
            // the row that attempt wrote, which would be a false conflict.
            ClientRequestToken: randomUUID(),
          }),
        );
        return ConfigChangeOutcome.APPLIED;
      } catch (error) {
        if (isConfigConflict(error)) return ConfigChangeOutcome.CONFLICT;
        throw error;
      }
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
 * The ConditionExpression of the config action. `#t` (the partition key) exists exactly when
 * the item does; a condition on an absent item sees no attributes, so "no `updated_at`" must
 * also ask for the item to exist.
 */
function conditionOf(expect: ConfigRowExpectation): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
} {
  if ('absent' in expect) return { ConditionExpression: 'attribute_not_exists(#t)', ExpressionAttributeNames: KEY_NAMES };
  if (expect.updatedAt !== undefined) {
    return {
      ConditionExpression: '#u = :u',
      ExpressionAttributeNames: { '#u': CONFIG_VERSION_FIELD },
      ExpressionAttributeValues: { ':u': expect.updatedAt },
    };
  }
  // A hand-written `updated_at` that is not a string is no version (see `configRowVersion`).
  return {
    ConditionExpression: 'attribute_exists(#t) AND (attribute_not_exists(#u) OR NOT attribute_type(#u, :s))',
    ExpressionAttributeNames: { ...KEY_NAMES, '#u': CONFIG_VERSION_FIELD },
    ExpressionAttributeValues: { ':s': 'S' },
  };
}

/**
 * Whether a transaction was cancelled because of the config item: its condition failed, or
 * another transaction was changing it at that moment. Both mean a concurrent change, and
 * nothing was written. Any other reason (a missing table, throttling, an item too large) is a
 * failure to report, not a conflict.
 */
function isConfigConflict(error: unknown): boolean {
  if (awsErrorName(error) !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  const code = reasons?.[0]?.Code;
  return code === CancellationCode.CONDITIONAL_CHECK_FAILED || code === CancellationCode.TRANSACTION_CONFLICT;
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


