import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  bodyHashMatches,
  createReplayGuard,
  EMPTY_BODY_SHA256,
  parseApiTimestamp,
  sha256Hex,
  SignatureFailureReason,
  SignedQueryForm,
  signRequest,
  verifySignature,
  type VerifySignatureOptions,
} from '../../../src/api/auth/index.js';

// An independent reference: the spec formula written out with node:crypto, never via signRequest.
const referenceSha256 = (body: string): string => createHash('sha256').update(Buffer.from(body, 'utf8')).digest('hex');
const referenceHmac = (key: string, stringToSign: string): string =>
  createHmac('sha256', Buffer.from(key, 'utf8')).update(Buffer.from(stringToSign, 'utf8')).digest('hex');

const CURRENT_KEY = 'tlr-test-psk-current';
const PREVIOUS_KEY = 'tlr-test-psk-previous';
const TIMESTAMP = '2024-05-01T12:00:00Z';
const NOW_MS = Date.UTC(2024, 4, 1, 12, 0, 0);
const JSON_BODY = '{"tenant_id":"acme","type":"cloudwatch","log_group_name":"/acme/app"}';
const ENCODED_PATH_AND_QUERY = '/api/v1/delivery-configs?cursor=a%2Fb%23c&name=caf%C3%A9&q=x+y&limit=10';
const DECODED_PATH_AND_QUERY = '/api/v1/delivery-configs?cursor=a/b#c&name=café&q=x y&limit=10';

/** A request as a client sends it: the string to sign is written out by hand. */
interface Vector {
  name: string;
  method: string;
  pathAndQuery: string;
  timestamp: string;
  body: string;
  stringToSign: string;
}

const VECTORS: Vector[] = [
  {
    name: 'GET without body',
    method: 'GET',
    pathAndQuery: '/api/v1/tenants/acme/delivery-configs',
    timestamp: TIMESTAMP,
    body: '',
    stringToSign: `GET/api/v1/tenants/acme/delivery-configs${TIMESTAMP}e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`,
  },
  {
    name: 'POST with a JSON body',
    method: 'POST',
    pathAndQuery: '/api/v1/tenants/acme/delivery-configs',
    timestamp: TIMESTAMP,
    body: JSON_BODY,
    stringToSign: `POST/api/v1/tenants/acme/delivery-configs${TIMESTAMP}${referenceSha256(JSON_BODY)}`,
  },
  {
    name: 'GET with an encoded query, signed raw',
    method: 'GET',
    pathAndQuery: ENCODED_PATH_AND_QUERY,
    timestamp: TIMESTAMP,
    body: '',
    stringToSign: `GET${ENCODED_PATH_AND_QUERY}${TIMESTAMP}${EMPTY_BODY_SHA256}`,
  },
];

function signedHeaders(vector: Omit<Vector, 'name' | 'pathAndQuery'>, key = CURRENT_KEY) {
  return {
    authorization: `HMAC-SHA256 ${referenceHmac(key, vector.stringToSign)}`,
    'x-api-timestamp': vector.timestamp,
    'x-body-sha256': referenceSha256(vector.body),
  };
}

function verifyOptions(overrides: Partial<VerifySignatureOptions> = {}): VerifySignatureOptions {
  const vector = VECTORS[0]!;
  return {
    method: vector.method,
    rawPathAndQuery: vector.pathAndQuery,
    headers: signedHeaders(vector),
    keys: [CURRENT_KEY, PREVIOUS_KEY],
    nowMs: NOW_MS,
    ...overrides,
  };
}

describe('sha256Hex', () => {
  it.each([
    { name: 'an empty string', body: '' as string | Uint8Array, expected: EMPTY_BODY_SHA256 },
    { name: 'empty bytes', body: new Uint8Array(), expected: EMPTY_BODY_SHA256 },
    { name: 'a JSON string', body: JSON_BODY, expected: referenceSha256(JSON_BODY) },
    { name: 'the same JSON as bytes', body: Buffer.from(JSON_BODY, 'utf8'), expected: referenceSha256(JSON_BODY) },
  ])('hashes $name to the lowercase hex SHA-256', ({ body, expected }) => {
    // Prepare
    // Act
    const hex = sha256Hex(body);
    // Assess
    expect(hex).toBe(expected);
  });

  it('names the SHA-256 of the empty body e3b0c442…b855', () => {
    // Prepare
    const reference = createHash('sha256').digest('hex');
    // Act
    // Assess
    expect(EMPTY_BODY_SHA256).toBe(reference);
  });
});

