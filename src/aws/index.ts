export {
  type AwsClientConfig,
  type AwsSettings,
  awsClientConfig,
  awsSettingsFromEnv,
  DEFAULT_AWS_REGION,
} from './client-config.js';
export { awsErrorName, awsHttpStatus, isRetryableAwsError } from './errors.js';
export {
  type AwsDeliveryErrors,
  awsDeliveryErrors,
  type AwsErrorTables,
  refusedRecordsOf,
  UNNAMED_RECORD_FAILURE,
} from './delivery-errors.js';
export type { AwsSinkDeps, CredentialBroker, TenantRoleRequest } from './types.js';
export { createCredentialBroker, type CredentialBrokerOptions } from './credential-broker.js';
export {
  ABORTED_CODE,
  accessCheckErrorCode,
  ASSUME_ROLE_STEP,
  assumeCentralRoleStep,
  assumeRoleStep,
  checkAsTenantRole,
  failedAccessStep,
  noAwsSettingsStep,
  skippedAfter,
  type TenantRoleCheck,
} from './access-check.js';
export {
  EXTERNAL_ID_PATTERN,
  ROLE_ARN_PATTERN,
  type TenantRoleConfig,
  tenantRoleConfigProperties,
  tenantRoleFor,
} from './tenant-role.js';
