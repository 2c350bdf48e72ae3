import { awsClientConfig, tenantRoleFor } from '../../aws/index.js';
import { defaultRetryConfig } from '../../delivery/index.js';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { counter } from '../../metrics/index.js';
import type { Sink, SinkDefinition, SinkDeps } from '../types.js';
import { checkFirehoseAccess } from './access-check.js';
import { defaultFirehoseClientFactory, type FirehoseClientFactory, FirehoseWriter } from './client.js';
import {
  checkFirehoseConfig,
  FIREHOSE_KIND,
  firehoseConfigProperties,
  firehoseLimitsFor,
  type FirehoseSinkConfig,
} from './config.js';
import { createFirehosePlanner, type FirehosePayload } from './planner.js';

export { checkFirehoseAccess } from './access-check.js';
export {
  type FirehoseClientFactory,
  FirehoseFailureReason,
  firehoseRecordError,
  refusedFirehoseRecords,
  toFirehoseDeliveryError,
} from './client.js';
export {
  defaultFirehoseLimits,
  FIREHOSE_KIND,
  type FirehoseSinkConfig,
  firehoseLimitsFor,
  MAX_RECORD_BYTES,
  MAX_RECORDS_PER_REQUEST,
  MAX_REQUEST_BYTES,
  MIN_RECORD_BYTES,
} from './config.js';
import { requireAwsRuntime } from '../aws-runtime.js';
export { createFirehosePlanner, type FirehosePayload, type FirehosePlannerOptions } from './planner.js';

/** Metric of log lines cut to fit a Firehose record. */
export const FIREHOSE_TRUNCATED_METRIC = 'tlr_firehose_lines_truncated_total';

/** What code (not an operator) may pass in besides the deps. */
export interface FirehoseSinkOptions {
  /** Builds the SDK client (tests add middleware here). */
  readonly createClient?: FirehoseClientFactory;
}

/**
 * Builds a `firehose` sink: the tenant's log lines as NDJSON records (several lines per
 * record) in `PutRecordBatch` requests to its Firehose stream, written as the tenant's role
 * assumed through the central role. Records a call refuses (`FailedPutCount`) are sent
 * again alone; a batch counts as delivered only once all of its records are accepted.
 *
 * @param config - a validated `firehose` delivery config
 * @param deps - must carry `aws` (settings and the credential broker)
 * @throws ConfigValidationError when `deps.aws` is missing (the runtime cannot reach AWS)
 * @example const sink = createFirehoseSink(config, { baseDir, logger, registry, aws: { settings, credentials } })
 */
export function createFirehoseSink(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  options: FirehoseSinkOptions = {},
): Sink<FirehosePayload> {
  const aws = requireAwsRuntime(deps, FIREHOSE_KIND, config);
  const fields = config as unknown as FirehoseSinkConfig;
  const region = config.target_region ?? aws.settings.region;
  const limits = firehoseLimitsFor(fields);
  const createClient = options.createClient ?? defaultFirehoseClientFactory;
  const truncated = counter(deps.registry, {
    name: FIREHOSE_TRUNCATED_METRIC,
    help: 'Log lines larger than a Firehose record, cut with a marker.',
  });
  const credentials = aws.credentials.forTenant(tenantRoleFor(config, region));
  let writer: FirehoseWriter | undefined;

  return {
    kind: FIREHOSE_KIND,
    packsAcrossObjects: true,
    retry: { ...defaultRetryConfig(), ...fields.retry },
    createPlanner: () =>
      createFirehosePlanner(fields.delivery_stream_name, { limits, onTruncated: () => truncated.inc() }),
    send(batch, signal) {
      writer ??= new FirehoseWriter(createClient(awsClientConfig(aws.settings, { region, credentials })));
      return writer.put(batch, signal);
    },
    close: async () => {
      writer?.close();
      writer = undefined;
    },
  };
}

/** The `firehose` destination kind. */
export const firehoseSinkDefinition: SinkDefinition = {
  kind: FIREHOSE_KIND,
  spec: { kind: FIREHOSE_KIND, properties: firehoseConfigProperties, check: checkFirehoseConfig },
  create: (config, deps) => createFirehoseSink(config, deps),
  checkAccess: (config, deps, signal) => checkFirehoseAccess(config, deps, signal),
};
