import { errorText, keySegmentProblem } from '../../domain/index.js';
import type { BufferedEvent } from '../../stores/ports.js';

/**
 * Event normalisation for the HTTP ingest: reading bodies, finding each event's object-key
 * group in the layouts collectors send, and rendering the stored line. Pure: no I/O.
 *
 * Accepted layouts:
 * - Vector style, flat: `namespace`, `application`, `pod_name`, optional `cluster_id`;
 * - Vector `kubernetes_logs`: `kubernetes.pod_namespace`, `kubernetes.pod_name`,
 *   `kubernetes.pod_labels.app`, `kubernetes.container_name`;
 * - Fluent Bit `kubernetes` filter: `kubernetes.namespace_name`, `kubernetes.pod_name`,
 *   `kubernetes.labels.app`, `kubernetes.container_name`.
 */

/** Application and pod segment used when an event names neither. */
export const UNKNOWN_SEGMENT = 'unknown';
/** How much of a bad value an error message quotes. */
const MAX_QUOTED_CHARS = 64;

/** Why one event was refused. */
export const EventRejectReason = {
  NOT_AN_OBJECT: 'not_an_object',
  MISSING_NAMESPACE: 'missing_namespace',
  INVALID_NAMESPACE: 'invalid_namespace',
  INVALID_APPLICATION: 'invalid_application',
  INVALID_POD_NAME: 'invalid_pod_name',
  INVALID_CLUSTER_ID: 'invalid_cluster_id',
} as const;
export type EventRejectReason = (typeof EventRejectReason)[keyof typeof EventRejectReason];

/** Where an event belongs, before authorization. */
export interface EventIdentity {
  readonly namespace: string;
  readonly application: string;
  readonly podName: string;
  /** The `cluster_id` the event itself declares, if any; must equal the token's cluster. */
  readonly declaredClusterId: string | undefined;
}

/** The outcome of reading one event. */
export type EventIdentityResult =
  | { readonly ok: true; readonly event: Record<string, unknown>; readonly identity: EventIdentity }
  | { readonly ok: false; readonly reason: EventRejectReason; readonly message: string };

/** One value of a request body, with the NDJSON line it came from. */
export interface BodyEvent {
  readonly value: unknown;
  /** 1-based line number, for NDJSON bodies. */
  readonly line?: number;
}

/** The outcome of reading a request body. */
export type ParsedBody =
  | { readonly ok: true; readonly events: BodyEvent[] }
  | { readonly ok: false; readonly message: string; readonly lines: { line: number; message: string }[] };

/** Most bad lines an NDJSON parse error lists; the count says how many more there were. */
export const MAX_REPORTED_BAD_LINES = 20;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}


/**
 * Reads an NDJSON body: one JSON value per line; a line holding an array expands to its
 * elements; blank lines are skipped. Any line that is not JSON fails the whole body, since
 * it means the framing is broken and the line numbers below it cannot be trusted.
 */
export function parseNdjsonBody(text: string): ParsedBody {
  const events: BodyEvent[] = [];
  const bad: { line: number; message: string }[] = [];
  let badCount = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      badCount++;
      if (bad.length < MAX_REPORTED_BAD_LINES) {
        bad.push({ line, message: `Line ${line} is not valid JSON: ${errorText(error)}.` });
      }
      continue;
    }
    if (Array.isArray(value)) for (const element of value) events.push({ value: element, line });
    else events.push({ value, line });
  }
  if (badCount > 0) {
    const more = badCount > bad.length ? ` (${badCount} bad lines in all)` : '';
    return {
      ok: false,
      message: `The body is not valid NDJSON: ${bad[0]!.message.slice(0, -1)}${more}.`,
      lines: bad,
    };
  }
  return { ok: true, events };
}

/** Reads a JSON body: an array of events, or one event. */
export function parseJsonBody(text: string): ParsedBody {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `The body is not valid JSON: ${errorText(error)}.`, lines: [] };
  }
  if (Array.isArray(value)) return { ok: true, events: value.map((v) => ({ value: v })) };
  if (isPlainObject(value)) return { ok: true, events: [{ value }] };
  return { ok: false, message: 'The body must be a JSON object or an array of JSON objects.', lines: [] };
}

