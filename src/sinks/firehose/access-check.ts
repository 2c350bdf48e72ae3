import { DescribeDeliveryStreamCommand, type FirehoseClient } from '@aws-sdk/client-firehose';
import { ASSUME_ROLE_STEP, checkAsTenantRole, failedAccessStep, noAwsSettingsStep, tenantRoleFor } from '../../aws/index.js';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { AccessCheckStatus, type AccessCheckStep, type SinkDeps } from '../types.js';
import { defaultFirehoseClientFactory, type FirehoseClientFactory } from './client.js';
import type { FirehoseSinkConfig } from './config.js';

/** Steps of a `firehose` access check, in order. */
export const FirehoseAccessStep = {
  ASSUME_ROLE: ASSUME_ROLE_STEP,
  DESCRIBE_DELIVERY_STREAM: 'describe_delivery_stream',
} as const;
export type FirehoseAccessStep = (typeof FirehoseAccessStep)[keyof typeof FirehoseAccessStep];

/**
 * The one stream state that takes `PutRecordBatch`, and the one source type that allows it.
 * https://docs.aws.amazon.com/firehose/latest/APIReference/API_DeliveryStreamDescription.html
 */
const ACTIVE = 'ACTIVE';
const DIRECT_PUT = 'DirectPut';
/** Our codes for a stream that exists but takes no direct puts now, or ever. */
const STREAM_NOT_ACTIVE = 'StreamNotActive';
const NOT_DIRECT_PUT = 'InvalidSourceException';

/** What code (not an operator) may pass to the check. */
export interface FirehoseAccessCheckOptions {
  /** Builds the SDK client, as for the sink (tests add middleware here). */
  readonly createClient?: FirehoseClientFactory;
}

/**
 * Checks live that a `firehose` destination is reachable as delivery reaches it:
 * `assume_role` (the central role, then the tenant's role with its ExternalId, through the
 * runtime's broker) and `describe_delivery_stream` as the tenant's role in the destination
 * region, `ok` only when the stream exists, is ACTIVE and takes direct puts. Never throws.
 *
 * @param config - a validated `firehose` config
 * @param deps - without `aws`, one skipped `assume_role` step is the answer
 * @param signal - aborts the calls (the step in progress then fails)
 * @example const steps = await checkFirehoseAccess(config, deps, AbortSignal.timeout(10_000));
 */
export async function checkFirehoseAccess(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  signal: AbortSignal,
  options: FirehoseAccessCheckOptions = {},
): Promise<AccessCheckStep[]> {
  const name = (config as unknown as FirehoseSinkConfig).delivery_stream_name;
  const { aws } = deps;
  if (!aws) return [noAwsSettingsStep(`the Firehose stream '${name}'`)];

  const region = config.target_region ?? aws.settings.region;
  return checkAsTenantRole(aws, tenantRoleFor(config, region), signal, {
    step: FirehoseAccessStep.DESCRIBE_DELIVERY_STREAM,
    createClient: options.createClient ?? defaultFirehoseClientFactory,
    run: (client) => describeDeliveryStreamStep(client, name, region, signal),
  });
}

async function describeDeliveryStreamStep(
  client: FirehoseClient,
  name: string,
  region: string,
  signal: AbortSignal,
): Promise<AccessCheckStep> {
  const step = FirehoseAccessStep.DESCRIBE_DELIVERY_STREAM;
  let status: string | undefined;
  let source: string | undefined;
  try {
    const answer = await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }), { abortSignal: signal });
    status = answer.DeliveryStreamDescription?.DeliveryStreamStatus;
    source = answer.DeliveryStreamDescription?.DeliveryStreamType;
  } catch (error) {
    return failedAccessStep(
      step,
      error,
      `DescribeDeliveryStream for '${name}' in ${region}`,
      'The tenant role needs firehose:DescribeDeliveryStream for this check (delivery itself needs firehose:PutRecordBatch).',
    );
  }
  if (source !== undefined && source !== DIRECT_PUT) {
    return {
      step,
      status: AccessCheckStatus.FAILED,
      code: NOT_DIRECT_PUT,
      message: `The Firehose stream '${name}' in ${region} reads from ${source}, so it refuses records put directly.`,
    };
  }
  if (status !== ACTIVE) {
    return {
      step,
      status: AccessCheckStatus.FAILED,
      code: STREAM_NOT_ACTIVE,
      message: `The Firehose stream '${name}' in ${region} is ${status ?? 'in an unknown state'}; it takes records only when ACTIVE.`,
    };
  }
  return { step, status: AccessCheckStatus.OK, message: `The Firehose stream '${name}' exists in ${region} and takes records.` };
}
