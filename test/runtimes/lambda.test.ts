import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { AbortedError } from '../../src/domain/index.js';
import { silentLogger } from '../../src/logging/index.js';
import type { MessageOutcome, Processor } from '../../src/pipeline/processor.js';
import { encodeWorkItem } from '../../src/pipeline/notification.js';
import { createSqsHandler, DEADLINE_MARGIN_MS, STATUS_FLUSH_BUDGET_MS } from '../../src/runtimes/lambda.js';
import { randomId } from '../helpers/factories.js';
import { metricValue } from '../helpers/metrics.js';

/** A processor of our own port that answers by message body (no SDK is faked). */
function scriptedProcessor(script: Record<string, 'ok' | 'throw' | 'slow'>): Processor & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    async processMessage(body, signal): Promise<MessageOutcome> {
      seen.push(body);
      if (script[body] === 'throw') throw new Error('DynamoDB unreachable');
      if (script[body] === 'slow') {
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new AbortedError()), { once: true }));
      }
      return { items: [] };
    },
    processItem: () => Promise.reject(new Error('not used')),
  };
}

const record = (id: string, body = id) => ({ messageId: id, body, eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:q' });

describe('createSqsHandler', () => {
  it('reports only the messages that could not be processed as batch item failures', async () => {
    // Prepare
    const processor = scriptedProcessor({ a: 'ok', b: 'throw', c: 'ok' });
    const handle = createSqsHandler({ processor, logger: silentLogger, concurrency: 2 });

    // Act
    const response = await handle({ Records: [record('a'), record('b'), record('c')] }, { getRemainingTimeInMillis: () => 60_000 });

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'b' }] });
    expect(processor.seen.sort()).toEqual(['a', 'b', 'c']);
  });

  it('gives back every message still unfinished when the invocation nears its deadline', async () => {
    // Prepare
    const processor = scriptedProcessor({ slow: 'slow', later: 'ok' });
    const handle = createSqsHandler({ processor, logger: silentLogger, concurrency: 1 });

    // Act
    const response = await handle(
      { Records: [record('slow'), record('later')] },
      { getRemainingTimeInMillis: () => DEADLINE_MARGIN_MS + 50 },
    );

    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['later', 'slow']);
    expect(processor.seen).toEqual(['slow']);
  });

  it('tells the runtime the event source queue before processing', async () => {
    // Prepare
    const sources: string[] = [];
    const handle = createSqsHandler({
      processor: scriptedProcessor({ a: 'ok' }),
      logger: silentLogger,
      onEventSource: async (arn) => {
        sources.push(arn);
      },
    });

    // Act
    await handle({ Records: [record('a')] }, { getRemainingTimeInMillis: () => 60_000 });

    // Assess
    expect(sources).toEqual(['arn:aws:sqs:us-east-1:123456789012:q']);
  });

  it('writes destination status before answering, but answers after the flush budget when the status store hangs', async () => {
    // Prepare
    let flushes = 0;
    const fast = createSqsHandler({
      processor: scriptedProcessor({ a: 'ok' }),
      logger: silentLogger,
      flushStatus: async () => {
        flushes++;
      },
    });
    const hanging = createSqsHandler({
      processor: scriptedProcessor({ a: 'ok' }),
      logger: silentLogger,
      flushStatus: () => new Promise<void>(() => {}),
    });

    // Act
    const fastResponse = await fast({ Records: [record('a')] }, { getRemainingTimeInMillis: () => 60_000 });
    const started = Date.now();
    const hangingResponse = await hanging({ Records: [record('a')] }, { getRemainingTimeInMillis: () => 1_300 });
    const waitedMs = Date.now() - started;

    // Assess
    expect(flushes).toBe(1);
    expect(fastResponse).toEqual({ batchItemFailures: [] });
    expect(hangingResponse).toEqual({ batchItemFailures: [] });
    // 1,300 ms left minus the 1,000 ms kept for the response: about 300 ms of waiting.
    expect(waitedMs).toBeLessThan(STATUS_FLUSH_BUDGET_MS);
  });
});

