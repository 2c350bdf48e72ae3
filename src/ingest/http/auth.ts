import { createHash, timingSafeEqual } from 'node:crypto';
import {
  ConfigValidationError,
  type FieldError,
  INTERNAL_KEY_PREFIX,
  isValidKeySegment,
} from '../../domain/index.js';
import type { IngestTokenStore, TokenBinding } from '../../stores/ports.js';

/** A namespace name in which `*` may stand for any run of characters (same rule as the token store). */
const NAMESPACE_PATTERN_REGEX = /^[a-z0-9*]([-a-z0-9*]{0,251}[a-z0-9*])?$/;
/** Static tokens are typed by operators; refuse ones short enough to guess. */
export const MIN_STATIC_TOKEN_CHARS = 16;
const BEARER_REGEX = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** A token fixed in the operator's config rather than issued by the token store. */
export interface StaticIngestToken {
  /** Stable id shown in logs; default `static-<position>`. */
  readonly id?: string;
  readonly token: string;
  readonly clusterId: string;
  readonly namespaces: readonly string[];
  readonly description?: string;
}

/** Why a request could not be authenticated. */
export const AuthFailureReason = {
  MISSING_TOKEN: 'missing_token',
  MALFORMED_AUTHORIZATION: 'malformed_authorization',
  INVALID_TOKEN: 'invalid_token',
} as const;
export type AuthFailureReason = (typeof AuthFailureReason)[keyof typeof AuthFailureReason];

/** The outcome of authenticating one request. */
export type AuthResult =
  | { readonly ok: true; readonly binding: TokenBinding }
  | { readonly ok: false; readonly reason: AuthFailureReason; readonly message: string };

/** Turns an `Authorization` header into the binding of its token. */
export interface TokenAuthenticator {
  /** @param authorization - the raw `Authorization` header, if any */
  authenticate(authorization: string | undefined): Promise<AuthResult>;
}

/** Whether a namespace pattern (an exact name, or a glob where `*` is any run of characters) matches. */
export function matchesNamespacePattern(pattern: string, namespace: string): boolean {
  return createNamespaceMatcher([pattern])(namespace);
}

function globToRegex(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}

/**
 * A predicate telling whether a token's patterns allow a namespace. Results are cached,
 * since a request usually repeats a handful of namespaces over thousands of events.
 */
export function createNamespaceMatcher(patterns: readonly string[]): (namespace: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes('*')));
  const globs = patterns.filter((p) => p.includes('*')).map(globToRegex);
  const cache = new Map<string, boolean>();
  return (namespace) => {
    let allowed = cache.get(namespace);
    if (allowed === undefined) {
      allowed = exact.has(namespace) || globs.some((g) => g.test(namespace));
      cache.set(namespace, allowed);
    }
    return allowed;
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * What is wrong with static tokens, each error's field named `[<position>].<property>`.
 * @internal shared with the tokens file reader, which renames the fields to its own keys
 */
export function staticTokenFieldErrors(tokens: readonly StaticIngestToken[]): FieldError[] {
  const errors: FieldError[] = [];
  tokens.forEach((t, i) => {
    if (typeof t.token !== 'string' || t.token.length < MIN_STATIC_TOKEN_CHARS) {
      errors.push({
        field: `[${i}].token`,
        message: `must be at least ${MIN_STATIC_TOKEN_CHARS} characters`,
      });
    }
    if (!isValidKeySegment(t.clusterId) || t.clusterId.startsWith(INTERNAL_KEY_PREFIX)) {
      errors.push({
        field: `[${i}].clusterId`,
        message: `must be a non-blank key segment without '/' not starting with '${INTERNAL_KEY_PREFIX}'`,
      });
    }
    if (t.namespaces.length === 0 || !t.namespaces.every((p) => NAMESPACE_PATTERN_REGEX.test(p))) {
      errors.push({
        field: `[${i}].namespaces`,
        message: "must list namespace names or globs with '*' (lowercase letters, digits, '-', '*')",
      });
    }
  });
  return errors;
}

function validateStaticTokens(tokens: readonly StaticIngestToken[]): void {
  const errors = staticTokenFieldErrors(tokens);
  if (errors.length > 0) throw new ConfigValidationError(errors, 'static ingest tokens');
}

/**
 * Authenticates collectors by `Authorization: Bearer <token>`, against the token store and
 * the operator's static tokens.
 *
 * @param options - `store` for issued tokens (none: only the static tokens are accepted);
 *   `staticTokens` from the operator's config
 * @throws ConfigValidationError when a static token is malformed (fail fast at startup)
 * @example
 * const auth = createTokenAuthenticator({ store: createSqliteTokenStore(db) });
 * const result = await auth.authenticate(request.headers.authorization);
 */
export function createTokenAuthenticator(options: {
  store?: IngestTokenStore;
  staticTokens?: readonly StaticIngestToken[];
}): TokenAuthenticator {
  const staticTokens = options.staticTokens ?? [];
  validateStaticTokens(staticTokens);
  const statics = staticTokens.map((t, i) => ({
    hash: sha256(t.token),
    binding: {
      id: t.id ?? `static-${i}`,
      clusterId: t.clusterId,
      namespaces: [...t.namespaces],
      ...(t.description !== undefined && { description: t.description }),
      createdAtMs: 0,
    } satisfies TokenBinding,
  }));

  return {
    async authenticate(authorization) {
      if (authorization === undefined || authorization.trim() === '') {
        return {
          ok: false,
          reason: AuthFailureReason.MISSING_TOKEN,
          message: "The request has no 'Authorization: Bearer <token>' header.",
        };
      }
      const token = BEARER_REGEX.exec(authorization)?.[1];
      if (token === undefined) {
        return {
          ok: false,
          reason: AuthFailureReason.MALFORMED_AUTHORIZATION,
          message: "The 'Authorization' header must be 'Bearer <token>'.",
        };
      }
      // Compare hashes in constant time: equal lengths, and no early exit on a prefix.
      const hash = sha256(token);
      const fixed = statics.find((s) => timingSafeEqual(s.hash, hash));
      const binding = fixed?.binding ?? (await options.store?.verify(token));
      if (binding === undefined) {
        return {
          ok: false,
          reason: AuthFailureReason.INVALID_TOKEN,
          message: 'The token is unknown or revoked.',
        };
      }
      return { ok: true, binding };
    },
  };
}
