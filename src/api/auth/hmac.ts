import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ReplayStore } from './replay-store.js';

/**
 * HMAC request signing for the delivery-config API, as existing clients sign it
 * (issue 4, "Authentication"; client-facing description in `docs/api-auth.md`).
 *
 * Signed message: `UPPER(method) + path_and_query + timestamp + body_sha256`, HMAC-SHA256
 * with the pre-shared key (its UTF-8 bytes), hex output, sent as
 * `Authorization: HMAC-SHA256 <hex>` with `X-API-Timestamp` and `X-Body-SHA256`.
 *
 * Pure functions over strings and bytes, so the Fastify hook, the Lambda authorizer and the
 * `tlr configs` client share one implementation.
 */

/** The `Authorization` scheme. */
export const HMAC_AUTH_SCHEME = 'HMAC-SHA256';

/** Lowercase names of the three request headers the scheme uses. */
export const AuthHeader = {
  AUTHORIZATION: 'authorization',
  TIMESTAMP: 'x-api-timestamp',
  BODY_SHA256: 'x-body-sha256',
} as const;
export type AuthHeader = (typeof AuthHeader)[keyof typeof AuthHeader];

/** SHA-256 of the empty body, hex: what a request without a body sends in `X-Body-SHA256`. */
export const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The accepted distance between the request timestamp and the server clock: |now − ts| ≤ 300 s. */
export const DEFAULT_MAX_SKEW_MS = 300_000;

/**
 * How long the replay guard remembers a signature: a timestamp up to the skew ahead of the
 * clock stays acceptable until the skew behind it, so a signature can verify for 2 × skew.
 */
export const DEFAULT_REPLAY_TTL_MS = 2 * DEFAULT_MAX_SKEW_MS;

/** At most this many signatures are remembered; the oldest is forgotten first. */
export const DEFAULT_REPLAY_MAX_ENTRIES = 100_000;

const HEX_SHA256 = /^[0-9a-f]{64}$/i;
const AUTHORIZATION_VALUE = /^(\S+)\s+(\S+)$/;
// ISO-8601 date-time, `Z` or no zone (= UTC), optional fraction. Offsets are not part of the scheme.
const API_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z?)$/;

/**
 * The signature an `Authorization` value carries: `HMAC-SHA256 <64 hex>`, the scheme in any
 * case, any whitespace between. The one parser of the header, for the verifier and for the
 * API behind an authorizer alike.
 *
 * @returns the signature, lowercase hex, or undefined when the value is not of that form
 */
export function signatureOfAuthorization(value: string): string | undefined {
  const parts = AUTHORIZATION_VALUE.exec(value.trim());
  if (!parts || parts[1]!.toUpperCase() !== HMAC_AUTH_SCHEME || !HEX_SHA256.test(parts[2]!)) return undefined;
  return parts[2]!.toLowerCase();
}

/**
 * Hex SHA-256 of a request body, as sent in `X-Body-SHA256`.
 *
 * @param body - the raw body bytes; a string is hashed as its UTF-8 bytes
 * @returns 64 lowercase hex characters
 */
