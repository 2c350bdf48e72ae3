import { CreateDeliveryStreamCommand, FirehoseClient } from '@aws-sdk/client-firehose';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
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
import { firehoseSinkDefinition } from '../../../src/sinks/firehose/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import type { AccessCheckStep, SinkDeps } from '../../../src/sinks/types.js';
import { type AwsRequestProxy, startAwsRequestProxy, stsAccessDeniedFault } from '../../helpers/aws-request-proxy.js';
import { deliveryConfigFactory, randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

const CENTRAL_ACCOUNT = '111111111111';
const TENANT_ACCOUNT = '222222222222';
const lookup = createSinkRegistry([firehoseSinkDefinition]).lookup;

function checkAccess(config: ReturnType<typeof validateDeliveryConfig>, deps: SinkDeps): Promise<AccessCheckStep[]> {
  return firehoseSinkDefinition.checkAccess!(config, deps, AbortSignal.timeout(20_000));
}

function firehoseConfig(fields: Record<string, unknown> = {}) {
  return validateDeliveryConfig(
    deliveryConfigFactory({
      type: 'firehose',
      directory: undefined,
      log_distribution_role_arn: `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`,
      delivery_stream_name: `logs-${randomId()}`,
      ...fields,
    }),
    lookup,
  );
}

describe('firehose access check without AWS', () => {
  it('reports one skipped assume_role step naming the missing AWS settings', async () => {
    // Prepare
    const config = firehoseConfig();

    // Act
    const steps = await checkAccess(config, { baseDir: '.', logger: silentLogger, registry: new Registry() });

    // Assess
    expect(steps).toEqual([{ step: 'assume_role', status: 'skipped', message: expect.stringContaining('no AWS settings') }]);
    expect(steps[0]!.message).toContain(String(config['delivery_stream_name']));
  });
});

describe.skipIf(motoUnavailable)('firehose access check against moto', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  let settings: AwsSettings;
  let broker: CredentialBroker;
  let centralRoleArn: string;
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
    broker = createCredentialBroker({ settings, centralRoleArn });
    proxy.clearFaults();
    proxy.calls.length = 0;
    proxy.assumeRoles.length = 0;
  });

  /** A Direct PUT Firehose stream to a new bucket, both in the tenant's account. */
  async function createDeliveryStream(roleArn: string, name: string): Promise<void> {
    const credentials = setupBroker.forTenant({ roleArn, tenantId: 'setup', region: settings.region });
    const bucket = `firehose-${randomId()}`;
    const s3 = new S3Client(awsClientConfig(moto.settings, { credentials, s3: true }));
    const firehose = new FirehoseClient(awsClientConfig(moto.settings, { credentials }));
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await firehose.send(
        new CreateDeliveryStreamCommand({
          DeliveryStreamName: name,
          DeliveryStreamType: 'DirectPut',
          S3DestinationConfiguration: { RoleARN: roleArn, BucketARN: `arn:aws:s3:::${bucket}` },
        }),
      );
    } finally {
      s3.destroy();
      firehose.destroy();
    }
  }

  function deps(credentials: CredentialBroker = broker): SinkDeps {
    return { baseDir: '.', logger: silentLogger, registry: new Registry(), aws: { settings, credentials } };
  }

  it('passes every step when the role chain works and the Firehose stream is active', async () => {
    // Prepare
    const config = firehoseConfig({ external_id: 'ext-check' });
    const roleArn = String(config['log_distribution_role_arn']);
    await createDeliveryStream(roleArn, String(config['delivery_stream_name']));

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps.map((s) => [s.step, s.status])).toEqual([
      ['assume_role', 'ok'],
      ['describe_delivery_stream', 'ok'],
    ]);
    expect(proxy.assumeRoles.map((r) => [r['RoleArn'], r['ExternalId']])).toEqual([
      [centralRoleArn, undefined],
      [roleArn, 'ext-check'],
    ]);
    expect(proxy.calls).toContain('Firehose_20150804.DescribeDeliveryStream');
  });

  it('fails describe_delivery_stream with ResourceNotFoundException when the stream is missing', async () => {
    // Prepare
    const config = firehoseConfig();

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[0]).toMatchObject({ step: 'assume_role', status: 'ok' });
    expect(steps[1]).toMatchObject({ step: 'describe_delivery_stream', status: 'failed', code: 'ResourceNotFoundException' });
    expect(steps[1]!.message).toContain(String(config['delivery_stream_name']));
  });

  it.each([
    ['is still CREATING', { DeliveryStreamStatus: 'CREATING' }, 'StreamNotActive', 'is CREATING'],
    ['reads from a Kinesis stream', { DeliveryStreamType: 'KinesisStreamAsSource' }, 'InvalidSourceException', 'refuses records put directly'],
  ])('fails describe_delivery_stream when the stream %s (answer rewritten by the proxy)', async (_case, change, code, text) => {
    // Prepare
    const config = firehoseConfig();
    await createDeliveryStream(String(config['log_distribution_role_arn']), String(config['delivery_stream_name']));
    proxy.rewrite({
      match: (request) => request.target === 'Firehose_20150804.DescribeDeliveryStream',
      request: (body) => body,
      response: (answer) => {
        const parsed = JSON.parse(answer!.toString()) as { DeliveryStreamDescription: Record<string, unknown> };
        Object.assign(parsed.DeliveryStreamDescription, change);
        return Buffer.from(JSON.stringify(parsed));
      },
    });

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[1]).toMatchObject({ step: 'describe_delivery_stream', status: 'failed', code });
    expect(steps[1]!.message).toContain(text);
  });

  it('fails assume_role with AccessDenied when STS refuses the tenant role (injected by the proxy)', async () => {
    // Prepare
    const config = firehoseConfig();
    const roleArn = String(config['log_distribution_role_arn']);
    proxy.inject(stsAccessDeniedFault(roleArn));

    // Act
    const steps = await checkAccess(config, deps());

    // Assess
    expect(steps[0]).toMatchObject({ step: 'assume_role', status: 'failed', code: 'AccessDenied' });
    expect(steps[1]).toMatchObject({ step: 'describe_delivery_stream', status: 'skipped' });
    expect(proxy.calls).not.toContain('Firehose_20150804.DescribeDeliveryStream');
  });
});
