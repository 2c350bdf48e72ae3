import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/api/auth/hmac.js';
import type { ReplayStore } from '../../../src/api/auth/replay-store.js';
import { awsClientConfig } from '../../../src/aws/index.js';
import { createDynamoReplayStore } from '../../../src/stores/aws/dynamodb-replay-store.js';
import { createRouterTables, defaultRouterTableNames } from '../../../src/stores/aws/dynamodb-tables.js';
import { requireAttributeNamePlaceholders } from '../../helpers/dynamodb.js';
import { randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { rejection } from '../../helpers/store-contract.js';

const START_MS = 1_767_225_600_000;
const WINDOW_MS = 300_000;

describe.skipIf(motoUnavailable)('createDynamoReplayStore against moto', () => {
  let moto: MotoServer;
  let client: DynamoDBClient;
  let documentClient: DynamoDBDocumentClient;
  let tableName: string;
  let nowMs = START_MS;
  let signature: string;

  function storeOn(table = tableName): ReplayStore {
    return createDynamoReplayStore({ client: documentClient, tableName: table, now: () => nowMs });
  }

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    client = new DynamoDBClient(awsClientConfig(moto.settings));
    requireAttributeNamePlaceholders(client);
    documentClient = DynamoDBDocumentClient.from(client);
    const tables = defaultRouterTableNames(`configs-${randomId()}`);
    tableName = tables.replay;
    await createRouterTables(client, tables);
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  beforeEach(() => {
    nowMs = START_MS;
    signature = sha256Hex(randomId());
  });

  it('answers false for a new signature and true when it comes again, in any hex case', async () => {
    // Prepare
    const store = storeOn();

    // Act
    const first = await store.remember(signature, START_MS + WINDOW_MS);
    const again = await store.remember(signature.toUpperCase(), START_MS + WINDOW_MS);

    // Assess
    expect(first).toBe(false);
    expect(again).toBe(true);
  });

  it('stores the signature lowercase with expires_at in epoch seconds, rounded up', async () => {
    // Prepare
    const store = storeOn();

    // Act
    await store.remember(signature.toUpperCase(), START_MS + WINDOW_MS + 1);

    // Assess
    const { Item } = await documentClient.send(
      new GetCommand({ TableName: tableName, Key: { signature: signature.toLowerCase() }, ConsistentRead: true }),
    );
    expect(Item).toEqual({ signature: signature.toLowerCase(), expires_at: (START_MS + WINDOW_MS) / 1000 + 1 });
  });

  it('lets a second replica on the same table see a signature the first remembered', async () => {
    // Prepare
    const replicaA = storeOn();
    const replicaB = storeOn();

    // Act
    const onA = await replicaA.remember(signature, START_MS + WINDOW_MS);
    const onB = await replicaB.remember(signature, START_MS + WINDOW_MS);

    // Assess
    expect(onA).toBe(false);
    expect(onB).toBe(true);
  });

  it('answers false again once the stored item has expired, though TTL has not deleted it yet', async () => {
    // Prepare
    const store = storeOn();
    await store.remember(signature, START_MS + WINDOW_MS);

    // Act
    nowMs = START_MS + WINDOW_MS - 1_000;
    const justInside = await store.remember(signature, nowMs + WINDOW_MS);
    nowMs = START_MS + WINDOW_MS;
    const expired = await store.remember(signature, nowMs + WINDOW_MS);
    const replayedAfterRenewal = await store.remember(signature, nowMs + WINDOW_MS);

    // Assess
    expect(justInside).toBe(true);
    expect(expired).toBe(false);
    expect(replayedAfterRenewal).toBe(true);
  });

  it('passes on a failure other than the condition (a missing table)', async () => {
    // Prepare
    const store = storeOn(`missing-${randomId()}`);

    // Act
    const error = await rejection(store.remember(signature, START_MS + WINDOW_MS));

    // Assess
    expect(error).toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
