import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type BatchGetCommandInput,
  type BatchGetCommandOutput,
  DynamoDBDocumentClient,
  GetCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../../src/aws/index.js';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import {
  createDynamoCheckpointStore,
  DEFAULT_CHECKPOINT_TTL_SECONDS,
  type DynamoCheckpointStoreOptions,
  UnprocessedKeysError,
} from '../../../src/stores/aws/dynamodb-checkpoint-store.js';
import { createRouterTables } from '../../../src/stores/aws/dynamodb-tables.js';
import type { Checkpoint, CheckpointStore } from '../../../src/stores/ports.js';
import { randomId } from '../../helpers/factories.js';
import { requireAttributeNamePlaceholders } from '../../helpers/dynamodb.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

const START_MS = 1_767_225_600_000;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

/** What the injecting client does to the next requests; moto itself never throttles. */
interface Injection {
  /** BatchGet calls that get only half of their keys processed, the rest left unprocessed. */
  halfUnprocessedCalls: number;
  /** An error thrown instead of sending the done-only update (`#done = :false`). */
  doneOnlyUpdateError?: Error;
}

describe.skipIf(motoUnavailable)('createDynamoCheckpointStore against moto', () => {
  let moto: MotoServer;
  let client: DynamoDBClient;
  let documentClient: DynamoDBDocumentClient;
  let tableName: string;
  let clockMs: number;
  let store: CheckpointStore;
  let objectKey: string;
  /** Key counts of the BatchGet calls the client sent, in order. */
  const batchGetKeyCounts: number[] = [];
  let injection: Injection = { halfUnprocessedCalls: 0 };
  let injectingClient: DynamoDBDocumentClient;

  function storeWith(overrides: Partial<DynamoCheckpointStoreOptions> = {}): CheckpointStore {
    return createDynamoCheckpointStore({
      client: documentClient,
      tableName,
      now: () => clockMs,
      unprocessedKeysInitialDelayMs: 1,
      ...overrides,
    });
  }

  async function rawItem(key: string, destinationId: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await documentClient.send(
      new GetCommand({ TableName: tableName, Key: { object_key: key, destination_id: destinationId }, ConsistentRead: true }),
    );
    return Item;
  }

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    client = new DynamoDBClient(awsClientConfig(moto.settings));
    requireAttributeNamePlaceholders(client);
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as Partial<BatchGetCommandInput>;
        if (input.RequestItems) batchGetKeyCounts.push(Object.values(input.RequestItems)[0]!.Keys!.length);
        return next(args);
      },
      { step: 'initialize', name: 'recordBatchGets' },
    );
    documentClient = DynamoDBDocumentClient.from(client);

    const injecting = new DynamoDBClient(awsClientConfig(moto.settings));
    requireAttributeNamePlaceholders(injecting);
    // At the initialize step the document client's input and output are plain JS values.
    injecting.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as Partial<BatchGetCommandInput> & Partial<UpdateCommandInput>;
        if (input.ConditionExpression === '#done = :false' && injection.doneOnlyUpdateError) {
          throw injection.doneOnlyUpdateError;
        }
        if (!input.RequestItems || injection.halfUnprocessedCalls === 0) return next(args);
        injection.halfUnprocessedCalls -= 1;
        const [table, request] = Object.entries(input.RequestItems)[0]!;
        const keys = request.Keys!;
        const processed = keys.slice(0, Math.ceil(keys.length / 2));
        const result = await next({ ...args, input: { ...input, RequestItems: { [table]: { ...request, Keys: processed } } } });
        (result.output as BatchGetCommandOutput).UnprocessedKeys = {
          [table]: { ...request, Keys: keys.slice(processed.length) },
        };
        return result;
      },
      { step: 'initialize', name: 'injectFailures' },
    );
    injectingClient = DynamoDBDocumentClient.from(injecting);

    const id = randomId();
    tableName = `checkpoints-${id}`;
    await createRouterTables(client, {
      configs: `configs-${id}`,
      checkpoints: tableName,
      deadLetters: `dead-letters-${id}`,
      audit: `audit-${id}`,
      status: `status-${id}`,
      replay: `replay-${id}`,
    });
  });

  afterAll(async () => {
    injectingClient?.destroy();
    client?.destroy();
    await moto?.stop();
  });

  beforeEach(() => {
    clockMs = START_MS;
    store = storeWith();
    objectKey = `c1/tenant-${randomId()}/app/pod/20260101-000000-${randomId()}.json.gz`;
    batchGetKeyCounts.length = 0;
    injection = { halfUnprocessedCalls: 0 };
  });

  describe('getMany', () => {
    it('returns the checkpoints of the asked destinations and leaves out the ones never saved', async () => {
      // Prepare
      await store.save(objectKey, 't/cloudwatch', { offset: 41, done: false });
      await store.save(objectKey, 't/s3', { offset: 99, done: true });
      await store.save(objectKey, 't/kinesis', { offset: 7, done: false });

      // Act
      const checkpoints = await store.getMany(objectKey, ['t/cloudwatch', 't/s3', 't/never']);

      // Assess
      expect(checkpoints).toEqual(
        new Map([
          ['t/cloudwatch', { offset: 41, done: false }],
          ['t/s3', { offset: 99, done: true }],
        ]),
      );
    });

    it("keeps each object's checkpoints apart", async () => {
      // Prepare
      await store.save(objectKey, 't/s3', { offset: 5, done: false });

      // Act
      const checkpoints = await store.getMany(`${objectKey}.other`, ['t/s3']);

      // Assess
      expect(checkpoints.size).toBe(0);
    });

    it('returns an empty map when asked for no destinations, without calling DynamoDB', async () => {
      // Prepare
      await store.save(objectKey, 't/s3', { offset: 5, done: false });

      // Act
      const checkpoints = await store.getMany(objectKey, []);

      // Assess
      expect(checkpoints.size).toBe(0);
      expect(batchGetKeyCounts).toEqual([]);
    });

    it('reads a destination asked for twice once', async () => {
      // Prepare
      await store.save(objectKey, 't/s3', { offset: 5, done: false });

      // Act
      const checkpoints = await store.getMany(objectKey, ['t/s3', 't/s3']);

      // Assess
      expect(checkpoints).toEqual(new Map([['t/s3', { offset: 5, done: false }]]));
      expect(batchGetKeyCounts).toEqual([1]);
    });

    it('reads 250 destinations in BatchGet calls of at most 100 keys', async () => {
      // Prepare
      const ids = Array.from({ length: 250 }, (_, i) => `t/file:n${i}`);
      for (let i = 0; i < ids.length; i += 25) {
        await Promise.all(ids.slice(i, i + 25).map((id, j) => store.save(objectKey, id, { offset: i + j, done: false })));
      }

      // Act
      const checkpoints = await store.getMany(objectKey, [...ids, 't/never']);

      // Assess
      expect(checkpoints.size).toBe(250);
      expect(checkpoints.get('t/file:n249')).toEqual({ offset: 249, done: false });
      expect([...batchGetKeyCounts].sort((a, b) => b - a)).toEqual([100, 100, 51]);
    });

    it('asks again for keys DynamoDB left unprocessed (injected) and returns them all', async () => {
      // Prepare
      const ids = Array.from({ length: 10 }, (_, i) => `t/file:n${i}`);
      for (const id of ids) await store.save(objectKey, id, { offset: 1, done: false });
      injection.halfUnprocessedCalls = 2;
      const target = storeWith({ client: injectingClient });

      // Act
      const checkpoints = await target.getMany(objectKey, ids);

      // Assess
      expect([...checkpoints.keys()].sort()).toEqual([...ids].sort());
      expect(injection.halfUnprocessedCalls).toBe(0);
    });

    it('fails with UnprocessedKeysError when keys stay unprocessed (injected) after every attempt', async () => {
      // Prepare
      const ids = Array.from({ length: 16 }, (_, i) => `t/file:n${i}`);
      injection.halfUnprocessedCalls = Number.POSITIVE_INFINITY;
      const target = storeWith({ client: injectingClient, unprocessedKeysMaxAttempts: 3 });

      // Act
      const error = await rejection(target.getMany(objectKey, ids));

      // Assess
      expect(error).toBeInstanceOf(UnprocessedKeysError);
      expect(error).toMatchObject({ tableName, unprocessed: 2, attempts: 3, retryable: true });
    });
  });

  describe('save', () => {
    it.each<[string, Checkpoint, Checkpoint, Checkpoint]>([
      ['a higher offset moves it forward', { offset: 10, done: false }, { offset: 20, done: false }, { offset: 20, done: false }],
      ['a lower offset is ignored', { offset: 20, done: false }, { offset: 10, done: false }, { offset: 20, done: false }],
      ['the same offset is ignored', { offset: 20, done: false }, { offset: 20, done: false }, { offset: 20, done: false }],
      ['done at the same offset marks it done', { offset: 20, done: false }, { offset: 20, done: true }, { offset: 20, done: true }],
      [
        'done at a lower offset marks it done and keeps the offset',
        { offset: 20, done: false },
        { offset: 5, done: true },
        { offset: 20, done: true },
      ],
      ['done at a higher offset moves it forward and marks it done', { offset: 20, done: false }, { offset: 30, done: true }, { offset: 30, done: true }],
      ['not done never undoes done', { offset: 20, done: true }, { offset: 30, done: false }, { offset: 30, done: true }],
      ['a lower offset after done is ignored', { offset: 20, done: true }, { offset: -1, done: false }, { offset: 20, done: true }],
      ['done again after done is ignored', { offset: 20, done: true }, { offset: 5, done: true }, { offset: 20, done: true }],
    ])('%s', async (_case, first, second, expected) => {
      // Prepare
      await store.save(objectKey, 't/s3', first);

      // Act
      await store.save(objectKey, 't/s3', second);

      // Assess
      expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual(expected);
    });

    it('saves a first checkpoint with no record accepted yet', async () => {
      // Prepare
      const checkpoint = { offset: -1, done: false };

      // Act
      await store.save(objectKey, 't/s3', checkpoint);

      // Assess
      expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual(checkpoint);
    });

    it('saves a first checkpoint that is already done', async () => {
      // Prepare
      const checkpoint = { offset: 12, done: true };

      // Act
      await store.save(objectKey, 't/s3', checkpoint);

      // Assess
      expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual(checkpoint);
    });

    // One at a time, for the reason given below: moto does not apply conditions atomically.
    it('never moves backwards whatever order 50 saves arrive in', async () => {
      // Prepare
      const offsets = Array.from({ length: 50 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);

      // Act
      for (const offset of offsets) await store.save(objectKey, 't/s3', { offset, done: false });

      // Assess
      expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual({ offset: 50, done: false });
    });

    // Each save is one conditional UpdateItem, which DynamoDB applies atomically; moto runs
    // concurrent requests on threads without that guarantee, so the saves arrive here one at a
    // time, in a scrambled order: what is tested is that the conditions keep done and the
    // highest offset whatever the order.
    it('keeps done and the highest offset whatever order 50 saves, one of them done, arrive in', async () => {
      // Prepare
      const saves: Checkpoint[] = Array.from({ length: 50 }, (_, i) => ({ offset: i + 1, done: i + 1 === 10 }));
      const scrambled = saves.map((_, i) => saves[(i * 17) % saves.length]!);

      // Act
      for (const checkpoint of scrambled) await store.save(objectKey, 't/s3', checkpoint);

      // Assess
      expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual({ offset: 50, done: true });
    });

    it('sets expires_at ttlSeconds ahead of the save, in epoch seconds, and updated_at in ms', async () => {
      // Prepare
      const target = storeWith({ ttlSeconds: 3_600 });
      clockMs = START_MS + 999;

      // Act
      await target.save(objectKey, 't/s3', { offset: 3, done: false });

      // Assess
      expect(await rawItem(objectKey, 't/s3')).toMatchObject({
        offset: 3,
        done: false,
        updated_at: START_MS + 999,
        expires_at: Math.floor(START_MS / 1000) + 3_600,
      });
    });

    it('keeps checkpoints 30 days by default', async () => {
      // Prepare
      const checkpoint = { offset: 3, done: false };

      // Act
      await store.save(objectKey, 't/s3', checkpoint);

      // Assess
      expect(DEFAULT_CHECKPOINT_TTL_SECONDS).toBe(30 * 24 * 60 * 60);
      expect((await rawItem(objectKey, 't/s3'))?.['expires_at']).toBe(START_MS / 1000 + DEFAULT_CHECKPOINT_TTL_SECONDS);
    });

    it.each<[string, Checkpoint, number]>([
      ['a further offset pushes expires_at on', { offset: 9, done: false }, 60],
      ['done at the same offset pushes expires_at on', { offset: 3, done: true }, 60],
      ['an ignored save leaves expires_at as it was', { offset: 1, done: false }, 0],
    ])('%s', async (_case, second, movedSeconds) => {
      // Prepare
      const target = storeWith({ ttlSeconds: 3_600 });
      await target.save(objectKey, 't/s3', { offset: 3, done: false });
      clockMs += 60_000;

      // Act
      await target.save(objectKey, 't/s3', second);

      // Assess
      expect((await rawItem(objectKey, 't/s3'))?.['expires_at']).toBe(START_MS / 1000 + 3_600 + movedSeconds);
    });

    it.each([[-2], [1.5], [Number.NaN]])('refuses offset %s with RangeError', async (offset) => {
      // Prepare
      const checkpoint = { offset, done: false };

      // Act
      const saving = store.save(objectKey, 't/s3', checkpoint);

      // Assess
      await expect(saving).rejects.toBeInstanceOf(RangeError);
    });
  });

  describe('failures', () => {
    it.each<[string, Partial<DynamoCheckpointStoreOptions>, string]>([
      ['an empty table name', { tableName: '' }, 'tableName'],
      ['ttlSeconds 0', { ttlSeconds: 0 }, 'ttlSeconds'],
      ['fractional ttlSeconds', { ttlSeconds: 1.5 }, 'ttlSeconds'],
      ['unprocessedKeysMaxAttempts 0', { unprocessedKeysMaxAttempts: 0 }, 'unprocessedKeysMaxAttempts'],
      ['a negative unprocessedKeysInitialDelayMs', { unprocessedKeysInitialDelayMs: -1 }, 'unprocessedKeysInitialDelayMs'],
    ])('refuses %s with ConfigValidationError', (_case, overrides, field) => {
      // Prepare
      const options = { client: documentClient, tableName, ...overrides };

      // Act
      const act = () => createDynamoCheckpointStore(options);

      // Assess
      expect(act).toThrow(ConfigValidationError);
      expect(act).toThrow(expect.objectContaining({ fieldErrors: [expect.objectContaining({ field })] }));
    });

    it.each<[string, (target: CheckpointStore) => Promise<unknown>]>([
      ['getMany', (target) => target.getMany(objectKey, ['t/s3'])],
      ['save', (target) => target.save(objectKey, 't/s3', { offset: 1, done: false })],
    ])('%s passes on the SDK error when the table does not exist', async (_method, call) => {
      // Prepare
      const target = storeWith({ tableName: `missing-${randomId()}` });

      // Act
      const error = await rejection(call(target));

      // Assess
      expect(error).toMatchObject({ name: 'ResourceNotFoundException' });
    });

    it('passes on a throttling error of the write that only marks done (injected)', async () => {
      // Prepare
      // A stored offset further than the done save's: only the done-only write can mark it.
      await store.save(objectKey, 't/s3', { offset: 30, done: false });
      const throttled = Object.assign(new Error('Rate exceeded.'), { name: 'ProvisionedThroughputExceededException' });
      injection.doneOnlyUpdateError = throttled;
      const target = storeWith({ client: injectingClient });

      // Act
      const error = await rejection(target.save(objectKey, 't/s3', { offset: 20, done: true }));

      // Assess
      expect(error).toBe(throttled);
      expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual({ offset: 30, done: false });
    });

    it('marks an object done at its last accepted offset with a single write', async () => {
      // Prepare
      await store.save(objectKey, 't/s3', { offset: 20, done: false });
      const refused = new Error('the done-only write must not be needed');
      injection.doneOnlyUpdateError = refused;
      const target = storeWith({ client: injectingClient });

      // Act
      await target.save(objectKey, 't/s3', { offset: 20, done: true });

      // Assess
      expect((await store.getMany(objectKey, ['t/s3'])).get('t/s3')).toEqual({ offset: 20, done: true });
    });
  });
});
