import { afterEach, describe, expect, it, vi } from 'vitest';
import { AbortedError, type DeliveryConfig, TENANT_SETTINGS_TYPE } from '../../src/domain/index.js';
import { type Logger, silentLogger } from '../../src/logging/index.js';
import { parseNotification, type WorkItem } from '../../src/pipeline/notification.js';
import { DeadLetterReason, DestinationStatus, ItemResult, RATE_LIMITED_REASON } from '../../src/pipeline/processor.js';
import { createSqliteQuotaStore, openDatabase, type SqliteDatabase } from '../../src/stores/local/index.js';
import { type TenantQuotaStore, utcDay } from '../../src/stores/ports.js';
import { randomId } from '../helpers/factories.js';
import { MEMORY_KIND } from '../helpers/memory-sink.js';
import { metricValue } from '../helpers/metrics.js';
import {
  closeProcessorHarnesses, createProcessorHarness, EVENTS_AT_MS, newTenant, type ProcessorHarness, signal,
} from './processor-harness.js';

/** The processor's delayed-retry settings in these tests: 30 s first delay, 2 attempts. */
const DELAYED_RETRY = { initialDelayMs: 30_000, maxDelayMs: 900_000, maxAttempts: 2 };

interface HarnessOptions {
  readonly maxWaitMs?: number;
  /** The quota store; default one on the harness's database; `none`: the processor gets none. */
  readonly quotas?: ((db: SqliteDatabase) => TenantQuotaStore) | 'none';
  readonly logger?: Logger;
}

async function createHarness(options: HarnessOptions = {}): Promise<ProcessorHarness> {
  return createProcessorHarness({
    configTtlMs: 0,
    reportStatus: false,
    quotas: options.quotas === 'none' ? false : (options.quotas ?? true),
    rowDefaults: { enabled: true, desired_logs: [], groups: [] },
    processor: {
      delayedRetry: DELAYED_RETRY,
      ...(options.logger && { logger: options.logger }),
      ...(options.maxWaitMs !== undefined && { rateLimit: { maxWaitMs: options.maxWaitMs } }),
    },
  });
}

afterEach(async () => {
  vi.useRealTimers();
  await closeProcessorHarnesses();
});

/**
 * An object of `count` events of one pod (the same pod for one `pod` value); `second` orders
 * the keys of one pod (their names start with the creation time).
 */
async function putObject(h: ProcessorHarness, tenantId: string, count = 3, pod = `pod-${randomId()}`, second = 0) {
  return h.putObject(tenantId, count, { clusterId: 'cluster-1', podName: pod, createdAtMs: EVENTS_AT_MS + second * 1_000 });
}

async function putSettings(h: ProcessorHarness, tenantId: string, settings: Record<string, unknown>): Promise<void> {
  await h.configs.put({ tenant_id: tenantId, type: TENANT_SETTINGS_TYPE, ...settings } as unknown as DeliveryConfig);
}

/** The delayed retries now on the queue, visible after moving the clock past their delay. */
async function dueRetries(h: ProcessorHarness, afterMs: number): Promise<WorkItem[]> {
  const messages = await h.receiveDue(afterMs);
  for (const m of messages) await h.queue.delete(m.receiptHandle);
  return messages.map((m) => parseNotification(m.body).items[0]!);
}

/** Bytes one object of 3 events takes against a quota on the file destination (measured). */
async function bytesOfOneObject(): Promise<number> {
  const h = await createHarness();
  const tenant = newTenant();
  await h.putRows(tenant, [{ type: 'file' }]);
  await putSettings(h, tenant, { daily_byte_quota: 1_000_000_000 });
  const { key } = await putObject(h, tenant);
  await h.processItem({ key });
  return (await h.quotas!.add(tenant, utcDay(h.clock.nowMs), 0, 1_000_000_000)).used;
}

