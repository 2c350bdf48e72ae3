import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFairScheduler, type FairSchedulerOptions, type SchedulerTenant } from '../../src/delivery/fair-scheduler.js';
import { AbortedError, ConfigValidationError } from '../../src/domain/index.js';

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Catches a rejection at once (so none goes unhandled while the test goes on) and gives it back later. */
function outcomeOf<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/**
 * A scheduler whose work items wait until the test finishes them; records the order in which
 * they started and how many ran at once, in all and per tenant.
 */
function harness(options: Omit<FairSchedulerOptions, 'hooks'>) {
  const started: string[] = [];
  const running = new Map<string, () => void>();
  const failing = new Map<string, (error: Error) => void>();
  const peak = { all: 0, perTenant: new Map<SchedulerTenant, number>() };
  const now = { all: 0, perTenant: new Map<SchedulerTenant, number>() };
  const waitingSeen = new Map<SchedulerTenant, number>();
  const inFlightSeen: number[] = [];
  const parkedSeen: number[] = [];
  const scheduler = createFairScheduler({
    ...options,
    hooks: {
      onWaitingChange: (tenant, waiting) => waitingSeen.set(tenant, waiting),
      onInFlightChange: (inFlight) => inFlightSeen.push(inFlight),
      onParkedChange: (parked) => parkedSeen.push(parked),
    },
  });
  const submit = (tenant: SchedulerTenant, id: string, signal?: AbortSignal) =>
    scheduler.run(
      tenant,
      () =>
        new Promise<string>((resolve, reject) => {
          started.push(id);
          now.all++;
          now.perTenant.set(tenant, (now.perTenant.get(tenant) ?? 0) + 1);
          peak.all = Math.max(peak.all, now.all);
          peak.perTenant.set(tenant, Math.max(peak.perTenant.get(tenant) ?? 0, now.perTenant.get(tenant)!));
          const done = () => {
            now.all--;
            now.perTenant.set(tenant, now.perTenant.get(tenant)! - 1);
            running.delete(id);
            failing.delete(id);
          };
          running.set(id, () => {
            done();
            resolve(id);
          });
          failing.set(id, (error) => {
            done();
            reject(error);
          });
        }),
      signal,
    );
  /** Finishes the running item `id` and lets the scheduler start the next ones. */
  const finish = async (id: string) => {
    running.get(id)!();
    await settle();
  };
  return { scheduler, submit, started, running, failing, peak, finish, waitingSeen, inFlightSeen, parkedSeen };
}

