import { CreateStreamCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  awsClientConfig,
  type AwsSettings,
  createCredentialBroker,
  type CredentialBroker,
} from '../../../src/aws/index.js';
import { validateDeliveryConfig } from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { kinesisSinkDefinition } from '../../../src/sinks/kinesis/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import type { AccessCheckStep, SinkDeps } from '../../../src/sinks/types.js';
import { type AwsRequestProxy, startAwsRequestProxy, stsAccessDeniedFault } from '../../helpers/aws-request-proxy.js';
import { deliveryConfigFactory, randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

const CENTRAL_ACCOUNT = '111111111111';
const TENANT_ACCOUNT = '222222222222';
const OTHER_REGION = 'eu-west-1';
const lookup = createSinkRegistry([kinesisSinkDefinition]).lookup;

function checkAccess(config: ReturnType<typeof validateDeliveryConfig>, deps: SinkDeps): Promise<AccessCheckStep[]> {
  return kinesisSinkDefinition.checkAccess!(config, deps, AbortSignal.timeout(20_000));
}

function kinesisConfig(fields: Record<string, unknown> = {}) {
  return validateDeliveryConfig(
    deliveryConfigFactory({
      type: 'kinesis',
      directory: undefined,
      log_distribution_role_arn: `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`,
      stream_name: `logs-${randomId()}`,
      ...fields,
    }),
    lookup,
  );
}

describe('kinesis access check without AWS', () => {
  it('reports one skipped assume_role step naming the missing AWS settings', async () => {
    // Prepare
    const config = kinesisConfig();

    // Act
    const steps = await checkAccess(config, { baseDir: '.', logger: silentLogger, registry: new Registry() });

    // Assess
    expect(steps).toEqual([{ step: 'assume_role', status: 'skipped', message: expect.stringContaining('no AWS settings') }]);
    expect(steps[0]!.message).toContain(String(config['stream_name']));
  });
});

describe.skipIf(motoUnavailable)('kinesis access check against moto', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  let settings: AwsSettings;
  let broker: CredentialBroker;
  let centralRoleArn: string;
  /** Sets up tenant streams directly in moto, with its own sessions (not the checked broker's cache). */
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

  async function createStream(roleArn: string, streamName: string, region = settings.region): Promise<void> {
    const credentials = setupBroker.forTenant({ roleArn, tenantId: 'setup', region });
    const kinesis = new KinesisClient(awsClientConfig(moto.settings, { region, credentials }));
    try {
      await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
    } finally {
      kinesis.destroy();
    }
  }

  function deps(credentials: CredentialBroker = broker): SinkDeps {
    return { baseDir: '.', logger: silentLogger, registry: new Registry(), aws: { settings, credentials } };
  }

  it('passes every step when the role chain works and every stream exists', async () => {
    // Prepare
    const audit = `audit-${randomId()}`;
    const config = kinesisConfig({ external_id: 'ext-check', streams: { audit } });
    const roleArn = String(config['log_distribution_role_arn']);
    await createStream(roleArn, String(config['stream_name']));
    await createStream(roleArn, audit);

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps.map((s) => [s.step, s.status])).toEqual([
      ['assume_role', 'ok'],
      ['describe_stream_summary', 'ok'],
    ]);
    expect(steps[1]!.message).toContain(audit);
    expect(proxy.assumeRoles.map((r) => [r['RoleArn'], r['ExternalId']])).toEqual([
      [centralRoleArn, undefined],
      [roleArn, 'ext-check'],
    ]);
    expect(proxy.calls.filter((c) => c === 'Kinesis_20131202.DescribeStreamSummary')).toHaveLength(2);
  });

  it("finds a stream given by ARN in the ARN's region", async () => {
    // Prepare
    const streamName = `logs-${randomId()}`;
    const config = kinesisConfig({
      stream_name: undefined,
      stream_arn: `arn:aws:kinesis:${OTHER_REGION}:${TENANT_ACCOUNT}:stream/${streamName}`,
    });
    await createStream(String(config['log_distribution_role_arn']), streamName, OTHER_REGION);

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps.map((s) => s.status)).toEqual(['ok', 'ok']);
    expect(steps[1]!.message).toContain(OTHER_REGION);
  });

  it('fails describe_stream_summary with ResourceNotFoundException naming the missing category stream', async () => {
    // Prepare
    const missing = `missing-${randomId()}`;
    const config = kinesisConfig({ streams: { infrastructure: missing } });
    await createStream(String(config['log_distribution_role_arn']), String(config['stream_name']));

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[1]).toMatchObject({ step: 'describe_stream_summary', status: 'failed', code: 'ResourceNotFoundException' });
    expect(steps[1]!.message).toContain(missing);
  });

  it('fails describe_stream_summary with StreamNotActive when a stream is still CREATING (answer rewritten by the proxy)', async () => {
    // Prepare
    const config = kinesisConfig();
    await createStream(String(config['log_distribution_role_arn']), String(config['stream_name']));
    proxy.rewrite({
      match: (request) => request.target === 'Kinesis_20131202.DescribeStreamSummary',
      request: (body) => body,
      response: (answer) => {
        const parsed = JSON.parse(answer!.toString()) as { StreamDescriptionSummary: Record<string, unknown> };
        parsed.StreamDescriptionSummary['StreamStatus'] = 'CREATING';
        return Buffer.from(JSON.stringify(parsed));
      },
    });

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[1]).toMatchObject({ step: 'describe_stream_summary', status: 'failed', code: 'StreamNotActive' });
    expect(steps[1]!.message).toContain('is CREATING');
  });

  it('fails assume_role with AccessDenied when STS refuses the tenant role (injected by the proxy)', async () => {
    // Prepare
    const config = kinesisConfig();
    const roleArn = String(config['log_distribution_role_arn']);
    proxy.inject(stsAccessDeniedFault(roleArn));

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[0]).toMatchObject({ step: 'assume_role', status: 'failed', code: 'AccessDenied' });
    expect(steps[0]!.message).toContain(roleArn);
    expect(steps[1]).toMatchObject({ step: 'describe_stream_summary', status: 'skipped' });
    expect(proxy.calls).not.toContain('Kinesis_20131202.DescribeStreamSummary');
  });
});
