import { describe, expect, it } from 'vitest';
import { awsDeliveryErrors, type AwsErrorTables, refusedRecordsOf } from '../../src/aws/index.js';
import { DeliveryError } from '../../src/domain/index.js';

/** A sink's tables, as a sink's client.ts writes them. */
const tables: AwsErrorTables = {
  notRetryable: new Map([
    ['AccessDeniedException', 'access_denied'],
    ['ValidationException', 'invalid_argument'],
  ]),
  retryable: new Map([
    ['ThrottlingException', 'throttled'],
    ['ExpiredTokenException', 'expired_token'],
  ]),
  reasons: { networkError: 'network_error', unavailable: 'service_unavailable', rejected: 'test_rejected' },
};
const errors = awsDeliveryErrors(tables);

/** An SDK error as the SDK raises it: a name and, when the service answered, a status. */
function awsError(name: string, httpStatusCode?: number, extra: object = {}): Error {
  return Object.assign(new Error(`${name} (injected fault)`), {
    name,
    ...(httpStatusCode !== undefined && { $metadata: { httpStatusCode } }),
    ...extra,
  });
}

describe('awsDeliveryErrors: fromError', () => {
  describe.each([
    { name: 'AccessDeniedException', status: 400, retryable: false, reason: 'access_denied' },
    { name: 'ValidationException', status: 400, retryable: false, reason: 'invalid_argument' },
    // A table name wins over a status that says otherwise.
    { name: 'AccessDeniedException', status: 503, retryable: false, reason: 'access_denied' },
    { name: 'ThrottlingException', status: 400, retryable: true, reason: 'throttled' },
    { name: 'ExpiredTokenException', status: 403, retryable: true, reason: 'expired_token' },
    { name: 'ExpiredTokenException', status: undefined, retryable: true, reason: 'expired_token' },
    // No table names it: the HTTP status decides, by isRetryableAwsError.
    { name: 'SomethingNew', status: 500, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 502, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 503, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 429, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 400, retryable: false, reason: 'test_rejected' },
    { name: 'SomethingNew', status: 403, retryable: false, reason: 'test_rejected' },
    { name: 'SomethingNew', status: 404, retryable: false, reason: 'test_rejected' },
    // Throttling names the service tables leave out are still known by name.
    { name: 'SlowDown', status: 400, retryable: true, reason: 'service_unavailable' },
    // No answer at all.
    { name: 'TimeoutError', status: undefined, retryable: true, reason: 'network_error' },
    { name: 'SomethingNew', status: undefined, retryable: true, reason: 'network_error' },
  ])('$name (HTTP $status)', ({ name, status, retryable, reason }) => {
    it(`is retryable=${retryable}, reason ${reason}, with the SDK error as cause`, () => {
      // Prepare
      const error = awsError(name, status);

      // Act
      const mapped = errors.fromError(error, "PutRecords to 'logs'");

      // Assess
      expect(mapped).toBeInstanceOf(DeliveryError);
      expect([mapped.retryable, mapped.reason]).toEqual([retryable, reason]);
      expect(mapped.cause).toBe(error);
      const answer = status !== undefined ? `, HTTP ${status}` : '';
      expect(mapped.message).toBe(`PutRecords to 'logs' failed (${name}${answer}).`);
    });
  });

  it('names an error without a name UnknownError', () => {
    // Prepare
    const error = { $metadata: { httpStatusCode: 400 } };

    // Act
    const mapped = errors.fromError(error, 'PutRecords');

    // Assess
    expect([mapped.retryable, mapped.reason, mapped.message]).toEqual([
      false,
      'test_rejected',
      'PutRecords failed (UnknownError, HTTP 400).',
    ]);
  });

  it('classifies by name, not by message text', () => {
    // Prepare: a throttling message on a permanent error name.
    const error = awsError('AccessDeniedException', 400, { message: 'Rate exceeded, throttling' });

    // Act
    const mapped = errors.fromError(error, 'PutRecords');

    // Assess
    expect([mapped.retryable, mapped.reason]).toEqual([false, 'access_denied']);
  });

  it('passes a DeliveryError through, also when the SDK wrapped it as cause', () => {
    // Prepare
    const denied = new DeliveryError('refused', { retryable: false, reason: 'assume_role_denied' });
    const wrapped = new Error('Could not load credentials', { cause: denied });

    // Act
    const results = [errors.fromError(denied, 'PutRecords'), errors.fromError(wrapped, 'PutRecords')];

    // Assess
    expect(results[0]).toBe(denied);
    expect(results[1]).toBe(denied);
  });
});

describe('awsDeliveryErrors: fromRecordCode', () => {
  describe.each([
    { code: 'AccessDeniedException', retryable: false, reason: 'access_denied' },
    { code: 'ThrottlingException', retryable: true, reason: 'throttled' },
    { code: 'ExpiredTokenException', retryable: true, reason: 'expired_token' },
    // A code no table names is retried: per-record codes are mostly throttling and internal failures.
    { code: 'InternalFailure', retryable: true, reason: 'service_unavailable' },
    { code: 'NewPerRecordCode', retryable: true, reason: 'service_unavailable' },
  ])('$code', ({ code, retryable, reason }) => {
    it(`is retryable=${retryable}, reason ${reason}`, () => {
      // Act
      const error = errors.fromRecordCode(code, 3, "PutRecords to 'logs'");

      // Assess
      expect(error).toBeInstanceOf(DeliveryError);
      expect([error.retryable, error.reason]).toEqual([retryable, reason]);
      expect(error.message).toBe(`PutRecords to 'logs': 3 record(s) refused (${code}).`);
    });
  });
});

describe('refusedRecordsOf', () => {
  type Entry = { Id?: string; ErrorCode?: string };
  const ok = (n: number): Entry => ({ Id: String(n) });
  const refused = (code: string): Entry => ({ ErrorCode: code });
  const accepted = (entry: Entry) => entry.Id !== undefined;

  describe.each([
    { name: 'no failures counted', failed: 0, entries: [ok(1), refused('X')], sent: 2, failures: [] },
    { name: 'no count at all', failed: undefined, entries: [refused('X')], sent: 1, failures: [] },
    {
      name: 'refused among accepted',
      failed: 2,
      entries: [ok(1), refused('InternalFailure'), ok(2), refused('ThrottlingException')],
      sent: 4,
      failures: [
        { index: 1, code: 'InternalFailure' },
        { index: 3, code: 'ThrottlingException' },
      ],
    },
    {
      name: 'an entry neither accepted nor named, and missing entries',
      failed: 1,
      entries: [ok(1), {}],
      sent: 3,
      failures: [
        { index: 1, code: 'InternalFailure' },
        { index: 2, code: 'InternalFailure' },
      ],
    },
    {
      name: 'no entries at all',
      failed: 2,
      entries: undefined,
      sent: 2,
      failures: [
        { index: 0, code: 'InternalFailure' },
        { index: 1, code: 'InternalFailure' },
      ],
    },
  ])('$name', ({ failed, entries, sent, failures }) => {
    it('lists the refused records by position', () => {
      // Act
      const found = refusedRecordsOf(failed, entries, sent, accepted);

      // Assess
      expect(found).toEqual(failures);
    });
  });
});
