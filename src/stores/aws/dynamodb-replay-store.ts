import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ReplayStore } from '../../api/auth/replay-store.js';
import { awsErrorName } from '../../aws/index.js';
import { ReplayAttribute as A } from './dynamodb-tables.js';

/** What `createDynamoReplayStore` needs. */
export interface DynamoReplayStoreOptions {
  /** A document client over a client built with `awsClientConfig(settings)`. */
  readonly client: DynamoDBDocumentClient;
  /** The replay table: `signature` (partition, S), TTL on `expires_at`. */
  readonly tableName: string;
  /** The clock, in epoch ms, that decides whether a stored signature has expired. Default `Date.now`. */
  readonly now?: () => number;
}

const NAMES = { '#s': A.SIGNATURE, '#e': A.EXPIRES_AT } as const;

/**
 * Creates the replay store on a DynamoDB table, shared by every API replica and Lambda
 * container: a signature is written with a conditional PutItem, so of two replicas receiving
 * the same request at once exactly one write succeeds and the other sees a replay.
 *
 * DynamoDB TTL deletes expired items lazily (within days, not at once), so the condition also
 * lets a write replace an item whose `expires_at` has passed: `attribute_not_exists(signature)
 * OR expires_at <= now`, one atomic write rather than a read and a second put. `expires_at` is
 * rounded up to the second, so a signature is never forgotten early.
 *
 * @param options - the client, the table and the clock
 * @returns a store whose `remember()` is true for a signature stored and not yet expired
 * @example
 * const replayStore = createDynamoReplayStore({ client: documentClient, tableName: 'tlr-configs-replay' });
 * addApiAuth(app, { mode: 'authorizer', replayStore }, { registry, logger });
 */
export function createDynamoReplayStore(options: DynamoReplayStoreOptions): ReplayStore {
  const { client, tableName, now = Date.now } = options;
  return {
    async remember(signature: string, expiresAtMs: number): Promise<boolean> {
      try {
        await client.send(
          new PutCommand({
            TableName: tableName,
            Item: { [A.SIGNATURE]: signature.toLowerCase(), [A.EXPIRES_AT]: Math.ceil(expiresAtMs / 1000) },
            ConditionExpression: 'attribute_not_exists(#s) OR #e <= :now',
            ExpressionAttributeNames: NAMES,
            ExpressionAttributeValues: { ':now': Math.floor(now() / 1000) },
          }),
        );
        return false;
      } catch (error) {
        // Stored and not expired: a replay. Every other failure is the caller's 503.
        if (awsErrorName(error) === 'ConditionalCheckFailedException') return true;
        throw error;
      }
    },
  };
}
