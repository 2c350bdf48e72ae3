import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { Decoder, encode } from '@msgpack/msgpack';
import { createFrameScanner, encodeWithEventTime, eventTime } from '../../../src/ingest/forward/protocol.js';
import { randomId } from '../../helpers/factories.js';

/**
 * A hand-driven Forward client for the tests: it builds each message byte by byte (every
 * carrier mode, str and bin packing, several gzip members) and reads the server's answers.
 */

/** A record as fluentd's kubernetes_metadata filter (OpenShift's collector) writes it. */
export function fluentdRecord(
  namespace: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    message: `line ${randomId()}`,
    level: 'info',
    kubernetes: {
      namespace_name: namespace,
      pod_name: `api-${randomId()}`,
      container_name: 'server',
      labels: { app: 'billing-api' },
    },
    ...overrides,
  };
}

/** One Entry, `[time, record]`, as msgpack bytes; `time` is integer seconds or [seconds, nanoseconds] as EventTime. */
export function entryBytes(time: number | readonly [number, number], record: Record<string, unknown>): Uint8Array {
  const t = typeof time === 'number' ? time : eventTime(time[0], time[1]);
  return encodeWithEventTime([t, record]);
}

/** A MessagePackEventStream: entries back to back. */
export function entryStream(entries: readonly Uint8Array[]): Buffer {
  return Buffer.concat(entries);
}

function lengthHeader(kind: 'str' | 'bin', length: number): Buffer {
  const header = Buffer.alloc(5);
  header[0] = kind === 'str' ? 0xdb : 0xc6;
  header.writeUInt32BE(length, 1);
  return header;
}

/** Message mode: `[tag, time, record, option?]`. */
export function messageFrame(
  tag: string,
  time: number | readonly [number, number],
  record: Record<string, unknown>,
  option?: Record<string, unknown>,
): Uint8Array {
  const t = typeof time === 'number' ? time : eventTime(time[0], time[1]);
  return encodeWithEventTime(option ? [tag, t, record, option] : [tag, t, record]);
}

/** Forward mode: `[tag, [[time, record], …], option?]`. */
export function forwardFrame(
  tag: string,
  entries: readonly (readonly [number | readonly [number, number], Record<string, unknown>])[],
  option?: Record<string, unknown>,
): Uint8Array {
  const list = entries.map(([time, record]) => [typeof time === 'number' ? time : eventTime(time[0], time[1]), record]);
  return encodeWithEventTime(option ? [tag, list, option] : [tag, list]);
}

/** PackedForward: `[tag, stream, option?]`, the stream as bin or (like fluentd's out_forward) str. */
export function packedFrame(
  tag: string,
  stream: Uint8Array,
  as: 'bin' | 'str',
  option?: Record<string, unknown>,
): Buffer {
  return Buffer.concat([
    Buffer.from([option ? 0x93 : 0x92]),
    encode(tag),
    lengthHeader(as, stream.length),
    stream,
    ...(option ? [encode(option)] : []),
  ]);
}

/** CompressedPackedForward: the stream cut into `members` gzip members, concatenated. */
export function compressedFrame(
  tag: string,
  entries: readonly Uint8Array[],
  members: number,
  option: Record<string, unknown> = {},
): Buffer {
  const per = Math.ceil(entries.length / members);
  const parts: Buffer[] = [];
  for (let i = 0; i < entries.length; i += per) parts.push(gzipSync(entryStream(entries.slice(i, i + per))));
  return packedFrame(tag, Buffer.concat(parts), 'bin', { ...option, compressed: 'gzip' });
}

/** A new chunk id, as clients make them: base64 of 16 random bytes. */
export function chunkId(): string {
  return randomBytes(16).toString('base64');
}

/** A connection to the server that reads its msgpack answers one by one. */
export interface TestForwardClient {
  readonly socket: Socket;
  send(bytes: Uint8Array): Promise<void>;
  /** The next answer (HELO, PONG or ack); rejects when the server closes first or after `timeoutMs`. */
  next(timeoutMs?: number): Promise<unknown>;
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<void>;
  /** Runs HELO → PING → PONG; resolves with the PONG. */
  handshake(auth: { sharedKey: string; hostname?: string; username?: string; password?: string }): Promise<unknown[]>;
  end(): void;
}

/**
 * Connects to a Forward server on 127.0.0.1.
 *
 * @param tls - connect with TLS, trusting this CA certificate
 */
export async function connectForward(port: number, tls?: { ca: Buffer }): Promise<TestForwardClient> {
  const socket: Socket = tls
    ? tlsConnect({ host: '127.0.0.1', port, ca: tls.ca, servername: 'localhost' })
    : connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => {}); // a reset by the server shows as `closed`
  const answers: unknown[] = [];
  const waiters: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  const decoder = new Decoder();
  const scanner = createFrameScanner(1024 * 1024);
  let pending = Buffer.alloc(0);
  let isClosed = false;
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    // Decode as many whole values as arrived; keep a partial one for the next read.
    for (;;) {
      const scan = scanner.scan(pending);
      if (scan.status !== 'complete') break;
      const value = decoder.decode(pending.subarray(0, scan.bytes));
      pending = pending.subarray(scan.bytes);
      scanner.reset();
      const waiter = waiters.shift();
      if (waiter) waiter.resolve(value);
      else answers.push(value);
    }
  });
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      for (const w of waiters.splice(0)) w.reject(new Error('The server closed the connection.'));
      resolve();
    }),
  );

  const client: TestForwardClient = {
    socket,
    closed,
    send: (bytes) =>
      new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve()))),
    next(timeoutMs = 5_000) {
      if (answers.length > 0) return Promise.resolve(answers.shift());
      if (isClosed) return Promise.reject(new Error('The server closed the connection.'));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`No answer within ${timeoutMs} ms.`)), timeoutMs);
        waiters.push({
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
      });
    },
    async handshake({ sharedKey, hostname = 'client.test', username = '', password = '' }) {
      const helo = (await client.next()) as [string, { nonce: Uint8Array; auth: Uint8Array | string }];
      const salt = randomBytes(16);
      const digest = createHash('sha512').update(salt).update(hostname).update(helo[1].nonce).update(sharedKey).digest('hex');
      const authSalt = helo[1].auth;
      const passwordDigest =
        authSalt instanceof Uint8Array && authSalt.length > 0
          ? createHash('sha512').update(authSalt).update(username).update(password).digest('hex')
          : '';
      await client.send(encode(['PING', hostname, salt, digest, username, passwordDigest]));
      return (await client.next()) as unknown[];
    },
    end: () => socket.end(),
  };
  return client;
}
