import { KinesisClient, type KinesisClientConfig, PutRecordsCommand, type PutRecordsOutput } from '@aws-sdk/client-kinesis';
import { awsDeliveryErrors, refusedRecordsOf } from '../../aws/index.js';
import type { SendResult } from '../../delivery/index.js';
import type { DeliveryError } from '../../domain/index.js';
import { partialRetryOf, type RecordFailure } from '../ndjson-records.js';
import type { Batch } from '../types.js';
import type { KinesisPayload, KinesisStreamTarget } from './planner.js';

/** Stable reasons of Kinesis delivery failures, recorded in dead letters and metrics. */
export const KinesisFailureReason = {
  ACCESS_DENIED: 'access_denied',
  RESOURCE_NOT_FOUND: 'resource_not_found',
  INVALID_ARGUMENT: 'invalid_argument',
  UNRECOGNIZED_CLIENT: 'unrecognized_client',
  KMS_ACCESS_DENIED: 'kms_access_denied',
  KMS_DISABLED: 'kms_disabled',
  KMS_INVALID_STATE: 'kms_invalid_state',
  KMS_NOT_FOUND: 'kms_not_found',
  KMS_OPT_IN_REQUIRED: 'kms_opt_in_required',
  KMS_THROTTLED: 'kms_throttled',
  THROTTLED: 'throttled',
  SERVICE_UNAVAILABLE: 'service_unavailable',
  STREAM_BUSY: 'stream_busy',
  EXPIRED_TOKEN: 'expired_token',
  NETWORK_ERROR: 'network_error',
  REJECTED: 'kinesis_rejected',
} as const;
export type KinesisFailureReason = (typeof KinesisFailureReason)[keyof typeof KinesisFailureReason];

/*
 * Error names of PutRecords, whole-call and per record (`ErrorCode` is
 * `ProvisionedThroughputExceededException` or `InternalFailure`):
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html#API_PutRecords_Errors
 */
const NOT_RETRYABLE: ReadonlyMap<string, KinesisFailureReason> = new Map([
  ['AccessDeniedException', KinesisFailureReason.ACCESS_DENIED],
  ['AccessDenied', KinesisFailureReason.ACCESS_DENIED],
  ['ResourceNotFoundException', KinesisFailureReason.RESOURCE_NOT_FOUND],
  ['InvalidArgumentException', KinesisFailureReason.INVALID_ARGUMENT],
  ['ValidationException', KinesisFailureReason.INVALID_ARGUMENT],
  ['SerializationException', KinesisFailureReason.INVALID_ARGUMENT],
  ['KMSAccessDeniedException', KinesisFailureReason.KMS_ACCESS_DENIED],
  ['KMSDisabledException', KinesisFailureReason.KMS_DISABLED],
  ['KMSInvalidStateException', KinesisFailureReason.KMS_INVALID_STATE],
  ['KMSNotFoundException', KinesisFailureReason.KMS_NOT_FOUND],
  ['KMSOptInRequired', KinesisFailureReason.KMS_OPT_IN_REQUIRED],
  ['UnrecognizedClientException', KinesisFailureReason.UNRECOGNIZED_CLIENT],
  ['InvalidSignatureException', KinesisFailureReason.UNRECOGNIZED_CLIENT],
  ['IncompleteSignature', KinesisFailureReason.UNRECOGNIZED_CLIENT],
  ['MissingAuthenticationToken', KinesisFailureReason.UNRECOGNIZED_CLIENT],
]);

const RETRYABLE: ReadonlyMap<string, KinesisFailureReason> = new Map([
  ['ProvisionedThroughputExceededException', KinesisFailureReason.THROTTLED],
  ['LimitExceededException', KinesisFailureReason.THROTTLED],
  ['ThrottlingException', KinesisFailureReason.THROTTLED],
  ['KMSThrottlingException', KinesisFailureReason.KMS_THROTTLED],
  ['ServiceUnavailableException', KinesisFailureReason.SERVICE_UNAVAILABLE],
  ['ServiceUnavailable', KinesisFailureReason.SERVICE_UNAVAILABLE],
  ['InternalFailure', KinesisFailureReason.SERVICE_UNAVAILABLE],
  ['InternalFailureException', KinesisFailureReason.SERVICE_UNAVAILABLE],
  // The stream is being created, resharded or re-keyed; it takes writes again shortly.
  ['ResourceInUseException', KinesisFailureReason.STREAM_BUSY],
  // The role session ran out between signing and arrival; the broker hands out a fresh one.
  ['ExpiredTokenException', KinesisFailureReason.EXPIRED_TOKEN],
  ['ExpiredToken', KinesisFailureReason.EXPIRED_TOKEN],
]);

