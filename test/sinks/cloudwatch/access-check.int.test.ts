import { CloudWatchLogsClient, CreateLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCredentialBroker } from '../../../src/aws/credential-broker.js';
import { awsClientConfig, type AwsSettings, type CredentialBroker } from '../../../src/aws/index.js';
import { validateDeliveryConfig } from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { cloudwatchSinkDefinition } from '../../../src/sinks/cloudwatch/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import type { AccessCheckStep, SinkDeps } from '../../../src/sinks/types.js';
import { type AwsRequestProxy, startAwsRequestProxy, stsAccessDeniedFault } from '../../helpers/aws-request-proxy.js';
import { deliveryConfigFactory, randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

const CENTRAL_ACCOUNT = '111111111111';
const TENANT_ACCOUNT = '222222222222';
const OTHER_REGION = 'eu-west-1';
const lookup = createSinkRegistry([cloudwatchSinkDefinition]).lookup;

function checkAccess(config: ReturnType<typeof validateDeliveryConfig>, deps: SinkDeps): Promise<AccessCheckStep[]> {
  return cloudwatchSinkDefinition.checkAccess!(config, deps, AbortSignal.timeout(20_000));
}

describe('cloudwatch access check without AWS', () => {
  it('reports one skipped assume_role step naming the missing AWS settings', async () => {
    // Prepare
    const config = validateDeliveryConfig(
      deliveryConfigFactory({
        type: 'cloudwatch',
        directory: undefined,
        log_distribution_role_arn: `arn:aws:iam::${TENANT_ACCOUNT}:role/logs`,
        log_group_name: '/tlr/app',
      }),
      lookup,
    );

    // Act
    const steps = await checkAccess(config, { baseDir: '.', logger: silentLogger, registry: new Registry() });

    // Assess
    expect(steps).toEqual([{ step: 'assume_role', status: 'skipped', message: expect.stringContaining('no AWS settings') }]);
    expect(steps[0]!.message).toContain('AWS_REGION');
  });
});

describe.skipIf(motoUnavailable)('cloudwatch access check against moto', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  /** The router's settings: every AWS request goes through the proxy to moto. */
  let settings: AwsSettings;
  let broker: CredentialBroker;
  let centralRoleArn: string;
  /** Sets up tenant accounts directly in moto, with its own sessions (not the checked broker's cache). */
  let setupBroker: CredentialBroker;

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    proxy = await startAwsRequestProxy(moto.endpoint);
    settings = { ...moto.settings, endpoint: proxy.endpoint };
    centralRoleArn = `arn:aws:iam::${CENTRAL_ACCOUNT}:role/central-${randomId()}`;
    setupBroker = createCredentialBroker({ settings: moto.settings, centralRoleArn });
  });
  afterAll(async () => {
    await proxy?.close();
    await moto?.stop();
  });
  beforeEach(() => {
    // A fresh broker per test, so each check makes its own AssumeRole calls.
    broker = createCredentialBroker({ settings, centralRoleArn });
    proxy.clearFaults();
    proxy.calls.length = 0;
    proxy.assumeRoles.length = 0;
  });

  /**
   * Creates a log group in the tenant's account (moto keeps each account apart, as AWS does),
   * as the tenant role.
   */
  async function createLogGroup(roleArn: string, logGroupName: string, region = settings.region): Promise<void> {
    const credentials = setupBroker.forTenant({ roleArn, tenantId: 'setup', region });
    const logs = new CloudWatchLogsClient(awsClientConfig(moto.settings, { region, credentials }));
    try {
      await logs.send(new CreateLogGroupCommand({ logGroupName }));
    } finally {
      logs.destroy();
    }
  }

  function deps(credentials: CredentialBroker = broker): SinkDeps {
    return { baseDir: '.', logger: silentLogger, registry: new Registry(), aws: { settings, credentials } };
  }

  function cloudwatchConfig(fields: Record<string, unknown> = {}) {
    const roleArn = `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`;
    const logGroupName = `/tlr/${randomId()}`;
    const config = validateDeliveryConfig(
      deliveryConfigFactory({
        type: 'cloudwatch',
        directory: undefined,
        log_distribution_role_arn: roleArn,
        log_group_name: logGroupName,
        ...fields,
      }),
      lookup,
    );
    return { config, roleArn, logGroupName: String(config['log_group_name']) };
  }

  it('passes every step when the role chain works and the log group exists', async () => {
    // Prepare
    const { config, roleArn, logGroupName } = cloudwatchConfig({ external_id: 'ext-check' });
    await createLogGroup(roleArn, logGroupName);

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps.map((s) => [s.step, s.status])).toEqual([
      ['assume_role', 'ok'],
      ['describe_log_groups', 'ok'],
    ]);
    expect(steps[1]!.message).toContain(logGroupName);
    // The chain delivery uses: the central role, then the tenant role with its ExternalId.
    expect(proxy.assumeRoles.map((r) => [r['RoleArn'], r['ExternalId']])).toEqual([
      [centralRoleArn, undefined],
      [roleArn, 'ext-check'],
    ]);
    expect(proxy.calls).toContain('Logs_20140328.DescribeLogGroups');
  });

  it('fails describe_log_groups with ResourceNotFoundException when the log group is missing', async () => {
    // Prepare
    const { config, logGroupName } = cloudwatchConfig();

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[0]).toMatchObject({ step: 'assume_role', status: 'ok' });
    expect(steps[1]).toMatchObject({ step: 'describe_log_groups', status: 'failed', code: 'ResourceNotFoundException' });
    expect(steps[1]!.message).toContain(logGroupName);
    expect(steps[1]!.message).toContain('creates it on first use');
  });

  it('does not take a longer log group sharing the name as prefix for the configured one', async () => {
    // Prepare
    const { config, roleArn, logGroupName } = cloudwatchConfig();
    await createLogGroup(roleArn, `${logGroupName}-other`);

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[1]).toMatchObject({ step: 'describe_log_groups', status: 'failed', code: 'ResourceNotFoundException' });
  });

  it("looks for the log group in the config's target_region", async () => {
    // Prepare
    const { config, roleArn, logGroupName } = cloudwatchConfig({ target_region: OTHER_REGION });
    await createLogGroup(roleArn, logGroupName, OTHER_REGION);

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps.map((s) => s.status)).toEqual(['ok', 'ok']);
    expect(steps[1]!.message).toContain(OTHER_REGION);
  });

  it('fails assume_role with AccessDenied when STS refuses the tenant role (injected by the proxy)', async () => {
    // Prepare
    const { config, roleArn, logGroupName } = cloudwatchConfig();
    await createLogGroup(roleArn, logGroupName);
    proxy.inject(stsAccessDeniedFault(roleArn));

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[0]).toMatchObject({ step: 'assume_role', status: 'failed', code: 'AccessDenied' });
    expect(steps[0]!.message).toContain(roleArn);
    expect(steps[1]).toMatchObject({ step: 'describe_log_groups', status: 'skipped' });
    expect(proxy.calls).not.toContain('Logs_20140328.DescribeLogGroups');
  });

  it('fails assume_role with AccessDenied naming the central role when STS refuses it (injected by the proxy)', async () => {
    // Prepare
    const refusedCentral = `arn:aws:iam::${CENTRAL_ACCOUNT}:role/central-${randomId()}`;
    proxy.inject(stsAccessDeniedFault(refusedCentral));
    const credentials = createCredentialBroker({ settings, centralRoleArn: refusedCentral });
    const { config, roleArn } = cloudwatchConfig();

    // Act
    const steps = await checkAccess(config, deps(credentials));

    // Assess
    expect(steps[0]).toMatchObject({ step: 'assume_role', status: 'failed', code: 'AccessDenied' });
    expect(steps[0]!.message).toContain(refusedCentral);
    expect(proxy.assumeRoles.map((r) => r['RoleArn'])).not.toContain(roleArn);
  });
});
