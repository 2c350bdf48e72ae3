import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteTokenStore, hashIngestToken } from '../../../src/stores/local/token-store.js';
import type { IngestTokenStore, NewIngestToken } from '../../../src/stores/ports.js';
import { randomId } from '../../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const TOKEN_FORMAT = /^tlr_[A-Za-z0-9_-]{43}$/;

describe('createSqliteTokenStore', () => {
  let dbPath: string;
  let db: SqliteDatabase;
  let store: IngestTokenStore;

  beforeEach(async () => {
    dbPath = join(await makeTempDir('tlr-tokens-'), 'tlr.db');
    db = openDatabase(dbPath);
    store = createSqliteTokenStore(db);
  });

  afterEach(async () => {
    db.close();
    await removeTempDirs();
  });

  it('issues a tlr_ token of 32 random bytes that verifies to its binding', async () => {
    // Prepare
    const clusterId = `cluster-${randomId()}`;

    // Act
    const { id, token } = await store.create({
      clusterId,
      namespaces: ['team-a', 'team-*'],
      description: 'ci',
    });
    const binding = await store.verify(token);

    // Assess
    expect(token).toMatch(TOKEN_FORMAT);
    expect(Buffer.from(token.slice(4), 'base64url')).toHaveLength(32);
    expect(binding).toEqual({
      id,
      clusterId,
      namespaces: ['team-a', 'team-*'],
      description: 'ci',
      createdAtMs: expect.any(Number),
    });
  });

  it('stores only the SHA-256 of the token, never the token itself', async () => {
    // Prepare
    const { token } = await store.create({ clusterId: 'c1', namespaces: ['*'] });

    // Act
    const rows = db.prepare('SELECT * FROM ingest_tokens').all() as Record<string, unknown>[];

    // Assess
    expect(rows).toHaveLength(1);
    expect(rows[0]!['token_hash']).toBe(createHash('sha256').update(token).digest('hex'));
    expect(hashIngestToken(token)).toBe(rows[0]!['token_hash']);
    expect(JSON.stringify(rows)).not.toContain(token.slice(4));
  });

  it('issues a different token every time', async () => {
    // Prepare
    const input: NewIngestToken = { clusterId: 'c1', namespaces: ['team-a'] };

    // Act
    const first = await store.create(input);
    const second = await store.create(input);

    // Assess
    expect(first.token).not.toBe(second.token);
    expect(first.id).not.toBe(second.id);
  });

  it.each([
    ['an unknown token', `tlr_${'A'.repeat(43)}`],
    ['a token without the tlr_ prefix', 'not-a-token'],
    ['an empty token', ''],
  ])('verifies %s to undefined', async (_case, token) => {
    // Prepare
    await store.create({ clusterId: 'c1', namespaces: ['*'] });

    // Act
    const binding = await store.verify(token);

    // Assess
    expect(binding).toBeUndefined();
  });

  it('revokes a token so it no longer verifies, and reports a second revoke as false', async () => {
    // Prepare
    const { id, token } = await store.create({ clusterId: 'c1', namespaces: ['*'] });
    const kept = await store.create({ clusterId: 'c2', namespaces: ['*'] });

    // Act
    const first = await store.revoke(id);
    const second = await store.revoke(id);

    // Assess
    expect(first).toBe(true);
    expect(second).toBe(false);
    expect(await store.verify(token)).toBeUndefined();
    expect(await store.verify(kept.token)).toBeDefined();
  });

  it('lists every binding oldest first, without secrets', async () => {
    // Prepare
    const a = await store.create({ clusterId: 'c1', namespaces: ['team-a'] });
    const b = await store.create({ clusterId: 'c2', namespaces: ['team-*'] });

    // Act
    const list = await store.list();

    // Assess
    expect(list.map((t) => t.id).sort()).toEqual([a.id, b.id].sort());
    expect(list.every((t) => Object.keys(t).every((k) => !/token|hash|secret/i.test(k)))).toBe(true);
    expect(JSON.stringify(list)).not.toContain(a.token);
  });

  it('keeps tokens across a reopen of the database', async () => {
    // Prepare
    const { token } = await store.create({ clusterId: 'c1', namespaces: ['team-a'] });
    db.close();

    // Act
    db = openDatabase(dbPath);
    const binding = await createSqliteTokenStore(db).verify(token);

    // Assess
    expect(binding?.clusterId).toBe('c1');
  });

  it.each([
    ['a blank cluster id', { clusterId: ' ', namespaces: ['a'] }, 'clusterId'],
    ['a cluster id with a slash', { clusterId: 'a/b', namespaces: ['a'] }, 'clusterId'],
    ['a cluster id reserved for the router', { clusterId: '_internal', namespaces: ['a'] }, 'clusterId'],
    ['no namespaces', { clusterId: 'c1', namespaces: [] }, 'namespaces'],
    ['an uppercase namespace', { clusterId: 'c1', namespaces: ['ok', 'Team-A'] }, 'namespaces.1'],
    ['a namespace pattern with a space', { clusterId: 'c1', namespaces: ['team a'] }, 'namespaces.0'],
    [
      'a too long description',
      { clusterId: 'c1', namespaces: ['a'], description: 'x'.repeat(300) },
      'description',
    ],
  ])('refuses to issue a token with %s', async (_case, input, field) => {
    // Act
    const error = await store.create(input as NewIngestToken).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toContain(field);
    expect(await store.list()).toEqual([]);
  });
});
