import { CfnOutput, Duration, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { ConfigValidationError, type FieldError } from '../../../src/domain/index.js';
import { DEFAULT_CUSTOMER_ROLE_PATTERN, DEFAULT_PREFIX, pskSecretName, type RouterRoleNames, routerRoleNames } from './naming.js';
import {
  assumeCentralRoleStatement,
  assumeCustomerRolesStatement,
  copyToCustomerBucketsStatements,
  customerKmsViaS3Statement,
  lambdaLogsStatement,
  prefixProblems,
  readCentralBucketsStatements,
  readSecretStatement,
  regionProblems,
  roleArn,
  rolePatternProblems,
  writeCentralBucketsStatement,
} from './policies.js';

/**
 * The router's account-wide resources, deployed once per central account (in any one region):
 * the IAM roles every regional stack and every customer stack refer to by name, and the API's
 * pre-shared key, replicated to the regions whose API reads it.
 */

/** The Lambda service, which runs the processor, the API and its authorizer. */
const LAMBDA_SERVICE = 'lambda.amazonaws.com';
/** STS caps a chained role session (every session of these roles is chained) at one hour. */
const MAX_SESSION = Duration.hours(1);
/** Characters of the generated pre-shared key: ~380 bits over [A-Za-z0-9], well above `MIN_PSK_LENGTH`. */
export const PSK_LENGTH = 64;

/** Props of {@link TlrGlobalStack}. */
export interface TlrGlobalStackProps extends StackProps {
  /** Starts every name the router's stacks create. Default `tlr`. */
  readonly prefix?: string;
  /**
   * The names of the tenant roles the central role may assume (IAM wildcards `*`, `?`), in any
   * account. Default `CustomerLogDistribution-*`; each customer stack checks its role name against it.
   */
  readonly customerRolePattern?: string;
  /**
   * Regions other than this stack's whose config API reads the pre-shared key: the secret is
   * replicated there (Secrets Manager replicas). Default: none.
   */
  readonly pskReplicaRegions?: readonly string[];
  /**
   * Who may assume the collector writer role, which may only put objects into the central
   * buckets. Required and explicit (no account-wide trust): e.g. an EKS IRSA
   * `OpenIdConnectPrincipal` with a `sub` condition naming Vector's service account, the
   * `pods.eks.amazonaws.com` service (EKS Pod Identity), or the ARN of a node or task role.
   * The account root and `*` are refused, and so is a federated principal without conditions.
   */
  readonly collectorPrincipals: readonly iam.IPrincipal[];
  /**
   * Who else, besides Lambda, may assume the processor execution role: e.g.
   * `new iam.ServicePrincipal('ecs-tasks.amazonaws.com')` for SQS pollers on ECS, or an IRSA
   * principal for pollers on EKS. Same rules as `collectorPrincipals`. Default: none.
   */
  readonly processorPrincipals?: readonly iam.IPrincipal[];
}

/** The ARNs and names the global stack outputs (CloudFormation output ids). */
export const GlobalStackOutput = {
  CENTRAL_ROLE_ARN: 'CentralLogDistributionRoleArn',
  COLLECTOR_ROLE_ARN: 'CollectorWriterRoleArn',
  PROCESSOR_ROLE_ARN: 'ProcessorExecutionRoleArn',
  API_ROLE_ARN: 'ApiExecutionRoleArn',
  AUTHORIZER_ROLE_ARN: 'ApiAuthorizerExecutionRoleArn',
  PSK_SECRET_NAME: 'ApiPskSecretName',
  PSK_SECRET_ARN: 'ApiPskSecretArn',
} as const;
export type GlobalStackOutput = (typeof GlobalStackOutput)[keyof typeof GlobalStackOutput];

/**
 * The central account's IAM roles and API key:
 * - the central log-distribution role, assumed by the processor and the API (live `validate`),
 *   which reads the central buckets, assumes tenant roles matching `customerRolePattern` (with
 *   an ExternalId) and copies into tenant buckets with `bucket-owner-full-control`;
 * - the collector writer role (`s3:PutObject` into the central buckets, nothing else);
 * - the processor, API and authorizer execution roles, which regional stacks extend with their
 *   own tables, queue, bucket and key (`iam.Role.fromRoleName(..., { mutable: true })`);
 * - the API's pre-shared key in Secrets Manager, readable by the API and authorizer roles only.
 *
 * KMS rights on the central buckets' keys are the regional stacks' to grant (they own the keys).
 *
 * @throws ConfigValidationError naming every invalid prop at once
 * @example
 * new TlrGlobalStack(app, 'TlrGlobal', {
 *   env: { account: '111111111111', region: 'eu-west-1' },
 *   pskReplicaRegions: ['us-east-1'],
 *   collectorPrincipals: [new iam.ArnPrincipal('arn:aws:iam::111111111111:role/vector-node')],
 * });
 */
export class TlrGlobalStack extends Stack {
  readonly prefix: string;
  readonly roleNames: RouterRoleNames;
  readonly centralLogDistributionRole: iam.Role;
  readonly collectorWriterRole: iam.Role;
  readonly processorExecutionRole: iam.Role;
  readonly apiExecutionRole: iam.Role;
  readonly apiAuthorizerExecutionRole: iam.Role;
  readonly pskSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: TlrGlobalStackProps) {
    super(scope, id, props);
    const prefix = props.prefix ?? DEFAULT_PREFIX;
    const rolePattern = props.customerRolePattern ?? DEFAULT_CUSTOMER_ROLE_PATTERN;
    const replicaRegions = props.pskReplicaRegions ?? [];
    const processorPrincipals = props.processorPrincipals ?? [];
    this.checkProps(prefix, rolePattern, replicaRegions, props.collectorPrincipals, processorPrincipals);

    this.prefix = prefix;
    this.roleNames = routerRoleNames(prefix);
    const names = this.roleNames;
    const account = this.account;
    const centralRoleArn = roleArn(account, names.centralLogDistribution);
    const secretName = pskSecretName(prefix);

    this.processorExecutionRole = new iam.Role(this, 'ProcessorExecutionRole', {
      roleName: names.processorExecution,
      description: 'Runs the log processor (Lambda, or SQS pollers); regional stacks add their tables, queue and bucket.',
      assumedBy: new iam.CompositePrincipal(new iam.ServicePrincipal(LAMBDA_SERVICE), ...processorPrincipals),
      inlinePolicies: {
        router: new iam.PolicyDocument({
          statements: [lambdaLogsStatement(prefix, account), assumeCentralRoleStatement(centralRoleArn)],
        }),
      },
    });

    // The API reads the key itself (replay checks, `tlr api`) and assumes the central role for
    // the live `validate` of a config, which runs the very role chain delivery uses.
    const secretRegions = [this.region, ...replicaRegions];
    this.apiExecutionRole = new iam.Role(this, 'ApiExecutionRole', {
      roleName: names.apiExecution,
      description: 'Runs the delivery-config API; regional stacks add their tables.',
      assumedBy: new iam.ServicePrincipal(LAMBDA_SERVICE),
      inlinePolicies: {
        router: new iam.PolicyDocument({
          statements: [
            lambdaLogsStatement(prefix, account),
            assumeCentralRoleStatement(centralRoleArn),
            readSecretStatement(secretName, account, secretRegions),
          ],
        }),
      },
    });

    this.apiAuthorizerExecutionRole = new iam.Role(this, 'ApiAuthorizerExecutionRole', {
      roleName: names.apiAuthorizerExecution,
      description: "Runs the API Gateway authorizer, which only checks request signatures with the API's pre-shared key.",
      assumedBy: new iam.ServicePrincipal(LAMBDA_SERVICE),
      inlinePolicies: {
        router: new iam.PolicyDocument({
          statements: [lambdaLogsStatement(prefix, account), readSecretStatement(secretName, account, secretRegions)],
        }),
      },
    });

    this.centralLogDistributionRole = new iam.Role(this, 'CentralLogDistributionRole', {
      roleName: names.centralLogDistribution,
      description: 'Reads the central buckets and delivers into tenant accounts (tenant roles, tenant buckets).',
      assumedBy: new iam.CompositePrincipal(
        new iam.ArnPrincipal(this.processorExecutionRole.roleArn),
        new iam.ArnPrincipal(this.apiExecutionRole.roleArn),
      ),
      maxSessionDuration: MAX_SESSION,
      inlinePolicies: {
        router: new iam.PolicyDocument({
          statements: [
            assumeCustomerRolesStatement(rolePattern),
            ...readCentralBucketsStatements(prefix, account),
            ...copyToCustomerBucketsStatements(account),
            customerKmsViaS3Statement(account),
          ],
        }),
      },
    });

    this.collectorWriterRole = new iam.Role(this, 'CollectorWriterRole', {
      roleName: names.collectorWriter,
      description: 'Lets collectors (Vector, ingest endpoints) put log objects into the central buckets, and nothing else.',
      assumedBy: new iam.CompositePrincipal(...props.collectorPrincipals),
      maxSessionDuration: MAX_SESSION,
      inlinePolicies: {
        router: new iam.PolicyDocument({ statements: [writeCentralBucketsStatement(prefix, account)] }),
      },
    });

    // The API expects the key itself as the secret string (or {"psk": "…"}), at least 16
    // characters once trimmed: punctuation and spaces are left out so that no shell or
    // header quoting can change it.
    this.pskSecret = new secretsmanager.Secret(this, 'ApiPsk', {
      secretName,
      description: "The config API's pre-shared HMAC key (PSK_SECRET_NAME). Rotate by putting a new AWSCURRENT version.",
      generateSecretString: { passwordLength: PSK_LENGTH, excludePunctuation: true, includeSpace: false },
      replicaRegions: replicaRegions.map((region) => ({ region })),
    });

    this.output(GlobalStackOutput.CENTRAL_ROLE_ARN, this.centralLogDistributionRole.roleArn, 'CENTRAL_LOG_DISTRIBUTION_ROLE_ARN of the processor and the API.');
    this.output(GlobalStackOutput.COLLECTOR_ROLE_ARN, this.collectorWriterRole.roleArn, 'The role collectors write the central buckets with.');
    this.output(GlobalStackOutput.PROCESSOR_ROLE_ARN, this.processorExecutionRole.roleArn, 'The processor execution role.');
    this.output(GlobalStackOutput.API_ROLE_ARN, this.apiExecutionRole.roleArn, 'The config API execution role.');
    this.output(GlobalStackOutput.AUTHORIZER_ROLE_ARN, this.apiAuthorizerExecutionRole.roleArn, 'The API authorizer execution role.');
    this.output(GlobalStackOutput.PSK_SECRET_NAME, secretName, 'PSK_SECRET_NAME of the API and its authorizer.');
    this.output(GlobalStackOutput.PSK_SECRET_ARN, this.pskSecret.secretArn, 'The pre-shared key secret (primary region).');
  }

  private output(id: GlobalStackOutput, value: string, description: string): void {
    new CfnOutput(this, id, { value, description });
  }

  private checkProps(
    prefix: string,
    rolePattern: string,
    replicaRegions: readonly string[],
    collectorPrincipals: readonly iam.IPrincipal[] | undefined,
    processorPrincipals: readonly iam.IPrincipal[],
  ): void {
    const errors: FieldError[] = [...prefixProblems(prefix), ...rolePatternProblems(rolePattern, 'customerRolePattern')];
    replicaRegions.forEach((region, i) => errors.push(...regionProblems(region, `pskReplicaRegions[${i}]`)));
    if (new Set(replicaRegions).size !== replicaRegions.length) {
      errors.push({ field: 'pskReplicaRegions', message: 'must not name a region twice' });
    }
    if (!Token.isUnresolved(this.region) && replicaRegions.includes(this.region)) {
      errors.push({
        field: 'pskReplicaRegions',
        message: `must not include the stack's own region '${this.region}' (the primary secret lives there)`,
      });
    }
    if (!collectorPrincipals || collectorPrincipals.length === 0) {
      errors.push({
        field: 'collectorPrincipals',
        message: "must name at least one principal allowed to write the central buckets (e.g. Vector's IRSA service account)",
      });
    } else {
      collectorPrincipals.forEach((p, i) => errors.push(...this.principalProblems(p, `collectorPrincipals[${i}]`)));
    }
    processorPrincipals.forEach((p, i) => errors.push(...this.principalProblems(p, `processorPrincipals[${i}]`)));
    if (errors.length > 0) throw new ConfigValidationError(errors, `${this.node.id} props`);
  }

  /** Refuses principals that would trust a whole account, everyone, or every identity of a provider. */
  private principalProblems(principal: iam.IPrincipal, field: string): FieldError[] {
    const fragment = principal.policyFragment;
    const values = (key: string): unknown[] => [fragment.principalJson[key] ?? []].flat().map((v) => this.resolve(v));
    // A bare account id stands for that account's root too.
    const broad = values('AWS').some((v) => v === '*' || /^\d{12}$/.test(String(v)) || JSON.stringify(v).includes(':root"'))
      || values('CanonicalUser').length > 0;
    if (broad) {
      return [{ field, message: 'must not be *, an account root or a whole account: name the role or service account' }];
    }
    if (values('Federated').length > 0 && Object.keys(fragment.conditions).length === 0) {
      return [{ field, message: "must carry conditions when federated (e.g. the service account's 'sub' for IRSA)" }];
    }
    return [];
  }
}
