import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../../src/aws/index.js';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import { createDynamoAuditLogStore } from '../../../src/stores/aws/dynamodb-audit-log-store.js';
import { createRouterTables } from '../../../src/stores/aws/dynamodb-tables.js';
import { InvalidCursorError } from '../../../src/stores/config-cursor.js';
import { AuditAction, type AuditLogStore, type NewAuditEntry } from '../../../src/stores/ports.js';
import { requireAttributeNamePlaceholders } from '../../helpers/dynamodb.js';
import { randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { rejection } from '../../helpers/store-contract.js';

const START_MS = 1_767_225_600_000;

describe.skipIf(motoUnavailable)('createDynamoAuditLogStore against moto', () => {
  let moto: MotoServer;
  let client: DynamoDBClient;
  let documentClient: DynamoDBDocumentClient;
  let tableName: string;
  let tenantId: string;
  let store: AuditLogStore;
  /** Names of the commands the client sent, in order. */
  const sent: string[] = [];

  function newEntry(overrides: Partial<NewAuditEntry> = {}): NewAuditEntry {
    return {
      tenantId,
      type: 's3',
      action: AuditAction.REPLACE,
      actor: 'psk:current',
      atMs: START_MS,
      before: { tenant_id: tenantId, type: 's3', bucket_name: 'old' },
      after: { tenant_id: tenantId, type: 's3', bucket_name: 'new' },
      ...overrides,
    };
  }

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    client = new DynamoDBClient(awsClientConfig(moto.settings));
    requireAttributeNamePlaceholders(client);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    documentClient = DynamoDBDocumentClient.from(client);
    const id = randomId();
    tableName = `audit-${id}`;
    await createRouterTables(client, {
      configs: `configs-${id}`,
      checkpoints: `checkpoints-${id}`,
      deadLetters: `dead-letters-${id}`,
      audit: tableName,
      status: `status-${id}`,
      replay: `replay-${id}`,
    });
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  beforeEach(() => {
    tenantId = `tenant-${randomId()}`;
    store = createDynamoAuditLogStore({ client: documentClient, tableName });
    sent.length = 0;
  });

  it('writes one item under the tenant, keyed by padded time, sequence and id, with the rows as JSON', async () => {
    // Prepare
    const entry = newEntry();

    // Act
    const appended = await store.append(entry);

    // Assess
    const { Items } = await documentClient.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#t = :t',
        ExpressionAttributeNames: { '#t': 'tenant_id' },
        ExpressionAttributeValues: { ':t': tenantId },
        ConsistentRead: true,
      }),
    );
    expect(Items).toEqual([
      {
        tenant_id: tenantId,
        entry_key: expect.stringMatching(new RegExp(`^${String(START_MS).padStart(16, '0')}#\\d{16}#${appended.id}$`)),
        id: appended.id,
        type: 's3',
        action: 'replace',
        actor: 'psk:current',
        at: START_MS,
        before: JSON.stringify(entry.before),
        after: JSON.stringify(entry.after),
      },
    ]);
  });

  it('keeps reading past a 1 MB Query page until the page is full', async () => {
    // Prepare: about 1.5 MB of entries, so a Query page stops before the limit is reached.
    const big = { blob: 'x'.repeat(100_000) };
    for (let i = 0; i < 15; i += 1) await store.append(newEntry({ atMs: START_MS + i, before: big }));
    sent.length = 0;

    // Act
    const first = await store.list(tenantId, { limit: 12 });
    const queries = sent.length;
    const second = await store.list(tenantId, { limit: 12, cursor: first.nextCursor! });

    // Assess
    expect(queries).toBe(2);
    expect(first.entries.map((e) => e.atMs - START_MS)).toEqual([14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3]);
    expect(second.entries.map((e) => e.atMs - START_MS)).toEqual([2, 1, 0]);
    expect(second.nextCursor).toBeUndefined();
  });

  it("refuses a cursor of the embedded store's shape with InvalidCursorError", async () => {
    // Prepare
    await store.append(newEntry());
    const embedded = Buffer.from(
      JSON.stringify({ t: tenantId, k: `${String(START_MS).padStart(16, '0')}#${'1'.padStart(16, '0')}` }),
    ).toString('base64url');

    // Act
    const error = await rejection(store.list(tenantId, { limit: 5, cursor: embedded }));

    // Assess
    expect(error).toBeInstanceOf(InvalidCursorError);
  });

  it('refuses an empty table name with ConfigValidationError', () => {
    // Prepare
    const options = { client: documentClient, tableName: '' };

    // Act
    const create = () => createDynamoAuditLogStore(options);

    // Assess
    expect(create).toThrow(ConfigValidationError);
  });

  it.each<[string, (target: AuditLogStore) => Promise<unknown>]>([
    ['append', (target) => target.append(newEntry())],
    ['list', (target) => target.list(tenantId, { limit: 5 })],
  ])('%s passes on the SDK error when the table does not exist', async (_method, call) => {
    // Prepare
    const target = createDynamoAuditLogStore({ client: documentClient, tableName: `missing-${randomId()}` });

    // Act
    const error = await rejection(call(target));

    // Assess
    expect(error).toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
