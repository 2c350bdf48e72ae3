import { buffer as readAll } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../src/aws/index.js';
import { parseObjectKey } from '../../src/domain/object-key.js';
import { silentLogger } from '../../src/logging/logger.js';
import { type IngestGateway, type IngestGatewayOptions, startIngestGateway } from '../../src/runtimes/ingest-gateway.js';
import { createS3ObjectStore } from '../../src/stores/aws/s3-object-store.js';
import { type AwsRequestProxy, startAwsRequestProxy } from '../helpers/aws-request-proxy.js';
import { randomId } from '../helpers/factories.js';
import { metricValue } from '../helpers/metrics.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../helpers/moto.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';
import { chunkId, compressedFrame, connectForward, entryBytes, fluentdRecord } from '../ingest/forward/forward-client.js';
import { eventually } from '../ingest/forward/harness.js';

/** Small batch ages, so objects are written within a test. */
const FAST_INGEST = { maxBatchAgeMs: 100, flushIntervalMs: 50 } as const;
const FILE_NAME = /^\d{8}-\d{6}-[0-9a-f-]{36}\.json\.gz$/;

interface StoredObject {
  readonly key: string;
  readonly lines: Record<string, unknown>[];
}

describe.skipIf(motoUnavailable)('startIngestGateway against moto S3', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  let s3: S3Client;
  const gateways: IngestGateway[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    proxy = await startAwsRequestProxy(moto.endpoint);
    s3 = new S3Client(awsClientConfig(moto.settings, { s3: true }));
  });

  afterAll(async () => {
    s3?.destroy();
    await proxy?.close();
    await moto?.stop();
  });

  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
    await removeTempDirs();
  });

  async function createBucket(): Promise<string> {
    const bucket = `central-${randomId()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return bucket;
  }

  function gatewayEnv(bucket: string, endpoint = proxy.endpoint): NodeJS.ProcessEnv {
    return { SOURCE_BUCKET: bucket, AWS_ENDPOINT_URL: endpoint, AWS_S3_USE_PATH_STYLE: 'true', AWS_REGION: 'us-east-1' };
  }

  async function startGateway(overrides: Partial<IngestGatewayOptions> & { env: NodeJS.ProcessEnv }): Promise<IngestGateway> {
    const gateway = await startIngestGateway({
      dataDir: await makeTempDir('tlr-gateway-'),
      port: 0,
      logger: silentLogger,
      registry: new Registry(),
      ingest: FAST_INGEST,
      ...overrides,
    });
    gateways.push(gateway);
    return gateway;
  }

  async function readBucket(bucket: string): Promise<StoredObject[]> {
    const store = createS3ObjectStore({ client: s3, bucket });
    const objects: StoredObject[] = [];
    for await (const info of store.list()) {
      const { body } = await store.get(info.key);
      const text = gunzipSync(await readAll(body)).toString('utf8');
      objects.push({ key: info.key, lines: text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) });
    }
    return objects;
  }

  async function eventsIn(bucket: string): Promise<number> {
    return (await readBucket(bucket).catch(() => [])).reduce((n, o) => n + o.lines.length, 0);
  }

  function postNdjson(gateway: IngestGateway, token: string, events: readonly Record<string, unknown>[]): Promise<Response> {
    return fetch(`${gateway.url}/api/v1/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      body: events.map((e) => JSON.stringify(e)).join('\n'),
    });
  }

  function podEvents(namespace: string, count: number): Record<string, unknown>[] {
    return Array.from({ length: count }, (_, i) => ({
      message: `line ${i}`,
      timestamp: new Date().toISOString(),
      namespace,
      application: 'billing-api',
      pod_name: 'billing-api-7d9f-x2',
    }));
  }

  function tokenFor(clusterId: string, namespaces: string[]) {
    return { id: `ci-${randomId()}`, token: `token-${randomId()}-${randomId()}`, clusterId, namespaces };
  }

  it('writes HTTP NDJSON sent with a valid token as a gzip NDJSON object at the central key layout', async () => {
    // Prepare
    const bucket = await createBucket();
    const clusterId = `cluster-${randomId()}`;
    const tenant = `acme-${randomId()}`;
    const token = tokenFor(clusterId, [tenant]);
    const gateway = await startGateway({ env: gatewayEnv(bucket), tokens: [token] });
    const events = podEvents(tenant, 3);

    // Act
    const response = await postNdjson(gateway, token.token, events);
    await eventually(async () => (await eventsIn(bucket)) >= 3, 10_000);

    // Assess
    expect(response.status).toBe(200);
    const objects = await readBucket(bucket);
    expect(objects).toHaveLength(1);
    expect(parseObjectKey(objects[0]!.key)).toMatchObject({
      kind: 'log',
      clusterId,
      tenantId: tenant,
      application: 'billing-api',
      podName: 'billing-api-7d9f-x2',
      fileName: expect.stringMatching(FILE_NAME),
    });
    expect(objects[0]!.lines.map((l) => l['message'])).toEqual(['line 0', 'line 1', 'line 2']);
    expect(objects[0]!.lines.every((l) => l['cluster_id'] === clusterId && l['namespace'] === tenant)).toBe(true);
    await eventually(async () => (await gateway.buffer.pendingBytes()) === 0);
  });

  it('sends no queue message: the only AWS calls it makes are PutObject into the central bucket', async () => {
    // Prepare
    const bucket = await createBucket();
    const token = tokenFor(`cluster-${randomId()}`, ['*']);
    const gateway = await startGateway({ env: gatewayEnv(bucket), tokens: [token] });
    const callsBefore = proxy.calls.length;

    // Act
    await postNdjson(gateway, token.token, podEvents(`team-${randomId()}`, 2));
    await eventually(async () => (await eventsIn(bucket)) >= 2, 10_000);
    await gateway.stop();

    // Assess
    const calls = proxy.calls.slice(callsBefore);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => !c.startsWith(`PUT /${bucket}/`))).toEqual([]);
  });

  it('acks a Forward chunk sent with the shared key and writes its events under the key\'s cluster', async () => {
    // Prepare
    const bucket = await createBucket();
    const clusterId = `cluster-${randomId()}`;
    const sharedKey = `gateway-shared-key-${randomId()}`;
    const gateway = await startGateway({
      env: { ...gatewayEnv(bucket), TLR_FORWARD_SHARED_KEY: sharedKey },
      clusterId,
      forward: { config: { port: 0 } },
    });
    const tenant = `acme-${randomId()}`;
    const records = Array.from({ length: 4 }, (_, i) => fluentdRecord(tenant, { message: `fwd ${i}` }));
    const chunk = chunkId();
    const seconds = Math.floor(Date.now() / 1000);

    // Act
    const client = await connectForward(gateway.forward!.port);
    const pong = await client.handshake({ sharedKey });
    await client.send(compressedFrame('kube.var.log.containers.x', records.map((r) => entryBytes([seconds, 0], r)), 1, { chunk }));
    const answer = await client.next();
    client.end();
    await eventually(async () => (await eventsIn(bucket)) >= 4, 10_000);

    // Assess
    expect(pong[1]).toBe(true);
    expect(answer).toEqual({ ack: chunk });
    const objects = await readBucket(bucket);
    const lines = objects.flatMap((o) => o.lines);
    expect(lines.map((l) => l['message']).sort()).toEqual(records.map((r) => r['message']).sort());
    for (const { key } of objects) {
      expect(parseObjectKey(key)).toMatchObject({ kind: 'log', clusterId, tenantId: tenant, application: 'billing-api' });
    }
  });

  it('refuses with 403 and counts a request writing a namespace its token may not write, buffering nothing', async () => {
    // Prepare
    const bucket = await createBucket();
    const token = tokenFor(`cluster-${randomId()}`, ['acme-*']);
    const gateway = await startGateway({ env: gatewayEnv(bucket), tokens: [token] });

    // Act
    const response = await postNdjson(gateway, token.token, podEvents(`globex-${randomId()}`, 2));

    // Assess
    expect(response.status).toBe(403);
    expect(await metricValue(gateway.registry, 'tlr_ingest_requests_total', { status: '403', reason: 'forbidden' })).toBe(1);
    expect(await gateway.buffer.pendingBytes()).toBe(0);
  });

  it('refuses with 401 a token it was not given', async () => {
    // Prepare
    const bucket = await createBucket();
    const gateway = await startGateway({ env: gatewayEnv(bucket), tokens: [tokenFor('c1', ['*'])] });

    // Act
    const response = await postNdjson(gateway, `unknown-${randomId()}-${randomId()}`, podEvents('acme', 1));

    // Assess
    expect(response.status).toBe(401);
    expect(await gateway.buffer.pendingBytes()).toBe(0);
  });

  it('keeps acked events buffered while the bucket is missing and writes them once it exists', async () => {
    // Prepare
    const bucket = `central-${randomId()}`;
    const token = tokenFor(`cluster-${randomId()}`, ['*']);
    const gateway = await startGateway({ env: gatewayEnv(bucket), tokens: [token] });
    const tenant = `acme-${randomId()}`;

    // Act
    const response = await postNdjson(gateway, token.token, podEvents(tenant, 5));
    await eventually(
      async () => (await metricValue(gateway.registry, 'tlr_ingest_flush_failures_total', { stage: 'put' })) >= 2,
      10_000,
    );
    const bufferedWhileMissing = await gateway.buffer.pendingBytes();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await eventually(async () => (await eventsIn(bucket)) >= 5, 10_000);

    // Assess
    expect(response.status).toBe(200);
    expect(bufferedWhileMissing).toBeGreaterThan(0);
    const lines = (await readBucket(bucket)).flatMap((o) => o.lines);
    expect(lines.map((l) => l['message'])).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    await eventually(async () => (await gateway.buffer.pendingBytes()) === 0);
  });

  it('keeps what it could not write across a stop while S3 is unreachable, and writes it after the restart', async () => {
    // Prepare: a proxy that is closed at once leaves a port nothing listens on.
    const closed = await startAwsRequestProxy(moto.endpoint);
    await closed.close();
    const bucket = await createBucket();
    const token = tokenFor(`cluster-${randomId()}`, ['*']);
    const dataDir = await makeTempDir('tlr-gateway-restart-');
    const first = await startIngestGateway({
      dataDir,
      port: 0,
      logger: silentLogger,
      registry: new Registry(),
      ingest: FAST_INGEST,
      env: gatewayEnv(bucket, closed.endpoint),
      tokens: [token],
    });
    const response = await postNdjson(first, token.token, podEvents('acme', 3));

    // Act
    await first.stop();
    const writtenWhileUnreachable = await eventsIn(bucket);
    const second = await startGateway({ dataDir, env: gatewayEnv(bucket), tokens: [token] });
    await eventually(async () => (await eventsIn(bucket)) >= 3, 10_000);

    // Assess
    expect(response.status).toBe(200);
    expect(writtenWhileUnreachable).toBe(0);
    expect((await readBucket(bucket)).flatMap((o) => o.lines).map((l) => l['message'])).toEqual(['line 0', 'line 1', 'line 2']);
    await eventually(async () => (await second.buffer.pendingBytes()) === 0);
  });
});
