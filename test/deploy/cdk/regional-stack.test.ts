import { readdirSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeLambdaBundles, type LambdaBundleDirs, prepareLambdaBundles } from '../../../deploy/cdk/lib/lambda-bundle.js';
import { centralBucketName, routerRoleNames, routerTableNames } from '../../../deploy/cdk/lib/naming.js';
import { AWS_DELIVERY_KINDS, deliveryQuery } from '../../../deploy/cdk/lib/regional/monitoring.js';
import { RouterEnv } from '../../../deploy/cdk/lib/regional/processor.js';
import { type RegionalSettings, validateRegionalSettings } from '../../../deploy/cdk/lib/regional/props.js';
import { ProcessorRuntime, TlrRegionalStack, type TlrRegionalStackProps } from '../../../deploy/cdk/lib/regional-stack.js';
import { ConfigValidationError } from '../../../src/domain/index.js';
import {
  AuditAttribute,
  CheckpointAttribute,
  ConfigTableKey,
  DEAD_LETTERS_BY_TENANT_INDEX,
  DeadLetterAttribute,
  DestinationStatusAttribute,
  QuotaAttribute,
  ReplayAttribute,
} from '../../../src/stores/aws/dynamodb-tables.js';
import { broadPolicyProblems, listOf, policyStatements, textsOf } from '../../helpers/cdk-policies.js';

const ACCOUNT = '111111111111';
const REGION = 'eu-west-1';
const tables = routerTableNames();
const roles = routerRoleNames();

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };

let bundles: LambdaBundleDirs;
const templates = new Map<string, Template>();

beforeAll(async () => {
  bundles = await prepareLambdaBundles();
}, 120_000);

afterAll(disposeLambdaBundles);

/** Synthesizes the stack with these props once per test file (synth is the slow part). */
function synth(overrides: Partial<TlrRegionalStackProps> = {}): Template {
  const key = JSON.stringify(overrides);
  let template = templates.get(key);
  if (!template) {
    const stack = new TlrRegionalStack(new App(), 'TlrRegional', { env: { account: ACCOUNT, region: REGION }, bundles, ...overrides });
    template = Template.fromStack(stack);
    templates.set(key, template);
  }
  return template;
}

function resources(template: Template, type: string, props: Record<string, unknown> = {}): [string, Resource][] {
  return Object.entries(template.findResources(type, props.Properties ? props : { Properties: props })) as [string, Resource][];
}

function only(template: Template, type: string, props: Record<string, unknown> = {}): [string, Resource] {
  const found = resources(template, type, props);
  expect(found, `${type} ${JSON.stringify(props)}`).toHaveLength(1);
  return found[0]!;
}

function tableResource(template: Template, name: string): Resource {
  return only(template, 'AWS::DynamoDB::Table', { TableName: name })[1];
}

/** The statements attached to the named (imported) role by this stack. */
function grantedTo(template: Template, roleName: string) {
  const policyIds = resources(template, 'AWS::IAM::Policy')
    .filter(([, r]) => listOf(r.Properties['Roles']).includes(roleName))
    .map(([id]) => id);
  return policyStatements(template).filter((s) => policyIds.includes(s.logicalId)).map((s) => s.statement);
}

function settings(overrides: Partial<RegionalSettings> = {}): RegionalSettings {
  return { bundles, ...overrides };
}

describe('prepareLambdaBundles', () => {
  it('builds once per process, one directory per handler module', async () => {
    // Act
    const again = await prepareLambdaBundles();

    // Assess
    expect(again).toBe(bundles);
    expect(readdirSync(bundles.index)).toEqual(['index.mjs']);
    expect(readdirSync(bundles.api)).toEqual(['api.mjs']);
    expect(readdirSync(bundles.cloudwatch)).toEqual(['cloudwatch.mjs']);
  });
});

