import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { awsErrorName, awsHttpStatus } from '../../aws/index.js';
import { ConfigValidationError, type FieldError, ObjectNotFoundError } from '../../domain/index.js';
import type { ObjectInfo, ObjectStore } from '../ports.js';

/**
 * ListObjectsV2 returns at most 1,000 keys per call.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 */
const MAX_KEYS_PER_PAGE = 1_000;

/** What `createS3ObjectStore` needs. */
export interface S3ObjectStoreOptions {
  /** A client built with `awsClientConfig(settings, { s3: true })`. */
  readonly client: S3Client;
  /** The central bucket. */
  readonly bucket: string;
  /** Keys asked for per ListObjectsV2 call, 1 to 1,000. Default 1,000 (the S3 maximum). */
  readonly pageSize?: number;
}

/**
 * Creates the central object store on an S3 bucket.
 *
 * `get` streams the body straight from the HTTP response, so memory does not grow with the
 * object; the caller must read the stream to its end (or destroy it) to free the connection.
 * `list` fetches one ListObjectsV2 page at a time, only as the caller iterates. Failures
 * other than a missing key surface as the SDK's own errors, so callers can classify them
 * with `isRetryableAwsError`.
 *
 * @param options - the client, the bucket, and the listing page size
 * @throws ConfigValidationError when the bucket is empty or `pageSize` is not 1 to 1,000
 * @example
 * const store = createS3ObjectStore({
 *   client: new S3Client(awsClientConfig(awsSettingsFromEnv(), { s3: true })),
 *   bucket: 'central-logs',
 * });
 * const { body, info } = await store.get('c1/team-a/api/api-1/20260101-000000-1.json.gz');
 */
export function createS3ObjectStore(options: S3ObjectStoreOptions): ObjectStore {
  const { client, bucket } = options;
  const pageSize = options.pageSize ?? MAX_KEYS_PER_PAGE;
  validateOptions(bucket, pageSize);

  async function put(
    key: string,
    body: Uint8Array,
    putOptions?: { contentType?: string; contentEncoding?: string },
  ): Promise<void> {
    // S3 answers 200 only once the object is stored durably, so resolving then keeps the port's promise.
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ...(putOptions?.contentType !== undefined && { ContentType: putOptions.contentType }),
        ...(putOptions?.contentEncoding !== undefined && { ContentEncoding: putOptions.contentEncoding }),
      }),
    );
  }

  async function get(key: string): Promise<{ body: Readable; info: ObjectInfo }> {
    let output;
    try {
      output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      if (isMissingKeyError(error)) throw objectNotFound(key, error);
      throw error;
    }
    // The headers of this response describe exactly the bytes its body streams.
    return {
      body: toReadable(output.Body, key),
      info: toInfo(key, output.ContentLength, output.LastModified),
    };
  }

  async function head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const output = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return toInfo(key, output.ContentLength, output.LastModified);
    } catch (error) {
      // A HEAD answer has no body, so a missing bucket looks the same as a missing key: 404 NotFound.
      if (awsErrorName(error) === 'NotFound' || awsHttpStatus(error) === 404) return undefined;
      throw error;
    }
  }

  async function* list(listOptions?: { prefix?: string }): AsyncGenerator<ObjectInfo> {
    const prefix = listOptions?.prefix;
    let continuationToken: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          MaxKeys: pageSize,
          ...(prefix !== undefined && prefix !== '' && { Prefix: prefix }),
          ...(continuationToken !== undefined && { ContinuationToken: continuationToken }),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield toInfo(object.Key, object.Size, object.LastModified);
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  return { put, get, head, list };
}

function validateOptions(bucket: string, pageSize: number): void {
  const errors: FieldError[] = [];
  if (bucket === '') errors.push({ field: 'bucket', message: 'must not be empty' });
  if (!(Number.isSafeInteger(pageSize) && pageSize >= 1 && pageSize <= MAX_KEYS_PER_PAGE)) {
    errors.push({ field: 'pageSize', message: `must be a whole number from 1 to ${MAX_KEYS_PER_PAGE}` });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'S3 object store options');
}

/**
 * NoSuchKey is the key missing from an existing bucket. A missing bucket (NoSuchBucket, also
 * 404) is not: it is a deployment error, and must not turn every object into a dead letter.
 */
function isMissingKeyError(error: unknown): boolean {
  const name = awsErrorName(error);
  if (name === 'NoSuchKey') return true;
  return name !== 'NoSuchBucket' && awsHttpStatus(error) === 404;
}

function objectNotFound(key: string, cause: unknown): ObjectNotFoundError {
  const error = new ObjectNotFoundError(key);
  error.cause = cause;
  return error;
}

/** In Node the SDK's body is the HTTP response itself: a Readable, never buffered. */
function toReadable(body: unknown, key: string): Readable {
  if (body instanceof Readable) return body;
  // S3 may omit the body of an empty object.
  if (body === undefined) return Readable.from([]);
  throw new TypeError(`The S3 body of '${key}' is not a Node.js stream; the client needs a Node HTTP handler.`);
}

function toInfo(key: string, size: number | undefined, lastModified: Date | undefined): ObjectInfo {
  // S3 always sends both; the fallbacks only keep the type honest.
  return { key, size: size ?? 0, lastModifiedMs: lastModified?.getTime() ?? 0 };
}
