import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigValidationError } from '../../domain/index.js';
import { createNamespaceMatcher } from '../http/index.js';
import { type ForwardAuthConfig, validateForwardAuthConfig } from './config.js';
import type { ForwardIdentity } from './events.js';
import { encodeMessage } from './protocol.js';

/**
 * The Forward handshake (spec "Handshake Messages"): the server sends HELO with a nonce (and
 * a salt when users must log in), the client answers PING with
 * `sha512_hex(salt + client_hostname + nonce + shared_key)` and, for users,
 * `sha512_hex(auth_salt + username + password)`, and the server answers PONG with its own
 * digest, so each side proves it holds the key without sending it.
 */

/** Bytes of the nonce and of the user-auth salt (fluentd uses 16 random bytes for both). */
const SALT_BYTES = 16;
/** Hex characters of a SHA-512 digest. */
const SHA512_HEX_CHARS = 128;
const PING = 'PING';

/** Why a handshake failed; the `reason` label of the auth-failure counter. */
export const ForwardAuthFailureReason = {
  HANDSHAKE_TIMEOUT: 'handshake_timeout',
  EXPECTED_PING: 'expected_ping',
  MALFORMED_PING: 'malformed_ping',
  SAME_HOSTNAME: 'same_hostname',
  SHARED_KEY_MISMATCH: 'shared_key_mismatch',
  UNKNOWN_USER: 'unknown_user',
  PASSWORD_MISMATCH: 'password_mismatch',
} as const;
export type ForwardAuthFailureReason = (typeof ForwardAuthFailureReason)[keyof typeof ForwardAuthFailureReason];

/** The outcome of checking a PING; the PONG is sent either way. */
export type HandshakeResult =
  | { readonly ok: true; readonly identity: ForwardIdentity; readonly pong: Uint8Array }
  | {
      readonly ok: false;
      readonly reason: ForwardAuthFailureReason;
      /** For the log; the client gets a vaguer reason, so it cannot probe which usernames exist. */
      readonly message: string;
      readonly pong: Uint8Array;
    };

/** One connection's handshake. */
export interface ForwardHandshake {
  /** The HELO to send as soon as the connection opens. */
  readonly helo: Uint8Array;
  /**
   * Checks the client's first message, which must be a PING.
   * @param message - the message decoded with str as bytes (`decodeHandshakeMessage`), or undefined when it is not an array
   */
  verify(message: readonly unknown[] | undefined): HandshakeResult;
}

/** Authenticates Forward clients. */
export interface ForwardAuthenticator {
  /** Whether clients must go through HELO/PING/PONG (a shared key is configured). */
  readonly handshakeRequired: boolean;
  /** The identity of every connection when there is no handshake. */
  readonly anonymous: ForwardIdentity | undefined;
  /** Starts the handshake of a new connection. */
  startHandshake(): ForwardHandshake;
}

function identity(id: string, clusterId: string, namespaces: readonly string[]): ForwardIdentity {
  return { id, clusterId, namespaces: [...namespaces], allows: createNamespaceMatcher(namespaces) };
}

