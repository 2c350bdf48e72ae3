import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { type AddressInfo, createServer } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encode } from '@msgpack/msgpack';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import { BadFrameReason } from '../../../src/ingest/forward/protocol.js';
import { DisconnectReason } from '../../../src/ingest/forward/server.js';
import { createQueueBacklogCheck } from '../../../src/ingest/backpressure.js';
import { silentLogger } from '../../../src/logging/logger.js';
import { openDatabase } from '../../../src/stores/local/database.js';
import { createSqliteQueue } from '../../../src/stores/local/queue.js';
import type { IngestBuffer } from '../../../src/stores/ports.js';
import { randomId } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';
import {
  chunkId,
  compressedFrame,
  connectForward,
  entryBytes,
  entryStream,
  fluentdRecord,
  forwardFrame,
  messageFrame,
  packedFrame,
} from './forward-client.js';
import {
  bufferedEventCount,
  drainBuffered,
  eventually,
  type ForwardHarness,
  startForwardHarness,
  stopForwardHarnesses,
} from './harness.js';

const TAG = 'kubernetes.var.log.containers.app';
const SECONDS = 1_768_473_000; // 2026-01-15T10:30:00Z

afterEach(async () => {
  await stopForwardHarnesses();
  await removeTempDirs();
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('Forward server: event modes', () => {
  const records = () => [fluentdRecord('team-a'), fluentdRecord('team-a'), fluentdRecord('team-b')];

  it.each([
    ['Message, integer time', (r: Record<string, unknown>[], chunk: string) => [messageFrame(TAG, SECONDS, r[0]!, { chunk })]],
    ['Message, EventTime', (r: Record<string, unknown>[], chunk: string) => [messageFrame(TAG, [SECONDS, 5], r[0]!, { chunk })]],
    [
      'Forward, integer and EventTime',
      (r: Record<string, unknown>[], chunk: string) => [
        forwardFrame(TAG, [[SECONDS, r[0]!], [[SECONDS, 123_456_789], r[1]!], [SECONDS + 1, r[2]!]], { chunk }),
      ],
    ],
    [
      'PackedForward, bin',
      (r: Record<string, unknown>[], chunk: string) => [
        packedFrame(TAG, entryStream(r.map((x) => entryBytes([SECONDS, 1], x))), 'bin', { chunk, size: r.length }),
      ],
    ],
    [
      'PackedForward, str (as fluentd out_forward sends it)',
      (r: Record<string, unknown>[], chunk: string) => [
        packedFrame(TAG, entryStream(r.map((x) => entryBytes(SECONDS, x))), 'str', { chunk }),
      ],
    ],
    [
      'CompressedPackedForward, two gzip members',
      (r: Record<string, unknown>[], chunk: string) => [
        compressedFrame(TAG, r.map((x) => entryBytes([SECONDS, 7], x)), 2, { chunk }),
      ],
    ],
  ])('stores the records of a %s message and acks its chunk', async (_mode, build) => {
    // Prepare
    const h = await startForwardHarness();
    const sent = records();
    const chunk = chunkId();
    const client = await connectForward(h.port);
    const [frame] = build(sent, chunk);
    const expected = _mode.startsWith('Message') ? sent.slice(0, 1) : sent;

    // Act
    await client.send(frame!);
    const answer = await client.next();

    // Assess
    expect(answer).toEqual({ ack: chunk });
    const stored = await drainBuffered(h.sqliteBuffer);
    expect(stored.map((s) => s.event['message']).sort()).toEqual(expected.map((r) => r['message']).sort());
    for (const { group, event } of stored) {
      const k8s = event['kubernetes'] as { namespace_name: string; pod_name: string };
      expect(group).toEqual({
        clusterId: 'cluster-a',
        namespace: k8s.namespace_name,
        application: 'billing-api',
        podName: k8s.pod_name,
      });
      expect(event).toMatchObject({ cluster_id: 'cluster-a', namespace: k8s.namespace_name, application: 'billing-api' });
      expect(String(event['timestamp'])).toMatch(/^2026-01-15T10:30:0[01]\.\d{9}Z$/);
    }
    expect(await metricValue(h.registry, 'tlr_forward_chunks_acked_total', { duplicate: 'false' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_forward_events_total', { result: 'accepted' })).toBe(expected.length);
  });

  it('keeps the nanoseconds of an EventTime in the stored timestamp', async () => {
    // Prepare
    const h = await startForwardHarness();
    const client = await connectForward(h.port);
    const chunk = chunkId();

    // Act
    await client.send(messageFrame(TAG, [SECONDS, 123_456_789], fluentdRecord('team-a'), { chunk }));
    await client.next();

    // Assess
    const [stored] = await drainBuffered(h.sqliteBuffer);
    expect(stored!.event['timestamp']).toBe('2026-01-15T10:30:00.123456789Z');
  });

  it('answers the ack only once the events are committed to the buffer', async () => {
    // Prepare: an append that takes a while, so an early ack would show
    let committedAtMs = 0;
    const h = await startForwardHarness({
      wrap: (inner) => ({
        ...inner,
        append: async (events, at) => {
          await sleep(150);
          await inner.append(events, at);
          committedAtMs = Date.now();
        },
      }),
    });
    const client = await connectForward(h.port);
    const chunk = chunkId();
    const entries = Array.from({ length: 50 }, () => entryBytes(SECONDS, fluentdRecord('team-a')));

    // Act
    await client.send(compressedFrame(TAG, entries, 1, { chunk }));
    const answer = await client.next();
    const ackedAtMs = Date.now();
    const heldAtAck = await bufferedEventCount(h.sqliteBuffer);

    // Assess
    expect(answer).toEqual({ ack: chunk });
    expect(committedAtMs).toBeGreaterThan(0);
    expect(ackedAtMs).toBeGreaterThanOrEqual(committedAtMs);
    expect(heldAtAck).toBe(50);
  });

  it('stores a message without a chunk option and answers nothing', async () => {
    // Prepare
    const h = await startForwardHarness();
    const client = await connectForward(h.port);
    const second = chunkId();

    // Act
    await client.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a')));
    await client.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk: second }));
    const answer = await client.next();

    // Assess: the only answer is the second message's ack
    expect(answer).toEqual({ ack: second });
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(2);
  });

  it('ignores a nil heartbeat and keeps the connection', async () => {
    // Prepare
    const h = await startForwardHarness();
    const client = await connectForward(h.port);
    const chunk = chunkId();

    // Act
    await client.send(encode(null));
    await client.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk }));

    // Assess
    expect(await client.next()).toEqual({ ack: chunk });
    expect(await metricValue(h.registry, 'tlr_forward_bad_frames_total')).toBe(0);
  });

  it('reads messages split over many writes and several messages in one write', async () => {
    // Prepare
    const h = await startForwardHarness();
    const client = await connectForward(h.port);
    const chunks = [chunkId(), chunkId(), chunkId()];
    const frames = chunks.map((chunk) =>
      packedFrame(TAG, entryStream([entryBytes(SECONDS, fluentdRecord('team-a', { pad: 'x'.repeat(3_000) }))]), 'bin', { chunk }),
    );
    const bytes = Buffer.concat(frames);

    // Act: one byte at first, then odd slices
    await client.send(bytes.subarray(0, 1));
    for (let i = 1; i < bytes.length; i += 777) await client.send(bytes.subarray(i, Math.min(i + 777, bytes.length)));
    const answers = [await client.next(), await client.next(), await client.next()];

    // Assess
    expect(answers).toEqual(chunks.map((chunk) => ({ ack: chunk })));
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(3);
  });
});

