import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { awsErrorName } from '../../aws/index.js';

/**
 * The DynamoDB schema of the router's stores, in one place: the stores read and write these
 * attribute names, `createRouterTables` creates them, and the CDK app defines the same.
 */

/** Key attributes of the delivery-config table: `tenant_id` (partition) + `type` (sort). */
export const ConfigTableKey = { TENANT_ID: 'tenant_id', TYPE: 'type' } as const;

/** Attributes of the checkpoint table; `expires_at` (epoch seconds) is its TTL attribute. */
export const CheckpointAttribute = {
  OBJECT_KEY: 'object_key',
  DESTINATION_ID: 'destination_id',
  OFFSET: 'offset',
  DONE: 'done',
  UPDATED_AT: 'updated_at',
  EXPIRES_AT: 'expires_at',
} as const;

/** Attributes of the dead-letter table, the DeadLetter fields in snake_case. */
export const DeadLetterAttribute = {
  ID: 'id',
  TENANT_ID: 'tenant_id',
  DESTINATION: 'destination',
  OBJECT_KEY: 'object_key',
  REASON: 'reason',
  MESSAGE: 'message',
  ATTEMPTS: 'attempts',
  OFFSET: 'offset',
  CREATED_AT: 'created_at',
  /** Orders entries of the same millisecond; not part of any key. */
  CREATED_SEQ: 'created_seq',
  REDRIVEN_AT: 'redriven_at',
} as const;

/** The dead-letter table's global secondary index: `tenant_id` (partition) + `created_at` (sort). */
export const DEAD_LETTERS_BY_TENANT_INDEX = 'by_tenant';

/**
 * Attributes of the audit-log table: `tenant_id` (partition) + `entry_key` (sort), the
 * AuditEntry fields in snake_case. `before`/`after` hold the rows as JSON strings, so they
 * come back exactly as the embedded store gives them.
 */
export const AuditAttribute = {
  TENANT_ID: 'tenant_id',
  /** `<atMs, 16 digits>#<sequence, 16 digits>#<id>`: sorts by time, then by arrival, and is unique. */
  ENTRY_KEY: 'entry_key',
  ID: 'id',
  TYPE: 'type',
  ACTION: 'action',
  ACTOR: 'actor',
  AT: 'at',
  BEFORE: 'before',
  AFTER: 'after',
} as const;

/** Attributes of the destination-status table: `tenant_id` (partition) + `type` (sort). */
export const DestinationStatusAttribute = {
  TENANT_ID: 'tenant_id',
  TYPE: 'type',
  LAST_SUCCESS_AT: 'last_success_at',
  LAG_MS: 'lag_ms',
  LAST_ERROR_CODE: 'last_error_code',
  LAST_ERROR_MESSAGE: 'last_error_message',
  LAST_ERROR_AT: 'last_error_at',
  /** The raw sum of the retry deltas; may dip below 0 while reports arrive out of order. */
  PENDING_RETRIES: 'pending_retries',
  /** The last circuit breaker state a replica reported (`closed`, `half_open`, `open`). */
  CIRCUIT_STATE: 'circuit_state',
  CIRCUIT_OPENED_AT: 'circuit_opened_at',
  CIRCUIT_NEXT_PROBE_AT: 'circuit_next_probe_at',
  /** When that state was reported; a report only replaces an older one. */
  CIRCUIT_AT: 'circuit_at',
  UPDATED_AT: 'updated_at',
} as const;

/**
 * Attributes of the replay table: `signature` (partition), the lowercase hex signature of a
 * mutating API request; `expires_at` (epoch seconds) is its TTL attribute.
 */
export const ReplayAttribute = { SIGNATURE: 'signature', EXPIRES_AT: 'expires_at' } as const;

/**
 * Attributes of the quota table: `tenant_id` (partition) + `day` (sort, UTC `YYYY-MM-DD`);
 * `used` is the day's byte counter; `expires_at` (epoch seconds) is its TTL attribute.
 */
export const QuotaAttribute = {
  TENANT_ID: 'tenant_id',
  DAY: 'day',
  USED: 'used',
  UPDATED_AT: 'updated_at',
  EXPIRES_AT: 'expires_at',
} as const;

/** The names of the router's tables. */
export interface RouterTableNames {
  readonly configs: string;
  readonly checkpoints: string;
  readonly deadLetters: string;
  /** The audit log of config changes. */
  readonly audit: string;
  /** Per-destination health. */
  readonly status: string;
  /** Signatures of mutating API requests, shared by the API replicas to refuse replays. */
  readonly replay: string;
  /**
   * Daily byte counters of the tenants' quotas, shared by the replicas. Optional so that
   * names written before it existed still type-check; `createRouterTables` creates it when set.
   */
  readonly quotas?: string;
}

/**
 * The table names of a deployment whose configs table is `configTable`, where no other name
 * is set: `<configs>-checkpoints`, `-dead-letters`, `-audit`, `-status`, `-replay` and `-quotas`.
 *
 * @example defaultRouterTableNames('tlr-configs').audit === 'tlr-configs-audit'
 */
export function defaultRouterTableNames(configTable: string): RouterTableNames {
  return {
    configs: configTable,
    checkpoints: `${configTable}-checkpoints`,
    deadLetters: `${configTable}-dead-letters`,
    audit: `${configTable}-audit`,
    status: `${configTable}-status`,
    replay: `${configTable}-replay`,
    quotas: `${configTable}-quotas`,
  };
}

/** What `createRouterTables` accepts besides the names. */
export interface CreateRouterTablesOptions {
  /** How long to wait for a new table to become ACTIVE. Default 120 s. */
  readonly maxWaitSeconds?: number;
}

const DEFAULT_MAX_WAIT_SECONDS = 120;

