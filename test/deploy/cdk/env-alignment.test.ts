import { App } from 'aws-cdk-lib';
import { ArnPrincipal } from 'aws-cdk-lib/aws-iam';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TlrGlobalStack } from '../../../deploy/cdk/lib/global-stack.js';
import { disposeLambdaBundles, prepareLambdaBundles } from '../../../deploy/cdk/lib/lambda-bundle.js';
import { pskSecretName, routerRoleNames } from '../../../deploy/cdk/lib/naming.js';
import { RegionalStackOutput, TlrRegionalStack } from '../../../deploy/cdk/lib/regional-stack.js';
import { pskSourceFromEnv } from '../../../src/api/index.js';
import { cloudwatchIngestConfigFromEnv } from '../../../src/ingest/cloudwatch/config.js';
import { type AwsRuntimeConfig, awsRuntimeConfigFromEnv, ExecutionMode } from '../../../src/runtimes/aws-env.js';
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
import { listOf, policyStatements, type StatementJson } from '../../helpers/cdk-policies.js';

/*
 * The acceptance check of the CDK app: the environment the synthesized stacks give each
 * function, resolved the way CloudFormation would resolve it, is read by the runtime's own
 * parser, and every table, queue, bucket, role and secret it then names is the resource in the
 * templates that plays that part (found by its wiring, not by its name), with the grants the
 * code needs on it.
 */

const ACCOUNT = '111111111111';
const REGION = 'eu-west-1';
const PREFIX = 'acme';
const roles = routerRoleNames(PREFIX);

type Resource = { Type: string; Properties: Record<string, unknown> };
type Resources = Record<string, Resource>;

/** What CloudFormation would return for `Ref` and `Fn::GetAtt` of each resource of the templates. */
class Deployed {
  private readonly refs = new Map<string, string>();
  private readonly attributes = new Map<string, string>();
  /** Physical id, URL or ARN → logical id. */
  private readonly owners = new Map<string, string>();

  constructor(readonly resources: Resources) {
    for (const [id, resource] of Object.entries(resources)) this.derive(id, resource);
  }

  private set(id: string, ref: string, attributes: Record<string, string>): void {
    this.refs.set(id, ref);
    this.owners.set(ref, id);
    for (const [name, value] of Object.entries(attributes)) {
      this.attributes.set(`${id}.${name}`, value);
      this.owners.set(value, id);
    }
  }

  private derive(id: string, { Type: type, Properties: p }: Resource): void {
    const name = (key: string) => this.resolve(p[key]);
    const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
    switch (type) {
      case 'AWS::DynamoDB::Table':
        this.set(id, name('TableName'), { Arn: arn('dynamodb', `table/${name('TableName')}`) });
        break;
      case 'AWS::SQS::Queue':
        this.set(id, `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name('QueueName')}`, {
          Arn: arn('sqs', name('QueueName')),
          QueueName: name('QueueName'),
        });
        break;
      case 'AWS::S3::Bucket':
        this.set(id, name('BucketName'), { Arn: `arn:aws:s3:::${name('BucketName')}` });
        break;
      case 'AWS::SNS::Topic':
        this.set(id, arn('sns', name('TopicName')), { TopicName: name('TopicName') });
        break;
      case 'AWS::KMS::Key':
        this.set(id, `key-${id}`, { Arn: arn('kms', `key/key-${id}`) });
        break;
      case 'AWS::Lambda::Function':
        this.set(id, name('FunctionName'), { Arn: arn('lambda', `function:${name('FunctionName')}`) });
        break;
      case 'AWS::IAM::Role': {
        // A role created without a name gets one from CloudFormation.
        const roleName = p['RoleName'] === undefined ? `generated-${id}` : name('RoleName');
        this.set(id, roleName, { Arn: `arn:aws:iam::${ACCOUNT}:role/${roleName}` });
        break;
      }
      case 'AWS::SecretsManager::Secret':
        this.set(id, arn('secretsmanager', `secret:${name('Name')}-AbCdEf`), {});
        break;
      case 'AWS::Logs::LogGroup':
        this.set(id, name('LogGroupName'), { Arn: arn('logs', `log-group:${name('LogGroupName')}:*`) });
        break;
      default:
        break;
    }
  }

