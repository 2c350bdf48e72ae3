import { defaultRouterTableNames, type RouterTableNames } from '../../../src/stores/aws/dynamodb-tables.js';

/**
 * The names the three stacks agree on. The global stack creates the IAM roles and the PSK
 * secret under these names; each regional stack finds them by name (IAM is global, so a
 * regional stack in another region cannot take them as construct references), and the
 * customer stack's trust policy names the central role the same way.
 */

/** The default prefix of every name the router's stacks create. */
export const DEFAULT_PREFIX = 'tlr';

/** The customer roles the central role may assume, unless a deployment sets its own pattern. */
export const DEFAULT_CUSTOMER_ROLE_PATTERN = 'CustomerLogDistribution-*';

/** The IAM role names of one deployment (created by the global stack). */
export interface RouterRoleNames {
  /** The central log-distribution role: reads the central bucket, assumes the customer roles. */
  readonly centralLogDistribution: string;
  /** The role collectors (Vector, the ingest endpoint) use to write into the central bucket. */
  readonly collectorWriter: string;
  /** The processor's execution role (Lambda, or the ECS/EKS poller's task role). */
  readonly processorExecution: string;
  /** The config API Lambda's execution role. */
  readonly apiExecution: string;
  /** The API Gateway Lambda authorizer's execution role. */
  readonly apiAuthorizerExecution: string;
}

export function routerRoleNames(prefix: string = DEFAULT_PREFIX): RouterRoleNames {
  return {
    centralLogDistribution: `${prefix}-central-log-distribution`,
    collectorWriter: `${prefix}-collector-writer`,
    processorExecution: `${prefix}-processor`,
    apiExecution: `${prefix}-api`,
    apiAuthorizerExecution: `${prefix}-api-authorizer`,
  };
}

/** The Secrets Manager secret holding the API's pre-shared key (`PSK_SECRET_NAME`). */
export function pskSecretName(prefix: string = DEFAULT_PREFIX): string {
  return `${prefix}/api-psk`;
}

/** The central bucket of one region: bucket names are global, so account and region are part of it. */
export function centralBucketName(prefix: string, account: string, region: string): string {
  return `${prefix}-central-${account}-${region}`;
}

/** The DynamoDB tables of one region, named as the processor derives them from `TENANT_CONFIG_TABLE`. */
export function routerTableNames(prefix: string = DEFAULT_PREFIX): RouterTableNames {
  return defaultRouterTableNames(`${prefix}-delivery-configs`);
}