describe('Forward server: bad frames', () => {
  const gzipOf = (n: number) => compressedFrame(TAG, Array.from({ length: n }, () => entryBytes(SECONDS, fluentdRecord('team-a'))), 1);

  it.each([
    ['malformed msgpack (0xc1)', () => Buffer.from([0x92, 0xa3, 0x61, 0x62, 0x63, 0xc1]), BadFrameReason.MALFORMED_MSGPACK, /0xc1/],
    ['JSON instead of msgpack', () => Buffer.from('{"message":"hi"}\n'), BadFrameReason.NOT_AN_ARRAY, /JSON/],
    ['a tag that is not a string', () => encode([42, SECONDS, { a: 1 }]), BadFrameReason.WRONG_TYPE, /tag must be a str/],
    ['a map where the entries go', () => encode([TAG, { a: 1 }]), BadFrameReason.WRONG_TYPE, /second element/],
    ['an option that is not a map', () => encode([TAG, [[SECONDS, { a: 1 }]], 'chunk']), BadFrameReason.WRONG_TYPE, /option must be a map/],
    ['a chunk id that is not a string', () => encode([TAG, [[SECONDS, { a: 1 }]], { chunk: 7 }]), BadFrameReason.WRONG_TYPE, /'chunk'/],
    ['a one-element array', () => encode([TAG]), BadFrameReason.WRONG_TYPE, /2 to 4 elements/],
    [
      'a packed stream ending inside an entry',
      () => packedFrame(TAG, entryBytes(SECONDS, { a: 1 }).subarray(0, 5), 'bin', { chunk: 'c' }),
      BadFrameReason.BAD_ENTRY_STREAM,
      /ends inside a value/,
    ],
    [
      'entries that are not gzip',
      () => packedFrame(TAG, Buffer.from('not gzip at all'), 'bin', { compressed: 'gzip' }),
      BadFrameReason.BAD_GZIP,
      /not valid gzip/,
    ],
  ])('closes the connection on %s, with the reason logged and counted', async (_case, build, reason, detail) => {
    // Prepare
    const h = await startForwardHarness();
    const client = await connectForward(h.port);

    // Act
    await client.send(build());
    await client.closed;

    // Assess
    expect(await metricValue(h.registry, 'tlr_forward_bad_frames_total', { reason })).toBe(1);
    await eventually(async () => (await metricValue(h.registry, 'tlr_forward_disconnects_total', { reason: DisconnectReason.BAD_FRAME })) === 1);
    const warning = h.logs.find((l) => l.level === 'warn' && l['reason'] === reason);
    expect(warning?.message).toBe('Closed a Forward connection that sent a message it cannot read.');
    expect(String(warning?.['detail'])).toMatch(detail);
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(0);
  });

  it('refuses a message whose header declares more than maxMessageBytes before its payload arrives', async () => {
    // Prepare
    const h = await startForwardHarness({ config: { maxMessageBytes: 64 * 1024 } });
    const client = await connectForward(h.port);
    const header = Buffer.from([0x92, 0xa3, 0x61, 0x62, 0x63, 0xc6, 0, 0x10, 0, 0]); // bin32 of 1 MiB

    // Act
    await client.send(header);
    await client.closed;

    // Assess
    expect(await metricValue(h.registry, 'tlr_forward_bad_frames_total', { reason: BadFrameReason.OVERSIZE })).toBe(1);
    const warning = h.logs.find((l) => l['reason'] === BadFrameReason.OVERSIZE);
    expect(warning?.['detail']).toBe('The message is larger than the 65536-byte limit (a bin of 1048576 bytes starts at offset 5).');
  });

  it('refuses a message that grows past maxMessageBytes in many small values', async () => {
    // Prepare
    const h = await startForwardHarness({ config: { maxMessageBytes: 16 * 1024 } });
    const client = await connectForward(h.port);
    const many = Buffer.concat([Buffer.from([0x92, 0xa3, 0x61, 0x62, 0x63, 0xdd, 0, 1, 0, 0]), Buffer.alloc(20_000, 0x01)]);

    // Act
    await client.send(many);
    await client.closed;

    // Assess
    expect(await metricValue(h.registry, 'tlr_forward_bad_frames_total', { reason: BadFrameReason.OVERSIZE })).toBe(1);
    expect(String(h.logs.find((l) => l['reason'] === BadFrameReason.OVERSIZE)?.['detail'])).toMatch(
      /still open after 16384 bytes/,
    );
  });

  it('refuses compressed entries that gunzip past maxDecompressedBytes', async () => {
    // Prepare
    const h = await startForwardHarness({ config: { maxDecompressedBytes: 4 * 1024 } });
    const client = await connectForward(h.port);

    // Act
    await client.send(gzipOf(40));
    await client.closed;

    // Assess
    expect(
      await metricValue(h.registry, 'tlr_forward_bad_frames_total', { reason: BadFrameReason.DECOMPRESSED_OVERSIZE }),
    ).toBe(1);
  });

  it('refuses only the entry that is not [time, record] and stores the others', async () => {
    // Prepare
    const h = await startForwardHarness();
    const client = await connectForward(h.port);
    const chunk = chunkId();
    const stream = entryStream([
      entryBytes(SECONDS, fluentdRecord('team-a')),
      encode(['yesterday', { a: 1 }]),
      encode([SECONDS, 'not a map']),
      entryBytes(SECONDS, fluentdRecord('team-a')),
    ]);

    // Act
    await client.send(packedFrame(TAG, stream, 'bin', { chunk }));
    const answer = await client.next();

    // Assess
    expect(answer).toEqual({ ack: chunk });
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(2);
    expect(await metricValue(h.registry, 'tlr_forward_events_total', { result: 'refused', reason: 'invalid_entry' })).toBe(2);
  });
});

