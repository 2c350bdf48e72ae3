import type { Registry } from 'prom-client';

/**
 * CloudWatch embedded metric format (EMF) for Lambda: per tenant and destination kind, the
 * names existing dashboards read — namespace `HCPLF/LogForwarding`, metrics
 * `LogCount/<kind>/<successful_events|failed_events|successful_delivery|failed_delivery|delivery_latency>`,
 * dimension `Tenant`. Values are the change of the processor's Prometheus counters since the
 * last flush, so one set of instruments feeds both. Format:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */

export const EMF_NAMESPACE = 'HCPLF/LogForwarding';

export interface EmfEmitter {
  /** Writes one EMF line per (tenant, kind) that changed since the last flush. */
  flush(): Promise<void>;
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return (await metric.get()).values as Sample[];
}

/**
 * @param write - where EMF lines go; Lambda forwards stdout to CloudWatch Logs, which extracts the metrics
 */
export function createEmfEmitter(
  registry: Registry,
  options: { write?: (line: string) => void; now?: () => number } = {},
): EmfEmitter {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const previous = new Map<string, number>();

  const delta = (key: string, value: number) => {
    const before = previous.get(key) ?? 0;
    previous.set(key, value);
    return value - before;
  };

  return {
    async flush() {
      const byTenantKind = new Map<string, { tenant: string; kind: string; values: Record<string, number> }>();
      const add = (tenant: string, kind: string, metric: string, value: number) => {
        if (value === 0) return;
        const key = `${tenant}\u0000${kind}`;
        const entry = byTenantKind.get(key) ?? { tenant, kind, values: {} };
        entry.values[metric] = (entry.values[metric] ?? 0) + value;
        byTenantKind.set(key, entry);
      };
      for (const s of await samples(registry, 'tlr_events_delivered_total')) {
        const { tenant, kind } = s.labels as { tenant: string; kind: string };
        add(tenant, kind, 'successful_events', delta(`delivered|${tenant}|${kind}`, s.value));
      }
      for (const s of await samples(registry, 'tlr_events_failed_total')) {
        const { tenant, kind } = s.labels as { tenant: string; kind: string };
        add(tenant, kind, 'failed_events', delta(`failed|${tenant}|${kind}`, s.value));
      }
      for (const s of await samples(registry, 'tlr_deliveries_total')) {
        const { tenant, kind, result } = s.labels as { tenant: string; kind: string; result: string };
        const metric = result === 'success' ? 'successful_delivery' : 'failed_delivery';
        add(tenant, kind, metric, delta(`deliveries|${tenant}|${kind}|${result}`, s.value));
      }
      const latency = new Map<string, { tenant: string; kind: string; sum: number; count: number }>();
      for (const s of await samples(registry, 'tlr_delivery_latency_ms')) {
        const { tenant, kind } = s.labels as { tenant: string; kind: string };
        if (tenant === undefined || kind === undefined) continue;
        const key = `${tenant}\u0000${kind}`;
        const entry = latency.get(key) ?? { tenant, kind, sum: 0, count: 0 };
        if (s.metricName?.endsWith('_sum')) entry.sum = delta(`lat-sum|${key}`, s.value);
        if (s.metricName?.endsWith('_count')) entry.count = delta(`lat-count|${key}`, s.value);
        latency.set(key, entry);
      }
      for (const l of latency.values()) if (l.count > 0) add(l.tenant, l.kind, 'delivery_latency', l.sum / l.count);

      for (const { tenant, kind, values } of byTenantKind.values()) {
        const metrics = Object.entries(values).map(([name, value]) => ({
          name: `LogCount/${kind}/${name}`,
          unit: name === 'delivery_latency' ? 'Milliseconds' : 'Count',
          value,
        }));
        write(
          JSON.stringify({
            _aws: {
              Timestamp: now(),
              CloudWatchMetrics: [
                {
                  Namespace: EMF_NAMESPACE,
                  Dimensions: [['Tenant']],
                  Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
                },
              ],
            },
            Tenant: tenant,
            ...Object.fromEntries(metrics.map((m) => [m.name, m.value])),
          }),
        );
      }
    },
  };
}
