import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../src/domain/index.js';
import { rejectedEventCounts, toCloudwatchDeliveryError } from '../../../src/sinks/cloudwatch/client.js';

/** An SDK error as the SDK raises it: a name and, when the service answered, a status. */
function awsError(name: string, httpStatusCode?: number): Error {
  return Object.assign(new Error(`${name} (injected fault)`), {
    name,
    ...(httpStatusCode !== undefined && { $metadata: { httpStatusCode } }),
  });
}

describe('toCloudwatchDeliveryError', () => {
  it.each([
    { name: 'AccessDeniedException', status: 400, retryable: false, reason: 'access_denied' },
    { name: 'InvalidParameterException', status: 400, retryable: false, reason: 'invalid_parameter' },
    { name: 'ValidationException', status: 400, retryable: false, reason: 'invalid_parameter' },
    { name: 'UnrecognizedClientException', status: 400, retryable: false, reason: 'unrecognized_client' },
    { name: 'InvalidSignatureException', status: 400, retryable: false, reason: 'unrecognized_client' },
    { name: 'ThrottlingException', status: 400, retryable: true, reason: 'throttled' },
    { name: 'ServiceUnavailableException', status: 503, retryable: true, reason: 'service_unavailable' },
    { name: 'InternalServerException', status: 500, retryable: true, reason: 'service_unavailable' },
    { name: 'OperationAbortedException', status: 400, retryable: true, reason: 'service_unavailable' },
    { name: 'ExpiredTokenException', status: 400, retryable: true, reason: 'expired_token' },
    { name: 'ResourceNotFoundException', status: 400, retryable: true, reason: 'resource_not_found' },
    { name: 'SomethingNew', status: 502, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 429, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 400, retryable: false, reason: 'cloudwatch_rejected' },
    { name: 'TimeoutError', status: undefined, retryable: true, reason: 'network_error' },
  ])('classifies $name (HTTP $status) as retryable=$retryable, reason $reason', ({ name, status, retryable, reason }) => {
    // Prepare
    const error = awsError(name, status);

    // Act
    const mapped = toCloudwatchDeliveryError(error, 'PutLogEvents to g/s');

    // Assess
    expect(mapped).toBeInstanceOf(DeliveryError);
    expect([mapped.retryable, mapped.reason]).toEqual([retryable, reason]);
    expect(mapped.cause).toBe(error);
    expect(mapped.message).toContain('PutLogEvents to g/s');
  });

  it('classifies a network failure (no HTTP answer, error code) as retryable', () => {
    // Prepare
    const error = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

    // Act
    const mapped = toCloudwatchDeliveryError(error, 'PutLogEvents');

    // Assess
    expect([mapped.retryable, mapped.reason]).toEqual([true, 'network_error']);
  });

  it('passes an assume-role DeliveryError through, also when the SDK wrapped it', () => {
    // Prepare
    const denied = new DeliveryError('refused', { retryable: false, reason: 'assume_role_denied' });
    const wrapped = new Error('Could not load credentials', { cause: denied });

    // Act
    const direct = toCloudwatchDeliveryError(denied, 'PutLogEvents');
    const unwrapped = toCloudwatchDeliveryError(wrapped, 'PutLogEvents');

    // Assess
    expect(direct).toBe(denied);
    expect(unwrapped).toBe(denied);
  });
});

describe('rejectedEventCounts', () => {
  it.each([
    { info: undefined, events: 5, expected: { too_old: 0, too_new: 0, expired: 0 } },
    { info: {}, events: 5, expected: { too_old: 0, too_new: 0, expired: 0 } },
    { info: { tooOldLogEventEndIndex: 2 }, events: 5, expected: { too_old: 2, too_new: 0, expired: 0 } },
    { info: { tooNewLogEventStartIndex: 3 }, events: 5, expected: { too_old: 0, too_new: 2, expired: 0 } },
    {
      info: { expiredLogEventEndIndex: 3, tooOldLogEventEndIndex: 1 },
      events: 5,
      expected: { too_old: 1, too_new: 0, expired: 2 },
    },
    {
      info: { tooOldLogEventEndIndex: 2, tooNewLogEventStartIndex: 4 },
      events: 5,
      expected: { too_old: 2, too_new: 1, expired: 0 },
    },
    {
      info: { tooOldLogEventEndIndex: 9, tooNewLogEventStartIndex: 0 },
      events: 5,
      expected: { too_old: 5, too_new: 0, expired: 0 },
    },
  ])('counts $info over $events events as $expected, each event once', ({ info, events, expected }) => {
    // Prepare
    // Act
    const counts = rejectedEventCounts(info, events);

    // Assess
    expect(counts).toEqual(expected);
  });
});
