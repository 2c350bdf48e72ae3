import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { ASSUME_ROLE_STEP, checkAsTenantRole, failedAccessStep, noAwsSettingsStep, tenantRoleFor } from '../../aws/index.js';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { AccessCheckStatus, type AccessCheckStep, type SinkDeps } from '../types.js';
import { defaultKinesisClientFactory, describeStream, type KinesisClientFactory } from './client.js';
import { type KinesisSinkConfig, kinesisRegionOf } from './config.js';
import { type KinesisStreamTarget, streamTargetOf } from './planner.js';

/** Steps of a `kinesis` access check, in order. */
export const KinesisAccessStep = {
  ASSUME_ROLE: ASSUME_ROLE_STEP,
  DESCRIBE_STREAM_SUMMARY: 'describe_stream_summary',
} as const;
export type KinesisAccessStep = (typeof KinesisAccessStep)[keyof typeof KinesisAccessStep];

/**
 * Stream states that take `PutRecords`.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_StreamDescriptionSummary.html
 */
const WRITABLE_STATUSES: ReadonlySet<string> = new Set(['ACTIVE', 'UPDATING']);
/** Our code for a stream that exists but takes no writes (CREATING, DELETING). */
const STREAM_NOT_ACTIVE = 'StreamNotActive';

/** What code (not an operator) may pass to the check. */
export interface KinesisAccessCheckOptions {
  /** Builds the SDK client, as for the sink (tests add middleware here). */
  readonly createClient?: KinesisClientFactory;
}

/** Every stream a config writes to, each once: its own and those of `streams`. */
function streamsOf(fields: KinesisSinkConfig): KinesisStreamTarget[] {
  const named = [fields.stream_name ?? fields.stream_arn, ...Object.values(fields.streams ?? {})];
  return [...new Set(named.filter((s): s is string => s !== undefined))].map(streamTargetOf);
}

/**
 * Checks live that a `kinesis` destination is reachable as delivery reaches it:
 * `assume_role` (the central role, then the tenant's role with its ExternalId, through the
 * runtime's broker) and `describe_stream_summary` as the tenant's role in the destination
 * region, for the destination's stream and each stream of `streams`; `ok` only when every
 * one exists and takes writes (ACTIVE or UPDATING). Never throws.
 *
 * @param config - a validated `kinesis` config
 * @param deps - without `aws`, one skipped `assume_role` step is the answer
 * @param signal - aborts the calls (the step in progress then fails)
 * @example const steps = await checkKinesisAccess(config, deps, AbortSignal.timeout(10_000));
 */
export async function checkKinesisAccess(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  signal: AbortSignal,
  options: KinesisAccessCheckOptions = {},
): Promise<AccessCheckStep[]> {
  const fields = config as unknown as KinesisSinkConfig;
  const streams = streamsOf(fields);
  const { aws } = deps;
  if (!aws) return [noAwsSettingsStep(`the stream '${streams.map(describeStream).join("', '")}'`)];

  const region = kinesisRegionOf(config, aws.settings.region);
  return checkAsTenantRole(aws, tenantRoleFor(config, region), signal, {
    step: KinesisAccessStep.DESCRIBE_STREAM_SUMMARY,
    createClient: options.createClient ?? defaultKinesisClientFactory,
    run: (client) => describeStreamsStep(client, streams, region, signal),
  });
}

async function describeStreamsStep(
  client: KinesisClient,
  streams: readonly KinesisStreamTarget[],
  region: string,
  signal: AbortSignal,
): Promise<AccessCheckStep> {
  const step = KinesisAccessStep.DESCRIBE_STREAM_SUMMARY;
  for (const stream of streams) {
    const name = describeStream(stream);
    let status: string | undefined;
    try {
      const answer = await client.send(new DescribeStreamSummaryCommand({ ...stream }), { abortSignal: signal });
      status = answer.StreamDescriptionSummary?.StreamStatus;
    } catch (error) {
      return failedAccessStep(
        step,
        error,
        `DescribeStreamSummary for '${name}' in ${region}`,
        'The tenant role needs kinesis:DescribeStreamSummary for this check (delivery itself needs kinesis:PutRecords, ' +
          'and kms:GenerateDataKey when the stream is encrypted with a customer key).',
      );
    }
    if (status === undefined || !WRITABLE_STATUSES.has(status)) {
      return {
        step,
        status: AccessCheckStatus.FAILED,
        code: STREAM_NOT_ACTIVE,
        message: `The stream '${name}' in ${region} is ${status ?? 'in an unknown state'}; it takes records only when ACTIVE or UPDATING.`,
      };
    }
  }
  const names = streams.map(describeStream).join("', '");
  return {
    step,
    status: AccessCheckStatus.OK,
    message: `The stream${streams.length > 1 ? 's' : ''} '${names}' exist${streams.length > 1 ? '' : 's'} in ${region} and take records.`,
  };
}
