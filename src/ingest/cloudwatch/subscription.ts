import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import Type, { type Static } from 'typebox';
import { ErrorCode, errorText, RouterError, schemaFieldErrors } from '../../domain/index.js';

/**
 * CloudWatch Logs subscription payloads: what a subscription filter sends (gzip JSON, base64
 * in a Lambda event or a Firehose transformation record), decoded and checked. Format:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html
 */

const gunzipAsync = promisify(gunzip);

/** The `messageType` of a payload. */
export const SubscriptionMessageType = {
  /** Log events of one log stream. */
  DATA: 'DATA_MESSAGE',
  /** CloudWatch Logs checking the destination is reachable; carries no log data. */
  CONTROL: 'CONTROL_MESSAGE',
} as const;
export type SubscriptionMessageType = (typeof SubscriptionMessageType)[keyof typeof SubscriptionMessageType];

/** Why a payload, a Firehose record or a log stream was refused; the `reason` label of the counters. */
export const CloudwatchRefusalReason = {
  BAD_BASE64: 'bad_base64',
  BAD_GZIP: 'bad_gzip',
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  BAD_JSON: 'bad_json',
  INVALID_PAYLOAD: 'invalid_payload',
  UNKNOWN_EVENT: 'unknown_event',
  UNKNOWN_LOG_STREAM: 'unknown_log_stream',
  UNKNOWN_CLUSTER: 'unknown_cluster',
} as const;
export type CloudwatchRefusalReason = (typeof CloudwatchRefusalReason)[keyof typeof CloudwatchRefusalReason];

/**
 * A payload that cannot be used, whatever the retry: permanent, with a stable `reason`.
 * Shares the notification code, since a payload is the notification of this ingest.
 */
export class CloudwatchPayloadError extends RouterError {
  override readonly name = 'CloudwatchPayloadError';
  constructor(
    readonly reason: CloudwatchRefusalReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.INVALID_NOTIFICATION, message, options);
  }
}

/** The latest time a JavaScript Date holds (year 275760); later timestamps cannot be rendered. */
const MAX_TIMESTAMP_MS = 8.64e15;

/** One log event of a `DATA_MESSAGE`. */
export const SubscriptionLogEventSchema = Type.Object({
  // AWS sends a string of digits; moto 5.2.1 sends its counter as a JSON number. Both are
  // read, and the id is always handed on as a string.
  id: Type.Union([Type.String(), Type.Integer({ minimum: 0 })], {
    description: 'CloudWatch event id, unique in the log group.',
    errorMessage: 'must be a string of digits',
  }),
  timestamp: Type.Integer({
    minimum: 0,
    maximum: MAX_TIMESTAMP_MS,
    description: 'When the event happened, epoch milliseconds.',
    errorMessage: 'must be epoch milliseconds (a whole number ≥ 0)',
  }),
  message: Type.String({ description: 'The log line as written by the component.' }),
});
/** One log event of a `DATA_MESSAGE`, its id a string. */
export type SubscriptionLogEvent = Omit<Static<typeof SubscriptionLogEventSchema>, 'id'> & { id: string };

/**
 * A `DATA_MESSAGE`. `owner` and `subscriptionFilters` are always sent by CloudWatch Logs
 * but not needed here, so hand-made payloads may leave them out; unknown keys are allowed,
 * since AWS adds fields (`policyLevel` for account-level subscriptions).
 */
export const DataMessageSchema = Type.Object({
  messageType: Type.Literal(SubscriptionMessageType.DATA),
  owner: Type.Optional(Type.String()),
  logGroup: Type.String({ minLength: 1 }),
  logStream: Type.String({ minLength: 1 }),
  subscriptionFilters: Type.Optional(Type.Array(Type.String())),
  logEvents: Type.Array(SubscriptionLogEventSchema),
});
/** A checked `DATA_MESSAGE`. */
export type DataMessage = Omit<Static<typeof DataMessageSchema>, 'logEvents'> & { logEvents: SubscriptionLogEvent[] };

/** A `CONTROL_MESSAGE`: only its type matters. */
export interface ControlMessage {
  readonly messageType: typeof SubscriptionMessageType.CONTROL;
}

/** A decoded payload. */
export type SubscriptionPayload = DataMessage | ControlMessage;

