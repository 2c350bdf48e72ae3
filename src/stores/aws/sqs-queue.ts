import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  type QueueAttributeName,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { awsErrorName } from '../../aws/index.js';
import { AbortedError, ConfigValidationError, type FieldError } from '../../domain/index.js';
import type { NotificationQueue, QueueMessage, QueueStats } from '../ports.js';

/**
 * SQS limits, https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/:
 * DelaySeconds 0–900 (SendMessage), MaxNumberOfMessages 1–10 and WaitTimeSeconds 0–20
 * (ReceiveMessage), VisibilityTimeout 0–43,200 (12 h).
 */
const MAX_DELAY_SECONDS = 900;
const MAX_MESSAGES_PER_RECEIVE = 10;
const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;

const RECEIVE_COUNT_ATTRIBUTE = 'ApproximateReceiveCount';
const VISIBLE_ATTRIBUTE = 'ApproximateNumberOfMessages';
const IN_FLIGHT_ATTRIBUTE = 'ApproximateNumberOfMessagesNotVisible';
const DELAYED_ATTRIBUTE = 'ApproximateNumberOfMessagesDelayed';

/**
 * Errors that mean the receipt handle no longer owns a message (it was deleted, or received
 * again by another consumer) or never did. The embedded queue treats such a handle as a no-op,
 * and so does this one: the message is either gone or owned by whoever received it last.
 */
const STALE_HANDLE_ERRORS: ReadonlySet<string> = new Set(['ReceiptHandleIsInvalid', 'MessageNotInflight']);

/** What `createSqsQueue` needs. */
export interface SqsQueueOptions {
  /** A client built with `awsClientConfig(settings)`; its request timeout must exceed 20 s (long polls). */
  readonly client: SQSClient;
  readonly queueUrl: string;
  /** The queue's redrive target, read by `stats()` for `deadLettered`. */
  readonly deadLetterQueueUrl?: string;
}

/**
 * Creates the notification queue on SQS. Numbers beyond the SQS limits are clamped to them
 * (10 messages, 20 s wait, 15 min delay, 12 h visibility) as the embedded queue does, and
 * milliseconds are rounded up to whole seconds, so a wait or delay is never shorter than asked.
 * Failures surface as the SDK's own errors (classify them with `isRetryableAwsError`), except
 * an aborted receive, which rejects with AbortedError.
 *
 * @param options - the client, the queue URL, and the redrive queue's URL if there is one
 * @throws ConfigValidationError when a queue URL is empty
 * @example
 * const queue = createSqsQueue({
 *   client: new SQSClient(awsClientConfig(awsSettingsFromEnv())),
 *   queueUrl: process.env.NOTIFICATION_QUEUE_URL,
 * });
 * const messages = await queue.receive({ maxMessages: 10, waitMs: 20_000 });
 */