describe('TlrRegionalStack central storage', () => {
  it('encrypts the bucket with its rotated key, blocks public access and refuses plain HTTP', () => {
    // Prepare
    const template = synth();

    // Act
    const [keyId, key] = only(template, 'AWS::KMS::Key');
    const [bucketId, bucket] = only(template, 'AWS::S3::Bucket');
    const [, policy] = only(template, 'AWS::S3::BucketPolicy');

    // Assess
    expect(key.Properties['EnableKeyRotation']).toBe(true);
    expect(bucket.Properties['BucketName']).toBe(centralBucketName('tlr', ACCOUNT, REGION));
    expect(bucket.Properties['BucketEncryption']).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } },
        },
      ],
    });
    expect(bucket.Properties['PublicAccessBlockConfiguration']).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(policy.Properties['Bucket']).toEqual({ Ref: bucketId });
    expect(JSON.stringify(policy.Properties['PolicyDocument'])).toContain('"aws:SecureTransport":"false"');
  });

  it.each([
    ['by default', {}, 14, undefined],
    ['as configured, with versions', { objectExpiryDays: 3, bucketVersioned: true }, 3, 1],
  ])('expires objects %s', (_name, overrides, days, noncurrentDays) => {
    // Prepare
    const template = synth(overrides);

    // Act
    const [, bucket] = only(template, 'AWS::S3::Bucket');
    const rules = (bucket.Properties['LifecycleConfiguration'] as { Rules: Record<string, unknown>[] }).Rules;

    // Assess
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ Status: 'Enabled', ExpirationInDays: days, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
    expect(rules[0]!['NoncurrentVersionExpiration']).toEqual(noncurrentDays && { NoncurrentDays: noncurrentDays });
    expect(bucket.Properties['VersioningConfiguration']).toEqual(noncurrentDays && { Status: 'Enabled' });
  });

  it('notifies the encrypted topic of new .gz objects, once the topic policy lets the bucket publish', () => {
    // Prepare
    const template = synth();

    // Act
    const [keyId] = only(template, 'AWS::KMS::Key');
    const [topicId, topic] = only(template, 'AWS::SNS::Topic');
    const [topicPolicyId, topicPolicy] = only(template, 'AWS::SNS::TopicPolicy');
    const [, bucket] = only(template, 'AWS::S3::Bucket');
    const publish = (topicPolicy.Properties['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement.filter(
      (s) => s['Effect'] === 'Allow',
    );

    // Assess
    expect(topic.Properties['KmsMasterKeyId']).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(bucket.Properties['NotificationConfiguration']).toEqual({
      TopicConfigurations: [
        { Event: 's3:ObjectCreated:*', Topic: { Ref: topicId }, Filter: { S3Key: { Rules: [{ Name: 'suffix', Value: '.gz' }] } } },
      ],
    });
    expect(bucket.DependsOn).toContain(topicPolicyId);
    expect(publish).toHaveLength(1);
    expect(publish[0]).toMatchObject({ Principal: { Service: 's3.amazonaws.com' }, Action: 'sns:Publish' });
    expect(textsOf((publish[0]!['Condition'] as Record<string, Record<string, unknown>>)['ArnEquals']!['aws:SourceArn'])).toEqual([
      `arn:\${AWS::Partition}:s3:::${centralBucketName('tlr', ACCOUNT, REGION)}`,
    ]);
  });

  it('lets S3 and SNS use the key only for the central topic', () => {
    // Prepare
    const template = synth();
    const topicArn = `arn:\${AWS::Partition}:sns:${REGION}:${ACCOUNT}:tlr-central-objects`;

    // Act
    const [keyId] = only(template, 'AWS::KMS::Key');
    const services = policyStatements(template)
      .filter((s) => s.logicalId === keyId && (s.statement.Principal as { Service?: string }).Service !== undefined)
      .map((s) => s.statement);

    // Assess
    expect(services.map((s) => [(s.Principal as { Service: string }).Service, s.Action])).toEqual([
      ['s3.amazonaws.com', ['kms:GenerateDataKey', 'kms:Decrypt']],
      ['sns.amazonaws.com', ['kms:GenerateDataKey', 'kms:Decrypt']],
    ]);
    expect(textsOf(services[0]!.Condition!['StringEquals']!['kms:EncryptionContext:aws:sns:topicArn'])).toEqual([topicArn]);
    expect(textsOf(services[1]!.Condition!['ArnEquals']!['aws:SourceArn'])).toEqual([topicArn]);
  });
});

