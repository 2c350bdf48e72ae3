import type { Registry } from 'prom-client';
import type { Logger } from '../../logging/index.js';
import { counter } from '../../metrics/index.js';
import { analyticsPartition, toAnalyticsRow } from './athena.js';
import { classifyDataMessage, type EksLogRecord } from './classify.js';
import type { ValidatedCloudwatchIngestConfig } from './config.js';
import {
  CloudwatchPayloadError,
  type CloudwatchRefusalReason,
  decodeSubscriptionData,
  type FirehoseTransformationEvent,
  readLambdaEvent,
  readSubscriptionPayload,
  type SubscriptionPayload,
  SubscriptionMessageType,
} from './subscription.js';
import type { CloudwatchWriter } from './writer.js';

/**
 * The CloudWatch Logs ingest: decoded subscription payloads are classified, parsed and
 * written to the central store (and the analytics copy); Firehose transformation events
 * get one result per record. Bad input is refused with a reason and counted, never thrown;
 * a store or queue failure is thrown, so the invocation is retried and nothing is lost.
 */

/** Most refusals a summary lists; the counters and logs have every one. */
export const MAX_REPORTED_REFUSALS = 20;
/**
 * Largest Firehose transformation response: Lambda's 6 MB limit on a synchronous response.
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
export const FIREHOSE_MAX_RESPONSE_BYTES = 6 * 1024 * 1024;
/** Room kept under the response limit for the envelope around the records. */
const FIREHOSE_RESPONSE_ENVELOPE_BYTES = 1024;

/** Reason of a record whose transformed data would not fit the Lambda response. */
export const FIREHOSE_RESPONSE_TOO_LARGE = 'firehose_response_too_large';

/** One payload or record that was refused. */
export interface IngestRefusal {
  readonly reason: CloudwatchRefusalReason | typeof FIREHOSE_RESPONSE_TOO_LARGE;
  readonly message: string;
  /** The Firehose record, or the file and position of a local payload. */
  readonly source?: string;
}

/** What ingesting some payloads did. */
export interface IngestSummary {
  readonly dataMessages: number;
  /** CloudWatch Logs health checks: nothing to write. */
  readonly controlMessages: number;
  readonly refusedMessages: number;
  /** Events written. */
  readonly events: number;
  readonly centralKeys: string[];
  readonly analyticsKeys: string[];
  /** The first `MAX_REPORTED_REFUSALS` refusals. */
  readonly refusals: IngestRefusal[];
}

/** Firehose's per-record outcomes. https://docs.aws.amazon.com/firehose/latest/dev/data-transformation-status-model.html */
export const FirehoseRecordResult = {
  OK: 'Ok',
  DROPPED: 'Dropped',
  PROCESSING_FAILED: 'ProcessingFailed',
} as const;
export type FirehoseRecordResult = (typeof FirehoseRecordResult)[keyof typeof FirehoseRecordResult];

/** One record of the transformation response. */
export interface FirehoseOutputRecord {
  readonly recordId: string;
  readonly result: FirehoseRecordResult;
  /** Ok: base64 of the analytics rows as NDJSON; otherwise the record's original data. */
  readonly data: string;
  /** Ok: the record's partition (of its first event), for Firehose dynamic partitioning. */
  readonly metadata?: { readonly partitionKeys: Readonly<Record<string, string>> };
}

/** The transformation response. */
export interface FirehoseTransformationResult {
  readonly records: FirehoseOutputRecord[];
}

/** What `createCloudwatchIngest` needs. */
export interface CloudwatchIngestOptions {
  readonly writer: CloudwatchWriter;
  readonly config: ValidatedCloudwatchIngestConfig;
  readonly logger: Logger;
  readonly registry: Registry;
}

/**
 * A payload before decoding, with where it came from (for messages: `awslogs.data`,
 * `Firehose record '<id>'`, a file name): base64 text or gzip bytes as delivered, or the
 * payload JSON already parsed (a decoded payload saved to a file), checked all the same.
 */
export type PayloadSource =
  | { readonly data: string | Uint8Array; readonly source?: string }
  | { readonly json: unknown; readonly source?: string };

