import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { DeliveryConfig } from '../../src/domain/delivery-config.js';
import type { LogRecord } from '../../src/domain/index.js';
import { buildObjectKey } from '../../src/domain/object-key.js';

/** A short random id, lowercase hex: valid in tenant ids, key segments and names. */
export function randomId(): string {
  return randomUUID().replaceAll('-', '').slice(0, 12);
}

/** A delivery config as a caller sends it: defaults not applied, any field allowed. */
export type DeliveryConfigInput = Partial<DeliveryConfig> & Record<string, unknown>;

/**
 * A valid `file` delivery config for a random tenant.
 *
 * @param overrides - fields to set or replace, valid or not; set a field to `undefined` to leave it out
 */
export function deliveryConfigFactory(
  overrides: Record<string, unknown> = {},
): DeliveryConfigInput & { tenant_id: string; type: string } {
  const id = randomId();
  const config: Record<string, unknown> = {
    tenant_id: `tenant-${id}`,
    type: 'file',
    directory: `/var/log/tlr/${id}`,
    ...overrides,
  };
  for (const [key, value] of Object.entries(config)) if (value === undefined) delete config[key];
  return config as DeliveryConfigInput & { tenant_id: string; type: string };
}

/** The parts of a central object key, each a random valid segment. */
export function objectKeyPartsFactory(
  overrides: Partial<{ clusterId: string; namespace: string; application: string; podName: string }> = {},
): { clusterId: string; namespace: string; application: string; podName: string } {
  const id = randomId();
  return {
    clusterId: `cluster-${id}`,
    namespace: `tenant-${id}`,
    application: `app-${id}`,
    podName: `pod-${id}-0`,
    ...overrides,
  };
}

/** A log event as Vector writes it; `seq` makes events of one test tell apart. */
export function logEventFactory(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const parts = objectKeyPartsFactory();
  return {
    message: `log line ${randomId()}`,
    timestamp: '2024-01-15T10:30:00.000Z',
    cluster_id: parts.clusterId,
    namespace: parts.namespace,
    application: parts.application,
    pod_name: parts.podName,
    kubernetes: { container_name: 'main' },
    ...overrides,
  };
}

/**
 * A central object key in the layout Vector writes, with random parts unless given.
 *
 * @param overrides - key parts, and `createdAtMs` for the file name's timestamp
 */
export function objectKeyFactory(
  overrides: Partial<{
    clusterId: string;
    namespace: string;
    application: string;
    podName: string;
    createdAtMs: number;
  }> = {},
): string {
  const { createdAtMs = Date.UTC(2024, 0, 15, 10, 30), ...parts } = overrides;
  return buildObjectKey(objectKeyPartsFactory(parts), createdAtMs, randomUUID());
}

/** NDJSON text: each entry on its own line, objects as JSON, strings as given. */
export function ndjson(lines: readonly (string | Record<string, unknown> | unknown[])[]): string {
  return lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n');
}

/**
 * A central object body: the lines as NDJSON (each ending in a newline), gzipped.
 *
 * @param lines - objects are JSON-encoded; strings are written as they are (for bad lines)
 */
export function gzipObject(lines: readonly (string | Record<string, unknown> | unknown[])[]): Buffer {
  return gzipSync(lines.length === 0 ? '' : `${ndjson(lines)}\n`);
}

/**
 * A gzip body whose first member is sound and whose second member is corrupt (a deflate
 * block of the reserved type 3), so inflating fails exactly after the first member's lines.
 */
export function gzipObjectWithCorruptTail(
  lines: readonly (string | Record<string, unknown> | unknown[])[],
): Buffer {
  const gzipHeader = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03];
  // BFINAL = 1, BTYPE = 0b11: "invalid block type".
  const reservedBlock = [0x07, 0xff, 0xff, 0xff];
  return Buffer.concat([gzipObject(lines), Buffer.from([...gzipHeader, ...reservedBlock])]);
}

/** How S3 writes keys in event notifications: form-URL-encoded, `/` kept, space as `+`. */
export function s3EncodeKey(key: string): string {
  return encodeURIComponent(key).replaceAll('%20', '+').replaceAll('%2F', '/');
}

/** One record of an S3 event notification. */
export function s3EventRecordFactory(
  overrides: Partial<{ key: string; encodedKey: string; bucket: string; eventName: string }> = {},
): Record<string, unknown> {
  const key = overrides.key ?? objectKeyFactory();
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: '2024-01-15T10:30:01.000Z',
    eventName: overrides.eventName ?? 'ObjectCreated:Put',
    s3: {
      s3SchemaVersion: '1.0',
      bucket: { name: overrides.bucket ?? `central-${randomId()}`, arn: 'arn:aws:s3:::central' },
      object: { key: overrides.encodedKey ?? s3EncodeKey(key), size: 1024, sequencer: randomId() },
    },
  };
}

/** An S3 event notification for the given keys (decoded; they are encoded as S3 does). */
export function s3EventFactory(
  keys: readonly string[] = [objectKeyFactory()],
  overrides: Partial<{ bucket: string; eventName: string }> = {},
): Record<string, unknown> {
  const bucket = overrides.bucket ?? `central-${randomId()}`;
  return {
    Records: keys.map((key) => s3EventRecordFactory({ key, bucket, ...overrides })),
  };
}

/** The `s3:TestEvent` S3 sends when a notification configuration is saved. */
export function s3TestEventFactory(): Record<string, unknown> {
  return {
    Service: 'Amazon S3',
    Event: 's3:TestEvent',
    Time: '2024-01-15T10:30:00.000Z',
    Bucket: `central-${randomId()}`,
    RequestId: randomId(),
    HostId: randomId(),
  };
}

/** An SNS envelope as SQS receives it from a topic: `Message` is the inner JSON, as a string. */
export function snsEnvelopeFactory(message: unknown): Record<string, unknown> {
  return {
    Type: 'Notification',
    MessageId: randomUUID(),
    TopicArn: `arn:aws:sns:us-east-1:123456789012:central-${randomId()}`,
    Subject: 'Amazon S3 Notification',
    Message: typeof message === 'string' ? message : JSON.stringify(message),
    Timestamp: '2024-01-15T10:30:01.000Z',
    SignatureVersion: '1',
  };
}

/** A log record whose JSON line is its event as Vector writes it, with `message`. */
export function logRecordFactory(offset: number, message: string): LogRecord {
  const event = logEventFactory({ message });
  return { offset, timestampMs: Date.parse(event['timestamp'] as string), event, json: JSON.stringify(event) };
}

/** `count` records at offsets 0…, each message unique and padded to `messageBytes`. */
export function logRecordsFactory(count: number, messageBytes = 40): LogRecord[] {
  return Array.from({ length: count }, (_, i) => logRecordFactory(i, `${i} ${randomId()} `.padEnd(messageBytes, 'x')));
}

/** The NDJSON a destination must end up holding for `records`: each line its JSON and a newline. */
export function ndjsonOfRecords(records: readonly LogRecord[]): string {
  return records.map((r) => `${r.json}\n`).join('');
}

/** The non-empty lines of NDJSON text, sorted: for content whose order a store or a retry changed. */
export function sortedLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '').sort();
}
