import { awsClientConfig, tenantRoleFor } from '../../aws/index.js';
import { defaultRetryConfig } from '../../delivery/index.js';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { counter } from '../../metrics/index.js';
import type { Sink, SinkDefinition, SinkDeps } from '../types.js';
import { checkKinesisAccess } from './access-check.js';
import { defaultKinesisClientFactory, type KinesisClientFactory, KinesisWriter } from './client.js';
import {
  checkKinesisConfig,
  DEFAULT_PARTITION_KEY_TEMPLATE,
  KINESIS_KIND,
  kinesisConfigProperties,
  kinesisLimitsFor,
  kinesisRegionOf,
  type KinesisSinkConfig,
} from './config.js';
import { createKinesisPlanner, type KinesisPayload, kinesisStreamFor, partitionKeyFor } from './planner.js';

export { checkKinesisAccess } from './access-check.js';
export {
  type KinesisClientFactory,
  KinesisFailureReason,
  kinesisRecordError,
  refusedKinesisRecords,
  toKinesisDeliveryError,
} from './client.js';
export {
  DEFAULT_PARTITION_KEY_TEMPLATE,
  defaultKinesisLimits,
  KINESIS_KIND,
  type KinesisSinkConfig,
  kinesisLimitsFor,
  kinesisRegionOf,
  LogCategory,
  MAX_PARTITION_KEY_LENGTH,
  MAX_RECORD_BYTES,
  MAX_RECORDS_PER_REQUEST,
  MAX_REQUEST_BYTES,
  MIN_RECORD_BYTES,
  PARTITION_KEY_PLACEHOLDERS,
} from './config.js';
export {
  createKinesisPlanner,
  type KinesisPayload,
  type KinesisPlannerOptions,
  type KinesisStreamTarget,
  kinesisStreamFor,
  logCategoryOf,
  partitionKeyFor,
  streamTargetOf,
} from './planner.js';
import { requireAwsRuntime } from '../aws-runtime.js';

/** Metric of log lines cut to fit a Kinesis record. */
export const KINESIS_TRUNCATED_METRIC = 'tlr_kinesis_lines_truncated_total';

/** What code (not an operator) may pass in besides the deps. */
export interface KinesisSinkOptions {
  /** Builds the SDK client (tests add middleware here). */
  readonly createClient?: KinesisClientFactory;
}

/**
 * Builds a `kinesis` sink: the tenant's log lines as NDJSON records (several lines per
 * record) in `PutRecords` requests to its data stream, or to the stream of the object's log
 * category when `streams` names one, keyed by `partition_key_template`, written as the
 * tenant's role assumed through the central role. Records a call refuses are sent again
 * alone; a batch counts as delivered only once all of its records are accepted.
 *
 * @param config - a validated `kinesis` delivery config
 * @param deps - must carry `aws` (settings and the credential broker)
 * @throws ConfigValidationError when `deps.aws` is missing (the runtime cannot reach AWS)
 * @example const sink = createKinesisSink(config, { baseDir, logger, registry, aws: { settings, credentials } })
 */
export function createKinesisSink(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  options: KinesisSinkOptions = {},
): Sink<KinesisPayload> {
  const aws = requireAwsRuntime(deps, KINESIS_KIND, config);
  const fields = config as unknown as KinesisSinkConfig;
  const region = kinesisRegionOf(config, aws.settings.region);
  const limits = kinesisLimitsFor(fields);
  const template = fields.partition_key_template ?? DEFAULT_PARTITION_KEY_TEMPLATE;
  const createClient = options.createClient ?? defaultKinesisClientFactory;
  const truncated = counter(deps.registry, {
    name: KINESIS_TRUNCATED_METRIC,
    help: 'Log lines larger than a Kinesis record, cut with a marker.',
  });
  const credentials = aws.credentials.forTenant(tenantRoleFor(config, region));
  let writer: KinesisWriter | undefined;

  return {
    kind: KINESIS_KIND,
    packsAcrossObjects: true,
    retry: { ...defaultRetryConfig(), ...fields.retry },
    createPlanner: (object) =>
      createKinesisPlanner(kinesisStreamFor(fields, object), partitionKeyFor(object, template), {
        limits,
        onTruncated: () => truncated.inc(),
      }),
    send(batch, signal) {
      writer ??= new KinesisWriter(createClient(awsClientConfig(aws.settings, { region, credentials })));
      return writer.put(batch, signal);
    },
    close: async () => {
      writer?.close();
      writer = undefined;
    },
  };
}

/** The `kinesis` destination kind. */
export const kinesisSinkDefinition: SinkDefinition = {
  kind: KINESIS_KIND,
  spec: { kind: KINESIS_KIND, properties: kinesisConfigProperties, check: checkKinesisConfig },
  create: (config, deps) => createKinesisSink(config, deps),
  checkAccess: (config, deps, signal) => checkKinesisAccess(config, deps, signal),
};
