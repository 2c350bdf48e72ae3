import { randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ConfigValidationError } from '../../domain/index.js';
import {
  checkAuditListLimit,
  checkNewAuditEntry,
  decodeAuditCursor,
  encodeAuditCursor,
  padAuditNumber,
  parseAuditDocument,
} from '../audit-entries.js';
import type { AuditAction, AuditEntry, AuditLogStore, NewAuditEntry } from '../ports.js';
import { AuditAttribute as A } from './dynamodb-tables.js';

/** What `createDynamoAuditLogStore` needs. */
export interface DynamoAuditLogStoreOptions {
  /** A document client over a client built with `awsClientConfig(settings)`. */
  readonly client: DynamoDBDocumentClient;
  /** The audit table: `tenant_id` (partition, S) + `entry_key` (sort, S). */
  readonly tableName: string;
}

type AuditItem = Record<string, unknown>;

/** An entry key as this store writes it, so a cursor can only name a key of this table's shape. */
const ENTRY_KEY_REGEX = /^\d{16}#\d{16}#[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Entries of one millisecond sort by this counter, newest-appended first, as the embedded
// store sorts them by its sequence. It orders one process's entries; entries of different
// replicas in the same millisecond have no true order anyway, and the id keeps keys unique.
let lastSeq = 0;

/**
 * The item of a new entry under a new random id: the one item shape of the audit table, for
 * the audit log and for a store that puts the entry in its own transaction (the config store).
 *
 * @throws RangeError when `atMs` is not a whole number ≥ 0 or `tenantId` is empty
 * @internal
 */
export function dynamoAuditItem(entry: NewAuditEntry): Record<string, unknown> {
  checkNewAuditEntry(entry);
  lastSeq += 1;
  const id = randomUUID();
  return {
    [A.TENANT_ID]: entry.tenantId,
    [A.ENTRY_KEY]: `${padAuditNumber(entry.atMs)}#${padAuditNumber(lastSeq)}#${id}`,
    [A.ID]: id,
    [A.TYPE]: entry.type,
    [A.ACTION]: entry.action,
    [A.ACTOR]: entry.actor,
    [A.AT]: entry.atMs,
    // JSON strings, not maps: they round-trip exactly (no Sets, no BigInts, no dropped
    // undefined), like the embedded store's JSON columns.
    ...(entry.before !== undefined && { [A.BEFORE]: JSON.stringify(entry.before) }),
    ...(entry.after !== undefined && { [A.AFTER]: JSON.stringify(entry.after) }),
  };
}

/**
 * Creates the audit log on a DynamoDB table: config changes per tenant, append-only, shared
 * by every replica. Each entry is one item under the tenant's partition, its sort key
 * `<atMs>#<sequence>#<id>` zero-padded so string order is time order. `list` is one Query
 * newest first (strongly consistent), and its cursor wraps the last entry's key, checked on
 * the way back in. Failures surface as the SDK's own errors.
 *
 * @param options - the client and the table name
 * @throws ConfigValidationError when the table name is empty
 * @example
 * const audit = createDynamoAuditLogStore({
 *   client: DynamoDBDocumentClient.from(new DynamoDBClient(awsClientConfig(awsSettingsFromEnv()))),
 *   tableName: 'tlr-audit',
 * });
 * const { entries, nextCursor } = await audit.list('team-a', { limit: 50 });
 */
export function createDynamoAuditLogStore(options: DynamoAuditLogStoreOptions): AuditLogStore {
  const { client, tableName } = options;
  if (tableName === '') {
    throw new ConfigValidationError([{ field: 'tableName', message: 'must not be empty' }], 'DynamoDB audit log store options');
  }

  return {
    /**
     * Appends an entry under a new random id.
     * @throws RangeError when `atMs` is not a whole number ≥ 0 or `tenantId` is empty
     */
    async append(entry: NewAuditEntry): Promise<AuditEntry> {
      const item = dynamoAuditItem(entry);
      await client.send(new PutCommand({ TableName: tableName, Item: item }));
      return toEntry(item);
    },

    /**
     * @throws RangeError when `limit` is not a whole number ≥ 1
     * @throws InvalidCursorError when the cursor was not made by this store for this tenant
     */
    async list(tenantId, { limit, cursor }) {
      checkAuditListLimit(limit);
      const after = cursor === undefined ? undefined : decodeAuditCursor(cursor, tenantId, ENTRY_KEY_REGEX);
      // One item more than asked tells whether another page exists, so the last page has no
      // cursor. A Query page also stops at 1 MB, so keep reading until the page is full.
      const items: AuditItem[] = [];
      let startKey: Record<string, unknown> | undefined =
        after === undefined ? undefined : { [A.TENANT_ID]: tenantId, [A.ENTRY_KEY]: after };
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: '#t = :t',
            ExpressionAttributeNames: { '#t': A.TENANT_ID },
            ExpressionAttributeValues: { ':t': tenantId },
            ScanIndexForward: false,
            Limit: limit + 1 - items.length,
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        items.push(...(page.Items ?? []));
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined && items.length <= limit);
      const entries = items.slice(0, limit);
      const last = entries.at(-1);
      return {
        entries: entries.map(toEntry),
        ...(items.length > limit && last && { nextCursor: encodeAuditCursor(tenantId, String(last[A.ENTRY_KEY])) }),
      };
    },
  };
}

function toEntry(item: AuditItem): AuditEntry {
  const before = parseAuditDocument(item[A.BEFORE]);
  const after = parseAuditDocument(item[A.AFTER]);
  return {
    id: String(item[A.ID]),
    tenantId: String(item[A.TENANT_ID]),
    type: String(item[A.TYPE]),
    action: String(item[A.ACTION]) as AuditAction,
    actor: String(item[A.ACTOR]),
    atMs: Number(item[A.AT]),
    ...(before !== undefined && { before }),
    ...(after !== undefined && { after }),
  };
}
