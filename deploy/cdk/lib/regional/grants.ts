import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';

/**
 * Adds one least-privilege statement to a role's identity policy: the actions the router's
 * code calls, spelled out (no wildcards), on the given resources. The CDK `grant*` helpers
 * add `ReEncrypt*`/`GenerateDataKey*` and read actions the code never uses, so the stacks
 * write their statements themselves.
 *
 * @param grantee - an imported (mutable) or created role
 * @param actions - exact IAM actions
 * @param resources - ARNs
 * @internal
 */
export function allow(grantee: IGrantable, actions: readonly string[], resources: readonly string[]): void {
  grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: [...actions], resources: [...resources] }));
}

/** The KMS actions for reading data encrypted with a key (S3 GetObject, SQS ReceiveMessage). */
export const KMS_DECRYPT = ['kms:Decrypt'] as const;
/** The KMS actions for writing data encrypted with a key (S3 PutObject, SQS SendMessage); Decrypt for multipart. */
export const KMS_ENCRYPT = ['kms:GenerateDataKey', 'kms:Decrypt'] as const;
