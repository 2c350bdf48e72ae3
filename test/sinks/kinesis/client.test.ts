import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../src/domain/index.js';
import { kinesisRecordError, refusedKinesisRecords, toKinesisDeliveryError } from '../../../src/sinks/kinesis/index.js';

/** An SDK error as the SDK raises it: a name and, when the service answered, a status. */
function awsError(name: string, httpStatusCode?: number): Error {
  return Object.assign(new Error(`${name} (injected fault)`), {
    name,
    ...(httpStatusCode !== undefined && { $metadata: { httpStatusCode } }),
  });
}

describe('toKinesisDeliveryError', () => {
  it.each([
    { name: 'ProvisionedThroughputExceededException', status: 400, retryable: true, reason: 'throttled' },
    { name: 'LimitExceededException', status: 400, retryable: true, reason: 'throttled' },
    { name: 'KMSThrottlingException', status: 400, retryable: true, reason: 'kms_throttled' },
    { name: 'ServiceUnavailableException', status: 503, retryable: true, reason: 'service_unavailable' },
    { name: 'InternalFailure', status: 500, retryable: true, reason: 'service_unavailable' },
    { name: 'ResourceInUseException', status: 400, retryable: true, reason: 'stream_busy' },
    { name: 'ExpiredTokenException', status: 400, retryable: true, reason: 'expired_token' },
    { name: 'ResourceNotFoundException', status: 400, retryable: false, reason: 'resource_not_found' },
    { name: 'AccessDeniedException', status: 400, retryable: false, reason: 'access_denied' },
    { name: 'InvalidArgumentException', status: 400, retryable: false, reason: 'invalid_argument' },
    { name: 'ValidationException', status: 400, retryable: false, reason: 'invalid_argument' },
    { name: 'KMSAccessDeniedException', status: 400, retryable: false, reason: 'kms_access_denied' },
    { name: 'KMSDisabledException', status: 400, retryable: false, reason: 'kms_disabled' },
    { name: 'KMSInvalidStateException', status: 400, retryable: false, reason: 'kms_invalid_state' },
    { name: 'KMSNotFoundException', status: 400, retryable: false, reason: 'kms_not_found' },
    { name: 'KMSOptInRequired', status: 400, retryable: false, reason: 'kms_opt_in_required' },
    { name: 'UnrecognizedClientException', status: 400, retryable: false, reason: 'unrecognized_client' },
    { name: 'SomethingNew', status: 502, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 429, retryable: true, reason: 'service_unavailable' },
    { name: 'SomethingNew', status: 400, retryable: false, reason: 'kinesis_rejected' },
    { name: 'TimeoutError', status: undefined, retryable: true, reason: 'network_error' },
  ])('classifies $name (HTTP $status) as retryable=$retryable, reason $reason', ({ name, status, retryable, reason }) => {
    // Prepare
    const error = awsError(name, status);

    // Act
    const mapped = toKinesisDeliveryError(error, "PutRecords to 'logs'");

    // Assess
    expect(mapped).toBeInstanceOf(DeliveryError);
    expect([mapped.retryable, mapped.reason]).toEqual([retryable, reason]);
    expect(mapped.cause).toBe(error);
    expect(mapped.message).toContain("PutRecords to 'logs'");
  });

  it('classifies by name, not by message text', () => {
    // Prepare: a throttling message on a permanent error name.
    const error = Object.assign(awsError('AccessDeniedException', 400), { message: 'Rate exceeded, throttling' });

    // Act
    const mapped = toKinesisDeliveryError(error, 'PutRecords');

    // Assess
    expect([mapped.retryable, mapped.reason]).toEqual([false, 'access_denied']);
  });

  it('passes an assume-role DeliveryError through, also when the SDK wrapped it', () => {
    // Prepare
    const denied = new DeliveryError('refused', { retryable: false, reason: 'assume_role_denied' });
    const wrapped = new Error('Could not load credentials', { cause: denied });

    // Act
    const results = [toKinesisDeliveryError(denied, 'PutRecords'), toKinesisDeliveryError(wrapped, 'PutRecords')];

    // Assess
    expect(results).toEqual([denied, denied]);
  });
});

describe('kinesisRecordError', () => {
  it.each([
    { code: 'ProvisionedThroughputExceededException', retryable: true, reason: 'throttled' },
    { code: 'InternalFailure', retryable: true, reason: 'service_unavailable' },
    { code: 'KMSAccessDeniedException', retryable: false, reason: 'kms_access_denied' },
    { code: 'NewPerRecordCode', retryable: true, reason: 'service_unavailable' },
  ])('reads the per-record code $code as retryable=$retryable', ({ code, retryable, reason }) => {
    // Prepare
    // Act
    const error = kinesisRecordError(code, 3, "PutRecords to 'logs'");

    // Assess
    expect([error.retryable, error.reason]).toEqual([retryable, reason]);
    expect(error.message).toBe(`PutRecords to 'logs': 3 record(s) refused (${code}).`);
  });
});

describe('refusedKinesisRecords', () => {
  const ok = (n: number) => ({ SequenceNumber: String(n), ShardId: 'shardId-000000000000' });
  const refused = (code: string) => ({ ErrorCode: code, ErrorMessage: 'refused' });

  it.each([
    { name: 'an answer with no failures', answer: { FailedRecordCount: 0, Records: [ok(1), ok(2)] }, sent: 2, failures: [] },
    { name: 'an answer without FailedRecordCount', answer: { Records: [ok(1)] }, sent: 1, failures: [] },
    {
      name: 'refused records among accepted ones',
      answer: { FailedRecordCount: 2, Records: [ok(1), refused('InternalFailure'), ok(2), refused('ProvisionedThroughputExceededException')] },
      sent: 4,
      failures: [
        { index: 1, code: 'InternalFailure' },
        { index: 3, code: 'ProvisionedThroughputExceededException' },
      ],
    },
    {
      name: 'an answer listing fewer entries than were sent',
      answer: { FailedRecordCount: 1, Records: [ok(1)] },
      sent: 3,
      failures: [
        { index: 1, code: 'InternalFailure' },
        { index: 2, code: 'InternalFailure' },
      ],
    },
  ])('finds the refused records of $name', ({ answer, sent, failures }) => {
    // Prepare
    // Act
    const found = refusedKinesisRecords({ ...answer, Records: answer.Records }, sent);

    // Assess
    expect(found).toEqual(failures);
  });
});