/** The ingest. */
export interface CloudwatchIngest {
  /**
   * Decodes, classifies and writes payloads as one batch.
   * @throws the writer's error when a store or the queue fails (retry the call)
   */
  ingest(payloads: readonly PayloadSource[]): Promise<IngestSummary>;
  /**
   * Transforms a Firehose event: one result per record, in order; the accepted records'
   * events are also written to the central store.
   * @throws the writer's error when a store or the queue fails (Firehose retries the batch)
   */
  transformFirehose(event: FirehoseTransformationEvent): Promise<FirehoseTransformationResult>;
  /**
   * Handles any Lambda event: a subscription event gives a summary, a Firehose event its
   * response; anything else is refused (`unknown_event`) in a summary.
   */
  handleEvent(event: unknown): Promise<IngestSummary | FirehoseTransformationResult>;
}

type Accepted =
  | { readonly kind: 'data'; readonly records: EksLogRecord[] }
  | { readonly kind: 'control' }
  | { readonly kind: 'refused'; readonly refusal: IngestRefusal };

/**
 * Creates the CloudWatch Logs ingest.
 *
 * @example
 * const ingest = createCloudwatchIngest({ writer, config, logger, registry });
 * const summary = await ingest.ingest([{ data: event.awslogs.data, source: 'awslogs.data' }]);
 */