describe('createFairScheduler', () => {
  it('runs a newly arrived tenant as soon as a slot frees, before the rest of a busy tenant\'s backlog', async () => {
    // Prepare
    const h = harness({ maxInFlight: 2, maxInFlightPerTenant: 2 });
    const all = Array.from({ length: 100 }, (_, i) => h.submit('team-a', `a${i}`));
    const b = h.submit('team-b', 'b0');
    await settle();
    const startedBefore = [...h.started];

    // Act
    await h.finish('a0');

    // Assess
    expect(startedBefore).toEqual(['a0', 'a1']);
    expect(h.started).toEqual(['a0', 'a1', 'b0']);
    await h.finish('b0');
    while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
    await Promise.all([...all, b]);
    expect(h.started).toHaveLength(101);
  });

  it('interleaves the backlogs of tenants waiting together, one item each in turn', async () => {
    // Prepare
    const h = harness({ maxInFlight: 1, maxInFlightPerTenant: 1 });
    const first = h.submit('team-a', 'a0');
    const rest = [
      ...['a1', 'a2', 'a3'].map((id) => h.submit('team-a', id)),
      ...['b0', 'b1', 'b2'].map((id) => h.submit('team-b', id)),
      ...['c0', 'c1'].map((id) => h.submit('team-c', id)),
    ];
    await settle();

    // Act
    while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
    await Promise.all([first, ...rest]);

    // Assess
    expect(h.started).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  });

  it('keeps items of one tenant in the order they were given', async () => {
    // Prepare
    const h = harness({ maxInFlight: 3, maxInFlightPerTenant: 1 });
    const items = Array.from({ length: 6 }, (_, i) => h.submit('team-a', `a${i}`));
    await settle();

    // Act
    while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
    await Promise.all(items);

    // Assess
    expect(h.started).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
  });

  it.each([
    { maxInFlight: 4, maxInFlightPerTenant: 2, tenants: 3, perTenant: 10 },
    { maxInFlight: 3, maxInFlightPerTenant: 3, tenants: 2, perTenant: 7 },
    { maxInFlight: 5, maxInFlightPerTenant: 1, tenants: 4, perTenant: 5 },
  ])(
    'never runs more than $maxInFlight in all nor $maxInFlightPerTenant per tenant',
    async ({ maxInFlight, maxInFlightPerTenant, tenants, perTenant }) => {
      // Prepare
      const h = harness({ maxInFlight, maxInFlightPerTenant });
      const items = [];
      for (let t = 0; t < tenants; t++) {
        for (let i = 0; i < perTenant; i++) items.push(h.submit(`team-${t}`, `${t}-${i}`));
      }
      await settle();

      // Act
      while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
      await Promise.all(items);

      // Assess
      expect(h.started).toHaveLength(tenants * perTenant);
      expect(h.peak.all).toBe(Math.min(maxInFlight, tenants * maxInFlightPerTenant));
      for (const peak of h.peak.perTenant.values()) expect(peak).toBe(Math.min(maxInFlightPerTenant, maxInFlight));
      expect(h.scheduler.inFlight()).toBe(0);
      expect(h.scheduler.waiting()).toBe(0);
    },
  );

  it('bounds work of no known tenant by the global limit only', async () => {
    // Prepare
    const h = harness({ maxInFlight: 3, maxInFlightPerTenant: 1 });
    const items = Array.from({ length: 3 }, (_, i) => h.submit(undefined, `x${i}`));
    await settle();

    // Act
    const startedAtOnce = h.started.length;
    while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
    await Promise.all(items);

    // Assess
    expect(startedAtOnce).toBe(3);
  });

  it('frees the slot of work that fails and passes its error on', async () => {
    // Prepare
    const h = harness({ maxInFlight: 1, maxInFlightPerTenant: 1 });
    const failure = new Error('The destination refused the batch.');
    const first = outcomeOf(h.submit('team-a', 'a0'));
    const second = h.submit('team-a', 'a1');
    await settle();

    // Act
    h.failing.get('a0')!(failure);
    await settle();
    const startedAfterFailure = [...h.started];
    await h.finish('a1');

    // Assess
    expect(await first).toEqual({ error: failure });
    await expect(second).resolves.toBe('a1');
    expect(startedAfterFailure).toEqual(['a0', 'a1']);
    expect(h.scheduler.inFlight()).toBe(0);
  });

  it('frees the slot of work that throws before returning a promise', async () => {
    // Prepare
    const scheduler = createFairScheduler({ maxInFlight: 1, maxInFlightPerTenant: 1 });
    const failure = new Error('Synchronous failure.');

    // Act
    const thrown = outcomeOf(
      scheduler.run('team-a', () => {
        throw failure;
      }),
    );
    const next = scheduler.run('team-a', async () => 'ran');

    // Assess
    expect(await thrown).toEqual({ error: failure });
    await expect(next).resolves.toBe('ran');
    expect(scheduler.inFlight()).toBe(0);
  });

  it('removes a waiting item whose signal aborts, rejecting it with AbortedError', async () => {
    // Prepare
    const h = harness({ maxInFlight: 1, maxInFlightPerTenant: 1 });
    const abort = new AbortController();
    const running = h.submit('team-a', 'a0');
    const aborted = outcomeOf(h.submit('team-a', 'a1', abort.signal));
    const after = h.submit('team-a', 'a2');
    await settle();

    // Act
    abort.abort();
    await settle();
    const waitingAfterAbort = h.scheduler.waiting();
    await h.finish('a0');
    await h.finish('a2');

    // Assess
    expect(await aborted).toEqual({ error: expect.any(AbortedError) });
    await expect(Promise.all([running, after])).resolves.toEqual(['a0', 'a2']);
    expect(waitingAfterAbort).toBe(1);
    expect(h.started).toEqual(['a0', 'a2']);
  });

  it('refuses at once work whose signal aborted already, and ignores an abort once work started', async () => {
    // Prepare
    const h = harness({ maxInFlight: 1, maxInFlightPerTenant: 1 });
    const early = new AbortController();
    early.abort();
    const late = new AbortController();

    // Act
    const refused = outcomeOf(h.submit('team-a', 'a0', early.signal));
    const started = h.submit('team-a', 'a1', late.signal);
    await settle();
    late.abort();
    await h.finish('a1');

    // Assess
    expect(await refused).toEqual({ error: expect.any(AbortedError) });
    await expect(started).resolves.toBe('a1');
    expect(h.started).toEqual(['a1']);
  });

  it('reports waiting items per tenant, down to 0 once a tenant has none, and the items in flight', async () => {
    // Prepare
    const h = harness({ maxInFlight: 1, maxInFlightPerTenant: 1 });
    const items = [h.submit('team-a', 'a0'), h.submit('team-a', 'a1'), h.submit('team-b', 'b0')];
    await settle();
    const waitingWhileBusy = new Map(h.waitingSeen);

    // Act
    while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
    await Promise.all(items);

    // Assess
    expect(waitingWhileBusy).toEqual(new Map([['team-a', 1], ['team-b', 1]]));
    expect(h.waitingSeen).toEqual(new Map([['team-a', 0], ['team-b', 0]]));
    expect(Math.max(...h.inFlightSeen)).toBe(1);
    expect(h.inFlightSeen.at(-1)).toBe(0);
  });

  it.each([
    { maxInFlight: 0, maxInFlightPerTenant: 1, field: 'maxInFlight' },
    { maxInFlight: 2, maxInFlightPerTenant: 1.5, field: 'maxInFlightPerTenant' },
    { maxInFlight: 2, maxInFlightPerTenant: 1, slowAfterMs: 0, field: 'slowAfterMs' },
    { maxInFlight: 2, maxInFlightPerTenant: 1, slowAfterMs: 10, maxParked: -1, field: 'maxParked' },
  ])('refuses $field that is not a whole number ≥ 1', ({ field, ...options }) => {
    // Act
    const build = () => createFairScheduler(options);

    // Assess
    expect(build).toThrow(ConfigValidationError);
    expect(build).toThrow(field);
  });
});

