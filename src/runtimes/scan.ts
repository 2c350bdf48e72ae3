import type { Logger } from '../logging/index.js';
import type { ItemResult, Processor } from '../pipeline/processor.js';
import type { ObjectStore } from '../stores/ports.js';

/** Only these objects are logs written by collectors. */
export const SCAN_SUFFIX = '.json.gz';

export interface ScanResult {
  readonly listed: number;
  readonly results: Partial<Record<ItemResult | 'error', number>>;
}

/**
 * One pass over a central bucket: every `.json.gz` object is processed; destinations that
 * already have a done checkpoint are skipped by the processor, so a pass only does what is
 * missing. An object that fails is logged and left for the next pass.
 */
export async function scanOnce(options: {
  objects: ObjectStore;
  bucket?: string;
  processor: Processor;
  logger: Logger;
  concurrency: number;
  signal: AbortSignal;
  onProgress?: (done: number) => void;
}): Promise<ScanResult> {
  const results: ScanResult['results'] = {};
  let listed = 0;
  let done = 0;
  const inFlight = new Set<Promise<void>>();
  for await (const info of options.objects.list()) {
    if (options.signal.aborted) break;
    if (!info.key.endsWith(SCAN_SUFFIX)) continue;
    listed++;
    const task = options.processor
      .processItem({ key: info.key, attempt: 0, ...(options.bucket !== undefined && { bucket: options.bucket }) }, options.signal)
      .then(
        (outcome) => {
          results[outcome.result] = (results[outcome.result] ?? 0) + 1;
        },
        (error: unknown) => {
          results.error = (results.error ?? 0) + 1;
          options.logger.error('Processing an object failed; the next pass tries again.', { object: info.key, error });
        },
      )
      .finally(() => {
        inFlight.delete(task);
        options.onProgress?.(++done);
      });
    inFlight.add(task);
    if (inFlight.size >= options.concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return { listed, results };
}
