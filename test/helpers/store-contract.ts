import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsClientConfig } from '../../src/aws/index.js';
import { createRouterTables, type RouterTableNames } from '../../src/stores/aws/dynamodb-tables.js';
import { openDatabase, type SqliteDatabase } from '../../src/stores/local/database.js';
import { requireAttributeNamePlaceholders } from './dynamodb.js';
import { randomId } from './factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from './moto.js';
import { makeTempDir, removeTempDirs } from './temp-dir.js';

/** What a store under test is built with: the clock, so tests control the stamped times. */
export interface StoreTestOptions {
  readonly now: () => number;
}

/**
 * One adapter of a port, for a contract suite run with `describe.each`: the suite calls the
 * hooks and `open`, and never needs to know which adapter it is testing.
 */
export interface StoreUnderTest<T> {
  readonly name: string;
  /** What the store runs on, for the test names. */
  readonly backend: string;
  /** Why the adapter cannot be tested here (moto missing), or undefined. */
  readonly unavailable: string | undefined;
  beforeAll(): Promise<void>;
  afterAll(): Promise<void>;
  beforeEach(): Promise<void>;
  afterEach(): Promise<void>;
  /** A store over this test's storage; every call in one test shares the same storage. */
  open(options: StoreTestOptions): T;
}

/** The adapter on SQLite: a fresh database file in a temp dir per test. */
export function sqliteStoreUnderTest<T>(
  name: string,
  create: (db: SqliteDatabase, options: StoreTestOptions) => T,
): StoreUnderTest<T> {
  let db: SqliteDatabase | undefined;
  return {
    name,
    backend: 'a SQLite file in a temp dir',
    unavailable: undefined,
    async beforeAll() {},
    async afterAll() {},
    async beforeEach() {
      db = openDatabase(join(await makeTempDir('tlr-contract-'), 'tlr.db'));
    },
    async afterEach() {
      if (db?.open) db.close();
      await removeTempDirs();
    },
    open(options) {
      if (!db) throw new Error('beforeEach has not run.');
      return create(db, options);
    },
  };
}

/**
 * The adapter on DynamoDB: one moto server and one set of router tables (random names) per
 * file, shared by the tests, which keep apart by random tenant ids. The client refuses
 * expressions that name attributes without placeholders, as AWS does for reserved words.
 */
export function dynamoStoreUnderTest<T>(
  name: string,
  create: (client: DynamoDBDocumentClient, tables: RouterTableNames, options: StoreTestOptions) => T,
): StoreUnderTest<T> {
  let moto: MotoServer | undefined;
  let client: DynamoDBClient | undefined;
  let documentClient: DynamoDBDocumentClient | undefined;
  let tables: RouterTableNames | undefined;
  return {
    name,
    backend: 'tables on a moto server',
    unavailable: motoUnavailable,
    async beforeAll() {
      useFakeAwsCredentials();
      moto = await startMoto();
      client = new DynamoDBClient(awsClientConfig(moto.settings));
      requireAttributeNamePlaceholders(client);
      documentClient = DynamoDBDocumentClient.from(client);
      const id = randomId();
      tables = {
        configs: `configs-${id}`,
        checkpoints: `checkpoints-${id}`,
        deadLetters: `dead-letters-${id}`,
        audit: `audit-${id}`,
        status: `status-${id}`,
        replay: `replay-${id}`,
        quotas: `quotas-${id}`,
      };
      await createRouterTables(client, tables);
    },
    async afterAll() {
      client?.destroy();
      await moto?.stop();
    },
    async beforeEach() {},
    async afterEach() {},
    open(options) {
      if (!documentClient || !tables) throw new Error('beforeAll has not run.');
      return create(documentClient, tables, options);
    },
  };
}

/** The settled rejection of a promise, failing when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}
