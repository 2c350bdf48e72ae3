import {
  CloudWatchLogsClient,
  type CloudWatchLogsClientConfig,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type RejectedLogEventsInfo,
} from '@aws-sdk/client-cloudwatch-logs';
import { awsDeliveryErrors, awsErrorName } from '../../aws/index.js';
import { DeliveryError } from '../../domain/index.js';
import type { CloudwatchPayload } from './planner.js';

/** Stable reasons of CloudWatch delivery failures, recorded in dead letters and metrics. */
export const CloudwatchFailureReason = {
  ACCESS_DENIED: 'access_denied',
  INVALID_PARAMETER: 'invalid_parameter',
  UNRECOGNIZED_CLIENT: 'unrecognized_client',
  LOG_GROUP_LIMIT_EXCEEDED: 'log_group_limit_exceeded',
  RESOURCE_NOT_FOUND: 'resource_not_found',
  THROTTLED: 'throttled',
  SERVICE_UNAVAILABLE: 'service_unavailable',
  EXPIRED_TOKEN: 'expired_token',
  NETWORK_ERROR: 'network_error',
  REJECTED: 'cloudwatch_rejected',
} as const;
export type CloudwatchFailureReason = (typeof CloudwatchFailureReason)[keyof typeof CloudwatchFailureReason];

/** Why CloudWatch accepted a request but not some of its events (`rejectedLogEventsInfo`). */
export const CloudwatchRejectReason = {
  TOO_OLD: 'too_old',
  TOO_NEW: 'too_new',
  EXPIRED: 'expired',
} as const;
export type CloudwatchRejectReason = (typeof CloudwatchRejectReason)[keyof typeof CloudwatchRejectReason];

/** What one accepted `PutLogEvents` reported. */
export interface PutLogEventsOutcome {
  /** Events CloudWatch refused, per reason (never retried: they would be refused again). */
  readonly rejected: Readonly<Record<CloudwatchRejectReason, number>>;
  /** The log group and stream had to be created first. */
  readonly created: boolean;
}

const NOT_RETRYABLE: ReadonlyMap<string, CloudwatchFailureReason> = new Map([
  ['AccessDeniedException', CloudwatchFailureReason.ACCESS_DENIED],
  ['AccessDenied', CloudwatchFailureReason.ACCESS_DENIED],
  ['InvalidParameterException', CloudwatchFailureReason.INVALID_PARAMETER],
  ['ValidationException', CloudwatchFailureReason.INVALID_PARAMETER],
  ['SerializationException', CloudwatchFailureReason.INVALID_PARAMETER],
  ['UnrecognizedClientException', CloudwatchFailureReason.UNRECOGNIZED_CLIENT],
  ['InvalidSignatureException', CloudwatchFailureReason.UNRECOGNIZED_CLIENT],
  ['IncompleteSignature', CloudwatchFailureReason.UNRECOGNIZED_CLIENT],
  ['MissingAuthenticationToken', CloudwatchFailureReason.UNRECOGNIZED_CLIENT],
]);

const RETRYABLE: ReadonlyMap<string, CloudwatchFailureReason> = new Map([
  ['ThrottlingException', CloudwatchFailureReason.THROTTLED],
  ['Throttling', CloudwatchFailureReason.THROTTLED],
  ['TooManyRequestsException', CloudwatchFailureReason.THROTTLED],
  ['ServiceUnavailableException', CloudwatchFailureReason.SERVICE_UNAVAILABLE],
  ['ServiceUnavailable', CloudwatchFailureReason.SERVICE_UNAVAILABLE],
  ['InternalServerException', CloudwatchFailureReason.SERVICE_UNAVAILABLE],
  ['InternalFailure', CloudwatchFailureReason.SERVICE_UNAVAILABLE],
  ['OperationAbortedException', CloudwatchFailureReason.SERVICE_UNAVAILABLE],
  // Sequence tokens are ignored since 2023; should one still be refused, a new call passes.
  ['InvalidSequenceTokenException', CloudwatchFailureReason.SERVICE_UNAVAILABLE],
  // The role session ran out between signing and arrival; the broker hands out a fresh one.
  ['ExpiredTokenException', CloudwatchFailureReason.EXPIRED_TOKEN],
  ['ExpiredToken', CloudwatchFailureReason.EXPIRED_TOKEN],
  // The group or stream vanished after we created it, or is not visible yet.
  ['ResourceNotFoundException', CloudwatchFailureReason.RESOURCE_NOT_FOUND],
]);

