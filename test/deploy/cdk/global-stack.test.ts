import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { GlobalStackOutput, PSK_LENGTH, TlrGlobalStack, type TlrGlobalStackProps } from '../../../deploy/cdk/lib/global-stack.js';
import { pskSecretName, routerRoleNames } from '../../../deploy/cdk/lib/naming.js';
import { BUCKET_OWNER_FULL_CONTROL_ACL, StatementSid } from '../../../deploy/cdk/lib/policies.js';
import { MIN_PSK_LENGTH } from '../../../src/api/auth/psk.js';
import { ConfigValidationError } from '../../../src/domain/index.js';
import { COPY_ACL } from '../../../src/sinks/s3/client.js';
import {
  asText,
  broadPolicyProblems,
  listOf,
  type LocatedStatement,
  policyStatements,
  statementsWithSid,
  textsOf,
} from '../../helpers/cdk-policies.js';

const CENTRAL = '111111111111';
const REGION = 'eu-west-1';
const PARTITION = '${AWS::Partition}';
const VECTOR_NODE_ROLE = `arn:aws:iam::${CENTRAL}:role/vector-node`;

function globalProps(overrides: Partial<TlrGlobalStackProps> = {}): TlrGlobalStackProps {
  return {
    env: { account: CENTRAL, region: REGION },
    collectorPrincipals: [new iam.ArnPrincipal(VECTOR_NODE_ROLE)],
    ...overrides,
  };
}

function synth(overrides: Partial<TlrGlobalStackProps> = {}): { stack: TlrGlobalStack; template: Template } {
  const stack = new TlrGlobalStack(new App(), 'TlrGlobal', globalProps(overrides));
  return { stack, template: Template.fromStack(stack) };
}