const KINESIS_ERRORS = awsDeliveryErrors({
  notRetryable: NOT_RETRYABLE,
  retryable: RETRYABLE,
  reasons: {
    networkError: KinesisFailureReason.NETWORK_ERROR,
    unavailable: KinesisFailureReason.SERVICE_UNAVAILABLE,
    rejected: KinesisFailureReason.REJECTED,
  },
});

/**
 * Maps a Kinesis failure to a DeliveryError by SDK error name and HTTP status: throttling
 * (`ProvisionedThroughputExceededException`, `LimitExceededException`), 5xx and network
 * failures are retryable; a missing stream, denied access, invalid arguments and KMS key
 * problems are not. A DeliveryError (an assume-role failure raised while the SDK asked for
 * credentials) passes through unchanged.
 *
 * @param action - what was being done, for the message (`PutRecords to 'logs'`)
 */
export function toKinesisDeliveryError(error: unknown, action: string): DeliveryError {
  return KINESIS_ERRORS.fromError(error, action);
}

/**
 * The error of records a `PutRecords` answer refused with one per-record `ErrorCode`, the
 * code read as an error name; an unknown code is retried, as Kinesis documents only
 * throttling and internal failures per record.
 *
 * @param failed - records refused in the call, for the message
 */
export function kinesisRecordError(code: string, failed: number, action: string): DeliveryError {
  return KINESIS_ERRORS.fromRecordCode(code, failed, action);
}

/**
 * The records a `PutRecords` answer refused, by position: each entry with an `ErrorCode`,
 * and, should the answer list fewer entries than were sent, each one missing.
 */
export function refusedKinesisRecords(answer: PutRecordsOutput, sent: number): RecordFailure[] {
  return refusedRecordsOf(answer.FailedRecordCount, answer.Records, sent, (entry) => entry.SequenceNumber !== undefined);
}

/** How a stream appears in messages. */
export function describeStream(stream: KinesisStreamTarget): string {
  return 'StreamARN' in stream ? stream.StreamARN : stream.StreamName;
}

/**
 * The one remote call of the Kinesis sink: `PutRecords`. Records the answer refuses come
 * back as a partial result, so the delivery policy sends only those again.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
 */
export class KinesisWriter {
  /**
   * @param client - an SDK client acting as the tenant's role in the destination region
   */
  constructor(private readonly client: KinesisClient) {}

  /**
   * Puts one request's records.
   *
   * @returns nothing when every record was accepted; else the refused records to send again
   * @throws DeliveryError with `retryable` and a stable `reason`
   */
  async put(batch: Batch<KinesisPayload>, signal: AbortSignal): Promise<SendResult<Batch<KinesisPayload>> | undefined> {
    const { stream, partitionKey, records } = batch.payload;
    const action = `PutRecords to '${describeStream(stream)}'`;
    let answer: PutRecordsOutput;
    try {
      answer = await this.client.send(
        new PutRecordsCommand({
          ...stream,
          Records: records.map((r) => ({ Data: r.data, PartitionKey: partitionKey })),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw toKinesisDeliveryError(error, action);
    }
    return partialRetryOf(batch, refusedKinesisRecords(answer, records.length), (code, failed) =>
      kinesisRecordError(code, failed, action),
    );
  }

  /** Releases the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}

/** Builds an SDK client; tests pass one that adds middleware. */
export type KinesisClientFactory = (config: KinesisClientConfig) => KinesisClient;

/**
 * The default factory: a plain SDK client. The router's client config carries an HTTP/1.1
 * handler, which Kinesis needs in front of local AWS-API servers (its own default is HTTP/2).
 */
export const defaultKinesisClientFactory: KinesisClientFactory = (config) => new KinesisClient(config);