/** Most schema problems one error message lists. */
export const MAX_REPORTED_PROBLEMS = 5;
/** How much of a bad value an error message quotes. */
const MAX_QUOTED_CHARS = 40;
/** Standard base64 with padding, as Lambda, Kinesis and Firehose send it. */
const BASE64_REGEX = /^[A-Za-z0-9+/]*={0,2}$/;
const GZIP_MAGIC = [0x1f, 0x8b] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}


function quote(text: string): string {
  return text.length > MAX_QUOTED_CHARS ? `'${text.slice(0, MAX_QUOTED_CHARS)}…'` : `'${text}'`;
}

/**
 * Decodes base64, refusing what Node would silently skip: characters outside the alphabet,
 * a length that is not a multiple of 4, padding in the middle.
 *
 * @param text - the base64 text; whitespace is not allowed
 * @param what - what the text is, for the error message (`'awslogs.data'`)
 * @throws CloudwatchPayloadError `bad_base64`
 */
export function decodeBase64Strict(text: string, what: string): Buffer {
  if (!BASE64_REGEX.test(text)) {
    const index = text.search(/[^A-Za-z0-9+/=]|=[^=]/);
    const at = index >= 0 ? ` at position ${index} (${JSON.stringify(text[index])})` : '';
    throw new CloudwatchPayloadError(
      CloudwatchRefusalReason.BAD_BASE64,
      `${what} is not base64: unexpected character${at}.`,
    );
  }
  if (text.length % 4 !== 0) {
    throw new CloudwatchPayloadError(
      CloudwatchRefusalReason.BAD_BASE64,
      `${what} is not base64: its length ${text.length} is not a multiple of 4.`,
    );
  }
  return Buffer.from(text, 'base64');
}

/** Whether bytes start like a gzip stream. */
export function looksGzipped(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/**
 * Inflates a gzip payload, at most `maxBytes` of output.
 *
 * @throws CloudwatchPayloadError `bad_gzip` or `payload_too_large`
 */
export async function gunzipPayload(bytes: Uint8Array, what: string, maxBytes: number): Promise<Buffer> {
  if (!looksGzipped(bytes)) {
    throw new CloudwatchPayloadError(
      CloudwatchRefusalReason.BAD_GZIP,
      `${what} is not gzip: it does not start with the gzip magic bytes 1f 8b.`,
    );
  }
  try {
    return await gunzipAsync(bytes, { maxOutputLength: maxBytes });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new CloudwatchPayloadError(
        CloudwatchRefusalReason.PAYLOAD_TOO_LARGE,
        `${what} inflates to more than ${maxBytes} bytes; refused.`,
        { cause },
      );
    }
    throw new CloudwatchPayloadError(
      CloudwatchRefusalReason.BAD_GZIP,
      `${what} is not valid gzip: ${errorText(cause)}.`,
      { cause },
    );
  }
}

/**
 * Checks a parsed JSON payload.
 *
 * @param value - the payload as parsed
 * @param what - what it is, for the error message
 * @throws CloudwatchPayloadError `invalid_payload` naming the bad fields
 */
export function readSubscriptionPayload(value: unknown, what = 'The payload'): SubscriptionPayload {
  if (!isRecord(value)) {
    throw new CloudwatchPayloadError(CloudwatchRefusalReason.INVALID_PAYLOAD, `${what} is not a JSON object.`);
  }
  const type = value['messageType'];
  if (type === SubscriptionMessageType.CONTROL) return { messageType: SubscriptionMessageType.CONTROL };
  if (type !== SubscriptionMessageType.DATA) {
    const got = typeof type === 'string' ? quote(type) : type === undefined ? 'nothing' : `a ${typeof type}`;
    throw new CloudwatchPayloadError(
      CloudwatchRefusalReason.INVALID_PAYLOAD,
      `${what} has 'messageType' ${got}; expected '${SubscriptionMessageType.DATA}' or '${SubscriptionMessageType.CONTROL}'.`,
    );
  }
  const problems = schemaFieldErrors(DataMessageSchema, value);
  if (problems.length > 0) {
    const listed = problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => `'${p.field}' ${p.message}`);
    // The schema checker stops after a few errors itself, so no total is claimed.
    const more = problems.length > MAX_REPORTED_PROBLEMS ? '; and more' : '';
    throw new CloudwatchPayloadError(
      CloudwatchRefusalReason.INVALID_PAYLOAD,
      `${what} is not a valid ${SubscriptionMessageType.DATA}: ${listed.join('; ')}${more}.`,
    );
  }
  const message = value as Static<typeof DataMessageSchema>;
  if (message.logEvents.some((e) => typeof e.id !== 'string')) {
    return { ...message, logEvents: message.logEvents.map((e) => ({ ...e, id: String(e.id) })) };
  }
  return message as DataMessage;
}