/** The logical id of the role named `roleName`. */
function roleId(template: Template, roleName: string): string {
  const roles = template.findResources('AWS::IAM::Role', { Properties: { RoleName: roleName } });
  const ids = Object.keys(roles);
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

/** The statements of the role's own (inline) policies and its trust policy, apart. */
function roleStatements(template: Template, roleName: string): { trust: LocatedStatement[]; granted: LocatedStatement[] } {
  const id = roleId(template, roleName);
  const mine = policyStatements(template).filter((s) => s.logicalId === id);
  return {
    trust: mine.filter((s) => s.path === 'AssumeRolePolicyDocument'),
    granted: mine.filter((s) => s.path !== 'AssumeRolePolicyDocument'),
  };
}

function onlyStatement(template: Template, sid: string): LocatedStatement['statement'] {
  const found = statementsWithSid(template, sid);
  expect(found).toHaveLength(1);
  return found[0]!.statement;
}

const names = routerRoleNames();

describe('TlrGlobalStack central log-distribution role', () => {
  it('may assume only roles matching the customer role pattern, and only with an ExternalId', () => {
    // Prepare
    const { template } = synth();

    // Act
    const { granted } = roleStatements(template, names.centralLogDistribution);
    const assume = granted.filter((s) => listOf(s.statement.Action).includes('sts:AssumeRole'));

    // Assess
    expect(assume).toHaveLength(1);
    expect(textsOf(assume[0]!.statement.Resource)).toEqual([`arn:${PARTITION}:iam::*:role/CustomerLogDistribution-*`]);
    expect(assume[0]!.statement.Condition).toEqual({ Null: { 'sts:ExternalId': 'false' } });
  });

  it('uses the customerRolePattern it is given', () => {
    // Prepare
    const { template } = synth({ customerRolePattern: 'AcmeLogs-*' });

    // Act
    const statement = onlyStatement(template, StatementSid.ASSUME_CUSTOMER_ROLES);

    // Assess
    expect(textsOf(statement.Resource)).toEqual([`arn:${PARTITION}:iam::*:role/AcmeLogs-*`]);
  });

  it('is trusted by the processor and API execution roles only', () => {
    // Prepare
    const { template } = synth();
    const processor = roleId(template, names.processorExecution);
    const api = roleId(template, names.apiExecution);

    // Act
    const { trust } = roleStatements(template, names.centralLogDistribution);

    // Assess
    expect(trust.map((s) => s.statement.Principal)).toEqual([
      { AWS: { 'Fn::GetAtt': [processor, 'Arn'] } },
      { AWS: { 'Fn::GetAtt': [api, 'Arn'] } },
    ]);
    expect(trust.map((s) => s.statement.Action)).toEqual(['sts:AssumeRole', 'sts:AssumeRole']);
  });

  it('puts objects only into buckets of other accounts, and only with bucket-owner-full-control', () => {
    // Prepare
    const { template } = synth();

    // Act
    const { granted } = roleStatements(template, names.centralLogDistribution);
    const puts = granted.filter((s) => listOf(s.statement.Action).some((a) => a === 's3:PutObject' || a === 's3:PutObjectAcl'));

    // Assess
    expect(puts).toHaveLength(1);
    expect(puts[0]!.statement.Condition).toEqual({
      StringNotEquals: { 's3:ResourceAccount': CENTRAL },
      StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' },
    });
  });

  it('requires the very ACL the s3 sink sends', () => {
    // Assess
    expect(BUCKET_OWNER_FULL_CONTROL_ACL).toBe(COPY_ACL);
  });

  it('reads only the central buckets of its deployment, and deletes nothing', () => {
    // Prepare
    const { template } = synth({ prefix: 'acme' });

    // Act
    const { granted } = roleStatements(template, routerRoleNames('acme').centralLogDistribution);
    const reads = [
      onlyStatement(template, StatementSid.READ_CENTRAL_OBJECTS),
      onlyStatement(template, StatementSid.LIST_CENTRAL_BUCKETS),
    ];

    // Assess
    expect(reads.flatMap((s) => textsOf(s.Resource))).toEqual([
      `arn:${PARTITION}:s3:::acme-central-${CENTRAL}-*/*`,
      `arn:${PARTITION}:s3:::acme-central-${CENTRAL}-*`,
    ]);
    expect(reads.flatMap((s) => listOf(s.Action))).toEqual(['s3:GetObject', 's3:GetObjectTagging', 's3:ListBucket']);
    expect(granted.flatMap((s) => listOf(s.statement.Action)).filter((a) => String(a).includes('Delete'))).toEqual([]);
  });

  it('touches every other bucket, object and key only outside the central account', () => {
    // Prepare
    const { template } = synth();

    // Act
    const outside = [
      StatementSid.COPY_TO_CUSTOMER_BUCKETS,
      StatementSid.FIND_CUSTOMER_BUCKETS,
      StatementSid.ABORT_CUSTOMER_UPLOADS,
      StatementSid.USE_CUSTOMER_KMS_KEYS_VIA_S3,
    ].map((sid) => onlyStatement(template, sid).Condition?.['StringNotEquals']);

    // Assess
    expect(outside).toEqual([
      { 's3:ResourceAccount': CENTRAL },
      { 's3:ResourceAccount': CENTRAL },
      { 's3:ResourceAccount': CENTRAL },
      { 'aws:ResourceAccount': CENTRAL },
    ]);
  });

  it('uses tenant KMS keys only through S3', () => {
    // Prepare
    const { template } = synth();

    // Act
    const statement = onlyStatement(template, StatementSid.USE_CUSTOMER_KMS_KEYS_VIA_S3);

    // Assess
    expect(listOf(statement.Action)).toEqual(['kms:GenerateDataKey', 'kms:Decrypt']);
    expect(statement.Condition?.['StringLike']).toEqual({ 'kms:ViaService': 's3.*.amazonaws.com' });
  });

  it('has no direct Kinesis, Firehose or CloudWatch Logs rights: those go through the tenant role', () => {
    // Prepare
    const { template } = synth();

    // Act
    const { granted } = roleStatements(template, names.centralLogDistribution);
    const services = new Set(granted.flatMap((s) => listOf(s.statement.Action)).map((a) => String(a).split(':')[0]));

    // Assess
    expect([...services].sort()).toEqual(['kms', 's3', 'sts']);
  });
});

describe('TlrGlobalStack collector writer role', () => {
  it('may only put objects into the central buckets', () => {
    // Prepare
    const { template } = synth();

    // Act
    const { granted } = roleStatements(template, names.collectorWriter);

    // Assess
    expect(granted.map((s) => s.statement)).toEqual([
      {
        Sid: StatementSid.WRITE_CENTRAL_OBJECTS,
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::tlr-central-${CENTRAL}-*/*`]] },
      },
    ]);
  });

  it('trusts exactly the collector principals it is given', () => {
    // Prepare
    const provider = `arn:aws:iam::${CENTRAL}:oidc-provider/oidc.eks.${REGION}.amazonaws.com/id/ABC`;
    const sub = { StringEquals: { [`oidc.eks.${REGION}.amazonaws.com/id/ABC:sub`]: 'system:serviceaccount:logging:vector' } };
    const irsa = new iam.FederatedPrincipal(provider, sub, 'sts:AssumeRoleWithWebIdentity');

    // Act
    const { template } = synth({ collectorPrincipals: [irsa, new iam.ArnPrincipal(VECTOR_NODE_ROLE)] });
    const { trust } = roleStatements(template, names.collectorWriter);

    // Assess
    expect(trust.map((s) => s.statement)).toEqual([
      { Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: provider }, Condition: sub },
      { Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: VECTOR_NODE_ROLE } },
    ]);
  });

  it.each([
    { name: 'none', principals: [], field: 'collectorPrincipals' },
    { name: 'everyone', principals: [new iam.AnyPrincipal()], field: 'collectorPrincipals[0]' },
    { name: 'the account root', principals: [new iam.AccountRootPrincipal()], field: 'collectorPrincipals[0]' },
    { name: 'another account', principals: [new iam.AccountPrincipal('222222222222')], field: 'collectorPrincipals[0]' },
    { name: 'a root ARN', principals: [new iam.ArnPrincipal(`arn:aws:iam::${CENTRAL}:root`)], field: 'collectorPrincipals[0]' },
    { name: 'a bare account id', principals: [new iam.ArnPrincipal(CENTRAL)], field: 'collectorPrincipals[0]' },
    {
      name: 'a federated principal without conditions',
      principals: [new iam.ArnPrincipal(VECTOR_NODE_ROLE), new iam.WebIdentityPrincipal('arn:aws:iam::111111111111:oidc-provider/x')],
      field: 'collectorPrincipals[1]',
    },
  ])('refuses $name as collector principals', ({ principals, field }) => {
    // Act
    const act = () => synth({ collectorPrincipals: principals });

    // Assess
    expect(act).toThrow(ConfigValidationError);
    expect(act).toThrow(`'${field}'`);
  });
});

describe('TlrGlobalStack execution roles', () => {
  it('lets only Lambda assume the processor role by default, plus the processor principals given', () => {
    // Prepare
    const plain = synth().template;
    const withEcs = synth({ processorPrincipals: [new iam.ServicePrincipal('ecs-tasks.amazonaws.com')] }).template;

    // Act
    const principals = (template: Template) =>
      roleStatements(template, names.processorExecution).trust.map((s) => s.statement.Principal);

    // Assess
    expect(principals(plain)).toEqual([{ Service: 'lambda.amazonaws.com' }]);
    expect(principals(withEcs)).toEqual([{ Service: 'lambda.amazonaws.com' }, { Service: 'ecs-tasks.amazonaws.com' }]);
  });

  it('refuses an account-wide processor principal', () => {
    // Act
    const act = () => synth({ processorPrincipals: [new iam.AccountRootPrincipal()] });

    // Assess
    expect(act).toThrow("'processorPrincipals[0]' must not be *, an account root or a whole account");
  });

  it.each([
    { role: names.processorExecution, sids: [StatementSid.WRITE_LAMBDA_LOGS, StatementSid.ASSUME_CENTRAL_ROLE] },
    {
      role: names.apiExecution,
      sids: [StatementSid.WRITE_LAMBDA_LOGS, StatementSid.ASSUME_CENTRAL_ROLE, StatementSid.READ_API_PSK],
    },
    { role: names.apiAuthorizerExecution, sids: [StatementSid.WRITE_LAMBDA_LOGS, StatementSid.READ_API_PSK] },
  ])('grants $role only $sids (regional stacks add their own resources)', ({ role, sids }) => {
    // Prepare
    const { template } = synth();

    // Act
    const { granted } = roleStatements(template, role);

    // Assess
    expect(granted.map((s) => s.statement.Sid)).toEqual(sids);
  });

  it('lets the processor and the API assume the central role by its ARN', () => {
    // Prepare
    const { template } = synth();

    // Act
    const assume = statementsWithSid(template, StatementSid.ASSUME_CENTRAL_ROLE);

    // Assess
    expect(assume.map((s) => textsOf(s.statement.Resource))).toEqual([
      [`arn:${PARTITION}:iam::${CENTRAL}:role/tlr-central-log-distribution`],
      [`arn:${PARTITION}:iam::${CENTRAL}:role/tlr-central-log-distribution`],
    ]);
  });

  it("writes only the log groups of the router's own Lambda functions", () => {
    // Prepare
    const { template } = synth({ prefix: 'acme' });

    // Act
    const logs = statementsWithSid(template, StatementSid.WRITE_LAMBDA_LOGS).map((s) => textsOf(s.statement.Resource));

    // Assess
    expect(logs).toHaveLength(3);
    for (const resources of logs) {
      expect(resources).toEqual([
        `arn:${PARTITION}:logs:*:${CENTRAL}:log-group:/aws/lambda/acme-*`,
        `arn:${PARTITION}:logs:*:${CENTRAL}:log-group:/aws/lambda/acme-*:log-stream:*`,
      ]);
    }
  });

  it('names every role as naming.ts does', () => {
    // Prepare
    const { template } = synth({ prefix: 'acme' });

    // Act
    const roleNames = Object.values(template.findResources('AWS::IAM::Role')).map((r) => r['Properties'].RoleName);

    // Assess
    expect(roleNames.sort()).toEqual(Object.values(routerRoleNames('acme')).sort());
  });
});

describe('TlrGlobalStack API pre-shared key', () => {
  it('generates a key of letters and digits the API accepts, replicated to the given regions', () => {
    // Prepare
    const { template } = synth({ pskReplicaRegions: ['us-east-1', 'ap-southeast-2'] });

    // Assess
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: pskSecretName(),
      GenerateSecretString: { PasswordLength: PSK_LENGTH, ExcludePunctuation: true, IncludeSpace: false },
      ReplicaRegions: [{ Region: 'us-east-1' }, { Region: 'ap-southeast-2' }],
    });
    expect(PSK_LENGTH).toBeGreaterThanOrEqual(MIN_PSK_LENGTH);
  });

  it('is readable by the API and authorizer roles only, in the primary and every replica region', () => {
    // Prepare
    const { template } = synth({ pskReplicaRegions: ['us-east-1'] });
    const readers = [roleId(template, names.apiExecution), roleId(template, names.apiAuthorizerExecution)];

    // Act
    const secretStatements = policyStatements(template).filter((s) =>
      listOf(s.statement.Action).some((a) => String(a).startsWith('secretsmanager:')),
    );

    // Assess
    expect(secretStatements.map((s) => s.logicalId)).toEqual(readers);
    for (const { statement } of secretStatements) {
      expect(statement.Action).toBe('secretsmanager:GetSecretValue');
      expect(textsOf(statement.Resource)).toEqual([
        `arn:${PARTITION}:secretsmanager:${REGION}:${CENTRAL}:secret:tlr/api-psk-??????`,
        `arn:${PARTITION}:secretsmanager:us-east-1:${CENTRAL}:secret:tlr/api-psk-??????`,
      ]);
    }
  });
});

describe('TlrGlobalStack outputs', () => {
  it('outputs every role ARN and the secret name', () => {
    // Prepare
    const { template } = synth();

    // Act
    const outputs = template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;

    // Assess
    expect(Object.keys(outputs).sort()).toEqual(Object.values(GlobalStackOutput).sort());
    expect(outputs[GlobalStackOutput.PSK_SECRET_NAME]!.Value).toBe('tlr/api-psk');
    expect(asText(outputs[GlobalStackOutput.CENTRAL_ROLE_ARN]!.Value)).toBe(
      `\${${roleId(template, names.centralLogDistribution)}.Arn}`,
    );
  });
});

describe('TlrGlobalStack policies', () => {
  it('grants nothing to everyone, no action wildcard and no write on every resource', () => {
    // Prepare
    const { template } = synth({
      pskReplicaRegions: ['us-east-1'],
      processorPrincipals: [new iam.ServicePrincipal('ecs-tasks.amazonaws.com')],
    });

    // Act
    const problems = broadPolicyProblems(template);

    // Assess
    expect(problems).toEqual([]);
  });

  it('the broad-policy check finds each kind of over-grant', () => {
    // Prepare
    const stack = new Stack(new App(), 'Broad', { env: { account: CENTRAL, region: REGION } });
    const bucket = new s3.Bucket(stack, 'Bucket');
    bucket.addToResourcePolicy(new iam.PolicyStatement({ sid: 'Open', principals: [new iam.AnyPrincipal()], actions: ['s3:GetObject'], resources: [bucket.arnForObjects('*')] }));
    new iam.Role(stack, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      inlinePolicies: {
        p: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ sid: 'Everything', actions: ['*'], resources: ['arn:aws:s3:::x'] }),
            new iam.PolicyStatement({ sid: 'AnyTable', actions: ['dynamodb:PutItem', 'dynamodb:GetItem'], resources: ['*'] }),
            new iam.PolicyStatement({ sid: 'Metrics', actions: ['cloudwatch:PutMetricData'], resources: ['*'] }),
            new iam.PolicyStatement({ sid: 'Except', notActions: ['iam:*'], resources: ['arn:aws:s3:::x'] }),
          ],
        }),
      },
    });

    // Act
    const problems = broadPolicyProblems(Template.fromStack(stack));

    // Assess
    expect(problems).toEqual([
      expect.stringContaining('Open: allows everyone'),
      expect.stringContaining('Everything: allows every action (*)'),
      expect.stringContaining('AnyTable: allows dynamodb:PutItem on Resource "*"'),
      expect.stringContaining('Except: allows by exclusion (NotAction)'),
    ]);
  });
});

describe('TlrGlobalStack props validation', () => {
  it.each([
    { name: 'an uppercase prefix', props: { prefix: 'TLR' }, message: "'prefix' must be 1-20 lowercase letters" },
    { name: 'a long prefix', props: { prefix: 'a'.repeat(21) }, message: "'prefix' must be 1-20" },
    { name: 'a role pattern matching everything', props: { customerRolePattern: '*' }, message: "'customerRolePattern' must be" },
    { name: 'a role pattern with a short literal prefix', props: { customerRolePattern: 'Cu*' }, message: "'customerRolePattern'" },
    { name: 'a role pattern with a path', props: { customerRolePattern: 'team/Logs-*' }, message: "'customerRolePattern'" },
    { name: 'a malformed replica region', props: { pskReplicaRegions: ['Europe'] }, message: "'pskReplicaRegions[0]' must be a region" },
    {
      name: "the stack's own region as a replica",
      props: { pskReplicaRegions: [REGION] },
      message: "'pskReplicaRegions' must not include the stack's own region 'eu-west-1'",
    },
    {
      name: 'a replica region twice',
      props: { pskReplicaRegions: ['us-east-1', 'us-east-1'] },
      message: "'pskReplicaRegions' must not name a region twice",
    },
  ])('refuses $name with a message naming the prop', ({ props, message }) => {
    // Act
    const act = () => synth(props);

    // Assess
    expect(act).toThrow(ConfigValidationError);
    expect(act).toThrow(message);
  });

  it('names every invalid prop at once', () => {
    // Act
    const act = () => synth({ prefix: 'BAD', customerRolePattern: '*', collectorPrincipals: [] });

    // Assess
    expect(act).toThrow(/'prefix'.*'customerRolePattern'.*'collectorPrincipals'/);
  });
});
