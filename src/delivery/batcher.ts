import type { Batch } from '../sinks/types.js';

/** Limits of one request, as a destination states them. */
export interface BatchLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/**
 * Accumulates records into batches that stay within count and byte limits. Sinks with
 * further rules (time span, ordering) cut earlier by calling `take()` themselves.
 *
 * @typeParam T - what the sink keeps per record
 * @typeParam P - the payload the sink builds from its items
 */
export class BatchAccumulator<T, P> {
  private items: T[] = [];
  private bytes = 0;
  private firstOffset = -1;
  private lastOffset = -1;

  /**
   * @param limits - the request limits
   * @param toPayload - builds the request payload from the items of one batch
   */
  constructor(
    private readonly limits: BatchLimits,
    private readonly toPayload: (items: T[]) => P,
  ) {}

  /** Records in the open batch. */
  get count(): number {
    return this.items.length;
  }

  /**
   * Adds an item of `bytes` at `offset`; returns the batch it closed when the item did not
   * fit. An item larger than `maxBytes` alone still forms a batch of one: the sink must
   * split or truncate such items before adding them.
   */
  add(item: T, offset: number, bytes: number): Batch<P> | undefined {
    let closed: Batch<P> | undefined;
    if (
      this.items.length >= this.limits.maxEvents ||
      (this.items.length > 0 && this.bytes + bytes > this.limits.maxBytes)
    ) {
      closed = this.take();
    }
    if (this.items.length === 0) this.firstOffset = offset;
    this.items.push(item);
    this.bytes += bytes;
    this.lastOffset = offset;
    return closed;
  }

  /** Closes the open batch and returns it, or undefined when it is empty. */
  take(): Batch<P> | undefined {
    if (this.items.length === 0) return undefined;
    const batch: Batch<P> = {
      firstOffset: this.firstOffset,
      lastOffset: this.lastOffset,
      count: this.items.length,
      bytes: this.bytes,
      payload: this.toPayload(this.items),
    };
    this.items = [];
    this.bytes = 0;
    return batch;
  }
}
