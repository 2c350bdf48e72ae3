import { App, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  CustomerStackOutput,
  DEFAULT_LOG_GROUP_PREFIX,
  defaultCustomerRoleName,
  TlrCustomerStack,
  type TlrCustomerStackProps,
} from '../../../deploy/cdk/lib/customer-stack.js';
import { DEFAULT_CUSTOMER_ROLE_PATTERN } from '../../../deploy/cdk/lib/naming.js';
import { roleNameMatchesPattern, StatementSid } from '../../../deploy/cdk/lib/policies.js';
import { roleSessionNameFor } from '../../../src/aws/credential-broker.js';
import { ConfigValidationError } from '../../../src/domain/index.js';
import {
  asText,
  broadPolicyProblems,
  listOf,
  policyStatements,
  statementsWithSid,
  textsOf,
} from '../../helpers/cdk-policies.js';

const CENTRAL = '111111111111';
const TENANT_ACCOUNT = '222222222222';
const REGION = 'eu-west-1';
const PARTITION = '${AWS::Partition}';
const CENTRAL_ROLE = `arn:${PARTITION}:iam::${CENTRAL}:role/tlr-central-log-distribution`;
const STREAM = `arn:aws:kinesis:${REGION}:${TENANT_ACCOUNT}:stream/cluster-logs`;
const DELIVERY_STREAM = `arn:aws:firehose:${REGION}:${TENANT_ACCOUNT}:deliverystream/cluster-logs`;

function synth(overrides: Partial<TlrCustomerStackProps> = {}): Template {
  const stack = new TlrCustomerStack(new App(), 'TlrCustomer', {
    env: { account: TENANT_ACCOUNT, region: REGION },
    centralAccountId: CENTRAL,
    ...overrides,
  });
  return Template.fromStack(stack);
}

function trustOf(template: Template) {
  return policyStatements(template).filter((s) => s.path === 'AssumeRolePolicyDocument').map((s) => s.statement);
}

function onlyStatement(template: Template, sid: string) {
  const found = statementsWithSid(template, sid);
  expect(found).toHaveLength(1);
  return found[0]!.statement;
}

function outputs(template: Template): Record<string, unknown> {
  const all = template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;
  return Object.fromEntries(Object.entries(all).map(([id, output]) => [id, output.Value]));
}

describe('TlrCustomerStack role trust', () => {
  it("trusts exactly the router's central role, with the central account id as default ExternalId", () => {
    // Act
    const trust = trustOf(synth());

    // Assess
    expect(trust).toHaveLength(1);
    expect(trust[0]!.Action).toBe('sts:AssumeRole');
    expect(textsOf((trust[0]!.Principal as { AWS: unknown }).AWS)).toEqual([CENTRAL_ROLE]);
    expect(trust[0]!.Condition).toEqual({ StringEquals: { 'sts:ExternalId': CENTRAL } });
  });

  it('names the central role of the deployment prefix and requires the ExternalId it is given', () => {
    // Act
    const trust = trustOf(synth({ prefix: 'acme', roleName: 'CustomerLogDistribution-acme', externalId: 'tenant-secret-42' }));

    // Assess
    expect(textsOf((trust[0]!.Principal as { AWS: unknown }).AWS)).toEqual([
      `arn:${PARTITION}:iam::${CENTRAL}:role/acme-central-log-distribution`,
    ]);
    expect(trust[0]!.Condition).toEqual({ StringEquals: { 'sts:ExternalId': 'tenant-secret-42' } });
  });

  it("binds the role to the given tenants through the router's role session names", () => {
    // Act
    const trust = trustOf(synth({ tenantIds: ['acme', 'acme-dev'] }));

    // Assess
    expect(trust[0]!.Condition).toEqual({
      StringEquals: { 'sts:ExternalId': CENTRAL, 'sts:RoleSessionName': ['tlr-acme', 'tlr-acme-dev'] },
    });
    expect(roleSessionNameFor('acme')).toBe('tlr-acme');
  });

  it('names the role so the default central pattern matches it', () => {
    // Prepare
    const template = synth();

    // Assess
    template.hasResourceProperties('AWS::IAM::Role', { RoleName: defaultCustomerRoleName(), MaxSessionDuration: 3600 });
    expect(roleNameMatchesPattern(defaultCustomerRoleName(), DEFAULT_CUSTOMER_ROLE_PATTERN)).toBe(true);
  });
});