describe('TlrRegionalStack queues', () => {
  it('subscribes the queue to the topic with raw message delivery off (the processor reads SNS envelopes)', () => {
    // Prepare
    const template = synth();

    // Act
    const [topicId] = only(template, 'AWS::SNS::Topic');
    const [queueId] = only(template, 'AWS::SQS::Queue', { QueueName: 'tlr-notifications' });
    const [, subscription] = only(template, 'AWS::SNS::Subscription');
    const [, queuePolicy] = only(template, 'AWS::SQS::QueuePolicy', { Queues: [{ Ref: queueId }] });

    // Assess
    expect(subscription.Properties).toEqual({
      Protocol: 'sqs',
      TopicArn: { Ref: topicId },
      Endpoint: { 'Fn::GetAtt': [queueId, 'Arn'] },
      RawMessageDelivery: false,
    });
    expect(JSON.stringify(queuePolicy.Properties['PolicyDocument'])).toContain(
      JSON.stringify({ ArnEquals: { 'aws:SourceArn': { Ref: topicId } } }),
    );
  });

  it.each([
    ['by default', {}, 5],
    ['as configured', { maxReceiveCount: 2 }, 2],
  ])('redrives to the encrypted dead-letter queue after maxReceiveCount receives %s', (_name, overrides, count) => {
    // Prepare
    const template = synth(overrides);

    // Act
    const [keyId] = only(template, 'AWS::KMS::Key');
    const [dlqId, dlq] = only(template, 'AWS::SQS::Queue', { QueueName: 'tlr-notifications-dlq' });
    const [, queue] = only(template, 'AWS::SQS::Queue', { QueueName: 'tlr-notifications' });

    // Assess
    expect(queue.Properties['RedrivePolicy']).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: count });
    for (const q of [queue, dlq]) {
      expect(q.Properties['KmsMasterKeyId']).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      expect(q.Properties['MessageRetentionPeriod']).toBe(14 * 86_400);
    }
  });

  it.each([
    ['defaults to 6 × the Lambda timeout', {}, 300],
    ['follows a configured Lambda timeout', { processorTimeoutSeconds: 120 }, 120],
  ])('sets a visibility timeout that %s', (_name, overrides, lambdaTimeout) => {
    // Prepare
    const template = synth(overrides);

    // Act
    const [, queue] = only(template, 'AWS::SQS::Queue', { QueueName: 'tlr-notifications' });
    const [, fn] = only(template, 'AWS::Lambda::Function', { FunctionName: 'tlr-processor' });

    // Assess
    expect(fn.Properties['Timeout']).toBe(lambdaTimeout);
    expect(queue.Properties['VisibilityTimeout']).toBe(6 * lambdaTimeout);
  });
});

