import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { AwsSettings } from './client-config.js';

/** Who a delivery acts as in a tenant's account: the tenant's role and its ExternalId. */
export interface TenantRoleRequest {
  /** The customer's `log_distribution_role_arn`. */
  readonly roleArn: string;
  /** The config's own `external_id`; the central account id when absent. */
  readonly externalId?: string;
  /** Used in the session name, so CloudTrail entries trace back to the tenant. */
  readonly tenantId: string;
  readonly region: string;
}

/**
 * Hands out AWS credentials: the central role's (assumed from the processor's own
 * credentials, or the processor's own when no central role is configured), and a tenant
 * role's assumed through the central role with an ExternalId. Implementations cache per
 * (role, ExternalId, region) until shortly before expiry.
 */
export interface CredentialBroker {
  /** Credentials of the central log-distribution role. */
  central(): AwsCredentialIdentityProvider;
  /** Credentials of a tenant's role, assumed from the central role. */
  forTenant(request: TenantRoleRequest): AwsCredentialIdentityProvider;
}

/** What sinks that call AWS get from the runtime. */
export interface AwsSinkDeps {
  readonly settings: AwsSettings;
  readonly credentials: CredentialBroker;
}