describe('TlrCustomerStack delivery permissions', () => {
  it('writes only log groups under the prefix, with exactly the calls the cloudwatch sink makes', () => {
    // Act
    const write = onlyStatement(synth({ logGroupPrefix: '/acme/' }), StatementSid.WRITE_TENANT_LOGS);

    // Assess
    expect(listOf(write.Action)).toEqual(['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(textsOf(write.Resource)).toEqual([
      `arn:${PARTITION}:logs:*:${TENANT_ACCOUNT}:log-group:/acme/*`,
      `arn:${PARTITION}:logs:*:${TENANT_ACCOUNT}:log-group:/acme/*:log-stream:*`,
    ]);
  });

  it("lists log groups (the access check) only in the tenant's own account", () => {
    // Act
    const find = onlyStatement(synth(), StatementSid.FIND_TENANT_LOG_GROUPS);

    // Assess
    expect(find.Action).toBe('logs:DescribeLogGroups');
    expect(textsOf(find.Resource)).toEqual([`arn:${PARTITION}:logs:*:${TENANT_ACCOUNT}:log-group:*`]);
  });

  it('scopes every logs action but the listing to the default prefix /tlr/', () => {
    // Prepare
    const template = synth();

    // Act
    const logsResources = policyStatements(template)
      .filter((s) => listOf(s.statement.Action).some((a) => String(a).startsWith('logs:')))
      .filter((s) => s.statement.Sid !== StatementSid.FIND_TENANT_LOG_GROUPS)
      .flatMap((s) => textsOf(s.statement.Resource));

    // Assess
    expect(logsResources.length).toBeGreaterThan(0);
    for (const resource of logsResources) {
      expect(resource.startsWith(`arn:${PARTITION}:logs:*:${TENANT_ACCOUNT}:log-group:${DEFAULT_LOG_GROUP_PREFIX}`)).toBe(true);
    }
  });

  it('grants no CloudWatch Logs rights when cloudwatch is off', () => {
    // Act
    const actions = policyStatements(synth({ cloudwatch: false })).flatMap((s) => listOf(s.statement.Action));

    // Assess
    expect(actions.filter((a) => String(a).startsWith('logs:'))).toEqual([]);
  });

  it('puts records only into the Kinesis and Firehose streams it is given', () => {
    // Prepare
    const template = synth({ kinesisStreamArns: [STREAM], firehoseStreamArns: [DELIVERY_STREAM] });

    // Act
    const kinesis = onlyStatement(template, StatementSid.PUT_KINESIS_RECORDS);
    const firehose = onlyStatement(template, StatementSid.PUT_FIREHOSE_RECORDS);

    // Assess
    expect(kinesis).toMatchObject({ Action: ['kinesis:PutRecords', 'kinesis:DescribeStreamSummary'], Resource: STREAM });
    expect(firehose).toMatchObject({
      Action: ['firehose:PutRecordBatch', 'firehose:DescribeDeliveryStream'],
      Resource: DELIVERY_STREAM,
    });
  });

  it('grants no Kinesis or Firehose rights unless streams are named', () => {
    // Act
    const actions = policyStatements(synth()).flatMap((s) => listOf(s.statement.Action)).map(String);

    // Assess
    expect(actions.filter((a) => a.startsWith('kinesis:') || a.startsWith('firehose:'))).toEqual([]);
  });
});

