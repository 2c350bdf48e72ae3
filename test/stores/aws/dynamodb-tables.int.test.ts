import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../../src/aws/index.js';
import { createRouterTables, type RouterTableNames } from '../../../src/stores/aws/dynamodb-tables.js';
import { randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

describe.skipIf(motoUnavailable)('createRouterTables against moto', () => {
  let moto: MotoServer;
  let client: DynamoDBClient;
  let names: RouterTableNames;
  /** Names of the commands the client sent, in order. */
  const sent: string[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    client = new DynamoDBClient(awsClientConfig(moto.settings));
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  beforeEach(() => {
    const id = randomId();
    names = {
      configs: `configs-${id}`,
      checkpoints: `checkpoints-${id}`,
      deadLetters: `dead-letters-${id}`,
      audit: `audit-${id}`,
      status: `status-${id}`,
      replay: `replay-${id}`,
    };
    sent.length = 0;
  });

  async function describeTable(tableName: string) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return Table!;
  }

  it('creates the six on-demand tables with their keys and the by_tenant index, and TTL on expires_at', async () => {
    // Prepare
    const expectedKeys = [
      [names.configs, ['tenant_id', 'HASH'], ['type', 'RANGE']],
      [names.checkpoints, ['object_key', 'HASH'], ['destination_id', 'RANGE']],
      [names.deadLetters, ['id', 'HASH']],
      [names.audit, ['tenant_id', 'HASH'], ['entry_key', 'RANGE']],
      [names.status, ['tenant_id', 'HASH'], ['type', 'RANGE']],
      [names.replay, ['signature', 'HASH']],
    ] as const;

    // Act
    await createRouterTables(client, names);

    // Assess
    for (const [tableName, ...keys] of expectedKeys) {
      const table = await describeTable(tableName);
      expect(table.TableStatus).toBe('ACTIVE');
      expect(table.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(table.KeySchema?.map((k) => [k.AttributeName, k.KeyType])).toEqual(keys);
    }
    const deadLetters = await describeTable(names.deadLetters);
    expect(deadLetters.GlobalSecondaryIndexes).toEqual([
      expect.objectContaining({
        IndexName: 'by_tenant',
        KeySchema: [
          { AttributeName: 'tenant_id', KeyType: 'HASH' },
          { AttributeName: 'created_at', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      }),
    ]);
    for (const tableName of [names.checkpoints, names.replay]) {
      const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
      expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expires_at' });
    }
  });

  it('succeeds again on existing tables without creating anything or touching TTL', async () => {
    // Prepare
    await createRouterTables(client, names);
    sent.length = 0;

    // Act
    await createRouterTables(client, names);

    // Assess
    expect(sent.filter((name) => name === 'CreateTableCommand')).toHaveLength(6);
    expect(sent).not.toContain('UpdateTimeToLiveCommand');
    expect((await describeTable(names.configs)).TableStatus).toBe('ACTIVE');
  });

  it('creates the quota table (tenant_id + day) with TTL on expires_at when it is named', async () => {
    // Prepare
    const withQuotas = { ...names, quotas: `quotas-${randomId()}` };

    // Act
    await createRouterTables(client, withQuotas);

    // Assess
    const table = await describeTable(withQuotas.quotas);
    expect(table.KeySchema?.map((k) => [k.AttributeName, k.KeyType])).toEqual([
      ['tenant_id', 'HASH'],
      ['day', 'RANGE'],
    ]);
    expect(table.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: withQuotas.quotas }));
    expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expires_at' });
  });

  it('turns TTL on for an existing checkpoints table that lacks it', async () => {
    // Prepare
    await client.send(
      new CreateTableCommand({
        TableName: names.checkpoints,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'object_key', AttributeType: 'S' },
          { AttributeName: 'destination_id', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'object_key', KeyType: 'HASH' },
          { AttributeName: 'destination_id', KeyType: 'RANGE' },
        ],
      }),
    );

    // Act
    await createRouterTables(client, names);

    // Assess
    const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: names.checkpoints }));
    expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expires_at' });
  });

  it('passes on a CreateTable failure other than an existing table (injected AccessDeniedException)', async () => {
    // Prepare
    const denied = Object.assign(new Error('Not authorized to perform dynamodb:CreateTable.'), {
      name: 'AccessDeniedException',
    });
    const denying = new DynamoDBClient(awsClientConfig(moto.settings));
    denying.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CreateTableCommand') throw denied;
        return next(args);
      },
      { step: 'initialize', name: 'denyCreateTable' },
    );

    // Act
    const error = await rejection(createRouterTables(denying, names));
    denying.destroy();

    // Assess
    expect(error).toBe(denied);
  });
});
