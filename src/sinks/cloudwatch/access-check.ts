import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ASSUME_ROLE_STEP, checkAsTenantRole, failedAccessStep, noAwsSettingsStep } from '../../aws/index.js';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { AccessCheckStatus, type AccessCheckStep, type SinkDeps } from '../types.js';
import { type CloudwatchClientFactory, defaultCloudwatchClientFactory } from './client.js';
import { type CloudwatchSinkConfig, cloudwatchTenantRole } from './config.js';

/** Steps of a `cloudwatch` access check, in order. */
export const CloudwatchAccessStep = {
  ASSUME_ROLE: ASSUME_ROLE_STEP,
  DESCRIBE_LOG_GROUPS: 'describe_log_groups',
} as const;
export type CloudwatchAccessStep = (typeof CloudwatchAccessStep)[keyof typeof CloudwatchAccessStep];

/** The code of a log group that does not exist, as CloudWatch Logs names it. */
const RESOURCE_NOT_FOUND = 'ResourceNotFoundException';
/**
 * DescribeLogGroups pages looked at for the exact name. Groups are listed in name order, so
 * the exact name comes before every longer name sharing the prefix and is on the first page;
 * the extra pages only guard against that order ever changing.
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html
 */
const MAX_DESCRIBE_PAGES = 5;
/** Largest page DescribeLogGroups returns. */
const DESCRIBE_PAGE_LIMIT = 50;

/** What code (not an operator) may pass to the check. */
export interface CloudwatchAccessCheckOptions {
  /** Builds the SDK client, as for the sink (tests add middleware here). */
  readonly createClient?: CloudwatchClientFactory;
}

/**
 * Checks live that a `cloudwatch` destination is reachable as delivery reaches it:
 * `assume_role` (the central role, then the tenant's role with its ExternalId, through the
 * runtime's broker) and `describe_log_groups` as the tenant's role in the destination region,
 * `ok` only when the exact log group is listed. A missing group fails with
 * `ResourceNotFoundException` even though delivery would create it, since the operator asked
 * whether the destination is there. Never throws.
 *
 * @param config - a validated `cloudwatch` config
 * @param deps - without `aws`, one skipped `assume_role` step is the answer
 * @param signal - aborts the calls (the step in progress then fails)
 * @example const steps = await checkCloudwatchAccess(config, deps, AbortSignal.timeout(10_000));
 */
export async function checkCloudwatchAccess(
  config: ValidatedDeliveryConfig,
  deps: SinkDeps,
  signal: AbortSignal,
  options: CloudwatchAccessCheckOptions = {},
): Promise<AccessCheckStep[]> {
  const fields = config as unknown as CloudwatchSinkConfig;
  const logGroupName = fields.log_group_name;
  const { aws } = deps;
  if (!aws) return [noAwsSettingsStep(`the log group '${logGroupName}'`)];

  const region = config.target_region ?? aws.settings.region;
  return checkAsTenantRole(aws, cloudwatchTenantRole(config, region), signal, {
    step: CloudwatchAccessStep.DESCRIBE_LOG_GROUPS,
    createClient: options.createClient ?? defaultCloudwatchClientFactory,
    run: (client) => describeLogGroupStep(client, logGroupName, region, signal),
  });
}

async function describeLogGroupStep(
  client: ReturnType<CloudwatchClientFactory>,
  logGroupName: string,
  region: string,
  signal: AbortSignal,
): Promise<AccessCheckStep> {
  const step = CloudwatchAccessStep.DESCRIBE_LOG_GROUPS;
  try {
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_DESCRIBE_PAGES; page++) {
      const answer = await client.send(
        new DescribeLogGroupsCommand({
          logGroupNamePrefix: logGroupName,
          limit: DESCRIBE_PAGE_LIMIT,
          ...(nextToken !== undefined && { nextToken }),
        }),
        { abortSignal: signal },
      );
      if (answer.logGroups?.some((group) => group.logGroupName === logGroupName)) {
        return { step, status: AccessCheckStatus.OK, message: `The log group '${logGroupName}' exists in ${region}.` };
      }
      nextToken = answer.nextToken;
      if (nextToken === undefined) break;
    }
  } catch (error) {
    return failedAccessStep(
      step,
      error,
      `DescribeLogGroups for '${logGroupName}' in ${region}`,
      'The tenant role needs logs:DescribeLogGroups for this check (delivery itself needs logs:PutLogEvents and logs:CreateLogStream).',
    );
  }
  return {
    step,
    status: AccessCheckStatus.FAILED,
    code: RESOURCE_NOT_FOUND,
    message:
      `The log group '${logGroupName}' does not exist in ${region}. Delivery creates it on first use if the tenant role ` +
      'may logs:CreateLogGroup; create it beforehand otherwise.',
  };
}
