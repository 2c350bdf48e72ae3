import { awsClientConfig } from '../../aws/index.js';
import { defaultRetryConfig } from '../../delivery/index.js';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { counter } from '../../metrics/index.js';
import type { Sink, SinkDefinition, SinkDeps } from '../types.js';
import { checkCloudwatchAccess } from './access-check.js';
import {
  type CloudwatchClientFactory,
  CloudwatchWriterCache,
  defaultCloudwatchClientFactory,
} from './client.js';
import {
  checkCloudwatchConfig,
  CLOUDWATCH_KIND,
  type CloudwatchSinkConfig,
  cloudwatchConfigProperties,
  cloudwatchLimitsFor,
  cloudwatchTenantRole,
  DEFAULT_LOG_STREAM_TEMPLATE,
} from './config.js';
import { type CloudwatchPayload, createCloudwatchPlanner, logStreamNameFor } from './planner.js';

export { checkCloudwatchAccess, type CloudwatchAccessCheckOptions, CloudwatchAccessStep } from './access-check.js';
export {
  CloudwatchFailureReason,
  CloudwatchRejectReason,
  type CloudwatchClientFactory,
  rejectedEventCounts,
  toCloudwatchDeliveryError,
} from './client.js';
export {
  CLOUDWATCH_KIND,
  type CloudwatchLimits,
  type CloudwatchSinkConfig,
  cloudwatchTenantRole,
  defaultCloudwatchLimits,
  EVENT_OVERHEAD_BYTES,
  LEGACY_MAX_EVENT_BYTES,
  MAX_AGE_MS,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_EVENT_BYTES,
  MAX_FUTURE_MS,
  MAX_SPAN_MS,
} from './config.js';
export {
  CLOUDWATCH_DROPPED_METRIC,
  CLOUDWATCH_TRUNCATED_METRIC,
  type CloudwatchLogEvent,
  type CloudwatchPayload,
  CloudwatchDropReason,
  createCloudwatchPlanner,
  logStreamNameFor,
  truncateMessage,
  truncationMarker,
} from './planner.js';
import { requireAwsRuntime } from '../aws-runtime.js';

/** Metric of events CloudWatch accepted the request of but refused. */
export const CLOUDWATCH_REJECTED_METRIC = 'tlr_cloudwatch_events_rejected_total';

/** What code (not an operator) may pass in besides the deps. */
export interface CloudwatchSinkOptions {
  /** Builds the SDK client (tests add middleware or inject faults here). */
  readonly createClient?: CloudwatchClientFactory;
  /** The clock deciding which events are too old or too new for CloudWatch. */
  readonly now?: () => number;
}

/**
 * Builds a `cloudwatch` sink: the tenant's records as `PutLogEvents` requests into its log
 * group, one stream per central object (from `log_stream_template`), written as the
 * tenant's role assumed through the central role.
 *
 * @param config - a validated `cloudwatch` delivery config
 * @param deps - must carry `aws` (settings and the credential broker)
 * @throws ConfigValidationError when `deps.aws` is missing (the runtime cannot reach AWS)
 * @example const sink = createCloudwatchSink(config, { baseDir, logger, registry, aws: { settings, credentials } })
 */
export function createCloudwatchSink(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  options: CloudwatchSinkOptions = {},
): Sink<CloudwatchPayload> {
  const aws = requireAwsRuntime(deps, CLOUDWATCH_KIND, config);
  const fields = config as unknown as CloudwatchSinkConfig;
  const region = config.target_region ?? aws.settings.region;
  const limits = cloudwatchLimitsFor(fields);
  const template = fields.log_stream_template ?? DEFAULT_LOG_STREAM_TEMPLATE;
  const now = options.now ?? Date.now;
  const createClient = options.createClient ?? defaultCloudwatchClientFactory;
  const rejected = counter(deps.registry, {
    name: CLOUDWATCH_REJECTED_METRIC,
    help: 'Log events CloudWatch refused inside an accepted PutLogEvents request (never retried).',
    labelNames: ['reason'],
  });
  const credentials = aws.credentials.forTenant(cloudwatchTenantRole(config, region));
  const writers = new CloudwatchWriterCache();
  const identity = `${fields.log_distribution_role_arn}|${fields.external_id ?? ''}`;

  return {
    kind: CLOUDWATCH_KIND,
    packsAcrossObjects: true,
    retry: { ...defaultRetryConfig(), ...fields.retry },
    createPlanner: (object) =>
      createCloudwatchPlanner(logStreamNameFor(object, template), { limits, now, registry: deps.registry }),
    async send(batch, signal) {
      // Every record of the batch was filtered out: CloudWatch refuses empty requests.
      if (batch.payload.events.length === 0) return undefined;
      const writer = writers.get(region, identity, () =>
        createClient(awsClientConfig(aws.settings, { region, credentials })),
      );
      const outcome = await writer.put(fields.log_group_name, batch.payload, signal);
      for (const [reason, count] of Object.entries(outcome.rejected)) {
        if (count > 0) rejected.inc({ reason }, count);
      }
      const refused = outcome.rejected.too_old + outcome.rejected.too_new + outcome.rejected.expired;
      if (refused > 0) {
        deps.logger.warn('CloudWatch refused some events of a request.', {
          tenant: config.tenant_id,
          logGroup: fields.log_group_name,
          logStream: batch.payload.logStreamName,
          ...outcome.rejected,
        });
      }
      return undefined;
    },
    close: async () => writers.close(),
  };
}

/** The `cloudwatch` destination kind. */
export const cloudwatchSinkDefinition: SinkDefinition = {
  kind: CLOUDWATCH_KIND,
  spec: { kind: CLOUDWATCH_KIND, properties: cloudwatchConfigProperties, check: checkCloudwatchConfig },
  create: (config, deps) => createCloudwatchSink(config, deps),
  checkAccess: (config, deps, signal) => checkCloudwatchAccess(config, deps, signal),
};
