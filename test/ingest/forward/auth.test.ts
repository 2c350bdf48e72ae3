import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import { createForwardAuthenticator, readForwardAuthFile } from '../../../src/ingest/forward/auth.js';
import { validateForwardAuthConfig } from '../../../src/ingest/forward/config.js';
import { decodeHandshakeMessage } from '../../../src/ingest/forward/protocol.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const KEY = 'auth-test-shared-key-0123';
const SERVER = 'router.test';

afterEach(removeTempDirs);

function sha512Hex(...parts: (Uint8Array | string)[]): string {
  const hash = createHash('sha512');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
}

/** A PING as a client builds it from the HELO; `saltAs: 'str'` packs the salt as str, as some clients do. */
function ping(
  helo: Uint8Array,
  options: { key?: string; hostname?: string; username?: string; password?: string; saltAs?: 'bin' | 'str'; upper?: boolean } = {},
): Uint8Array {
  const [, { nonce, auth }] = decode(helo) as [string, { nonce: Uint8Array; auth: Uint8Array | string }];
  const hostname = options.hostname ?? 'client.test';
  const salt = randomBytes(16);
  let digest = sha512Hex(salt, hostname, nonce, options.key ?? KEY);
  if (options.upper) digest = digest.toUpperCase();
  const username = options.username ?? '';
  const password =
    auth instanceof Uint8Array && auth.length > 0 ? sha512Hex(auth, username, options.password ?? '') : '';
  if (options.saltAs !== 'str') return encode(['PING', hostname, salt, digest, username, password]);
  // str with raw (non-UTF-8) bytes: must reach the digest unchanged
  return Buffer.concat([
    Buffer.from([0x96]),
    encode('PING'),
    encode(hostname),
    Buffer.from([0xd9, salt.length]),
    salt,
    encode(digest),
    encode(username),
    encode(password),
  ]);
}

const users = [
  { username: 'alice', password: 'alice-password-0123', cluster_id: 'cluster-alice', namespaces: ['alice-*'] },
];

