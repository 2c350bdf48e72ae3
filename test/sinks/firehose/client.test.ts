import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../src/domain/index.js';
import {
  firehoseRecordError,
  refusedFirehoseRecords,
  toFirehoseDeliveryError,
} from '../../../src/sinks/firehose/index.js';

/** An SDK error as the SDK raises it: a name and, when the service answered, a status. */
function awsError(name: string, httpStatusCode?: number): Error {
  return Object.assign(new Error(`${name} (injected fault)`), {
    name,
    ...(httpStatusCode !== undefined && { $metadata: { httpStatusCode } }),
  });
}

describe('toFirehoseDeliveryError', () => {
  it.each([
    { name: 'ServiceUnavailableException', status: 503, retryable: true, reason: 'throttled' },
    { name: 'LimitExceededException', status: 400, retryable: true, reason: 'throttled' },
    { name: 'ThrottlingException', status: 400, retryable: true, reason: 'throttled' },
    { name: 'InternalFailure', status: 500, retryable: true, reason: 'service_unavailable' },
    { name: 'ExpiredTokenException', status: 400, retryable: true, reason: 'expired_token' },
    { name: 'ResourceNotFoundException', status: 400, retryable: false, reason: 'resource_not_found' },
    { name: 'AccessDeniedException', status: 400, retryable: false, reason: 'access_denied' },
    { name: 'InvalidArgumentException', status: 400, retryable: false, reason: 'invalid_argument' },
    { name: 'InvalidSourceException', status: 400, retryable: false, reason: 'invalid_source' },
    { name: 'InvalidKMSResourceException', status: 400, retryable: false, reason: 'kms_invalid_resource' },
    { name: 'UnrecognizedClientException', status: 400, retryable: false, reason: 'unrecognized_client' },
    { name: 'SomethingNew', status: 500, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 403, retryable: false, reason: 'firehose_rejected' },
    { name: 'TimeoutError', status: undefined, retryable: true, reason: 'network_error' },
  ])('classifies $name (HTTP $status) as retryable=$retryable, reason $reason', ({ name, status, retryable, reason }) => {
    // Prepare
    const error = awsError(name, status);

    // Act
    const mapped = toFirehoseDeliveryError(error, "PutRecordBatch to 'logs'");

    // Assess
    expect(mapped).toBeInstanceOf(DeliveryError);
    expect([mapped.retryable, mapped.reason]).toEqual([retryable, reason]);
    expect(mapped.cause).toBe(error);
    expect(mapped.message).toContain("PutRecordBatch to 'logs'");
  });

  it('passes an assume-role DeliveryError through, also when the SDK wrapped it', () => {
    // Prepare
    const denied = new DeliveryError('refused', { retryable: false, reason: 'assume_role_denied' });
    const wrapped = new Error('Could not load credentials', { cause: denied });

    // Act
    const results = [toFirehoseDeliveryError(denied, 'PutRecordBatch'), toFirehoseDeliveryError(wrapped, 'PutRecordBatch')];

    // Assess
    expect(results).toEqual([denied, denied]);
  });
});

describe('firehoseRecordError', () => {
  it.each([
    { code: 'ServiceUnavailableException', retryable: true, reason: 'throttled' },
    { code: 'InternalFailure', retryable: true, reason: 'service_unavailable' },
    { code: 'InvalidKMSResourceException', retryable: false, reason: 'kms_invalid_resource' },
    { code: 'NewPerRecordCode', retryable: true, reason: 'service_unavailable' },
  ])('reads the per-record code $code as retryable=$retryable', ({ code, retryable, reason }) => {
    // Prepare
    // Act
    const error = firehoseRecordError(code, 2, "PutRecordBatch to 'logs'");

    // Assess
    expect([error.retryable, error.reason]).toEqual([retryable, reason]);
  });
});

describe('refusedFirehoseRecords', () => {
  const ok = (id: string) => ({ RecordId: id });
  const refused = (code: string) => ({ ErrorCode: code, ErrorMessage: 'refused' });

  it.each([
    { name: 'an answer with no failures', answer: { FailedPutCount: 0, RequestResponses: [ok('a'), ok('b')] }, sent: 2, failures: [] },
    {
      name: 'refused records among accepted ones',
      answer: { FailedPutCount: 2, RequestResponses: [refused('ServiceUnavailableException'), ok('b'), refused('InternalFailure')] },
      sent: 3,
      failures: [
        { index: 0, code: 'ServiceUnavailableException' },
        { index: 2, code: 'InternalFailure' },
      ],
    },
    {
      name: 'an answer listing fewer entries than were sent',
      answer: { FailedPutCount: 1, RequestResponses: [ok('a')] },
      sent: 2,
      failures: [{ index: 1, code: 'InternalFailure' }],
    },
  ])('finds the refused records of $name', ({ answer, sent, failures }) => {
    // Prepare
    // Act
    const found = refusedFirehoseRecords(answer, sent);

    // Assess
    expect(found).toEqual(failures);
  });
});