describe('Forward server: authorization of records', () => {
  it('refuses and counts records for a namespace the client may not write, and stores the rest', async () => {
    // Prepare
    const h = await startForwardHarness({ auth: { cluster_id: 'cluster-a', namespaces: ['team-*'] } });
    const client = await connectForward(h.port);
    const chunk = chunkId();
    const entries = [
      entryBytes(SECONDS, fluentdRecord('team-a')),
      entryBytes(SECONDS, fluentdRecord('other-tenant')),
      entryBytes(SECONDS, fluentdRecord('team-b', { cluster_id: 'cluster-b' })),
    ];

    // Act
    await client.send(compressedFrame(TAG, entries, 1, { chunk }));
    const answer = await client.next();

    // Assess
    expect(answer).toEqual({ ack: chunk });
    const stored = await drainBuffered(h.sqliteBuffer);
    expect(stored.map((s) => s.group.namespace)).toEqual(['team-a']);
    expect(await metricValue(h.registry, 'tlr_forward_events_total', { result: 'refused', reason: 'forbidden_namespace' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_forward_events_total', { result: 'refused', reason: 'forbidden_cluster' })).toBe(1);
    const warning = h.logs.find((l) => l.message.startsWith('Refused Forward records'));
    expect(warning).toMatchObject({ refused: 2, of: 3, reasons: { forbidden_namespace: 1, forbidden_cluster: 1 } });
  });
});

describe('Forward server: shared key handshake', () => {
  const SHARED_KEY = 'shared-key-0123456789abcdef';

  it('logs in a client holding the shared key and proves its own key in PONG', async () => {
    // Prepare
    const h = await startForwardHarness({
      config: { selfHostname: 'router.test' },
      auth: { shared_key: SHARED_KEY, cluster_id: 'cluster-k', namespaces: ['team-*'] },
    });
    const client = await connectForward(h.port);
    const chunk = chunkId();

    // Act
    const pong = await client.handshake({ sharedKey: SHARED_KEY });
    await client.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk }));
    const answer = await client.next();

    // Assess
    expect(pong.slice(0, 4)).toEqual(['PONG', true, '', 'router.test']);
    expect(pong[4]).toMatch(/^[0-9a-f]{128}$/);
    expect(answer).toEqual({ ack: chunk });
    expect((await drainBuffered(h.sqliteBuffer))[0]!.group.clusterId).toBe('cluster-k');
  });

  it('disconnects a client with a wrong shared key, logging and counting why', async () => {
    // Prepare
    const h = await startForwardHarness({ auth: { shared_key: SHARED_KEY } });
    const client = await connectForward(h.port);

    // Act
    const pong = await client.handshake({ sharedKey: 'not-the-shared-key-at-all' });
    await client.closed;

    // Assess
    expect(pong).toEqual(['PONG', false, 'shared_key mismatch', '', '']);
    expect(await metricValue(h.registry, 'tlr_forward_auth_failures_total', { reason: 'shared_key_mismatch' })).toBe(1);
    await eventually(async () => (await metricValue(h.registry, 'tlr_forward_disconnects_total', { reason: 'auth_failed' })) === 1);
    expect(h.logs.find((l) => l.level === 'warn')).toMatchObject({
      message: 'Closed a Forward connection whose handshake failed.',
      reason: 'shared_key_mismatch',
      detail: "The client 'client.test' does not hold the shared key.",
    });
  });

  it('disconnects a client that sends events without the handshake', async () => {
    // Prepare
    const h = await startForwardHarness({ auth: { shared_key: SHARED_KEY } });
    const client = await connectForward(h.port);
    await client.next(); // HELO

    // Act
    await client.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk: chunkId() }));
    const pong = (await client.next()) as unknown[];
    await client.closed;

    // Assess
    expect(pong.slice(0, 2)).toEqual(['PONG', false]);
    expect(await metricValue(h.registry, 'tlr_forward_auth_failures_total', { reason: 'expected_ping' })).toBe(1);
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(0);
  });

  it("takes a connection closed right after HELO (fluentd's transport heartbeat) as no failure", async () => {
    // Prepare
    const h = await startForwardHarness({ auth: { shared_key: SHARED_KEY } });
    const client = await connectForward(h.port);
    await client.next(); // HELO

    // Act
    client.end();
    await client.closed;

    // Assess
    await eventually(async () => (await metricValue(h.registry, 'tlr_forward_disconnects_total', { reason: 'client_closed' })) === 1);
    expect(await metricValue(h.registry, 'tlr_forward_auth_failures_total')).toBe(0);
  });

  it('disconnects a client that does not answer HELO in time', async () => {
    // Prepare
    const h = await startForwardHarness({ config: { handshakeTimeoutMs: 100 }, auth: { shared_key: SHARED_KEY } });
    const client = await connectForward(h.port);

    // Act
    await client.closed;

    // Assess
    expect(await metricValue(h.registry, 'tlr_forward_auth_failures_total', { reason: 'handshake_timeout' })).toBe(1);
  });

  describe('with users', () => {
    const auth = {
      shared_key: SHARED_KEY,
      users: [
        { username: 'alice', password: 'alice-password-0123', cluster_id: 'cluster-alice', namespaces: ['alice-*'] },
        { username: 'bob', password: 'bob-password-0123456', cluster_id: 'cluster-bob', namespaces: ['*'] },
      ],
    };

    it("stores a logged-in user's records under the user's cluster and namespaces", async () => {
      // Prepare
      const h = await startForwardHarness({ auth });
      const client = await connectForward(h.port);
      const chunk = chunkId();

      // Act
      const pong = await client.handshake({ sharedKey: SHARED_KEY, username: 'alice', password: 'alice-password-0123' });
      await client.send(forwardFrame(TAG, [[SECONDS, fluentdRecord('alice-dev')], [SECONDS, fluentdRecord('bob-dev')]], { chunk }));
      const answer = await client.next();

      // Assess
      expect(pong[1]).toBe(true);
      expect(answer).toEqual({ ack: chunk });
      const stored = await drainBuffered(h.sqliteBuffer);
      expect(stored.map((s) => [s.group.clusterId, s.group.namespace])).toEqual([['cluster-alice', 'alice-dev']]);
      expect(await metricValue(h.registry, 'tlr_forward_events_total', { reason: 'forbidden_namespace' })).toBe(1);
    });

    it.each([
      ['a wrong password', 'alice', 'wrong-password-000000', 'password_mismatch'],
      ['an unknown user', 'mallory', 'alice-password-0123', 'unknown_user'],
      ['no user at all', '', '', 'unknown_user'],
    ])('disconnects a client with %s and tells it no more than a mismatch', async (_case, username, password, reason) => {
      // Prepare
      const h = await startForwardHarness({ auth });
      const client = await connectForward(h.port);

      // Act
      const pong = await client.handshake({ sharedKey: SHARED_KEY, username, password });
      await client.closed;

      // Assess
      expect(pong).toEqual(['PONG', false, 'username/password mismatch', '', '']);
      expect(await metricValue(h.registry, 'tlr_forward_auth_failures_total', { reason })).toBe(1);
    });
  });
});

