import { MAX_KEY_SEGMENT_BYTES, parseRfc3339Ms } from '../../domain/index.js';
import { type AuditColumns, parseAuditLine } from './audit.js';
import { clusterNameProblem } from './config.js';
import { type KlogLine, parseKlogLine, parseLogfmtLine } from './klog.js';
import { CloudwatchRefusalReason, type DataMessage, type SubscriptionLogEvent } from './subscription.js';

/**
 * The EKS control-plane components, each named by the log stream prefix EKS uses in the
 * cluster's one log group `/aws/eks/<cluster>/cluster`; the name is the application segment
 * of the central keys. https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html
 */
export const EksComponent = {
  API_SERVER_AUDIT: 'kube-apiserver-audit',
  API_SERVER: 'kube-apiserver',
  SCHEDULER: 'kube-scheduler',
  AUTHENTICATOR: 'authenticator',
  CONTROLLER_MANAGER: 'kube-controller-manager',
  CLOUD_CONTROLLER_MANAGER: 'cloud-controller-manager',
} as const;
export type EksComponent = (typeof EksComponent)[keyof typeof EksComponent];

/** Every component, in the order EKS documents them. */
export const EKS_COMPONENTS: readonly EksComponent[] = Object.values(EksComponent);
/** Longest prefix first: `kube-apiserver-audit` must win over `kube-apiserver`. */
const BY_LONGEST_PREFIX = [...EKS_COMPONENTS].sort((a, b) => b.length - a.length);

/** How an event's message was read. */
export const LogFormat = {
  KLOG: 'klog',
  AUDIT: 'audit',
  /** `key=value` pairs only (aws-iam-authenticator). */
  LOGFMT: 'logfmt',
  /** Anything else: kept as it is. */
  PLAIN: 'plain',
} as const;
export type LogFormat = (typeof LogFormat)[keyof typeof LogFormat];

/** The pod segment of a log stream whose name has nothing usable. */
export const UNKNOWN_POD_SEGMENT = 'unknown';

/** `/aws/eks/<cluster>/cluster`, the one log group EKS writes control-plane logs to. */
const EKS_LOG_GROUP = /^\/aws\/eks\/([^/]+)\/cluster$/;
const REPLACEMENT = '_';
/** The first control character code after the C0 range and DEL. */
const C0_END = 0x20;
const DEL = 0x7f;

/** What parsing one message found. */
export type ParsedMessage =
  | { readonly format: typeof LogFormat.KLOG; readonly klog: KlogLine }
  | { readonly format: typeof LogFormat.AUDIT; readonly audit: AuditColumns }
  | { readonly format: typeof LogFormat.LOGFMT; readonly level?: string; readonly fields: Readonly<Record<string, string>> }
  | { readonly format: typeof LogFormat.PLAIN };

/** One CloudWatch event, classified and parsed, with where it goes in the central store. */
export interface EksLogRecord {
  readonly component: EksComponent;
  /** Cluster segment of the key. */
  readonly cluster: string;
  /** Namespace segment of the key. */
  readonly tenant: string;
  /** Pod segment of the key: the log stream name made a valid segment. */
  readonly pod: string;
  readonly logGroup: string;
  readonly logStream: string;
  readonly eventId: string;
  /** The CloudWatch event timestamp, epoch ms. */
  readonly cloudwatchTimestampMs: number;
  /** The event's own time (klog, logfmt `time`), else the CloudWatch timestamp; RFC 3339. */
  readonly time: string;
  /** The original line. */
  readonly message: string;
  readonly parsed: ParsedMessage;
}

/** The outcome of classifying one `DATA_MESSAGE`. */
export type ClassifyResult =
  | { readonly ok: true; readonly component: EksComponent; readonly records: EksLogRecord[] }
  | { readonly ok: false; readonly reason: CloudwatchRefusalReason; readonly message: string };

/**
 * The component a log stream belongs to: the longest known prefix equal to the name or
 * followed by `-` (EKS names streams `<component>-<id>`).
 *
 * @returns the component, or undefined for a stream EKS does not write
 */
export function classifyLogStream(logStream: string): EksComponent | undefined {
  return BY_LONGEST_PREFIX.find((prefix) => logStream === prefix || logStream.startsWith(`${prefix}-`));
}

