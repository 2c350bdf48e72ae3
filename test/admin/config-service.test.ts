import { tmpdir } from 'node:os';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigChangedError,
  ConfigExistsError,
  ConfigNotFoundError,
  type ConfigService,
  type ConfigServiceDeps,
  createConfigService,
} from '../../src/admin/config-service.js';
import { toApiError } from '../../src/api/errors.js';
import { ErrorCode } from '../../src/domain/errors.js';
import { silentLogger } from '../../src/logging/logger.js';
import { createBuiltinSinkRegistry } from '../../src/sinks/registry.js';
import {
  createDynamoAuditLogStore,
  createDynamoConfigStore,
  createDynamoDeadLetterStore,
  createDynamoDestinationStatusStore,
} from '../../src/stores/aws/index.js';
import {
  createSqliteAuditLogStore,
  createSqliteConfigStore,
  createSqliteDeadLetterStore,
  createSqliteDestinationStatusStore,
} from '../../src/stores/local/index.js';
import type { AuditEntry, AuditLogStore, DeliveryConfigStore } from '../../src/stores/ports.js';
import { randomId } from '../helpers/factories.js';
import {
  dynamoStoreUnderTest,
  rejection,
  sqliteStoreUnderTest,
  type StoreUnderTest,
} from '../helpers/store-contract.js';

/**
 * The config service's answer to concurrent changes, on each store: a change whose read went
 * stale is refused (409 `conflict`) instead of overwriting the other change, a DELETE racing a
 * PUT never lets the PUT bring the row back, and the audit log tells the row's history exactly.
 */

/** A fixed clock: changes in one millisecond must still get distinct versions. */
const AT_MS = 1_767_225_600_000;
/** How often the unscripted races run, to meet more than one interleaving. */
const RACE_ROUNDS = 5;

const sinks = createBuiltinSinkRegistry();
const sinkDeps = { baseDir: tmpdir(), logger: silentLogger, registry: new Registry() };

/**
 * The audit log as the service gets it: listing only. Appending fails, so a change the
 * service audited outside the store's atomic `applyChange` fails the test.
 */
function listOnly(audit: AuditLogStore): AuditLogStore {
  return {
    append: async () => {
      throw new Error('The service must audit a change only through applyChange.');
    },
    list: (tenantId, options) => audit.list(tenantId, options),
  };
}

const backends: StoreUnderTest<ConfigServiceDeps>[] = [
  sqliteStoreUnderTest('SQLite', (db, { now }) => ({
    store: createSqliteConfigStore(db),
    audit: listOnly(createSqliteAuditLogStore(db)),
    status: createSqliteDestinationStatusStore(db, { now }),
    deadLetters: createSqliteDeadLetterStore(db, { now }),
    sinks,
    sinkDeps,
    now,
  })),
  dynamoStoreUnderTest('DynamoDB', (client, tables, { now }) => ({
    store: createDynamoConfigStore({ client, tableName: tables.configs, auditTableName: tables.audit }),
    audit: listOnly(createDynamoAuditLogStore({ client, tableName: tables.audit })),
    status: createDynamoDestinationStatusStore({ client, tableName: tables.status, now }),
    deadLetters: createDynamoDeadLetterStore({ client, tableName: tables.deadLetters }),
    sinks,
    sinkDeps,
    now,
  })),
];

/**
 * The store, with `intrude` run once right after the `nth` call of `method` has read, before
 * the caller sees the result: another request's change landing between a read and its write.
 */
function storeWithIntrusion(
  store: DeliveryConfigStore,
  method: 'get' | 'listTenant',
  intrude: () => Promise<unknown>,
  options: { times?: number } = {},
): DeliveryConfigStore {
  let left = options.times ?? 1;
  const after = async <T>(read: Promise<T>): Promise<T> => {
    const result = await read;
    if (left > 0) {
      left -= 1;
      await intrude();
    }
    return result;
  };
  return {
    ...store,
    get: (tenantId, type) => (method === 'get' ? after(store.get(tenantId, type)) : store.get(tenantId, type)),
    listTenant: (tenantId) => (method === 'listTenant' ? after(store.listTenant(tenantId)) : store.listTenant(tenantId)),
  };
}

