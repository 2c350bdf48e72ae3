import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, PutBucketNotificationConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../../src/aws/index.js';
import { AbortedError, ConfigValidationError } from '../../../src/domain/errors.js';
import { parseNotification } from '../../../src/pipeline/notification.js';
import { createS3ObjectStore } from '../../../src/stores/aws/s3-object-store.js';
import { createSqsQueue } from '../../../src/stores/aws/sqs-queue.js';
import type { QueueMessage } from '../../../src/stores/ports.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

/** A request the SQS client sent: the command's name and its input. */
interface SentRequest {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

function uniqueName(kind: string): string {
  return `${kind}-${randomUUID().slice(0, 8)}`;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

describe.skipIf(motoUnavailable)('createSqsQueue against moto', () => {
  let moto: MotoServer;
  let sqs: SQSClient;
  /** Every request the SQS client sent, so tests can check what moto does not enforce. */
  const sent: SentRequest[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    sqs = new SQSClient(awsClientConfig(moto.settings));
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ command: context.commandName ?? '', input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordRequests' },
    );
  });

  afterAll(async () => {
    sqs?.destroy();
    await moto?.stop();
  });

  async function newQueueUrl(attributes: Record<string, string> = {}): Promise<string> {
    const output = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('queue'), Attributes: attributes }));
    return output.QueueUrl!;
  }

  async function queueArn(queueUrl: string): Promise<string> {
    const output = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    return output.Attributes!['QueueArn']!;
  }

  /** The inputs of the requests of one command sent to one queue since `since`. */
  function requests(command: string, queueUrl: string, since = 0): Record<string, unknown>[] {
    return sent
      .slice(since)
      .filter((r) => r.command === command && r.input['QueueUrl'] === queueUrl)
      .map((r) => r.input);
  }

  describe('send, receive and delete', () => {
    it('delivers a sent message once with a receipt handle and a receive count of 1, and forgets it once deleted', async () => {
      // Prepare
      const queue = createSqsQueue({ client: sqs, queueUrl: await newQueueUrl() });
      await queue.send('{"key":"a"}');

      // Act
      const messages = await queue.receive({ maxMessages: 10, waitMs: 0, visibilityTimeoutMs: 30_000 });
      await queue.delete(messages[0]!.receiptHandle);

      // Assess
      expect(messages).toEqual([
        { id: expect.any(String), receiptHandle: expect.any(String), body: '{"key":"a"}', receiveCount: 1 },
      ]);
      expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
    });

    it('hides a received message for its visibility timeout, rounded up to whole seconds', async () => {
      // Prepare
      const queueUrl = await newQueueUrl();
      const queue = createSqsQueue({ client: sqs, queueUrl });
      await queue.send('m');
      const since = sent.length;

      // Act
      const first = await queue.receive({ maxMessages: 1, waitMs: 0, visibilityTimeoutMs: 29_001 });
      const second = await queue.receive({ maxMessages: 1, waitMs: 0 });

      // Assess
      expect(first).toHaveLength(1);
      expect(second).toEqual([]);
      expect(requests('ReceiveMessageCommand', queueUrl, since)[0]).toMatchObject({ VisibilityTimeout: 30 });
      expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 1 });
    });

    it('counts receives: a message made visible again with changeVisibility(0) comes back with receiveCount 2', async () => {
      // Prepare
      const queue = createSqsQueue({ client: sqs, queueUrl: await newQueueUrl() });
      await queue.send('m');
      const [first] = await queue.receive({ maxMessages: 1, waitMs: 0, visibilityTimeoutMs: 60_000 });

      // Act
      await queue.changeVisibility(first!.receiptHandle, 0);
      const [second] = await queue.receive({ maxMessages: 1, waitMs: 0, visibilityTimeoutMs: 60_000 });

      // Assess
      expect(second).toMatchObject({ id: first!.id, body: 'm', receiveCount: 2 });
      expect(second!.receiptHandle).not.toBe(first!.receiptHandle);
    });

    it('extends the invisibility of a received message with changeVisibility, in seconds rounded up', async () => {
      // Prepare
      const queueUrl = await newQueueUrl();
      const queue = createSqsQueue({ client: sqs, queueUrl });
      await queue.send('m');
      const [message] = await queue.receive({ maxMessages: 1, waitMs: 0, visibilityTimeoutMs: 0 });
      const since = sent.length;

      // Act
      await queue.changeVisibility(message!.receiptHandle, 1_500);
      const again = await queue.receive({ maxMessages: 1, waitMs: 0 });

      // Assess
      expect(requests('ChangeMessageVisibilityCommand', queueUrl, since)).toEqual([
        expect.objectContaining({ VisibilityTimeout: 2 }),
      ]);
      expect(again).toEqual([]);
    });

    it('returns at most 10 messages per receive however many are asked for', async () => {
      // Prepare
      const queueUrl = await newQueueUrl();
      const queue = createSqsQueue({ client: sqs, queueUrl });
      for (let i = 0; i < 12; i++) await queue.send(`m${i}`);
      const since = sent.length;

      // Act
      const messages = await queue.receive({ maxMessages: 50, waitMs: 0 });

      // Assess
      expect(messages).toHaveLength(10);
      expect(requests('ReceiveMessageCommand', queueUrl, since)[0]).toMatchObject({ MaxNumberOfMessages: 10 });
    });

    it('asks for at least one message when maxMessages is 0', async () => {
      // Prepare
      const queueUrl = await newQueueUrl();
      const queue = createSqsQueue({ client: sqs, queueUrl });
      await queue.send('m');
      const since = sent.length;

      // Act
      const messages = await queue.receive({ maxMessages: 0, waitMs: 0 });

      // Assess
      expect(messages).toHaveLength(1);
      expect(requests('ReceiveMessageCommand', queueUrl, since)[0]).toMatchObject({ MaxNumberOfMessages: 1 });
    });

    it('long-polls at most 20 s and asks for the receive count', async () => {
      // Prepare
      const queueUrl = await newQueueUrl();
      const queue = createSqsQueue({ client: sqs, queueUrl });
      await queue.send('m');
      const since = sent.length;

      // Act
      const messages = await queue.receive({ maxMessages: 1, waitMs: 60_000 });

      // Assess
      expect(messages).toHaveLength(1);
      expect(requests('ReceiveMessageCommand', queueUrl, since)[0]).toMatchObject({
        WaitTimeSeconds: 20,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      });
    });

    it('returns no messages from an empty queue once the wait, rounded up to a second, is over', async () => {
      // Prepare
      const queueUrl = await newQueueUrl();
      const queue = createSqsQueue({ client: sqs, queueUrl });
      const since = sent.length;

      // Act
      const messages = await queue.receive({ maxMessages: 10, waitMs: 1 });

      // Assess
      expect(messages).toEqual([]);
      expect(requests('ReceiveMessageCommand', queueUrl, since)[0]).toMatchObject({ WaitTimeSeconds: 1 });
    });
  });

  describe('delay', () => {
    it.each([
      [1, 1],
      [1_000, 1],
      [1_001, 2],
      [-5, 0],
      [Number.NaN, 0],
      [2_000_000, 900],
    ])('sends delayMs %s as DelaySeconds %i', async (delayMs, delaySeconds) => {
      // Prepare
      const queueUrl = await newQueueUrl();
      const queue = createSqsQueue({ client: sqs, queueUrl });
      const since = sent.length;

      // Act
      await queue.send('m', { delayMs });

      // Assess
      expect(requests('SendMessageCommand', queueUrl, since)).toEqual([
        expect.objectContaining({ DelaySeconds: delaySeconds }),
      ]);
    });

    it('accepts a delay beyond the SQS maximum and keeps the message delayed', async () => {
      // Prepare
      const queue = createSqsQueue({ client: sqs, queueUrl: await newQueueUrl() });

      // Act
      await queue.send('later', { delayMs: 2_000_000 });

      // Assess
      expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 1, deadLettered: 0 });
      expect(await queue.receive({ maxMessages: 10, waitMs: 0 })).toEqual([]);
    });

    it("leaves the queue's own default delay in force when no delay is given", async () => {
      // Prepare
      const queueUrl = await newQueueUrl({ DelaySeconds: '60' });
      const queue = createSqsQueue({ client: sqs, queueUrl });
      const since = sent.length;

      // Act
      await queue.send('m');

      // Assess
      expect(requests('SendMessageCommand', queueUrl, since)[0]).not.toHaveProperty('DelaySeconds');
      expect(await queue.stats()).toMatchObject({ visible: 0, delayed: 1 });
    });
  });

  describe('abort', () => {
    it('rejects a long poll with AbortedError soon after its signal aborts', async () => {
      // Prepare
      const queue = createSqsQueue({ client: sqs, queueUrl: await newQueueUrl() });
      const abort = new AbortController();
      const startedAt = Date.now();
      setTimeout(() => abort.abort(), 100);

      // Act
      const error = await rejection(queue.receive({ maxMessages: 10, waitMs: 20_000, signal: abort.signal }));

      // Assess
      expect(error).toBeInstanceOf(AbortedError);
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    });

    it('rejects with AbortedError without calling SQS when the signal is already aborted', async () => {
      // Prepare
      const queueUrl = await newQueueUrl();
      const queue = createSqsQueue({ client: sqs, queueUrl });
      await queue.send('m');
      const since = sent.length;

      // Act
      const error = await rejection(queue.receive({ maxMessages: 10, waitMs: 0, signal: AbortSignal.abort() }));

      // Assess
      expect(error).toBeInstanceOf(AbortedError);
      expect(requests('ReceiveMessageCommand', queueUrl, since)).toEqual([]);
      expect(await queue.stats()).toMatchObject({ visible: 1 });
    });
  });

  describe('stats', () => {
    it('counts a message the redrive policy moved to the dead-letter queue after maxReceiveCount receives', async () => {
      // Prepare
      const deadLetterQueueUrl = await newQueueUrl();
      const queueUrl = await newQueueUrl({
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(deadLetterQueueUrl), maxReceiveCount: 1 }),
      });
      const queue = createSqsQueue({ client: sqs, queueUrl, deadLetterQueueUrl });
      await queue.send('poison');
      const [first] = await queue.receive({ maxMessages: 1, waitMs: 0, visibilityTimeoutMs: 60_000 });
      await queue.changeVisibility(first!.receiptHandle, 0);

      // Act
      const second = await queue.receive({ maxMessages: 1, waitMs: 0 });
      const stats = await queue.stats();

      // Assess
      expect(second).toEqual([]);
      expect(stats).toEqual({ visible: 0, inFlight: 0, delayed: 0, deadLettered: 1 });
    });

    it('reports visible, in-flight and delayed messages, and no dead letters without a dead-letter queue', async () => {
      // Prepare
      const queue = createSqsQueue({ client: sqs, queueUrl: await newQueueUrl() });
      for (const body of ['a', 'b', 'c']) await queue.send(body);
      await queue.send('d', { delayMs: 60_000 });
      await queue.receive({ maxMessages: 1, waitMs: 0, visibilityTimeoutMs: 60_000 });

      // Act
      const stats = await queue.stats();

      // Assess
      expect(stats).toEqual({ visible: 2, inFlight: 1, delayed: 1, deadLettered: 0 });
    });
  });

  describe('failures', () => {
    it('treats a delete with the handle of an already deleted message as a no-op, like the embedded queue', async () => {
      // Prepare
      const queue = createSqsQueue({ client: sqs, queueUrl: await newQueueUrl() });
      await queue.send('m');
      const [message] = await queue.receive({ maxMessages: 1, waitMs: 0 });
      await queue.delete(message!.receiptHandle);

      // Act
      const deleted = queue.delete(message!.receiptHandle);

      // Assess
      await expect(deleted).resolves.toBeUndefined();
    });

    it('treats delete and changeVisibility with an unknown receipt handle as no-ops (SQS: ReceiptHandleIsInvalid)', async () => {
      // Prepare
      const queue = createSqsQueue({ client: sqs, queueUrl: await newQueueUrl() });
      await queue.send('m');

      // Act
      const results = await Promise.allSettled([
        queue.delete('not-a-receipt-handle'),
        queue.changeVisibility('not-a-receipt-handle', 0),
      ]);

      // Assess
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(await queue.stats()).toMatchObject({ visible: 1 });
    });

    it('treats changeVisibility of a deleted message as a no-op', async () => {
      // Prepare
      const queue = createSqsQueue({ client: sqs, queueUrl: await newQueueUrl() });
      await queue.send('m');
      const [message] = await queue.receive({ maxMessages: 1, waitMs: 0 });
      await queue.delete(message!.receiptHandle);

      // Act
      const changed = queue.changeVisibility(message!.receiptHandle, 0);

      // Assess
      await expect(changed).resolves.toBeUndefined();
    });

    describe.each([
      ['send', (queue: ReturnType<typeof createSqsQueue>) => queue.send('m')],
      ['receive', (queue: ReturnType<typeof createSqsQueue>) => queue.receive({ maxMessages: 1, waitMs: 0 })],
      ['delete', (queue: ReturnType<typeof createSqsQueue>) => queue.delete('handle')],
      ['changeVisibility', (queue: ReturnType<typeof createSqsQueue>) => queue.changeVisibility('handle', 0)],
      ['stats', (queue: ReturnType<typeof createSqsQueue>) => queue.stats()],
    ])('%s on a queue that does not exist', (_operation, call) => {
      it('rejects with the SDK error QueueDoesNotExist', async () => {
        // Prepare
        const queueUrl = `${moto.endpoint}/123456789012/${uniqueName('missing')}`;
        const queue = createSqsQueue({ client: sqs, queueUrl });

        // Act
        const error = await rejection(call(queue));

        // Assess
        expect(error).toMatchObject({ name: 'QueueDoesNotExist' });
      });
    });

    it('rejects stats with the SDK error when the dead-letter queue does not exist', async () => {
      // Prepare
      const queue = createSqsQueue({
        client: sqs,
        queueUrl: await newQueueUrl(),
        deadLetterQueueUrl: `${moto.endpoint}/123456789012/${uniqueName('missing')}`,
      });

      // Act
      const error = await rejection(queue.stats());

      // Assess
      expect(error).toMatchObject({ name: 'QueueDoesNotExist' });
    });
  });

  describe('S3 → SNS → SQS notifications', () => {
    it('carries the key of a created .gz object, decoded exactly, after an ignored s3:TestEvent', async () => {
      // Prepare
      const s3 = new S3Client(awsClientConfig(moto.settings, { s3: true }));
      const sns = new SNSClient(awsClientConfig(moto.settings));
      try {
        const bucket = uniqueName('bucket');
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        const { TopicArn: topicArn } = await sns.send(new CreateTopicCommand({ Name: uniqueName('topic') }));
        const queueUrl = await newQueueUrl();
        await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: await queueArn(queueUrl) }));
        await s3.send(
          new PutBucketNotificationConfigurationCommand({
            Bucket: bucket,
            NotificationConfiguration: {
              TopicConfigurations: [
                {
                  TopicArn: topicArn,
                  Events: ['s3:ObjectCreated:*'],
                  Filter: { Key: { FilterRules: [{ Name: 'suffix', Value: '.gz' }] } },
                },
              ],
            },
          }),
        );
        const store = createS3ObjectStore({ client: s3, bucket });
        const queue = createSqsQueue({ client: sqs, queueUrl });
        const key = 'c1/ns a/app/pod/20240101-000000-x+y%z.json.gz';

        // Act
        await store.put('c1/ns a/app/pod/20240101-000000-x.txt', Buffer.from('not matched by the suffix'));
        await store.put(key, Buffer.from('x'));
        const messages: QueueMessage[] = [];
        for (let batch = await queue.receive({ maxMessages: 10, waitMs: 1_000 }); batch.length > 0; ) {
          messages.push(...batch);
          batch = await queue.receive({ maxMessages: 10, waitMs: 0 });
        }

        // Assess
        const parsed = messages.map((m) => parseNotification(m.body));
        expect(parsed).toEqual([
          { items: [], ignoredReason: 'test_event' },
          { items: [{ key, bucket, attempt: 0 }] },
        ]);
      } finally {
        s3.destroy();
        sns.destroy();
      }
    });
  });
});

describe('createSqsQueue options', () => {
  const client = new SQSClient({ region: 'us-east-1' });

  function thrown(act: () => unknown): unknown {
    try {
      act();
    } catch (error) {
      return error;
    }
    throw new Error('expected the call to throw');
  }

  it.each([
    [{ queueUrl: '' }, ['queueUrl']],
    [{ queueUrl: 'https://sqs.example/1/q', deadLetterQueueUrl: '' }, ['deadLetterQueueUrl']],
  ])('refuses %j', (urls, fields) => {
    // Prepare
    const options = { client, ...urls };

    // Act
    const error = thrown(() => createSqsQueue(options));

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toEqual(fields);
  });
});
