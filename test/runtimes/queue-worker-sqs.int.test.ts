import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../src/aws/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { encodeWorkItem } from '../../src/pipeline/notification.js';
import type { MessageOutcome, Processor } from '../../src/pipeline/processor.js';
import { createQueueWorker } from '../../src/runtimes/queue-worker.js';
import { createSqsQueue } from '../../src/stores/aws/sqs-queue.js';
import { randomId } from '../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../helpers/moto.js';

const tenantBody = (tenant: string) =>
  encodeWorkItem({ key: `c1/${tenant}/api/api-1/20240115-100000-${randomId()}.json.gz`, attempt: 0 });
const tenantOf = (body: string) => body.split('/')[1]!;

describe.skipIf(motoUnavailable)('createQueueWorker over SQS (moto)', () => {
  let moto: MotoServer;
  let sqs: SQSClient;

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    sqs = new SQSClient(awsClientConfig(moto.settings));
  });

  afterAll(async () => {
    sqs?.destroy();
    await moto?.stop();
  });

  async function newQueue() {
    const output = await sqs.send(new CreateQueueCommand({ QueueName: `fair-${randomUUID().slice(0, 8)}` }));
    return createSqsQueue({ client: sqs, queueUrl: output.QueueUrl! });
  }

  it('hands each tenant its own batches, bounded per tenant, and deletes every settled message', async () => {
    // Prepare
    const queue = await newQueue();
    const bodies = [
      ...Array.from({ length: 12 }, () => tenantBody('team-a')),
      ...Array.from({ length: 3 }, () => tenantBody('team-b')),
    ];
    for (const body of bodies) await queue.send(body);
    const batches: string[][] = [];
    const active = new Map<string, number>();
    let peakPerTenant = 0;
    const processor = {
      processMessage: () => Promise.reject(new Error('not used')),
      processItem: () => Promise.reject(new Error('not used')),
      processItems: () => Promise.reject(new Error('not used')),
      async processMessages(batch: readonly string[]): Promise<PromiseSettledResult<MessageOutcome>[]> {
        const tenant = tenantOf(batch[0]!);
        batches.push([...batch]);
        active.set(tenant, (active.get(tenant) ?? 0) + 1);
        peakPerTenant = Math.max(peakPerTenant, active.get(tenant)!);
        await new Promise((resolve) => setImmediate(resolve));
        active.set(tenant, active.get(tenant)! - 1);
        return batch.map(() => ({ status: 'fulfilled', value: { items: [] } }));
      },
    };
    const worker = createQueueWorker({
      queue,
      processor: processor as unknown as Processor,
      logger: silentLogger,
      concurrency: 2,
      maxInFlightPerTenant: 1,
      waitMs: 0,
      batches: true,
    });

    // Act
    await worker.drain();

    // Assess
    expect(batches.every((batch) => new Set(batch.map(tenantOf)).size === 1)).toBe(true);
    expect(batches.flat().sort()).toEqual([...bodies].sort());
    expect(peakPerTenant).toBe(1);
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0 });
  });
});
