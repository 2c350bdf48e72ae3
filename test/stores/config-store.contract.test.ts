import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryConfig } from '../../src/domain/delivery-config.js';
import { createDynamoAuditLogStore } from '../../src/stores/aws/dynamodb-audit-log-store.js';
import { createDynamoConfigStore } from '../../src/stores/aws/dynamodb-config-store.js';
import { createSqliteAuditLogStore } from '../../src/stores/local/audit-log-store.js';
import { createSqliteConfigStore } from '../../src/stores/local/config-store.js';
import {
  AuditAction,
  type AuditLogStore,
  type ConfigChange,
  ConfigChangeOutcome,
  type ConfigRowExpectation,
  type DeliveryConfigStore,
  type NewAuditEntry,
} from '../../src/stores/ports.js';
import { deliveryConfigFactory } from '../helpers/factories.js';
import {
  dynamoStoreUnderTest,
  rejection,
  sqliteStoreUnderTest,
  type StoreUnderTest,
} from '../helpers/store-contract.js';

const AT_MS = 1_767_225_600_000;
/** The version the stored row carries in the cases that store one. */
const STORED_VERSION = '2026-01-01T08:00:00.000Z';
const OTHER_VERSION = '2026-01-01T07:59:59.999Z';

/** A config store and the audit log its changes go to, over one storage. */
interface ConfigStores {
  readonly configs: DeliveryConfigStore;
  readonly audit: AuditLogStore;
}

const adapters: StoreUnderTest<ConfigStores>[] = [
  sqliteStoreUnderTest('SQLite', (db) => ({ configs: createSqliteConfigStore(db), audit: createSqliteAuditLogStore(db) })),
  dynamoStoreUnderTest('DynamoDB', (client, tables) => ({
    configs: createDynamoConfigStore({ client, tableName: tables.configs, auditTableName: tables.audit }),
    audit: createDynamoAuditLogStore({ client, tableName: tables.audit }),
  })),
];

function config(overrides: Record<string, unknown> = {}): DeliveryConfig {
  return { enabled: true, desired_logs: [], groups: [], ...deliveryConfigFactory(overrides) };
}

/** What is stored under the key before the change. */
const Stored = {
  NONE: 'no row',
  VERSIONED: `a row with updated_at '${STORED_VERSION}'`,
  UNVERSIONED: 'a row without updated_at',
  NUMERIC: 'a hand-written row whose updated_at is a number',
} as const;
type Stored = (typeof Stored)[keyof typeof Stored];

function storedRow(stored: Stored, key: { tenant_id: string; type: string }): DeliveryConfig | undefined {
  switch (stored) {
    case Stored.NONE:
      return undefined;
    case Stored.VERSIONED:
      return config({ ...key, directory: '/stored', updated_at: STORED_VERSION });
    case Stored.UNVERSIONED:
      return config({ ...key, directory: '/stored' });
    case Stored.NUMERIC:
      return config({ ...key, directory: '/stored', updated_at: 1_767_225_600 });
  }
}