function quote(value: string): string {
  return value.length > MAX_QUOTED_CHARS ? `'${value.slice(0, MAX_QUOTED_CHARS)}…'` : `'${value}'`;
}

type Candidate = readonly [path: string, value: unknown];

type Resolved = { ok: true; value: string | undefined } | { ok: false; message: string };

/** The first candidate that is set (not null or undefined), which must be a valid segment. */
function resolve(candidates: readonly Candidate[]): Resolved {
  for (const [path, value] of candidates) {
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') return { ok: false, message: `'${path}' must be a string.` };
    const problem = keySegmentProblem(value);
    if (problem !== undefined) {
      return { ok: false, message: `'${path}' value ${quote(value)} is not a valid object key segment: it ${problem}.` };
    }
    return { ok: true, value };
  }
  return { ok: true, value: undefined };
}

function child(value: unknown, key: string): unknown {
  return isPlainObject(value) ? value[key] : undefined;
}

/**
 * Finds where an event belongs: its namespace (required), application and pod (default
 * `unknown`) and the cluster it declares, from the flat or the `kubernetes` layout.
 *
 * @param value - one element of the request body
 */
export function readEventIdentity(value: unknown): EventIdentityResult {
  if (!isPlainObject(value)) {
    return { ok: false, reason: EventRejectReason.NOT_AN_OBJECT, message: 'The event is not a JSON object.' };
  }
  const kubernetes = value['kubernetes'];
  const namespace = resolve([
    ['namespace', value['namespace']],
    ['kubernetes.pod_namespace', child(kubernetes, 'pod_namespace')],
    ['kubernetes.namespace_name', child(kubernetes, 'namespace_name')],
  ]);
  if (!namespace.ok)
    return { ok: false, reason: EventRejectReason.INVALID_NAMESPACE, message: namespace.message };
  if (namespace.value === undefined) {
    return {
      ok: false,
      reason: EventRejectReason.MISSING_NAMESPACE,
      message:
        "The event names no namespace: set 'namespace', 'kubernetes.pod_namespace' or 'kubernetes.namespace_name'.",
    };
  }
  const application = resolve([
    ['application', value['application']],
    ['kubernetes.pod_labels.app', child(child(kubernetes, 'pod_labels'), 'app')],
    ['kubernetes.labels.app', child(child(kubernetes, 'labels'), 'app')],
    ['kubernetes.container_name', child(kubernetes, 'container_name')],
  ]);
  if (!application.ok) {
    return { ok: false, reason: EventRejectReason.INVALID_APPLICATION, message: application.message };
  }
  const podName = resolve([
    ['pod_name', value['pod_name']],
    ['kubernetes.pod_name', child(kubernetes, 'pod_name')],
  ]);
  if (!podName.ok) return { ok: false, reason: EventRejectReason.INVALID_POD_NAME, message: podName.message };
  const clusterId = resolve([['cluster_id', value['cluster_id']]]);
  if (!clusterId.ok) {
    return { ok: false, reason: EventRejectReason.INVALID_CLUSTER_ID, message: clusterId.message };
  }
  return {
    ok: true,
    event: value,
    identity: {
      namespace: namespace.value,
      application: application.value ?? UNKNOWN_SEGMENT,
      podName: podName.value ?? UNKNOWN_SEGMENT,
      declaredClusterId: clusterId.value,
    },
  };
}

/**
 * The event as it is stored: the flat `cluster_id`, `namespace`, `application` and
 * `pod_name` are set, so the processor reads every event the same way whatever the
 * collector. Fields the event already had keep their position.
 *
 * @param clusterId - the token's cluster (an event declaring another one is refused earlier)
 */
export function toBufferedEvent(
  event: Record<string, unknown>,
  identity: EventIdentity,
  clusterId: string,
): BufferedEvent {
  const line = JSON.stringify({
    ...event,
    cluster_id: clusterId,
    namespace: identity.namespace,
    application: identity.application,
    pod_name: identity.podName,
  });
  return {
    clusterId,
    namespace: identity.namespace,
    application: identity.application,
    podName: identity.podName,
    line,
  };
}