/**
 * Parses and checks decompressed payload text.
 *
 * @throws CloudwatchPayloadError `bad_json` or `invalid_payload`
 */
export function parseSubscriptionPayload(text: string, what = 'The payload'): SubscriptionPayload {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new CloudwatchPayloadError(
      CloudwatchRefusalReason.BAD_JSON,
      `${what} is not valid JSON: ${errorText(cause)}.`,
      { cause },
    );
  }
  return readSubscriptionPayload(value, what);
}

/**
 * Decodes what a subscription delivers: base64 text (Lambda `awslogs.data`, a Firehose
 * record's `data`) or raw gzip bytes (a Kinesis record), then gunzip, JSON and checks.
 *
 * @param data - base64 text, or the gzip bytes themselves
 * @param options - `maxBytes`: the decompressed size limit; `what` names the data in errors
 * @throws CloudwatchPayloadError with the reason: `bad_base64`, `bad_gzip`, `payload_too_large`,
 *   `bad_json` or `invalid_payload`
 * @example const payload = await decodeSubscriptionData(event.awslogs.data, { maxBytes: 32 * 2 ** 20 });
 */
export async function decodeSubscriptionData(
  data: string | Uint8Array,
  options: { maxBytes: number; what?: string },
): Promise<SubscriptionPayload> {
  const what = options.what ?? 'The payload';
  const bytes = typeof data === 'string' ? decodeBase64Strict(data, what) : data;
  const text = (await gunzipPayload(bytes, what, options.maxBytes)).toString('utf8');
  return parseSubscriptionPayload(text, what);
}

/** One record of a Firehose data-transformation event. */
export interface FirehoseInputRecord {
  readonly recordId: string;
  /** Base64 of the record: here, the gzip subscription payload. */
  readonly data: string;
  readonly approximateArrivalTimestamp?: number;
}

/** A Firehose data-transformation event (the fields this ingest reads). */
export interface FirehoseTransformationEvent {
  readonly invocationId?: string;
  readonly deliveryStreamArn?: string;
  readonly region?: string;
  readonly records: readonly FirehoseInputRecord[];
}

/** What a Lambda may be invoked with. */
export type CloudwatchLambdaEvent =
  | { readonly kind: 'subscription'; readonly data: string }
  | { readonly kind: 'firehose'; readonly event: FirehoseTransformationEvent };

/**
 * Tells a Lambda event apart: a subscription (`{"awslogs":{"data":…}}`) or a Firehose
 * data-transformation event (`{"records":[{"recordId","data"}]}`).
 *
 * @throws CloudwatchPayloadError `unknown_event` naming what is missing
 */
export function readLambdaEvent(event: unknown): CloudwatchLambdaEvent {
  if (!isRecord(event)) {
    throw new CloudwatchPayloadError(CloudwatchRefusalReason.UNKNOWN_EVENT, 'The event is not a JSON object.');
  }
  if ('awslogs' in event) {
    const awslogs = event['awslogs'];
    const data = isRecord(awslogs) ? awslogs['data'] : undefined;
    if (typeof data !== 'string') {
      throw new CloudwatchPayloadError(
        CloudwatchRefusalReason.UNKNOWN_EVENT,
        "The subscription event has no 'awslogs.data' string.",
      );
    }
    return { kind: 'subscription', data };
  }
  if ('records' in event) {
    const records = event['records'];
    if (!Array.isArray(records)) {
      throw new CloudwatchPayloadError(CloudwatchRefusalReason.UNKNOWN_EVENT, "The Firehose event's 'records' is not a list.");
    }
    const bad = records.findIndex(
      (r) => !isRecord(r) || typeof r['recordId'] !== 'string' || typeof r['data'] !== 'string',
    );
    if (bad >= 0) {
      throw new CloudwatchPayloadError(
        CloudwatchRefusalReason.UNKNOWN_EVENT,
        `The Firehose event's record ${bad} has no 'recordId' and 'data' strings.`,
      );
    }
    return { kind: 'firehose', event: event as unknown as FirehoseTransformationEvent };
  }
  throw new CloudwatchPayloadError(
    CloudwatchRefusalReason.UNKNOWN_EVENT,
    "The event is neither a CloudWatch Logs subscription ('awslogs.data') nor a Firehose transformation ('records').",
  );
}