describe('createProcessor with rate limits', () => {
  it('hands work over the tenant rate limit to a delayed retry (rate_limited), counts it, and delivers it later', async () => {
    // Prepare: 1 event/s, a bucket of one second: the first object takes the bucket and leaves it 2 events in debt.
    const h = await createHarness();
    const a = newTenant();
    const b = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await h.putRows(b, [{ type: 'file' }]);
    await putSettings(h, a, { rate_limit: { events_per_second: 1 } });
    const first = await putObject(h, a);
    const second = await putObject(h, a);
    const other = await putObject(h, b);

    // Act
    const firstOutcome = await h.processItem({ key: first.key });
    const secondOutcome = await h.processItem({ key: second.key });
    const otherOutcome = await h.processItem({ key: other.key });
    const retries = await dueRetries(h, DELAYED_RETRY.initialDelayMs);

    // Assess: held back, not dropped: one delayed retry scoped to the destination, no attempt used.
    expect(firstOutcome.destinations).toEqual([{ type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 }]);
    expect(secondOutcome).toMatchObject({
      result: ItemResult.RETRY_SCHEDULED,
      destinations: [{ type: 'file', status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: RATE_LIMITED_REASON }],
    });
    expect(otherOutcome.destinations).toEqual([{ type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 }]);
    expect(retries).toEqual([expect.objectContaining({ key: second.key, destinations: ['file'], attempt: 0, delayed: true })]);
    expect(await metricValue(h.registry, 'tlr_rate_limited_total', { tenant: a, destination: 'file' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_rate_limited_total', { tenant: b })).toBe(0);
    expect(await h.deadLetters.list()).toEqual([]);

    // Act: the retry comes due once the bucket has refilled.
    const retried = await h.processItem(retries[0]!);

    // Assess: every record of A delivered once.
    expect(retried.result).toBe(ItemResult.COMPLETED);
    expect(await h.readOutput(a, 'file')).toEqual([...first.events, ...second.events]);
    expect(await h.readOutput(b, 'file')).toEqual(other.events);
  });

  it('delays a retry over the rate limit until the tokens are back when that is longer than the retry delay', async () => {
    // Prepare: 0.01 events/s, a bucket of 1 event: the first object's 3 events leave it 3 events (300 s) in debt.
    const h = await createHarness();
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await putSettings(h, a, { rate_limit: { events_per_second: 0.01, burst_seconds: 100 } });
    await h.processItem({ key: (await putObject(h, a)).key });
    const second = await putObject(h, a);

    // Act
    await h.processItem({ key: second.key });
    const atFirstDelay = await dueRetries(h, DELAYED_RETRY.initialDelayMs);
    const later = await dueRetries(h, 300_000 - DELAYED_RETRY.initialDelayMs);

    // Assess
    expect(atFirstDelay).toEqual([]);
    expect(later.map((i) => i.key)).toEqual([second.key]);
  });

  it('never dead-letters work as retries_exhausted for being over budget, whatever its attempt count', async () => {
    // Prepare: a delayed retry that already used every attempt arrives while the tenant is over budget.
    const h = await createHarness();
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await putSettings(h, a, { rate_limit: { events_per_second: 1 } });
    await h.processItem({ key: (await putObject(h, a)).key });
    const late = await putObject(h, a);
    const lastAttempt = DELAYED_RETRY.maxAttempts;

    // Act
    const outcome = await h.processItem({
      key: late.key,
      destinations: ['file'],
      attempt: lastAttempt,
      delayed: true,
      scheduledAtMs: h.clock.nowMs,
    });
    const retries = await dueRetries(h, DELAYED_RETRY.maxDelayMs);

    // Assess: retried again, with the attempt count unchanged.
    expect(outcome.destinations).toEqual([
      { type: 'file', status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: RATE_LIMITED_REASON },
    ]);
    expect(retries).toEqual([expect.objectContaining({ key: late.key, attempt: lastAttempt })]);
    expect(await h.deadLetters.list()).toEqual([]);
  });

  it('limits one destination by its own budget while the tenant\'s other destination delivers', async () => {
    // Prepare: 1 byte/s for file:slow only; its first batch is larger than its bucket and leaves it in debt.
    const h = await createHarness();
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }, { type: 'file:slow' }]);
    await putSettings(h, a, { destination_rate_limits: { 'file:slow': { bytes_per_second: 1 } } });
    const first = await putObject(h, a);
    const second = await putObject(h, a);

    // Act
    const firstOutcome = await h.processItem({ key: first.key });
    const secondOutcome = await h.processItem({ key: second.key });

    // Assess
    expect(firstOutcome.result).toBe(ItemResult.COMPLETED);
    expect(secondOutcome.destinations).toEqual([
      { type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 },
      { type: 'file:slow', status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: RATE_LIMITED_REASON },
    ]);
    expect(await h.readOutput(a, 'file')).toEqual([...first.events, ...second.events]);
    expect(await h.readOutput(a, 'file:slow')).toEqual(first.events);
    expect(await metricValue(h.registry, 'tlr_rate_limited_total', { tenant: a, destination: 'file:slow' })).toBe(1);
  });

  it('waits for tokens when the wait is short, then delivers without a delayed retry', async () => {
    // Prepare: 2 events/s; the second object needs 1.5 s of tokens, within the 5 s the processor waits.
    const h = await createHarness({ maxWaitMs: 5_000 });
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await putSettings(h, a, { rate_limit: { events_per_second: 2 } });
    await h.processItem({ key: (await putObject(h, a)).key });
    const second = await putObject(h, a);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });

    // Act
    const pending = h.processItem({ key: second.key });
    while (vi.getTimerCount() === 0) await new Promise((resolve) => setImmediate(resolve));
    vi.advanceTimersByTime(1_500);
    const outcome = await pending;

    // Assess
    expect(outcome.destinations).toEqual([{ type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 }]);
    expect(await metricValue(h.registry, 'tlr_rate_limit_waits_total', { tenant: a, destination: 'file' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_rate_limited_total', { tenant: a })).toBe(0);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0 });
  });

  it('gives the message back when it is aborted while waiting for tokens', async () => {
    // Prepare
    const h = await createHarness({ maxWaitMs: 60_000 });
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await putSettings(h, a, { rate_limit: { events_per_second: 1 } });
    await h.processItem({ key: (await putObject(h, a)).key });
    const second = await putObject(h, a);
    const controller = new AbortController();

    // Act
    const pending = h.processor.processItem({ key: second.key, attempt: 0 }, controller.signal);
    setImmediate(() => controller.abort());
    const error = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess: nothing settled: no checkpoint, no retry, no dead letter.
    expect(error).toBeInstanceOf(AbortedError);
    expect(await h.checkpoints.getMany(second.key, [`${a}/file`])).toEqual(new Map());
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0 });
    expect(await h.deadLetters.list()).toEqual([]);
  });

  it('ignores a rate limit written by hand with a bad value, and delivers', async () => {
    // Prepare
    const h = await createHarness();
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await putSettings(h, a, { rate_limit: { events_per_second: 'fast' }, destination_rate_limits: { file: { events_per_second: -1 } } });
    const objects = [await putObject(h, a), await putObject(h, a)];

    // Act
    const outcomes = [];
    for (const { key } of objects) outcomes.push(await h.processItem({ key }));

    // Assess
    expect(outcomes.map((o) => o.result)).toEqual([ItemResult.COMPLETED, ItemResult.COMPLETED]);
  });

  it('holds back the rest of a packed group over the rate limit without using an attempt', async () => {
    // Prepare: a destination that packs objects of one pod into batches of 3; 2 events/s, bucket of 1 s:
    // the first batch leaves the bucket 1 event in debt, so the second would wait 1.5 s.
    const h = await createHarness();
    const a = newTenant();
    await h.putRows(a, [{ type: MEMORY_KIND, packs: true, batch_events: 3 }]);
    await putSettings(h, a, { rate_limit: { events_per_second: 2 } });
    const pod = `pod-${randomId()}`;
    const objects = [await putObject(h, a, 3, pod, 0), await putObject(h, a, 3, pod, 1), await putObject(h, a, 3, pod, 2)];

    // Act
    const settled = await h.processor.processItems(
      objects.map((o) => ({ key: o.key, attempt: 0 })),
      signal(),
    );
    const retries = await dueRetries(h, DELAYED_RETRY.initialDelayMs);

    // Assess: the first object went through; the others wait for a retry each, attempt 0
    // (the third was never offered to the bucket: it is retried as not attempted).
    const outcomes = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(outcomes.map((o) => [o?.destinations[0]?.status, o?.destinations[0]?.reason])).toEqual([
      [DestinationStatus.DELIVERED, undefined],
      [DestinationStatus.RETRY_SCHEDULED, RATE_LIMITED_REASON],
      [DestinationStatus.RETRY_SCHEDULED, 'not_attempted'],
    ]);
    expect(retries.map((r) => [r.key, r.attempt]).sort()).toEqual(
      [
        [objects[1]!.key, 0],
        [objects[2]!.key, 0],
      ].sort(),
    );
  });
});