export function sha256Hex(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The message both sides MAC, one definition for signer and verifier. */
function stringToSign(method: string, pathAndQuery: string, timestamp: string, bodySha256: string): string {
  return method.toUpperCase() + pathAndQuery + timestamp + bodySha256;
}

function hmacHex(key: string, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}

/** What {@link signRequest} signs. */
export interface SignRequestOptions {
  /** HTTP method, any case; it is signed upper-cased. */
  method: string;
  /**
   * The path as it goes on the wire (including `/api/v1`) plus `?` and the query string exactly
   * as sent, already percent-encoded: `/api/v1/delivery-configs?limit=10`.
   */
  pathAndQuery: string;
  /** ISO-8601 UTC time of the request, e.g. `new Date().toISOString()`; sent and signed as given. */
  timestamp: string;
  /** The raw body bytes or string (UTF-8); omit, `''` or empty bytes for no body. */
  body?: Uint8Array | string;
  /** The pre-shared key (`TLR_API_PSK`); its UTF-8 bytes are the HMAC key. */
  key: string;
}

/** The headers that authenticate one request. */
export interface SignedRequestHeaders {
  authorization: string;
  'x-api-timestamp': string;
  'x-body-sha256': string;
}

/**
 * Sign one API request: the headers to send with it.
 *
 * @param options - the request as it will be sent, and the pre-shared key
 * @returns `authorization`, `x-api-timestamp` and `x-body-sha256`, ready to merge into the request headers
 * @example
 * ```ts
 * import { signRequest } from './src/api/auth/index.js';
 *
 * const body = JSON.stringify({ tenant_id: 'acme', type: 'cloudwatch', enabled: true });
 * const pathAndQuery = '/api/v1/tenants/acme/delivery-configs';
 * const headers = signRequest({
 *   method: 'POST',
 *   pathAndQuery,
 *   timestamp: new Date().toISOString(),
 *   body,
 *   key: process.env.TLR_API_PSK ?? '',
 * });
 * await fetch(new URL(pathAndQuery, 'http://127.0.0.1:8080'), {
 *   method: 'POST',
 *   headers: { ...headers, 'content-type': 'application/json' },
 *   body, // exactly the bytes that were hashed
 * });
 * ```
 */
export function signRequest(options: SignRequestOptions): SignedRequestHeaders {
  const bodySha256 = options.body === undefined ? EMPTY_BODY_SHA256 : sha256Hex(options.body);
  const signature = hmacHex(options.key, stringToSign(options.method, options.pathAndQuery, options.timestamp, bodySha256));
  return {
    authorization: `${HMAC_AUTH_SCHEME} ${signature}`,
    'x-api-timestamp': options.timestamp,
    'x-body-sha256': bodySha256,
  };
}

/**
 * Parse an `X-API-Timestamp` value: ISO-8601 `YYYY-MM-DDTHH:MM:SS[.fraction][Z]`, where no zone
 * means UTC.
 *
 * @param value - the header value
 * @returns epoch milliseconds (fraction truncated to ms), or `undefined` when the value is not such a timestamp
 */
export function parseApiTimestamp(value: string): number | undefined {
  const match = API_TIMESTAMP.exec(value);
  if (!match) return undefined;
  type Fields = [number, number, number, number, number, number];
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as Fields;
  const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC rolls 31 February over into March; a real date round-trips.
  const date = new Date(ms);
  if (date.getUTCFullYear() !== year || date.getUTCDate() !== day || date.getUTCMonth() !== month - 1) return undefined;
  return ms;
}

/** Stable codes of a refused signature; every one maps to 401. */
export const SignatureFailureReason = {
  MISSING_HEADER: 'missing_header',
  MALFORMED_HEADER: 'malformed_header',
  BAD_TIMESTAMP: 'bad_timestamp',
  STALE_TIMESTAMP: 'stale_timestamp',
  BAD_SIGNATURE: 'bad_signature',
} as const;
export type SignatureFailureReason = (typeof SignatureFailureReason)[keyof typeof SignatureFailureReason];

/** Which form of the query the client signed. */
export const SignedQueryForm = {
  /** The query string exactly as sent. */
  RAW: 'raw',
  /** The decoded parameters re-joined as `k=v&…` in received order. */
  DECODED: 'decoded',
} as const;
export type SignedQueryForm = (typeof SignedQueryForm)[keyof typeof SignedQueryForm];

/** A header value as Node and Fastify hand it over. */
export type AuthHeaderValue = string | readonly string[] | undefined;

/** What {@link verifySignature} checks. */
export interface VerifySignatureOptions {
  /** HTTP method of the request, any case. */
  method: string;
  /**
   * Path and query as the client sent them, still encoded (Node's `req.url`, an API Gateway
   * stage prefix removed).
   */
  rawPathAndQuery: string;
  /**
   * The query parameters decoded, in received order, as the server parsed them. Defaults to
   * `application/x-www-form-urlencoded` decoding of the raw query (`+` is a space).
   */
  decodedQueryPairs?: readonly (readonly [string, string])[];
  /** Request headers with lowercase names. */
  headers: {
    authorization?: AuthHeaderValue;
    'x-api-timestamp'?: AuthHeaderValue;
    'x-body-sha256'?: AuthHeaderValue;
  };
  /** Accepted pre-shared keys, current first, then previous versions (rotation). */
  keys: readonly string[];
  /** The server clock, epoch ms. */
  nowMs: number;
  /** Accepted |now − timestamp|; default {@link DEFAULT_MAX_SKEW_MS}. */
  maxSkewMs?: number;
}

/** A signature that verified. The body itself is not checked here: see {@link bodyHashMatches}. */
export interface SignatureAccepted {
  ok: true;
  /** Index into `keys` of the key that signed: 0 current, 1 previous. */
  keyIndex: number;
  /** The claimed `X-Body-SHA256`, lowercase; the API compares it with the body it receives. */
  bodySha256: string;
  /** The signature, lowercase hex: the value to feed a {@link ReplayGuard}. */
  signature: string;
  /** Whether the client signed the query raw or decoded. */
  signedQueryForm: SignedQueryForm;
  /** The request time, epoch ms. */
  timestampMs: number;
}

/** A refused signature: a stable `reason` to branch on and a `message` for the client developer. */
export interface SignatureRefused {
  ok: false;
  reason: SignatureFailureReason;
  message: string;
}

export type SignatureVerification = SignatureAccepted | SignatureRefused;

function refuse(reason: SignatureFailureReason, message: string): SignatureRefused {
  return { ok: false, reason, message };
}

/** One header value, or `null` when it is repeated. */
function single(value: AuthHeaderValue): string | undefined | null {
  if (value === undefined || typeof value === 'string') return value;
  if (value.length === 0) return undefined;
  return value.length === 1 ? value[0] : null;
}

/**
 * Decoded pairs re-joined as `k=v&…` can stand for another query than the one received: a
 * decoded `&`, or `=` in a name, splits differently, and a decoded `%` or `+` equals the raw form
 * of a different request. Only pairs free of those are accepted in the decoded form, so either
 * form names exactly one set of parameters.
 */
function rejoinIfUnambiguous(pairs: readonly (readonly [string, string])[]): string | undefined {
  const parts: string[] = [];
  for (const [name, value] of pairs) {
    if (/[&=%+\uFFFD]/.test(name) || /[&%+\uFFFD]/.test(value)) return undefined;
    parts.push(`${name}=${value}`);
  }
  return parts.join('&');
}

function decodePairs(query: string): [string, string][] {
  return [...new URLSearchParams(query)];
}

function hexEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Verify the signature and timestamp of one request against the accepted keys. The body is not
 * read: the signature covers the claimed body hash, and the API checks the body against it with
 * {@link bodyHashMatches} (the Lambda authorizer never sees the body).
 *
 * @param options - the request as received, the keys and the clock
 * @returns `{ ok: true, keyIndex, … }` or `{ ok: false, reason, message }`; never throws on bad input
 */
export function verifySignature(options: VerifySignatureOptions): SignatureVerification {
  const { headers, keys, nowMs, maxSkewMs = DEFAULT_MAX_SKEW_MS } = options;
  const authorization = single(headers.authorization);
  const timestamp = single(headers['x-api-timestamp']);
  const bodySha256 = single(headers['x-body-sha256']);

  const missing = [
    authorization === undefined ? 'Authorization' : undefined,
    timestamp === undefined ? 'X-API-Timestamp' : undefined,
    bodySha256 === undefined ? 'X-Body-SHA256' : undefined,
  ].filter((name) => name !== undefined);
  if (missing.length > 0) {
    return refuse(
      SignatureFailureReason.MISSING_HEADER,
      `The request lacks the ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}; sign every request with Authorization: HMAC-SHA256 <hex>, X-API-Timestamp and X-Body-SHA256.`,
    );
  }
  const repeated = [
    authorization === null ? 'Authorization' : undefined,
    timestamp === null ? 'X-API-Timestamp' : undefined,
    bodySha256 === null ? 'X-Body-SHA256' : undefined,
  ].filter((name) => name !== undefined);
  if (repeated.length > 0 || authorization == null || timestamp == null || bodySha256 == null) {
    return refuse(SignatureFailureReason.MALFORMED_HEADER, `Send the ${repeated.join(', ')} header only once.`);
  }

  const signature = signatureOfAuthorization(authorization);
  if (signature === undefined) {
    return refuse(
      SignatureFailureReason.MALFORMED_HEADER,
      'The Authorization header must be "HMAC-SHA256 <signature>" with the signature as 64 hex characters.',
    );
  }
  if (!HEX_SHA256.test(bodySha256)) {
    return refuse(
      SignatureFailureReason.MALFORMED_HEADER,
      `The X-Body-SHA256 header must be the SHA-256 of the raw body as 64 hex characters (${EMPTY_BODY_SHA256} for no body).`,
    );
  }

  const timestampMs = parseApiTimestamp(timestamp);
  if (timestampMs === undefined) {
    return refuse(
      SignatureFailureReason.BAD_TIMESTAMP,
      'The X-API-Timestamp header must be an ISO-8601 UTC time such as 2024-05-01T12:00:00Z or 2024-05-01T12:00:00.123Z.',
    );
  }
  const skewMs = timestampMs - nowMs;
  if (Math.abs(skewMs) > maxSkewMs) {
    const direction = skewMs < 0 ? 'behind' : 'ahead of';
    return refuse(
      SignatureFailureReason.STALE_TIMESTAMP,
      `The X-API-Timestamp is ${Math.round(Math.abs(skewMs) / 1000)} s ${direction} the server clock; it must be within ${maxSkewMs / 1000} s, so sign each request when it is sent and keep the client clock in sync.`,
    );
  }

  const queryAt = options.rawPathAndQuery.indexOf('?');
  const path = queryAt === -1 ? options.rawPathAndQuery : options.rawPathAndQuery.slice(0, queryAt);
  const rawQuery = queryAt === -1 ? '' : options.rawPathAndQuery.slice(queryAt + 1);
  const candidates: [SignedQueryForm, string][] = [[SignedQueryForm.RAW, options.rawPathAndQuery]];
  const decoded = rejoinIfUnambiguous(options.decodedQueryPairs ?? decodePairs(rawQuery));
  if (decoded !== undefined) {
    const decodedPathAndQuery = decoded === '' ? path : `${path}?${decoded}`;
    if (decodedPathAndQuery !== options.rawPathAndQuery) candidates.push([SignedQueryForm.DECODED, decodedPathAndQuery]);
  }

  // Every key and form is compared, so the time taken does not tell which one came close.
  let accepted: { keyIndex: number; form: SignedQueryForm } | undefined;
  keys.forEach((key, keyIndex) => {
    for (const [form, pathAndQuery] of candidates) {
      const expected = hmacHex(key, stringToSign(options.method, pathAndQuery, timestamp, bodySha256));
      if (hexEqual(expected, signature) && accepted === undefined) accepted = { keyIndex, form };
    }
  });
  if (accepted === undefined) {
    return refuse(
      SignatureFailureReason.BAD_SIGNATURE,
      'The signature does not match: sign UPPER(method) + path and query as sent + X-API-Timestamp + X-Body-SHA256 with HMAC-SHA256 and the current pre-shared key, hex-encoded.',
    );
  }
  return {
    ok: true,
    keyIndex: accepted.keyIndex,
    bodySha256: bodySha256.toLowerCase(),
    signature,
    signedQueryForm: accepted.form,
    timestampMs,
  };
}

/**
 * Whether a received body hashes to the `X-Body-SHA256` the client claimed; constant time.
 *
 * @param body - the raw body bytes as received (a string is hashed as UTF-8)
 * @param claimedHex - the header value, any case
 * @returns `false` for a mismatch and for a claim that is not 64 hex characters
 */
export function bodyHashMatches(body: Uint8Array | string, claimedHex: string): boolean {
  return HEX_SHA256.test(claimedHex) && hexEqual(sha256Hex(body), claimedHex);
}

/** Options of {@link createReplayGuard}. */
export interface ReplayGuardOptions {
  /** How long a signature is remembered; default {@link DEFAULT_REPLAY_TTL_MS} (2 × the skew). */
  ttlMs?: number;
  /** At most this many remembered signatures; default {@link DEFAULT_REPLAY_MAX_ENTRIES}. */
  maxEntries?: number;
  /** The clock, epoch ms; default `Date.now`. */
  now?: () => number;
}

/**
 * Remembers the signatures of mutating requests, to refuse a replay inside the time window;
 * in memory, so for one process only. It is a {@link ReplayStore}, so the API takes it or a
 * shared store alike.
 */
export interface ReplayGuard extends ReplayStore {
  /**
   * Record a signature for the ttl.
   *
   * @param signature - hex signature, e.g. {@link SignatureAccepted.signature}
   * @returns `true` when it was already seen and has not expired (a replay: refuse the request)
   */
  seen(signature: string): boolean;
  /** How many signatures are remembered now. */
  readonly size: number;
}

/**
 * Create an in-memory replay guard. Memory stays bounded: expired signatures are dropped on
 * every call, and when `maxEntries` is reached the oldest is dropped (so under a flood a replay
 * older than the flood can pass; the timestamp window still bounds it).
 *
 * @param options - ttl, capacity and clock
 * @returns a guard whose `seen()` is true for a signature already seen inside the ttl, and whose
 *   `remember()` is true for one remembered until a time not yet reached
 * @throws RangeError when `ttlMs` is negative or `maxEntries` is less than 1
 */
export function createReplayGuard(options: ReplayGuardOptions = {}): ReplayGuard {
  const { ttlMs = DEFAULT_REPLAY_TTL_MS, maxEntries = DEFAULT_REPLAY_MAX_ENTRIES, now = Date.now } = options;
  if (!(ttlMs >= 0)) throw new RangeError(`'ttlMs' must be 0 or more, got ${ttlMs}.`);
  if (!(maxEntries >= 1)) throw new RangeError(`'maxEntries' must be 1 or more, got ${maxEntries}.`);
  // With `seen` alone, insertion order is expiry order (one ttl for all), so expired entries
  // sit at the front. `remember` takes each signature's own expiry, so an expired entry may
  // wait behind a later one; lookups compare the expiry, so it is only memory, within maxEntries.
  const expiresAtMs = new Map<string, number>();

  function evictExpired(nowMs: number): void {
    for (const [signature, expiry] of expiresAtMs) {
      if (expiry > nowMs) break;
      expiresAtMs.delete(signature);
    }
  }

  function record(signature: string, expiry: (nowMs: number) => number): boolean {
    const nowMs = now();
    const key = signature.toLowerCase();
    evictExpired(nowMs);
    const stored = expiresAtMs.get(key);
    if (stored !== undefined && stored > nowMs) return true;
    expiresAtMs.delete(key);
    while (expiresAtMs.size >= maxEntries) {
      const oldest = expiresAtMs.keys().next();
      if (oldest.done === true) break;
      expiresAtMs.delete(oldest.value);
    }
    expiresAtMs.set(key, expiry(nowMs));
    return false;
  }

  return {
    seen(signature: string): boolean {
      return record(signature, (nowMs) => nowMs + ttlMs);
    },
    async remember(signature: string, expiresAt: number): Promise<boolean> {
      return record(signature, () => expiresAt);
    },
    get size(): number {
      return expiresAtMs.size;
    },
  };
}
