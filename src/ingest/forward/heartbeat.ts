import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from '../../logging/index.js';

/**
 * UDP heartbeats of Forward protocol v1: fluentd's `out_forward` with `heartbeat_type udp`
 * sends a datagram to the server's port and takes any answer as a sign of life; fluentd's own
 * input answers with one zero byte, and so does this one. The answer is never larger than the
 * request, so the port cannot amplify traffic aimed at a third party.
 */

const HEARTBEAT_ANSWER = Buffer.from([0]);

/** The UDP side of the Forward input, while it runs. */
export interface ForwardHeartbeatResponder {
  close(): Promise<void>;
}

/**
 * Answers UDP heartbeats on the TCP listener's host and port.
 *
 * @param onHeartbeat - called for each heartbeat answered (the counter)
 * @throws the socket's error when the port cannot be bound for UDP (e.g. another process holds it)
 */
export async function startForwardHeartbeatResponder(
  host: string,
  port: number,
  logger: Logger,
  onHeartbeat: () => void,
): Promise<ForwardHeartbeatResponder> {
  const socket: Socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('message', (_request, remote) => {
    onHeartbeat();
    socket.send(HEARTBEAT_ANSWER, remote.port, remote.address, (error) => {
      if (error) logger.debug('Could not answer a Forward UDP heartbeat.', { error, remote: `${remote.address}:${remote.port}` });
    });
  });
  socket.on('error', (error) => logger.warn('The Forward UDP heartbeat socket failed.', { error }));
  return {
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
