import type { Registry } from 'prom-client';
import type { AwsSinkDeps } from '../aws/index.js';
import type { RetryConfig, SendResult } from '../delivery/index.js';
import type { KindSpec, LogObjectKey, LogRecord, ValidatedDeliveryConfig } from '../domain/index.js';
import type { Logger } from '../logging/index.js';

/**
 * The contract every destination kind fulfils. A sink supplies planning (records →
 * batches within its limits) and the one remote call; retries, checkpoints and dead
 * letters are the pipeline's and the delivery policy's, written once.
 */

/** Records planned into one request. Offsets are contiguous within a batch. */
export interface Batch<P = unknown> {
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly count: number;
  /** Payload bytes as the destination counts them. */
  readonly bytes: number;
  /** What the sink's `send` needs, built by its planner. */
  readonly payload: P;
}

/** Cuts one object's records into batches; a new planner per (object, destination) delivery. */
export interface SinkPlanner<P = unknown> {
  /** Adds a record; returns the batches it completed (usually none). */
  add(record: LogRecord): Batch<P>[];
  /** Returns what is left as batches; the planner is empty afterwards. */
  flush(): Batch<P>[];
}

/** What a planner knows about the object besides its key. */
export interface PlannerContext {
  /** The bucket the notification named (AWS), when it named one. */
  readonly bucket?: string;
}

/** One configured destination, ready to deliver. */
export interface Sink<P = unknown> {
  readonly kind: string;
  /** Quick-retry policy for this destination. */
  readonly retry: RetryConfig;
  /**
   * The planner may hold records of several consecutive objects of one pod in one request
   * (the processor then gives it offsets that keep growing across objects), so a stream is
   * packed as full as the destination's limits allow rather than object by object.
   */
  readonly packsAcrossObjects?: boolean;
  createPlanner(object: LogObjectKey, context?: PlannerContext): SinkPlanner<P>;
  /**
   * The one remote call.
   * @throws DeliveryError with `retryable` set where the failure is understood
   */
  send(batch: Batch<P>, signal: AbortSignal): Promise<SendResult<Batch<P>> | undefined>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}

/** What the runtime hands every sink factory. */
export interface SinkDeps {
  /** Base for relative paths (the data directory in the embedded runtime). */
  readonly baseDir: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** AWS settings and credentials; present where the runtime can reach AWS. */
  readonly aws?: AwsSinkDeps;
}

/** How one step of a live access check went. */
export const AccessCheckStatus = { OK: 'ok', FAILED: 'failed', SKIPPED: 'skipped' } as const;
export type AccessCheckStatus = (typeof AccessCheckStatus)[keyof typeof AccessCheckStatus];

/** One step of a live access check (`assume_role`, `describe_log_groups`, `head_bucket`, …). */
export interface AccessCheckStep {
  readonly step: string;
  readonly status: AccessCheckStatus;
  /** The AWS error code (or our reason) of a failed step: `AccessDenied`, `NoSuchBucket`, … */
  readonly code?: string;
  /** What was checked, or why it failed or was skipped, as a sentence. */
  readonly message: string;
}

/** A destination kind: its config spec and how to build a sink from a validated config. */
export interface SinkDefinition {
  readonly kind: string;
  readonly spec: KindSpec;
  /** Builds a sink. @throws ConfigValidationError when the config cannot be used at all */
  create(config: ValidatedDeliveryConfig, deps: SinkDeps): Sink;
  /**
   * Checks live that the router can reach the destination with the config's credentials
   * (assume the role chain, then a read-only call on the target). Steps run in order; a
   * failed step skips the ones after it. Never throws for a failed check: it is a step.
   */
  checkAccess?(config: ValidatedDeliveryConfig, deps: SinkDeps, signal: AbortSignal): Promise<AccessCheckStep[]>;
}