describe('signRequest', () => {
  it.each(VECTORS)('signs UPPER(method) + path and query + timestamp + body hash ($name)', (vector) => {
    // Prepare
    const expected = referenceHmac(CURRENT_KEY, vector.stringToSign);
    // Act
    const headers = signRequest({
      method: vector.method.toLowerCase(),
      pathAndQuery: vector.pathAndQuery,
      timestamp: vector.timestamp,
      body: vector.body,
      key: CURRENT_KEY,
    });
    // Assess
    expect(headers).toEqual({
      authorization: `HMAC-SHA256 ${expected}`,
      'x-api-timestamp': vector.timestamp,
      'x-body-sha256': referenceSha256(vector.body),
    });
  });

  // The worked examples of docs/api-auth.md, pinned so the document cannot drift from the code.
  it.each([
    {
      name: 'POST with a JSON body',
      options: { method: 'POST', pathAndQuery: '/api/v1/tenants/acme/delivery-configs', body: JSON_BODY },
      bodySha256: '1a0749b989239aea65ab1ad7b6030f87258077df57801d460fd2999368221df9',
      signature: '32a20be64b14a0c9999834fabf99b30a383e76135c2100bbbea0120b9904182f',
    },
    {
      name: 'GET with an encoded query, signed raw',
      options: { method: 'GET', pathAndQuery: ENCODED_PATH_AND_QUERY },
      bodySha256: EMPTY_BODY_SHA256,
      signature: 'b722087da2307614652ff78b894e6b67e7bfc1ff26a8716a68d5310daff8a46e',
    },
    {
      name: 'GET with the same query, signed decoded',
      options: { method: 'GET', pathAndQuery: DECODED_PATH_AND_QUERY },
      bodySha256: EMPTY_BODY_SHA256,
      signature: '89d90ad8cce75c7b3707eceb709f51fb221270759d47db123093af956f499f75',
    },
  ])('reproduces the documented test vector ($name)', ({ options, bodySha256, signature }) => {
    // Prepare
    const stringToSign = `${options.method}${options.pathAndQuery}${TIMESTAMP}${bodySha256}`;
    // Act
    const headers = signRequest({ ...options, timestamp: TIMESTAMP, key: CURRENT_KEY });
    // Assess
    expect(referenceHmac(CURRENT_KEY, stringToSign)).toBe(signature);
    expect(headers).toEqual({ authorization: `HMAC-SHA256 ${signature}`, 'x-api-timestamp': TIMESTAMP, 'x-body-sha256': bodySha256 });
  });

  it('hashes an omitted body as the empty body', () => {
    // Prepare
    // Act
    const headers = signRequest({ method: 'DELETE', pathAndQuery: '/api/v1/tenants/acme', timestamp: TIMESTAMP, key: CURRENT_KEY });
    // Assess
    expect(headers['x-body-sha256']).toBe(EMPTY_BODY_SHA256);
    expect(headers.authorization).toBe(`HMAC-SHA256 ${referenceHmac(CURRENT_KEY, `DELETE/api/v1/tenants/acme${TIMESTAMP}${EMPTY_BODY_SHA256}`)}`);
  });

  it('produces headers that verifySignature accepts', () => {
    // Prepare
    const headers = signRequest({ method: 'PATCH', pathAndQuery: ENCODED_PATH_AND_QUERY, timestamp: TIMESTAMP, body: JSON_BODY, key: CURRENT_KEY });
    // Act
    const result = verifySignature(verifyOptions({ method: 'PATCH', rawPathAndQuery: ENCODED_PATH_AND_QUERY, headers }));
    // Assess
    expect(result).toMatchObject({ ok: true, keyIndex: 0, bodySha256: referenceSha256(JSON_BODY) });
  });
});

