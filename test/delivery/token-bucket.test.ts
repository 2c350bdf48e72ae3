import { describe, expect, it } from 'vitest';
import { createTokenBuckets, type TokenRequest } from '../../src/delivery/token-bucket.js';

/** Buckets on a clock the test moves. */
function bucketsAt(startMs = 0, options: { idleTtlMs?: number; maxEntries?: number } = {}) {
  const clock = { nowMs: startMs };
  return { clock, buckets: createTokenBuckets({ ...options, now: () => clock.nowMs }) };
}

function events(key: string, tokens: number, ratePerSecond = 10, burstSeconds = 1): TokenRequest {
  return { key: `${key}:events`, tokens, ratePerSecond, burstSeconds };
}

describe('createTokenBuckets', () => {
  it('grants a full bucket at once and then asks to wait for the refill', () => {
    // Prepare
    const { buckets } = bucketsAt();

    // Act
    const first = buckets.take([events('acme', 10)]);
    const second = buckets.take([events('acme', 5)]);

    // Assess: 5 tokens at 10/s take 500 ms.
    expect(first).toEqual({ ok: true, waitMs: 0 });
    expect(second).toEqual({ ok: false, waitMs: 500 });
  });

  it('refills at the rate up to the burst size', () => {
    // Prepare
    const { clock, buckets } = bucketsAt();
    buckets.take([events('acme', 10)]);

    // Act
    clock.nowMs += 300;
    const afterRefill = buckets.take([events('acme', 3)]);
    clock.nowMs += 60_000;
    const capped = buckets.take([events('acme', 11)]);
    const after = buckets.take([events('acme', 1)]);

    // Assess: a long pause fills the bucket to 10, not more; 11 leaves it in debt by 1.
    expect(afterRefill).toEqual({ ok: true, waitMs: 0 });
    expect(capped).toEqual({ ok: true, waitMs: 0 });
    expect(after).toEqual({ ok: false, waitMs: 200 });
  });

  it('takes tokens now and asks to wait when the wait is within maxWaitMs, so later callers queue behind', () => {
    // Prepare
    const { buckets } = bucketsAt();
    buckets.take([events('acme', 10)]);

    // Act
    const reserved = buckets.take([events('acme', 4)], 1_000);
    const next = buckets.take([events('acme', 4)], 1_000);
    const refused = buckets.take([events('acme', 4)], 1_000);

    // Assess
    expect(reserved).toEqual({ ok: true, waitMs: 400 });
    expect(next).toEqual({ ok: true, waitMs: 800 });
    expect(refused).toEqual({ ok: false, waitMs: 1_200 });
  });

  it('lets a request larger than the bucket through once the bucket is full, in debt', () => {
    // Prepare
    const { clock, buckets } = bucketsAt();

    // Act
    const oversized = buckets.take([events('acme', 50)]);
    const during = buckets.take([events('acme', 1)]);
    clock.nowMs += 5_100;
    const after = buckets.take([events('acme', 1)]);

    // Assess: 50 tokens at 10/s are paid back after 5 s.
    expect(oversized).toEqual({ ok: true, waitMs: 0 });
    expect(during).toEqual({ ok: false, waitMs: 4_100 });
    expect(after).toEqual({ ok: true, waitMs: 0 });
  });

  it('takes from every bucket or from none', () => {
    // Prepare: the destination bucket is empty, the tenant bucket full.
    const { buckets } = bucketsAt();
    buckets.take([events('acme/s3', 10)]);

    // Act
    const refused = buckets.take([events('acme', 10), events('acme/s3', 10)]);
    const tenantAlone = buckets.take([events('acme', 10)]);

    // Assess: the refusal names the longest wait and left the tenant bucket full.
    expect(refused).toEqual({ ok: false, waitMs: 1_000 });
    expect(tenantAlone).toEqual({ ok: true, waitMs: 0 });
  });

  it('keeps tenants apart', () => {
    // Prepare
    const { buckets } = bucketsAt();
    buckets.take([events('acme', 10)]);

    // Act
    const other = buckets.take([events('globex', 10)]);

    // Assess
    expect(other).toEqual({ ok: true, waitMs: 0 });
  });

  it('starts a new full bucket when the rate changes', () => {
    // Prepare
    const { buckets } = bucketsAt();
    buckets.take([events('acme', 10, 10)]);

    // Act
    const raised = buckets.take([events('acme', 20, 20)]);

    // Assess
    expect(raised).toEqual({ ok: true, waitMs: 0 });
  });

  it('ignores requests for no tokens', () => {
    // Prepare
    const { buckets } = bucketsAt();

    // Act
    const result = buckets.take([events('acme', 0)]);

    // Assess
    expect(result).toEqual({ ok: true, waitMs: 0 });
    expect(buckets.size()).toBe(0);
  });

  it('forgets idle full buckets, but keeps one still in debt', () => {
    // Prepare: one bucket used briefly, one left 1,000 tokens (100 s) in debt.
    const { clock, buckets } = bucketsAt(0, { idleTtlMs: 60_000 });
    buckets.take([events('idle', 1)]);
    buckets.take([events('debtor', 1_010)]);

    // Act
    clock.nowMs += 61_000;
    buckets.take([events('fresh', 1)]);
    const held = buckets.size();
    const debtor = buckets.take([events('debtor', 1)]);

    // Assess: 390 tokens are still owed (39 s at 10/s, plus the one asked), so forgetting it would have let a burst through.
    expect(held).toBe(2);
    expect(debtor).toEqual({ ok: false, waitMs: 39_100 });
  });

  it('holds at most maxEntries buckets, forgetting the least recently used', () => {
    // Prepare
    const { buckets } = bucketsAt(0, { maxEntries: 2 });
    buckets.take([events('a', 10)]);
    buckets.take([events('b', 10)]);

    // Act
    buckets.take([events('a', 0.5)]);
    buckets.take([events('c', 10)]);
    const b = buckets.take([events('b', 10)]);

    // Assess: b was forgotten (a new, full bucket); a was kept.
    expect(buckets.size()).toBe(2);
    expect(b).toEqual({ ok: true, waitMs: 0 });
  });
});