describe('createSqsHandler with a batch processor', () => {
  it('hands the whole event to processMessages and reports only the messages it could not settle', async () => {
    // Prepare
    const bodies: string[][] = [];
    const processor = {
      processMessage: () => Promise.reject(new Error('not used')),
      processItem: () => Promise.reject(new Error('not used')),
      processItems: () => Promise.reject(new Error('not used')),
      async processMessages(batch: readonly string[]) {
        bodies.push([...batch]);
        return batch.map((body) =>
          body === 'b'
            ? ({ status: 'rejected', reason: new Error('DynamoDB unreachable') } as const)
            : ({ status: 'fulfilled', value: { items: [] } } as const),
        );
      },
    };
    const handle = createSqsHandler({ processor, logger: silentLogger });

    // Act
    const response = await handle({ Records: [record('a'), record('b'), record('c')] }, { getRemainingTimeInMillis: () => 60_000 });

    // Assess
    expect(bodies).toEqual([['a', 'b', 'c']]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'b' }] });
  });
});

/** A work item body for an object of `tenant`. */
const tenantBody = (tenant: string) =>
  encodeWorkItem({ key: `c1/${tenant}/api/api-1/20240115-100000-${randomId()}.json.gz`, attempt: 0 });
const tenantOf = (body: string) => body.split('/')[1]!;

describe('createSqsHandler fair scheduling', () => {
  it("bounds one tenant's records in flight so another tenant's record gets a worker at once", async () => {
    // Prepare
    const started: string[] = [];
    const active = new Map<string, number>();
    const peak = new Map<string, number>();
    const processor: Processor = {
      async processMessage(body) {
        const tenant = tenantOf(body);
        started.push(tenant);
        active.set(tenant, (active.get(tenant) ?? 0) + 1);
        peak.set(tenant, Math.max(peak.get(tenant) ?? 0, active.get(tenant)!));
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
        active.set(tenant, active.get(tenant)! - 1);
        return { items: [] };
      },
      processItem: () => Promise.reject(new Error('not used')),
    };
    const registry = new Registry();
    const handle = createSqsHandler({ processor, logger: silentLogger, concurrency: 2, maxInFlightPerTenant: 1, registry });
    const records = ['team-a', 'team-a', 'team-a', 'team-b'].map((t, i) => record(`m${i}`, tenantBody(t)));

    // Act
    const response = await handle({ Records: records }, { getRemainingTimeInMillis: () => 60_000 });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(started).toEqual(['team-a', 'team-b', 'team-a', 'team-a']);
    expect(peak).toEqual(new Map([['team-a', 1], ['team-b', 1]]));
    expect(await metricValue(registry, 'tlr_scheduler_in_flight')).toBe(0);
  });

  it('splits the event per tenant for a batch processor and reports only what a tenant could not settle', async () => {
    // Prepare
    const batches: string[][] = [];
    const processor = {
      processMessage: () => Promise.reject(new Error('not used')),
      processItem: () => Promise.reject(new Error('not used')),
      processItems: () => Promise.reject(new Error('not used')),
      async processMessages(bodies: readonly string[]) {
        batches.push(bodies.map(tenantOf));
        if (tenantOf(bodies[0]!) === 'team-b') throw new Error('DynamoDB unreachable');
        return bodies.map(() => ({ status: 'fulfilled', value: { items: [] } }) as const);
      },
    };
    const handle = createSqsHandler({ processor, logger: silentLogger, concurrency: 2 });
    const records = ['team-a', 'team-b', 'team-a'].map((t, i) => record(`m${i}`, tenantBody(t)));

    // Act
    const response = await handle({ Records: records }, { getRemainingTimeInMillis: () => 60_000 });

    // Assess
    expect(batches).toEqual([['team-a', 'team-a'], ['team-b']]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
  });
});