  /** A template value as the deployed string; throws on what it cannot resolve, so nothing passes unresolved. */
  resolve(value: unknown): string {
    if (typeof value === 'string' || typeof value === 'number') return String(value);
    const v = value as Record<string, unknown>;
    if (typeof v?.['Ref'] === 'string') {
      const pseudo: Record<string, string> = {
        'AWS::Partition': 'aws',
        'AWS::AccountId': ACCOUNT,
        'AWS::Region': REGION,
        'AWS::URLSuffix': 'amazonaws.com',
      };
      const ref = pseudo[v['Ref']] ?? this.refs.get(v['Ref']);
      if (ref === undefined) throw new Error(`Cannot resolve Ref ${v['Ref']}.`);
      return ref;
    }
    if (Array.isArray(v?.['Fn::GetAtt'])) {
      const [id, attribute] = v['Fn::GetAtt'] as [string, string];
      const resolved = this.attributes.get(`${id}.${attribute}`);
      if (resolved === undefined) throw new Error(`Cannot resolve Fn::GetAtt ${id}.${attribute}.`);
      return resolved;
    }
    if (Array.isArray(v?.['Fn::Join'])) {
      const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => this.resolve(part)).join(separator);
    }
    throw new Error(`Cannot resolve ${JSON.stringify(value)}.`);
  }

  /** The logical id of the resource with this name, URL or ARN. */
  owner(physical: string | undefined): string {
    const id = physical === undefined ? undefined : this.owners.get(physical);
    if (id === undefined) throw new Error(`No resource of the templates is '${physical}'.`);
    return id;
  }

  props(id: string): Record<string, unknown> {
    return this.resources[id]!.Properties;
  }

  /** The one resource of a type whose properties satisfy `test`. */
  find(type: string, test: (p: Record<string, unknown>) => boolean): string {
    const ids = Object.entries(this.resources)
      .filter(([, r]) => r.Type === type && test(r.Properties))
      .map(([id]) => id);
    expect(ids, type).toHaveLength(1);
    return ids[0]!;
  }

  /** The resolved environment of the function with this handler. */
  environment(handler: string): NodeJS.ProcessEnv {
    const id = this.find('AWS::Lambda::Function', (p) => p['Handler'] === handler);
    const variables = (this.props(id)['Environment'] as { Variables: Record<string, unknown> }).Variables;
    return Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, this.resolve(v)]));
  }
}

let deployed: Deployed;
let outputs: Record<string, { Value: unknown }>;
let globalStatements: (StatementJson & { logicalId: string })[];
let regionalStatements: (StatementJson & { logicalId: string })[];

beforeAll(async () => {
  const bundles = await prepareLambdaBundles();
  const app = new App();
  const env = { account: ACCOUNT, region: REGION };
  const global = new TlrGlobalStack(app, 'Global', {
    env,
    prefix: PREFIX,
    collectorPrincipals: [new ArnPrincipal(`arn:aws:iam::${ACCOUNT}:role/vector-node`)],
  });
  const regional = new TlrRegionalStack(app, 'Regional', {
    env,
    prefix: PREFIX,
    bundles,
    eksControlPlane: { tenant: 'kube-system', clusterName: 'prod-1' },
  });
  const globalTemplate = Template.fromStack(global);
  const regionalTemplate = Template.fromStack(regional);
  const resources = (t: Template) => (t.toJSON() as { Resources: Resources }).Resources;
  deployed = new Deployed({ ...resources(globalTemplate), ...resources(regionalTemplate) });
  outputs = (regionalTemplate.toJSON() as { Outputs: Record<string, { Value: unknown }> }).Outputs;
  globalStatements = policyStatements(globalTemplate).map((s) => ({ ...s.statement, logicalId: s.logicalId }));
  regionalStatements = policyStatements(regionalTemplate).map((s) => ({ ...s.statement, logicalId: s.logicalId }));
}, 120_000);

afterAll(disposeLambdaBundles);

/** The key schema of a table as `name:HASH` strings. */
function keys(id: string): string[] {
  return (deployed.props(id)['KeySchema'] as { AttributeName: string; KeyType: string }[]).map((k) => `${k.AttributeName}:${k.KeyType}`);
}

function ttl(id: string): unknown {
  return deployed.props(id)['TimeToLiveSpecification'];
}

