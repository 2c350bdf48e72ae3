import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../../src/aws/index.js';
import { type DeliveryConfig, readDeliveryConfig } from '../../../src/domain/delivery-config.js';
import { ConfigValidationError, ErrorCode } from '../../../src/domain/errors.js';
import { createDynamoConfigStore } from '../../../src/stores/aws/dynamodb-config-store.js';
import { createRouterTables, type RouterTableNames } from '../../../src/stores/aws/dynamodb-tables.js';
import { InvalidCursorError } from '../../../src/stores/config-cursor.js';
import { AuditAction, type DeliveryConfigStore, type NewAuditEntry } from '../../../src/stores/ports.js';
import { fileSinkDefinition } from '../../../src/sinks/file/index.js';
import { deliveryConfigFactory, randomId } from '../../helpers/factories.js';
import { requireAttributeNamePlaceholders } from '../../helpers/dynamodb.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

function config(overrides: Record<string, unknown> = {}): DeliveryConfig {
  return { enabled: true, desired_logs: [], groups: [], ...deliveryConfigFactory(overrides) };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

/** What a synchronous call throws; fails the test when it returns. */
function rejectionOf(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

/** The audit entry of creating `row`, as the config service would write it. */
function auditEntryOf(row: DeliveryConfig, overrides: Partial<NewAuditEntry> = {}): NewAuditEntry {
  return {
    tenantId: row.tenant_id,
    type: row.type,
    action: AuditAction.CREATE,
    actor: 'psk:current',
    atMs: Date.now(),
    after: row,
    ...overrides,
  };
}

function byKey(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const ka = `${String(a['tenant_id'])}\u0000${String(a['type'])}`;
  const kb = `${String(b['tenant_id'])}\u0000${String(b['type'])}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

describe.skipIf(motoUnavailable)('createDynamoConfigStore against moto', () => {
  let moto: MotoServer;
  let client: DynamoDBClient;
  let documentClient: DynamoDBDocumentClient;
  /** Tables shared by the tests that keep to their own random tenant. */
  let sharedTables: RouterTableNames;
  let sharedTable: string;
  let store: DeliveryConfigStore;
  /** Names of the commands the client sent, in order. */
  const sent: string[] = [];

  /** New, empty router tables, for tests that read a whole table. */
  async function newTables(): Promise<RouterTableNames> {
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
    return names;
  }

  /** The store over a set of router tables: configs, with the audit table of their changes. */
  function storeOn(tables: RouterTableNames): DeliveryConfigStore {
    return createDynamoConfigStore({ client: documentClient, tableName: tables.configs, auditTableName: tables.audit });
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
    sharedTables = await newTables();
    sharedTable = sharedTables.configs;
    store = storeOn(sharedTables);
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  describe('rows', () => {
    it('returns a row exactly as it was stored, unknown fields included', async () => {
      // Prepare
      const row = config({ type: 's3:archive', bucket: 'b', nested: { a: [1, 2] }, ttl: 1_900_000_000 });

      // Act
      await store.put(row);
      const read = await store.get(row.tenant_id, row.type);

      // Assess
      expect(read).toEqual(row);
    });

    it('returns undefined for a row that does not exist', async () => {
      // Prepare
      const row = config();

      // Act
      const read = await store.get(row.tenant_id, 'cloudwatch');

      // Assess
      expect(read).toBeUndefined();
    });

    it('creates a row only when it does not exist yet', async () => {
      // Prepare
      const original = config({ directory: '/first' });
      const second = { ...original, directory: '/second' };

      // Act
      const created = await store.create(original);
      const createdAgain = await store.create(second);

      // Assess
      expect([created, createdAgain]).toEqual([true, false]);
      expect(await store.get(original.tenant_id, original.type)).toEqual(original);
    });

    it('replaces a row on put', async () => {
      // Prepare
      const original = config({ directory: '/first' });
      await store.create(original);
      const replacement = { ...original, directory: '/second' };

      // Act
      await store.put(replacement);

      // Assess
      expect(await store.get(original.tenant_id, original.type)).toEqual(replacement);
    });

    it('leaves out fields set to undefined, as JSON does in the embedded store', async () => {
      // Prepare
      const row = config({ target_region: undefined });
      const withUndefined = { ...row, target_region: undefined };

      // Act
      await store.put(withUndefined);
      const read = await store.get(row.tenant_id, row.type);

      // Assess
      expect(read).toEqual(row);
      expect(read).not.toHaveProperty('target_region');
    });

    it('deletes a row and says whether there was one', async () => {
      // Prepare
      const row = config();
      await store.put(row);

      // Act
      const deleted = await store.delete(row.tenant_id, row.type);
      const deletedAgain = await store.delete(row.tenant_id, row.type);

      // Assess
      expect([deleted, deletedAgain]).toEqual([true, false]);
      expect(await store.get(row.tenant_id, row.type)).toBeUndefined();
    });

    it("lists a tenant's rows, settings row included, ordered by type and without other tenants'", async () => {
      // Prepare
      const tenant = config().tenant_id;
      const rows = ['tenant', 's3', 'cloudwatch', 's3:archive'].map((type) => config({ tenant_id: tenant, type }));
      for (const row of rows) await store.put(row);
      await store.put(config());

      // Act
      const listed = await store.listTenant(tenant);

      // Assess
      expect(listed.map((r) => r['type'])).toEqual(['cloudwatch', 's3', 's3:archive', 'tenant']);
    });

    it('lists every row of a tenant whose rows span several Query pages', async () => {
      // Prepare
      const tenant = config().tenant_id;
      // About 1.5 MB of rows: a Query page stops at 1 MB, so this takes two pages.
      const padding = 'x'.repeat(100_000);
      const types = Array.from({ length: 15 }, (_, i) => `file:n${String(i).padStart(2, '0')}`);
      for (const type of types) await store.put(config({ tenant_id: tenant, type, padding }));
      sent.length = 0;

      // Act
      const listed = await store.listTenant(tenant);

      // Assess
      expect(listed.map((r) => r['type'])).toEqual(types);
      expect(sent).toEqual(['QueryCommand', 'QueryCommand']);
    });

    it('returns an empty list for a tenant without rows', async () => {
      // Prepare
      const tenant = config().tenant_id;

      // Act
      const listed = await store.listTenant(tenant);

      // Assess
      expect(listed).toEqual([]);
    });
  });

  describe('rows written by hand', () => {
    it('reads String Sets back as sorted arrays and numbers as numbers', async () => {
      // Prepare
      const tenant = config().tenant_id;
      await client.send(
        new PutItemCommand({
          TableName: sharedTable,
          Item: {
            tenant_id: { S: tenant },
            type: { S: 'file' },
            directory: { S: '/var/log/hand' },
            desired_logs: { SS: ['web', 'api', 'worker'] },
            groups: { SS: ['payments', 'edge'] },
            ttl: { N: '1900000000' },
            limits: { M: { ports: { NS: ['443', '80'] } } },
          },
        }),
      );

      // Act
      const read = await store.get(tenant, 'file');

      // Assess
      expect(read).toEqual({
        tenant_id: tenant,
        type: 'file',
        directory: '/var/log/hand',
        desired_logs: ['api', 'web', 'worker'],
        groups: ['edge', 'payments'],
        ttl: 1_900_000_000,
        limits: { ports: [80, 443] },
      });
    });

    it('reads a row without `enabled` as written, and readDeliveryConfig then enables it by default', async () => {
      // Prepare
      const tenant = config().tenant_id;
      await client.send(
        new PutItemCommand({
          TableName: sharedTable,
          Item: {
            tenant_id: { S: tenant },
            type: { S: 'file' },
            directory: { S: '/var/log/hand' },
            desired_logs: { SS: ['web', 'api'] },
          },
        }),
      );
      const lookup = (kind: string) => (kind === 'file' ? fileSinkDefinition.spec : undefined);

      // Act
      const [row] = await store.listTenant(tenant);
      const result = readDeliveryConfig(row!, lookup);

      // Assess
      expect(row).not.toHaveProperty('enabled');
      expect(result).toMatchObject({ ok: true, config: { enabled: true, desired_logs: ['api', 'web'] } });
    });
  });

  describe('listAll', () => {
    async function storeRows(target: DeliveryConfigStore, count: number): Promise<DeliveryConfig[]> {
      const id = randomId();
      const rows = Array.from({ length: count }, (_, i) =>
        config({ tenant_id: `tenant-${id}-${i % 3}`, type: i < 3 ? 'file' : `file:n${i}` }),
      );
      for (const row of rows) await target.put(row);
      return rows.sort(byKey);
    }

    /** Every row, following cursors page by page. */
    async function listAllPages(target: DeliveryConfigStore, limit: number) {
      const rows: Record<string, unknown>[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await target.listAll({ limit, ...(cursor !== undefined && { cursor }) });
        rows.push(...page.rows);
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor !== undefined);
      return { pages, rows };
    }

    it.each([
      [1, 7, 7],
      [2, 7, 4],
      [3, 6, 2],
      [10, 7, 1],
      [5, 0, 1],
    ])('with limit %i, returns all %i rows once each, in %i pages', async (limit, count, pages) => {
      // Prepare
      const target = storeOn(await newTables());
      const rows = await storeRows(target, count);

      // Act
      const listed = await listAllPages(target, limit);

      // Assess
      // Scan order on DynamoDB is not (tenant_id, type) order, so compare as sorted lists.
      expect([...listed.rows].sort(byKey)).toEqual(rows);
      expect(listed.pages).toBe(pages);
    });

    it('fills a page across Scan calls when a Scan stops at 1 MB before the limit', async () => {
      // Prepare
      const target = storeOn(await newTables());
      const tenant = config().tenant_id;
      const padding = 'x'.repeat(100_000);
      for (let i = 0; i < 15; i += 1) await target.put(config({ tenant_id: tenant, type: `file:n${i}`, padding }));
      sent.length = 0;

      // Act
      const page = await target.listAll({ limit: 12 });

      // Assess
      expect(page.rows).toHaveLength(12);
      expect(page.nextCursor).toBeDefined();
      expect(sent).toEqual(['ScanCommand', 'ScanCommand']);
    });

    it('hands out no cursor on the last page', async () => {
      // Prepare
      const target = storeOn(await newTables());
      await storeRows(target, 2);

      // Act
      const page = await target.listAll({ limit: 2 });

      // Assess
      expect(page.rows).toHaveLength(2);
      expect(page.nextCursor).toBeUndefined();
    });

    it('hands out an opaque base64url cursor that resumes after the last row', async () => {
      // Prepare
      const target = storeOn(await newTables());
      const rows = await storeRows(target, 3);

      // Act
      const first = await target.listAll({ limit: 1 });
      const rest = await target.listAll({ limit: 5, cursor: first.nextCursor! });

      // Assess
      expect(first.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect([...first.rows, ...rest.rows].sort(byKey)).toEqual(rows);
      expect(rest.nextCursor).toBeUndefined();
    });

    it('resumes after the last row even when that row was deleted in between', async () => {
      // Prepare
      const target = storeOn(await newTables());
      const rows = await storeRows(target, 4);
      const first = await target.listAll({ limit: 2 });
      const lastOfFirst = first.rows[1]!;
      await target.delete(String(lastOfFirst['tenant_id']), String(lastOfFirst['type']));

      // Act
      const second = await target.listAll({ limit: 2, cursor: first.nextCursor! });

      // Assess
      const firstKeys = new Set(first.rows.map((r) => `${String(r['tenant_id'])}/${String(r['type'])}`));
      expect([...second.rows].sort(byKey)).toEqual(rows.filter((r) => !firstKeys.has(`${r.tenant_id}/${r.type}`)));
    });

    it.each([
      ['not base64url', 'not a cursor!'],
      ['not JSON', Buffer.from('{"t":').toString('base64url')],
      ['JSON without the key fields', Buffer.from('{"a":1}').toString('base64url')],
      ['JSON with a non-string field', Buffer.from('{"t":"a","y":1}').toString('base64url')],
      ['JSON with an empty key field', Buffer.from('{"t":"","y":"file"}').toString('base64url')],
      ['JSON null', Buffer.from('null').toString('base64url')],
      ['empty', ''],
    ])('refuses a cursor that is %s with InvalidCursorError', async (_case, cursor) => {
      // Prepare
      await storeRows(store, 2);

      // Act
      const error = await rejection(store.listAll({ limit: 1, cursor }));

      // Assess
      expect(error).toBeInstanceOf(InvalidCursorError);
      expect(error).toMatchObject({ code: ErrorCode.INVALID_CURSOR, cursor });
    });

    it.each([[0], [-1], [1.5]])('refuses limit %s with RangeError', async (limit) => {
      // Prepare
      await storeRows(store, 1);

      // Act
      const error = await rejection(store.listAll({ limit }));

      // Assess
      expect(error).toBeInstanceOf(RangeError);
    });
  });

  describe('applyChange atomicity', () => {
    const STORED_VERSION = '2026-01-01T08:00:00.000Z';

    /** The audit table's items of a tenant, read directly. */
    async function auditItemsOf(tenantId: string): Promise<Record<string, unknown>[]> {
      const { Items: items = [] } = await documentClient.send(
        new QueryCommand({
          TableName: sharedTables.audit,
          KeyConditionExpression: '#t = :t',
          ExpressionAttributeNames: { '#t': 'tenant_id' },
          ExpressionAttributeValues: { ':t': tenantId },
          ConsistentRead: true,
        }),
      );
      return items;
    }

    it('sends the change and its audit entry as one TransactWriteItems call', async () => {
      // Prepare
      const row = config({ updated_at: STORED_VERSION });
      sent.length = 0;

      // Act
      const outcome = await store.applyChange({ put: row }, { absent: true }, auditEntryOf(row));

      // Assess
      expect(outcome).toBe('applied');
      expect(sent).toEqual(['TransactWriteItemsCommand']);
      expect(await auditItemsOf(row.tenant_id)).toEqual([
        expect.objectContaining({ tenant_id: row.tenant_id, type: row.type, action: 'create', after: JSON.stringify(row) }),
      ]);
    });

    it.each([
      ['a replacement', (row: DeliveryConfig) => ({ put: { ...row, directory: '/changed' } })],
      ['a delete', (row: DeliveryConfig) => ({ delete: { tenantId: row.tenant_id, type: row.type } })],
    ])('throws and keeps the row when the audit table does not exist, for %s', async (_case, changeOf) => {
      // Prepare
      const row = config({ updated_at: STORED_VERSION });
      await store.put(row);
      const target = createDynamoConfigStore({
        client: documentClient,
        tableName: sharedTable,
        auditTableName: `missing-${randomId()}`,
      });

      // Act
      const error = await rejection(
        target.applyChange(changeOf(row), { updatedAt: STORED_VERSION }, auditEntryOf(row, { action: AuditAction.UPDATE })),
      );

      // Assess
      expect(error).toMatchObject({ name: 'ResourceNotFoundException' });
      expect(await store.get(row.tenant_id, row.type)).toEqual(row);
    });

    it('throws and writes nothing when the audit item would exceed 400 KB, though the config item fits', async () => {
      // Prepare
      // Each version of the row is ~250 KB, so the config item fits in 400 KB but the audit
      // item, holding the row before and after, does not.
      const row = config({ updated_at: STORED_VERSION, padding: 'x'.repeat(250_000) });
      await store.put(row);
      const replacement = { ...row, padding: 'y'.repeat(250_000) };

      // Act
      const error = await rejection(
        store.applyChange(
          { put: replacement },
          { updatedAt: STORED_VERSION },
          auditEntryOf(replacement, { action: AuditAction.REPLACE, before: row }),
        ),
      );

      // Assess
      expect(error).toMatchObject({ name: 'ValidationException' });
      expect(await store.get(row.tenant_id, row.type)).toEqual(row);
      expect(await auditItemsOf(row.tenant_id)).toEqual([]);
    });
  });

  describe('failures', () => {
    it.each([
      ['tableName', { tableName: '', auditTableName: 'audit' }],
      ['auditTableName', { tableName: 'configs', auditTableName: '' }],
    ])('refuses an empty %s with ConfigValidationError naming it', (field, names) => {
      // Prepare
      const options = { client: documentClient, ...names };

      // Act
      const error = rejectionOf(() => createDynamoConfigStore(options));

      // Assess
      expect(error).toBeInstanceOf(ConfigValidationError);
      expect(error).toMatchObject({ fieldErrors: [{ field, message: 'must not be empty' }] });
    });

    it('the test client refuses an expression naming `type` directly, as AWS does and moto does not', async () => {
      // Prepare
      const query = new QueryCommand({
        TableName: sharedTable,
        KeyConditionExpression: 'tenant_id = :t AND type = :y',
        ExpressionAttributeValues: { ':t': 'tenant-a', ':y': 'file' },
      });

      // Act
      const error = await rejection(documentClient.send(query));

      // Assess
      expect(error).toMatchObject({ message: expect.stringContaining('tenant_id, type') });
    });

    it.each<[string, (target: DeliveryConfigStore) => Promise<unknown>]>([
      ['listTenant', (target) => target.listTenant('tenant-a')],
      ['get', (target) => target.get('tenant-a', 'file')],
      ['create', (target) => target.create(config())],
      ['put', (target) => target.put(config())],
      ['delete', (target) => target.delete('tenant-a', 'file')],
      ['listAll', (target) => target.listAll({ limit: 1 })],
      ['applyChange', (target) => {
        const row = config();
        return target.applyChange({ put: row }, { absent: true }, auditEntryOf(row));
      }],
    ])('%s passes on the SDK error when the table does not exist', async (_method, call) => {
      // Prepare
      const target = createDynamoConfigStore({
        client: documentClient,
        tableName: `missing-${randomId()}`,
        auditTableName: sharedTables.audit,
      });

      // Act
      const error = await rejection(call(target));

      // Assess
      expect(error).toMatchObject({ name: 'ResourceNotFoundException' });
    });
  });
});