export function createCloudwatchIngest(options: CloudwatchIngestOptions): CloudwatchIngest {
  const { writer, config, registry } = options;
  const logger = options.logger.child({ component: 'cloudwatch-ingest' });
  const messages = counter(registry, {
    name: 'tlr_cloudwatch_messages_total',
    help: 'CloudWatch Logs subscription messages by result (data, control, refused) and refusal reason.',
    labelNames: ['result', 'reason'] as const,
  });
  const events = counter(registry, {
    name: 'tlr_cloudwatch_events_total',
    help: 'CloudWatch Logs events written, by EKS component and how the line was read.',
    labelNames: ['component', 'format'] as const,
  });
  const refusedEvents = counter(registry, {
    name: 'tlr_cloudwatch_refused_events_total',
    help: 'Events of refused messages whose count was readable, by reason.',
    labelNames: ['reason'] as const,
  });

  function refuse(refusal: IngestRefusal, eventCount?: number): Accepted {
    messages.inc({ result: 'refused', reason: refusal.reason });
    if (eventCount !== undefined) refusedEvents.inc({ reason: refusal.reason }, eventCount);
    logger.error('Refused a CloudWatch Logs payload.', { ...refusal });
    return { kind: 'refused', refusal };
  }

  async function accept(payload: PayloadSource): Promise<Accepted> {
    const source = payload.source;
    let decoded: SubscriptionPayload;
    try {
      decoded =
        'json' in payload
          ? readSubscriptionPayload(payload.json, source)
          : await decodeSubscriptionData(payload.data, {
            maxBytes: config.maxPayloadBytes,
            ...(source !== undefined && { what: source }),
          });
    } catch (error) {
      if (!(error instanceof CloudwatchPayloadError)) throw error;
      return refuse({ reason: error.reason, message: error.message, ...(source !== undefined && { source }) });
    }
    if (decoded.messageType === SubscriptionMessageType.CONTROL) {
      messages.inc({ result: 'control', reason: '' });
      return { kind: 'control' };
    }
    const classified = classifyDataMessage(decoded, {
      tenant: config.tenant,
      ...(config.clusterName !== undefined && { clusterName: config.clusterName }),
    });
    if (!classified.ok) {
      return refuse(
        { reason: classified.reason, message: classified.message, ...(source !== undefined && { source }) },
        decoded.logEvents.length,
      );
    }
    messages.inc({ result: 'data', reason: '' });
    return { kind: 'data', records: classified.records };
  }

  async function write(records: EksLogRecord[]): Promise<{ centralKeys: string[]; analyticsKeys: string[] }> {
    if (records.length === 0) return { centralKeys: [], analyticsKeys: [] };
    try {
      const result = await writer.write(records);
      for (const record of records) events.inc({ component: record.component, format: record.parsed.format });
      return result;
    } catch (error) {
      logger.error('Writing CloudWatch Logs events failed; the invocation fails so the source retries it.', {
        events: records.length,
        error,
      });
      throw error;
    }
  }

  async function ingest(payloads: readonly PayloadSource[]): Promise<IngestSummary> {
    const outcomes = await Promise.all(payloads.map(accept));
    const records = outcomes.flatMap((o) => (o.kind === 'data' ? o.records : []));
    const refusals = outcomes.flatMap((o) => (o.kind === 'refused' ? [o.refusal] : []));
    const { centralKeys, analyticsKeys } = await write(records);
    return {
      dataMessages: outcomes.filter((o) => o.kind === 'data').length,
      controlMessages: outcomes.filter((o) => o.kind === 'control').length,
      refusedMessages: refusals.length,
      events: records.length,
      centralKeys,
      analyticsKeys,
      refusals: refusals.slice(0, MAX_REPORTED_REFUSALS),
    };
  }

  async function transformFirehose(event: FirehoseTransformationEvent): Promise<FirehoseTransformationResult> {
    const outcomes = await Promise.all(
      event.records.map((r) => accept({ data: r.data, source: `Firehose record '${r.recordId}'` })),
    );
    await write(outcomes.flatMap((o) => (o.kind === 'data' ? o.records : [])));
    let responseBytes = FIREHOSE_RESPONSE_ENVELOPE_BYTES;
    const records = event.records.map((input, i): FirehoseOutputRecord => {
      const outcome = outcomes[i]!;
      const original = { recordId: input.recordId, data: input.data };
      let output: FirehoseOutputRecord;
      if (outcome.kind === 'refused') output = { ...original, result: FirehoseRecordResult.PROCESSING_FAILED };
      else if (outcome.kind === 'control' || outcome.records.length === 0) {
        output = { ...original, result: FirehoseRecordResult.DROPPED };
      } else {
        const ndjson = outcome.records.map((r) => `${JSON.stringify(toAnalyticsRow(r))}\n`).join('');
        const partition = analyticsPartition(outcome.records[0]!);
        output = {
          recordId: input.recordId,
          result: FirehoseRecordResult.OK,
          data: Buffer.from(ndjson, 'utf8').toString('base64'),
          metadata: { partitionKeys: { component: partition.component, dt: partition.dt, hour: partition.hour } },
        };
      }
      const size = Buffer.byteLength(JSON.stringify(output), 'utf8') + 1;
      if (responseBytes + size > FIREHOSE_MAX_RESPONSE_BYTES && output.result === FirehoseRecordResult.OK) {
        // Its events are in the central store already; only Firehose's copy is lost, and said so.
        refuse({
          reason: FIREHOSE_RESPONSE_TOO_LARGE,
          message:
            `The transformed record would take the response over ${FIREHOSE_MAX_RESPONSE_BYTES} bytes; ` +
            "lower the Firehose processor's BufferSizeInMBs.",
          source: `Firehose record '${input.recordId}'`,
        });
        output = { ...original, result: FirehoseRecordResult.PROCESSING_FAILED };
      }
      responseBytes += Buffer.byteLength(JSON.stringify(output), 'utf8') + 1;
      return output;
    });
    return { records };
  }

  return {
    ingest,
    transformFirehose,
    async handleEvent(event) {
      let read;
      try {
        read = readLambdaEvent(event);
      } catch (error) {
        if (!(error instanceof CloudwatchPayloadError)) throw error;
        refuse({ reason: error.reason, message: error.message });
        return {
          dataMessages: 0,
          controlMessages: 0,
          refusedMessages: 1,
          events: 0,
          centralKeys: [],
          analyticsKeys: [],
          refusals: [{ reason: error.reason, message: error.message }],
        };
      }
      if (read.kind === 'firehose') return transformFirehose(read.event);
      return ingest([{ data: read.data, source: 'awslogs.data' }]);
    },
  };
}
