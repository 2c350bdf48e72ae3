import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../src/domain/errors.js';
import { silentLogger } from '../../src/logging/logger.js';
import {
  GATEWAY_DATABASE_FILE,
  type IngestGateway,
  type IngestGatewayOptions,
  startIngestGateway,
} from '../../src/runtimes/ingest-gateway.js';
import { randomId } from '../helpers/factories.js';
import { caught } from '../helpers/rejection.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const TOKEN = { id: 'ci', token: 'gateway-token-0123456789', clusterId: 'c1', namespaces: ['*'] };
/** An endpoint nothing answers on: these tests never reach S3 (nothing is buffered). */
const NO_AWS = { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_REGION: 'us-east-1' };
const gateways: IngestGateway[] = [];

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
  await removeTempDirs();
});

async function options(overrides: Partial<IngestGatewayOptions>): Promise<IngestGatewayOptions> {
  return {
    dataDir: await makeTempDir('tlr-gateway-settings-'),
    port: 0,
    logger: silentLogger,
    registry: new Registry(),
    tokens: [TOKEN],
    env: { ...NO_AWS, SOURCE_BUCKET: `central-${randomId()}` },
    ...overrides,
  };
}

const SHARED_KEY = 'forward-shared-key-0123456789';

describe('startIngestGateway settings', () => {
  it.each([
    ['SOURCE_BUCKET is unset', { env: NO_AWS }, 'SOURCE_BUCKET', 'is required (the central bucket'],
    ['--forward has no key', { forward: {} }, 'TLR_FORWARD_SHARED_KEY', 'or --forward-auth is required with --forward'],
    [
      'the Forward key is too short',
      { forward: {}, clusterId: 'c1', env: { SOURCE_BUCKET: 'b', TLR_FORWARD_SHARED_KEY: 'short' } },
      'TLR_FORWARD_SHARED_KEY',
      'must be at least',
    ],
    [
      'the Forward key has no cluster',
      { forward: {}, env: { SOURCE_BUCKET: 'b', TLR_FORWARD_SHARED_KEY: SHARED_KEY } },
      'TLR_FORWARD_SHARED_KEY',
      'needs --cluster-id',
    ],
    [
      'the --forward-auth file has no shared key',
      { forward: { auth: { cluster_id: 'c1', namespaces: ['*'] } } },
      '--forward-auth',
      "must set 'shared_key'",
    ],
    [
      'TLR_INGEST_TOKEN has no cluster',
      { tokens: [], env: { SOURCE_BUCKET: 'b', TLR_INGEST_TOKEN: 'gateway-token-0123456789' } },
      'TLR_INGEST_TOKEN',
      'needs --cluster-id',
    ],
    [
      'TLR_INGEST_TOKEN is too short',
      { tokens: [], clusterId: 'c1', env: { SOURCE_BUCKET: 'b', TLR_INGEST_TOKEN: 'short' } },
      'TLR_INGEST_TOKEN',
      'must be at least 16 characters',
    ],
    ['no token is given', { tokens: [] }, '--tokens-file', 'or TLR_INGEST_TOKEN with --cluster-id is required'],
    ['the cluster id is the router\'s own', { clusterId: '_router' }, '--cluster-id', "not starting with '_'"],
  ] as const)('refuses to start when %s, naming it, before opening the data directory', async (_case, overrides, field, message) => {
    // Prepare
    const settings = await options(overrides as Partial<IngestGatewayOptions>);

    // Act
    const error = await caught(startIngestGateway(settings));

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    const fieldError = (error as ConfigValidationError).fieldErrors.find((e) => e.field === field);
    expect(fieldError?.message).toContain(message);
    expect(existsSync(join(settings.dataDir, GATEWAY_DATABASE_FILE))).toBe(false);
  });

  it('accepts TLR_INGEST_TOKEN bound to --cluster-id alone', async () => {
    // Prepare
    const settings = await options({
      tokens: [],
      clusterId: 'c1',
      env: { ...NO_AWS, SOURCE_BUCKET: 'b', TLR_INGEST_TOKEN: 'gateway-token-0123456789' },
    });

    // Act
    const gateway = await startIngestGateway(settings);
    gateways.push(gateway);

    // Assess
    expect(gateway.tokenIds).toEqual(['env']);
    expect(gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('reports itself healthy on the health route while its buffer answers', async () => {
    // Prepare
    const gateway = await startIngestGateway(await options({}));
    gateways.push(gateway);

    // Act
    const response = await fetch(`${gateway.url}/api/v1/health`);

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'healthy', checks: { buffer: { status: 'ok' } } });
  });

  it('serves no delivery-config API', async () => {
    // Prepare
    const gateway = await startIngestGateway(await options({}));
    gateways.push(gateway);

    // Act
    const response = await fetch(`${gateway.url}/api/v1/delivery-configs`);

    // Assess
    expect(response.status).toBe(404);
  });
});