describe('createForwardAuthenticator', () => {
  it.each(['bin', 'str'] as const)('logs in a client holding the shared key (salt as %s) and signs the PONG', (saltAs) => {
    // Prepare
    const auth = createForwardAuthenticator(validateForwardAuthConfig({ shared_key: KEY, cluster_id: 'c1' }), SERVER);
    const handshake = auth.startHandshake();
    const message = ping(handshake.helo, { saltAs });
    const [, , salt] = decodeHandshakeMessage(message) as Uint8Array[];
    const [, { nonce }] = decode(handshake.helo) as [string, { nonce: Uint8Array }];

    // Act
    const result = handshake.verify(decodeHandshakeMessage(message));

    // Assess
    expect(result.ok).toBe(true);
    expect(result.ok && result.identity).toMatchObject({ id: 'shared-key', clusterId: 'c1', namespaces: ['*'] });
    expect(decode(result.pong)).toEqual(['PONG', true, '', SERVER, sha512Hex(salt!, SERVER, nonce, KEY)]);
  });

  it('sends a HELO with a fresh 16-byte nonce, no auth salt without users, and keepalive', () => {
    // Prepare
    const auth = createForwardAuthenticator(validateForwardAuthConfig({ shared_key: KEY }), SERVER);

    // Act
    const helo = () => decode(auth.startHandshake().helo) as [string, Record<string, unknown>];
    const [a, b] = [helo(), helo()];

    // Assess
    expect(a![0]).toBe('HELO');
    expect(a![1]).toMatchObject({ auth: '', keepalive: true });
    expect((a![1]['nonce'] as Uint8Array).length).toBe(16);
    expect(Buffer.from(a![1]['nonce'] as Uint8Array)).not.toEqual(Buffer.from(b![1]['nonce'] as Uint8Array));
  });

  it('accepts a digest in upper-case hex', () => {
    // Prepare
    const handshake = createForwardAuthenticator(validateForwardAuthConfig({ shared_key: KEY }), SERVER).startHandshake();

    // Act
    const result = handshake.verify(decodeHandshakeMessage(ping(handshake.helo, { upper: true })));

    // Assess
    expect(result.ok).toBe(true);
  });

  it.each([
    ['a wrong shared key', { key: 'some-other-shared-key-000' }, 'shared_key_mismatch', 'shared_key mismatch'],
    ["the server's own hostname", { hostname: SERVER }, 'same_hostname', 'same hostname between input and output: invalid configuration'],
  ])('refuses a PING with %s', (_case, options, reason, clientReason) => {
    // Prepare
    const handshake = createForwardAuthenticator(validateForwardAuthConfig({ shared_key: KEY }), SERVER).startHandshake();

    // Act
    const result = handshake.verify(decodeHandshakeMessage(ping(handshake.helo, options)));

    // Assess
    expect(result).toMatchObject({ ok: false, reason });
    expect(decode(result.pong)).toEqual(['PONG', false, clientReason, '', '']);
  });

  it.each([
    ['an event instead of a PING', encode(['app.tag', 1_700_000_000, { a: 1 }]), 'expected_ping'],
    ['a value that is not an array', encode('PING'), 'expected_ping'],
    ['a PING with five elements', encode(['PING', 'h', 'salt', 'digest', '']), 'malformed_ping'],
    ['a PING with a number for the digest', encode(['PING', 'h', 'salt', 5, '', '']), 'malformed_ping'],
  ])('refuses %s', (_case, message, reason) => {
    // Prepare
    const handshake = createForwardAuthenticator(validateForwardAuthConfig({ shared_key: KEY }), SERVER).startHandshake();

    // Act
    const result = handshake.verify(decodeHandshakeMessage(message));

    // Assess
    expect(result).toMatchObject({ ok: false, reason });
  });

  it("logs a user in with the salted password digest and gives the user's binding", () => {
    // Prepare
    const auth = createForwardAuthenticator(validateForwardAuthConfig({ shared_key: KEY, users }), SERVER);
    const handshake = auth.startHandshake();
    const [, { auth: salt }] = decode(handshake.helo) as [string, { auth: Uint8Array }];

    // Act
    const result = handshake.verify(
      decodeHandshakeMessage(ping(handshake.helo, { username: 'alice', password: 'alice-password-0123' })),
    );

    // Assess
    expect(salt).toBeInstanceOf(Uint8Array);
    expect(salt.length).toBe(16);
    expect(result.ok && result.identity).toMatchObject({ id: 'user:alice', clusterId: 'cluster-alice', namespaces: ['alice-*'] });
    expect(result.ok && result.identity.allows('alice-dev')).toBe(true);
    expect(result.ok && result.identity.allows('bob-dev')).toBe(false);
  });

  it.each([
    ['a wrong password', 'alice', 'not-her-password-000', 'password_mismatch'],
    ['an unknown user', 'eve', 'alice-password-0123', 'unknown_user'],
  ])('refuses %s with the same vague reason to the client', (_case, username, password, reason) => {
    // Prepare
    const handshake = createForwardAuthenticator(validateForwardAuthConfig({ shared_key: KEY, users }), SERVER).startHandshake();

    // Act
    const result = handshake.verify(decodeHandshakeMessage(ping(handshake.helo, { username, password })));

    // Assess
    expect(result).toMatchObject({ ok: false, reason });
    expect(decode(result.pong)).toEqual(['PONG', false, 'username/password mismatch', '', '']);
  });

  it('needs no handshake without a shared key, and binds every connection to the configured cluster', () => {
    // Act
    const auth = createForwardAuthenticator(validateForwardAuthConfig({ cluster_id: 'lab', namespaces: ['lab-*'] }), SERVER);

    // Assess
    expect(auth.handshakeRequired).toBe(false);
    expect(auth.anonymous).toMatchObject({ id: 'anonymous', clusterId: 'lab', namespaces: ['lab-*'] });
  });
});

describe('readForwardAuthFile', () => {
  it('reads and validates the file, filling in defaults', async () => {
    // Prepare
    const path = join(await makeTempDir('tlr-forward-auth-'), 'auth.json');
    await writeFile(path, JSON.stringify({ shared_key: KEY, users }));

    // Act
    const auth = await readForwardAuthFile(path);

    // Assess
    expect(auth).toEqual({ shared_key: KEY, cluster_id: 'local', namespaces: ['*'], users });
  });

  it.each([
    ['a missing file', undefined, /cannot be read/],
    ['a file that is not JSON', '{ shared_key: ', /is not valid JSON/],
    ['users without a shared key', JSON.stringify({ users }), /'shared_key' is required when 'users' are listed/],
  ])('refuses %s', async (_case, content, message) => {
    // Prepare
    const path = join(await makeTempDir('tlr-forward-auth-'), 'auth.json');
    if (content !== undefined) await writeFile(path, content);

    // Act
    const error = await readForwardAuthFile(path).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as Error).message).toMatch(message);
  });
});
