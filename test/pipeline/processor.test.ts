import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AbortedError, createApplicationFilter, destinationId, ObjectKeyError } from '../../src/domain/index.js';
import { encodeWorkItem, parseNotification, type WorkItem } from '../../src/pipeline/notification.js';
import { DeadLetterReason, DestinationStatus, ItemResult } from '../../src/pipeline/processor.js';
import {
  gzipObject,
  gzipObjectWithCorruptTail,
  logEventFactory,
  objectKeyFactory,
  objectKeyPartsFactory,
  randomId,
  s3EventFactory,
  s3TestEventFactory,
  snsEnvelopeFactory,
} from '../helpers/factories.js';
import { MEMORY_KIND } from '../helpers/memory-sink.js';
import { metricValue } from '../helpers/metrics.js';
import {
  closeProcessorHarnesses,
  createProcessorHarness,
  newTenant,
  type ProcessorHarness,
  signal,
} from './processor-harness.js';

afterEach(closeProcessorHarnesses);

function firstItem(key: string, overrides: Partial<WorkItem> = {}): WorkItem {
  return { key, attempt: 0, ...overrides };
}

describe('createProcessor', () => {
  it('delivers one object to every destination of its tenant whose filter accepts it', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [
      { type: 'file', desired_logs: ['kube-apiserver'] },
      { type: 'file:api-group', groups: ['api'] },
      { type: 'file:other', desired_logs: ['my-app'] },
    ]);
    const { key, events } = await h.putObject(tenant, 25);
    const body = JSON.stringify(snsEnvelopeFactory(s3EventFactory([key])));
    // Act
    const outcome = await h.processor.processMessage(body, signal());
    // Assess
    expect(outcome.items).toHaveLength(1);
    expect(outcome.items[0]).toMatchObject({
      key,
      tenantId: tenant,
      result: ItemResult.COMPLETED,
      destinations: [
        { type: 'file', status: DestinationStatus.DELIVERED, delivered: 25 },
        { type: 'file:api-group', status: DestinationStatus.DELIVERED, delivered: 25 },
      ],
      stats: { lines: 25, records: 25, skipped: {} },
    });
    expect(await h.readOutput(tenant, 'file')).toEqual(events);
    expect(await h.readOutput(tenant, 'file:api-group')).toEqual(events);
    expect(await h.readOutput(tenant, 'file:other')).toEqual([]);
    const ids = [`${tenant}/file`, `${tenant}/file:api-group`, `${tenant}/file:other`];
    const checkpoints = await h.checkpoints.getMany(key, ids);
    expect(Object.fromEntries(checkpoints)).toEqual({
      [ids[0]!]: { offset: 24, done: true },
      [ids[1]!]: { offset: 24, done: true },
    });
    expect(await metricValue(h.registry, 'tlr_events_delivered_total', { tenant, kind: 'file' })).toBe(50);
    expect(await metricValue(h.registry, 'tlr_objects_processed_total', { result: 'completed' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_notifications_total', { result: 'processed' })).toBe(1);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0 });
  });

  it('never delivers a record of one tenant to another tenant’s destination', async () => {
    const apps = ['kube-apiserver', 'oauth-openshift', 'my-app'] as const;
    const tenantSpec = fc.record({
      desired: fc.subarray([...apps]),
      groups: fc.subarray(['API', 'authentication']),
      objects: fc.array(fc.record({ app: fc.constantFrom(...apps), count: fc.integer({ min: 1, max: 4 }) }), {
        maxLength: 3,
      }),
    });
    return fc.assert(
      fc.asyncProperty(fc.array(tenantSpec, { minLength: 2, maxLength: 3 }), async (specs) => {
        // Prepare
        const h = await createProcessorHarness();
        const tenants = specs.map((spec) => ({ ...spec, id: newTenant() }));
        const keys: string[] = [];
        const expected = new Map<string, Record<string, unknown>[]>();
        for (const tenant of tenants) {
          await h.putRows(tenant.id, [
            { type: 'file', desired_logs: tenant.desired, groups: tenant.groups },
          ]);
          const accepts = createApplicationFilter({ desired_logs: tenant.desired, groups: tenant.groups });
          const mine: Record<string, unknown>[] = [];
          for (const { app, count } of tenant.objects) {
            const { key, events } = await h.putObject(tenant.id, count, { application: app });
            keys.push(key);
            if (accepts(app)) mine.push(...events);
          }
          expected.set(tenant.id, mine);
        }
        // Act
        await h.notify(keys);
        // Assess
        for (const tenant of tenants) {
          const written = await h.readOutput(tenant.id);
          expect(written.every((event) => event['namespace'] === tenant.id)).toBe(true);
          const sortKey = (e: Record<string, unknown>) =>
            `${e['pod_name']}/${String(e['seq']).padStart(3, '0')}`;
          expect(written.map(sortKey).sort()).toEqual(expected.get(tenant.id)!.map(sortKey).sort());
        }
      }),
      { numRuns: 6 },
    );
  });

  it('resumes after the checkpointed offset, writing only the records after it', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }]);
    const { key, events } = await h.putObject(tenant, 10);
    await h.checkpoints.save(key, `${tenant}/file`, { offset: 3, done: false });
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome.destinations).toEqual([
      { type: 'file', status: DestinationStatus.DELIVERED, delivered: 6 },
    ]);
    expect(await h.readOutput(tenant)).toEqual(events.slice(4));
    expect((await h.checkpoints.getMany(key, [`${tenant}/file`])).get(`${tenant}/file`)).toEqual({
      offset: 9,
      done: true,
    });
  });

  it('writes nothing for a destination whose checkpoint says done', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }]);
    const { key } = await h.putObject(tenant, 10);
    await h.checkpoints.save(key, `${tenant}/file`, { offset: 9, done: true });
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome).toMatchObject({
      result: ItemResult.COMPLETED,
      destinations: [{ type: 'file', status: DestinationStatus.ALREADY_DONE, delivered: 0 }],
    });
    expect(await h.readOutput(tenant)).toEqual([]);
  });

  it('delivers again under a replay id even though the first delivery is done', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }]);
    const { key, events } = await h.putObject(tenant, 5);
    await h.processItem({ key });
    // Act
    const replay = await h.processor.processMessage(
      encodeWorkItem(firstItem(key, { replayId: 'r-1' })),
      signal(),
    );
    const again = await h.processor.processItem(firstItem(key, { replayId: 'r-1' }), signal());
    // Assess
    expect(replay.items[0]!.destinations).toEqual([
      { type: 'file', status: DestinationStatus.DELIVERED, delivered: 5 },
    ]);
    expect(again.destinations[0]!.status).toBe(DestinationStatus.ALREADY_DONE);
    expect(await h.readOutput(tenant)).toEqual([...events, ...events]);
  });

  it('schedules a delayed retry for only the failing destination while the other completes', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [
      { type: 'file' },
      { type: MEMORY_KIND, behaviour: 'retryable', fail_reason: 'http_503' },
    ]);
    const { key, events } = await h.putObject(tenant, 8);
    // Act
    const outcome = await h.notify([key]);
    // Assess
    expect(outcome.items[0]).toMatchObject({
      result: ItemResult.RETRY_SCHEDULED,
      destinations: [
        { type: 'file', status: DestinationStatus.DELIVERED, delivered: 8 },
        { type: MEMORY_KIND, status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: 'http_503' },
      ],
    });
    expect(await h.readOutput(tenant)).toEqual(events);
    const ids = [`${tenant}/file`, `${tenant}/${MEMORY_KIND}`];
    expect(Object.fromEntries(await h.checkpoints.getMany(key, ids))).toEqual({
      [ids[0]!]: { offset: 7, done: true },
    });
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 1 });
    const early = await h.receiveDue(29_999);
    const [retry] = await h.receiveDue(1);
    expect(early).toEqual([]);
    expect(parseNotification(retry!.body).items).toEqual([
      {
        key,
        bucket: expect.any(String),
        destinations: [MEMORY_KIND],
        attempt: 1,
        delayed: true,
        scheduledAtMs: h.clock.nowMs - 30_000,
      },
    ]);
    expect(await metricValue(h.registry, 'tlr_delayed_retries_total', { tenant, kind: MEMORY_KIND })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_dead_letters_total')).toBe(0);
  });

  it('reports each destination: last success with its lag, last error, and delayed retries pending until they come due', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [
      { type: 'file' },
      { type: MEMORY_KIND, behaviour: 'retryable', fail_reason: 'http_503' },
    ]);
    const { key } = await h.putObject(tenant, 5);
    const createdAtMs = (await h.objects.head(key))!.lastModifiedMs;
    // Act
    await h.notify([key]);
    await h.status.flush();
    const afterFirst = await h.statusStore.listTenant(tenant);
    const [retry] = await h.receiveDue(30_000);
    await h.putRows(tenant, [{ type: MEMORY_KIND }]);
    h.resolver.invalidate(tenant);
    h.advance(10_000);
    await h.processor.processMessage(retry!.body, signal());
    await h.status.flush();
    const afterRetry = await h.statusStore.listTenant(tenant);
    // Assess
    expect(afterFirst).toEqual([
      expect.objectContaining({ type: 'file', lastSuccessAtMs: Date.parse('2024-01-15T11:00:00.000Z'), pendingRetries: 0 }),
      expect.objectContaining({
        type: MEMORY_KIND,
        lastError: expect.objectContaining({ code: 'http_503' }),
        pendingRetries: 1,
      }),
    ]);
    expect(afterFirst[0]!.lagMs).toBe(Math.max(0, Date.parse('2024-01-15T11:00:00.000Z') - createdAtMs));
    expect(afterFirst[1]!.lastSuccessAtMs).toBeUndefined();
    expect(afterRetry.find((r) => r.type === MEMORY_KIND)).toMatchObject({
      pendingRetries: 0,
      lastSuccessAtMs: h.clock.nowMs,
      lastError: { code: 'http_503' },
    });
  });

  it('drops a delayed retry for a destination whose config was created after it was scheduled (re-onboarded tenant)', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: MEMORY_KIND, behaviour: 'retryable', fail_reason: 'http_503' }]);
    const { key } = await h.putObject(tenant, 4);
    await h.notify([key]);
    const [retry] = await h.receiveDue(30_000);
    await h.configs.delete(tenant, MEMORY_KIND);
    await h.putRows(tenant, [{ type: MEMORY_KIND, created_at: new Date(h.clock.nowMs).toISOString() }]);
    h.resolver.invalidate(tenant);
    // Act
    const outcome = await h.processor.processMessage(retry!.body, signal());
    await h.status.flush();
    // Assess
    expect(outcome.items[0]).toMatchObject({ destinations: [], skippedReason: 'no_matching_destination' });
    expect(h.memory.built.flatMap((sink) => sink.accepted)).toEqual([]);
    expect(await h.statusStore.listTenant(tenant)).toEqual([expect.objectContaining({ type: MEMORY_KIND, pendingRetries: 0 })]);
  });

  it('reports a dead-lettered destination with the dead letter reason as its last error', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: MEMORY_KIND, behaviour: 'permanent', fail_reason: 'access_denied' }]);
    const { key } = await h.putObject(tenant, 3);
    // Act
    await h.notify([key]);
    await h.status.flush();
    // Assess
    expect(await h.statusStore.listTenant(tenant)).toEqual([
      expect.objectContaining({
        type: MEMORY_KIND,
        pendingRetries: 0,
        lastError: { code: 'access_denied', message: expect.stringContaining('access_denied'), atMs: h.clock.nowMs },
      }),
    ]);
  });

  it('resumes a delayed retry after the records the failing destination had accepted', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [
      { type: 'file' },
      { type: MEMORY_KIND, behaviour: 'retryable', accept_batches: 1, batch_events: 3 },
    ]);
    const { key, events } = await h.putObject(tenant, 10);
    await h.processItem({ key });
    const [retry] = await h.receiveDue(30_000, 1);
    await h.putRows(tenant, [{ type: MEMORY_KIND, batch_events: 3 }]);
    // Act
    const outcome = await h.processor.processMessage(retry!.body, signal());
    // Assess
    expect(outcome.items[0]!.destinations).toEqual([
      { type: MEMORY_KIND, status: DestinationStatus.DELIVERED, delivered: 7 },
    ]);
    const [failing, recovered] = h.memory.built;
    expect(failing!.accepted.map((r) => r.offset)).toEqual([0, 1, 2]);
    expect(recovered!.accepted.map((r) => r.offset)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(recovered!.accepted.map((r) => r.event)).toEqual(events.slice(3));
    await new Promise((r) => setTimeout(r, 20));
    expect(failing!.closed).toBe(true);
    expect(await h.readOutput(tenant)).toEqual(events);
  });

  it('dead-letters with retries_exhausted once the delayed retries are used up', async () => {
    // Prepare
    const h = await createProcessorHarness({
      processor: { delayedRetry: { initialDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 3 } },
    });
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: MEMORY_KIND, behaviour: 'retryable', fail_reason: 'throttled' }]);
    const { key } = await h.putObject(tenant, 4);
    // Act
    const outcome = await h.processItem({ key, attempt: 3, destinations: [MEMORY_KIND] });
    // Assess
    expect(outcome).toMatchObject({
      result: ItemResult.DEAD_LETTERED,
      destinations: [
        { type: MEMORY_KIND, status: DestinationStatus.DEAD_LETTERED, reason: 'retries_exhausted' },
      ],
    });
    const [letter] = await h.deadLetters.list();
    expect(letter).toMatchObject({
      tenantId: tenant,
      destination: MEMORY_KIND,
      objectKey: key,
      reason: DeadLetterReason.RETRIES_EXHAUSTED,
      attempts: 4,
      offset: -1,
    });
    expect(letter!.message).toMatch(/^Gave up after 4 deliveries; last error \(throttled\): /);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0 });
    expect(await metricValue(h.registry, 'tlr_dead_letters_total', { reason: 'retries_exhausted' })).toBe(1);
  });

  it('dead-letters a permanent failure at once with the sink’s reason', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [
      { type: 'file' },
      { type: MEMORY_KIND, behaviour: 'permanent', fail_reason: 'access_denied' },
    ]);
    const { key, events } = await h.putObject(tenant, 3);
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome.result).toBe(ItemResult.DEAD_LETTERED);
    expect(await h.deadLetters.list()).toEqual([
      expect.objectContaining({
        tenantId: tenant,
        destination: MEMORY_KIND,
        objectKey: key,
        reason: 'access_denied',
        message: 'The memory destination refused the batch (access_denied).',
        attempts: 1,
      }),
    ]);
    expect(await h.readOutput(tenant)).toEqual(events);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0 });
    expect(await metricValue(h.registry, 'tlr_dead_letters_total', { reason: 'access_denied' })).toBe(1);
    expect(
      await metricValue(h.registry, 'tlr_deliveries_total', { tenant, kind: MEMORY_KIND, result: 'failed' }),
    ).toBe(1);
  });

  it.each([
    { case: 'has 4 segments', key: 'cluster-1/team-a/api/20240115-103000-u.json.gz', tenantId: 'team-a' },
    { case: 'has an empty namespace', key: 'cluster-1//api/pod-1/20240115-103000-u.json.gz', tenantId: '' },
    { case: 'has an empty file name', key: 'cluster-1/team-a/api/pod-1/', tenantId: 'team-a' },
  ])('dead-letters an object whose key $case as invalid_object_key', async ({ key, tenantId }) => {
    // Prepare
    const h = await createProcessorHarness();
    // Act
    const outcome = await h.notify([key]);
    // Assess
    expect(outcome.items).toEqual([{ key, result: ItemResult.DEAD_LETTERED, destinations: [] }]);
    const [letter] = await h.deadLetters.list();
    expect(letter).toMatchObject({
      tenantId,
      destination: '*',
      objectKey: key,
      reason: DeadLetterReason.INVALID_OBJECT_KEY,
      offset: -1,
    });
    expect(letter!.message).toMatch(new RegExp(`^Object key '${key}' has `));
    expect(await metricValue(h.registry, 'tlr_dead_letters_total', { reason: 'invalid_object_key' })).toBe(1);
  });

  it('skips a key of the router’s own (first segment starting with _)', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const key = '_analytics/2024/01/15/summary.json';
    // Act
    const outcome = await h.notify([key]);
    // Assess
    expect(outcome.items).toEqual([
      { key, result: ItemResult.SKIPPED, destinations: [], skippedReason: 'internal_key' },
    ]);
    expect(await h.deadLetters.list()).toEqual([]);
  });

  it.each([
    {
      case: 'a corrupt gzip stream',
      body: gzipObjectWithCorruptTail,
      message: /^The object's gzip stream is corrupt or truncated \(Z_DATA_ERROR: /,
    },
    {
      case: 'a truncated object',
      body: (events: Record<string, unknown>[]) => {
        const whole = gzipObject(events);
        return whole.subarray(0, Math.floor(whole.length * 0.6));
      },
      message: /^The object's gzip stream is corrupt or truncated \(Z_BUF_ERROR: /,
    },
  ])(
    'delivers the records before the damage of $case, then dead-letters it as corrupt_object',
    async ({ body, message }) => {
      // Prepare
      const h = await createProcessorHarness();
      const tenant = newTenant();
      await h.putRows(tenant, [{ type: 'file' }]);
      const { key, events } = await h.putObject(tenant, 1_500, { application: 'kube-apiserver', body });
      // Act
      const outcome = await h.processItem({ key });
      // Assess
      const written = await h.readOutput(tenant);
      expect(written.length).toBeGreaterThan(100);
      expect(written).toEqual(events.slice(0, written.length));
      expect(outcome.destinations).toEqual([
        {
          type: 'file',
          status: DestinationStatus.DEAD_LETTERED,
          delivered: written.length,
          reason: DeadLetterReason.CORRUPT_OBJECT,
        },
      ]);
      const [letter] = await h.deadLetters.list();
      expect(letter).toMatchObject({ reason: DeadLetterReason.CORRUPT_OBJECT, offset: written.length - 1 });
      expect(letter!.message).toMatch(message);
      expect((await h.checkpoints.getMany(key, [`${tenant}/file`])).get(`${tenant}/file`)).toEqual({
        offset: written.length - 1,
        done: false,
      });
    },
  );

  it('dead-letters every matching destination of a missing object as object_not_found', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }, { type: MEMORY_KIND }]);
    const key = objectKeyFactory({ namespace: tenant });
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome.result).toBe(ItemResult.DEAD_LETTERED);
    const letters = await h.deadLetters.list();
    expect(letters.map((l) => [l.destination, l.reason, l.message]).sort()).toEqual([
      ['file', 'object_not_found', `Object '${key}' does not exist.`],
      [MEMORY_KIND, 'object_not_found', `Object '${key}' does not exist.`],
    ]);
  });

  it('schedules a delayed retry when the object store fails to serve the object', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }]);
    const { key } = await h.putObject(tenant, 3);
    vi.spyOn(h.objects, 'get').mockRejectedValueOnce(Object.assign(new Error('i/o error'), { code: 'EIO' }));
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome.destinations).toEqual([
      { type: 'file', status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: 'object_read_failed' },
    ]);
    expect(await h.queue.stats()).toMatchObject({ delayed: 1 });
    expect(await h.deadLetters.list()).toEqual([]);
  });

  it('dead-letters at once as invalid_object_key when the store cannot hold the key', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }]);
    const { key } = await h.putObject(tenant, 3);
    vi.spyOn(h.objects, 'get').mockRejectedValueOnce(new ObjectKeyError('clashes with an existing object', key));
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome.destinations).toEqual([
      { type: 'file', status: DestinationStatus.DEAD_LETTERED, delivered: 0, reason: 'invalid_object_key' },
    ]);
    expect(await h.queue.stats()).toMatchObject({ delayed: 0 });
  });

  it('schedules a delayed retry with reason unexpected_sink_error when a sink throws something other than a DeliveryError', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'memory', behaviour: 'throw' }]);
    const { key } = await h.putObject(tenant, 3);
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome.destinations).toEqual([
      {
        type: 'memory',
        status: DestinationStatus.RETRY_SCHEDULED,
        delivered: 0,
        reason: 'unexpected_sink_error',
      },
    ]);
    expect(await h.queue.stats()).toMatchObject({ delayed: 1 });
  });

  it('rejects, scheduling nothing, when the checkpoint store cannot save progress', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'memory' }]);
    const { key } = await h.putObject(tenant, 3);
    const failure = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    vi.spyOn(h.checkpoints, 'save').mockRejectedValue(failure);
    // Act
    const result = h.processItem({ key });
    // Assess
    await expect(result).rejects.toBe(failure);
    expect(await h.queue.stats()).toMatchObject({ delayed: 0, visible: 0 });
    expect(await h.deadLetters.list()).toEqual([]);
  });

  it('dead-letters an invalid config row as invalid_config while the tenant’s other row delivers', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }, { type: 'file:bad', directory: '' }]);
    const { key, events } = await h.putObject(tenant, 4);
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome).toMatchObject({
      result: ItemResult.DEAD_LETTERED,
      destinations: [
        {
          type: 'file:bad',
          status: DestinationStatus.DEAD_LETTERED,
          reason: DeadLetterReason.INVALID_CONFIG,
        },
        { type: 'file', status: DestinationStatus.DELIVERED, delivered: 4 },
      ],
    });
    expect(await h.readOutput(tenant)).toEqual(events);
    expect(await h.deadLetters.list()).toEqual([
      expect.objectContaining({
        tenantId: tenant,
        destination: 'file:bad',
        objectKey: key,
        reason: DeadLetterReason.INVALID_CONFIG,
        message: "Invalid delivery config: 'directory' must be a non-empty directory path.",
      }),
    ]);
  });

  it.each([
    { case: 'that is not JSON', body: 'not json at all', excerpt: 'not json at all' },
    {
      case: 'that is too long to keep whole',
      body: `{"x":"${'y'.repeat(5_000)}`,
      excerpt: `{"x":"${'y'.repeat(2_042)}`,
    },
  ])('dead-letters a body $case as invalid_notification with an excerpt of it', async ({ body, excerpt }) => {
    // Prepare
    const h = await createProcessorHarness();
    // Act
    const outcome = await h.processor.processMessage(body, signal());
    // Assess
    expect(outcome).toEqual({ items: [], invalid: 'Message body is not valid JSON.' });
    expect(await h.deadLetters.list()).toEqual([
      expect.objectContaining({
        tenantId: '',
        destination: '*',
        objectKey: '',
        reason: DeadLetterReason.INVALID_NOTIFICATION,
        message: `Message body is not valid JSON. Body: ${excerpt}`,
      }),
    ]);
    expect(await metricValue(h.registry, 'tlr_notifications_total', { result: 'invalid' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_dead_letters_total', { reason: 'invalid_notification' })).toBe(
      1,
    );
  });

  it('does nothing for the s3:TestEvent', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const body = JSON.stringify(snsEnvelopeFactory(s3TestEventFactory()));
    // Act
    const outcome = await h.processor.processMessage(body, signal());
    // Assess
    expect(outcome).toEqual({ items: [] });
    expect(await h.deadLetters.list()).toEqual([]);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0 });
    expect(await metricValue(h.registry, 'tlr_notifications_total', { result: 'test_event' })).toBe(1);
  });

  it.each([
    { case: 'no config rows', rows: [] },
    { case: 'only a disabled row', rows: [{ type: 'file', enabled: false }] },
    {
      case: 'only a row whose ttl has passed',
      rows: [{ type: 'file', ttl: Date.parse('2024-01-15T10:59:59Z') / 1_000 }],
    },
    { case: 'only a row for other applications', rows: [{ type: 'file', desired_logs: ['my-app'] }] },
  ])('skips an object whose tenant has $case', async ({ rows }) => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, rows);
    const { key } = await h.putObject(tenant, 2);
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome).toEqual({
      key,
      tenantId: tenant,
      result: ItemResult.SKIPPED,
      destinations: [],
      skippedReason: 'no_matching_destination',
    });
    expect(await h.readOutput(tenant)).toEqual([]);
  });

  it('counts the lines it skips by reason and delivers the others', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }]);
    const good = [logEventFactory({ namespace: tenant }), logEventFactory({ namespace: tenant })];
    const { key } = await h.putObject(tenant, 0, {
      application: 'kube-apiserver',
      body: () => gzipObject([good[0]!, '', 'garbage', '17', good[1]!]),
    });
    // Act
    const outcome = await h.processItem({ key });
    // Assess
    expect(outcome.stats).toMatchObject({ lines: 5, records: 2 });
    expect(await h.readOutput(tenant)).toEqual(good);
    expect(await metricValue(h.registry, 'tlr_lines_skipped_total', { reason: 'blank' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_lines_skipped_total', { reason: 'invalid_json' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_lines_skipped_total', { reason: 'not_an_object' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_events_read_total')).toBe(2);
  });

  it('throws AbortedError when aborted mid-delivery, acknowledging nothing', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }, { type: MEMORY_KIND, behaviour: 'hang' }]);
    const { key } = await h.putObject(tenant, 20);
    const controller = new AbortController();
    const sendStarted = h.memory.nextSend();
    const processing = h.notify([key], controller.signal).catch((error: unknown) => error);
    await sendStarted;
    // Act
    controller.abort();
    const error = await processing;
    // Assess
    expect(error).toBeInstanceOf(AbortedError);
    // The file destination's batch was under way: it settled before the processor gave up.
    const ids = [`${tenant}/file`, `${tenant}/${MEMORY_KIND}`];
    const checkpoints = Object.fromEntries(await h.checkpoints.getMany(key, ids));
    expect(checkpoints).toEqual({ [ids[0]!]: { offset: 19, done: false } });
    expect(await h.readOutput(tenant)).toHaveLength(20);
    expect(await h.deadLetters.list()).toEqual([]);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 0, inFlight: 0 });
  });

  it('throws AbortedError before any work when the signal is already aborted', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file' }]);
    const { key } = await h.putObject(tenant, 2);
    // Act
    const error = await h.processItem({ key }, AbortSignal.abort()).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(AbortedError);
    expect(await h.readOutput(tenant)).toEqual([]);
  });

  it('keeps a destination’s checkpoint under its tenant/type id', async () => {
    // Prepare
    const h = await createProcessorHarness();
    const tenant = newTenant();
    await h.putRows(tenant, [{ type: 'file:archive' }]);
    const { key } = await h.putObject(tenant, 1);
    // Act
    await h.processItem({ key });
    // Assess
    const id = destinationId({ tenant_id: tenant, type: 'file:archive' });
    expect(id).toBe(`${tenant}/file:archive`);
    expect((await h.checkpoints.getMany(key, [id])).get(id)).toEqual({ offset: 0, done: true });
  });

  describe('packing consecutive objects of one pod', () => {
    /** Objects of one pod with increasing file names (time order), 4 records each. */
    async function putPodObjects(h: ProcessorHarness, tenant: string, count: number) {
      const parts = objectKeyPartsFactory({ namespace: tenant, application: 'kube-apiserver' });
      const objects: { key: string; events: Record<string, unknown>[] }[] = [];
      for (let n = 0; n < count; n++) {
        const key = `${parts.clusterId}/${tenant}/kube-apiserver/${parts.podName}/20240115-10300${n}-${randomId()}.json.gz`;
        const events = Array.from({ length: 4 }, (_, i) =>
          logEventFactory({ seq: n * 4 + i, namespace: tenant, timestamp: new Date(Date.parse('2024-01-15T10:30:00Z') + n * 4 + i).toISOString() }),
        );
        await h.objects.put(key, gzipObject(events));
        objects.push({ key, events });
      }
      return objects;
    }

    it('fills shared requests across objects and completes every object', async () => {
      // Prepare
      const h = await createProcessorHarness();
      const tenant = newTenant();
      await h.putRows(tenant, [{ type: MEMORY_KIND, packs: true, batch_events: 10 }]);
      const objects = await putPodObjects(h, tenant, 3);

      // Act
      const results = await h.processor.processItems(objects.map((o) => firstItem(o.key)), signal());

      // Assess
      const [sink] = h.memory.built;
      expect(sink!.sends).toBe(2);
      expect(sink!.accepted.map((r) => r.event)).toEqual(objects.flatMap((o) => o.events));
      expect(results.map((r) => r.status === 'fulfilled' && r.value.destinations)).toEqual(
        objects.map(() => [{ type: MEMORY_KIND, status: DestinationStatus.DELIVERED, delivered: 4 }]),
      );
      for (const o of objects) {
        const checkpoint = (await h.checkpoints.getMany(o.key, [`${tenant}/${MEMORY_KIND}`])).get(`${tenant}/${MEMORY_KIND}`);
        expect(checkpoint).toEqual({ offset: 3, done: true });
      }
    });

    it('completes the objects before a failed shared request and retries the rest, resuming without repeats', async () => {
      // Prepare
      const h = await createProcessorHarness();
      const tenant = newTenant();
      await h.putRows(tenant, [{ type: MEMORY_KIND, packs: true, batch_events: 5, behaviour: 'retryable', accept_batches: 1 }]);
      const objects = await putPodObjects(h, tenant, 3);

      // Act
      const first = await h.processor.processItems(objects.map((o) => firstItem(o.key)), signal());
      const retries = await h.receiveDue(60_000);
      await h.putRows(tenant, [{ type: MEMORY_KIND, packs: true, batch_events: 5 }]);
      const second = await h.processor.processMessages(retries.map((m) => m.body), signal());

      // Assess
      const statuses = first.map((r) => r.status === 'fulfilled' && r.value.destinations[0]!.status);
      expect(statuses).toEqual([
        DestinationStatus.DELIVERED,
        DestinationStatus.RETRY_SCHEDULED,
        DestinationStatus.RETRY_SCHEDULED,
      ]);
      expect(retries).toHaveLength(2);
      expect(second.every((r) => r.status === 'fulfilled')).toBe(true);
      const [failing, recovered] = h.memory.built;
      const delivered = [...failing!.accepted, ...recovered!.accepted].map((r) => r.event);
      expect(delivered).toEqual(objects.flatMap((o) => o.events));
    });

    it('delivers an object named twice in one batch once; the copy finds it done', async () => {
      // Prepare
      const h = await createProcessorHarness();
      const tenant = newTenant();
      await h.putRows(tenant, [{ type: MEMORY_KIND, packs: true }]);
      const [a, b] = await putPodObjects(h, tenant, 2);

      // Act
      const results = await h.processor.processItems([firstItem(a!.key), firstItem(a!.key), firstItem(b!.key)], signal());

      // Assess
      expect(h.memory.built[0]!.accepted.map((r) => r.event)).toEqual([...a!.events, ...b!.events]);
      const statuses = results.map((r) => r.status === 'fulfilled' && r.value.destinations[0]!.status);
      expect(statuses).toEqual([DestinationStatus.DELIVERED, DestinationStatus.ALREADY_DONE, DestinationStatus.DELIVERED]);
    });

    it('dead-letters only the objects of a permanently failed batch; later objects are retried without using an attempt', async () => {
      // Prepare
      const h = await createProcessorHarness();
      const tenant = newTenant();
      await h.putRows(tenant, [{ type: MEMORY_KIND, packs: true, batch_events: 4, behaviour: 'permanent' }]);
      const objects = await putPodObjects(h, tenant, 3);

      // Act
      const results = await h.processor.processItems(objects.map((o) => firstItem(o.key)), signal());
      const retries = await h.receiveDue(60_000);

      // Assess
      const statuses = results.map((r) => r.status === 'fulfilled' && r.value.destinations[0]!.status);
      expect(statuses).toEqual([
        DestinationStatus.DEAD_LETTERED,
        DestinationStatus.RETRY_SCHEDULED,
        DestinationStatus.RETRY_SCHEDULED,
      ]);
      expect((await h.deadLetters.list()).map((d) => d.objectKey)).toEqual([objects[0]!.key]);
      expect(retries.map((m) => (JSON.parse(m.body) as { attempt: number }).attempt)).toEqual([0, 0]);
    });

    it('settles each object of a group on its own when settling one fails', async () => {
      // Prepare
      const h = await createProcessorHarness();
      const tenant = newTenant();
      await h.putRows(tenant, [{ type: MEMORY_KIND, packs: true, batch_events: 2, behaviour: 'retryable' }]);
      const objects = await putPodObjects(h, tenant, 3);
      const send = h.queue.send.bind(h.queue);
      let sends = 0;
      vi.spyOn(h.queue, 'send').mockImplementation(async (body, options) => {
        sends++;
        if (sends === 2) throw new Error('queue unreachable');
        return send(body, options);
      });

      // Act
      const results = await h.processor.processItems(objects.map((o) => firstItem(o.key)), signal());

      // Assess
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    });

    it('delivers object by object when a matching destination does not pack', async () => {
      // Prepare
      const h = await createProcessorHarness();
      const tenant = newTenant();
      await h.putRows(tenant, [{ type: MEMORY_KIND, batch_events: 10 }, { type: 'file' }]);
      const objects = await putPodObjects(h, tenant, 3);

      // Act
      const results = await h.processor.processItems(objects.map((o) => firstItem(o.key)), signal());

      // Assess
      expect(h.memory.built[0]!.sends).toBe(3);
      expect(results.every((r) => r.status === 'fulfilled' && r.value.result === 'completed')).toBe(true);
      expect(await h.readOutput(tenant)).toEqual(objects.flatMap((o) => o.events));
    });

    it('settles each message of a batch on its own: an invalid body is dead-lettered, the others delivered', async () => {
      // Prepare
      const h = await createProcessorHarness();
      const tenant = newTenant();
      await h.putRows(tenant, [{ type: MEMORY_KIND, packs: true }]);
      const objects = await putPodObjects(h, tenant, 2);
      const bodies = [...objects.map((o) => JSON.stringify({ v: 1, key: o.key, attempt: 0 })), 'not json'];

      // Act
      const results = await h.processor.processMessages(bodies, signal());

      // Assess
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      expect(results[2]!.status === 'fulfilled' && results[2]!.value.invalid).toMatch(/not valid JSON/);
      expect(h.memory.built[0]!.sends).toBe(1);
      expect((await h.deadLetters.list()).map((d) => d.reason)).toEqual(['invalid_notification']);
    });
  });
});
