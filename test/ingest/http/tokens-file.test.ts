import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import { readIngestTokensFile, validateIngestTokensFile } from '../../../src/ingest/http/tokens-file.js';
import { randomId } from '../../helpers/factories.js';
import { caught } from '../../helpers/rejection.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

function entryFactory(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `cluster-${randomId()}`,
    token: `tok-${randomId()}-${randomId()}`,
    cluster_id: `cluster-${randomId()}`,
    namespaces: ['acme-*'],
    ...overrides,
  };
}

function fieldErrorsOf(run: () => unknown): { field: string; message: string }[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return (error as ConfigValidationError).fieldErrors;
  }
  throw new Error('Expected a ConfigValidationError.');
}

afterEach(async () => {
  await removeTempDirs();
});

describe('validateIngestTokensFile', () => {
  it('turns each entry into a static token bound to its cluster and namespaces', () => {
    // Prepare
    const entry = entryFactory({ description: 'east fleet' });

    // Act
    const tokens = validateIngestTokensFile([entry]);

    // Assess
    expect(tokens).toEqual([{
      id: entry['id'],
      token: entry['token'],
      clusterId: entry['cluster_id'],
      namespaces: ['acme-*'],
      description: 'east fleet',
    }]);
  });

  describe.each([
    ['a short token', { token: 'short' }, 'token', 'must be at least 16 characters'],
    ['a missing cluster id', { cluster_id: undefined }, 'cluster_id', 'is required'],
    ['a cluster id of the router itself', { cluster_id: '_internal' }, 'cluster_id', "must be a non-blank key segment without '/' not starting with '_'"],
    ['no namespace', { namespaces: [] }, 'namespaces', 'must list at least one namespace name or glob'],
    ['an uppercase namespace', { namespaces: ['Acme'] }, 'namespaces', "must list namespace names or globs with '*'"],
    ['an unknown field', { clusterId: 'c1' }, 'clusterId', 'is not a known field'],
  ])('an entry with %s', (_case, overrides, field, message) => {
    it('is refused, naming the entry by position and id, and the field', () => {
      // Prepare
      const bad = entryFactory(overrides);
      for (const [key, value] of Object.entries(bad)) if (value === undefined) delete bad[key];

      // Act
      const errors = fieldErrorsOf(() => validateIngestTokensFile([entryFactory(), bad]));

      // Assess
      expect(errors).toHaveLength(1);
      expect(errors[0]!.field).toBe(`[1] '${String(bad['id'])}'.${field}`);
      expect(errors[0]!.message).toContain(message);
    });
  });

  it('refuses an id or a token listed twice', () => {
    // Prepare
    const first = entryFactory();
    const sameId = entryFactory({ id: first['id'] });
    const sameToken = entryFactory({ token: first['token'] });

    // Act
    const errors = fieldErrorsOf(() => validateIngestTokensFile([first, sameId, sameToken]));

    // Assess
    expect(errors).toEqual([
      { field: `[1] '${String(first['id'])}'.id`, message: 'is listed twice' },
      { field: `[2] '${String(sameToken['id'])}'.token`, message: 'is the token of an earlier entry' },
    ]);
  });

  it('refuses a value that is not an array, saying what it must be', () => {
    // Act
    const errors = fieldErrorsOf(() => validateIngestTokensFile(entryFactory()));

    // Assess
    expect(errors).toEqual([{ field: '', message: 'must be a JSON array of {"id", "token", "cluster_id", "namespaces"}' }]);
  });
});

describe('readIngestTokensFile', () => {
  it('reads the tokens of a JSON file', async () => {
    // Prepare
    const path = join(await makeTempDir('tlr-tokens-'), 'tokens.json');
    const entry = entryFactory();
    await writeFile(path, JSON.stringify([entry]));

    // Act
    const tokens = await readIngestTokensFile(path);

    // Assess
    expect(tokens.map((t) => t.id)).toEqual([entry['id']]);
  });

  it.each([
    ['is not JSON', '[{"id": ', 'is not valid JSON'],
    ['cannot be read', undefined, 'cannot be read'],
  ])('refuses a file that %s, naming the file', async (_case, content, message) => {
    // Prepare
    const path = join(await makeTempDir('tlr-tokens-'), 'tokens.json');
    if (content !== undefined) await writeFile(path, content);

    // Act
    const error = await caught(readIngestTokensFile(path));

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).context).toBe(`ingest tokens file '${path}'`);
    expect((error as ConfigValidationError).fieldErrors[0]!.message).toContain(message);
  });
});