const CLOUDWATCH_ERRORS = awsDeliveryErrors({
  notRetryable: NOT_RETRYABLE,
  retryable: RETRYABLE,
  reasons: {
    networkError: CloudwatchFailureReason.NETWORK_ERROR,
    unavailable: CloudwatchFailureReason.SERVICE_UNAVAILABLE,
    rejected: CloudwatchFailureReason.REJECTED,
  },
});

const RESOURCE_NOT_FOUND = 'ResourceNotFoundException';
const RESOURCE_ALREADY_EXISTS = 'ResourceAlreadyExistsException';
const DATA_ALREADY_ACCEPTED = 'DataAlreadyAcceptedException';
/** CreateLogGroup's answer when the account has as many log groups as its quota allows. */
const LIMIT_EXCEEDED = 'LimitExceededException';

/**
 * Maps a CloudWatch Logs failure to a DeliveryError by SDK error name and HTTP status:
 * throttling, 5xx and network failures are retryable; access, validation and signature
 * failures are not. A DeliveryError (an assume-role failure raised while the SDK asked for
 * credentials) passes through unchanged.
 *
 * @param action - what was being done, for the message (`PutLogEvents to group/stream`)
 */
export function toCloudwatchDeliveryError(error: unknown, action: string): DeliveryError {
  return CLOUDWATCH_ERRORS.fromError(error, action);
}

/**
 * Events refused per reason, from a `PutLogEvents` answer. Indexes follow the AWS API
 * reference: events before `tooOldLogEventEndIndex` / `expiredLogEventEndIndex` (exclusive)
 * and from `tooNewLogEventStartIndex` (inclusive) on. Each event is counted once; an event
 * both expired and too old counts as too old.
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_RejectedLogEventsInfo.html
 *
 * @param eventCount - events in the request
 */
export function rejectedEventCounts(
  info: RejectedLogEventsInfo | undefined,
  eventCount: number,
): Record<CloudwatchRejectReason, number> {
  const clamp = (n: number | undefined) => Math.max(0, Math.min(eventCount, n ?? 0));
  const tooOld = clamp(info?.tooOldLogEventEndIndex);
  const expired = Math.max(0, clamp(info?.expiredLogEventEndIndex) - tooOld);
  const tooNewStart = info?.tooNewLogEventStartIndex;
  const tooNew = tooNewStart === undefined ? 0 : Math.max(0, eventCount - Math.max(clamp(tooNewStart), tooOld + expired));
  return { too_old: tooOld, too_new: tooNew, expired };
}

/**
 * The one remote call of the CloudWatch sink: `PutLogEvents` without sequence tokens.
 * Only when CloudWatch answers `ResourceNotFoundException` does it create the stream (and
 * the group, when that is what is missing) and put once more, so steady-state delivery is
 * one call per request and a role with only `logs:PutLogEvents` and
 * `logs:CreateLogStream` suffices for an existing group.
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
 */
export class CloudwatchLogsWriter {
  /**
   * @param client - an SDK client acting as the tenant's role in the target region
   */
  constructor(private readonly client: CloudWatchLogsClient) {}

  /**
   * Puts one request's events into `logGroupName`.
   *
   * @param payload - the stream and its events, sorted by timestamp; must not be empty
   * @throws DeliveryError with `retryable` and a stable `reason`
   */
  async put(logGroupName: string, payload: CloudwatchPayload, signal: AbortSignal): Promise<PutLogEventsOutcome> {
    const { logStreamName } = payload;
    const action = `PutLogEvents to '${logGroupName}/${logStreamName}'`;
    let created = false;
    try {
      return { rejected: await this.putOnce(logGroupName, payload, signal), created };
    } catch (error) {
      if (awsErrorName(error) !== RESOURCE_NOT_FOUND) throw toCloudwatchDeliveryError(error, action);
    }
    await this.createStream(logGroupName, logStreamName, signal);
    created = true;
    try {
      return { rejected: await this.putOnce(logGroupName, payload, signal), created };
    } catch (error) {
      throw toCloudwatchDeliveryError(error, action);
    }
  }