export function createSqsQueue(options: SqsQueueOptions): NotificationQueue {
  const { client, queueUrl, deadLetterQueueUrl } = options;
  validateOptions(queueUrl, deadLetterQueueUrl);

  async function send(body: string, sendOptions?: { delayMs?: number }): Promise<void> {
    const delayMs = sendOptions?.delayMs;
    await client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        // Without a delay the queue's own default delay applies, as SQS intends.
        ...(delayMs !== undefined && { DelaySeconds: toSeconds(delayMs, MAX_DELAY_SECONDS) }),
      }),
    );
  }

  async function receive(receiveOptions: {
    maxMessages: number;
    waitMs: number;
    visibilityTimeoutMs?: number;
    signal?: AbortSignal;
  }): Promise<QueueMessage[]> {
    const { signal, visibilityTimeoutMs } = receiveOptions;
    if (signal?.aborted) throw new AbortedError();
    const command = new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: clamp(Math.floor(receiveOptions.maxMessages), 1, MAX_MESSAGES_PER_RECEIVE),
      WaitTimeSeconds: toSeconds(receiveOptions.waitMs, MAX_WAIT_SECONDS),
      ...(visibilityTimeoutMs !== undefined && {
        VisibilityTimeout: toSeconds(visibilityTimeoutMs, MAX_VISIBILITY_TIMEOUT_SECONDS),
      }),
      MessageSystemAttributeNames: [RECEIVE_COUNT_ATTRIBUTE],
    });
    let messages: Message[];
    try {
      const output = await client.send(command, signal ? { abortSignal: signal } : {});
      messages = output.Messages ?? [];
    } catch (error) {
      if (signal?.aborted || awsErrorName(error) === 'AbortError') {
        const aborted = new AbortedError('The receive from SQS was aborted.');
        aborted.cause = error;
        throw aborted;
      }
      throw error;
    }
    return messages.flatMap((message) => toQueueMessage(message));
  }

  async function deleteMessage(receiptHandle: string): Promise<void> {
    try {
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
    } catch (error) {
      if (!isStaleHandleError(error)) throw error;
    }
  }

  async function changeVisibility(receiptHandle: string, visibilityTimeoutMs: number): Promise<void> {
    try {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: toSeconds(visibilityTimeoutMs, MAX_VISIBILITY_TIMEOUT_SECONDS),
        }),
      );
    } catch (error) {
      if (!isStaleHandleError(error)) throw error;
    }
  }

  async function stats(): Promise<QueueStats> {
    const [attributes, deadLetterAttributes] = await Promise.all([
      queueAttributes(queueUrl, [VISIBLE_ATTRIBUTE, IN_FLIGHT_ATTRIBUTE, DELAYED_ATTRIBUTE]),
      deadLetterQueueUrl === undefined ? undefined : queueAttributes(deadLetterQueueUrl, [VISIBLE_ATTRIBUTE]),
    ]);
    return {
      visible: count(attributes, VISIBLE_ATTRIBUTE),
      inFlight: count(attributes, IN_FLIGHT_ATTRIBUTE),
      delayed: count(attributes, DELAYED_ATTRIBUTE),
      // Messages visible in the redrive queue: one someone is inspecting (in flight there) is not counted.
      deadLettered: deadLetterAttributes ? count(deadLetterAttributes, VISIBLE_ATTRIBUTE) : 0,
    };
  }

  async function queueAttributes(
    url: string,
    names: QueueAttributeName[],
  ): Promise<Partial<Record<string, string>>> {
    const output = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }));
    return output.Attributes ?? {};
  }

  return { send, receive, delete: deleteMessage, changeVisibility, stats };
}

function validateOptions(queueUrl: string, deadLetterQueueUrl: string | undefined): void {
  const errors: FieldError[] = [];
  if (queueUrl === '') errors.push({ field: 'queueUrl', message: 'must not be empty' });
  if (deadLetterQueueUrl === '') {
    errors.push({ field: 'deadLetterQueueUrl', message: 'must not be empty when set' });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'SQS queue options');
}

/** SQS always sends the id, handle and body; a message without them cannot be handled or acknowledged. */
function toQueueMessage(message: Message): QueueMessage[] {
  const { MessageId: id, ReceiptHandle: receiptHandle, Body: body } = message;
  if (id === undefined || receiptHandle === undefined || body === undefined) return [];
  const receiveCount = Number(message.Attributes?.[RECEIVE_COUNT_ATTRIBUTE]);
  return [{ id, receiptHandle, body, receiveCount: Number.isSafeInteger(receiveCount) ? receiveCount : 1 }];
}

function isStaleHandleError(error: unknown): boolean {
  const name = awsErrorName(error);
  return name !== undefined && STALE_HANDLE_ERRORS.has(name);
}

function count(attributes: Partial<Record<string, string>>, name: string): number {
  const value = Number(attributes[name] ?? 0);
  return Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

/** Milliseconds to whole seconds, rounded up and kept within [0, maxSeconds]. */
function toSeconds(ms: number, maxSeconds: number): number {
  return clamp(Math.ceil(ms / 1_000), 0, maxSeconds);
}

/** Keeps `value` within [min, max]; NaN becomes `min`, so a bad number never reaches SQS. */
function clamp(value: number, min: number, max: number): number {
  return Number.isNaN(value) ? min : Math.min(max, Math.max(min, value));
}
