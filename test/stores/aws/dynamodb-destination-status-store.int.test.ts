import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type BatchWriteCommandInput,
  type BatchWriteCommandOutput,
  DynamoDBDocumentClient,
  GetCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../../src/aws/index.js';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import { UnprocessedKeysError } from '../../../src/stores/aws/dynamodb-checkpoint-store.js';
import {
  createDynamoDestinationStatusStore,
  type DynamoDestinationStatusStoreOptions,
} from '../../../src/stores/aws/dynamodb-destination-status-store.js';
import { createRouterTables } from '../../../src/stores/aws/dynamodb-tables.js';
import type { DestinationStatusStore } from '../../../src/stores/ports.js';
import { requireAttributeNamePlaceholders } from '../../helpers/dynamodb.js';
import { randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { rejection } from '../../helpers/store-contract.js';

const START_MS = 1_767_225_600_000;

/** What the injecting client does to the next requests; moto itself never throttles. */
interface Injection {
  /** BatchWrite calls that get only half of their requests processed, the rest left unprocessed. */
  halfUnprocessedCalls: number;
  /** An error thrown instead of sending a conditional UpdateItem. */
  conditionalUpdateError?: Error;
}

describe.skipIf(motoUnavailable)('createDynamoDestinationStatusStore against moto', () => {
  let moto: MotoServer;
  let client: DynamoDBClient;
  let documentClient: DynamoDBDocumentClient;
  let injectingClient: DynamoDBDocumentClient;
  let tableName: string;
  let tenantId: string;
  let store: DestinationStatusStore;
  let injection: Injection = { halfUnprocessedCalls: 0 };
  /** Names of the commands the client sent, in order. */
  const sent: string[] = [];

  function storeWith(overrides: Partial<DynamoDestinationStatusStoreOptions> = {}): DestinationStatusStore {
    return createDynamoDestinationStatusStore({
      client: documentClient,
      tableName,
      now: () => START_MS,
      unprocessedItemsInitialDelayMs: 1,
      ...overrides,
    });
  }

  async function rawItem(type: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await documentClient.send(
      new GetCommand({ TableName: tableName, Key: { tenant_id: tenantId, type }, ConsistentRead: true }),
    );
    return Item;
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

    const injecting = new DynamoDBClient(awsClientConfig(moto.settings));
    requireAttributeNamePlaceholders(injecting);
    // At the initialize step the document client's input and output are plain JS values.
    injecting.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as Partial<BatchWriteCommandInput> & Partial<UpdateCommandInput>;
        if (input.ConditionExpression !== undefined && injection.conditionalUpdateError) {
          throw injection.conditionalUpdateError;
        }
        if (!input.RequestItems || injection.halfUnprocessedCalls === 0) return next(args);
        injection.halfUnprocessedCalls -= 1;
        const [table, requests] = Object.entries(input.RequestItems)[0]!;
        const processed = requests.slice(0, Math.ceil(requests.length / 2));
        const result = await next({ ...args, input: { ...input, RequestItems: { [table]: processed } } });
        (result.output as BatchWriteCommandOutput).UnprocessedItems = { [table]: requests.slice(processed.length) };
        return result;
      },
      { step: 'initialize', name: 'injectFailures' },
    );
    injectingClient = DynamoDBDocumentClient.from(injecting);

    const id = randomId();
    tableName = `status-${id}`;
    await createRouterTables(client, {
      configs: `configs-${id}`,
      checkpoints: `checkpoints-${id}`,
      deadLetters: `dead-letters-${id}`,
      audit: `audit-${id}`,
      status: tableName,
      replay: `replay-${id}`,
    });
  });

  afterAll(async () => {
    injectingClient?.destroy();
    client?.destroy();
    await moto?.stop();
  });

  beforeEach(() => {
    tenantId = `tenant-${randomId()}`;
    store = storeWith();
    injection = { halfUnprocessedCalls: 0 };
    sent.length = 0;
  });

  describe('apply', () => {
    it('writes the record in snake_case, keeping the raw retry sum below 0', async () => {
      // Prepare
      const lastError = { code: 'throttled', message: 'Rate exceeded.', atMs: START_MS - 5 };

      // Act
      await store.apply([
        { tenantId, type: 's3', lastSuccessAtMs: START_MS - 10, lagMs: 250, lastError, pendingRetriesDelta: -2 },
      ]);

      // Assess
      expect(await rawItem('s3')).toEqual({
        tenant_id: tenantId,
        type: 's3',
        last_success_at: START_MS - 10,
        lag_ms: 250,
        last_error_code: 'throttled',
        last_error_message: 'Rate exceeded.',
        last_error_at: START_MS - 5,
        pending_retries: -2,
        updated_at: START_MS,
      });
    });

    it('writes a newer success with its delta in a single UpdateItem', async () => {
      // Prepare
      await store.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS - 10 }]);
      sent.length = 0;

      // Act
      await store.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS, lagMs: 3, pendingRetriesDelta: -1 }]);

      // Assess
      expect(sent).toEqual(['UpdateItemCommand']);
      expect(await rawItem('s3')).toMatchObject({ last_success_at: START_MS, lag_ms: 3, pending_retries: -1 });
    });

    it('still counts the delta and stamps the time when the success is stale, in a write of their own', async () => {
      // Prepare
      await store.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS, lagMs: 1 }]);
      sent.length = 0;
      const later = storeWith({ now: () => START_MS + 1_000 });

      // Act
      await later.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS - 1, lagMs: 9, pendingRetriesDelta: 3 }]);

      // Assess
      expect(sent).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
      expect(await rawItem('s3')).toMatchObject({
        last_success_at: START_MS,
        lag_ms: 1,
        pending_retries: 3,
        updated_at: START_MS + 1_000,
      });
    });

    it('folds several updates of one destination into the writes of one', async () => {
      // Prepare
      const updates = Array.from({ length: 10 }, (_, i) => ({
        tenantId,
        type: 's3',
        lastSuccessAtMs: START_MS + i,
        lagMs: i,
        pendingRetriesDelta: 1,
      }));

      // Act
      await store.apply(updates);

      // Assess
      expect(sent).toEqual(['UpdateItemCommand']);
      expect(await rawItem('s3')).toMatchObject({ last_success_at: START_MS + 9, lag_ms: 9, pending_retries: 10 });
    });

    it('passes on an error other than a failed condition (injected throttling)', async () => {
      // Prepare
      const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
        name: 'ProvisionedThroughputExceededException',
      });
      injection.conditionalUpdateError = throttled;
      const target = storeWith({ client: injectingClient });

      // Act
      const error = await rejection(target.apply([{ tenantId, type: 's3', lastSuccessAtMs: START_MS }]));

      // Assess
      expect(error).toBe(throttled);
      expect(await rawItem('s3')).toBeUndefined();
    });
  });

  describe('deleteTenant', () => {
    it('sends again the deletes DynamoDB left unprocessed (injected) and deletes them all', async () => {
      // Prepare
      const types = Array.from({ length: 30 }, (_, i) => `type-${i}`);
      await store.apply(types.map((type) => ({ tenantId, type, pendingRetriesDelta: 1 })));
      injection.halfUnprocessedCalls = 3;
      const target = storeWith({ client: injectingClient });

      // Act
      await target.deleteTenant(tenantId);

      // Assess
      expect(await store.listTenant(tenantId)).toEqual([]);
      expect(injection.halfUnprocessedCalls).toBe(0);
    });

    it('fails with UnprocessedKeysError when deletes stay unprocessed (injected) after every attempt', async () => {
      // Prepare
      const types = Array.from({ length: 8 }, (_, i) => `type-${i}`);
      await store.apply(types.map((type) => ({ tenantId, type, pendingRetriesDelta: 1 })));
      injection.halfUnprocessedCalls = Number.POSITIVE_INFINITY;
      const target = storeWith({ client: injectingClient, unprocessedItemsMaxAttempts: 3 });

      // Act
      const error = await rejection(target.deleteTenant(tenantId));

      // Assess: 8 → 4 → 2 → 1 left after three calls.
      expect(error).toBeInstanceOf(UnprocessedKeysError);
      expect(error).toMatchObject({ tableName, unprocessed: 1, attempts: 3, retryable: true });
      expect(await store.listTenant(tenantId)).toHaveLength(1);
    });
  });

  describe('failures', () => {
    it.each<[string, Partial<DynamoDestinationStatusStoreOptions>, string[]]>([
      ['an empty table name', { tableName: '' }, ['tableName']],
      ['retry options that are not whole numbers', { unprocessedItemsMaxAttempts: 0, unprocessedItemsInitialDelayMs: -1 }, [
        'unprocessedItemsMaxAttempts',
        'unprocessedItemsInitialDelayMs',
      ]],
    ])('refuses %s with ConfigValidationError', (_case, overrides, fields) => {
      // Prepare
      const create = () => storeWith(overrides);

      // Act
      let error: unknown;
      try {
        create();
      } catch (thrown) {
        error = thrown;
      }

      // Assess
      expect(error).toBeInstanceOf(ConfigValidationError);
      expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toEqual(fields);
    });

    it.each<[string, (target: DestinationStatusStore) => Promise<unknown>]>([
      ['apply', (target) => target.apply([{ tenantId: 'tenant-a', type: 's3', pendingRetriesDelta: 1 }])],
      ['listTenant', (target) => target.listTenant('tenant-a')],
      ['deleteTenant', (target) => target.deleteTenant('tenant-a')],
    ])('%s passes on the SDK error when the table does not exist', async (_method, call) => {
      // Prepare
      const target = storeWith({ tableName: `missing-${randomId()}` });

      // Act
      const error = await rejection(call(target));

      // Assess
      expect(error).toMatchObject({ name: 'ResourceNotFoundException' });
    });
  });
});
