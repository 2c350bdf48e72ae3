import { join } from 'node:path';
import { buffer as readAll } from 'node:stream/consumers';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiApp } from '../../../src/api/app.js';
import { parseObjectKey } from '../../../src/domain/object-key.js';
import {
  type BackpressureCheck,
  createQueueBacklogCheck,
  createStoreFullTracker,
} from '../../../src/ingest/backpressure.js';
import { createTokenAuthenticator } from '../../../src/ingest/http/auth.js';
import { createIngestBatcher } from '../../../src/ingest/http/batcher.js';
import { defaultHttpIngestConfig, type HttpIngestConfig } from '../../../src/ingest/http/config.js';
import { INGEST_ROUTE, MAX_ERROR_DETAILS } from '../../../src/ingest/http/plugin.js';
import { silentLogger } from '../../../src/logging/logger.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteIngestBuffer } from '../../../src/stores/local/ingest-buffer.js';
import { createFileObjectStore } from '../../../src/stores/local/object-store.js';
import { createSqliteQueue, type SqliteQueue } from '../../../src/stores/local/queue.js';
import { createSqliteTokenStore } from '../../../src/stores/local/token-store.js';
import type { IngestBuffer, IngestTokenStore, ObjectStore } from '../../../src/stores/ports.js';
import { randomId } from '../../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const NOW_MS = Date.UTC(2026, 0, 15, 10, 30, 0);
const NDJSON = 'application/x-ndjson';
const JSON_TYPE = 'application/json';

interface Harness {
  app: FastifyInstance;
  token: string;
  clusterId: string;
}

