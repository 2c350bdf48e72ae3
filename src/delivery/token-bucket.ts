/**
 * Token buckets for per-tenant and per-destination rate limits, in memory, per replica
 * (like the circuit breakers: state that may be lost at any time; losing it only lets one
 * more burst through). Pure: the clock is given.
 *
 * A bucket holds up to `ratePerSecond × burstSeconds` tokens and refills at `ratePerSecond`.
 * A request larger than the bucket is let through once the bucket is full, leaving it in
 * debt, so an oversized batch is slowed down, never refused for ever.
 */

/** One budget: how fast tokens refill and how many a full bucket holds (in seconds of the rate). */
export interface TokenRate {
  readonly ratePerSecond: number;
  readonly burstSeconds: number;
}

/** Tokens a request takes from one bucket, named by `key` (`tenant`, `tenant/type` + `:events`/`:bytes`). */
export interface TokenRequest extends TokenRate {
  readonly key: string;
  readonly tokens: number;
}

/** The answer to a take: granted (after `waitMs`, 0 = now), or refused with the wait it would need. */
export type TakeResult =
  | { readonly ok: true; readonly waitMs: number }
  | { readonly ok: false; readonly waitMs: number };

/** The token buckets of one replica. */
export interface TokenBuckets {
  /**
   * Takes tokens from every named bucket, all or none. When every bucket has enough: `ok`,
   * `waitMs` 0. When the longest wait is at most `maxWaitMs`: the tokens are taken now (the
   * buckets go into debt, so later callers queue behind) and `ok` says to wait `waitMs`
   * before sending. Otherwise nothing is taken: not `ok`, with the wait it would have needed.
   *
   * @param requests - the tokens to take from each bucket (a request for 0 tokens is ignored)
   * @param maxWaitMs - the longest wait the caller accepts
   */
  take(requests: readonly TokenRequest[], maxWaitMs?: number): TakeResult;
  /** Buckets held now (for tests and metrics). */
  size(): number;
}

/** Memory bounds of the bucket registry. */
export interface TokenBucketOptions {
  /** A full bucket unused this long is forgotten (a new one starts full: no difference). Default 60 s. */
  readonly idleTtlMs?: number;
  /** Buckets kept at most; beyond, the least recently used is forgotten. Default 10,000. */
  readonly maxEntries?: number;
  /** The clock, in ms. Default `Date.now`. */
  readonly now?: () => number;
}

export const DEFAULT_TOKEN_BUCKET_IDLE_TTL_MS = 60_000;
export const DEFAULT_TOKEN_BUCKET_MAX_ENTRIES = 10_000;
/** Idle buckets are looked for at most this often. */
const SWEEP_INTERVAL_MS = 1_000;

interface Bucket {
  readonly capacity: number;
  readonly ratePerMs: number;
  tokens: number;
  updatedAtMs: number;
}

function refill(bucket: Bucket, nowMs: number): void {
  const elapsed = Math.max(0, nowMs - bucket.updatedAtMs);
  bucket.tokens = Math.min(bucket.capacity, bucket.tokens + elapsed * bucket.ratePerMs);
  bucket.updatedAtMs = Math.max(bucket.updatedAtMs, nowMs);
}

/** Ms until `tokens` may be taken: until they are there, or the bucket is full for a larger request. */
function waitFor(bucket: Bucket, tokens: number): number {
  const needed = Math.min(tokens, bucket.capacity);
  if (bucket.tokens >= needed) return 0;
  return Math.ceil((needed - bucket.tokens) / bucket.ratePerMs);
}

/**
 * Creates the token buckets of a replica, keyed by request key and rate (a changed rate
 * starts a new, full bucket; the old one is forgotten once idle).
 *
 * @example
 * const buckets = createTokenBuckets();
 * const r = buckets.take([{ key: 'acme:events', tokens: 500, ratePerSecond: 1000, burstSeconds: 1 }], 1_000);
 * if (r.ok) await sleep(r.waitMs, signal); else scheduleLater(r.waitMs);
 */
export function createTokenBuckets(options: TokenBucketOptions = {}): TokenBuckets {
  const idleTtlMs = options.idleTtlMs ?? DEFAULT_TOKEN_BUCKET_IDLE_TTL_MS;
  const maxEntries = options.maxEntries ?? DEFAULT_TOKEN_BUCKET_MAX_ENTRIES;
  const now = options.now ?? Date.now;
  // Map order is use order: a bucket is moved to the end each time it is used.
  const buckets = new Map<string, Bucket>();
  let lastSweepMs = Number.NEGATIVE_INFINITY;

  const sweep = (nowMs: number) => {
    if (nowMs - lastSweepMs < SWEEP_INTERVAL_MS) return;
    lastSweepMs = nowMs;
    for (const [id, bucket] of buckets) {
      if (nowMs - bucket.updatedAtMs < idleTtlMs) break; // later entries were used more recently
      refill(bucket, nowMs);
      // A bucket still in debt is kept: forgetting it would let its debt through again.
      if (bucket.tokens >= bucket.capacity) buckets.delete(id);
    }
  };

  const bucketFor = (request: TokenRequest, nowMs: number): Bucket => {
    const id = `${request.key}|${request.ratePerSecond}|${request.burstSeconds}`;
    let bucket = buckets.get(id);
    if (bucket) buckets.delete(id);
    else {
      const capacity = request.ratePerSecond * request.burstSeconds;
      bucket = { capacity, ratePerMs: request.ratePerSecond / 1000, tokens: capacity, updatedAtMs: nowMs };
    }
    buckets.set(id, bucket);
    refill(bucket, nowMs);
    return bucket;
  };

  return {
    take(requests, maxWaitMs = 0) {
      const nowMs = now();
      sweep(nowMs);
      const used = requests.filter((r) => r.tokens > 0).map((r) => ({ request: r, bucket: bucketFor(r, nowMs) }));
      while (buckets.size > maxEntries) buckets.delete(buckets.keys().next().value!);
      const waitMs = Math.max(0, ...used.map(({ request, bucket }) => waitFor(bucket, request.tokens)));
      if (waitMs > maxWaitMs) return { ok: false, waitMs };
      for (const { request, bucket } of used) bucket.tokens -= request.tokens;
      return { ok: true, waitMs };
    },
    size: () => buckets.size,
  };
}
