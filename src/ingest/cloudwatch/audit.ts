/**
 * Kubernetes audit events (`audit.k8s.io/v1` `Event`, one JSON object per line in the
 * `kube-apiserver-audit` streams) flattened into stable columns for analytics. Field
 * reference: https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/#audit-k8s-io-v1-Event
 * Pure: no I/O.
 */

/** Hive/Athena types the analytics columns use. */
export const ColumnType = {
  STRING: 'string',
  INT: 'int',
  BIGINT: 'bigint',
  STRING_ARRAY: 'array<string>',
  STRING_MAP: 'map<string,string>',
} as const;
export type ColumnType = (typeof ColumnType)[keyof typeof ColumnType];

/** One analytics column: its name (lowercase, Athena-safe), type, and where it comes from. */
export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
}

/** One flattened audit column, with the audit event path it is read from. */
export interface AuditColumnSpec extends ColumnSpec {
  /** Dotted path in the audit event. */
  readonly path: string;
}

/**
 * The audit columns, in table order. Names are snake_case because Athena (Hive) column names
 * cannot hold dots and are case-insensitive; `path` is the audit field each one reads.
 * A value of another JSON type than the column's is left out (NULL), never coerced.
 */
export const AUDIT_COLUMNS = [
  { name: 'audit_id', path: 'auditID', type: ColumnType.STRING, description: 'Unique id of the request.' },
  { name: 'stage', path: 'stage', type: ColumnType.STRING, description: 'RequestReceived, ResponseStarted, ResponseComplete or Panic.' },
  { name: 'verb', path: 'verb', type: ColumnType.STRING, description: 'get, list, watch, create, update, patch, delete, …' },
  { name: 'request_uri', path: 'requestURI', type: ColumnType.STRING, description: 'The request URI.' },
  { name: 'user_username', path: 'user.username', type: ColumnType.STRING, description: 'The authenticated user.' },
  { name: 'user_groups', path: 'user.groups', type: ColumnType.STRING_ARRAY, description: "The user's groups." },
  { name: 'user_agent', path: 'userAgent', type: ColumnType.STRING, description: "The client's user agent." },
  { name: 'source_ips', path: 'sourceIPs', type: ColumnType.STRING_ARRAY, description: 'Client addresses, proxies included.' },
  { name: 'object_resource', path: 'objectRef.resource', type: ColumnType.STRING, description: 'Resource (pods, secrets, …).' },
  { name: 'object_namespace', path: 'objectRef.namespace', type: ColumnType.STRING, description: "The object's namespace." },
  { name: 'object_name', path: 'objectRef.name', type: ColumnType.STRING, description: "The object's name." },
  { name: 'object_api_group', path: 'objectRef.apiGroup', type: ColumnType.STRING, description: 'API group ("" for core).' },
  { name: 'object_api_version', path: 'objectRef.apiVersion', type: ColumnType.STRING, description: 'API version.' },
  { name: 'response_code', path: 'responseStatus.code', type: ColumnType.INT, description: 'HTTP status of the response.' },
  {
    name: 'request_received_timestamp',
    path: 'requestReceivedTimestamp',
    type: ColumnType.STRING,
    description: 'When the API server received the request (RFC 3339, µs).',
  },
  { name: 'stage_timestamp', path: 'stageTimestamp', type: ColumnType.STRING, description: 'When this stage was reached (RFC 3339, µs).' },
  { name: 'annotations', path: 'annotations', type: ColumnType.STRING, description: 'The annotations object as a JSON string.' },
] as const satisfies readonly AuditColumnSpec[];

/** A flattened audit event: the columns that had a value of their type. */
export type AuditColumns = { [C in (typeof AUDIT_COLUMNS)[number] as C['name']]?: C['type'] extends 'int'
  ? number
  : C['type'] extends 'array<string>'
    ? string[]
    : string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function at(event: Record<string, unknown>, path: string): unknown {
  let node: unknown = event;
  for (const part of path.split('.')) node = isRecord(node) ? node[part] : undefined;
  return node;
}

function columnValue(type: ColumnType, path: string, value: unknown): string | number | string[] | undefined {
  // Annotations are a map of free-form keys: one JSON string keeps the schema stable.
  if (path === 'annotations') return isRecord(value) ? JSON.stringify(value) : undefined;
  switch (type) {
    case ColumnType.STRING:
      return typeof value === 'string' ? value : undefined;
    case ColumnType.INT:
      return Number.isInteger(value) ? (value as number) : undefined;
    case ColumnType.STRING_ARRAY:
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? [...(value as string[])] : undefined;
    default:
      return undefined;
  }
}

/**
 * Flattens one audit event into the `AUDIT_COLUMNS`.
 *
 * @param event - the parsed audit event
 */
export function flattenAuditEvent(event: Record<string, unknown>): AuditColumns {
  const columns: Record<string, unknown> = {};
  for (const column of AUDIT_COLUMNS) {
    const value = columnValue(column.type, column.path, at(event, column.path));
    if (value !== undefined) columns[column.name] = value;
  }
  return columns as AuditColumns;
}

/**
 * Reads one audit line.
 *
 * @param line - the CloudWatch event message
 * @returns the columns, or undefined when the line is not a JSON object
 */
export function parseAuditLine(line: string): AuditColumns | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isRecord(value) ? flattenAuditEvent(value) : undefined;
}
