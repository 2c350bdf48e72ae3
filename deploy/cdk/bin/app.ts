import { Annotations, App, type Environment } from 'aws-cdk-lib';
import { ArnPrincipal, type IPrincipal, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { TlrCustomerStack } from '../lib/customer-stack.js';
import { TlrGlobalStack } from '../lib/global-stack.js';
import { prepareLambdaBundles } from '../lib/lambda-bundle.js';
import { DEFAULT_PREFIX } from '../lib/naming.js';
import type { RegionalSettings } from '../lib/regional/props.js';
import { ProcessorRuntime, TlrRegionalStack } from '../lib/regional-stack.js';

/**
 * The router's CDK app: the global stack (IAM roles, API key), one regional stack per region,
 * and the customer stack tenants deploy in their own accounts. Everything comes from context
 * (`-c key=value` or cdk.json); nothing is looked up, so `cdk synth` runs offline without
 * credentials. Without `account` and `region`/`regions` the stacks are environment-agnostic:
 * CloudFormation resolves account and region at deploy.
 * See deploy/cdk/README.md for every key.
 */

/** A stand-in for the central account in the customer stack when none is given (synth only). */
const PLACEHOLDER_CENTRAL_ACCOUNT = '111111111111';
/** The EKS Pod Identity service: the default trusted by the collector (and poller) roles. */
const EKS_POD_IDENTITY = 'pods.eks.amazonaws.com';

const app = new App();

function text(key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  return String(value).trim();
}

function list(key: string): string[] {
  return (text(key) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function num(key: string): number | undefined {
  const value = text(key);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`Context '${key}' must be a number, got '${value}'.`);
  return n;
}

function bool(key: string): boolean | undefined {
  const value = text(key)?.toLowerCase();
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw new Error(`Context '${key}' must be true or false, got '${value}'.`);
  return value === 'true';
}

function principals(key: string, fallback: IPrincipal[]): IPrincipal[] {
  const arns = list(key);
  return arns.length > 0 ? arns.map((arn) => new ArnPrincipal(arn)) : fallback;
}

const prefix = text('prefix') ?? DEFAULT_PREFIX;
// Only what the context says: the CLI's CDK_DEFAULT_* depend on whoever runs it (and fall back
// to us-east-1 offline), and would tie the templates to that.
const account = text('account');
const regions: (string | undefined)[] = list('regions').length > 0 ? list('regions') : [text('region')];
const globalRegion = text('globalRegion') ?? regions[0];
const centralAccountId = text('centralAccountId') ?? account;
const processor = (text('processor') ?? ProcessorRuntime.LAMBDA) as RegionalSettings['processor'];
const env = (region: string | undefined): Environment => ({
  ...(account !== undefined && { account }),
  ...(region !== undefined && { region }),
});

const global = new TlrGlobalStack(app, `${prefix}-global`, {
  env: env(globalRegion),
  prefix,
  collectorPrincipals: principals('collectorRoleArns', [new ServicePrincipal(EKS_POD_IDENTITY)]),
  processorPrincipals: principals('processorRoleArns', processor === ProcessorRuntime.POLLER ? [new ServicePrincipal(EKS_POD_IDENTITY)] : []),
  pskReplicaRegions: regions.filter((r): r is string => r !== undefined && r !== globalRegion),
});

const bundles = await prepareLambdaBundles();
const eksTenant = text('eksTenant');
const eksClusterName = text('eksClusterName');
for (const region of regions) {
  const regional = new TlrRegionalStack(app, region === undefined ? `${prefix}-regional` : `${prefix}-regional-${region}`, {
    env: env(region),
    prefix,
    bundles,
    ...(centralAccountId !== undefined && { centralAccountId }),
    processor,
    objectExpiryDays: num('objectExpiryDays'),
    bucketVersioned: bool('bucketVersioned'),
    checkpointTtlDays: num('checkpointTtlDays'),
    maxReceiveCount: num('maxReceiveCount'),
    processorTimeoutSeconds: num('processorTimeoutSeconds'),
    queueVisibilityTimeoutSeconds: num('queueVisibilityTimeoutSeconds'),
    processorMemoryMb: num('processorMemoryMb'),
    batchSize: num('batchSize'),
    maxBatchingWindowSeconds: num('maxBatchingWindowSeconds'),
    maxConcurrency: num('maxConcurrency'),
    processorConcurrency: num('processorConcurrency'),
    logLevel: text('logLevel') as RegionalSettings['logLevel'],
    logRetentionDays: num('logRetentionDays'),
    queueAgeAlarmSeconds: num('queueAgeAlarmSeconds'),
    deliveryFailureAlarmThreshold: num('deliveryFailureAlarmThreshold'),
    alarmTopicArn: text('alarmTopicArn'),
    retainData: bool('retainData'),
    ...(eksTenant !== undefined && {
      eksControlPlane: { tenant: eksTenant, ...(eksClusterName !== undefined && { clusterName: eksClusterName }) },
    }),
  });
  // The roles it extends must exist first.
  regional.addStackDependency(global);
}

const customerAccount = text('customerAccount');
const customer = new TlrCustomerStack(app, `${prefix}-customer`, {
  env: {
    ...(customerAccount !== undefined && { account: customerAccount }),
    ...(text('customerRegion') !== undefined && { region: text('customerRegion') }),
  },
  prefix,
  centralAccountId: centralAccountId ?? PLACEHOLDER_CENTRAL_ACCOUNT,
  ...(list('customerTenants').length > 0 && { tenantIds: list('customerTenants') }),
  ...(text('customerBucketName') !== undefined && { bucket: { name: text('customerBucketName') } }),
});
if (centralAccountId === undefined) {
  Annotations.of(customer).addWarningV2(
    'tlr:placeholderCentralAccount',
    `No central account given: the customer stack trusts ${PLACEHOLDER_CENTRAL_ACCOUNT}. Synthesize it with -c centralAccountId=<12 digits>.`,
  );
}

app.synth();