/** Whether the role (by name) may call `action` on `resource`, from the policies of both templates. */
function allowed(roleName: string, action: string, resource: string): boolean {
  const roleIds = Object.entries(deployed.resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties['RoleName'] === roleName)
    .map(([id]) => id);
  const policyIds = Object.entries(deployed.resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Policy')
    .filter(([, r]) => listOf(r.Properties['Roles']).some((role) => role === roleName || roleIds.includes((role as { Ref?: string }).Ref ?? '')))
    .map(([id]) => id);
  const matches = (pattern: string, value: string) =>
    new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(value);
  return [...globalStatements, ...regionalStatements].some(
    (s) =>
      s.Effect === 'Allow' &&
      s.Principal === undefined &&
      (policyIds.includes(s.logicalId) || roleIds.includes(s.logicalId)) &&
      listOf(s.Action).includes(action) &&
      listOf(s.Resource).some((r) => matches(deployed.resolve(r), resource)),
  );
}

describe('the processor Lambda environment', () => {
  let config: AwsRuntimeConfig;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    env = deployed.environment('index.handler');
    config = awsRuntimeConfigFromEnv(ExecutionMode.LAMBDA, env);
  });

  it('names as config table the one keyed by tenant_id and type, and as checkpoint table the one with TTL on expires_at', () => {
    // Act
    const configs = deployed.owner(config.configTable);
    const checkpoints = deployed.owner(config.checkpointTable);

    // Assess
    expect(keys(configs)).toEqual([`${ConfigTableKey.TENANT_ID}:HASH`, `${ConfigTableKey.TYPE}:RANGE`]);
    expect(keys(checkpoints)).toEqual([`${CheckpointAttribute.OBJECT_KEY}:HASH`, `${CheckpointAttribute.DESTINATION_ID}:RANGE`]);
    expect(ttl(checkpoints)).toEqual({ AttributeName: CheckpointAttribute.EXPIRES_AT, Enabled: true });
    expect(ttl(configs)).toBeUndefined();
  });

  it('names the dead-letter, audit, status, replay and quota tables by their schema, seven tables in all', () => {
    // Act
    const { deadLetterTable, auditTable, destinationStatusTable, replayTable, quotaTable } = config;
    const named = [deadLetterTable, auditTable, destinationStatusTable, replayTable, quotaTable];
    const ids = named.map((t) => deployed.owner(t));
    const [deadLetters, audit, status, replay, quotas] = ids as [string, string, string, string, string];
    const all = new Set([config.configTable, config.checkpointTable, ...ids.map((id) => deployed.resolve({ Ref: id }))]);

    // Assess
    expect(keys(deadLetters)).toEqual([`${DeadLetterAttribute.ID}:HASH`]);
    expect((deployed.props(deadLetters)['GlobalSecondaryIndexes'] as { IndexName: string }[])[0]!.IndexName).toBe(DEAD_LETTERS_BY_TENANT_INDEX);
    expect(keys(audit)).toEqual([`${AuditAttribute.TENANT_ID}:HASH`, `${AuditAttribute.ENTRY_KEY}:RANGE`]);
    expect(keys(status)).toEqual([`${DestinationStatusAttribute.TENANT_ID}:HASH`, `${DestinationStatusAttribute.TYPE}:RANGE`]);
    expect(keys(replay)).toEqual([`${ReplayAttribute.SIGNATURE}:HASH`]);
    expect(ttl(replay)).toEqual({ AttributeName: ReplayAttribute.EXPIRES_AT, Enabled: true });
    expect(keys(quotas)).toEqual([`${QuotaAttribute.TENANT_ID}:HASH`, `${QuotaAttribute.DAY}:RANGE`]);
    expect(ttl(quotas)).toEqual({ AttributeName: QuotaAttribute.EXPIRES_AT, Enabled: true });
    expect(all.size).toBe(7);
  });

  it('derives the same table names from TENANT_CONFIG_TABLE alone', () => {
    // Act
    const derived = awsRuntimeConfigFromEnv(ExecutionMode.LAMBDA, { TENANT_CONFIG_TABLE: env['TENANT_CONFIG_TABLE'] });

    // Assess
    expect(derived).toMatchObject({
      checkpointTable: config.checkpointTable,
      deadLetterTable: config.deadLetterTable,
      auditTable: config.auditTable,
      destinationStatusTable: config.destinationStatusTable,
      replayTable: config.replayTable,
      quotaTable: config.quotaTable,
    });
  });

  it('sends delayed retries to the queue the function is triggered by, whose redrive target is SQS_DLQ_URL', () => {
    // Act
    const queue = deployed.owner(config.queueUrl);
    const mapping = deployed.find('AWS::Lambda::EventSourceMapping', () => true);
    const mapped = deployed.owner(deployed.resolve(deployed.props(mapping)['EventSourceArn']));
    const fn = deployed.owner(deployed.resolve(deployed.props(mapping)['FunctionName']));
    const redrive = deployed.props(queue)['RedrivePolicy'] as { deadLetterTargetArn: unknown };

    // Assess
    expect(mapped).toBe(queue);
    expect(deployed.props(fn)['Handler']).toBe('index.handler');
    expect(deployed.owner(deployed.resolve(redrive.deadLetterTargetArn))).toBe(deployed.owner(config.deadLetterQueueUrl));
  });

  it('reads objects from the bucket whose notifications reach that queue through the topic', () => {
    // Act
    const bucket = deployed.owner(config.sourceBucket);
    const notification = deployed.props(bucket)['NotificationConfiguration'] as { TopicConfigurations: { Topic: unknown }[] };
    const topic = deployed.owner(deployed.resolve(notification.TopicConfigurations[0]!.Topic));
    const subscription = deployed.find('AWS::SNS::Subscription', (p) => deployed.owner(deployed.resolve(p['TopicArn'])) === topic);

    // Assess
    expect(deployed.owner(deployed.resolve(deployed.props(subscription)['Endpoint']))).toBe(deployed.owner(config.queueUrl));
    expect(deployed.props(subscription)['RawMessageDelivery']).toBe(false);
  });

  it('assumes the global stack central role, which trusts the function role, with the central account as ExternalId', () => {
    // Act
    const central = deployed.owner(config.centralRoleArn);
    const fn = deployed.find('AWS::Lambda::Function', (p) => p['Handler'] === 'index.handler');
    const fnRole = deployed.owner(deployed.resolve(deployed.props(fn)['Role']));
    const trust = (deployed.props(central)['AssumeRolePolicyDocument'] as { Statement: StatementJson[] }).Statement;

    // Assess
    expect(deployed.props(central)['RoleName']).toBe(roles.centralLogDistribution);
    expect(deployed.props(fnRole)['RoleName']).toBe(roles.processorExecution);
    const trusted = trust.map((s) => deployed.resolve((s.Principal as { AWS: unknown }).AWS));
    expect(trusted).toContain(deployed.resolve({ 'Fn::GetAtt': [fnRole, 'Arn'] }));
    expect(allowed(roles.processorExecution, 'sts:AssumeRole', config.centralRoleArn!)).toBe(true);
    expect(config.centralAccountId).toBe(ACCOUNT);
  });

  it('keeps checkpoints longer than the bucket keeps objects', () => {
    // Act
    const bucket = deployed.owner(config.sourceBucket);
    const rules = (deployed.props(bucket)['LifecycleConfiguration'] as { Rules: { ExpirationInDays?: number }[] }).Rules;

    // Assess
    expect(config.checkpointTtlSeconds).toBeGreaterThan(Math.max(...rules.map((r) => r.ExpirationInDays ?? 0)) * 86_400);
  });

  it.each([
    ['reads tenant configs', 'configTable', ['dynamodb:Query', 'dynamodb:GetItem']],
    ['reads and writes checkpoints', 'checkpointTable', ['dynamodb:BatchGetItem', 'dynamodb:UpdateItem']],
    ['records dead letters', 'deadLetterTable', ['dynamodb:PutItem']],
    ['records destination status', 'destinationStatusTable', ['dynamodb:UpdateItem']],
    ['reserves daily quota bytes', 'quotaTable', ['dynamodb:GetItem', 'dynamodb:UpdateItem']],
  ] as const)('lets its role call what the code calls: %s', (_name, field, actions) => {
    // Act
    const arn = deployed.resolve({ 'Fn::GetAtt': [deployed.owner(config[field]), 'Arn'] });

    // Assess
    for (const action of actions) expect(allowed(roles.processorExecution, action, arn), action).toBe(true);
  });

  it('lets its role use the queue, the DLQ depth, the objects and their key', () => {
    // Prepare
    const arnOf = (physical: string | undefined) => deployed.resolve({ 'Fn::GetAtt': [deployed.owner(physical), 'Arn'] });
    const queue = arnOf(config.queueUrl);
    const bucket = arnOf(config.sourceBucket);
    const keyId = deployed.owner(
      deployed.resolve((deployed.props(deployed.owner(config.sourceBucket))['BucketEncryption'] as {
        ServerSideEncryptionConfiguration: { ServerSideEncryptionByDefault: { KMSMasterKeyID: unknown } }[];
      }).ServerSideEncryptionConfiguration[0]!.ServerSideEncryptionByDefault.KMSMasterKeyID),
    );
    const key = deployed.resolve({ 'Fn::GetAtt': [keyId, 'Arn'] });

    // Assess
    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:SendMessage']) {
      expect(allowed(roles.processorExecution, action, queue), action).toBe(true);
    }
    expect(allowed(roles.processorExecution, 'sqs:GetQueueAttributes', arnOf(config.deadLetterQueueUrl))).toBe(true);
    expect(allowed(roles.processorExecution, 's3:GetObject', `${bucket}/c1/acme/app/pod/20240101-000000-x.json.gz`)).toBe(true);
    expect(allowed(roles.processorExecution, 'kms:Decrypt', key)).toBe(true);
    expect(allowed(roles.processorExecution, 'kms:GenerateDataKey', key)).toBe(true);
    expect(deployed.props(deployed.owner(config.queueUrl))['KmsMasterKeyId']).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    // The central role copies central objects: it reads them (global stack) and decrypts them (here).
    expect(allowed(roles.centralLogDistribution, 's3:GetObject', `${bucket}/c1/acme/app/pod/x.json.gz`)).toBe(true);
    expect(allowed(roles.centralLogDistribution, 'kms:Decrypt', key)).toBe(true);
  });

  it('is what the stack outputs for SQS pollers, plus the region', () => {
    // Act
    const output = outputs[RegionalStackOutput.PROCESSOR_ENVIRONMENT]!.Value;
    const pollerEnv = JSON.parse(deployed.resolve(output)) as NodeJS.ProcessEnv;
    const pollerConfig = awsRuntimeConfigFromEnv(ExecutionMode.SQS, pollerEnv);

    // Assess
    expect(pollerEnv).toEqual({ ...env, AWS_REGION: REGION });
    expect({ ...pollerConfig, aws: undefined }).toEqual({ ...config, aws: undefined });
    expect(pollerConfig.aws.region).toBe(REGION);
  });
});

