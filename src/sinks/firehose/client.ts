import {
  FirehoseClient,
  type FirehoseClientConfig,
  PutRecordBatchCommand,
  type PutRecordBatchOutput,
} from '@aws-sdk/client-firehose';
import { awsDeliveryErrors, refusedRecordsOf } from '../../aws/index.js';
import type { SendResult } from '../../delivery/index.js';
import type { DeliveryError } from '../../domain/index.js';
import { partialRetryOf, type RecordFailure } from '../ndjson-records.js';
import type { Batch } from '../types.js';
import type { FirehosePayload } from './planner.js';

/** Stable reasons of Firehose delivery failures, recorded in dead letters and metrics. */
export const FirehoseFailureReason = {
  ACCESS_DENIED: 'access_denied',
  RESOURCE_NOT_FOUND: 'resource_not_found',
  INVALID_ARGUMENT: 'invalid_argument',
  /** The stream reads from a Kinesis data stream or MSK, so it refuses direct puts. */
  INVALID_SOURCE: 'invalid_source',
  KMS_INVALID_RESOURCE: 'kms_invalid_resource',
  UNRECOGNIZED_CLIENT: 'unrecognized_client',
  THROTTLED: 'throttled',
  SERVICE_UNAVAILABLE: 'service_unavailable',
  EXPIRED_TOKEN: 'expired_token',
  NETWORK_ERROR: 'network_error',
  REJECTED: 'firehose_rejected',
} as const;
export type FirehoseFailureReason = (typeof FirehoseFailureReason)[keyof typeof FirehoseFailureReason];

/*
 * Error names of PutRecordBatch, whole-call and per record (`RequestResponses[i].ErrorCode`):
 * https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html#API_PutRecordBatch_Errors
 */
const NOT_RETRYABLE: ReadonlyMap<string, FirehoseFailureReason> = new Map([
  ['AccessDeniedException', FirehoseFailureReason.ACCESS_DENIED],
  ['AccessDenied', FirehoseFailureReason.ACCESS_DENIED],
  ['ResourceNotFoundException', FirehoseFailureReason.RESOURCE_NOT_FOUND],
  ['InvalidArgumentException', FirehoseFailureReason.INVALID_ARGUMENT],
  ['ValidationException', FirehoseFailureReason.INVALID_ARGUMENT],
  ['SerializationException', FirehoseFailureReason.INVALID_ARGUMENT],
  ['InvalidSourceException', FirehoseFailureReason.INVALID_SOURCE],
  ['InvalidKMSResourceException', FirehoseFailureReason.KMS_INVALID_RESOURCE],
  ['UnrecognizedClientException', FirehoseFailureReason.UNRECOGNIZED_CLIENT],
  ['InvalidSignatureException', FirehoseFailureReason.UNRECOGNIZED_CLIENT],
  ['IncompleteSignature', FirehoseFailureReason.UNRECOGNIZED_CLIENT],
  ['MissingAuthenticationToken', FirehoseFailureReason.UNRECOGNIZED_CLIENT],
]);

const RETRYABLE: ReadonlyMap<string, FirehoseFailureReason> = new Map([
  // Firehose's answer when a stream's throughput quota is exceeded: back off and retry.
  ['ServiceUnavailableException', FirehoseFailureReason.THROTTLED],
  ['LimitExceededException', FirehoseFailureReason.THROTTLED],
  ['ThrottlingException', FirehoseFailureReason.THROTTLED],
  ['ProvisionedThroughputExceededException', FirehoseFailureReason.THROTTLED],
  ['ServiceUnavailable', FirehoseFailureReason.SERVICE_UNAVAILABLE],
  ['InternalFailure', FirehoseFailureReason.SERVICE_UNAVAILABLE],
  ['InternalFailureException', FirehoseFailureReason.SERVICE_UNAVAILABLE],
  // The role session ran out between signing and arrival; the broker hands out a fresh one.
  ['ExpiredTokenException', FirehoseFailureReason.EXPIRED_TOKEN],
  ['ExpiredToken', FirehoseFailureReason.EXPIRED_TOKEN],
]);

const FIREHOSE_ERRORS = awsDeliveryErrors({
  notRetryable: NOT_RETRYABLE,
  retryable: RETRYABLE,
  reasons: {
    networkError: FirehoseFailureReason.NETWORK_ERROR,
    unavailable: FirehoseFailureReason.SERVICE_UNAVAILABLE,
    rejected: FirehoseFailureReason.REJECTED,
  },
});

/**
 * Maps a Firehose failure to a DeliveryError by SDK error name and HTTP status: throttling
 * (`ServiceUnavailableException`, `LimitExceededException`), 5xx and network failures are
 * retryable; a missing stream, denied access, invalid arguments, a stream that takes no
 * direct puts and KMS key problems are not. A DeliveryError (an assume-role failure raised
 * while the SDK asked for credentials) passes through unchanged.
 *
 * @param action - what was being done, for the message (`PutRecordBatch to 'logs'`)
 */
export function toFirehoseDeliveryError(error: unknown, action: string): DeliveryError {
  return FIREHOSE_ERRORS.fromError(error, action);
}

/**
 * The error of records a `PutRecordBatch` answer refused with one per-record `ErrorCode`,
 * the code read as an error name; an unknown code is retried.
 *
 * @param failed - records refused in the call, for the message
 */
export function firehoseRecordError(code: string, failed: number, action: string): DeliveryError {
  return FIREHOSE_ERRORS.fromRecordCode(code, failed, action);
}

/**
 * The records a `PutRecordBatch` answer refused, by position: each entry with an
 * `ErrorCode`, and, should the answer list fewer entries than were sent, each one missing.
 */
export function refusedFirehoseRecords(answer: PutRecordBatchOutput, sent: number): RecordFailure[] {
  return refusedRecordsOf(answer.FailedPutCount, answer.RequestResponses, sent, (entry) => entry.RecordId !== undefined);
}

/**
 * The one remote call of the Firehose sink: `PutRecordBatch`. Records the answer refuses
 * (`FailedPutCount`) come back as a partial result, so the delivery policy sends only those
 * again. https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
 */
export class FirehoseWriter {
  /**
   * @param client - an SDK client acting as the tenant's role in the destination region
   */
  constructor(private readonly client: FirehoseClient) {}

  /**
   * Puts one request's records.
   *
   * @returns nothing when every record was accepted; else the refused records to send again
   * @throws DeliveryError with `retryable` and a stable `reason`
   */
  async put(batch: Batch<FirehosePayload>, signal: AbortSignal): Promise<SendResult<Batch<FirehosePayload>> | undefined> {
    const { deliveryStreamName, records } = batch.payload;
    const action = `PutRecordBatch to '${deliveryStreamName}'`;
    let answer: PutRecordBatchOutput;
    try {
      answer = await this.client.send(
        new PutRecordBatchCommand({
          DeliveryStreamName: deliveryStreamName,
          Records: records.map((r) => ({ Data: r.data })),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw toFirehoseDeliveryError(error, action);
    }
    return partialRetryOf(batch, refusedFirehoseRecords(answer, records.length), (code, failed) =>
      firehoseRecordError(code, failed, action),
    );
  }

  /** Releases the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}

/** Builds an SDK client; tests pass one that adds middleware. */
export type FirehoseClientFactory = (config: FirehoseClientConfig) => FirehoseClient;

/** The default factory: a plain SDK client. */
export const defaultFirehoseClientFactory: FirehoseClientFactory = (config) => new FirehoseClient(config);
