export {
  type AwsClientConfig,
  type AwsSettings,
  awsClientConfig,
  awsSettingsFromEnv,
} from './client-config.js';
export { awsErrorName, awsHttpStatus, isRetryableAwsError } from './errors.js';
export {
  type AwsDeliveryErrors,
  awsDeliveryErrors,
  type AwsErrorTables,
  refusedRecordsOf,
} from './delivery-errors.js';
export type { AwsSinkDeps, CredentialBroker, TenantRoleRequest } from './types.js';
export { createCredentialBroker, type CredentialBrokerOptions } from './credential-broker.js';
export {
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
  type TenantRoleConfig,
  tenantRoleConfigProperties,
  tenantRoleFor,
} from './tenant-role.js';
