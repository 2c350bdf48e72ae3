import { createNdjsonRecordPlanner, type NdjsonRecordLimits, type NdjsonRecordsPayload } from '../ndjson-records.js';
import type { SinkPlanner } from '../types.js';
import { defaultFirehoseLimits } from './config.js';

/** What one `PutRecordBatch` call sends: NDJSON records into one Firehose stream. */
export interface FirehosePayload extends NdjsonRecordsPayload {
  readonly deliveryStreamName: string;
}

/** Options of {@link createFirehosePlanner}. */
export interface FirehosePlannerOptions {
  readonly limits?: NdjsonRecordLimits;
  /** Called for each line cut to fit a record. */
  readonly onTruncated?: (bytesRemoved: number) => void;
}

/**
 * Plans one object's records into `PutRecordBatch` requests: lines joined as NDJSON into
 * records of at most `maxRecordBytes`, at most 500 records and `maxRequestBytes` per
 * request. Every line ends with a newline, so the S3 objects Firehose concatenates from
 * the records are NDJSON too.
 *
 * @param deliveryStreamName - the Firehose stream every request goes to
 */
export function createFirehosePlanner(
  deliveryStreamName: string,
  options: FirehosePlannerOptions = {},
): SinkPlanner<FirehosePayload> {
  return createNdjsonRecordPlanner<FirehosePayload>({
    limits: options.limits ?? defaultFirehoseLimits(),
    toPayload: (records) => ({ deliveryStreamName, records }),
    ...(options.onTruncated !== undefined && { onTruncated: options.onTruncated }),
  });
}
