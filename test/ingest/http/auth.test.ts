import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import {
  AuthFailureReason,
  createNamespaceMatcher,
  createTokenAuthenticator,
  matchesNamespacePattern,
} from '../../../src/ingest/http/auth.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteTokenStore } from '../../../src/stores/local/token-store.js';
import type { IngestTokenStore } from '../../../src/stores/ports.js';

const STATIC_TOKEN = 'static-token-0123456789abcdef';

describe('matchesNamespacePattern', () => {
  it.each([
    ['team-a', 'team-a', true],
    ['team-a', 'team-ab', false],
    ['team-*', 'team-a', true],
    ['team-*', 'team-', true],
    ['team-*', 'other-team-a', false],
    ['*', 'anything-at-all', true],
    ['*-prod', 'billing-prod', true],
    ['*-prod', 'billing-prod-2', false],
    ['a*b*c', 'a-x-b-y-c', true],
    ['a.*', 'abc', false],
  ])("pattern '%s' on namespace '%s' is %s", (pattern, namespace, expected) => {
    // Act
    const matched = matchesNamespacePattern(pattern, namespace);

    // Assess
    expect(matched).toBe(expected);
  });

  it('allows a namespace when any of several patterns matches', () => {
    // Prepare
    const allowed = createNamespaceMatcher(['billing', 'team-*']);

    // Act
    const results = ['billing', 'team-x', 'other'].map(allowed);

    // Assess
    expect(results).toEqual([true, true, false]);
  });
});

describe('createTokenAuthenticator', () => {
  let db: SqliteDatabase;
  let store: IngestTokenStore;

  beforeEach(() => {
    db = openDatabase(':memory:');
    store = createSqliteTokenStore(db);
  });

  afterEach(() => {
    db.close();
  });

  it('resolves a Bearer token from the store to its binding', async () => {
    // Prepare
    const { id, token } = await store.create({ clusterId: 'c1', namespaces: ['team-*'] });
    const auth = createTokenAuthenticator({ store });

    // Act
    const result = await auth.authenticate(`Bearer ${token}`);

    // Assess
    expect(result).toEqual({
      ok: true,
      binding: expect.objectContaining({ id, clusterId: 'c1', namespaces: ['team-*'] }),
    });
  });

  it('accepts the scheme in any case, as RFC 7235 says', async () => {
    // Prepare
    const { token } = await store.create({ clusterId: 'c1', namespaces: ['*'] });
    const auth = createTokenAuthenticator({ store });

    // Act
    const result = await auth.authenticate(`bearer  ${token}`);

    // Assess
    expect(result.ok).toBe(true);
  });

  it('resolves a static token from the operator config', async () => {
    // Prepare
    const auth = createTokenAuthenticator({
      store,
      staticTokens: [{ token: STATIC_TOKEN, clusterId: 'c9', namespaces: ['ops'] }],
    });

    // Act
    const result = await auth.authenticate(`Bearer ${STATIC_TOKEN}`);

    // Assess
    expect(result).toEqual({
      ok: true,
      binding: { id: 'static-0', clusterId: 'c9', namespaces: ['ops'], createdAtMs: 0 },
    });
  });

  it.each([
    ['no header', undefined, AuthFailureReason.MISSING_TOKEN],
    ['a blank header', '  ', AuthFailureReason.MISSING_TOKEN],
    ['another scheme', 'Basic dXNlcjpwYXNz', AuthFailureReason.MALFORMED_AUTHORIZATION],
    ['a Bearer without token', 'Bearer', AuthFailureReason.MALFORMED_AUTHORIZATION],
    ['an unknown token', `Bearer tlr_${'x'.repeat(43)}`, AuthFailureReason.INVALID_TOKEN],
    ['a near-miss of a static token', `Bearer ${STATIC_TOKEN}x`, AuthFailureReason.INVALID_TOKEN],
  ])('refuses %s', async (_case, header, reason) => {
    // Prepare
    const auth = createTokenAuthenticator({
      store,
      staticTokens: [{ token: STATIC_TOKEN, clusterId: 'c9', namespaces: ['ops'] }],
    });

    // Act
    const result = await auth.authenticate(header);

    // Assess
    expect(result).toEqual({ ok: false, reason, message: expect.stringMatching(/\.$/) });
  });

  it('refuses a revoked token', async () => {
    // Prepare
    const { id, token } = await store.create({ clusterId: 'c1', namespaces: ['*'] });
    const auth = createTokenAuthenticator({ store });
    await store.revoke(id);

    // Act
    const result = await auth.authenticate(`Bearer ${token}`);

    // Assess
    expect(result).toMatchObject({ ok: false, reason: AuthFailureReason.INVALID_TOKEN });
  });

  it.each([
    ['a short token', { token: 'short', clusterId: 'c1', namespaces: ['a'] }, '[0].token'],
    ['a reserved cluster id', { token: STATIC_TOKEN, clusterId: '_x', namespaces: ['a'] }, '[0].clusterId'],
    ['no namespaces', { token: STATIC_TOKEN, clusterId: 'c1', namespaces: [] }, '[0].namespaces'],
    ['a bad pattern', { token: STATIC_TOKEN, clusterId: 'c1', namespaces: ['Team/A'] }, '[0].namespaces'],
  ])('fails fast on a static token with %s', (_case, staticToken, field) => {
    // Act
    const create = () => createTokenAuthenticator({ store, staticTokens: [staticToken] });

    // Assess
    expect(create).toThrow(ConfigValidationError);
    try {
      create();
    } catch (error) {
      expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toContain(field);
    }
  });
});