describe.each(adapters.map((a) => [a.name, a] as const))('DeliveryConfigStore contract on %s', (_name, adapter) => {
  describe.skipIf(adapter.unavailable !== undefined)(adapter.backend, () => {
    let configs: DeliveryConfigStore;
    let audit: AuditLogStore;

    beforeAll(() => adapter.beforeAll());
    afterAll(() => adapter.afterAll());
    beforeEach(async () => {
      await adapter.beforeEach();
      ({ configs, audit } = adapter.open({ now: () => AT_MS }));
    });
    afterEach(() => adapter.afterEach());

    async function auditOf(tenantId: string) {
      return (await audit.list(tenantId, { limit: 10 })).entries;
    }

    describe('applyChange', () => {
      describe.each<[string, Stored, ConfigRowExpectation, ConfigChangeOutcome]>([
        ['absent', Stored.NONE, { absent: true }, ConfigChangeOutcome.APPLIED],
        ['absent', Stored.VERSIONED, { absent: true }, ConfigChangeOutcome.CONFLICT],
        ['absent', Stored.UNVERSIONED, { absent: true }, ConfigChangeOutcome.CONFLICT],
        ['the stored version', Stored.VERSIONED, { updatedAt: STORED_VERSION }, ConfigChangeOutcome.APPLIED],
        ['another version', Stored.VERSIONED, { updatedAt: OTHER_VERSION }, ConfigChangeOutcome.CONFLICT],
        ['a version', Stored.NONE, { updatedAt: STORED_VERSION }, ConfigChangeOutcome.CONFLICT],
        ['a version', Stored.UNVERSIONED, { updatedAt: STORED_VERSION }, ConfigChangeOutcome.CONFLICT],
        ['no version', Stored.UNVERSIONED, { updatedAt: undefined }, ConfigChangeOutcome.APPLIED],
        ['no version', Stored.NUMERIC, { updatedAt: undefined }, ConfigChangeOutcome.APPLIED],
        ['no version', Stored.VERSIONED, { updatedAt: undefined }, ConfigChangeOutcome.CONFLICT],
        ['no version', Stored.NONE, { updatedAt: undefined }, ConfigChangeOutcome.CONFLICT],
      ])('expecting %s, over %s', (_expected, stored, expect_, outcome) => {
        let key: { tenant_id: string; type: string };
        let before: DeliveryConfig | undefined;

        beforeEach(async () => {
          const { tenant_id, type } = config();
          key = { tenant_id, type };
          before = storedRow(stored, key);
          if (before) await configs.put(before);
        });

        it(`${outcome === ConfigChangeOutcome.APPLIED ? 'writes' : 'refuses'} a put, with its audit entry only when written`, async () => {
          // Prepare
          const row = config({ ...key, directory: '/changed', updated_at: '2026-01-01T08:00:00.001Z' });
          const entry: NewAuditEntry = {
            tenantId: key.tenant_id,
            type: key.type,
            action: before ? AuditAction.REPLACE : AuditAction.CREATE,
            actor: 'psk:current',
            atMs: AT_MS,
            ...(before && { before }),
            after: row,
          };

          // Act
          const result = await configs.applyChange({ put: row }, expect_, entry);

          // Assess
          const applied = outcome === ConfigChangeOutcome.APPLIED;
          expect(result).toBe(outcome);
          expect(await configs.get(key.tenant_id, key.type)).toEqual(applied ? row : before);
          expect(await auditOf(key.tenant_id)).toEqual(applied ? [{ ...entry, id: expect.any(String) }] : []);
        });

        it(`${outcome === ConfigChangeOutcome.APPLIED ? 'applies' : 'refuses'} a delete, with its audit entry only when applied`, async () => {
          // Prepare
          const change: ConfigChange = { delete: { tenantId: key.tenant_id, type: key.type } };
          const entry: NewAuditEntry = {
            tenantId: key.tenant_id,
            type: key.type,
            action: AuditAction.DELETE,
            actor: 'psk:current',
            atMs: AT_MS,
            ...(before && { before }),
          };

          // Act
          const result = await configs.applyChange(change, expect_, entry);

          // Assess
          const applied = outcome === ConfigChangeOutcome.APPLIED;
          expect(result).toBe(outcome);
          expect(await configs.get(key.tenant_id, key.type)).toEqual(applied ? undefined : before);
          expect(await auditOf(key.tenant_id)).toEqual(applied ? [{ ...entry, id: expect.any(String) }] : []);
        });
      });

      it('applies changes one after another, each expecting the version the one before wrote', async () => {
        // Prepare
        const first = config({ updated_at: '2026-01-01T08:00:00.000Z' });
        const second = { ...first, directory: '/second', updated_at: '2026-01-01T08:00:00.001Z' };
        const entry = (action: NewAuditEntry['action'], atMs: number): NewAuditEntry => ({
          tenantId: first.tenant_id,
          type: first.type,
          action,
          actor: 'cli:ops',
          atMs,
        });

        // Act
        const outcomes = [
          await configs.applyChange({ put: first }, { absent: true }, entry(AuditAction.CREATE, AT_MS)),
          await configs.applyChange({ put: second }, { updatedAt: first.updated_at }, entry(AuditAction.UPDATE, AT_MS + 1)),
          // A writer that read the first version is late: the row moved on.
          await configs.applyChange({ put: first }, { updatedAt: first.updated_at }, entry(AuditAction.UPDATE, AT_MS + 2)),
        ];

        // Assess
        expect(outcomes).toEqual([ConfigChangeOutcome.APPLIED, ConfigChangeOutcome.APPLIED, ConfigChangeOutcome.CONFLICT]);
        expect(await configs.get(first.tenant_id, first.type)).toEqual(second);
        expect((await auditOf(first.tenant_id)).map((e) => e.action)).toEqual([AuditAction.UPDATE, AuditAction.CREATE]);
      });

      it.each<[string, (row: DeliveryConfig) => Partial<NewAuditEntry>]>([
        ['naming another tenant', (row) => ({ tenantId: `${row.tenant_id}-other` })],
        ['naming another type', () => ({ type: 's3:other' })],
        ['with a negative time', () => ({ atMs: -1 })],
      ])('refuses an audit entry %s with RangeError, writing nothing', async (_case, override) => {
        // Prepare
        const row = config();
        const entry: NewAuditEntry = {
          tenantId: row.tenant_id,
          type: row.type,
          action: AuditAction.CREATE,
          actor: 'psk:current',
          atMs: AT_MS,
          after: row,
          ...override(row),
        };

        // Act
        const error = await rejection(configs.applyChange({ put: row }, { absent: true }, entry));

        // Assess
        expect(error).toBeInstanceOf(RangeError);
        expect(await configs.get(row.tenant_id, row.type)).toBeUndefined();
        expect(await auditOf(row.tenant_id)).toEqual([]);
      });
    });
  });
});
