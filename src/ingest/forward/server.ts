import { readFile } from 'node:fs/promises';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Registry } from 'prom-client';
import { ConfigValidationError } from '../../domain/index.js';
import type { Logger } from '../../logging/index.js';
import { counter, gauge } from '../../metrics/index.js';
import type { IngestBuffer } from '../../stores/ports.js';
import type { BackpressureCheck } from '../backpressure.js';
import { createForwardAuthenticator, ForwardAuthFailureReason, type ForwardHandshake } from './auth.js';
import type { ForwardAuthConfig, ForwardConfig } from './config.js';
import { type ChunkClaim, createChunkWindow } from './dedup.js';
import { type ForwardHeartbeatResponder, startForwardHeartbeatResponder } from './heartbeat.js';
import { createForwardEventMapper, type ForwardIdentity } from './events.js';
import {
  type BadFrame,
  createFrameScanner,
  decodeHandshakeMessage,
  encodeAck,
  type EntryResult,
  type EntryStream,
  type EventFrame,
  ForwardMode,
  inflateEntries,
  readEntries,
  readEventFrame,
} from './protocol.js';

/** Why a connection ended; the `reason` label of the disconnect counter. */
export const DisconnectReason = {
  CLIENT_CLOSED: 'client_closed',
  IDLE_TIMEOUT: 'idle_timeout',
  AUTH_FAILED: 'auth_failed',
  BAD_FRAME: 'bad_frame',
  BUFFER_WRITE_FAILED: 'buffer_write_failed',
  SERVER_CLOSING: 'server_closing',
  MAX_CONNECTIONS: 'max_connections',
  SOCKET_ERROR: 'socket_error',
} as const;
export type DisconnectReason = (typeof DisconnectReason)[keyof typeof DisconnectReason];

/** Time a client gets to read a failed PONG before the socket is destroyed. */
const FAILED_PONG_LINGER_MS = 1_000;
/** Least time between two warnings about refused records on one connection; the counter has every one. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;
/** The `reason` of a wait for the ingest buffer's own limit (`maxBufferedBytes`). */
const BUFFER_FULL_REASON = 'buffer_full';

/** What the Forward server needs. */
export interface ForwardServerOptions {
  /** Validated (`validateForwardConfig`). */
  readonly config: ForwardConfig;
  /** Validated (`validateForwardAuthConfig`); without a shared key there is no handshake. */
  readonly auth: ForwardAuthConfig;
  readonly buffer: IngestBuffer;
  readonly logger: Logger;
  readonly registry: Registry;
  /**
   * Asked with the buffer's own limit before each event message: while it refuses (delivery
   * behind, store full), the connection is not read, as when the buffer is full.
   */
  readonly backpressure?: BackpressureCheck;
  /** The clock for receive times; default `Date.now`. */
  readonly now?: () => number;
}

/** Where the server listens. */
export interface ForwardAddress {
  readonly host: string;
  readonly port: number;
}

/** A running (or ready) Forward input. */
export interface ForwardServer {
  /** Starts listening; resolves with the bound address (the real port when the config says 0). */
  listen(): Promise<ForwardAddress>;
  /** The bound address, once listening. */
  address(): ForwardAddress | undefined;
  /**
   * Stops accepting, lets each connection finish the message it is storing (so its ack goes
   * out), then closes every connection.
   */
  close(): Promise<void>;
}

/** A growable byte buffer holding what a connection read and has not yet handled. */
interface ReadBuffer {
  bytes(): Buffer;
  append(chunk: Buffer): void;
  /** Removes and returns the first `n` bytes; the result no longer shares memory with the buffer. */
  take(n: number): Buffer;
  readonly length: number;
}

function createReadBuffer(): ReadBuffer {
  let buf: Buffer = Buffer.alloc(0);
  let length = 0;
  return {
    get length() {
      return length;
    },
    bytes: () => buf.subarray(0, length),
    append(chunk) {
      if (length === 0) {
        // Usually one read holds one whole message: keep the read's own buffer, no copy.
        buf = chunk;
        length = chunk.length;
        return;
      }
      if (length + chunk.length > buf.length) {
        // Double the capacity, so a message arriving in many reads is copied O(size) times in all.
        const grown = Buffer.allocUnsafe(Math.max(length + chunk.length, buf.length * 2));
        buf.copy(grown, 0, 0, length);
        buf = grown;
      }
      chunk.copy(buf, length);
      length += chunk.length;
    },
    take(n) {
      if (n === length) {
        const all = buf.subarray(0, n);
        buf = Buffer.alloc(0);
        length = 0;
        return all;
      }
      const head = Buffer.from(buf.subarray(0, n));
      buf.copy(buf, 0, n, length);
      length -= n;
      return head;
    },
  };
}

