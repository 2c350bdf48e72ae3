import { DeliveryError } from '../domain/index.js';
import type { RecordFailure } from '../sinks/ndjson-records.js';
import { awsErrorName, awsHttpStatus, isRetryableAwsError } from './errors.js';

/**
 * Turning AWS SDK failures into DeliveryErrors, written once for every AWS sink. A sink
 * supplies only its service facts: which error names are permanent or transient, and the
 * reasons it records; the order of the decision and the messages are the same for all.
 */

/** A sink's error tables: the service's error names, each with the reason a sink records. */
export interface AwsErrorTables<R extends string = string> {
  /** Error names that fail the same way however often they are tried again. */
  readonly notRetryable: ReadonlyMap<string, R>;
  /** Error names that may pass on another try (throttling, unavailability, expired sessions). */
  readonly retryable: ReadonlyMap<string, R>;
  /** Reasons of failures no table names. */
  readonly reasons: {
    /** No HTTP answer at all: the connection failed or timed out. */
    readonly networkError: R;
    /** A retryable HTTP answer (429, 5xx), and a per-record code no table names. */
    readonly unavailable: R;
    /** A non-retryable HTTP answer (other 4xx). */
    readonly rejected: R;
  };
}

/** The two mappings a sink builds from its tables. */
export interface AwsDeliveryErrors {
  /**
   * Maps a failed call to a DeliveryError by SDK error name, then HTTP status: a permanent
   * name is not retryable; a transient name, no answer at all, 429 and 5xx are; any other
   * answer is not. A DeliveryError (an assume-role failure raised while the SDK asked for
   * credentials), also as the `cause` the SDK wrapped it in, passes through unchanged.
   *
   * @param action - what was being done, for the message (`PutRecords to 'logs'`)
   */
  fromError(error: unknown, action: string): DeliveryError;
  /**
   * The error of records a batch answer refused with one per-record code, read as an error
   * name; a code no permanent table names is retried.
   *
   * @param failed - records refused in the call, for the message
   */
  fromRecordCode(code: string, failed: number, action: string): DeliveryError;
}

/**
 * A sink's DeliveryError mappings from its tables.
 *
 * @example const errors = awsDeliveryErrors({ notRetryable, retryable, reasons });
 *   throw errors.fromError(error, "PutRecords to 'logs'");
 */
export function awsDeliveryErrors(tables: AwsErrorTables): AwsDeliveryErrors {
  const { notRetryable, retryable: transientNames, reasons } = tables;
  return {
    fromError(error, action) {
      if (error instanceof DeliveryError) return error;
      const cause = (error as { cause?: unknown } | null)?.cause;
      if (cause instanceof DeliveryError) return cause;
      const name = awsErrorName(error) ?? 'UnknownError';
      const status = awsHttpStatus(error);
      const message = `${action} failed (${name}${status !== undefined ? `, HTTP ${status}` : ''}).`;
      const permanent = notRetryable.get(name);
      if (permanent !== undefined) return new DeliveryError(message, { retryable: false, reason: permanent, cause: error });
      const transient = transientNames.get(name);
      if (transient !== undefined) return new DeliveryError(message, { retryable: true, reason: transient, cause: error });
      if (status === undefined) {
        // No answer at all: the connection failed or timed out.
        return new DeliveryError(message, { retryable: true, reason: reasons.networkError, cause: error });
      }
      const retryable = isRetryableAwsError(error);
      return new DeliveryError(message, {
        retryable,
        reason: retryable ? reasons.unavailable : reasons.rejected,
        cause: error,
      });
    },
    fromRecordCode(code, failed, action) {
      const permanent = notRetryable.get(code);
      const retryable = permanent === undefined;
      const reason = permanent ?? transientNames.get(code) ?? reasons.unavailable;
      return new DeliveryError(`${action}: ${failed} record(s) refused (${code}).`, { retryable, reason });
    },
  };
}

/** The per-record code of an entry that reports a failure without naming it. */
export const UNNAMED_RECORD_FAILURE = 'InternalFailure';

/**
 * The records a batch answer (Kinesis `PutRecords`, Firehose `PutRecordBatch`) refused, by
 * position: each entry with an `ErrorCode` or without the field an accepted entry carries,
 * and, should the answer list fewer entries than were sent, each one missing.
 *
 * @param failedCount - the answer's count of refused records (`FailedRecordCount`, `FailedPutCount`)
 * @param entries - the answer's entries, one per record sent, in order
 * @param sent - records in the request
 * @param accepted - whether an entry carries what an accepted record gets (`SequenceNumber`, `RecordId`)
 */
export function refusedRecordsOf<E extends { readonly ErrorCode?: string | undefined }>(
  failedCount: number | undefined,
  entries: readonly E[] | undefined,
  sent: number,
  accepted: (entry: E) => boolean,
): RecordFailure[] {
  if ((failedCount ?? 0) === 0) return [];
  const failures: RecordFailure[] = [];
  for (let index = 0; index < sent; index++) {
    const entry = entries?.[index];
    if (entry === undefined || entry.ErrorCode !== undefined || !accepted(entry)) {
      failures.push({ index, code: entry?.ErrorCode ?? UNNAMED_RECORD_FAILURE });
    }
  }
  return failures;
}