function ndjson(events: readonly unknown[]): string {
  return `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

describe(`POST ${INGEST_ROUTE}`, () => {
  let dbPath: string;
  let dir: string;
  let db: SqliteDatabase;
  let tokens: IngestTokenStore;
  let buffer: IngestBuffer;
  let objectStore: ObjectStore;
  let queue: SqliteQueue;
  let registry: Registry;
  let apps: FastifyInstance[];

  /** The real app on real SQLite, with a token for `team-*` on a random cluster. */
  async function harness(
    overrides: Partial<HttpIngestConfig> = {},
    namespaces = ['team-*'],
    backpressure?: BackpressureCheck,
  ): Promise<Harness> {
    const clusterId = `cluster-${randomId()}`;
    const { token } = await tokens.create({ clusterId, namespaces });
    const app = createApiApp({
      logger: silentLogger,
      registry,
      version: 'test',
      ingest: {
        authenticator: createTokenAuthenticator({ store: tokens }),
        buffer,
        config: { ...defaultHttpIngestConfig(), ...overrides },
        now: () => NOW_MS,
        ...(backpressure && { backpressure }),
      },
    });
    apps.push(app);
    return { app, token, clusterId };
  }

  function post(h: Harness, body: string, contentType = NDJSON, authorization = `Bearer ${h.token}`) {
    return h.app.inject({
      method: 'POST',
      url: INGEST_ROUTE,
      headers: { 'content-type': contentType, ...(authorization && { authorization }) },
      payload: body,
    });
  }

  async function flushedObjects(): Promise<Map<string, unknown[]>> {
    const batcher = createIngestBatcher({
      buffer,
      objectStore,
      queue,
      config: defaultHttpIngestConfig(),
      logger: silentLogger,
      registry,
    });
    await batcher.flushAll();
    const objects = new Map<string, unknown[]>();
    for await (const info of objectStore.list()) {
      const text = gunzipSync(await readAll((await objectStore.get(info.key)).body)).toString('utf8');
      objects.set(
        info.key,
        text
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line)),
      );
    }
    return objects;
  }

  beforeEach(async () => {
    dir = await makeTempDir('tlr-ingest-http-');
    dbPath = join(dir, 'tlr.db');
    db = openDatabase(dbPath);
    tokens = createSqliteTokenStore(db);
    buffer = createSqliteIngestBuffer(db);
    objectStore = createFileObjectStore({ rootDir: join(dir, 'objects') });
    queue = createSqliteQueue(db);
    registry = new Registry();
    apps = [];
  });

  afterEach(async () => {
    for (const app of apps) await app.close();
    queue.close();
    db.close();
    await removeTempDirs();
  });

  it('accepts NDJSON of flat events and writes them, completed, to objects per group', async () => {
    // Prepare
    const h = await harness();
    const events = [
      { message: 'one', namespace: 'team-a', application: 'api', pod_name: 'api-1' },
      { message: 'two', namespace: 'team-a', application: 'api', pod_name: 'api-1', cluster_id: h.clusterId },
      { message: 'three', namespace: 'team-b', application: 'web', pod_name: 'web-1' },
    ];

    // Act
    const response = await post(h, ndjson(events));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ accepted: 3, rejected: [] });
    const objects = await flushedObjects();
    const byKey = [...objects].map(([key, lines]) => {
      const parsed = parseObjectKey(key);
      return [
        parsed.kind === 'log' &&
          `${parsed.clusterId}/${parsed.tenantId}/${parsed.application}/${parsed.podName}`,
        lines,
      ];
    });
    expect(byKey.sort()).toEqual([
      [
        `${h.clusterId}/team-a/api/api-1`,
        [
          { ...events[0], cluster_id: h.clusterId },
          { ...events[1], cluster_id: h.clusterId },
        ],
      ],
      [`${h.clusterId}/team-b/web/web-1`, [{ ...events[2], cluster_id: h.clusterId }]],
    ]);
  });

  function postGzip(h: Harness, body: Buffer, encoding = 'gzip') {
    return h.app.inject({
      method: 'POST',
      url: INGEST_ROUTE,
      headers: { 'content-type': NDJSON, 'content-encoding': encoding, authorization: `Bearer ${h.token}` },
      payload: body,
    });
  }

  it('accepts a gzip body (Content-Encoding: gzip), as Vector and Fluent Bit send with compression on', async () => {
    // Prepare
    const h = await harness();
    const events = [{ message: 'zipped', namespace: 'team-a', application: 'api', pod_name: 'api-1' }];

    // Act
    const response = await postGzip(h, gzipSync(ndjson(events)));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ accepted: 1, rejected: [] });
    expect([...(await flushedObjects()).values()].flat()).toEqual([{ ...events[0], cluster_id: h.clusterId }]);
  });

  it.each([
    { case: 'a corrupt gzip body', body: () => Buffer.from('not gzip at all'), encoding: 'gzip', status: 400 },
    { case: 'an unsupported encoding', body: () => Buffer.from('x'), encoding: 'br', status: 415 },
    {
      case: 'a gzip body that decompresses past the limit',
      body: () => gzipSync(Buffer.alloc(2 * 1024 * 1024, 0x20)),
      encoding: 'gzip',
      status: 413,
    },
  ])('refuses $case with $status and writes nothing', async ({ body, encoding, status }) => {
    // Prepare
    const h = await harness({ maxBodyBytes: 1024 * 1024 });

    // Act
    const response = await postGzip(h, body(), encoding);

    // Assess
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject({ error: { message: expect.any(String) } });
    expect((await flushedObjects()).size).toBe(0);
  });

  it('accepts a JSON array of kubernetes-nested events from Vector and Fluent Bit', async () => {
    // Prepare
    const h = await harness();
    const vector = {
      message: 'v',
      kubernetes: { pod_namespace: 'team-a', pod_name: 'api-1', pod_labels: { app: 'api' } },
    };
    const fluentBit = {
      log: 'f',
      kubernetes: { namespace_name: 'team-a', pod_name: 'db-0', container_name: 'postgres' },
    };

    // Act
    const response = await post(h, JSON.stringify([vector, fluentBit]), JSON_TYPE);

    // Assess
    expect(response.json()).toEqual({ accepted: 2, rejected: [] });
    const objects = await flushedObjects();
    const lines = [...objects.values()].flat();
    expect(lines).toContainEqual({
      ...vector,
      cluster_id: h.clusterId,
      namespace: 'team-a',
      application: 'api',
      pod_name: 'api-1',
    });
    expect(lines).toContainEqual({
      ...fluentBit,
      cluster_id: h.clusterId,
      namespace: 'team-a',
      application: 'postgres',
      pod_name: 'db-0',
    });
  });

  it.each([
    ['a single JSON object', JSON.stringify({ message: 'm', namespace: 'team-a' }), JSON_TYPE, 1],
    ['NDJSON with a charset parameter', ndjson([{ namespace: 'team-a' }]), `${NDJSON}; charset=utf-8`, 1],
    [
      'an NDJSON line holding an array',
      `${JSON.stringify([{ namespace: 'team-a' }, { namespace: 'team-b' }])}\n`,
      NDJSON,
      2,
    ],
  ])('accepts %s', async (_case, body, contentType, accepted) => {
    // Prepare
    const h = await harness();

    // Act
    const response = await post(h, body, contentType);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ accepted, rejected: [] });
  });

  it('answers only after the events are committed, so another connection sees them', async () => {
    // Prepare
    const h = await harness();

    // Act
    const response = await post(h, ndjson([{ namespace: 'team-a' }, { namespace: 'team-b' }]));

    // Assess
    expect(response.statusCode).toBe(200);
    const other = openDatabase(dbPath);
    try {
      expect(other.prepare('SELECT SUM(events) AS n FROM ingest_chunks').get()).toEqual({ n: 2 });
    } finally {
      other.close();
    }
  });

  it('accepts thousands of events in one request', async () => {
    // Prepare
    const h = await harness();
    const events = Array.from({ length: 5_000 }, (_, i) => ({
      message: `event ${i}`,
      namespace: `team-${i % 5}`,
      pod_name: `pod-${i % 20}`,
    }));

    // Act
    const response = await post(h, ndjson(events));

    // Assess
    expect(response.json()).toEqual({ accepted: 5_000, rejected: [] });
    expect(await buffer.pendingGroups()).toHaveLength(20);
  });

  it.each([
    ['no Authorization header', '', 'missing_token'],
    ['a wrong token', `Bearer tlr_${'x'.repeat(43)}`, 'invalid_token'],
    ['another scheme', 'Basic dXNlcjpwYXNz', 'malformed_authorization'],
  ])('refuses %s with 401 and counts it', async (_case, authorization, reason) => {
    // Prepare
    const h = await harness();

    // Act
    const response = await post(h, ndjson([{ namespace: 'team-a' }]), NDJSON, authorization);

    // Assess
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    expect(await metricValue(registry, 'tlr_ingest_requests_total', { status: '401', reason })).toBe(1);
    expect(await buffer.pendingBytes()).toBe(0);
  });

  it('refuses the whole request with 403 when one event names a namespace outside the token, writing nothing', async () => {
    // Prepare
    const h = await harness();
    const events = [{ namespace: 'team-a' }, { namespace: 'billing' }, { message: 'no namespace' }];

    // Act
    const response = await post(h, ndjson(events));

    // Assess
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({
      error: {
        code: 'forbidden',
        message: expect.stringContaining('nothing was written'),
        details: [
          {
            index: 1,
            field: 'namespace',
            message: "Line 2: Namespace 'billing' is not allowed for this token.",
          },
        ],
      },
    });
    expect(await buffer.pendingBytes()).toBe(0);
    expect(
      await metricValue(registry, 'tlr_ingest_events_total', {
        result: 'rejected',
        reason: 'forbidden_namespace',
      }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'tlr_ingest_events_total', {
        result: 'rejected',
        reason: 'request_refused',
      }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'tlr_ingest_events_total', {
        result: 'rejected',
        reason: 'missing_namespace',
      }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'tlr_ingest_requests_total', { status: '403', reason: 'forbidden' }),
    ).toBe(1);
  });

  it('refuses with 403 an event declaring another cluster than the token', async () => {
    // Prepare
    const h = await harness();
    const events = [{ namespace: 'team-a' }, { namespace: 'team-a', cluster_id: 'someone-else' }];

    // Act
    const response = await post(h, JSON.stringify(events), JSON_TYPE);

    // Assess
    expect(response.statusCode).toBe(403);
    expect(response.json().error.details).toEqual([
      { index: 1, field: 'cluster_id', message: "Cluster 'someone-else' is not the token's cluster." },
    ]);
    expect(await buffer.pendingBytes()).toBe(0);
    expect(
      await metricValue(registry, 'tlr_ingest_events_total', {
        result: 'rejected',
        reason: 'forbidden_cluster',
      }),
    ).toBe(1);
  });

  it('lists at most a fixed number of forbidden events, with the full count in the message', async () => {
    // Prepare
    const h = await harness();
    const events = Array.from({ length: MAX_ERROR_DETAILS + 10 }, () => ({ namespace: 'billing' }));

    // Act
    const response = await post(h, ndjson(events));

    // Assess
    expect(response.statusCode).toBe(403);
    expect(response.json().error.details).toHaveLength(MAX_ERROR_DETAILS);
    expect(response.json().error.message).toContain(`${MAX_ERROR_DETAILS + 10} of ${MAX_ERROR_DETAILS + 10}`);
  });

  it.each([
    [['team-a'], 'team-a', 200],
    [['team-a'], 'team-b', 403],
    [['team-*'], 'team-b', 200],
    [['team-*'], 'teams', 403],
    [['*'], 'anything', 200],
  ])('with namespace patterns %j answers an event of %s with %i', async (patterns, namespace, status) => {
    // Prepare
    const h = await harness({}, patterns);

    // Act
    const response = await post(h, ndjson([{ namespace }]));

    // Assess
    expect(response.statusCode).toBe(status);
  });

  it('accepts the good events and lists the rejected ones by index when only some are acceptable', async () => {
    // Prepare
    const h = await harness();
    const body = [
      JSON.stringify({ namespace: 'team-a' }),
      JSON.stringify({ message: 'no namespace' }),
      JSON.stringify([{ namespace: 'team-a' }, 'not an object']),
    ].join('\n');

    // Act
    const response = await post(h, body);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      accepted: 2,
      rejected: [
        {
          index: 1,
          reason: 'missing_namespace',
          message: expect.stringMatching(/^Line 2: The event names no namespace/),
        },
        { index: 3, reason: 'not_an_object', message: 'Line 3: The event is not a JSON object.' },
      ],
    });
    expect((await buffer.pendingGroups())[0]?.events).toBe(2);
    expect(
      await metricValue(registry, 'tlr_ingest_events_total', { result: 'accepted', reason: 'accepted' }),
    ).toBe(2);
    expect(
      await metricValue(registry, 'tlr_ingest_events_total', { result: 'rejected', reason: 'not_an_object' }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'tlr_ingest_requests_total', { status: '200', reason: 'partial' }),
    ).toBe(1);
  });

  it('answers 400 with every rejected event when none is acceptable', async () => {
    // Prepare
    const h = await harness();

    // Act
    const response = await post(h, JSON.stringify([{ message: 'a' }, { namespace: 'a/b' }]), JSON_TYPE);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: {
        code: 'validation_failed',
        message: 'No event in the request is acceptable.',
        details: [
          { index: 0, message: expect.stringContaining('names no namespace') },
          { index: 1, message: expect.stringContaining("'namespace' value 'a/b'") },
        ],
      },
    });
  });

  it('answers 400 naming the line when an NDJSON line is not JSON, writing nothing', async () => {
    // Prepare
    const h = await harness();
    const body = `${JSON.stringify({ namespace: 'team-a' })}\n{"namespace": "team-a"\n`;

    // Act
    const response = await post(h, body);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: {
        code: 'malformed_json',
        message: expect.stringMatching(/^The body is not valid NDJSON: Line 2 is not valid JSON/),
        details: [{ message: expect.stringMatching(/^Line 2 is not valid JSON/) }],
      },
    });
    expect(await buffer.pendingBytes()).toBe(0);
    expect(
      await metricValue(registry, 'tlr_ingest_requests_total', { status: '400', reason: 'malformed_json' }),
    ).toBe(1);
  });

  it.each([
    ['a JSON body that is not JSON', '[{"namespace":', JSON_TYPE, 'malformed_json'],
    ['a JSON scalar', '42', JSON_TYPE, 'malformed_json'],
    ['an NDJSON body of blank lines', '\n\n', NDJSON, 'validation_failed'],
    ['an empty JSON array', '[]', JSON_TYPE, 'validation_failed'],
  ])('answers 400 to %s', async (_case, body, contentType, code) => {
    // Prepare
    const h = await harness();

    // Act
    const response = await post(h, body, contentType);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe(code);
  });

  it('answers 400 to a request without a body', async () => {
    // Prepare
    const h = await harness();

    // Act
    const response = await h.app.inject({
      method: 'POST',
      url: INGEST_ROUTE,
      headers: { authorization: `Bearer ${h.token}` },
    });

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toEqual({
      code: 'validation_failed',
      message: expect.stringContaining('no body'),
    });
  });

  it('answers 413 to a body over maxBodyBytes and counts it', async () => {
    // Prepare
    const h = await harness({ maxBodyBytes: 1_024 });
    const events = Array.from({ length: 50 }, (_, i) => ({ namespace: 'team-a', message: `event ${i}` }));

    // Act
    const response = await post(h, ndjson(events));

    // Assess
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('payload_too_large');
    expect(
      await metricValue(registry, 'tlr_ingest_requests_total', {
        status: '413',
        reason: 'payload_too_large',
      }),
    ).toBe(1);
    expect(await buffer.pendingBytes()).toBe(0);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['form data', 'application/x-www-form-urlencoded'],
  ])('answers 415 to %s', async (_case, contentType) => {
    // Prepare
    const h = await harness();

    // Act
    const response = await post(h, 'namespace=team-a', contentType);

    // Assess
    expect(response.statusCode).toBe(415);
    expect(response.json().error).toEqual({
      code: 'unsupported_media_type',
      message: `Content type '${contentType}' is not supported here.`,
    });
  });

  it('answers 503 with Retry-After while the buffer holds more than maxBufferedBytes, and accepts again once flushed', async () => {
    // Prepare
    const h = await harness({ maxBufferedBytes: 100, retryAfterSeconds: 7 });
    const big = ndjson([{ namespace: 'team-a', message: 'x'.repeat(200) }]);
    const first = await post(h, big);

    // Act
    const refused = await post(h, big);
    await flushedObjects();
    const again = await post(h, big);

    // Assess
    expect(first.statusCode).toBe(200);
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('7');
    expect(refused.json().error.code).toBe('service_unavailable');
    expect(
      await metricValue(registry, 'tlr_ingest_requests_total', { status: '503', reason: 'back_pressure' }),
    ).toBe(1);
    expect(again.statusCode).toBe(200);
  });

  it('answers 503 with Retry-After while the queue backlog is over its limit, and 200 again once it drained', async () => {
    // Prepare
    const backlog = createQueueBacklogCheck({ queue, maxBacklog: 2, retryAfterSeconds: 11, cacheMs: 0, logger: silentLogger });
    const h = await harness({}, ['team-*'], backlog);
    const body = ndjson([{ namespace: 'team-a', message: 'hello' }]);
    const first = await post(h, body);
    await flushedObjects();
    await queue.send('older-work-1');
    await queue.send('older-work-2');

    // Act
    const refused = await post(h, body);
    for (const message of await queue.receive({ maxMessages: 10, waitMs: 0 })) await queue.delete(message.receiptHandle);
    const again = await post(h, body);

    // Assess
    expect(first.statusCode).toBe(200);
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('11');
    expect(refused.json().error).toEqual({
      code: 'service_unavailable',
      message: expect.stringContaining('Delivery is behind: 3 notifications wait to be processed, more than the limit of 2'),
    });
    expect(await metricValue(registry, 'tlr_ingest_requests_total', { status: '503', reason: 'queue_backlog' })).toBe(1);
    expect(again.statusCode).toBe(200);
  });

  it('answers 503 once the object store refused a write as full, keeping the events already buffered', async () => {
    // Prepare
    const tracker = createStoreFullTracker({ retryAfterSeconds: 6, logger: silentLogger, registry });
    const h = await harness({}, ['team-*'], tracker);
    const body = ndjson([{ namespace: 'team-a', message: 'x'.repeat(500) }]);
    const accepted = await post(h, body);
    const batcher = createIngestBatcher({
      buffer,
      objectStore: tracker.wrap(createFileObjectStore({ rootDir: join(dir, 'tiny'), maxBytes: 10 })),
      queue,
      config: defaultHttpIngestConfig(),
      logger: silentLogger,
      registry,
    });

    // Act
    await batcher.flushAll().catch(() => undefined);
    const refused = await post(h, body);

    // Assess
    expect(accepted.statusCode).toBe(200);
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('6');
    expect(await metricValue(registry, 'tlr_ingest_requests_total', { status: '503', reason: 'store_full' })).toBe(1);
    expect(await metricValue(registry, 'tlr_object_store_full_total', {})).toBeGreaterThanOrEqual(1);
    expect(await buffer.pendingBytes()).toBeGreaterThan(0);
    expect(await queue.stats()).toMatchObject({ visible: 0 });
  });

  it('answers 503 with Retry-After when the buffer cannot store the events', async () => {
    // Prepare
    const staticToken = `static-${randomId()}-${randomId()}`;
    const app = createApiApp({
      logger: silentLogger,
      registry,
      version: 'test',
      ingest: {
        // A static token, so authentication still works once the database is gone.
        authenticator: createTokenAuthenticator({
          store: tokens,
          staticTokens: [{ token: staticToken, clusterId: 'c1', namespaces: ['*'] }],
        }),
        buffer,
        config: { ...defaultHttpIngestConfig(), retryAfterSeconds: 3 },
      },
    });
    apps.push(app);
    db.close();

    // Act
    const response = await post(
      { app, token: staticToken, clusterId: 'c1' },
      ndjson([{ namespace: 'team-a' }]),
    );

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('3');
    expect(response.json().error.code).toBe('service_unavailable');
    expect(
      await metricValue(registry, 'tlr_ingest_requests_total', {
        status: '503',
        reason: 'buffer_write_failed',
      }),
    ).toBe(1);
  });
});
