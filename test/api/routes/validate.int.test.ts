import { CloudWatchLogsClient, CreateLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCredentialBroker, roleSessionNameFor } from '../../../src/aws/credential-broker.js';
import { awsClientConfig, type AwsSettings, type CredentialBroker } from '../../../src/aws/index.js';
import type { DeliveryConfig } from '../../../src/domain/delivery-config.js';
import {
  apiPath,
  type ConfigApiServer,
  configBodyFactory,
  expectApiError,
  type OpenConfigApiStores,
  sqliteConfigApiBackend,
  startConfigApiServer,
  tenantIdFactory,
} from '../../helpers/api.js';
import { type AwsRequestProxy, startAwsRequestProxy, stsAccessDeniedFault } from '../../helpers/aws-request-proxy.js';
import { randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

/**
 * `GET /tenants/{tenant}/delivery-configs/{type}/validate` over real HTTP against the real app
 * whose sinks get AWS settings pointing (through the request proxy) at a moto server of this
 * file's own, so the live check runs through the route: the role chain, then the target.
 * Configs are created through the API; every test uses its own tenant, role, group or bucket.
 */

const CENTRAL_ACCOUNT = '111111111111';
const TENANT_ACCOUNT = '222222222222';
const DESCRIBE_LOG_GROUPS = 'Logs_20140328.DescribeLogGroups';

describe.skipIf(motoUnavailable)('GET /tenants/{tenant}/delivery-configs/{type}/validate against moto', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  /** The router's settings: every AWS request of the app goes through the proxy to moto. */
  let settings: AwsSettings;
  let centralRoleArn: string;
  /** Sets up tenant accounts directly in moto, with its own sessions (not the app's broker cache). */
  let setupBroker: CredentialBroker;
  let admin: S3Client;
  let stores: OpenConfigApiStores;
  let api: ConfigApiServer;

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    proxy = await startAwsRequestProxy(moto.endpoint);
    settings = { ...moto.settings, endpoint: proxy.endpoint };
    centralRoleArn = `arn:aws:iam::${CENTRAL_ACCOUNT}:role/central-${randomId()}`;
    setupBroker = createCredentialBroker({ settings: moto.settings, centralRoleArn });
    admin = new S3Client(awsClientConfig(moto.settings, { s3: true }));
    stores = await sqliteConfigApiBackend().open();
    api = await startConfigApiServer(stores, {
      aws: { settings, credentials: createCredentialBroker({ settings, centralRoleArn }) },
    });
  });
  afterAll(async () => {
    await api?.close();
    await stores?.close();
    admin?.destroy();
    await proxy?.close();
    await moto?.stop();
  });
  afterEach(() => {
    proxy.clearFaults();
    expect(api.takeServerErrors()).toEqual([]);
  });

  /** A tenant role in the tenant account, unique to the calling test (so no cached session). */
  function tenantRoleArn(): string {
    return `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`;
  }

  /** Creates a log group in the tenant's account as the tenant role (moto keeps accounts apart, as AWS does). */
  async function createLogGroup(roleArn: string, logGroupName: string): Promise<void> {
    const credentials = setupBroker.forTenant({ roleArn, tenantId: 'setup', region: settings.region });
    const logs = new CloudWatchLogsClient(awsClientConfig(moto.settings, { credentials }));
    try {
      await logs.send(new CreateLogGroupCommand({ logGroupName }));
    } finally {
      logs.destroy();
    }
  }

  async function createBucket(): Promise<string> {
    const bucket = `tenant-${randomId()}`;
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    return bucket;
  }

  /** Creates a config through the API, asserting 201. */
  async function created(tenant: string, body: Record<string, unknown>): Promise<void> {
    const response = await api.call('POST', apiPath.configs(tenant), body);
    expect(response.status, response.text).toBe(201);
  }

  /** The AssumeRole requests the app's live check made for `tenant` (its role session name). */
  function tenantAssumeRoles(tenant: string): Record<string, string>[] {
    return proxy.assumeRoles.filter((r) => r['RoleSessionName'] === roleSessionNameFor(tenant));
  }

  it('reports a cloudwatch config valid when its role chain and log group exist', async () => {
    // Prepare
    const tenant = tenantIdFactory();
    const roleArn = tenantRoleArn();
    const logGroupName = `/tlr/${randomId()}`;
    await createLogGroup(roleArn, logGroupName);
    await created(tenant, configBodyFactory('cloudwatch', { log_distribution_role_arn: roleArn, log_group_name: logGroupName }));
    const callsBefore = proxy.calls.length;

    // Act
    const response = await api.call('GET', apiPath.validate(tenant, 'cloudwatch'));

    // Assess
    expect(response.status, response.text).toBe(200);
    expect(response.body).toEqual({
      tenant_id: tenant,
      type: 'cloudwatch',
      valid: true,
      field_errors: [],
      steps: [
        { step: 'assume_role', status: 'ok', message: expect.any(String) },
        { step: 'describe_log_groups', status: 'ok', message: expect.stringContaining(logGroupName) },
      ],
    });
    // The chain delivery uses: the tenant role assumed with the central account as ExternalId.
    expect(tenantAssumeRoles(tenant).map((r) => [r['RoleArn'], r['ExternalId']])).toEqual([[roleArn, CENTRAL_ACCOUNT]]);
    expect(proxy.calls.slice(callsBefore)).toContain(DESCRIBE_LOG_GROUPS);
  });

  it('reports a cloudwatch config invalid with ResourceNotFoundException when its log group is missing', async () => {
    // Prepare
    const tenant = tenantIdFactory();
    const logGroupName = `/tlr/missing-${randomId()}`;
    await created(tenant, configBodyFactory('cloudwatch', { log_distribution_role_arn: tenantRoleArn(), log_group_name: logGroupName }));

    // Act
    const response = await api.call('GET', apiPath.validate(tenant, 'cloudwatch'));

    // Assess
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({
      valid: false,
      field_errors: [],
      steps: [
        { step: 'assume_role', status: 'ok' },
        { step: 'describe_log_groups', status: 'failed', code: 'ResourceNotFoundException' },
      ],
    });
    expect(response.body.steps[1].message).toContain(logGroupName);
  });

  it('reports an s3 config invalid with NoSuchBucket when its bucket is missing', async () => {
    // Prepare
    const tenant = tenantIdFactory();
    const bucket = `missing-${randomId()}`;
    await created(tenant, configBodyFactory('s3', { bucket_name: bucket }));

    // Act
    const response = await api.call('GET', apiPath.validate(tenant, 's3'));

    // Assess
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({
      tenant_id: tenant,
      type: 's3',
      valid: false,
      field_errors: [],
      steps: [
        { step: 'assume_role', status: 'ok' },
        { step: 'head_bucket', status: 'failed', code: 'NoSuchBucket' },
      ],
    });
    expect(response.body.steps[1].message).toContain(bucket);
  });

  it('reports an s3 config valid when its bucket exists', async () => {
    // Prepare
    const tenant = tenantIdFactory();
    const bucket = await createBucket();
    await created(tenant, configBodyFactory('s3', { bucket_name: bucket }));
    const callsBefore = proxy.calls.length;

    // Act
    const response = await api.call('GET', apiPath.validate(tenant, 's3'));

    // Assess
    expect(response.status, response.text).toBe(200);
    expect(response.body).toEqual({
      tenant_id: tenant,
      type: 's3',
      valid: true,
      field_errors: [],
      steps: [
        { step: 'assume_role', status: 'ok', message: expect.any(String) },
        { step: 'head_bucket', status: 'ok', message: expect.stringContaining(bucket) },
      ],
    });
    expect(proxy.calls.slice(callsBefore)).toContain(`HEAD /${bucket}/`);
  });

  it('fails assume_role with AccessDenied and skips the rest when STS refuses the tenant role (injected by the proxy)', async () => {
    // Prepare
    const tenant = tenantIdFactory();
    const roleArn = tenantRoleArn();
    const logGroupName = `/tlr/${randomId()}`;
    await createLogGroup(roleArn, logGroupName);
    await created(tenant, configBodyFactory('cloudwatch', { log_distribution_role_arn: roleArn, log_group_name: logGroupName }));
    proxy.inject(stsAccessDeniedFault(roleArn));
    const callsBefore = proxy.calls.length;

    // Act
    const response = await api.call('GET', apiPath.validate(tenant, 'cloudwatch'));

    // Assess
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({
      valid: false,
      field_errors: [],
      steps: [
        { step: 'assume_role', status: 'failed', code: 'AccessDenied' },
        { step: 'describe_log_groups', status: 'skipped' },
      ],
    });
    expect(response.body.steps).toHaveLength(2);
    expect(response.body.steps[0].message).toContain(roleArn);
    expect(proxy.calls.slice(callsBefore)).not.toContain(DESCRIBE_LOG_GROUPS);
  });

  it('reports the field errors of a stored row that does not validate, without a live check', async () => {
    // Prepare
    const tenant = tenantIdFactory();
    const row: DeliveryConfig = {
      tenant_id: tenant,
      type: 'cloudwatch',
      enabled: true,
      desired_logs: [],
      groups: [],
      log_distribution_role_arn: 'not-a-role-arn',
      log_group_name: 'no spaces allowed',
    };
    await stores.configs.put(row);

    // Act
    const response = await api.call('GET', apiPath.validate(tenant, 'cloudwatch'));

    // Assess
    expect(response.status, response.text).toBe(200);
    expect(response.body).toEqual({
      tenant_id: tenant,
      type: 'cloudwatch',
      valid: false,
      field_errors: expect.arrayContaining([
        { field: 'log_distribution_role_arn', message: expect.any(String) },
        { field: 'log_group_name', message: expect.any(String) },
      ]),
      steps: [],
    });
    expect(tenantAssumeRoles(tenant)).toEqual([]);
  });

  it('answers 404 not_found when validating a config that does not exist', async () => {
    // Act
    const response = await api.call('GET', apiPath.validate(tenantIdFactory(), 'cloudwatch'));

    // Assess
    expectApiError(response, 404, 'not_found');
  });
});
