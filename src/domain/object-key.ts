import { ObjectKeyError } from './errors.js';

/** The parts of a central object key `{cluster}/{namespace}/{application}/{pod}/…/{file}`. */
export interface LogObjectKey {
  readonly kind: 'log';
  readonly key: string;
  readonly clusterId: string;
  /** The tenant id is the namespace segment. */
  readonly tenantId: string;
  readonly application: string;
  readonly podName: string;
  /** Segments between the pod and the file name, kept in destination keys. */
  readonly middle: readonly string[];
  readonly fileName: string;
}

/** A key that belongs to the router itself (first segment starts with `_`). */
export interface InternalObjectKey {
  readonly kind: 'internal';
  readonly key: string;
}

export type ParsedObjectKey = LogObjectKey | InternalObjectKey;

/** First-segment prefix reserved for the router's own objects. */
export const INTERNAL_KEY_PREFIX = '_';
const MIN_SEGMENTS = 5;
const SEGMENT_NAMES = ['cluster_id', 'namespace', 'application', 'pod_name'] as const;

/**
 * Parses a central object key.
 *
 * @param key - the decoded object key
 * @returns the key's parts, or `{kind: 'internal'}` for the router's own keys
 * @throws ObjectKeyError naming the bad segment when the key has fewer than 5 segments
 *   or an empty or blank segment
 * @example parseObjectKey('c1/team-a/kube-apiserver/pod-1/20240115-103000-u.json.gz')
 */
export function parseObjectKey(key: string): ParsedObjectKey {
  const segments = key.split('/');
  if (segments[0]?.startsWith(INTERNAL_KEY_PREFIX)) return { kind: 'internal', key };
  if (segments.length < MIN_SEGMENTS) {
    throw new ObjectKeyError(
      `Object key '${key}' has ${segments.length} segments; expected at least ${MIN_SEGMENTS}: ` +
        '{cluster_id}/{namespace}/{application}/{pod_name}/{file}.',
      key,
    );
  }
  segments.forEach((segment, index) => {
    const name =
      index < SEGMENT_NAMES.length ? SEGMENT_NAMES[index] : index === segments.length - 1 ? 'file name' : `segment ${index + 1}`;
    if (segment.trim() === '') {
      throw new ObjectKeyError(`Object key '${key}' has an empty ${name} (segment ${index + 1}).`, key);
    }
    const problem = keySegmentProblem(segment);
    if (problem) throw new ObjectKeyError(`Object key '${key}' has a ${name} (segment ${index + 1}) that ${problem}.`, key);
  });
  const [clusterId, tenantId, application, podName] = segments as [string, string, string, string];
  return {
    kind: 'log',
    key,
    clusterId,
    tenantId,
    application,
    podName,
    middle: segments.slice(4, -1),
    fileName: segments[segments.length - 1]!,
  };
}

/**
 * The longest segment, in UTF-8 bytes: the common file-name limit, so a key is storable as
 * a path by the embedded object store too.
 */
export const MAX_KEY_SEGMENT_BYTES = 255;

/** Why a segment cannot be part of a central key, or undefined when it can. */
export function keySegmentProblem(segment: string): string | undefined {
  if (segment.trim() === '') return 'is empty or blank';
  if (segment.includes('/')) return "contains '/'";
  if (segment.includes('\0')) return 'contains a NUL character';
  // '.', '..' and hidden names would walk or hide paths in file stores; no Kubernetes name starts with '.'.
  if (segment.startsWith('.')) return "starts with '.'";
  if (Buffer.byteLength(segment, 'utf8') > MAX_KEY_SEGMENT_BYTES) return `is longer than ${MAX_KEY_SEGMENT_BYTES} bytes`;
  return undefined;
}

/** A valid key segment: see `keySegmentProblem`. */
export function isValidKeySegment(segment: string): boolean {
  return keySegmentProblem(segment) === undefined;
}

/**
 * Builds the central key for a new object, in the layout Vector writes.
 *
 * @param parts - cluster, namespace, application and pod; each a valid key segment
 * @param createdAtMs - creation time, rendered as `YYYYMMDD-HHMMSS` in UTC
 * @param uuid - a unique id for the object
 * @throws ObjectKeyError when a part is not a valid segment
 */
export function buildObjectKey(
  parts: { clusterId: string; namespace: string; application: string; podName: string },
  createdAtMs: number,
  uuid: string,
): string {
  const segments = [parts.clusterId, parts.namespace, parts.application, parts.podName];
  for (const [i, segment] of segments.entries()) {
    if (!isValidKeySegment(segment)) {
      throw new ObjectKeyError(
        `Invalid ${SEGMENT_NAMES[i]} '${segment}' for an object key.`,
        segments.join('/'),
      );
    }
  }
  return `${segments.join('/')}/${formatKeyTimestamp(createdAtMs)}-${uuid}.json.gz`;
}

/** `YYYYMMDD-HHMMSS` in UTC. */
export function formatKeyTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-15T10:30:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

const KEY_TIMESTAMP = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})/;

/** The creation time encoded in a file name `YYYYMMDD-HHMMSS-…`, or undefined. */
export function parseKeyTimestamp(fileName: string): number | undefined {
  const m = KEY_TIMESTAMP.exec(fileName);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  // Date.UTC rolls impossible dates over (month 13 → January); such names are not timestamps.
  return Number.isNaN(ms) || formatKeyTimestamp(ms) !== m[0] ? undefined : ms;
}
