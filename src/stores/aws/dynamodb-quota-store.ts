import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { awsErrorName } from '../../aws/index.js';
import { ConfigValidationError } from '../../domain/index.js';
import { checkQuotaArguments, type QuotaReservation, type TenantQuotaStore } from '../ports.js';
import { QuotaAttribute } from './dynamodb-tables.js';

/** A day's counter is kept this long after its last reservation, then TTL deletes it. */
export const DEFAULT_QUOTA_TTL_SECONDS = 3 * 24 * 60 * 60;

/** What `createDynamoQuotaStore` needs. */
export interface DynamoQuotaStoreOptions {
  /** A document client over a client built with `awsClientConfig(settings)`. */
  readonly client: DynamoDBDocumentClient;
  /** The quota table: `tenant_id` (partition, S) + `day` (sort, S), TTL on `expires_at`. */
  readonly tableName: string;
  /** How long a counter is kept after its last reservation. Default 3 days. */
  readonly ttlSeconds?: number;
  /** The clock, in epoch ms, for `updated_at` and `expires_at`. Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * Creates the quota store on a DynamoDB table: daily byte counters per tenant, shared by
 * every replica. A reservation is one conditional `UpdateItem` (`ADD used :n` where the
 * counter is absent or at most `cap - n`), atomic on DynamoDB, so replicas never overshoot
 * the cap together. `expires_at` (the TTL attribute) is pushed `ttlSeconds` ahead.
 *
 * @param options - the client, the table name, the TTL and the clock
 * @throws ConfigValidationError when the table name is empty or `ttlSeconds` is not a whole number ≥ 1
 * @example
 * const quotas = createDynamoQuotaStore({ client, tableName: 'tlr-configs-quotas' });
 * const { allowed } = await quotas.add('acme', '2026-01-01', 1_048_576, 10_737_418_240);
 */
export function createDynamoQuotaStore(options: DynamoQuotaStoreOptions): TenantQuotaStore {
  const { client, tableName } = options;
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_QUOTA_TTL_SECONDS;
  const now = options.now ?? Date.now;
  const errors = [
    ...(tableName === '' ? [{ field: 'tableName', message: 'must not be empty' }] : []),
    ...(Number.isSafeInteger(ttlSeconds) && ttlSeconds >= 1 ? [] : [{ field: 'ttlSeconds', message: 'must be a whole number ≥ 1' }]),
  ];
  if (errors.length > 0) throw new ConfigValidationError(errors, 'DynamoDB quota store options');

  const keyOf = (tenantId: string, dayUtc: string) => ({ [QuotaAttribute.TENANT_ID]: tenantId, [QuotaAttribute.DAY]: dayUtc });
  const usedOf = async (tenantId: string, dayUtc: string): Promise<number> => {
    const { Item } = await client.send(
      new GetCommand({
        TableName: tableName,
        Key: keyOf(tenantId, dayUtc),
        ConsistentRead: true,
        ProjectionExpression: '#used',
        ExpressionAttributeNames: { '#used': QuotaAttribute.USED },
      }),
    );
    return Number(Item?.[QuotaAttribute.USED] ?? 0);
  };

  return {
    async add(tenantId: string, dayUtc: string, bytes: number, cap: number): Promise<QuotaReservation> {
      checkQuotaArguments(dayUtc, bytes, cap);
      // `attribute_not_exists` would let a first reservation above the cap through.
      if (bytes > cap) return { allowed: false, used: await usedOf(tenantId, dayUtc) };
      const nowMs = now();
      try {
        const { Attributes } = await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keyOf(tenantId, dayUtc),
            UpdateExpression: 'ADD #used :bytes SET #updated = :now, #expires = :expires',
            ConditionExpression: 'attribute_not_exists(#used) OR #used <= :capMinusBytes',
            ExpressionAttributeNames: {
              '#used': QuotaAttribute.USED,
              '#updated': QuotaAttribute.UPDATED_AT,
              '#expires': QuotaAttribute.EXPIRES_AT,
            },
            ExpressionAttributeValues: {
              ':bytes': bytes,
              ':capMinusBytes': cap - bytes,
              ':now': nowMs,
              ':expires': Math.floor(nowMs / 1000) + ttlSeconds,
            },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        return { allowed: true, used: Number(Attributes?.[QuotaAttribute.USED] ?? bytes) };
      } catch (error) {
        if (awsErrorName(error) !== 'ConditionalCheckFailedException') throw error;
        return { allowed: false, used: await usedOf(tenantId, dayUtc) };
      }
    },
  };
}
