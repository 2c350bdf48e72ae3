import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCredentialBroker } from '../../../src/aws/credential-broker.js';
import { awsClientConfig, type AwsSettings, type CredentialBroker } from '../../../src/aws/index.js';
import { validateDeliveryConfig } from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import { s3SinkDefinition } from '../../../src/sinks/s3/index.js';
import type { AccessCheckStep, SinkDeps } from '../../../src/sinks/types.js';
import {
  type AwsRequestProxy,
  type ProxiedRequest,
  startAwsRequestProxy,
  stsAccessDeniedFault,
} from '../../helpers/aws-request-proxy.js';
import { deliveryConfigFactory, randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

const CENTRAL_ACCOUNT = '111111111111';
const OTHER_REGION = 'eu-west-1';
const lookup = createSinkRegistry([s3SinkDefinition]).lookup;

function s3Config(bucket: string, overrides: Record<string, unknown> = {}) {
  return validateDeliveryConfig(deliveryConfigFactory({ type: 's3', directory: undefined, bucket_name: bucket, ...overrides }), lookup);
}

function checkAccess(config: ReturnType<typeof validateDeliveryConfig>, deps: SinkDeps): Promise<AccessCheckStep[]> {
  return s3SinkDefinition.checkAccess!(config, deps, AbortSignal.timeout(20_000));
}

/** The proxy's record of a HeadBucket of `bucket` (path-style, as the SDK sends it: `/bucket/`). */
const headBucketCall = (bucket: string) => `HEAD /${bucket}/`;

/** Matches HeadBucket of `bucket`, signed for `region` when given. */
function isHeadBucket(bucket: string, region?: string) {
  return (request: ProxiedRequest): boolean =>
    request.method === 'HEAD' &&
    request.url.split('?')[0]!.replace(/\/$/, '') === `/${bucket}` &&
    (region === undefined || String(request.headers['authorization']).includes(`/${region}/s3/`));
}

describe('s3 access check without AWS', () => {
  it('reports one skipped assume_role step naming the missing AWS settings', async () => {
    // Prepare
    const config = s3Config(`tenant-${randomId()}`);

    // Act
    const steps = await checkAccess(config, { baseDir: '.', logger: silentLogger, registry: new Registry() });

    // Assess
    expect(steps).toEqual([{ step: 'assume_role', status: 'skipped', message: expect.stringContaining('no AWS settings') }]);
  });
});

describe.skipIf(motoUnavailable)('s3 access check against moto', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  /** The router's settings: every AWS request goes through the proxy to moto. */
  let settings: AwsSettings;
  let broker: CredentialBroker;
  let centralRoleArn: string;
  let admin: S3Client;
  let adminEu: S3Client;

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    proxy = await startAwsRequestProxy(moto.endpoint);
    settings = { ...moto.settings, endpoint: proxy.endpoint };
    centralRoleArn = `arn:aws:iam::${CENTRAL_ACCOUNT}:role/central-${randomId()}`;
    admin = new S3Client(awsClientConfig(moto.settings, { s3: true }));
    adminEu = new S3Client(awsClientConfig(moto.settings, { s3: true, region: OTHER_REGION }));
  });
  afterAll(async () => {
    admin?.destroy();
    adminEu?.destroy();
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

  function deps(credentials: CredentialBroker = broker): SinkDeps {
    return { baseDir: '.', logger: silentLogger, registry: new Registry(), aws: { settings, credentials } };
  }

  async function createBucket(client: S3Client = admin, region?: string): Promise<string> {
    const bucket = `tenant-${randomId()}`;
    await client.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(region !== undefined && { CreateBucketConfiguration: { LocationConstraint: region as 'eu-west-1' } }),
      }),
    );
    return bucket;
  }

  it('passes every step as the central role, the role the copies are made with, when the bucket exists', async () => {
    // Prepare
    const bucket = await createBucket();

    // Act
    const steps = await checkAccess(s3Config(bucket), deps());

    // Assess
    expect(steps.map((s) => [s.step, s.status])).toEqual([
      ['assume_role', 'ok'],
      ['head_bucket', 'ok'],
    ]);
    expect(steps[1]!.message).toContain(bucket);
    // Only the central role: the s3 sink never assumes a tenant role.
    expect(proxy.assumeRoles.map((r) => r['RoleArn'])).toEqual([centralRoleArn]);
    expect(proxy.calls).toContain(headBucketCall(bucket));
  });

  it('fails head_bucket with NoSuchBucket when the bucket does not exist', async () => {
    // Prepare
    const bucket = `missing-${randomId()}`;

    // Act
    const steps = await checkAccess(s3Config(bucket), deps());

    // Assess
    expect(steps[0]).toMatchObject({ step: 'assume_role', status: 'ok' });
    expect(steps[1]).toMatchObject({ step: 'head_bucket', status: 'failed', code: 'NoSuchBucket' });
    expect(steps[1]!.message).toContain(bucket);
  });

  it("asks for the bucket in the config's target_region", async () => {
    // Prepare
    const bucket = await createBucket(adminEu, OTHER_REGION);

    // Act
    const steps = await checkAccess(s3Config(bucket, { target_region: OTHER_REGION }), deps());

    // Assess
    expect(steps.map((s) => s.status)).toEqual(['ok', 'ok']);
    expect(steps[1]!.message).toContain(OTHER_REGION);
  });

  it('follows S3 once to the region it names for the bucket (redirect injected by the proxy)', async () => {
    // Prepare
    const bucket = await createBucket(adminEu, OTHER_REGION);
    proxy.inject({
      match: isHeadBucket(bucket, 'us-east-1'),
      status: 301,
      contentType: 'application/xml',
      body: '',
      headers: { 'x-amz-bucket-region': OTHER_REGION },
    });

    // Act
    const steps = await checkAccess(s3Config(bucket), deps());

    // Assess
    expect(steps[1]).toMatchObject({ step: 'head_bucket', status: 'ok' });
    expect(steps[1]!.message).toContain(OTHER_REGION);
    expect(proxy.calls.filter((call) => call === headBucketCall(bucket))).toHaveLength(2);
  });

  it('fails head_bucket with AccessDenied when S3 refuses the central role (injected by the proxy)', async () => {
    // Prepare
    const bucket = await createBucket();
    proxy.inject({ match: isHeadBucket(bucket), status: 403, contentType: 'application/xml', body: '' });

    // Act
    const steps = await checkAccess(s3Config(bucket), deps());

    // Assess
    expect(steps[1]).toMatchObject({ step: 'head_bucket', status: 'failed', code: 'AccessDenied' });
    expect(steps[1]!.message).toContain('s3:PutObject');
  });

  it('fails assume_role with AccessDenied when STS refuses the central role (injected by the proxy)', async () => {
    // Prepare
    const bucket = await createBucket();
    proxy.inject(stsAccessDeniedFault(centralRoleArn));

    // Act
    const steps = await checkAccess(s3Config(bucket), deps());

    // Assess
    expect(steps[0]).toMatchObject({ step: 'assume_role', status: 'failed', code: 'AccessDenied' });
    expect(steps[0]!.message).toContain(centralRoleArn);
    expect(steps[1]).toMatchObject({ step: 'head_bucket', status: 'skipped' });
    expect(proxy.calls).not.toContain(headBucketCall(bucket));
  });
});