  /** Releases the client's sockets. */
  close(): void {
    this.client.destroy();
  }

  private async putOnce(
    logGroupName: string,
    payload: CloudwatchPayload,
    signal: AbortSignal,
  ): Promise<Record<CloudwatchRejectReason, number>> {
    try {
      const answer = await this.client.send(
        new PutLogEventsCommand({ logGroupName, logStreamName: payload.logStreamName, logEvents: [...payload.events] }),
        { abortSignal: signal },
      );
      return rejectedEventCounts(answer.rejectedLogEventsInfo, payload.events.length);
    } catch (error) {
      // A retry of a request CloudWatch already stored: nothing more to do.
      if (awsErrorName(error) === DATA_ALREADY_ACCEPTED) return rejectedEventCounts(undefined, 0);
      throw error;
    }
  }

  private async createStream(logGroupName: string, logStreamName: string, signal: AbortSignal): Promise<void> {
    const createStream = () =>
      this.client.send(new CreateLogStreamCommand({ logGroupName, logStreamName }), { abortSignal: signal });
    try {
      await ignoreAlreadyExists(createStream());
      return;
    } catch (error) {
      if (awsErrorName(error) !== RESOURCE_NOT_FOUND) {
        throw toCloudwatchDeliveryError(error, `CreateLogStream '${logGroupName}/${logStreamName}'`);
      }
    }
    // The group itself is missing.
    try {
      await ignoreAlreadyExists(this.client.send(new CreateLogGroupCommand({ logGroupName }), { abortSignal: signal }));
    } catch (error) {
      if (awsErrorName(error) === LIMIT_EXCEEDED) {
        // The account's log group quota, not a rate: waiting does not help.
        throw new DeliveryError(`CreateLogGroup '${logGroupName}' failed: the account's log group quota is reached.`, {
          retryable: false,
          reason: CloudwatchFailureReason.LOG_GROUP_LIMIT_EXCEEDED,
          cause: error,
        });
      }
      throw toCloudwatchDeliveryError(error, `CreateLogGroup '${logGroupName}'`);
    }
    try {
      await ignoreAlreadyExists(createStream());
    } catch (error) {
      throw toCloudwatchDeliveryError(error, `CreateLogStream '${logGroupName}/${logStreamName}'`);
    }
  }
}

async function ignoreAlreadyExists(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (error) {
    // Another replica created it first.
    if (awsErrorName(error) !== RESOURCE_ALREADY_EXISTS) throw error;
  }
}

/** Builds an SDK client; tests pass one that adds middleware. */
export type CloudwatchClientFactory = (config: CloudWatchLogsClientConfig) => CloudWatchLogsClient;

/** The default factory: a plain SDK client. */
export const defaultCloudwatchClientFactory: CloudwatchClientFactory = (config) => new CloudWatchLogsClient(config);

/**
 * Writers per (region, credentials identity), so connections are reused across batches
 * and objects of a destination.
 */
export class CloudwatchWriterCache {
  private readonly writers = new Map<string, CloudwatchLogsWriter>();

  /**
   * The writer for a region and identity, built by `build` on first use.
   *
   * @param identity - a stable key of the credentials (role ARN and ExternalId)
   */
  get(region: string, identity: string, build: () => CloudWatchLogsClient): CloudwatchLogsWriter {
    const key = `${region}|${identity}`;
    let writer = this.writers.get(key);
    if (!writer) {
      writer = new CloudwatchLogsWriter(build());
      this.writers.set(key, writer);
    }
    return writer;
  }

  /** Closes every writer. */
  close(): void {
    for (const writer of this.writers.values()) writer.close();
    this.writers.clear();
  }
}
