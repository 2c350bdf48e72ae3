import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateCircuitBreakerConfig } from '../../src/delivery/index.js';
import { parseNotification } from '../../src/pipeline/notification.js';
import { CIRCUIT_OPEN_REASON, DeadLetterReason, DestinationStatus, ItemResult } from '../../src/pipeline/processor.js';
import { fileSinkDefinition, filePathFor } from '../../src/sinks/file/index.js';
import type { SinkDefinition } from '../../src/sinks/types.js';
import { gzipObject, logEventFactory, objectKeyPartsFactory, randomId, s3EventFactory } from '../helpers/factories.js';
import { MEMORY_KIND } from '../helpers/memory-sink.js';
import { metricValue } from '../helpers/metrics.js';
import {
  APP, closeProcessorHarnesses, createProcessorHarness, EVENTS_AT_MS, newTenant, type ProcessorHarness, signal,
} from './processor-harness.js';

const COOL_DOWN_MS = 60_000;
/** The failing destination: a `file` destination of tenant A whose output file cannot be opened. */
const DOWN = 'file:down';

const servers: Server[] = [];

/** The file sink as it is, counting the `send` calls that reach it. */
function countingFileSinks(sends: Map<string, number>): SinkDefinition {
  return {
    ...fileSinkDefinition,
    create: (config, deps) => {
      const sink = fileSinkDefinition.create(config, deps);
      const id = `${config.tenant_id}/${config.type}`;
      return {
        ...sink,
        send: (batch, signal) => {
          sends.set(id, (sends.get(id) ?? 0) + 1);
          return sink.send(batch, signal);
        },
      };
    },
  };
}

type Harness = ProcessorHarness & {
  /** `send` calls reaching each real file sink, by `<tenant>/<type>`. */
  readonly sends: Map<string, number>;
};

async function createHarness(failureThreshold = 2): Promise<Harness> {
  const sends = new Map<string, number>();
  const h = await createProcessorHarness({
    sinks: [countingFileSinks(sends)],
    // One attempt per delivery: a failing destination fails at once, so tests never wait.
    rowDefaults: { enabled: true, desired_logs: [], groups: [], retry: { maxAttempts: 1 } },
    processor: { circuitBreaker: validateCircuitBreakerConfig({ failureThreshold, coolDownMs: COOL_DOWN_MS }) },
  });
  return { ...h, sends };
}

afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  await closeProcessorHarnesses();
});

/** Where a tenant's file destination writes the harness's events (one hour of one application). */
function outputFile(h: Harness, tenantId: string, type: string): string {
  return join(h.outputDir(tenantId, type), filePathFor(APP, EVENTS_AT_MS));
}

/**
 * Makes the destination fail recoverably: a listening Unix socket sits where its output file
 * goes, so opening the file fails with ENXIO (not a permanent filesystem error). Closing the
 * server removes the socket, and the destination works again.
 */
