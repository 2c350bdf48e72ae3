import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../../src/aws/index.js';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import { createDynamoDeadLetterStore } from '../../../src/stores/aws/dynamodb-dead-letter-store.js';
import { createRouterTables } from '../../../src/stores/aws/dynamodb-tables.js';
import type { DeadLetterStore, NewDeadLetter } from '../../../src/stores/ports.js';
import { randomId } from '../../helpers/factories.js';
import { requireAttributeNamePlaceholders } from '../../helpers/dynamodb.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

const START_MS = 1_767_225_600_000;
const UUID_REGEX = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

function newDeadLetter(overrides: Partial<NewDeadLetter> = {}): NewDeadLetter {
  const tenantId = overrides.tenantId ?? `tenant-${randomId()}`;
  return {
    tenantId,
    destination: 'cloudwatch',
    objectKey: `c1/${tenantId}/app/pod/20260101-000000-${randomId()}.json.gz`,
    reason: 'retries_exhausted',
    message: 'Gave up after 5 attempts: throttled.',
    attempts: 5,
    offset: 41,
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

describe.skipIf(motoUnavailable)('createDynamoDeadLetterStore against moto', () => {
  let moto: MotoServer;
  let client: DynamoDBClient;
  let documentClient: DynamoDBDocumentClient;
  let clockMs: number;
  let tableName: string;
  let store: DeadLetterStore;
  /** Names of the commands the client sent, in order. */
  const sent: string[] = [];

  /** A new, empty dead-letter table (with its sibling tables): `list()` reads the whole table. */
  async function newTable(): Promise<string> {
    const id = randomId();
    const names = {
      configs: `configs-${id}`,
      checkpoints: `checkpoints-${id}`,
      deadLetters: `dead-letters-${id}`,
      audit: `audit-${id}`,
      status: `status-${id}`,
      replay: `replay-${id}`,
    };
    await createRouterTables(client, names);
    return names.deadLetters;
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
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  beforeEach(async () => {
    clockMs = START_MS;
    tableName = await newTable();
    store = createDynamoDeadLetterStore({ client: documentClient, tableName, now: () => clockMs });
  });

  describe('add and get', () => {
    it('stores an entry with a random UUID and the creation time, and reads it back', async () => {
      // Prepare
      const entry = newDeadLetter();

      // Act
      const added = await store.add(entry);
      const read = await store.get(added.id);

      // Assess
      expect(added).toEqual({ ...entry, id: expect.stringMatching(UUID_REGEX), createdAtMs: START_MS });
      expect(read).toEqual(added);
      expect(read).not.toHaveProperty('redrivenAtMs');
    });

    it('writes the DeadLetter fields in snake_case', async () => {
      // Prepare
      const entry = newDeadLetter({ offset: -1 });

      // Act
      const added = await store.add(entry);

      // Assess
      const { Item } = await documentClient.send(new GetCommand({ TableName: tableName, Key: { id: added.id } }));
      expect(Item).toMatchObject({
        id: added.id,
        tenant_id: entry.tenantId,
        destination: entry.destination,
        object_key: entry.objectKey,
        reason: entry.reason,
        message: entry.message,
        attempts: entry.attempts,
        offset: -1,
        created_at: START_MS,
      });
      expect(Item).not.toHaveProperty('redriven_at');
    });

    it('gives each entry its own id', async () => {
      // Prepare
      const entry = newDeadLetter();

      // Act
      const [a, b] = [await store.add(entry), await store.add(entry)];

      // Assess
      expect(a.id).not.toBe(b.id);
    });

    it('returns undefined for an unknown id', async () => {
      // Prepare
      await store.add(newDeadLetter());

      // Act
      const read = await store.get(UNKNOWN_ID);

      // Assess
      expect(read).toBeUndefined();
    });

    it('reads entries written by another store on the same table', async () => {
      // Prepare
      const added = await store.add(newDeadLetter());

      // Act
      const read = await createDynamoDeadLetterStore({ client: documentClient, tableName }).get(added.id);

      // Assess
      expect(read).toEqual(added);
    });
  });

  describe('markRedriven', () => {
    it('stamps the entry with the redrive time', async () => {
      // Prepare
      const added = await store.add(newDeadLetter());

      // Act
      await store.markRedriven(added.id, START_MS + 5_000);

      // Assess
      expect(await store.get(added.id)).toEqual({ ...added, redrivenAtMs: START_MS + 5_000 });
    });

    it('changes nothing for an unknown id, and creates no item', async () => {
      // Prepare
      const added = await store.add(newDeadLetter());

      // Act
      await store.markRedriven(UNKNOWN_ID, START_MS);

      // Assess
      expect(await store.list({ includeRedriven: true })).toEqual([added]);
      expect(await store.get(UNKNOWN_ID)).toBeUndefined();
    });
  });

  describe('list', () => {
    /** Four entries a second apart: two tenants, the second one redriven. */
    async function addEntries() {
      const tenantA = `tenant-${randomId()}`;
      const entries = [];
      for (const tenantId of [tenantA, tenantA, `tenant-${randomId()}`, tenantA]) {
        entries.push(await store.add(newDeadLetter({ tenantId })));
        clockMs += 1_000;
      }
      await store.markRedriven(entries[1]!.id, clockMs);
      const [first, redriven, otherTenant, last] = entries;
      return {
        tenantA,
        entries: {
          first: first!,
          redriven: { ...redriven!, redrivenAtMs: clockMs },
          otherTenant: otherTenant!,
          last: last!,
        },
      };
    }

    it.each([
      ['no filter: every entry not redriven', {}, ['last', 'otherTenant', 'first']],
      ['includeRedriven', { includeRedriven: true }, ['last', 'otherTenant', 'redriven', 'first']],
      ['tenantId', { tenantId: 'A' }, ['last', 'first']],
      ['tenantId and includeRedriven', { tenantId: 'A', includeRedriven: true }, ['last', 'redriven', 'first']],
      ['tenantId and limit', { tenantId: 'A', limit: 1 }, ['last']],
      ['limit', { limit: 2 }, ['last', 'otherTenant']],
      ['limit 0', { limit: 0 }, []],
      ['a negative limit, as no limit', { limit: -1 }, ['last', 'otherTenant', 'first']],
      ['a tenant with none', { tenantId: 'tenant-z' }, []],
    ] as const)('lists newest first, filtered by %s', async (_case, filter, expected) => {
      // Prepare
      const { tenantA, entries } = await addEntries();
      const withTenant = 'tenantId' in filter && filter.tenantId === 'A' ? { ...filter, tenantId: tenantA } : filter;

      // Act
      const listed = await store.list(withTenant);

      // Assess
      expect(listed).toEqual(expected.map((name) => entries[name]));
    });

    it.each([
      ['the whole table', () => ({})],
      ['a tenant', (tenantId: string) => ({ tenantId })],
    ])('lists entries of the same millisecond newest first, reading %s', async (_case, filter) => {
      // Prepare
      const tenantId = `tenant-${randomId()}`;
      const added = [];
      for (let i = 0; i < 5; i += 1) added.push(await store.add(newDeadLetter({ tenantId })));

      // Act
      const listed = await store.list(filter(tenantId));

      // Assess
      expect(listed.map((e) => e.id)).toEqual(added.map((e) => e.id).reverse());
    });

    it("keeps a tenant's whole millisecond when a limit cuts through it", async () => {
      // Prepare
      const tenantId = `tenant-${randomId()}`;
      const older = await store.add(newDeadLetter({ tenantId }));
      clockMs += 1;
      const sameMs = [];
      for (let i = 0; i < 4; i += 1) sameMs.push(await store.add(newDeadLetter({ tenantId })));

      // Act
      const listed = await store.list({ tenantId, limit: 2 });
      const all = await store.list({ tenantId, limit: 10 });

      // Assess
      expect(listed.map((e) => e.id)).toEqual([sameMs[3]!.id, sameMs[2]!.id]);
      expect(all.map((e) => e.id)).toEqual([...sameMs.map((e) => e.id).reverse(), older.id]);
    });

    it("stops reading a tenant's index once the limit is reached, and reads on when it is not", async () => {
      // Prepare
      const tenantId = `tenant-${randomId()}`;
      // About 1.5 MB of entries: an index Query page stops at 1 MB, so all of them take two pages.
      const message = 'x'.repeat(100_000);
      for (let i = 0; i < 15; i += 1) {
        await store.add(newDeadLetter({ tenantId, message }));
        clockMs += 1;
      }
      sent.length = 0;

      // Act
      const limited = await store.list({ tenantId, limit: 2 });
      const queriesForLimited = sent.length;
      const all = await store.list({ tenantId });

      // Assess
      expect(limited.map((e) => e.createdAtMs)).toEqual([START_MS + 14, START_MS + 13]);
      expect(queriesForLimited).toBe(1);
      expect(all).toHaveLength(15);
      expect(sent.slice(queriesForLimited)).toEqual(['QueryCommand', 'QueryCommand']);
    });
  });

  describe('failures', () => {
    it('refuses an empty table name with ConfigValidationError', () => {
      // Prepare
      const options = { client: documentClient, tableName: '' };

      // Act
      const act = () => createDynamoDeadLetterStore(options);

      // Assess
      expect(act).toThrow(ConfigValidationError);
    });

    it.each<[string, (target: DeadLetterStore) => Promise<unknown>]>([
      ['add', (target) => target.add(newDeadLetter())],
      ['list', (target) => target.list()],
      ['list by tenant', (target) => target.list({ tenantId: 'tenant-a' })],
      ['get', (target) => target.get(UNKNOWN_ID)],
      ['markRedriven', (target) => target.markRedriven(UNKNOWN_ID, START_MS)],
    ])('%s passes on the SDK error when the table does not exist', async (_method, call) => {
      // Prepare
      const target = createDynamoDeadLetterStore({ client: documentClient, tableName: `missing-${randomId()}` });

      // Act
      const error = await rejection(call(target));

      // Assess
      expect(error).toMatchObject({ name: 'ResourceNotFoundException' });
    });
  });
});
