import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  type ListObjectsV2CommandInput,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../../src/aws/index.js';
import { ConfigValidationError, ObjectNotFoundError } from '../../../src/domain/errors.js';
import type { ObjectInfo } from '../../../src/stores/ports.js';
import { createS3ObjectStore } from '../../../src/stores/aws/s3-object-store.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';

function uniqueBucketName(): string {
  return `bucket-${randomUUID().slice(0, 8)}`;
}

function objectKey(file = `20240101-000000-${randomUUID().slice(0, 8)}.json.gz`): string {
  return `c1/team-a/api/api-1/${file}`;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

describe.skipIf(motoUnavailable)('createS3ObjectStore against moto', () => {
  let moto: MotoServer;
  let client: S3Client;
  /** Inputs of every ListObjectsV2 call the client made, in order. */
  const listCalls: ListObjectsV2CommandInput[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    client = new S3Client(awsClientConfig(moto.settings, { s3: true }));
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ListObjectsV2Command') listCalls.push(args.input as ListObjectsV2CommandInput);
        return next(args);
      },
      { step: 'initialize', name: 'recordListCalls' },
    );
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  async function newBucket(): Promise<string> {
    const bucket = uniqueBucketName();
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    return bucket;
  }

  describe('put and get', () => {
    it('streams a multi-megabyte object back in several chunks with its size', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket() });
      const key = objectKey();
      const body = randomBytes(6 * 1024 * 1024);
      await store.put(key, body);

      // Act
      const { body: stream, info } = await store.get(key);
      const hash = createHash('sha256');
      let chunks = 0;
      let bytes = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        chunks += 1;
        bytes += chunk.byteLength;
      }

      // Assess
      expect(stream).toBeInstanceOf(Readable);
      expect(chunks).toBeGreaterThan(1);
      expect(bytes).toBe(body.byteLength);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
      expect(info).toEqual({ key, size: body.byteLength, lastModifiedMs: expect.any(Number) });
    });

    it('reports the last-modified time of the write, to the second', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket() });
      const key = objectKey();
      // S3 keeps whole seconds.
      const beforeMs = Math.floor(Date.now() / 1_000) * 1_000;
      await store.put(key, Buffer.from('x'));
      const afterMs = Date.now();

      // Act
      const { body, info } = await store.get(key);
      body.destroy();

      // Assess
      expect(info.lastModifiedMs).toBeGreaterThanOrEqual(beforeMs);
      expect(info.lastModifiedMs).toBeLessThanOrEqual(afterMs);
    });

    it('overwrites an existing object', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket() });
      const key = objectKey();
      await store.put(key, Buffer.from('first'));

      // Act
      await store.put(key, Buffer.from('second!'));

      // Assess
      const { body, info } = await store.get(key);
      expect(Buffer.concat(await collect(body as AsyncIterable<Buffer>)).toString()).toBe('second!');
      expect(info.size).toBe(7);
    });

    it('returns gzip bytes as stored, without decoding them, and keeps content type and encoding', async () => {
      // Prepare
      const bucket = await newBucket();
      const store = createS3ObjectStore({ client, bucket });
      const key = objectKey();
      const gzipped = gzipSync('{"message":"hello"}\n');

      // Act
      await store.put(key, gzipped, { contentType: 'application/x-ndjson', contentEncoding: 'gzip' });

      // Assess
      const { body } = await store.get(key);
      expect(Buffer.concat(await collect(body as AsyncIterable<Buffer>))).toEqual(gzipped);
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ContentType).toBe('application/x-ndjson');
      expect(head.ContentEncoding).toBe('gzip');
    });

    it('round-trips an empty object and a key with spaces, plus signs and unicode', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket() });
      const key = 'c1/ns a/app+x/pöd/20240101-000000-x y.json.gz';

      // Act
      await store.put(key, new Uint8Array(0));

      // Assess
      const { body, info } = await store.get(key);
      expect(await collect(body)).toEqual([]);
      expect(info).toMatchObject({ key, size: 0 });
      expect((await collect(store.list())).map((o) => o.key)).toEqual([key]);
    });

    it('rejects a get of a missing key with ObjectNotFoundError naming the key', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket() });
      const key = objectKey();

      // Act
      const error = await rejection(store.get(key));

      // Assess
      expect(error).toBeInstanceOf(ObjectNotFoundError);
      expect(error).toMatchObject({ key, code: 'RTR_ERR_OBJECT_NOT_FOUND' });
      expect((error as Error).cause).toMatchObject({ name: 'NoSuchKey' });
    });

    it('rejects a get from a missing bucket with the SDK error, not ObjectNotFoundError', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: uniqueBucketName() });

      // Act
      const error = await rejection(store.get(objectKey()));

      // Assess
      expect(error).not.toBeInstanceOf(ObjectNotFoundError);
      expect(error).toMatchObject({ name: 'NoSuchBucket' });
    });

    it('rejects a put into a missing bucket with the SDK error', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: uniqueBucketName() });

      // Act
      const error = await rejection(store.put(objectKey(), Buffer.from('x')));

      // Assess
      expect(error).toMatchObject({ name: 'NoSuchBucket' });
    });
  });

  describe('head', () => {
    it('returns the size and last-modified time of an existing object', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket() });
      const key = objectKey();
      await store.put(key, Buffer.from('hello'));
      const { body, info: fromGet } = await store.get(key);
      body.destroy();

      // Act
      const info = await store.head(key);

      // Assess
      expect(info).toEqual({ key, size: 5, lastModifiedMs: fromGet.lastModifiedMs });
    });

    it('returns undefined for a missing key', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket() });

      // Act
      const info = await store.head(objectKey());

      // Assess
      expect(info).toBeUndefined();
    });

    it('returns undefined in a missing bucket, since a HEAD answer cannot tell it from a missing key', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: uniqueBucketName() });

      // Act
      const info = await store.head(objectKey());

      // Assess
      expect(info).toBeUndefined();
    });
  });

  describe('list', () => {
    it('lists 25 keys in key order through pages of 10, fetching a page only when iteration reaches it', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket(), pageSize: 10 });
      const keys = Array.from({ length: 25 }, (_, i) => objectKey(`20240101-0000${String(i).padStart(2, '0')}-x.json.gz`));
      for (const key of [...keys].reverse()) await store.put(key, Buffer.from(key));
      listCalls.length = 0;

      // Act
      const iterator = store.list()[Symbol.asyncIterator]();
      const first = await iterator.next();
      const callsAfterFirst = listCalls.length;
      const rest: ObjectInfo[] = [];
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest.push(next.value);

      // Assess
      expect(callsAfterFirst).toBe(1);
      expect([first.value as ObjectInfo, ...rest].map((o) => o.key)).toEqual(keys);
      expect(rest.at(-1)).toEqual({ key: keys[24], size: Buffer.byteLength(keys[24]!), lastModifiedMs: expect.any(Number) });
      expect(listCalls.map((c) => [c.MaxKeys, c.ContinuationToken === undefined])).toEqual([
        [10, true],
        [10, false],
        [10, false],
      ]);
    });

    it('lists only the keys under a prefix', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket(), pageSize: 2 });
      const wanted = ['c1/team-a/api/p1/1.json.gz', 'c1/team-a/api/p1/2.json.gz', 'c1/team-a/api/p2/3.json.gz'];
      const others = ['c1/team-ab/api/p1/1.json.gz', 'c2/team-a/api/p1/1.json.gz', '_internal/marker'];
      for (const key of [...wanted, ...others]) await store.put(key, Buffer.from('x'));

      // Act
      const listed = await collect(store.list({ prefix: 'c1/team-a/' }));

      // Assess
      expect(listed.map((o) => o.key)).toEqual(wanted);
    });

    it('lists nothing in an empty bucket', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: await newBucket() });

      // Act
      const listed = await collect(store.list({ prefix: 'c1/' }));

      // Assess
      expect(listed).toEqual([]);
    });

    it('rejects iteration over a missing bucket with the SDK error', async () => {
      // Prepare
      const store = createS3ObjectStore({ client, bucket: uniqueBucketName() });

      // Act
      const error = await rejection(collect(store.list()));

      // Assess
      expect(error).toMatchObject({ name: 'NoSuchBucket' });
    });
  });
});

describe('createS3ObjectStore options', () => {
  const client = new S3Client({ region: 'us-east-1' });

  function thrown(act: () => unknown): unknown {
    try {
      act();
    } catch (error) {
      return error;
    }
    throw new Error('expected the call to throw');
  }

  it.each([0, 1_001, 2.5, Number.NaN])('refuses a page size of %s', (pageSize) => {
    // Prepare
    const options = { client, bucket: 'central', pageSize };

    // Act
    const error = thrown(() => createS3ObjectStore(options));

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toEqual(['pageSize']);
  });

  it('refuses an empty bucket name', () => {
    // Prepare
    const options = { client, bucket: '' };

    // Act
    const error = thrown(() => createS3ObjectStore(options));

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toEqual(['bucket']);
  });
});
