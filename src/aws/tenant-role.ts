import Type from 'typebox';
import type { ValidatedDeliveryConfig } from '../domain/index.js';
import type { TenantRoleRequest } from './types.js';

/**
 * The role chain every destination written as the tenant's role shares (`cloudwatch`,
 * `kinesis`, `firehose`): the config names the tenant's role and, optionally, the
 * ExternalId its trust policy expects; delivery and the live access check both build the
 * broker request from here, so the check exercises the very chain delivery uses.
 */

/** An IAM role ARN in any partition, with an optional path. */
export const ROLE_ARN_PATTERN = '^arn:(aws|aws-cn|aws-us-gov):iam::\\d{12}:role/(?:[\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$';
/** `ExternalId`: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html */
export const EXTERNAL_ID_PATTERN = '^[\\w+=,.@:\\/-]{2,1224}$';

/** The role-chain fields of a config, as its kind declares them. */
export interface TenantRoleConfig {
  readonly log_distribution_role_arn: string;
  readonly external_id?: string;
}

/**
 * The schema of the role-chain fields, for a kind's `properties`.
 *
 * @param service - what the role writes to, for the description (`CloudWatch Logs`)
 */
export function tenantRoleConfigProperties(service: string) {
  return {
    log_distribution_role_arn: Type.String({
      pattern: ROLE_ARN_PATTERN,
      description:
        `The tenant's IAM role the router assumes (through its central role) to write to ${service} ` +
        'in the tenant account.',
      errorMessage: "must be an IAM role ARN such as 'arn:aws:iam::123456789012:role/log-distribution'",
    }),
    external_id: Type.Optional(
      Type.String({
        pattern: EXTERNAL_ID_PATTERN,
        description: "ExternalId sent when assuming the tenant's role. Default: the central account id.",
        errorMessage: "must be 2-1224 characters of letters, digits and '+=,.@:/-_'",
      }),
    ),
  };
}

/**
 * Who a destination writes as: the tenant's role with its ExternalId, in the destination's
 * region.
 *
 * @param config - a validated config of a kind declaring {@link tenantRoleConfigProperties}
 * @param region - the destination region (`target_region`, else the router's)
 */
export function tenantRoleFor(config: ValidatedDeliveryConfig, region: string): TenantRoleRequest {
  const fields = config as unknown as TenantRoleConfig;
  return {
    roleArn: fields.log_distribution_role_arn,
    ...(fields.external_id !== undefined && { externalId: fields.external_id }),
    tenantId: config.tenant_id,
    region,
  };
}