describe('Forward server: resent chunks', () => {
  it('stores a chunk once when the client disconnected mid-chunk and resends it whole', async () => {
    // Prepare
    const h = await startForwardHarness();
    const chunk = chunkId();
    const frame = compressedFrame(TAG, [entryBytes(SECONDS, fluentdRecord('team-a')), entryBytes(SECONDS, fluentdRecord('team-a'))], 2, {
      chunk,
    });
    const first = await connectForward(h.port);

    // Act
    await first.send(frame.subarray(0, frame.length - 10));
    first.socket.destroy();
    const second = await connectForward(h.port);
    await second.send(frame);
    const answer = await second.next();

    // Assess
    expect(answer).toEqual({ ack: chunk });
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(2);
  });

  it('acks without storing again a chunk stored before the client lost the ack', async () => {
    // Prepare
    const h = await startForwardHarness();
    const chunk = chunkId();
    const frame = packedFrame(TAG, entryStream([entryBytes(SECONDS, fluentdRecord('team-a'))]), 'str', { chunk });
    const first = await connectForward(h.port);
    await first.send(frame);
    first.socket.destroy(); // before reading the ack
    await eventually(async () => (await bufferedEventCount(h.sqliteBuffer)) === 1);

    // Act
    const second = await connectForward(h.port);
    await second.send(frame);
    const answer = await second.next();

    // Assess
    expect(answer).toEqual({ ack: chunk });
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(1);
    expect(await metricValue(h.registry, 'tlr_forward_chunks_acked_total', { duplicate: 'true' })).toBe(1);
  });

  it('makes a resend wait for the first copy still being stored, then acks it without a second append', async () => {
    // Prepare: a slow append, so the resend arrives while the first copy is being stored
    let appends = 0;
    const h = await startForwardHarness({
      wrap: (inner) => ({
        ...inner,
        append: async (events, at) => {
          appends++;
          await sleep(300);
          await inner.append(events, at);
        },
      }),
    });
    const chunk = chunkId();
    const frame = messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk });
    const first = await connectForward(h.port);
    await first.send(frame);
    await eventually(() => appends === 1);
    first.socket.destroy();

    // Act
    const second = await connectForward(h.port);
    await second.send(frame);
    const answer = await second.next();

    // Assess
    expect(answer).toEqual({ ack: chunk });
    expect(appends).toBe(1);
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(1);
  });

  it('tells the same chunk id of two identities apart', async () => {
    // Prepare
    const key = 'shared-key-0123456789abcdef';
    const h = await startForwardHarness({
      auth: {
        shared_key: key,
        users: [
          { username: 'u1', password: 'password-one-000000', cluster_id: 'c1', namespaces: ['*'] },
          { username: 'u2', password: 'password-two-000000', cluster_id: 'c2', namespaces: ['*'] },
        ],
      },
    });
    const chunk = chunkId();
    const one = await connectForward(h.port);
    const two = await connectForward(h.port);
    await one.handshake({ sharedKey: key, username: 'u1', password: 'password-one-000000' });
    await two.handshake({ sharedKey: key, username: 'u2', password: 'password-two-000000' });

    // Act
    await one.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk }));
    await one.next();
    await two.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk }));
    await two.next();

    // Assess
    expect((await drainBuffered(h.sqliteBuffer)).map((s) => s.group.clusterId).sort()).toEqual(['c1', 'c2']);
  });
});

