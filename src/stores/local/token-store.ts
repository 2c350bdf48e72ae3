import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  ConfigValidationError,
  type FieldError,
  INTERNAL_KEY_PREFIX,
  isValidKeySegment,
} from '../../domain/index.js';
import type { IngestTokenStore, NewIngestToken, TokenBinding } from '../ports.js';
import { migrate, type SqliteDatabase } from './database.js';

/** Every ingest token starts with this, so leaked tokens are easy to recognise and scan for. */
export const INGEST_TOKEN_PREFIX = 'tlr_';
/** 256 bits of randomness: guessing a token is out of reach, so a plain hash suffices. */
const TOKEN_RANDOM_BYTES = 32;
/**
 * A namespace name (DNS-1123 label) in which `*` may stand for any run of characters.
 * Kept loose on length: a glob can be longer than the names it matches.
 */
const NAMESPACE_PATTERN_REGEX = /^[a-z0-9*]([-a-z0-9*]{0,251}[a-z0-9*])?$/;
const MAX_DESCRIPTION_CHARS = 256;

interface TokenRow {
  id: string;
  cluster_id: string;
  namespaces: string;
  description: string | null;
  created_at_ms: number;
}

/** The SHA-256 of a token, hex; the only form in which tokens are stored. */
export function hashIngestToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function toBinding(row: TokenRow): TokenBinding {
  return {
    id: row.id,
    clusterId: row.cluster_id,
    namespaces: JSON.parse(row.namespaces) as string[],
    ...(row.description !== null && { description: row.description }),
    createdAtMs: row.created_at_ms,
  };
}

function validateNewToken(input: NewIngestToken): void {
  const errors: FieldError[] = [];
  if (typeof input.clusterId !== 'string' || !isValidKeySegment(input.clusterId)) {
    errors.push({ field: 'clusterId', message: "must be a non-blank object key segment without '/'" });
  } else if (input.clusterId.startsWith(INTERNAL_KEY_PREFIX)) {
    // Keys starting with `_` are the router's own and never processed as logs.
    errors.push({ field: 'clusterId', message: `must not start with '${INTERNAL_KEY_PREFIX}'` });
  }
  if (!Array.isArray(input.namespaces) || input.namespaces.length === 0) {
    errors.push({ field: 'namespaces', message: 'must list at least one namespace or pattern' });
  } else {
    input.namespaces.forEach((pattern, i) => {
      if (typeof pattern !== 'string' || !NAMESPACE_PATTERN_REGEX.test(pattern)) {
        errors.push({
          field: `namespaces.${i}`,
          message: "must be a namespace name or a glob with '*' (lowercase letters, digits, '-', '*')",
        });
      }
    });
  }
  if (input.description !== undefined && input.description.length > MAX_DESCRIPTION_CHARS) {
    errors.push({ field: 'description', message: `must be at most ${MAX_DESCRIPTION_CHARS} characters` });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'ingest token');
}

/**
 * Ingest tokens in SQLite. Tokens are `tlr_` + base64url(32 random bytes); only their
 * SHA-256 is stored, so a copy of the database does not reveal them.
 *
 * @param db - an open database (see `openDatabase`)
 * @example
 * const tokens = createSqliteTokenStore(openDatabase('/var/lib/tlr/tlr.db'));
 * const { token } = await tokens.create({ clusterId: 'c1', namespaces: ['team-*'] });
 */
export function createSqliteTokenStore(db: SqliteDatabase): IngestTokenStore {
  migrate(db, 'ingest_tokens', [
    {
      version: 1,
      description: 'Ingest tokens bound to a cluster and namespace patterns.',
      up: (d) =>
        d.exec(`CREATE TABLE ingest_tokens (
          id TEXT PRIMARY KEY,
          token_hash TEXT NOT NULL UNIQUE,
          cluster_id TEXT NOT NULL,
          namespaces TEXT NOT NULL,
          description TEXT,
          created_at_ms INTEGER NOT NULL
        )`),
    },
  ]);
  const columns = 'id, cluster_id, namespaces, description, created_at_ms';
  const insert = db.prepare(
    'INSERT INTO ingest_tokens (id, token_hash, cluster_id, namespaces, description, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const byHash = db.prepare(`SELECT ${columns} FROM ingest_tokens WHERE token_hash = ?`);
  const all = db.prepare(`SELECT ${columns} FROM ingest_tokens ORDER BY created_at_ms, id`);
  const remove = db.prepare('DELETE FROM ingest_tokens WHERE id = ?');

  return {
    async create(input) {
      validateNewToken(input);
      const id = randomUUID();
      const token = `${INGEST_TOKEN_PREFIX}${randomBytes(TOKEN_RANDOM_BYTES).toString('base64url')}`;
      insert.run(
        id,
        hashIngestToken(token),
        input.clusterId,
        JSON.stringify(input.namespaces),
        input.description ?? null,
        Date.now(),
      );
      return { id, token };
    },
    async verify(token) {
      if (!token.startsWith(INGEST_TOKEN_PREFIX)) return undefined;
      const row = byHash.get(hashIngestToken(token)) as TokenRow | undefined;
      return row ? toBinding(row) : undefined;
    },
    async list() {
      return (all.all() as TokenRow[]).map(toBinding);
    },
    async revoke(id) {
      return remove.run(id).changes > 0;
    },
  };
}