function sha512Hex(...parts: readonly (Uint8Array | string)[]): string {
  const hash = createHash('sha512');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/** Compares a digest the client sent with the expected one, in time independent of where they differ. */
function digestMatches(sent: Uint8Array, expected: string): boolean {
  if (sent.length !== SHA512_HEX_CHARS) return false;
  // Hex digests are lowercase from every known client; accept uppercase too.
  const normalized = Buffer.from(Buffer.from(sent).toString('latin1').toLowerCase(), 'latin1');
  return timingSafeEqual(normalized, Buffer.from(expected, 'latin1'));
}

function asBytes(value: unknown): Uint8Array | undefined {
  return value instanceof Uint8Array ? value : undefined;
}

const utf8 = new TextDecoder();

/**
 * Creates the authenticator of the Forward input.
 *
 * @param auth - the validated auth config; without `shared_key` there is no handshake and
 *   every connection writes as `anonymous` with the config's cluster and namespaces
 * @param selfHostname - the server's name in PONG
 * @example
 * const auth = createForwardAuthenticator(validateForwardAuthConfig({ shared_key }), 'tlr');
 * const handshake = auth.startHandshake();
 * socket.write(handshake.helo);
 */
export function createForwardAuthenticator(auth: ForwardAuthConfig, selfHostname: string): ForwardAuthenticator {
  const sharedKey = auth.shared_key;
  const keyIdentity = identity(sharedKey === undefined ? 'anonymous' : 'shared-key', auth.cluster_id, auth.namespaces);
  const users = new Map(
    auth.users.map((u) => [u.username, { password: u.password, identity: identity(`user:${u.username}`, u.cluster_id, u.namespaces) }]),
  );
  const userAuth = users.size > 0;

  function failure(reason: ForwardAuthFailureReason, message: string, clientReason: string): HandshakeResult {
    return { ok: false, reason, message, pong: encodeMessage(['PONG', false, clientReason, '', '']) };
  }

  return {
    handshakeRequired: sharedKey !== undefined,
    anonymous: sharedKey === undefined ? keyIdentity : undefined,
    startHandshake() {
      if (sharedKey === undefined) throw new Error('No handshake without a shared key.');
      const nonce = randomBytes(SALT_BYTES);
      const authSalt = userAuth ? randomBytes(SALT_BYTES) : undefined;
      // bin for the nonce and salt: they are random bytes, and clients hash them as such.
      const helo = encodeMessage(['HELO', { nonce, auth: authSalt ?? '', keepalive: true }]);
      return {
        helo,
        verify(message) {
          const type = message && asBytes(message[0]);
          if (!message || !type || utf8.decode(type) !== PING) {
            return failure(
              ForwardAuthFailureReason.EXPECTED_PING,
              'The first message was not a PING; is the client configured with the shared key?',
              'expected PING',
            );
          }
          const [, hostnameBytes, salt, digest, usernameBytes, passwordDigest] = message.map(asBytes);
          if (message.length !== 6 || !hostnameBytes || !salt || !digest || !usernameBytes || !passwordDigest) {
            return failure(
              ForwardAuthFailureReason.MALFORMED_PING,
              'The PING must be [PING, hostname, salt, digest, username, password], all strings.',
              'malformed PING',
            );
          }
          const hostname = utf8.decode(hostnameBytes);
          if (hostname === selfHostname) {
            return failure(
              ForwardAuthFailureReason.SAME_HOSTNAME,
              `The client calls itself '${hostname}', the server's own name; set another self_hostname on one side.`,
              'same hostname between input and output: invalid configuration',
            );
          }
          if (!digestMatches(digest, sha512Hex(salt, hostnameBytes, nonce, sharedKey))) {
            return failure(
              ForwardAuthFailureReason.SHARED_KEY_MISMATCH,
              `The client '${hostname}' does not hold the shared key.`,
              'shared_key mismatch',
            );
          }
          let who = keyIdentity;
          if (authSalt !== undefined) {
            const username = utf8.decode(usernameBytes);
            const user = users.get(username);
            if (user === undefined) {
              return failure(
                ForwardAuthFailureReason.UNKNOWN_USER,
                `The client '${hostname}' logged in as unknown user '${username}'.`,
                'username/password mismatch',
              );
            }
            if (!digestMatches(passwordDigest, sha512Hex(authSalt, usernameBytes, user.password))) {
              return failure(
                ForwardAuthFailureReason.PASSWORD_MISMATCH,
                `The client '${hostname}' gave a wrong password for user '${username}'.`,
                'username/password mismatch',
              );
            }
            who = user.identity;
          }
          const pong = encodeMessage(['PONG', true, '', selfHostname, sha512Hex(salt, selfHostname, nonce, sharedKey)]);
          return { ok: true, identity: who, pong };
        },
      };
    },
  };
}

/**
 * Reads and validates a Forward auth file (`tlr up --forward-auth <file>`): JSON
 * `{"shared_key": "…", "cluster_id": "…", "namespaces": […], "users": [{"username", "password", "cluster_id", "namespaces"}]}`.
 *
 * @throws ConfigValidationError when the file cannot be read, is not JSON, or breaks a rule
 */
export async function readForwardAuthFile(path: string): Promise<ForwardAuthConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigValidationError(
      [{ field: '', message: `'${path}' cannot be read: ${(error as Error).message}` }],
      'Forward auth file',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigValidationError(
      [{ field: '', message: `'${path}' is not valid JSON: ${(error as Error).message}` }],
      'Forward auth file',
    );
  }
  return validateForwardAuthConfig(value);
}