describe('Forward server: limits', () => {
  it('stops reading while the buffer is over its limit and resumes, in order, once below', async () => {
    // Prepare: a buffer that reports pressure until released
    let pressure = true;
    let appends = 0;
    const limit = 64 * 1024 * 1024; // above what the 40 messages add, so only the fake pressure holds them
    const h: ForwardHarness = await startForwardHarness({
      config: { maxBufferedBytes: limit, backpressureCheckMs: 20, maxMessageBytes: 256 * 1024 },
      wrap: (inner): IngestBuffer => ({
        ...inner,
        pendingBytes: async () => (pressure ? limit + 1 : inner.pendingBytes()),
        append: async (events, at) => {
          appends++;
          await inner.append(events, at);
        },
      }),
    });
    const client = await connectForward(h.port);
    const chunks = Array.from({ length: 40 }, () => chunkId());
    const frames = chunks.map((chunk) =>
      packedFrame(TAG, entryStream([entryBytes(SECONDS, fluentdRecord('team-a', { pad: randomId().repeat(10_000) }))]), 'bin', { chunk }),
    );

    // Act: ~5 MB while the buffer is full
    for (const frame of frames) client.socket.write(frame);
    await eventually(async () => (await metricValue(h.registry, 'tlr_forward_paused_connections')) === 1);
    await sleep(200);
    const appendsWhileFull = appends;
    const readBufferBytes = await metricValue(h.registry, 'tlr_forward_read_buffer_bytes');
    const unsent = client.socket.writableLength;
    pressure = false;
    const answers = [];
    for (let i = 0; i < chunks.length; i++) answers.push(await client.next());

    // Assess
    expect(appendsWhileFull).toBe(0);
    expect(readBufferBytes).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
    expect(unsent).toBeGreaterThan(0); // the client, not the server, holds what the server did not read
    expect(answers).toEqual(chunks.map((chunk) => ({ ack: chunk })));
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(40);
    expect(await metricValue(h.registry, 'tlr_forward_backpressure_waits_total', { reason: 'buffer_full' })).toBe(1);
    expect(await metricValue(h.registry, 'tlr_forward_paused_connections')).toBe(0);
  });

  it('does not ack a chunk while the queue backlog is over its limit, and acks it once the backlog drained', async () => {
    // Prepare
    const db = openDatabase(join(await makeTempDir('tlr-forward-backlog-'), 'tlr.db'));
    const queue = createSqliteQueue(db);
    try {
      await queue.send('older-work-1');
      await queue.send('older-work-2');
      const backpressure = createQueueBacklogCheck({
        queue,
        maxBacklog: 1,
        retryAfterSeconds: 5,
        cacheMs: 0,
        logger: silentLogger,
      });
      const h = await startForwardHarness({ config: { backpressureCheckMs: 20 }, backpressure });
      const client = await connectForward(h.port);
      const chunk = chunkId();

      // Act
      await client.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk }));
      await eventually(async () => (await metricValue(h.registry, 'tlr_forward_paused_connections')) === 1);
      let answered = false;
      const pending = client.next(10_000).then((answer) => {
        answered = true;
        return answer;
      });
      // Several back-pressure checks pass while the connection is held.
      await sleep(200);
      const answeredWhileOver = answered;
      const storedWhileOver = await bufferedEventCount(h.sqliteBuffer);
      for (const message of await queue.receive({ maxMessages: 10, waitMs: 0 })) await queue.delete(message.receiptHandle);
      const answer = await pending;

      // Assess
      expect(answeredWhileOver).toBe(false);
      expect(storedWhileOver).toBe(0);
      expect(answer).toEqual({ ack: chunk });
      expect(await bufferedEventCount(h.sqliteBuffer)).toBe(1);
      expect(await metricValue(h.registry, 'tlr_forward_backpressure_waits_total', { reason: 'queue_backlog' })).toBe(1);
      expect(await metricValue(h.registry, 'tlr_forward_paused_connections')).toBe(0);
    } finally {
      queue.close();
      db.close();
    }
  });

  it('closes a connection idle for idleTimeoutMs', async () => {
    // Prepare
    const h = await startForwardHarness({ config: { idleTimeoutMs: 100 } });
    const client = await connectForward(h.port);

    // Act
    await client.closed;

    // Assess
    await eventually(async () => (await metricValue(h.registry, 'tlr_forward_disconnects_total', { reason: 'idle_timeout' })) === 1);
  });

  it('refuses connections beyond maxConnections and counts them', async () => {
    // Prepare
    const h = await startForwardHarness({ config: { maxConnections: 1 } });
    const first = await connectForward(h.port);

    // Act
    const second = await connectForward(h.port);
    await second.closed;

    // Assess
    expect(await metricValue(h.registry, 'tlr_forward_disconnects_total', { reason: 'max_connections' })).toBe(1);
    const chunk = chunkId();
    await first.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk }));
    expect(await first.next()).toEqual({ ack: chunk });
  });

  it('closes the connection without an ack when the buffer cannot store the events, so the client resends', async () => {
    // Prepare
    const h = await startForwardHarness({
      wrap: (inner) => ({
        ...inner,
        append: async () => {
          throw new Error('disk I/O error');
        },
      }),
    });
    const client = await connectForward(h.port);

    // Act
    await client.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk: chunkId() }));
    const answer = await client.next().catch((e: Error) => e);

    // Assess
    expect(answer).toBeInstanceOf(Error);
    await eventually(
      async () => (await metricValue(h.registry, 'tlr_forward_disconnects_total', { reason: 'buffer_write_failed' })) === 1,
    );
    expect(h.logs.find((l) => l.level === 'error')?.message).toBe(
      'Storing Forward events in the buffer failed; closing the connection so the client resends.',
    );
    expect(await metricValue(h.registry, 'tlr_forward_chunks_acked_total')).toBe(0);
  });

  it('finishes storing and acking a message in progress when closed', async () => {
    // Prepare
    const h = await startForwardHarness({
      wrap: (inner) => ({
        ...inner,
        append: async (events, at) => {
          await sleep(200);
          await inner.append(events, at);
        },
      }),
    });
    const client = await connectForward(h.port);
    const chunk = chunkId();
    await client.send(messageFrame(TAG, SECONDS, fluentdRecord('team-a'), { chunk }));
    await eventually(async () => (await metricValue(h.registry, 'tlr_forward_messages_total')) === 1);

    // Act
    const closing = h.server.close();
    const answer = await client.next();
    await closing;
    await client.closed;

    // Assess
    expect(answer).toEqual({ ack: chunk });
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(1);
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasOpenssl())('Forward server: TLS', () => {
  let certFile: string;
  let keyFile: string;

  beforeAll(async () => {
    // A throwaway self-signed certificate for localhost, made fresh for this run.
    const dir = await makeTempDir('tlr-forward-tls-');
    certFile = join(dir, 'cert.pem');
    keyFile = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
        '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
      { stdio: 'ignore' },
    );
  });

  it('runs the handshake and stores events over TLS', async () => {
    // Prepare
    const sharedKey = 'tls-shared-key-0123456789';
    const ca = await readFile(certFile);
    const h = await startForwardHarness({ config: { tls: { certFile, keyFile } }, auth: { shared_key: sharedKey } });
    const client = await connectForward(h.port, { ca });
    const chunk = chunkId();

    // Act
    const pong = await client.handshake({ sharedKey });
    await client.send(compressedFrame(TAG, [entryBytes(SECONDS, fluentdRecord('team-a'))], 1, { chunk }));
    const answer = await client.next();

    // Assess
    expect(pong[1]).toBe(true);
    expect(answer).toEqual({ ack: chunk });
    expect(await bufferedEventCount(h.sqliteBuffer)).toBe(1);
  });

  it('refuses to listen when a TLS file cannot be read', async () => {
    // Act
    const error = await startForwardHarness({ config: { tls: { certFile: '/nonexistent/cert.pem', keyFile } } }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as Error).message).toMatch(/'tls.certFile' cannot be read from '\/nonexistent\/cert.pem'/);
  });
});