describe('TlrRegionalStack tables', () => {
  describe.each([
    ['configs', tables.configs, [ConfigTableKey.TENANT_ID, ConfigTableKey.TYPE], undefined],
    ['checkpoints', tables.checkpoints, [CheckpointAttribute.OBJECT_KEY, CheckpointAttribute.DESTINATION_ID], CheckpointAttribute.EXPIRES_AT],
    ['dead letters', tables.deadLetters, [DeadLetterAttribute.ID], undefined],
    ['audit', tables.audit, [AuditAttribute.TENANT_ID, AuditAttribute.ENTRY_KEY], undefined],
    ['status', tables.status, [DestinationStatusAttribute.TENANT_ID, DestinationStatusAttribute.TYPE], undefined],
    ['replay', tables.replay, [ReplayAttribute.SIGNATURE], ReplayAttribute.EXPIRES_AT],
    ['quotas', tables.quotas!, [QuotaAttribute.TENANT_ID, QuotaAttribute.DAY], QuotaAttribute.EXPIRES_AT],
  ])('the %s table', (_name, tableName, keys, ttl) => {
    it('has the key schema the store uses, on demand, with PITR and encryption', () => {
      // Prepare
      const template = synth();

      // Act
      const table = tableResource(template, tableName);

      // Assess
      expect(table.Properties['KeySchema']).toEqual(
        keys.map((name, i) => ({ AttributeName: name, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
      );
      expect(table.Properties['BillingMode']).toBe('PAY_PER_REQUEST');
      expect(table.Properties['PointInTimeRecoverySpecification']).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(table.Properties['SSESpecification']).toEqual({ SSEEnabled: true });
    });

    it(ttl ? `expires items on '${ttl}'` : 'has no TTL', () => {
      // Act
      const table = tableResource(synth(), tableName);

      // Assess
      expect(table.Properties['TimeToLiveSpecification']).toEqual(ttl && { AttributeName: ttl, Enabled: true });
    });
  });

  it('indexes dead letters by tenant and time, projecting whole entries', () => {
    // Act
    const table = tableResource(synth(), tables.deadLetters);

    // Assess
    expect(table.Properties['GlobalSecondaryIndexes']).toEqual([
      {
        IndexName: DEAD_LETTERS_BY_TENANT_INDEX,
        KeySchema: [
          { AttributeName: DeadLetterAttribute.TENANT_ID, KeyType: 'HASH' },
          { AttributeName: DeadLetterAttribute.CREATED_AT, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(table.Properties['AttributeDefinitions']).toContainEqual({ AttributeName: DeadLetterAttribute.CREATED_AT, AttributeType: 'N' });
  });

  it.each([
    ['by default', {}],
    ['as configured', { objectExpiryDays: 7, checkpointTtlDays: 8 }],
  ])('keeps checkpoints longer than the central objects live %s', (_name, overrides) => {
    // Prepare
    const template = synth(overrides);

    // Act
    const [, fn] = only(template, 'AWS::Lambda::Function', { FunctionName: 'tlr-processor' });
    const env = (fn.Properties['Environment'] as { Variables: Record<string, string> }).Variables;
    const [, bucket] = only(template, 'AWS::S3::Bucket');
    const rules = (bucket.Properties['LifecycleConfiguration'] as { Rules: { ExpirationInDays?: number }[] }).Rules;
    const expiryDays = Math.max(...rules.map((r) => r.ExpirationInDays ?? 0));

    // Assess
    expect(Number(env[RouterEnv.CHECKPOINT_TTL_DAYS])).toBeGreaterThan(expiryDays);
  });
});

describe('TlrRegionalStack processor', () => {
  it('runs index.handler on nodejs22.x with the global processor role, fed by the queue with partial batch responses', () => {
    // Prepare
    const template = synth();

    // Act
    const [fnId, fn] = only(template, 'AWS::Lambda::Function', { FunctionName: 'tlr-processor' });
    const [queueId] = only(template, 'AWS::SQS::Queue', { QueueName: 'tlr-notifications' });
    const [, mapping] = only(template, 'AWS::Lambda::EventSourceMapping');
    const [policyId] = only(template, 'AWS::IAM::Policy', { Roles: [roles.processorExecution] });

    // Assess
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler', MemorySize: 1024 });
    expect(textsOf(fn.Properties['Role'])).toEqual([`arn:\${AWS::Partition}:iam::${ACCOUNT}:role/${roles.processorExecution}`]);
    expect(mapping.Properties).toMatchObject({
      FunctionName: { Ref: fnId },
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 5,
    });
    // The imported role's policy is this stack's: nothing may start before it is attached.
    expect(fn.DependsOn).toContain(policyId);
    expect(mapping.DependsOn).toContain(policyId);
  });

  it('takes the batch size, batching window and concurrency it is given', () => {
    // Act
    const [, mapping] = only(synth({ batchSize: 100, maxBatchingWindowSeconds: 20, maxConcurrency: 50 }), 'AWS::Lambda::EventSourceMapping');

    // Assess
    expect(mapping.Properties).toMatchObject({
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 20,
      ScalingConfig: { MaximumConcurrency: 50 },
    });
  });

  it('creates no processor function for pollers, but still grants the role and outputs its environment', () => {
    // Prepare
    const template = synth({ processor: ProcessorRuntime.POLLER });

    // Act
    const processors = resources(template, 'AWS::Lambda::Function', { FunctionName: 'tlr-processor' });
    const granted = grantedTo(template, roles.processorExecution).flatMap((s) => listOf(s.Action));
    const output = JSON.stringify(template.toJSON().Outputs.ProcessorEnvironment.Value);

    // Assess
    expect(processors).toHaveLength(0);
    expect(resources(template, 'AWS::Lambda::EventSourceMapping')).toHaveLength(0);
    expect(granted).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:SendMessage', 's3:GetObject']));
    for (const name of [RouterEnv.TENANT_CONFIG_TABLE, RouterEnv.SQS_QUEUE_URL, RouterEnv.AWS_REGION]) {
      expect(output).toContain(name);
    }
    expect(resources(template, 'AWS::CloudWatch::Alarm', { AlarmName: 'tlr-processor-errors' })).toHaveLength(0);
  });
});

describe('TlrRegionalStack config API', () => {
  it('checks every request with the REQUEST authorizer, uncached and with no identity source', () => {
    // Prepare
    const template = synth();

    // Act
    const [authorizerId, authorizer] = only(template, 'AWS::ApiGateway::Authorizer');
    const [authorizerFnId, authorizerFn] = only(template, 'AWS::Lambda::Function', { FunctionName: 'tlr-api-authorizer' });
    const methods = resources(template, 'AWS::ApiGateway::Method');

    // Assess
    expect(authorizer.Properties['Type']).toBe('REQUEST');
    expect(authorizer.Properties['AuthorizerResultTtlInSeconds']).toBe(0);
    expect(authorizer.Properties['IdentitySource']).toBeUndefined();
    expect(JSON.stringify(authorizer.Properties['AuthorizerUri'])).toContain(authorizerFnId);
    expect(authorizerFn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'api.authorizer' });
    expect(methods.length).toBeGreaterThan(0);
    for (const [, method] of methods) {
      expect(method.Properties).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId } });
    }
  });

  it('proxies every path to api.handler', () => {
    // Prepare
    const template = synth();

    // Act
    const [handlerId, handler] = only(template, 'AWS::Lambda::Function', { FunctionName: 'tlr-api' });
    const [proxyId] = only(template, 'AWS::ApiGateway::Resource', { PathPart: '{proxy+}' });
    const [, method] = only(template, 'AWS::ApiGateway::Method', { ResourceId: { Ref: proxyId } });
    const integration = method.Properties['Integration'] as { Type: string; Uri: unknown };

    // Assess
    expect(handler.Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'api.handler' });
    expect(method.Properties['HttpMethod']).toBe('ANY');
    expect(integration.Type).toBe('AWS_PROXY');
    expect(JSON.stringify(integration.Uri)).toContain(handlerId);
  });
});

describe('TlrRegionalStack alarms', () => {
  it('watches the DLQ, the queue backlog, processor errors, failed deliveries per kind and API errors', () => {
    // Prepare
    const template = synth();

    // Act
    const [dlqId] = only(template, 'AWS::SQS::Queue', { QueueName: 'tlr-notifications-dlq' });
    const [queueId] = only(template, 'AWS::SQS::Queue', { QueueName: 'tlr-notifications' });
    const [fnId] = only(template, 'AWS::Lambda::Function', { FunctionName: 'tlr-processor' });
    const alarm = (name: string) => only(template, 'AWS::CloudWatch::Alarm', { AlarmName: name })[1].Properties;

    // Assess
    expect(alarm('tlr-dead-letter-queue-not-empty')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
    expect(alarm('tlr-queue-oldest-message-age')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 900,
    });
    expect(alarm('tlr-processor-errors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
    });
    for (const kind of AWS_DELIVERY_KINDS) {
      expect(alarm(`tlr-delivery-failures-${kind}`)).toMatchObject({
        Metrics: [{ Expression: deliveryQuery(kind, 'failed_delivery'), Period: 300 }],
        Threshold: 10,
      });
    }
    expect(deliveryQuery('s3', 'failed_delivery')).toBe('SELECT SUM("LogCount/s3/failed_delivery") FROM SCHEMA("HCPLF/LogForwarding", Tenant)');
    expect(alarm('tlr-api-server-errors')).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5XXError' });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('notifies the alarm topic and watches the EKS ingest when they are configured', () => {
    // Prepare
    const topicArn = `arn:aws:sns:${REGION}:${ACCOUNT}:ops`;
    const template = synth({ alarmTopicArn: topicArn, eksControlPlane: { tenant: 'kube-system', clusterName: 'prod-1' } });

    // Act
    const alarms = resources(template, 'AWS::CloudWatch::Alarm');

    // Assess
    expect(alarms.length).toBe(4 + AWS_DELIVERY_KINDS.length + 1);
    for (const [, a] of alarms) expect(a.Properties['AlarmActions']).toEqual([topicArn]);
    expect(alarms.map(([, a]) => a.Properties['AlarmName'])).toContain('tlr-eks-control-plane-errors');
  });
});

describe('TlrRegionalStack EKS control-plane ingest', () => {
  it('subscribes cloudwatch.handler to the cluster log group, allowed to put objects and notify the queue only', () => {
    // Prepare
    const template = synth({ alarmTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:ops`, eksControlPlane: { tenant: 'kube-system', clusterName: 'prod-1' } });

    // Act
    const [fnId, fn] = only(template, 'AWS::Lambda::Function', { FunctionName: 'tlr-eks-control-plane' });
    const [, filter] = only(template, 'AWS::Logs::SubscriptionFilter');
    const roleId = (fn.Properties['Role'] as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    const [policyId] = only(template, 'AWS::IAM::Policy', { Roles: [{ Ref: roleId }] });
    const actions = policyStatements(template).filter((s) => s.logicalId === policyId).flatMap((s) => listOf(s.statement.Action));

    // Assess
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'cloudwatch.handler' });
    expect((fn.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      EKS_TENANT: 'kube-system',
      EKS_CLUSTER_NAME: 'prod-1',
    });
    expect(filter.Properties).toMatchObject({ LogGroupName: '/aws/eks/prod-1/cluster', DestinationArn: { 'Fn::GetAtt': [fnId, 'Arn'] } });
    expect([...new Set(actions)].sort()).toEqual(
      ['kms:Decrypt', 'kms:GenerateDataKey', 'logs:CreateLogStream', 'logs:PutLogEvents', 's3:PutObject', 'sqs:SendMessage'],
    );
  });
});

describe('TlrRegionalStack least privilege', () => {
  it.each([
    ['lambda', {}],
    ['poller, with EKS ingest', { processor: ProcessorRuntime.POLLER, eksControlPlane: { tenant: 'kube-system', clusterName: 'c' } }],
  ])('grants nothing broad (%s)', (_name, overrides) => {
    // Prepare
    const template = synth(overrides);
    const [keyId] = only(template, 'AWS::KMS::Key');

    // Act
    // A key policy's Resource "*" is the key itself; its first statement is the account's
    // default administration (kms:* to the account root), which lets IAM policies grant it.
    const problems = broadPolicyProblems(template).filter((p) => !p.startsWith(`${keyId} `));
    const keyStatements = policyStatements(template).filter((s) => s.logicalId === keyId).map((s) => s.statement);

    // Assess
    expect(problems).toEqual([]);
    expect(textsOf((keyStatements[0]!.Principal as { AWS: unknown }).AWS)).toEqual([`arn:\${AWS::Partition}:iam::${ACCOUNT}:root`]);
    for (const s of keyStatements.slice(1)) expect(s.Condition).toBeDefined();
  });

  it('spells out every action of the roles it extends (no wildcards)', () => {
    // Prepare
    const template = synth({ eksControlPlane: { tenant: 'kube-system' } });

    // Act
    const actions = resources(template, 'AWS::IAM::Policy').flatMap(([id]) =>
      policyStatements(template).filter((s) => s.logicalId === id).flatMap((s) => listOf(s.statement.Action).map(String)),
    );

    // Assess
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
  });

  it('lets the central role decrypt central objects (CopyObject source) and collectors encrypt them, nothing more', () => {
    // Prepare
    const template = synth();
    const [keyId] = only(template, 'AWS::KMS::Key');

    // Act
    const central = grantedTo(template, roles.centralLogDistribution);
    const collector = grantedTo(template, roles.collectorWriter);

    // Assess
    expect(central).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } }]);
    expect(collector).toEqual([
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
  });

  it('gives the API only its tables, and the processor no API-only table', () => {
    // Prepare
    const template = synth();
    const tableIds = Object.fromEntries(
      Object.entries(tables).map(([k, name]) => [k, only(template, 'AWS::DynamoDB::Table', { TableName: name })[0]]),
    );
    const tablesOf = (roleName: string) =>
      new Set(grantedTo(template, roleName).flatMap((s) => textsOf(s.Resource)).filter((r) => r.includes('Tables')));

    // Act
    const api = tablesOf(roles.apiExecution);
    const processor = tablesOf(roles.processorExecution);

    // Assess
    expect([...api].sort()).toEqual(
      [
        `\${${tableIds['configs']}.Arn}`,
        `\${${tableIds['audit']}.Arn}`,
        `\${${tableIds['status']}.Arn}`,
        `\${${tableIds['deadLetters']}.Arn}`,
        `\${${tableIds['deadLetters']}.Arn}/index/${DEAD_LETTERS_BY_TENANT_INDEX}`,
        `\${${tableIds['replay']}.Arn}`,
      ].sort(),
    );
    expect([...processor].sort()).toEqual(
      ['configs', 'checkpoints', 'deadLetters', 'status', 'quotas'].map((k) => `\${${tableIds[k]}.Arn}`).sort(),
    );
    expect(grantedTo(template, roles.apiAuthorizerExecution)).toEqual([]);
  });
});

describe('validateRegionalSettings', () => {
  it.each<[string, Partial<RegionalSettings>, string]>([
    ['a prefix that cannot start a bucket name', { prefix: 'Tlr_1' }, "'prefix' must be 1–20 lowercase letters"],
    ['a prefix too long for the bucket name', { prefix: 'a'.repeat(21) }, "'prefix'"],
    ['no bundles', { bundles: undefined as unknown as LambdaBundleDirs }, "'bundles' is required"],
    ['a central account that is not 12 digits', { centralAccountId: '1234' }, "'centralAccountId' must be 12 digits"],
    ['an unknown processor runtime', { processor: 'fargate' as ProcessorRuntime }, "'processor' must be one of lambda, poller"],
    ['an object expiry of 0 days', { objectExpiryDays: 0 }, "'objectExpiryDays' must be a whole number from 1"],
    ['a checkpoint TTL equal to the object expiry', { objectExpiryDays: 30, checkpointTtlDays: 30 }, "'checkpointTtlDays' must be greater than 'objectExpiryDays' (30)"],
    ['a checkpoint TTL shorter than the default expiry', { checkpointTtlDays: 7 }, "'checkpointTtlDays' must be greater than 'objectExpiryDays' (14)"],
    ['a fractional checkpoint TTL', { checkpointTtlDays: 30.5 }, "'checkpointTtlDays' must be a whole number"],
    ['maxReceiveCount 0', { maxReceiveCount: 0 }, "'maxReceiveCount' must be a whole number from 1 to 1000"],
    ['a Lambda timeout above 900 s', { processorTimeoutSeconds: 901 }, "'processorTimeoutSeconds' must be a whole number from 30 to 900"],
    ['a Lambda timeout under the handler margin', { processorTimeoutSeconds: 10 }, "'processorTimeoutSeconds' must be a whole number from 30"],
    ['a visibility timeout under 6 × the Lambda timeout', { queueVisibilityTimeoutSeconds: 600 }, "'queueVisibilityTimeoutSeconds' must be at least 6 × 'processorTimeoutSeconds' (1800)"],
    ['a longer Lambda timeout with the visibility left', { processorTimeoutSeconds: 600, queueVisibilityTimeoutSeconds: 1800 }, '(3600), or messages of a running invocation become visible again; got 1800'],
    ['a visibility timeout above 12 h', { queueVisibilityTimeoutSeconds: 43_201 }, "'queueVisibilityTimeoutSeconds' must be a whole number from 0 to 43200"],
    ['memory under 128 MB', { processorMemoryMb: 64 }, "'processorMemoryMb' must be a whole number from 128 to 10240"],
    ['a batch above 10,000', { batchSize: 10_001 }, "'batchSize' must be a whole number from 1 to 10000"],
    ['a batch above 10 without a batching window', { batchSize: 11, maxBatchingWindowSeconds: 0 }, "'maxBatchingWindowSeconds' must be at least 1 when 'batchSize' is above 10"],
    ['a batching window above 300 s', { maxBatchingWindowSeconds: 301 }, "'maxBatchingWindowSeconds' must be a whole number from 0 to 300"],
    ['an event source concurrency of 1', { maxConcurrency: 1 }, "'maxConcurrency' must be a whole number from 2 to 1000"],
    ['a processor concurrency of 0', { processorConcurrency: 0 }, "'processorConcurrency' must be a whole number from 1"],
    ['an unknown log level', { logLevel: 'verbose' as RegionalSettings['logLevel'] }, "'logLevel' must be one of debug, info, warn, error"],
    ['a retention CloudWatch Logs does not offer', { logRetentionDays: 10 }, "'logRetentionDays' must be a CloudWatch Logs retention"],
    ['a backlog alarm under a minute', { queueAgeAlarmSeconds: 30 }, "'queueAgeAlarmSeconds' must be a whole number from 60"],
    ['a failure alarm threshold of 0', { deliveryFailureAlarmThreshold: 0 }, "'deliveryFailureAlarmThreshold' must be a whole number from 1"],
    ['an EKS ingest without a tenant', { eksControlPlane: { tenant: ' ' } }, "'eksControlPlane.tenant' is required"],
  ])('refuses %s', (_name, overrides, message) => {
    // Act
    const act = () => validateRegionalSettings(settings(overrides));

    // Assess
    expect(act).toThrow(ConfigValidationError);
    expect(act).toThrow(message);
  });

  it('reports every problem at once, naming the stack props', () => {
    // Act
    const act = () => validateRegionalSettings(settings({ maxReceiveCount: 0, checkpointTtlDays: 1 }));

    // Assess
    expect(act).toThrow(/^Invalid regional stack props: 'checkpointTtlDays' .*; 'maxReceiveCount' .*\.$/);
  });

  it('does not hold pollers to the Lambda visibility rule', () => {
    // Act
    const poller = settings({ processor: ProcessorRuntime.POLLER, queueVisibilityTimeoutSeconds: 60 });
    const validated = validateRegionalSettings(poller);

    // Assess
    expect(validated.queueVisibilityTimeoutSeconds).toBe(60);
  });

  it('fails the stack before anything is synthesized', () => {
    // Act
    const act = () =>
      new TlrRegionalStack(new App(), 'TlrRegional', { env: { account: ACCOUNT, region: REGION }, bundles, queueVisibilityTimeoutSeconds: 60 });

    // Assess
    expect(act).toThrow(ConfigValidationError);
  });
});
