import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Metric helpers: each module declares the metrics it emits on the registry it is given;
 * asking twice for one name returns the same metric, so modules never collide.
 */

interface MetricSpec<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

/** The counter of that name on the registry, created on first use. */
export function counter<L extends string>(registry: Registry, spec: MetricSpec<L>): Counter<L> {
  const existing = registry.getSingleMetric(spec.name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ ...spec, labelNames: spec.labelNames ?? [], registers: [registry] });
}

/** The gauge of that name on the registry, created on first use. */
export function gauge<L extends string>(
  registry: Registry,
  spec: MetricSpec<L> & { collect?: (this: Gauge<L>) => void | Promise<void> },
): Gauge<L> {
  const existing = registry.getSingleMetric(spec.name);
  if (existing) return existing as Gauge<L>;
  return new Gauge<L>({ ...spec, labelNames: spec.labelNames ?? [], registers: [registry] });
}

/** The histogram of that name on the registry, created on first use. */
export function histogram<L extends string>(
  registry: Registry,
  spec: MetricSpec<L> & { buckets?: number[] },
): Histogram<L> {
  const existing = registry.getSingleMetric(spec.name);
  if (existing) return existing as Histogram<L>;
  return new Histogram<L>({ ...spec, labelNames: spec.labelNames ?? [], registers: [registry] });
}