describe('parseApiTimestamp', () => {
  it.each([
    { value: '2024-05-01T12:00:00Z', expected: NOW_MS },
    { value: '2024-05-01T12:00:00', expected: NOW_MS },
    { value: '2024-05-01T12:00:00.123Z', expected: NOW_MS + 123 },
    { value: '2024-05-01T12:00:00.5', expected: NOW_MS + 500 },
    { value: '2024-05-01T12:00:00.123456789Z', expected: NOW_MS + 123 },
    { value: '2024-02-29T00:00:00Z', expected: Date.UTC(2024, 1, 29) },
  ])('reads $value as UTC', ({ value, expected }) => {
    // Prepare
    // Act
    const ms = parseApiTimestamp(value);
    // Assess
    expect(ms).toBe(expected);
  });

  it.each([
    { value: '' },
    { value: 'now' },
    { value: '1714564800' },
    { value: '2024-05-01' },
    { value: '2024-05-01 12:00:00Z' },
    { value: '2024-05-01T12:00Z' },
    { value: '2024-05-01T12:00:00+00:00' },
    { value: '2024-05-01T12:00:00.Z' },
    { value: '2024-05-01T12:00:00.1234567890Z' },
    { value: '2024-13-01T12:00:00Z' },
    { value: '2023-02-29T12:00:00Z' },
    { value: '2024-05-01T24:00:00Z' },
    { value: '2024-05-01T12:60:00Z' },
    { value: '2024-05-01T12:00:60Z' },
    { value: ' 2024-05-01T12:00:00Z' },
  ])('refuses $value', ({ value }) => {
    // Prepare
    // Act
    const ms = parseApiTimestamp(value);
    // Assess
    expect(ms).toBeUndefined();
  });
});