async function breakDestination(h: Harness, tenantId: string, type: string): Promise<Server> {
  const path = outputFile(h, tenantId, type);
  await mkdir(dirname(path), { recursive: true });
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

async function repair(server: Server): Promise<void> {
  servers.splice(servers.indexOf(server), 1);
  await new Promise((resolve) => server.close(resolve));
}

async function processKey(h: Harness, key: string) {
  const outcome = await h.notify([key]);
  return outcome.items[0]!;
}

describe('createProcessor with circuit breakers', () => {
  it('opens after repeated recoverable failures, holds the work in delayed retries without calling the sink, and closes on a probe', async () => {
    // Prepare
    const h = await createHarness(2);
    const a = newTenant();
    const b = newTenant();
    await h.putRows(a, [{ type: 'file' }, { type: DOWN }]);
    await h.putRows(b, [{ type: 'file' }]);
    const outage = await breakDestination(h, a, DOWN);
    const first = await h.putObject(a);
    const second = await h.putObject(a);
    const third = await h.putObject(a);
    const other = await h.putObject(b);

    // Act: two failures open the circuit, then a third object of A and one of B arrive together.
    const failures = [await processKey(h, first.key), await processKey(h, second.key)];
    const sendsWhenOpened = h.sends.get(`${a}/${DOWN}`);
    const together = await h.processor.processMessages(
      [JSON.stringify(s3EventFactory([third.key])), JSON.stringify(s3EventFactory([other.key]))],
      signal(),
    );
    await h.status.flush();
    const statusWhileOpen = (await h.statusStore.listTenant(a)).find((r) => r.type === DOWN);
    const metricsWhileOpen = await h.registry.metrics();

    // Assess: open, nothing sent to A's failing destination, everything else delivered and checkpointed.
    expect(failures.map((o) => o.destinations)).toEqual([
      [
        { type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 },
        { type: DOWN, status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: 'fs_enxio' },
      ],
      [
        { type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 },
        { type: DOWN, status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: 'fs_enxio' },
      ],
    ]);
    expect(sendsWhenOpened).toBe(2);
    expect(h.sends.get(`${a}/${DOWN}`)).toBe(2);
    const [thirdOutcome, otherOutcome] = together.map((r) => (r.status === 'fulfilled' ? r.value.items[0] : undefined));
    expect(thirdOutcome).toMatchObject({
      result: ItemResult.RETRY_SCHEDULED,
      destinations: [
        { type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 },
        { type: DOWN, status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: CIRCUIT_OPEN_REASON },
      ],
    });
    expect(otherOutcome).toMatchObject({
      result: ItemResult.COMPLETED,
      destinations: [{ type: 'file', status: DestinationStatus.DELIVERED, delivered: 3 }],
    });
    expect(Object.fromEntries(await h.checkpoints.getMany(third.key, [`${a}/file`, `${a}/${DOWN}`]))).toEqual({
      [`${a}/file`]: { offset: 2, done: true },
    });
    expect(await h.readOutput(a, 'file')).toEqual([...first.events, ...second.events, ...third.events]);
    expect(await h.readOutput(b, 'file')).toEqual(other.events);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, delayed: 3 });
    expect(statusWhileOpen).toMatchObject({
      pendingRetries: 3,
      lastError: { code: 'fs_enxio' },
      circuit: { state: 'open', openedAtMs: h.clock.nowMs, nextProbeAtMs: h.clock.nowMs + COOL_DOWN_MS },
    });
    expect(metricsWhileOpen).toContain(`tlr_destination_circuit_state{tenant="${a}",destination="${DOWN}"} 2`);
    expect(metricsWhileOpen).not.toContain(`tlr_destination_circuit_state{tenant="${a}",destination="file"}`);
    expect(await metricValue(h.registry, 'tlr_destination_circuit_short_circuits_total', { tenant: a, destination: DOWN })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_destination_circuit_transitions_total', { tenant: a, to: 'open' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_delayed_retries_total', { tenant: a, kind: 'file' })).toBe(3);

    // Act: the destination recovers; after the cool-down the retries come due, one at a time.
    await repair(outage);
    const retries = await h.receiveDue(COOL_DOWN_MS);
    const probe = await h.processor.processMessage(retries[0]!.body, signal());
    const stateAfterProbe = await metricValue(h.registry, 'tlr_destination_circuit_state', { tenant: a, destination: DOWN });
    const rest = [];
    for (const retry of retries.slice(1)) rest.push(await h.processor.processMessage(retry.body, signal()));
    await h.status.flush();

    // Assess: the probe went through and closed the circuit; every record reached the destination once.
    expect(retries.map((m) => parseNotification(m.body).items[0]!.destinations)).toEqual([[DOWN], [DOWN], [DOWN]]);
    expect(probe.items[0]).toMatchObject({
      result: ItemResult.COMPLETED,
      destinations: [{ type: DOWN, status: DestinationStatus.DELIVERED }],
    });
    expect(stateAfterProbe).toBe(0);
    expect(rest.map((o) => o.items[0]!.result)).toEqual([ItemResult.COMPLETED, ItemResult.COMPLETED]);
    expect(h.sends.get(`${a}/${DOWN}`)).toBe(5);
    const delivered = await h.readOutput(a, DOWN);
    expect(delivered).toHaveLength(9);
    expect(new Set(delivered.map((e) => JSON.stringify(e)))).toEqual(
      new Set([...first.events, ...second.events, ...third.events].map((e) => JSON.stringify(e))),
    );
    expect(
      await Promise.all(['half_open', 'closed'].map((to) =>
        metricValue(h.registry, 'tlr_destination_circuit_transitions_total', { tenant: a, destination: DOWN, to }))),
    ).toEqual([1, 1]);
    expect((await h.statusStore.listTenant(a)).find((r) => r.type === DOWN)).toMatchObject({
      pendingRetries: 0,
      circuit: { state: 'closed', atMs: h.clock.nowMs },
    });
  });

  it('opens again with a doubled cool-down when the probe fails', async () => {
    // Prepare
    const h = await createHarness(1);
    const a = newTenant();
    await h.putRows(a, [{ type: DOWN }]);
    await breakDestination(h, a, DOWN);
    const first = await h.putObject(a);
    const second = await h.putObject(a);
    await processKey(h, first.key);
    h.advance(COOL_DOWN_MS);

    // Act
    const probe = await processKey(h, second.key);
    await h.status.flush();

    // Assess
    expect(probe.destinations).toEqual([{ type: DOWN, status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: 'fs_enxio' }]);
    expect(h.sends.get(`${a}/${DOWN}`)).toBe(2);
    expect((await h.statusStore.listTenant(a))[0]!.circuit).toEqual({
      state: 'open',
      openedAtMs: h.clock.nowMs,
      nextProbeAtMs: h.clock.nowMs + 2 * COOL_DOWN_MS,
      atMs: h.clock.nowMs,
    });
  });

  it('dead-letters permanent failures without opening the circuit', async () => {
    // Prepare: a directory where the output file goes makes every append fail with EISDIR.
    const h = await createHarness(1);
    const a = newTenant();
    await h.putRows(a, [{ type: DOWN }]);
    await mkdir(outputFile(h, a, DOWN), { recursive: true });
    const keys = [(await h.putObject(a)).key, (await h.putObject(a)).key];

    // Act
    const outcomes = [await processKey(h, keys[0]!), await processKey(h, keys[1]!)];

    // Assess
    expect(outcomes.map((o) => o.destinations[0]!.status)).toEqual([
      DestinationStatus.DEAD_LETTERED,
      DestinationStatus.DEAD_LETTERED,
    ]);
    expect(h.sends.get(`${a}/${DOWN}`)).toBe(2);
    expect(await metricValue(h.registry, 'tlr_destination_circuit_transitions_total')).toBe(0);
    expect(await metricValue(h.registry, 'tlr_dead_letters_total', { reason: 'fs_eisdir' })).toBe(2);
    expect(await metricValue(h.registry, 'tlr_destination_circuit_short_circuits_total')).toBe(0);
  });

  it('dead-letters as retries_exhausted, never drops, work whose circuit stays open through every delayed retry', async () => {
    // Prepare
    const h = await createHarness(1);
    const a = newTenant();
    await h.putRows(a, [{ type: DOWN }]);
    await breakDestination(h, a, DOWN);
    const opener = await h.putObject(a);
    const held = await h.putObject(a);
    await processKey(h, opener.key);

    // Act: the held object's last allowed attempt meets the open circuit.
    const outcome = await h.processItem({ key: held.key, attempt: 10, destinations: [DOWN] });

    // Assess
    expect(outcome.destinations).toEqual([
      { type: DOWN, status: DestinationStatus.DEAD_LETTERED, delivered: 0, reason: DeadLetterReason.RETRIES_EXHAUSTED },
    ]);
    expect(h.sends.get(`${a}/${DOWN}`)).toBe(1);
    const letters = await h.deadLetters.list({ tenantId: a, limit: 10 });
    expect(letters.map((e) => [e.objectKey, e.reason, e.message.includes(CIRCUIT_OPEN_REASON)])).toEqual([
      [held.key, DeadLetterReason.RETRIES_EXHAUSTED, true],
    ]);
  });

  it('short-circuits every object of a packed group once the circuit is open', async () => {
    // Prepare
    const h = await createHarness(1);
    const a = newTenant();
    await h.putRows(a, [{ type: MEMORY_KIND, packs: true, behaviour: 'retryable', fail_reason: 'throttled' }]);
    const parts = objectKeyPartsFactory({ namespace: a, application: APP });
    const keys: string[] = [];
    for (let n = 0; n < 4; n++) {
      const key = `${parts.clusterId}/${a}/${APP}/${parts.podName}/20240115-10300${n}-${randomId()}.json.gz`;
      await h.objects.put(key, gzipObject([logEventFactory({ namespace: a })]));
      keys.push(key);
    }

    // Act
    const opening = await h.processor.processItems(keys.slice(0, 2).map((key) => ({ key, attempt: 0 })), signal());
    const sendsWhenOpened = h.memory.built[0]!.sends;
    const held = await h.processor.processItems(keys.slice(2).map((key) => ({ key, attempt: 0 })), signal());

    // Assess
    expect(opening.map((r) => r.status === 'fulfilled' && r.value.destinations[0]!.reason)).toEqual(['throttled', 'throttled']);
    expect(held.map((r) => r.status === 'fulfilled' && r.value.destinations[0])).toEqual([
      { type: MEMORY_KIND, status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: CIRCUIT_OPEN_REASON },
      { type: MEMORY_KIND, status: DestinationStatus.RETRY_SCHEDULED, delivered: 0, reason: CIRCUIT_OPEN_REASON },
    ]);
    expect(h.memory.built[0]!.sends).toBe(sendsWhenOpened);
    expect(await metricValue(h.registry, 'tlr_destination_circuit_short_circuits_total', { tenant: a })).toBe(2);
    expect(await h.queue.stats()).toMatchObject({ delayed: 4 });
  });
});