describe('TlrCustomerStack bucket', () => {
  it('creates an encrypted, private, TLS-only bucket with ACLs disabled, kept when the stack goes', () => {
    // Act
    const template = synth({ bucket: { name: 'acme-cluster-logs' } });

    // Assess
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        BucketName: 'acme-cluster-logs',
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LifecycleConfiguration: {
          Rules: [Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' })],
        },
      },
    });
  });

  it('denies every request made without TLS', () => {
    // Act
    const denies = policyStatements(synth({ bucket: {} })).filter((s) => s.statement.Effect === 'Deny');

    // Assess
    expect(denies).toHaveLength(1);
    expect(denies[0]!.statement).toMatchObject({
      Action: 's3:*',
      Principal: { AWS: '*' },
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
  });

  it('lets the central role write under the key prefix only with bucket-owner-full-control', () => {
    // Prepare
    const template = synth({ bucket: { keyPrefix: 'clusters' } });
    const bucketId = Object.keys(template.findResources('AWS::S3::Bucket'))[0]!;

    // Act
    const copy = onlyStatement(template, StatementSid.ROUTER_COPIES_OBJECTS);

    // Assess
    expect(textsOf((copy.Principal as { AWS: unknown }).AWS)).toEqual([CENTRAL_ROLE]);
    expect(listOf(copy.Action)).toEqual(['s3:PutObject', 's3:PutObjectAcl']);
    expect(textsOf(copy.Resource)).toEqual([`\${${bucketId}.Arn}/clusters/*`]);
    expect(copy.Condition).toEqual({ StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } });
  });

  it('lets the central role find the bucket (HeadBucket, GetBucketLocation) and abort its uploads, nothing else', () => {
    // Prepare
    const template = synth({ bucket: {} });

    // Act
    const allows = policyStatements(template).filter(
      (s) => s.resourceType === 'AWS::S3::BucketPolicy' && s.statement.Effect === 'Allow',
    );

    // Assess
    expect(allows.map((s) => [s.statement.Sid, listOf(s.statement.Action)])).toEqual([
      [StatementSid.ROUTER_COPIES_OBJECTS, ['s3:PutObject', 's3:PutObjectAcl']],
      [StatementSid.ROUTER_FINDS_BUCKET, ['s3:ListBucket', 's3:GetBucketLocation']],
      [StatementSid.ROUTER_ABORTS_UPLOADS, ['s3:AbortMultipartUpload']],
    ]);
    for (const { statement } of allows) expect(textsOf((statement.Principal as { AWS: unknown }).AWS)).toEqual([CENTRAL_ROLE]);
  });

  it('outputs the policy statements to add for an existing bucket instead of creating one', () => {
    // Act
    const template = synth({ bucket: { create: false, name: 'acme-existing' } });
    const statements = JSON.parse(asText(outputs(template)[CustomerStackOutput.BUCKET_POLICY_STATEMENTS])) as {
      Sid: string;
      Resource: string;
    }[];

    // Assess
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.resourceCountIs('AWS::S3::BucketPolicy', 0);
    expect(statements.map((s) => [s.Sid, s.Resource])).toEqual([
      [StatementSid.ROUTER_COPIES_OBJECTS, `arn:${PARTITION}:s3:::acme-existing/ROSA/cluster-logs/*`],
      [StatementSid.ROUTER_FINDS_BUCKET, `arn:${PARTITION}:s3:::acme-existing`],
      [StatementSid.ROUTER_ABORTS_UPLOADS, `arn:${PARTITION}:s3:::acme-existing/ROSA/cluster-logs/*`],
    ]);
    expect(outputs(template)[CustomerStackOutput.BUCKET_NAME]).toBe('acme-existing');
  });

  it('destroys the bucket with the stack only when told to', () => {
    // Act
    const template = synth({ bucket: { removalPolicy: RemovalPolicy.DESTROY, expirationDays: 30 } });

    // Assess
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Delete',
      Properties: { LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 30 })] } },
    });
  });
});

describe('TlrCustomerStack outputs', () => {
  it('outputs the role ARN, the ExternalId, the bucket name and the prefixes the configs need', () => {
    // Prepare
    const template = synth({ externalId: 'tenant-secret-42', bucket: {} });
    const roleId = Object.keys(template.findResources('AWS::IAM::Role'))[0]!;
    const bucketId = Object.keys(template.findResources('AWS::S3::Bucket'))[0]!;

    // Act
    const values = outputs(template);

    // Assess
    expect(asText(values[CustomerStackOutput.ROLE_ARN])).toBe(`\${${roleId}.Arn}`);
    expect(values[CustomerStackOutput.EXTERNAL_ID]).toBe('tenant-secret-42');
    expect(asText(values[CustomerStackOutput.CENTRAL_ROLE_ARN])).toBe(CENTRAL_ROLE);
    expect(asText(values[CustomerStackOutput.BUCKET_NAME])).toBe(`\${${bucketId}}`);
    expect(values[CustomerStackOutput.BUCKET_PREFIX]).toBe('ROSA/cluster-logs/');
    expect(values[CustomerStackOutput.LOG_GROUP_PREFIX]).toBe('/tlr/');
  });
});