/** A UDP socket on a port number whose TCP side was free a moment ago; retried if another process races for it. */
async function holdUdpPortFreeForTcp(): Promise<{ holder: ReturnType<typeof createSocket>; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const probe = createServer();
    const port = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as AddressInfo).port)));
    await new Promise((resolve) => probe.close(resolve));
    const holder = createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      holder.once('error', () => resolve(false));
      holder.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) return { holder, port };
    holder.close();
    if (attempt >= 5) throw new Error('No port free for both TCP and UDP.');
  }
}

describe('Forward server: UDP heartbeats', () => {
  /** Sends one datagram to the port and resolves with the answer, or undefined after `ms`. */
  async function udpExchange(port: number, payload: Buffer, ms = 2_000): Promise<Buffer | undefined> {
    const socket = createSocket('udp4');
    try {
      return await new Promise<Buffer | undefined>((resolve, reject) => {
        const timer = setTimeout(() => resolve(undefined), ms);
        socket.once('error', reject);
        socket.once('message', (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        socket.send(payload, port, '127.0.0.1');
      });
    } finally {
      socket.close();
    }
  }

  it('answers a UDP heartbeat on the TCP port with one zero byte, as fluentd does, and counts it', async () => {
    // Prepare
    const h = await startForwardHarness();

    // Act
    const answer = await udpExchange(h.port, Buffer.from([0]));

    // Assess
    expect(answer).toEqual(Buffer.from([0]));
    expect(await metricValue(h.registry, 'tlr_forward_udp_heartbeats_total')).toBe(1);
  });

  it('still serves TCP, with a warning, when the UDP port is taken by another process', async () => {
    // Prepare: hold a UDP port, then ask the server for the same port number.
    // A port whose TCP side was just free (the server needs it), held on the UDP side.
    const { holder, port } = await holdUdpPortFreeForTcp();
    try {
      // Act
      const h = await startForwardHarness({ config: { port } });
      const client = await connectForward(h.port);
      const chunk = chunkId();
      await client.send(forwardFrame(TAG, [[SECONDS, fluentdRecord('team-a')]], { chunk }));
      const ack = await client.next();
      client.end();

      // Assess
      expect(ack).toEqual({ ack: chunk });
      expect(h.logs.some((l) => l.level === 'warn' && l.message.includes('does not answer UDP heartbeats'))).toBe(true);
    } finally {
      holder.close();
    }
  });

  it('stops answering UDP heartbeats once closed', async () => {
    // Prepare
    const h = await startForwardHarness();
    expect(await udpExchange(h.port, Buffer.from([0]))).toBeDefined();

    // Act
    await h.server.close();

    // Assess
    expect(await udpExchange(h.port, Buffer.from([0]), 300)).toBeUndefined();
  });
});