/** A Message-mode message's one entry, as a stream. */
function oneEntry(entry: EntryResult): EntryStream {
  return { count: 1, problem: undefined, [Symbol.iterator]: () => [entry][Symbol.iterator]() };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readTlsFile(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ConfigValidationError(
      [{ field: `tls.${field}`, message: `cannot be read from '${path}': ${(error as Error).message}` }],
      'Forward input config',
    );
  }
}

/**
 * Creates the Fluent Forward input: a TCP (or TLS) server speaking Forward protocol v1, with
 * the shared-key handshake when a shared key is configured. Events are answered with
 * `{"ack": chunk}` only after `IngestBuffer.append` committed them; while the buffer holds
 * more than `maxBufferedBytes`, or the `backpressure` check refuses (delivery behind, store full),
 * the server stops reading, so TCP pushes back on the client.
 *
 * @throws ConfigValidationError from `listen()` when a TLS file cannot be read
 * @example
 * const server = createForwardServer({ config, auth, buffer, logger, registry });
 * const { port } = await server.listen();
 * // …
 * await server.close();
 */
export function createForwardServer(options: ForwardServerOptions): ForwardServer {
  const { config, buffer, registry } = options;
  const logger = options.logger.child({ component: 'forward-ingest' });
  const now = options.now ?? Date.now;
  const authenticator = createForwardAuthenticator(options.auth, config.selfHostname);
  const mapEntries = createForwardEventMapper(config.mapping);
  const chunkWindow = createChunkWindow(config.dedupWindowChunks);

  const connectionsTotal = counter(registry, {
    name: 'tlr_forward_connections_total',
    help: 'Connections accepted by the Forward input.',
  });
  const disconnects = counter(registry, {
    name: 'tlr_forward_disconnects_total',
    help: 'Forward connections ended or refused, by reason.',
    labelNames: ['reason'] as const,
  });
  const messagesTotal = counter(registry, {
    name: 'tlr_forward_messages_total',
    help: 'Forward messages handled, by event mode.',
    labelNames: ['mode'] as const,
  });
  const eventsTotal = counter(registry, {
    name: 'tlr_forward_events_total',
    help: 'Records received by the Forward input, accepted or refused, by reason.',
    labelNames: ['result', 'reason'] as const,
  });
  const chunksAcked = counter(registry, {
    name: 'tlr_forward_chunks_acked_total',
    help: 'Chunks acked after their events were stored; duplicate="true" for resends acked without storing again.',
    labelNames: ['duplicate'] as const,
  });
  const authFailures = counter(registry, {
    name: 'tlr_forward_auth_failures_total',
    help: 'Forward handshakes that failed, by reason; the connection is closed.',
    labelNames: ['reason'] as const,
  });
  const badFrames = counter(registry, {
    name: 'tlr_forward_bad_frames_total',
    help: 'Forward messages that could not be read, by reason; the connection is closed.',
    labelNames: ['reason'] as const,
  });
  const backpressureWaits = counter(registry, {
    name: 'tlr_forward_backpressure_waits_total',
    help:
      'Times a Forward connection stopped being read, by reason: buffer_full (the ingest buffer is over its limit), ' +
      'queue_backlog (delivery is behind), store_full (the object store is full).',
    labelNames: ['reason'] as const,
  });
  const pausedConnections = gauge(registry, {
    name: 'tlr_forward_paused_connections',
    help: 'Forward connections not being read while ingest is held back (buffer full, delivery behind, store full).',
  });
  const heartbeats = counter(registry, {
    name: 'tlr_forward_udp_heartbeats_total',
    help: 'UDP heartbeats (fluentd heartbeat_type udp) answered by the Forward input.',
  });
  const openConnections = gauge(registry, {
    name: 'tlr_forward_connections',
    help: 'Open Forward connections.',
  });

  interface Connection {
    busy: boolean;
    bufferedBytes(): number;
    close(reason: DisconnectReason): void;
  }
  const connections = new Set<Connection>();
  gauge(registry, {
    name: 'tlr_forward_read_buffer_bytes',
    help: 'Bytes Forward connections have read and not yet handled (at most one message each).',
    collect() {
      let bytes = 0;
      for (const c of connections) bytes += c.bufferedBytes();
      this.set(bytes);
    },
  });
  gauge(registry, {
    name: 'tlr_forward_dedup_chunk_ids',
    help: 'Acked chunk ids remembered to recognize resent chunks.',
    collect() {
      this.set(chunkWindow.size());
    },
  });

  let server: Server | undefined;
  let heartbeatResponder: ForwardHeartbeatResponder | undefined;
  let bound: ForwardAddress | undefined;
  let closing = false;

  /** Why ingest is held back now, or undefined when events may be stored. */
  async function heldBackBy(): Promise<string | undefined> {
    if ((await buffer.pendingBytes()) > config.maxBufferedBytes) return BUFFER_FULL_REASON;
    const state = await options.backpressure?.check();
    return state && !state.ok ? state.reason : undefined;
  }

  /**
   * Waits while the buffer is over its limit or the back-pressure check refuses; false when
   * the connection or the server closed meanwhile.
   */
  async function waitForRoom(isClosed: () => boolean): Promise<boolean> {
    let waited = false;
    try {
      for (let reason = await heldBackBy(); reason !== undefined; reason = await heldBackBy()) {
        if (isClosed() || closing) return false;
        if (!waited) {
          waited = true;
          backpressureWaits.inc({ reason });
          pausedConnections.inc();
        }
        await sleep(config.backpressureCheckMs);
      }
      return !isClosed() && !closing;
    } finally {
      if (waited) pausedConnections.dec();
    }
  }

  function handleConnection(socket: Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const log = logger.child({ remote });
    if (closing) {
      disconnects.inc({ reason: DisconnectReason.SERVER_CLOSING });
      socket.destroy();
      return;
    }
    connectionsTotal.inc();
    openConnections.inc();
    socket.setNoDelay(true); // acks are tiny and the client waits for each one
    socket.setKeepAlive(true, config.keepAliveInitialDelayMs);
    socket.setTimeout(config.idleTimeoutMs);

    const readBuffer = createReadBuffer();
    const scanner = createFrameScanner(config.maxMessageBytes);
    let identity: ForwardIdentity | undefined = authenticator.anonymous;
    let handshake: ForwardHandshake | undefined;
    let handshakeTimer: NodeJS.Timeout | undefined;
    let closeReason: DisconnectReason | undefined;
    let lastRefusalLogMs = Number.NEGATIVE_INFINITY;
    const isClosed = () => closeReason !== undefined;

    const connection: Connection = {
      busy: false,
      bufferedBytes: () => readBuffer.length,
      close(reason) {
        if (closeReason !== undefined) return;
        closeReason = reason;
        clearTimeout(handshakeTimer);
        socket.destroy();
      },
    };
    connections.add(connection);

    function badFrame(frame: BadFrame): void {
      badFrames.inc({ reason: frame.reason });
      log.warn('Closed a Forward connection that sent a message it cannot read.', {
        reason: frame.reason,
        detail: frame.message,
        client: identity?.id,
      });
      connection.close(DisconnectReason.BAD_FRAME);
    }

    function authFailed(reason: ForwardAuthFailureReason, message: string, pong: Uint8Array | undefined): void {
      authFailures.inc({ reason });
      log.warn('Closed a Forward connection whose handshake failed.', { reason, detail: message });
      closeReason = DisconnectReason.AUTH_FAILED;
      clearTimeout(handshakeTimer);
      if (pong) {
        // The failed PONG tells the client why; give it a moment to read it, then drop the socket.
        socket.end(pong);
        setTimeout(() => socket.destroy(), FAILED_PONG_LINGER_MS).unref();
      } else {
        socket.destroy();
      }
    }

    function countRefused(refused: Map<string, number>, firstRefusal: string | undefined, total: number): void {
      if (refused.size === 0) return;
      let count = 0;
      for (const [reason, n] of refused) {
        eventsTotal.inc({ result: 'refused', reason }, n);
        count += n;
      }
      const at = now();
      if (at - lastRefusalLogMs >= REFUSAL_LOG_INTERVAL_MS) {
        lastRefusalLogMs = at;
        log.warn('Refused Forward records that cannot be stored (further ones on this connection are only counted for a minute).', {
          client: identity!.id,
          refused: count,
          of: total,
          reasons: Object.fromEntries(refused),
          first: firstRefusal,
        });
      }
    }

    /** Stores one event message; resolves false when the connection must not go on. */
    async function storeMessage(frame: EventFrame): Promise<boolean> {
      const who = identity!;
      messagesTotal.inc({ mode: frame.mode });
      const chunk = frame.option.chunk;
      let claim: ChunkClaim | undefined;
      if (chunk !== undefined) {
        claim = await chunkWindow.claim(who.id, chunk);
        if (claim.status === 'duplicate') {
          // Stored already through a connection that died before its ack: ack, do not store again.
          if (!isClosed()) socket.write(encodeAck(chunk));
          chunksAcked.inc({ duplicate: 'true' });
          return true;
        }
      }
      let stored = false;
      try {
        // Wait for room before inflating: a held-back connection keeps only the compressed bytes.
        if (!(await waitForRoom(isClosed))) return false;
        let entries: EntryStream;
        if (frame.mode === ForwardMode.MESSAGE) {
          entries = oneEntry(frame.entry);
        } else {
          let stream: Uint8Array = frame.entries;
          if (frame.mode === ForwardMode.COMPRESSED_PACKED_FORWARD) {
            const inflated = await inflateEntries(stream, config.maxDecompressedBytes);
            if (!inflated.ok) {
              badFrame(inflated);
              return false;
            }
            stream = inflated.bytes;
          }
          // Decoded lazily while mapping, so one record is alive at a time: decoding a whole chunk
          // first kept thousands of records alive across young-generation collections.
          entries = readEntries(stream);
        }
        const mapped = mapEntries(frame.tag, entries, who);
        if (entries.problem) {
          badFrame(entries.problem);
          return false;
        }
        countRefused(mapped.refused, mapped.firstRefusal, entries.count);
        if (mapped.events.length > 0) {
          try {
            await buffer.append(mapped.events, now());
          } catch (error) {
            log.error('Storing Forward events in the buffer failed; closing the connection so the client resends.', {
              client: who.id,
              events: mapped.events.length,
              error,
            });
            connection.close(DisconnectReason.BUFFER_WRITE_FAILED);
            return false;
          }
          eventsTotal.inc({ result: 'accepted', reason: 'accepted' }, mapped.events.length);
        }
        stored = true;
      } finally {
        if (claim?.status === 'new') claim.settle(stored);
      }
      if (chunk !== undefined && !isClosed()) {
        socket.write(encodeAck(chunk));
        chunksAcked.inc({ duplicate: 'false' });
      }
      return true;
    }

    function onHandshakeMessage(frame: Buffer): void {
      const result = handshake!.verify(decodeHandshakeMessage(frame));
      if (!result.ok) {
        authFailed(result.reason, result.message, result.pong);
        return;
      }
      clearTimeout(handshakeTimer);
      handshake = undefined;
      identity = result.identity;
      socket.write(result.pong);
      log.debug('A Forward client logged in.', { client: identity.id });
    }

    /** Handles every complete message in the read buffer, one at a time. */
    function pump(): void {
      while (!connection.busy && !isClosed()) {
        const scan = scanner.scan(readBuffer.bytes());
        if (scan.status === 'incomplete') return;
        if (scan.status === 'invalid') {
          badFrame({ ok: false, reason: scan.reason, message: scan.message });
          return;
        }
        const bytes = readBuffer.take(scan.bytes);
        scanner.reset();
        if (handshake) {
          onHandshakeMessage(bytes);
          continue;
        }
        const frame = readEventFrame(bytes);
        if (!frame.ok) {
          badFrame(frame);
          return;
        }
        if (frame.mode === 'heartbeat') continue;
        // Stop reading while the message is stored: what the client sends meanwhile waits in
        // the kernel's buffers, and a client that sends faster than we store is slowed by TCP.
        connection.busy = true;
        socket.pause();
        socket.setTimeout(0);
        storeMessage(frame).then(
          (goOn) => {
            connection.busy = false;
            if (closing) connection.close(DisconnectReason.SERVER_CLOSING);
            if (!goOn || isClosed()) return;
            socket.setTimeout(config.idleTimeoutMs);
            socket.resume();
            pump();
          },
          (error: unknown) => {
            connection.busy = false;
            log.error('Handling a Forward message failed.', { error });
            connection.close(DisconnectReason.SOCKET_ERROR);
          },
        );
      }
    }

    socket.on('data', (chunk: Buffer) => {
      if (isClosed()) return;
      readBuffer.append(chunk);
      pump();
    });
    socket.on('timeout', () => {
      log.debug('Closed an idle Forward connection.', { idleTimeoutMs: config.idleTimeoutMs });
      connection.close(DisconnectReason.IDLE_TIMEOUT);
    });
    socket.on('error', (error) => {
      log.debug('A Forward connection failed.', { error });
      if (closeReason === undefined) closeReason = DisconnectReason.SOCKET_ERROR;
    });
    socket.on('close', () => {
      clearTimeout(handshakeTimer);
      connections.delete(connection);
      openConnections.dec();
      disconnects.inc({ reason: closeReason ?? DisconnectReason.CLIENT_CLOSED });
      closeReason ??= DisconnectReason.CLIENT_CLOSED;
    });

    if (authenticator.handshakeRequired) {
      handshake = authenticator.startHandshake();
      socket.write(handshake.helo);
      handshakeTimer = setTimeout(
        () =>
          authFailed(
            ForwardAuthFailureReason.HANDSHAKE_TIMEOUT,
            `No PING within ${config.handshakeTimeoutMs} ms of HELO.`,
            undefined,
          ),
        config.handshakeTimeoutMs,
      );
    }
    log.debug('Accepted a Forward connection.');
  }

  return {
    async listen() {
      if (server) throw new Error('The Forward server is already listening.');
      const tls = config.tls;
      const created = tls
        ? createTlsServer(
          {
            cert: await readTlsFile(tls.certFile, 'certFile'),
            key: await readTlsFile(tls.keyFile, 'keyFile'),
          },
          handleConnection,
        )
        : createTcpServer(handleConnection);
      created.maxConnections = config.maxConnections;
      created.on('drop', (data) => {
        disconnects.inc({ reason: DisconnectReason.MAX_CONNECTIONS });
        logger.warn('Refused a Forward connection: too many open.', {
          remote: `${data?.remoteAddress ?? '?'}:${data?.remotePort ?? '?'}`,
          maxConnections: config.maxConnections,
        });
      });
      created.on('tlsClientError', (error: Error) => {
        logger.debug('A TLS handshake with a Forward client failed.', { error });
        disconnects.inc({ reason: DisconnectReason.SOCKET_ERROR });
      });
      await new Promise<void>((resolve, reject) => {
        created.once('error', reject);
        created.listen({ host: config.host, port: config.port }, () => {
          created.off('error', reject);
          resolve();
        });
      });
      server = created;
      const address = created.address();
      bound =
        typeof address === 'object' && address ? { host: address.address, port: address.port } : { host: config.host, port: config.port };
      created.on('error', (error) => logger.error('The Forward listener failed.', { error }));
      try {
        heartbeatResponder = await startForwardHeartbeatResponder(bound.host, bound.port, logger, () => heartbeats.inc());
      } catch (error) {
        // TCP works without it: clients with heartbeat_type transport or none do not need it.
        logger.warn('The Forward input does not answer UDP heartbeats: the UDP port cannot be bound.', {
          error,
          ...bound,
          hint: 'use heartbeat_type transport in fluentd, or free the UDP port',
        });
      }
      logger.info('The Forward input is listening.', {
        ...bound,
        tls: tls !== undefined,
        handshake: authenticator.handshakeRequired,
        udpHeartbeats: heartbeatResponder !== undefined,
      });
      return bound;
    },
    address: () => bound,
    async close() {
      if (!server) return;
      closing = true;
      const stopped = new Promise<void>((resolve) => server!.close(() => resolve()));
      for (const connection of connections) {
        if (!connection.busy) connection.close(DisconnectReason.SERVER_CLOSING);
      }
      await Promise.all([stopped, heartbeatResponder?.close()]);
      server = undefined;
      heartbeatResponder = undefined;
    },
  };
}
