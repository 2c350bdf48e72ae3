import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createEmfEmitter, EMF_NAMESPACE } from '../../src/metrics/index.js';
import { createProcessorMetrics } from '../../src/pipeline/metrics.js';

describe('createEmfEmitter', () => {
  it('writes per-tenant EMF lines with the names dashboards read, as changes since the last flush', async () => {
    // Prepare
    const registry = new Registry();
    const metrics = createProcessorMetrics(registry);
    const lines: string[] = [];
    const emf = createEmfEmitter(registry, { write: (l) => lines.push(l), now: () => 1_700_000_000_000 });
    metrics.eventsDelivered.inc({ tenant: 'acme', kind: 'cloudwatch' }, 10);
    metrics.deliveries.inc({ tenant: 'acme', kind: 'cloudwatch', result: 'success' });
    metrics.deliveries.inc({ tenant: 'acme', kind: 'cloudwatch', result: 'retry' });
    metrics.deliveryLatencyMs.observe({ tenant: 'acme', kind: 'cloudwatch' }, 100);
    metrics.deliveryLatencyMs.observe({ tenant: 'acme', kind: 'cloudwatch' }, 300);
    metrics.eventsFailed.inc({ tenant: 'globex', kind: 's3' }, 2);

    // Act
    await emf.flush();
    const first = lines.splice(0).map((l) => JSON.parse(l));
    metrics.eventsDelivered.inc({ tenant: 'acme', kind: 'cloudwatch' }, 5);
    await emf.flush();
    const second = lines.splice(0).map((l) => JSON.parse(l));
    await emf.flush();

    // Assess
    const acme = first.find((l) => l.Tenant === 'acme');
    expect(acme._aws).toEqual({
      Timestamp: 1_700_000_000_000,
      CloudWatchMetrics: [
        {
          Namespace: EMF_NAMESPACE,
          Dimensions: [['Tenant']],
          Metrics: expect.arrayContaining([
            { Name: 'LogCount/cloudwatch/successful_events', Unit: 'Count' },
            { Name: 'LogCount/cloudwatch/delivery_latency', Unit: 'Milliseconds' },
          ]),
        },
      ],
    });
    expect(acme).toMatchObject({
      'LogCount/cloudwatch/successful_events': 10,
      'LogCount/cloudwatch/successful_delivery': 1,
      'LogCount/cloudwatch/failed_delivery': 1,
      'LogCount/cloudwatch/delivery_latency': 200,
    });
    expect(first.find((l) => l.Tenant === 'globex')).toMatchObject({ 'LogCount/s3/failed_events': 2 });
    expect(second).toEqual([expect.objectContaining({ Tenant: 'acme', 'LogCount/cloudwatch/successful_events': 5 })]);
    expect(lines).toEqual([]);
  });
});
