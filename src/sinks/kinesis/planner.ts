import { groupMembers, groupNames, type LogObjectKey } from '../../domain/index.js';
import { createNdjsonRecordPlanner, type NdjsonRecordLimits, type NdjsonRecordsPayload } from '../ndjson-records.js';
import type { SinkPlanner } from '../types.js';
import {
  DEFAULT_PARTITION_KEY_TEMPLATE,
  defaultKinesisLimits,
  type KinesisSinkConfig,
  LogCategory,
  MAX_PARTITION_KEY_LENGTH,
  type PartitionKeyPlaceholder,
  streamArnRegion,
} from './config.js';

/** Which stream a request writes to, as `PutRecords` takes it: by name or by ARN. */
export type KinesisStreamTarget = { readonly StreamName: string } | { readonly StreamARN: string };

/** What one `PutRecords` call sends: records of one partition key into one stream. */
export interface KinesisPayload extends NdjsonRecordsPayload {
  readonly stream: KinesisStreamTarget;
  readonly partitionKey: string;
}

const PLACEHOLDER = /\{([a-z_]+)\}/g;
/** Applications written by the audit pipelines: `audit`, `kube-apiserver-audit`, … */
const AUDIT_APPLICATION = /(^|-)audit$/;
/** Namespaces of the platform itself, as OpenShift's log forwarder counts infrastructure. */
const INFRASTRUCTURE_NAMESPACE = /^(default|kube|openshift)$|^(kube|openshift)-/;
/** Control-plane applications: every member of an application group. */
const CONTROL_PLANE_APPLICATIONS: ReadonlySet<string> = new Set(groupNames().flatMap((g) => groupMembers(g) ?? []));

/**
 * The log category of a central object (see {@link LogCategory} for the rules), decided
 * by its application and namespace, so all records of one object go to one stream.
 */
export function logCategoryOf(object: Pick<LogObjectKey, 'application' | 'tenantId'>): LogCategory {
  if (AUDIT_APPLICATION.test(object.application)) return LogCategory.AUDIT;
  if (CONTROL_PLANE_APPLICATIONS.has(object.application) || INFRASTRUCTURE_NAMESPACE.test(object.tenantId)) {
    return LogCategory.INFRASTRUCTURE;
  }
  return LogCategory.APPLICATION;
}

/** A configured stream, name or ARN, as `PutRecords` takes it. */
export function streamTargetOf(stream: string): KinesisStreamTarget {
  return streamArnRegion(stream) !== undefined ? { StreamARN: stream } : { StreamName: stream };
}

/**
 * The stream a central object goes to: its category's stream from `streams` when the config
 * names one, else the destination's `stream_name` or `stream_arn`.
 */
export function kinesisStreamFor(config: KinesisSinkConfig, object: Pick<LogObjectKey, 'application' | 'tenantId'>): KinesisStreamTarget {
  const routed = config.streams?.[logCategoryOf(object)];
  const stream = routed ?? config.stream_arn ?? config.stream_name;
  if (stream === undefined) throw new Error("A validated 'kinesis' config names stream_name or stream_arn.");
  return streamTargetOf(stream);
}

/**
 * The partition key of a central object: the template with its placeholders filled from
 * the key, cut at 256 characters (never splitting a surrogate pair); `_` when empty.
 *
 * @param template - for example `{pod_name}` or `{namespace}/{application}`
 */
export function partitionKeyFor(object: LogObjectKey, template = DEFAULT_PARTITION_KEY_TEMPLATE): string {
  const values: Record<PartitionKeyPlaceholder, string> = {
    pod_name: object.podName,
    application: object.application,
    namespace: object.tenantId,
    cluster_id: object.clusterId,
  };
  const filled = template.replace(PLACEHOLDER, (whole, key: string) =>
    Object.hasOwn(values, key) ? values[key as PartitionKeyPlaceholder] : whole,
  );
  // Kinesis counts the key in Unicode characters (code points).
  const key = [...filled].slice(0, MAX_PARTITION_KEY_LENGTH).join('');
  return key === '' ? '_' : key;
}

/** Options of {@link createKinesisPlanner}. */
export interface KinesisPlannerOptions {
  readonly limits?: NdjsonRecordLimits;
  /** Called for each line cut to fit a record. */
  readonly onTruncated?: (bytesRemoved: number) => void;
}

/**
 * Plans one object's records into `PutRecords` requests for one stream and partition key:
 * lines joined as NDJSON into records of at most `maxRecordBytes` (partition key included),
 * at most 500 records and `maxRequestBytes` (partition keys included) per request.
 *
 * @param stream - where every request of this object goes
 * @param partitionKey - the key of every record of this object
 */
export function createKinesisPlanner(
  stream: KinesisStreamTarget,
  partitionKey: string,
  options: KinesisPlannerOptions = {},
): SinkPlanner<KinesisPayload> {
  return createNdjsonRecordPlanner<KinesisPayload>({
    limits: options.limits ?? defaultKinesisLimits(),
    // Both the record and the request limits count each record's partition key.
    recordOverheadBytes: Buffer.byteLength(partitionKey, 'utf8'),
    toPayload: (records) => ({ stream, partitionKey, records }),
    ...(options.onTruncated !== undefined && { onTruncated: options.onTruncated }),
  });
}
