import { buffer as readAll } from 'node:stream/consumers';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fluentLogger from 'fluent-logger';
import { afterEach, describe, expect, it } from 'vitest';
import { parseObjectKey } from '../../../src/domain/object-key.js';
import { createIngestBatcher } from '../../../src/ingest/http/batcher.js';
import { defaultHttpIngestConfig } from '../../../src/ingest/http/config.js';
import { silentLogger } from '../../../src/logging/logger.js';
import { createFileObjectStore } from '../../../src/stores/local/object-store.js';
import { createSqliteQueue } from '../../../src/stores/local/queue.js';
import { randomId } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';
import { fluentdRecord } from './forward-client.js';
import { type ForwardHarness, startForwardHarness, stopForwardHarnesses } from './harness.js';

const SHARED_KEY = 'fluent-logger-shared-key-0123';
const quiet = { info: () => {}, error: () => {} };

/** The sender as it is at runtime: its typings leave out the event emitter methods. */
type Sender = fluentLogger.FluentSender<Record<string, unknown>> & {
  on(event: 'error', listener: (error: Error) => void): void;
};
/** `EventTime` is typed as an instance though it is the class. */
const EventTime = fluentLogger.EventTime as unknown as { fromTimestamp(ms: number): unknown };
const senders: Sender[] = [];

afterEach(async () => {
  // end() without a label and record just closes the socket.
  const close = (s: Sender) => new Promise<void>((resolve) => s.end(undefined as never, undefined as never, () => resolve()));
  await Promise.all(senders.splice(0).map(close));
  await stopForwardHarnesses();
  await removeTempDirs();
});

function sender(port: number, options: Partial<fluentLogger.Options>): Sender {
  const s = fluentLogger.createFluentSender<Record<string, unknown>>('kubernetes', {
    host: '127.0.0.1',
    port,
    requireAckResponse: true,
    ackResponseTimeout: 5_000,
    reconnectInterval: 600_000,
    internalLogger: quiet,
    ...options,
  }) as Sender;
  s.on('error', () => {}); // failures reach each emit's callback
  senders.push(s);
  return s;
}

function emit(s: Sender, label: string, record: Record<string, unknown>, time?: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => (error ? reject(error) : resolve());
    if (time === undefined) s.emit(label, record, done);
    else s.emit(label, record, time as number, done);
  });
}

/** Writes the buffered events as central objects (as `tlr up`'s batcher does) and reads them back. */
async function flushToObjects(h: ForwardHarness): Promise<Map<string, Record<string, unknown>[]>> {
  const dir = await makeTempDir('tlr-forward-objects-');
  const objectStore = createFileObjectStore({ rootDir: join(dir, 'objects') });
  const batcher = createIngestBatcher({
    buffer: h.sqliteBuffer,
    objectStore,
    queue: createSqliteQueue(h.db),
    config: defaultHttpIngestConfig(),
    logger: silentLogger,
    registry: h.registry,
  });
  await batcher.flushAll();
  const objects = new Map<string, Record<string, unknown>[]>();
  for await (const info of objectStore.list()) {
    const text = gunzipSync(await readAll((await objectStore.get(info.key)).body)).toString('utf8');
    objects.set(
      info.key,
      text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    );
  }
  return objects;
}

describe('Forward input with the fluent-logger client', () => {
  it.each(['Message', 'PackedForward', 'CompressedPackedForward'])(
    'stores what fluent-logger sends in %s mode with acks and the shared key handshake, under the right key',
    async (eventMode) => {
      // Prepare
      const h = await startForwardHarness({ auth: { shared_key: SHARED_KEY, cluster_id: 'cluster-fl', namespaces: ['team-*'] } });
      const s = sender(h.port, { eventMode, security: { clientHostname: 'fluent-logger.test', sharedKey: SHARED_KEY } });
      const pod = `api-${randomId()}`;
      const records = Array.from({ length: 5 }, (_, i) =>
        fluentdRecord('team-a', {
          message: `request ${i}`,
          kubernetes: { namespace_name: 'team-a', pod_name: pod, container_name: 'server', labels: { app: 'billing-api' } },
        }),
      );

      // Act: every emit resolves only once its ack came back
      await Promise.all(
        records.map((r, i) =>
          emit(s, 'var.log.containers.api', r, i === 0 ? EventTime.fromTimestamp(Date.UTC(2026, 0, 15, 10, 30, 0, 250)) : undefined),
        ),
      );
      const objects = await flushToObjects(h);

      // Assess
      expect(objects.size).toBe(1);
      const [key, events] = [...objects][0]!;
      expect(parseObjectKey(key)).toMatchObject({
        clusterId: 'cluster-fl',
        tenantId: 'team-a',
        application: 'billing-api',
        podName: pod,
      });
      expect(events.map((e) => e['message']).sort()).toEqual(records.map((r) => r['message']).sort());
      expect(events.find((e) => e['message'] === 'request 0')!['timestamp']).toBe('2026-01-15T10:30:00.250000000Z');
      expect(await metricValue(h.registry, 'tlr_forward_auth_failures_total')).toBe(0);
      expect(await metricValue(h.registry, 'tlr_forward_chunks_acked_total')).toBeGreaterThanOrEqual(1);
    },
  );

  it('logs a fluent-logger user in with username and password and stores under its binding', async () => {
    // Prepare
    const h = await startForwardHarness({
      auth: {
        shared_key: SHARED_KEY,
        users: [{ username: 'collector', password: 'collector-password-01', cluster_id: 'cluster-u', namespaces: ['*'] }],
      },
    });
    const s = sender(h.port, {
      eventMode: 'CompressedPackedForward',
      security: { clientHostname: 'fluent-logger.test', sharedKey: SHARED_KEY, username: 'collector', password: 'collector-password-01' },
    });

    // Act
    await emit(s, 'app', fluentdRecord('team-z'));
    const objects = await flushToObjects(h);

    // Assess
    expect([...objects.keys()].map((k) => parseObjectKey(k))).toEqual([
      expect.objectContaining({ clusterId: 'cluster-u', tenantId: 'team-z', application: 'billing-api' }),
    ]);
  });

  it('fails the emits of a fluent-logger holding a wrong shared key and counts the failure', async () => {
    // Prepare
    const h = await startForwardHarness({ auth: { shared_key: SHARED_KEY } });
    const errors: Error[] = [];
    const s = sender(h.port, { security: { clientHostname: 'fluent-logger.test', sharedKey: 'a-wrong-shared-key-000000' } });
    s.on('error', (error: Error) => errors.push(error));

    // Act
    s.emit('app', fluentdRecord('team-a'));
    await new Promise<void>((resolve) => {
      const check = () => (errors.length > 0 ? resolve() : setTimeout(check, 10));
      check();
    });

    // Assess
    expect(errors[0]!.message).toMatch(/shared_key mismatch/);
    expect(await metricValue(h.registry, 'tlr_forward_auth_failures_total', { reason: 'shared_key_mismatch' })).toBe(1);
  });
});