/** The cluster name in `/aws/eks/<cluster>/cluster`, or undefined for another group. */
export function clusterFromLogGroup(logGroup: string): string | undefined {
  return EKS_LOG_GROUP.exec(logGroup)?.[1];
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    out += char;
    bytes += size;
  }
  return out;
}

/**
 * A log stream name made a valid key segment: `/` and control characters become `_`, a
 * leading `.` becomes `_`, and the name is cut to the segment size limit. CloudWatch allows
 * 512 characters and any of `/` in stream names; the key layout allows neither.
 *
 * @param logStream - the stream name
 */
export function podSegmentFromLogStream(logStream: string): string {
  let segment = '';
  for (const char of logStream) {
    const code = char.codePointAt(0)!;
    segment += char === '/' || code < C0_END || code === DEL ? REPLACEMENT : char;
  }
  if (segment.startsWith('.')) segment = `${REPLACEMENT}${segment.slice(1)}`;
  segment = truncateUtf8(segment, MAX_KEY_SEGMENT_BYTES);
  return segment.trim() === '' ? UNKNOWN_POD_SEGMENT : segment;
}

function isoMs(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Reads one message in the format its component writes: audit JSON for the audit stream,
 * else klog, then logfmt, then plain text.
 *
 * @param component - the stream's component
 * @param event - the CloudWatch event
 */
export function parseEventMessage(component: EksComponent, event: SubscriptionLogEvent): ParsedMessage {
  if (component === EksComponent.API_SERVER_AUDIT) {
    const audit = parseAuditLine(event.message);
    return audit ? { format: LogFormat.AUDIT, audit } : { format: LogFormat.PLAIN };
  }
  const klog = parseKlogLine(event.message, event.timestamp);
  if (klog) return { format: LogFormat.KLOG, klog };
  const logfmt = parseLogfmtLine(event.message);
  if (logfmt) return { format: LogFormat.LOGFMT, ...logfmt };
  return { format: LogFormat.PLAIN };
}

function eventTime(parsed: ParsedMessage, cloudwatchMs: number): string {
  if (parsed.format === LogFormat.KLOG) return parsed.klog.time;
  if (parsed.format === LogFormat.LOGFMT) {
    const time = parsed.fields['time'];
    if (time !== undefined && parseRfc3339Ms(time) !== undefined) return time;
  }
  return isoMs(cloudwatchMs);
}

/**
 * Classifies a `DATA_MESSAGE` and parses its events. The whole message shares one stream,
 * so it is accepted or refused as one.
 *
 * @param payload - the decoded message
 * @param options - `tenant`; `clusterName` overrides the cluster in the log group name
 * @returns the records, or why the message was refused (`unknown_log_stream`, `unknown_cluster`)
 */
export function classifyDataMessage(
  payload: DataMessage,
  options: { tenant: string; clusterName?: string },
): ClassifyResult {
  const component = classifyLogStream(payload.logStream);
  if (component === undefined) {
    return {
      ok: false,
      reason: CloudwatchRefusalReason.UNKNOWN_LOG_STREAM,
      message:
        `Log stream '${payload.logStream}' of '${payload.logGroup}' is not an EKS control-plane stream; ` +
        `expected a name starting with one of ${EKS_COMPONENTS.join(', ')}.`,
    };
  }
  const cluster = options.clusterName ?? clusterFromLogGroup(payload.logGroup);
  if (cluster === undefined) {
    return {
      ok: false,
      reason: CloudwatchRefusalReason.UNKNOWN_CLUSTER,
      message:
        `Log group '${payload.logGroup}' is not named '/aws/eks/<cluster>/cluster' and no cluster name is configured; ` +
        'set the cluster name.',
    };
  }
  const problem = clusterNameProblem(cluster);
  if (problem !== undefined) {
    return {
      ok: false,
      reason: CloudwatchRefusalReason.UNKNOWN_CLUSTER,
      message: `Cluster name '${cluster}' of log group '${payload.logGroup}' ${problem}.`,
    };
  }
  const pod = podSegmentFromLogStream(payload.logStream);
  const records = payload.logEvents.map((event): EksLogRecord => {
    const parsed = parseEventMessage(component, event);
    return {
      component,
      cluster,
      tenant: options.tenant,
      pod,
      logGroup: payload.logGroup,
      logStream: payload.logStream,
      eventId: event.id,
      cloudwatchTimestampMs: event.timestamp,
      time: eventTime(parsed, event.timestamp),
      message: event.message,
      parsed,
    };
  });
  return { ok: true, component, records };
}
