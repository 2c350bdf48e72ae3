import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../metrics/index.js';

/** The processor's metrics, per tenant and destination kind. */
export interface ProcessorMetrics {
  readonly objects: Counter<'result'>;
  readonly linesSkipped: Counter<'reason'>;
  readonly eventsRead: Counter;
  readonly eventsDelivered: Counter<'tenant' | 'kind'>;
  readonly eventsFailed: Counter<'tenant' | 'kind'>;
  readonly bytesDelivered: Counter<'tenant' | 'kind'>;
  readonly deliveries: Counter<'tenant' | 'kind' | 'result'>;
  readonly quickRetries: Counter<'kind' | 'reason'>;
  readonly delayedRetries: Counter<'tenant' | 'kind'>;
  readonly deadLetters: Counter<'reason'>;
  readonly notifications: Counter<'result'>;
  readonly deliveryLatencyMs: Histogram<'tenant' | 'kind'>;
  /** 0 closed, 1 half-open, 2 open (`CIRCUIT_STATE_VALUE`); `destination` is the config type. */
  readonly circuitState: Gauge<'tenant' | 'destination'>;
  readonly circuitTransitions: Counter<'tenant' | 'destination' | 'to'>;
  readonly circuitShortCircuits: Counter<'tenant' | 'destination'>;
  /** Deliveries over a rate limit handed to the delayed retry; `destination` is the config type. */
  readonly rateLimited: Counter<'tenant' | 'destination'>;
  /** Batches that waited (briefly) for rate-limit tokens before being sent. */
  readonly rateLimitWaits: Counter<'tenant' | 'destination'>;
  /** Deliveries dead-lettered because the tenant's daily byte quota was used up. */
  readonly quotaExceeded: Counter<'tenant' | 'destination'>;
}

/** Declares the processor's metrics on a registry. */
export function createProcessorMetrics(registry: Registry): ProcessorMetrics {
  const tk = ['tenant', 'kind'] as const;
  return {
    objects: counter(registry, {
      name: 'tlr_objects_processed_total',
      help: 'Objects processed, by result (completed, retry_scheduled, dead_lettered, skipped).',
      labelNames: ['result'],
    }),
    linesSkipped: counter(registry, {
      name: 'tlr_lines_skipped_total',
      help: 'Object lines that produced no record, by reason.',
      labelNames: ['reason'],
    }),
    eventsRead: counter(registry, { name: 'tlr_events_read_total', help: 'Records read from objects.' }),
    eventsDelivered: counter(registry, {
      name: 'tlr_events_delivered_total',
      help: 'Records accepted by destinations.',
      labelNames: tk,
    }),
    eventsFailed: counter(registry, {
      name: 'tlr_events_failed_total',
      help: 'Records whose delivery failed for now (delayed retry) or for good (dead letter).',
      labelNames: tk,
    }),
    bytesDelivered: counter(registry, {
      name: 'tlr_bytes_delivered_total',
      help: 'Payload bytes accepted by destinations.',
      labelNames: tk,
    }),
    deliveries: counter(registry, {
      name: 'tlr_deliveries_total',
      help: 'Deliveries of one object to one destination, by result (success, retry, failed).',
      labelNames: ['tenant', 'kind', 'result'],
    }),
    quickRetries: counter(registry, {
      name: 'tlr_delivery_quick_retries_total',
      help: 'Batches sent again after a recoverable failure, by reason.',
      labelNames: ['kind', 'reason'],
    }),
    delayedRetries: counter(registry, {
      name: 'tlr_delayed_retries_total',
      help: 'Deliveries handed to a durable delayed retry.',
      labelNames: tk,
    }),
    deadLetters: counter(registry, {
      name: 'tlr_dead_letters_total',
      help: 'Dead letters recorded, by reason.',
      labelNames: ['reason'],
    }),
    notifications: counter(registry, {
      name: 'tlr_notifications_total',
      help: 'Queue messages handled, by result (processed, test_event, ignored, invalid).',
      labelNames: ['result'],
    }),
    deliveryLatencyMs: histogram(registry, {
      name: 'tlr_delivery_latency_ms',
      help: 'Milliseconds from the object landing in the central store to a batch being accepted.',
      labelNames: tk,
      buckets: [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000],
    }),
    circuitState: gauge(registry, {
      name: 'tlr_destination_circuit_state',
      help: 'Circuit breaker of a destination on this replica: 0 closed, 1 half-open, 2 open.',
      labelNames: ['tenant', 'destination'],
    }),
    circuitTransitions: counter(registry, {
      name: 'tlr_destination_circuit_transitions_total',
      help: 'Circuit breaker state changes of a destination on this replica, by the state entered.',
      labelNames: ['tenant', 'destination', 'to'],
    }),
    circuitShortCircuits: counter(registry, {
      name: 'tlr_destination_circuit_short_circuits_total',
      help: 'Deliveries of one object not tried because the circuit was open; each went to a delayed retry.',
      labelNames: ['tenant', 'destination'],
    }),
    rateLimited: counter(registry, {
      name: 'tlr_rate_limited_total',
      help: 'Deliveries over a tenant or destination rate limit (this replica), handed to a delayed retry.',
      labelNames: ['tenant', 'destination'],
    }),
    rateLimitWaits: counter(registry, {
      name: 'tlr_rate_limit_waits_total',
      help: 'Batches that waited briefly for rate-limit tokens before being sent.',
      labelNames: ['tenant', 'destination'],
    }),
    quotaExceeded: counter(registry, {
      name: 'tlr_quota_exceeded_total',
      help: "Deliveries dead-lettered (reason quota_exceeded) because the tenant's daily byte quota was used up.",
      labelNames: ['tenant', 'destination'],
    }),
  };
}