describe.each(backends.map((b) => [b.name, b] as const))('createConfigService on %s', (_name, backend) => {
  describe.skipIf(backend.unavailable !== undefined)(backend.backend, () => {
    let deps: ConfigServiceDeps;
    let service: ConfigService;
    let tenant: string;

    beforeAll(() => backend.beforeAll());
    afterAll(() => backend.afterAll());
    beforeEach(async () => {
      await backend.beforeEach();
      deps = backend.open({ now: () => AT_MS });
      service = createConfigService(deps);
      tenant = `tenant-${randomId()}`;
    });
    afterEach(() => backend.afterEach());

    /**
     * Requests truly in flight together run on SQLite only. DynamoDB applies a transaction's
     * conditions atomically, but moto serves concurrent requests on threads without that
     * guarantee, so there the races are staged deterministically (the intrusion tests below).
     */
    const itConcurrent = backend.name === 'DynamoDB' ? it.skip : it;

    /** The service over a store where another request's change lands after a read. */
    function serviceWithIntrusion(
      method: 'get' | 'listTenant',
      intrude: () => Promise<unknown>,
      options?: { times?: number },
    ): ConfigService {
      return createConfigService({ ...deps, store: storeWithIntrusion(deps.store, method, intrude, options) });
    }

    /** The tenant's audit entries, oldest first. */
    async function history(): Promise<AuditEntry[]> {
      return (await service.audit(tenant, { limit: 100 })).items.reverse();
    }

    /**
     * The audit log tells the row's history without a gap: each entry's `before` is the row
     * the entry before it left, and the last one leaves the row as it is now.
     */
    async function expectHistoryLeadsTo(type: string): Promise<void> {
      const entries = (await history()).filter((e) => e.type === type);
      const final = await deps.store.get(tenant, type);
      entries.forEach((entry, i) => {
        expect(entry.before).toEqual(i === 0 ? undefined : entries[i - 1]!.after);
      });
      expect(entries.at(-1)?.after).toEqual(final);
    }

    /** A refusal for a concurrent change: 409 `conflict` with RTR_ERR_CONFIG_CHANGED. */
    function expectChangedConcurrently(error: unknown, type?: string): void {
      expect(error).toBeInstanceOf(ConfigChangedError);
      expect(error).toMatchObject({ code: ErrorCode.CONFIG_CHANGED, tenantId: tenant, type });
      expect(toApiError(error)).toMatchObject({ statusCode: 409, code: 'conflict' });
    }

    describe('PATCH racing PATCH', () => {
      itConcurrent('applies both one after the other, or refuses one with CONFIG_CHANGED; never loses an update', async () => {
        for (let round = 0; round < RACE_ROUNDS; round += 1) {
          // Prepare
          const type = `file:r${round}`;
          await service.create(tenant, { type, directory: 'out', desired_logs: ['api'] }, 'cli:ops');

          // Act
          const results = await Promise.allSettled([
            service.patch(tenant, type, { desired_logs: ['web'] }, 'psk:alice'),
            service.patch(tenant, type, { enabled: false }, 'psk:bob'),
          ]);

          // Assess
          const row = await service.get(tenant, type);
          const [alice, bob] = results.map((r) => r.status === 'fulfilled');
          for (const result of results) if (result.status === 'rejected') expectChangedConcurrently(result.reason, type);
          expect(alice || bob).toBe(true);
          expect(row['desired_logs']).toEqual(alice ? ['web'] : ['api']);
          expect(row['enabled']).toBe(!bob);
          await expectHistoryLeadsTo(type);
        }
      });

      it('refuses a PATCH whose read another PATCH made stale, keeping the other change and its audit', async () => {
        // Prepare
        await service.create(tenant, { type: 'file', directory: 'out', desired_logs: ['api'] }, 'cli:ops');
        const stale = serviceWithIntrusion('get', () => service.patch(tenant, 'file', { desired_logs: ['web'] }, 'psk:alice'));

        // Act
        const error = await rejection(stale.patch(tenant, 'file', { enabled: false }, 'psk:bob'));

        // Assess
        expectChangedConcurrently(error, 'file');
        expect(await service.get(tenant, 'file')).toMatchObject({ desired_logs: ['web'], enabled: true });
        expect((await history()).map((e) => [e.action, e.actor])).toEqual([
          ['create', 'cli:ops'],
          ['update', 'psk:alice'],
        ]);
        await expectHistoryLeadsTo('file');
      });

      it('applies sequential PATCHes in one millisecond, each audited with the row it replaced', async () => {
        // Prepare
        await service.create(tenant, { type: 'file', directory: 'out' }, 'cli:ops');

        // Act
        const first = await service.patch(tenant, 'file', { desired_logs: ['web'] }, 'psk:alice');
        const second = await service.patch(tenant, 'file', { enabled: false }, 'psk:bob');

        // Assess
        expect(second.updated_at! > first.updated_at!).toBe(true);
        expect(await service.get(tenant, 'file')).toMatchObject({ desired_logs: ['web'], enabled: false });
        await expectHistoryLeadsTo('file');
      });
    });

    describe('DELETE racing PUT', () => {
      itConcurrent('never lets the PUT bring the deleted config back unseen', async () => {
        for (let round = 0; round < RACE_ROUNDS; round += 1) {
          // Prepare
          const type = `file:r${round}`;
          await service.create(tenant, { type, directory: 'out' }, 'cli:ops');

          // Act
          const [removed, replaced] = await Promise.allSettled([
            service.remove(tenant, type, 'psk:alice'),
            service.replace(tenant, type, { directory: 'elsewhere' }, 'psk:bob'),
          ]);

          // Assess
          const row = await deps.store.get(tenant, type);
          if (replaced!.status === 'rejected') {
            expect([ConfigNotFoundError, ConfigChangedError].some((c) => replaced!.reason instanceof c)).toBe(true);
          }
          // The row survives only when the DELETE was the one refused.
          if (row === undefined) expect(removed!.status).toBe('fulfilled');
          else expectChangedConcurrently((removed as PromiseRejectedResult).reason, type);
          await expectHistoryLeadsTo(type);
        }
      });

      it('answers a PUT whose config was deleted after its read with 404, creating nothing', async () => {
        // Prepare
        await service.create(tenant, { type: 'file', directory: 'out' }, 'cli:ops');
        const stale = serviceWithIntrusion('get', () => service.remove(tenant, 'file', 'psk:alice'));

        // Act
        const error = await rejection(stale.replace(tenant, 'file', { directory: 'elsewhere' }, 'psk:bob'));

        // Assess
        expect(error).toBeInstanceOf(ConfigNotFoundError);
        expect(await deps.store.get(tenant, 'file')).toBeUndefined();
        expect((await history()).map((e) => e.action)).toEqual(['create', 'delete']);
      });

      it('refuses a DELETE whose config was replaced after its read with CONFIG_CHANGED, keeping the replacement', async () => {
        // Prepare
        await service.create(tenant, { type: 'file', directory: 'out' }, 'cli:ops');
        const stale = serviceWithIntrusion('get', () =>
          service.replace(tenant, 'file', { directory: 'elsewhere' }, 'psk:bob'),
        );

        // Act
        const error = await rejection(stale.remove(tenant, 'file', 'psk:alice'));

        // Assess
        expectChangedConcurrently(error, 'file');
        expect(await service.get(tenant, 'file')).toMatchObject({ directory: 'elsewhere' });
        await expectHistoryLeadsTo('file');
      });
    });

    describe('create and applyAll racing a create', () => {
      itConcurrent('answers the later create with ConfigExistsError, keeping the first', async () => {
        // Prepare
        const bodies = [{ type: 'file', directory: 'first' }, { type: 'file', directory: 'second' }];

        // Act
        const results = await Promise.allSettled(bodies.map((body) => service.create(tenant, body, 'psk:current')));

        // Assess
        const created = results.filter((r) => r.status === 'fulfilled');
        const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
        expect(created).toHaveLength(1);
        expect(refused).toEqual([expect.any(ConfigExistsError)]);
        expect(await service.get(tenant, 'file')).toEqual((created[0] as PromiseFulfilledResult<unknown>).value);
        await expectHistoryLeadsTo('file');
      });

      it('refuses to replace a config applyAll found absent when another request created it meanwhile', async () => {
        // Prepare
        const stale = serviceWithIntrusion('get', () => service.create(tenant, { type: 'file', directory: 'first' }, 'psk:alice'));

        // Act
        const error = await rejection(stale.applyAll([{ tenant_id: tenant, type: 'file', directory: 'applied' }], 'cli:ops'));

        // Assess
        expect(error).toBeInstanceOf(ConfigExistsError);
        expect(await service.get(tenant, 'file')).toMatchObject({ directory: 'first' });
        await expectHistoryLeadsTo('file');
      });
    });

    describe('offboarding racing a change', () => {
      it('lists the tenant again and removes a config changed while offboarding, as changed', async () => {
        // Prepare
        await service.create(tenant, { type: 'file', directory: 'out' }, 'cli:ops');
        await service.create(tenant, { type: 'file:b', directory: 'b' }, 'cli:ops');
        const racing = serviceWithIntrusion('listTenant', () => service.patch(tenant, 'file', { enabled: false }, 'psk:bob'));

        // Act
        const removed = await racing.offboard(tenant, 'psk:alice');

        // Assess
        expect(removed).toBe(2);
        expect(await deps.store.listTenant(tenant)).toEqual([]);
        expect((await history()).map((e) => [e.action, e.type])).toEqual([
          ['create', 'file'],
          ['create', 'file:b'],
          ['update', 'file'],
          // The first listing's 'file' was stale: skipped, then removed after the second listing.
          ['offboard', 'file:b'],
          ['offboard', 'file'],
        ]);
        await expectHistoryLeadsTo('file');
      });

      it('answers CONFIG_CHANGED when a config changes again after the second listing, keeping it', async () => {
        // Prepare
        await service.create(tenant, { type: 'file', directory: 'out' }, 'cli:ops');
        let flips = 0;
        const racing = serviceWithIntrusion(
          'listTenant',
          () => service.patch(tenant, 'file', { enabled: (flips += 1) % 2 === 0 }, 'psk:bob'),
          { times: 2 },
        );

        // Act
        const error = await rejection(racing.offboard(tenant, 'psk:alice'));

        // Assess
        expectChangedConcurrently(error);
        expect(await deps.store.get(tenant, 'file')).toBeDefined();
        await expectHistoryLeadsTo('file');
      });
    });
  });
});