/**
 * Creates the router's DynamoDB tables (on-demand capacity), waits until they are
 * ACTIVE, and turns on TTL for the checkpoints', the replay and the quota table's `expires_at`.
 * Idempotent: tables that exist already are kept as they are (their schema is not checked),
 * and TTL is only switched on when it is not on yet.
 *
 * @param client - a low-level DynamoDB client
 * @param names - the table names (the quota table only when named)
 * @param options - how long to wait for the tables
 * @throws the SDK's error when a table cannot be created, does not become ACTIVE in time, or
 *   TTL cannot be enabled (for example TTL is on for another attribute)
 * @example
 * await createRouterTables(new DynamoDBClient(awsClientConfig(awsSettingsFromEnv())), {
 *   configs: 'tlr-delivery-configs',
 *   checkpoints: 'tlr-checkpoints',
 *   deadLetters: 'tlr-dead-letters',
 *   audit: 'tlr-audit',
 *   status: 'tlr-status',
 *   replay: 'tlr-replay',
 * });
 */
export async function createRouterTables(
  client: DynamoDBClient,
  names: RouterTableNames,
  options: CreateRouterTablesOptions = {},
): Promise<void> {
  const maxWaitTime = options.maxWaitSeconds ?? DEFAULT_MAX_WAIT_SECONDS;
  const tables = [
    configTable(names.configs),
    checkpointTable(names.checkpoints),
    deadLetterTable(names.deadLetters),
    auditTable(names.audit),
    statusTable(names.status),
    replayTable(names.replay),
    ...(names.quotas !== undefined ? [quotaTable(names.quotas)] : []),
  ];
  await Promise.all(
    tables.map(async (input) => {
      await createIfAbsent(client, input);
      await waitUntilTableExists({ client, maxWaitTime }, { TableName: input.TableName });
    }),
  );
  await Promise.all([
    enableTimeToLive(client, names.checkpoints, CheckpointAttribute.EXPIRES_AT),
    enableTimeToLive(client, names.replay, ReplayAttribute.EXPIRES_AT),
    ...(names.quotas !== undefined ? [enableTimeToLive(client, names.quotas, QuotaAttribute.EXPIRES_AT)] : []),
  ]);
}

function configTable(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: ConfigTableKey.TENANT_ID, AttributeType: 'S' },
      { AttributeName: ConfigTableKey.TYPE, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: ConfigTableKey.TENANT_ID, KeyType: 'HASH' },
      { AttributeName: ConfigTableKey.TYPE, KeyType: 'RANGE' },
    ],
  };
}

function checkpointTable(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: CheckpointAttribute.OBJECT_KEY, AttributeType: 'S' },
      { AttributeName: CheckpointAttribute.DESTINATION_ID, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: CheckpointAttribute.OBJECT_KEY, KeyType: 'HASH' },
      { AttributeName: CheckpointAttribute.DESTINATION_ID, KeyType: 'RANGE' },
    ],
  };
}

function deadLetterTable(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: DeadLetterAttribute.ID, AttributeType: 'S' },
      { AttributeName: DeadLetterAttribute.TENANT_ID, AttributeType: 'S' },
      { AttributeName: DeadLetterAttribute.CREATED_AT, AttributeType: 'N' },
    ],
    KeySchema: [{ AttributeName: DeadLetterAttribute.ID, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: DEAD_LETTERS_BY_TENANT_INDEX,
        KeySchema: [
          { AttributeName: DeadLetterAttribute.TENANT_ID, KeyType: 'HASH' },
          { AttributeName: DeadLetterAttribute.CREATED_AT, KeyType: 'RANGE' },
        ],
        // `list` reads whole entries from the index, so it projects every attribute.
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

function auditTable(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: AuditAttribute.TENANT_ID, AttributeType: 'S' },
      { AttributeName: AuditAttribute.ENTRY_KEY, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: AuditAttribute.TENANT_ID, KeyType: 'HASH' },
      { AttributeName: AuditAttribute.ENTRY_KEY, KeyType: 'RANGE' },
    ],
  };
}

function statusTable(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: DestinationStatusAttribute.TENANT_ID, AttributeType: 'S' },
      { AttributeName: DestinationStatusAttribute.TYPE, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: DestinationStatusAttribute.TENANT_ID, KeyType: 'HASH' },
      { AttributeName: DestinationStatusAttribute.TYPE, KeyType: 'RANGE' },
    ],
  };
}

function replayTable(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: ReplayAttribute.SIGNATURE, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: ReplayAttribute.SIGNATURE, KeyType: 'HASH' }],
  };
}

function quotaTable(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: QuotaAttribute.TENANT_ID, AttributeType: 'S' },
      { AttributeName: QuotaAttribute.DAY, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: QuotaAttribute.TENANT_ID, KeyType: 'HASH' },
      { AttributeName: QuotaAttribute.DAY, KeyType: 'RANGE' },
    ],
  };
}

async function createIfAbsent(client: DynamoDBClient, input: CreateTableCommandInput): Promise<void> {
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    // The table exists already (or is being created by a concurrent setup).
    if (awsErrorName(error) !== 'ResourceInUseException') throw error;
  }
}

/**
 * Enabling TTL twice is an error on AWS (ValidationException), so look first. TTL deletes
 * expired items within days, not at once; readers must not rely on expired items being gone.
 */
async function enableTimeToLive(client: DynamoDBClient, tableName: string, attributeName: string): Promise<void> {
  const { TimeToLiveDescription: ttl } = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = ttl?.TimeToLiveStatus;
  if ((status === 'ENABLED' || status === 'ENABLING') && ttl?.AttributeName === attributeName) return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: attributeName },
    }),
  );
}