describe('createProcessor with a daily byte quota', () => {
  it('dead-letters work over the quota as quota_exceeded while work within it delivers, and resumes the next day', async () => {
    // Prepare: room for exactly one object on one destination today.
    const perObject = await bytesOfOneObject();
    const h = await createHarness();
    const a = newTenant();
    const b = newTenant();
    await h.putRows(a, [{ type: 'file' }, { type: 'file:copy' }]);
    await h.putRows(b, [{ type: 'file' }]);
    await putSettings(h, a, { daily_byte_quota: perObject });
    const first = await putObject(h, a);
    const other = await putObject(h, b);

    // Act
    const outcome = await h.processItem({ key: first.key });
    const otherOutcome = await h.processItem({ key: other.key });

    // Assess: the first destination took the day's quota; the second was dead-lettered with what a redrive needs.
    expect(outcome).toMatchObject({
      result: ItemResult.DEAD_LETTERED,
      destinations: [
        { type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 },
        { type: 'file:copy', status: DestinationStatus.DEAD_LETTERED, delivered: 0, reason: DeadLetterReason.QUOTA_EXCEEDED },
      ],
    });
    expect(otherOutcome.result).toBe(ItemResult.COMPLETED);
    const deadLetters = await h.deadLetters.list({ tenantId: a });
    expect(deadLetters).toEqual([
      expect.objectContaining({
        tenantId: a,
        destination: 'file:copy',
        objectKey: first.key,
        reason: 'quota_exceeded',
        offset: -1,
      }),
    ]);
    expect(deadLetters[0]!.message).toContain(`${perObject} of ${perObject} bytes on 2024-01-15 UTC`);
    expect(await metricValue(h.registry, 'tlr_quota_exceeded_total', { tenant: a, destination: 'file:copy' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_dead_letters_total', { reason: 'quota_exceeded' })).toBe(1);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0 });

    // Act: the next UTC day, the dead letter is redriven (a work item scoped to the destination).
    h.advance(86_400_000);
    const redriven = await h.processItem({ key: first.key, destinations: ['file:copy'] });

    // Assess
    expect(redriven.result).toBe(ItemResult.COMPLETED);
    expect(await h.readOutput(a, 'file:copy')).toEqual(first.events);
  });

  it('shares the quota between two processors on one database', async () => {
    // Prepare: room for one and a half objects today, two replicas.
    const perObject = await bytesOfOneObject();
    const h = await createHarness();
    const replica = h.replica();
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await putSettings(h, a, { daily_byte_quota: Math.floor(perObject * 1.5) });
    const first = await putObject(h, a);
    const second = await putObject(h, a);

    // Act
    const firstOutcome = await h.processItem({ key: first.key });
    const secondOutcome = await replica.processItem({ key: second.key, attempt: 0 }, signal());
    const used = await h.quotas!.add(a, utcDay(h.clock.nowMs), 0, perObject * 2);

    // Assess
    expect(firstOutcome.result).toBe(ItemResult.COMPLETED);
    expect(secondOutcome.destinations).toEqual([
      { type: 'file', status: DestinationStatus.DEAD_LETTERED, delivered: 0, reason: DeadLetterReason.QUOTA_EXCEEDED },
    ]);
    expect(used).toEqual({ allowed: true, used: perObject });
  });

  it('dead-letters the rest of a packed group once the quota is used up', async () => {
    // Prepare: memory batches of 3 events, each event's bytes counted; room for one object's batch.
    const h = await createHarness();
    const a = newTenant();
    await h.putRows(a, [{ type: MEMORY_KIND, packs: true, batch_events: 3 }]);
    const pod = `pod-${randomId()}`;
    const objects = [await putObject(h, a, 3, pod, 0), await putObject(h, a, 3, pod, 1), await putObject(h, a, 3, pod, 2)];
    const firstBytes = objects[0]!.events.reduce((sum, e) => sum + JSON.stringify(e).length, 0);
    await putSettings(h, a, { daily_byte_quota: firstBytes + 10 });

    // Act
    const settled = await h.processor.processItems(
      objects.map((o) => ({ key: o.key, attempt: 0 })),
      signal(),
    );

    // Assess
    const outcomes = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(outcomes.map((o) => o?.destinations[0]?.reason ?? o?.destinations[0]?.status)).toEqual([
      DestinationStatus.DELIVERED,
      DeadLetterReason.QUOTA_EXCEEDED,
      DeadLetterReason.QUOTA_EXCEEDED,
    ]);
    expect((await h.deadLetters.list({ tenantId: a })).map((d) => [d.objectKey, d.reason]).sort()).toEqual(
      [
        [objects[1]!.key, 'quota_exceeded'],
        [objects[2]!.key, 'quota_exceeded'],
      ].sort(),
    );
  });

  it('leaves the message on the queue, settling nothing, when the quota store fails', async () => {
    // Prepare: the quota store's database is closed.
    let quotaDb: SqliteDatabase | undefined;
    const h = await createHarness({
      quotas: () => {
        quotaDb = openDatabase(':memory:');
        return createSqliteQuotaStore(quotaDb);
      },
    });
    quotaDb!.close();
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await putSettings(h, a, { daily_byte_quota: 1_000_000 });
    const { key } = await putObject(h, a);

    // Act
    const error = await h.processItem({ key }).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).toMatch(/database connection is not open/);
    expect(await h.checkpoints.getMany(key, [`${a}/file`])).toEqual(new Map());
    expect(await h.deadLetters.list()).toEqual([]);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0 });
  });

  it('delivers, warning once per tenant, when the processor has no quota store', async () => {
    // Prepare
    const warn = vi.fn();
    const h = await createHarness({ quotas: 'none', logger: { ...silentLogger, warn } });
    const a = newTenant();
    await h.putRows(a, [{ type: 'file' }]);
    await putSettings(h, a, { daily_byte_quota: 1 });
    const objects = [await putObject(h, a), await putObject(h, a)];

    // Act
    const outcomes = [];
    for (const { key } of objects) outcomes.push(await h.processItem({ key }));

    // Assess
    expect(outcomes.map((o) => o.result)).toEqual([ItemResult.COMPLETED, ItemResult.COMPLETED]);
    expect(warn).toHaveBeenCalledExactlyOnceWith(
      'A tenant has a daily byte quota but this processor has no quota store; it is not enforced.',
      { tenant: a },
    );
  });
});