describe('the API Lambda environment', () => {
  it('names the same six tables, and its role may do what the config API does on them', () => {
    // Prepare
    const processor = awsRuntimeConfigFromEnv(ExecutionMode.LAMBDA, deployed.environment('index.handler'));

    // Act
    const api = awsRuntimeConfigFromEnv(ExecutionMode.MANUAL, deployed.environment('api.handler'));
    const arnOf = (table: string) => deployed.resolve({ 'Fn::GetAtt': [deployed.owner(table), 'Arn'] });

    // Assess
    for (const field of ['configTable', 'checkpointTable', 'deadLetterTable', 'auditTable', 'destinationStatusTable', 'replayTable'] as const) {
      expect(api[field], field).toBe(processor[field]);
    }
    expect(api.centralRoleArn).toBe(processor.centralRoleArn);
    expect(api.sourceBucket).toBe(processor.sourceBucket);
    for (const action of ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem']) {
      expect(allowed(roles.apiExecution, action, arnOf(api.configTable)), action).toBe(true);
    }
    expect(allowed(roles.apiExecution, 'dynamodb:PutItem', arnOf(api.auditTable))).toBe(true);
    expect(allowed(roles.apiExecution, 'dynamodb:PutItem', arnOf(api.replayTable))).toBe(true);
    expect(allowed(roles.apiExecution, 'dynamodb:Query', `${arnOf(api.deadLetterTable)}/index/${DEAD_LETTERS_BY_TENANT_INDEX}`)).toBe(true);
    expect(allowed(roles.apiExecution, 'sts:AssumeRole', api.centralRoleArn!)).toBe(true);
  });
});