describe('TlrCustomerStack policies', () => {
  it('grants nothing to everyone, no action wildcard and no write on every resource', () => {
    // Act
    const problems = broadPolicyProblems(
      synth({ bucket: {}, kinesisStreamArns: [STREAM], firehoseStreamArns: [DELIVERY_STREAM], tenantIds: ['acme'] }),
    );

    // Assess
    expect(problems).toEqual([]);
  });
});

describe('TlrCustomerStack props validation', () => {
  it.each([
    { name: 'a non-numeric central account', props: { centralAccountId: 'central' }, message: "'centralAccountId' must be a 12-digit AWS account id" },
    { name: 'a short central account', props: { centralAccountId: '12345' }, message: "'centralAccountId' must be a 12-digit" },
    { name: "the tenant's own account as central", props: { centralAccountId: TENANT_ACCOUNT }, message: "'centralAccountId' is this stack's own account" },
    {
      name: 'a role name outside the central pattern',
      props: { roleName: 'LogWriter' },
      message: "'roleName' must match the router's customer role pattern 'CustomerLogDistribution-*'",
    },
    {
      name: 'a role name outside a custom pattern',
      props: { customerRolePattern: 'AcmeLogs-*' },
      message: "'roleName' must match the router's customer role pattern 'AcmeLogs-*'",
    },
    { name: 'a malformed role name', props: { roleName: 'CustomerLogDistribution-a b' }, message: "'roleName' must be an IAM role name" },
    { name: 'a role pattern matching everything', props: { customerRolePattern: '*' }, message: "'customerRolePattern' must be" },
    { name: 'a bad prefix', props: { prefix: 'Tlr_' }, message: "'prefix' must be" },
    { name: 'a one-character ExternalId', props: { externalId: 'x' }, message: "'externalId' must be 2-1224 characters" },
    { name: "the log group prefix '/'", props: { logGroupPrefix: '/' }, message: "'logGroupPrefix' must be" },
    { name: 'a wildcard in the log group prefix', props: { logGroupPrefix: '/tlr/*' }, message: "'logGroupPrefix' must be" },
    { name: 'a bad tenant id', props: { tenantIds: ['Acme_Prod'] }, message: "'tenantIds[0]' must be a namespace name" },
    { name: 'a bad Kinesis ARN', props: { kinesisStreamArns: ['cluster-logs'] }, message: "'kinesisStreamArns[0]' must be a Kinesis" },
    { name: 'a bad Firehose ARN', props: { firehoseStreamArns: [STREAM] }, message: "'firehoseStreamArns[0]' must be a Firehose" },
    { name: 'an existing bucket without a name', props: { bucket: { create: false } }, message: "'bucket.name' is required" },
    { name: 'a bad bucket name', props: { bucket: { name: 'Acme_Logs' } }, message: "'bucket.name' may hold only lowercase" },
    { name: 'an absolute key prefix', props: { bucket: { keyPrefix: '/logs/' } }, message: "'bucket.keyPrefix' must not start with '/'" },
    { name: 'a wildcard key prefix', props: { bucket: { keyPrefix: 'logs/*' } }, message: "'bucket.keyPrefix' must not contain" },
    { name: 'zero expiration days', props: { bucket: { expirationDays: 0 } }, message: "'bucket.expirationDays' must be" },
  ])('refuses $name with a message naming the prop', ({ props, message }) => {
    // Act
    const act = () => synth(props);

    // Assess
    expect(act).toThrow(ConfigValidationError);
    expect(act).toThrow(message);
  });

  it('names every invalid prop at once', () => {
    // Act
    const act = () => synth({ centralAccountId: 'x', roleName: 'LogWriter', externalId: 'y', logGroupPrefix: '' });

    // Assess
    expect(act).toThrow(/'centralAccountId'.*'roleName'.*'externalId'.*'logGroupPrefix'/);
  });
});