describe('createFairScheduler slow items', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('parks an item running past slowAfterMs: its shared slot goes to another tenant, its tenant slot stays taken', async () => {
    // Prepare: team-a's two items take both shared slots; team-b waits.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = harness({ maxInFlight: 2, maxInFlightPerTenant: 2, slowAfterMs: 1_000 });
    const a = [h.submit('team-a', 'a0'), h.submit('team-a', 'a1')];
    await settle();
    const b = [h.submit('team-b', 'b0'), h.submit('team-b', 'b1')];
    const a2 = h.submit('team-a', 'a2');
    await settle();
    const startedBeforeSlow = [...h.started];

    // Act
    vi.advanceTimersByTime(1_000);
    await settle();
    const startedAfterSlow = [...h.started];
    const counts = { parked: h.scheduler.parked(), inFlight: h.scheduler.inFlight() };
    await h.finish('a0');
    const afterParkedFinished = [...h.started];
    await h.finish('b0');

    // Assess
    expect(startedBeforeSlow).toEqual(['a0', 'a1']);
    expect(startedAfterSlow).toEqual(['a0', 'a1', 'b0', 'b1']);
    expect(counts).toEqual({ parked: 2, inFlight: 4 });
    // a2 waited for both: its tenant's slot (a0 finished) and a shared slot (b0 finished).
    expect(afterParkedFinished).toEqual(['a0', 'a1', 'b0', 'b1']);
    expect(h.started).toEqual(['a0', 'a1', 'b0', 'b1', 'a2']);
    expect(h.parkedSeen).toEqual([1, 2, 1]);
    while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
    await Promise.all([...a, ...b, a2]);
    expect(h.scheduler.parked()).toBe(0);
    expect(h.scheduler.inFlight()).toBe(0);
  });

  it('parks at most maxParked items; a slow item without room parks when a parked one finishes', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = harness({ maxInFlight: 1, maxInFlightPerTenant: 1, slowAfterMs: 1_000, maxParked: 1 });
    const items = [h.submit('team-a', 'a0'), h.submit('team-b', 'b0'), h.submit('team-c', 'c0')];
    await settle();

    // Act: a0 parks and b0 starts; b0 turns slow with no room to park, so c0 waits.
    vi.advanceTimersByTime(1_000);
    await settle();
    vi.advanceTimersByTime(1_000);
    await settle();
    const whileFull = [...h.started];
    await h.finish('a0');
    const afterRoom = [...h.started];

    // Assess
    expect(whileFull).toEqual(['a0', 'b0']);
    expect(afterRoom).toEqual(['a0', 'b0', 'c0']);
    expect(h.peak.all).toBe(2);
    while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
    await Promise.all(items);
    expect(h.scheduler.parked()).toBe(0);
  });

  it('never parks without slowAfterMs', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = harness({ maxInFlight: 1, maxInFlightPerTenant: 1 });
    const items = [h.submit('team-a', 'a0'), h.submit('team-b', 'b0')];
    await settle();

    // Act
    vi.advanceTimersByTime(3_600_000);
    await settle();

    // Assess
    expect(h.started).toEqual(['a0']);
    expect(h.scheduler.parked()).toBe(0);
    while (h.running.size > 0) await h.finish([...h.running.keys()][0]!);
    await Promise.all(items);
  });
});
