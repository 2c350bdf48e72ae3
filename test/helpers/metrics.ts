import type { Registry } from 'prom-client';

/**
 * The value of a counter or gauge on a registry, summed over the series whose labels
 * include `labels`; 0 when the metric or the series does not exist yet.
 *
 * @param labels - label values the series must have; others may vary
 */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