describe('verifySignature', () => {
  it.each(VECTORS)('accepts a request signed with the current key ($name)', (vector) => {
    // Prepare
    const headers = signedHeaders(vector);
    const options = verifyOptions({ method: vector.method, rawPathAndQuery: vector.pathAndQuery, headers });
    // Act
    const result = verifySignature(options);
    // Assess
    expect(result).toEqual({
      ok: true,
      keyIndex: 0,
      bodySha256: referenceSha256(vector.body),
      signature: referenceHmac(CURRENT_KEY, vector.stringToSign),
      signedQueryForm: SignedQueryForm.RAW,
      timestampMs: NOW_MS,
    });
  });

  it.each([
    { name: 'decoded by the verifier', decodedQueryPairs: undefined },
    {
      name: 'decoded by the server and passed in',
      decodedQueryPairs: [['cursor', 'a/b#c'], ['name', 'café'], ['q', 'x y'], ['limit', '10']] as [string, string][],
    },
  ])('accepts a query signed as its decoded parameters re-joined in received order ($name)', ({ decodedQueryPairs }) => {
    // Prepare
    const stringToSign = `GET${DECODED_PATH_AND_QUERY}${TIMESTAMP}${EMPTY_BODY_SHA256}`;
    const headers = signedHeaders({ method: 'GET', timestamp: TIMESTAMP, body: '', stringToSign });
    // Act
    const result = verifySignature(verifyOptions({ rawPathAndQuery: ENCODED_PATH_AND_QUERY, decodedQueryPairs, headers }));
    // Assess
    expect(result).toMatchObject({ ok: true, keyIndex: 0, signedQueryForm: SignedQueryForm.DECODED });
  });

  it.each([
    { name: 'with Z', timestamp: '2024-05-01T12:00:00Z' },
    { name: 'with a fraction', timestamp: '2024-05-01T12:00:00.123Z' },
    { name: 'with a microsecond fraction and no zone', timestamp: '2024-05-01T12:00:00.123456' },
    { name: 'without a zone', timestamp: '2024-05-01T12:00:00' },
    { name: 'exactly 300 s old', timestamp: '2024-05-01T11:55:00Z' },
    { name: 'exactly 300 s ahead', timestamp: '2024-05-01T12:05:00Z' },
  ])('accepts a timestamp $name, signed as sent', ({ timestamp }) => {
    // Prepare
    const stringToSign = `GET/api/v1/health${timestamp}${EMPTY_BODY_SHA256}`;
    const headers = signedHeaders({ method: 'GET', timestamp, body: '', stringToSign });
    // Act
    const result = verifySignature(verifyOptions({ rawPathAndQuery: '/api/v1/health', headers }));
    // Assess
    expect(result.ok).toBe(true);
  });

  it('accepts a signature made with the previous key and reports key index 1', () => {
    // Prepare
    const vector = VECTORS[1]!;
    const headers = signedHeaders(vector, PREVIOUS_KEY);
    // Act
    const result = verifySignature(verifyOptions({ method: 'POST', rawPathAndQuery: vector.pathAndQuery, headers }));
    // Assess
    expect(result).toMatchObject({ ok: true, keyIndex: 1 });
  });

  it('accepts the scheme in any case and the signature in upper-case hex, reporting it lowercase', () => {
    // Prepare
    const vector = VECTORS[0]!;
    const signature = referenceHmac(CURRENT_KEY, vector.stringToSign);
    const headers = { ...signedHeaders(vector), authorization: `hmac-sha256  ${signature.toUpperCase()}` };
    // Act
    const result = verifySignature(verifyOptions({ headers }));
    // Assess
    expect(result).toMatchObject({ ok: true, signature });
  });

  it('accepts a lowercase method, which is signed upper-cased', () => {
    // Prepare
    // Act
    const result = verifySignature(verifyOptions({ method: 'get' }));
    // Assess
    expect(result.ok).toBe(true);
  });

  const post = VECTORS[1]!;
  const encoded = VECTORS[2]!;
  it.each([
    {
      name: 'a timestamp more than 300 s old',
      options: () => {
        const timestamp = '2024-05-01T11:54:59Z';
        const stringToSign = `GET/api/v1/health${timestamp}${EMPTY_BODY_SHA256}`;
        return { rawPathAndQuery: '/api/v1/health', headers: signedHeaders({ method: 'GET', timestamp, body: '', stringToSign }) };
      },
      reason: SignatureFailureReason.STALE_TIMESTAMP,
      message: /301 s behind the server clock/,
    },
    {
      name: 'a timestamp more than 300 s ahead',
      options: () => {
        const timestamp = '2024-05-01T12:05:00.001Z';
        const stringToSign = `GET/api/v1/health${timestamp}${EMPTY_BODY_SHA256}`;
        return { rawPathAndQuery: '/api/v1/health', headers: signedHeaders({ method: 'GET', timestamp, body: '', stringToSign }) };
      },
      reason: SignatureFailureReason.STALE_TIMESTAMP,
      message: /ahead of the server clock/,
    },
    {
      name: 'a signature made with an unknown key',
      options: () => ({ headers: signedHeaders(VECTORS[0]!, 'some-other-key') }),
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      name: 'a tampered query',
      options: () => ({ rawPathAndQuery: encoded.pathAndQuery.replace('limit=10', 'limit=1000'), headers: signedHeaders(encoded) }),
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      name: 'an added query parameter',
      options: () => ({ rawPathAndQuery: `${encoded.pathAndQuery}&limit=1000`, headers: signedHeaders(encoded) }),
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      name: 'a tampered method',
      options: () => ({ method: 'DELETE', rawPathAndQuery: post.pathAndQuery, headers: signedHeaders(post) }),
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      name: 'a tampered path',
      options: () => ({ rawPathAndQuery: '/api/v1/tenants/evil/delivery-configs', headers: signedHeaders(VECTORS[0]!) }),
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      name: 'a tampered body hash claim',
      options: () => ({
        method: 'POST',
        rawPathAndQuery: post.pathAndQuery,
        headers: { ...signedHeaders(post), 'x-body-sha256': referenceSha256('{"tenant_id":"evil"}') },
      }),
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      name: 'a tampered timestamp',
      options: () => ({ headers: { ...signedHeaders(VECTORS[0]!), 'x-api-timestamp': '2024-05-01T12:00:01Z' } }),
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      // Signed as `a=1&b=2`; the received `a` is the one value "1&b=2", which the decoded form must not stand for.
      name: 'a decoded form that re-joins to a different query',
      options: () => {
        const stringToSign = `GET/api/v1/delivery-configs?a=1&b=2${TIMESTAMP}${EMPTY_BODY_SHA256}`;
        const headers = signedHeaders({ method: 'GET', timestamp: TIMESTAMP, body: '', stringToSign });
        return { rawPathAndQuery: '/api/v1/delivery-configs?a=1%26b%3D2', headers };
      },
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      // Signed raw as `q=x+y` (a space); `q=x%2By` decodes to a literal plus and must not match it.
      name: 'a decoded plus that equals the raw form of another query',
      options: () => {
        const stringToSign = `GET/api/v1/delivery-configs?q=x+y${TIMESTAMP}${EMPTY_BODY_SHA256}`;
        const headers = signedHeaders({ method: 'GET', timestamp: TIMESTAMP, body: '', stringToSign });
        return { rawPathAndQuery: '/api/v1/delivery-configs?q=x%2By', headers };
      },
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
    {
      name: 'no accepted keys',
      options: () => ({ keys: [] }),
      reason: SignatureFailureReason.BAD_SIGNATURE,
      message: /signature does not match/,
    },
  ])('refuses $name with $reason', ({ options, reason, message }) => {
    // Prepare
    const verify = verifyOptions(options());
    // Act
    const result = verifySignature(verify);
    // Assess
    expect(result).toEqual({ ok: false, reason, message: expect.stringMatching(message) });
  });

  const good = signedHeaders(VECTORS[0]!);
  it.each([
    { name: 'no headers at all', headers: {}, reason: SignatureFailureReason.MISSING_HEADER, message: /lacks the Authorization, X-API-Timestamp, X-Body-SHA256 headers/ },
    { name: 'no Authorization', headers: { ...good, authorization: undefined }, reason: SignatureFailureReason.MISSING_HEADER, message: /lacks the Authorization header;/ },
    { name: 'no X-API-Timestamp', headers: { ...good, 'x-api-timestamp': undefined }, reason: SignatureFailureReason.MISSING_HEADER, message: /lacks the X-API-Timestamp header;/ },
    { name: 'no X-Body-SHA256', headers: { ...good, 'x-body-sha256': undefined }, reason: SignatureFailureReason.MISSING_HEADER, message: /lacks the X-Body-SHA256 header;/ },
    { name: 'an empty header list', headers: { ...good, authorization: [] }, reason: SignatureFailureReason.MISSING_HEADER, message: /lacks the Authorization header/ },
    { name: 'a repeated timestamp', headers: { ...good, 'x-api-timestamp': [TIMESTAMP, TIMESTAMP] }, reason: SignatureFailureReason.MALFORMED_HEADER, message: /X-API-Timestamp header only once/ },
    { name: 'another scheme', headers: { ...good, authorization: good.authorization.replace('HMAC-SHA256', 'Bearer') }, reason: SignatureFailureReason.MALFORMED_HEADER, message: /"HMAC-SHA256 <signature>"/ },
    { name: 'a scheme without signature', headers: { ...good, authorization: 'HMAC-SHA256' }, reason: SignatureFailureReason.MALFORMED_HEADER, message: /"HMAC-SHA256 <signature>"/ },
    { name: 'a short signature', headers: { ...good, authorization: good.authorization.slice(0, -2) }, reason: SignatureFailureReason.MALFORMED_HEADER, message: /64 hex characters/ },
    { name: 'a base64 signature', headers: { ...good, authorization: `HMAC-SHA256 ${Buffer.from('x'.repeat(32)).toString('base64')}` }, reason: SignatureFailureReason.MALFORMED_HEADER, message: /64 hex characters/ },
    { name: 'a non-hex body hash', headers: { ...good, 'x-body-sha256': 'z'.repeat(64) }, reason: SignatureFailureReason.MALFORMED_HEADER, message: /X-Body-SHA256 header must be/ },
    { name: 'a base64 body hash', headers: { ...good, 'x-body-sha256': Buffer.from(EMPTY_BODY_SHA256, 'hex').toString('base64') }, reason: SignatureFailureReason.MALFORMED_HEADER, message: /X-Body-SHA256 header must be/ },
    { name: 'an epoch timestamp', headers: { ...good, 'x-api-timestamp': '1714564800' }, reason: SignatureFailureReason.BAD_TIMESTAMP, message: /ISO-8601 UTC time/ },
    { name: 'a timestamp with an offset', headers: { ...good, 'x-api-timestamp': '2024-05-01T12:00:00+00:00' }, reason: SignatureFailureReason.BAD_TIMESTAMP, message: /ISO-8601 UTC time/ },
  ])('refuses a request with $name as $reason', ({ headers, reason, message }) => {
    // Prepare
    const options = verifyOptions({ headers });
    // Act
    const result = verifySignature(options);
    // Assess
    expect(result).toEqual({ ok: false, reason, message: expect.stringMatching(message) });
  });

  it('honours a narrower maxSkewMs', () => {
    // Prepare
    const options = verifyOptions({ nowMs: NOW_MS + 60_001, maxSkewMs: 60_000 });
    // Act
    const result = verifySignature(options);
    // Assess
    expect(result).toMatchObject({ ok: false, reason: SignatureFailureReason.STALE_TIMESTAMP });
  });
});

describe('bodyHashMatches', () => {
  it.each([
    { name: 'the claimed hash of the body', body: JSON_BODY, claimed: referenceSha256(JSON_BODY), expected: true },
    { name: 'the claimed hash in upper case', body: JSON_BODY, claimed: referenceSha256(JSON_BODY).toUpperCase(), expected: true },
    { name: 'an empty body and the empty-body hash', body: Buffer.alloc(0), claimed: EMPTY_BODY_SHA256, expected: true },
    { name: 'a tampered body', body: JSON_BODY.replace('acme', 'evil'), claimed: referenceSha256(JSON_BODY), expected: false },
    { name: 'a body sent with the empty-body hash', body: JSON_BODY, claimed: EMPTY_BODY_SHA256, expected: false },
    { name: 'a truncated claim', body: JSON_BODY, claimed: referenceSha256(JSON_BODY).slice(0, 62), expected: false },
    { name: 'a non-hex claim', body: JSON_BODY, claimed: 'not-a-hash', expected: false },
  ])('answers $expected for $name', ({ body, claimed, expected }) => {
    // Prepare
    // Act
    const matches = bodyHashMatches(body, claimed);
    // Assess
    expect(matches).toBe(expected);
  });
});

describe('createReplayGuard', () => {
  const signature = (n: number): string => referenceHmac(CURRENT_KEY, `signature ${n}`);

  function fakeClock(startMs = NOW_MS) {
    let nowMs = startMs;
    return { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
  }

  it('refuses a signature seen again inside the window, in any hex case', () => {
    // Prepare
    const clock = fakeClock();
    const guard = createReplayGuard({ ttlMs: 600_000, now: clock.now });
    // Act
    const first = guard.seen(signature(1));
    clock.advance(599_999);
    const again = guard.seen(signature(1).toUpperCase());
    // Assess
    expect(first).toBe(false);
    expect(again).toBe(true);
  });

  it('remembers a signature for 600 s by default', () => {
    // Prepare
    const clock = fakeClock();
    const guard = createReplayGuard({ now: clock.now });
    guard.seen(signature(1));
    // Act
    clock.advance(599_999);
    const inside = guard.seen(signature(1));
    clock.advance(1);
    const after = guard.seen(signature(1));
    // Assess
    expect(inside).toBe(true);
    expect(after).toBe(false);
  });

  it('forgets signatures after the ttl and drops them from memory', () => {
    // Prepare
    const clock = fakeClock();
    const guard = createReplayGuard({ ttlMs: 1_000, now: clock.now });
    guard.seen(signature(1));
    guard.seen(signature(2));
    // Act
    clock.advance(1_000);
    const repeated = guard.seen(signature(1));
    // Assess
    expect(repeated).toBe(false);
    expect(guard.size).toBe(1);
  });

  it('remembers a signature until the expiry given to remember(), whatever the ttl', async () => {
    // Prepare
    const clock = fakeClock();
    const guard = createReplayGuard({ ttlMs: 1_000, now: clock.now });
    // Act
    const first = await guard.remember(signature(1), NOW_MS + 5_000);
    clock.advance(4_999);
    const inside = await guard.remember(signature(1).toUpperCase(), NOW_MS + 9_999);
    clock.advance(1);
    const after = await guard.remember(signature(1), NOW_MS + 10_000);
    // Assess
    expect([first, inside, after]).toEqual([false, true, false]);
  });

  it('stays within maxEntries by forgetting the oldest signature', () => {
    // Prepare
    const clock = fakeClock();
    const guard = createReplayGuard({ ttlMs: 60_000, maxEntries: 3, now: clock.now });
    // Act
    for (let n = 1; n <= 10; n += 1) {
      guard.seen(signature(n));
      clock.advance(1);
    }
    // Assess
    expect(guard.size).toBe(3);
    expect([8, 9, 10].map((n) => guard.seen(signature(n)))).toEqual([true, true, true]);
    expect(guard.seen(signature(7))).toBe(false);
    expect(guard.size).toBe(3);
  });

  it.each([
    { name: 'a negative ttlMs', options: { ttlMs: -1 }, message: "'ttlMs' must be 0 or more, got -1." },
    { name: 'zero maxEntries', options: { maxEntries: 0 }, message: "'maxEntries' must be 1 or more, got 0." },
  ])('refuses $name', ({ options, message }) => {
    // Prepare
    // Act
    const create = () => createReplayGuard(options);
    // Assess
    expect(create).toThrow(new RangeError(message));
  });
});