describe('the API authorizer environment', () => {
  it('reads the key from the global stack secret, which its role may read in this region', () => {
    // Act
    const env = deployed.environment('api.authorizer');
    const secret = deployed.find('AWS::SecretsManager::Secret', () => true);
    const secretArn = deployed.resolve({ Ref: secret });
    const fn = deployed.find('AWS::Lambda::Function', (p) => p['Handler'] === 'api.authorizer');

    // Assess
    expect(env['PSK_SECRET_NAME']).toBe(deployed.props(secret)['Name']);
    expect(env['PSK_SECRET_NAME']).toBe(pskSecretName(PREFIX));
    expect(pskSourceFromEnv(env, {}).description).toContain(pskSecretName(PREFIX));
    expect(deployed.props(deployed.owner(deployed.resolve(deployed.props(fn)['Role'])))['RoleName']).toBe(roles.apiAuthorizerExecution);
    expect(allowed(roles.apiAuthorizerExecution, 'secretsmanager:GetSecretValue', secretArn)).toBe(true);
  });
});

describe('the EKS control-plane Lambda environment', () => {
  it('writes into the central bucket and notifies the processor queue', () => {
    // Prepare
    const processor = awsRuntimeConfigFromEnv(ExecutionMode.LAMBDA, deployed.environment('index.handler'));

    // Act
    const eks = cloudwatchIngestConfigFromEnv(deployed.environment('cloudwatch.handler'));

    // Assess
    expect(eks.sourceBucket).toBe(processor.sourceBucket);
    expect(eks.queueUrl).toBe(processor.queueUrl);
    expect(eks.ingest.tenant).toBe('kube-system');
  });
});
