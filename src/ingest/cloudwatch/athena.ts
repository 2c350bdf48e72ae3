import { ConfigValidationError, type FieldError } from '../../domain/index.js';
import { AUDIT_COLUMNS, type ColumnSpec, ColumnType } from './audit.js';
import { EKS_COMPONENTS, type EksComponent, type EksLogRecord, LogFormat } from './classify.js';

/**
 * The analytics table: its columns, how a record becomes a row, its Hive partitions
 * (`component=…/dt=YYYY-MM-DD/hour=HH/`) and the Athena DDL with partition projection, so
 * Athena finds partitions from the key layout without a crawler or `MSCK REPAIR`.
 * Projection: https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html
 */

/** Columns every row has (NULL where a format has no value), before the audit columns. */
export const COMMON_ANALYTICS_COLUMNS: readonly ColumnSpec[] = [
  { name: 'event_time', type: ColumnType.STRING, description: "The event's own time (klog, logfmt `time`), else the CloudWatch timestamp; RFC 3339." },
  { name: 'cloudwatch_timestamp', type: ColumnType.BIGINT, description: 'The CloudWatch event timestamp, epoch milliseconds.' },
  { name: 'cluster', type: ColumnType.STRING, description: 'The EKS cluster (cluster segment of the central keys).' },
  { name: 'tenant', type: ColumnType.STRING, description: 'The tenant (namespace segment of the central keys).' },
  { name: 'log_stream', type: ColumnType.STRING, description: 'The CloudWatch log stream.' },
  { name: 'event_id', type: ColumnType.STRING, description: 'The CloudWatch event id.' },
  { name: 'format', type: ColumnType.STRING, description: 'How the line was read: klog, audit, logfmt or plain.' },
  {
    name: 'message',
    type: ColumnType.STRING,
    description: 'klog: the message without header and fields; otherwise the whole line (audit: the event JSON, for json_extract).',
  },
  { name: 'level', type: ColumnType.STRING, description: 'klog: info, warning, error or fatal; logfmt: its `level`.' },
  { name: 'thread_id', type: ColumnType.BIGINT, description: 'klog: the thread id.' },
  { name: 'source', type: ColumnType.STRING, description: 'klog: `file.go:line`.' },
  { name: 'fields', type: ColumnType.STRING_MAP, description: 'klog: the trailing key=value pairs; logfmt: every pair.' },
];

/** Every data column of the analytics table, in order. */
export const ANALYTICS_COLUMNS: readonly ColumnSpec[] = [...COMMON_ANALYTICS_COLUMNS, ...AUDIT_COLUMNS];

/** The partition columns, in key order. */
export const ANALYTICS_PARTITION_COLUMNS = ['component', 'dt', 'hour'] as const;

/** Default table name of `tlr athena ddl`. */
export const DEFAULT_ATHENA_TABLE = 'eks_control_plane_logs';

/** The partition of one row. */
export interface AnalyticsPartition {
  readonly component: EksComponent;
  /** `YYYY-MM-DD`, UTC. */
  readonly dt: string;
  /** `HH`, UTC, two digits. */
  readonly hour: string;
}

/**
 * The partition of a record, from its CloudWatch timestamp (always present, unlike the
 * event's own time), in UTC.
 */
export function analyticsPartition(record: EksLogRecord): AnalyticsPartition {
  const iso = new Date(record.cloudwatchTimestampMs).toISOString();
  return { component: record.component, dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/**
 * The key prefix of a partition.
 *
 * @param prefix - the analytics prefix, ending in `/`
 */
export function analyticsPartitionPrefix(prefix: string, partition: AnalyticsPartition): string {
  return `${prefix}component=${partition.component}/dt=${partition.dt}/hour=${partition.hour}/`;
}

/**
 * One analytics row: the columns of `ANALYTICS_COLUMNS` that have a value. The partition
 * columns are not in the row; Athena reads them from the key.
 */
export function toAnalyticsRow(record: EksLogRecord): Record<string, unknown> {
  const { parsed } = record;
  const row: Record<string, unknown> = {
    event_time: record.time,
    cloudwatch_timestamp: record.cloudwatchTimestampMs,
    cluster: record.cluster,
    tenant: record.tenant,
    log_stream: record.logStream,
    event_id: record.eventId,
    format: parsed.format,
    message: parsed.format === LogFormat.KLOG ? parsed.klog.message : record.message,
  };
  if (parsed.format === LogFormat.KLOG) {
    row['level'] = parsed.klog.level;
    row['thread_id'] = parsed.klog.threadId;
    row['source'] = parsed.klog.source;
    row['fields'] = parsed.klog.fields;
  } else if (parsed.format === LogFormat.LOGFMT) {
    if (parsed.level !== undefined) row['level'] = parsed.level;
    row['fields'] = parsed.fields;
  } else if (parsed.format === LogFormat.AUDIT) {
    Object.assign(row, parsed.audit);
  }
  return row;
}

/** What `renderAthenaDdl` needs. */
export interface AthenaDdlOptions {
  /** `s3://bucket/prefix/`: where the partitions start. */
  readonly location: string;
  /** Default `eks_control_plane_logs`. */
  readonly table?: string;
  /** Qualifies the table when set. */
  readonly database?: string;
  /**
   * First day of the `dt` projection (`YYYY-MM-DD`); the range ends at `NOW`. Keep it close to
   * the first data: a query without a `dt` condition visits every projected day.
   */
  readonly startDate: string;
}

/** Athena table and database names: lowercase letters, digits and underscores. */
const ATHENA_NAME = /^[a-z0-9_]{1,255}$/;
const S3_LOCATION = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^'\\]*)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function validateDdlOptions(options: AthenaDdlOptions): void {
  const errors: FieldError[] = [];
  if (!S3_LOCATION.test(options.location)) {
    errors.push({ field: 'location', message: "must be 's3://<bucket>/<prefix>/' without quotes or backslashes" });
  } else if (!options.location.endsWith('/')) {
    errors.push({ field: 'location', message: "must end with '/'" });
  }
  const table = options.table ?? DEFAULT_ATHENA_TABLE;
  if (!ATHENA_NAME.test(table)) errors.push({ field: 'table', message: 'must be lowercase letters, digits and underscores' });
  if (options.database !== undefined && !ATHENA_NAME.test(options.database)) {
    errors.push({ field: 'database', message: 'must be lowercase letters, digits and underscores' });
  }
  const startMs = DATE.test(options.startDate) ? Date.parse(`${options.startDate}T00:00:00Z`) : Number.NaN;
  if (Number.isNaN(startMs) || new Date(startMs).toISOString().slice(0, 10) !== options.startDate) {
    errors.push({ field: 'startDate', message: 'must be a date YYYY-MM-DD' });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'Athena table options');
}

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The `CREATE EXTERNAL TABLE` statement for the analytics location: JSON SerDe over the gzip
 * NDJSON objects, partitioned by `component`, `dt` and `hour`, with partition projection.
 *
 * @throws ConfigValidationError when the location, names or start date are malformed
 * @example renderAthenaDdl({ location: 's3://central/_analytics/eks/', startDate: '2026-01-01' })
 */
export function renderAthenaDdl(options: AthenaDdlOptions): string {
  validateDdlOptions(options);
  const table = options.table ?? DEFAULT_ATHENA_TABLE;
  const name = options.database !== undefined ? `\`${options.database}\`.\`${table}\`` : `\`${table}\``;
  const width = Math.max(...ANALYTICS_COLUMNS.map((c) => c.name.length)) + 2;
  const columns = ANALYTICS_COLUMNS.map((c) => `  ${`\`${c.name}\``.padEnd(width)} ${c.type}`).join(',\n');
  // Athena fills `${…}` in the template with the projected values; not JS interpolation.
  const template = `${options.location}component=\${component}/dt=\${dt}/hour=\${hour}/`;
  const properties: [string, string][] = [
    ['projection.enabled', 'true'],
    ['projection.component.type', 'enum'],
    ['projection.component.values', EKS_COMPONENTS.join(',')],
    ['projection.dt.type', 'date'],
    ['projection.dt.format', 'yyyy-MM-dd'],
    ['projection.dt.range', `${options.startDate},NOW`],
    ['projection.dt.interval', '1'],
    ['projection.dt.interval.unit', 'DAYS'],
    ['projection.hour.type', 'integer'],
    ['projection.hour.range', '0,23'],
    ['projection.hour.digits', '2'],
    ['storage.location.template', template],
  ];
  return [
    `CREATE EXTERNAL TABLE IF NOT EXISTS ${name} (`,
    columns,
    ')',
    `PARTITIONED BY (${ANALYTICS_PARTITION_COLUMNS.map((c) => `${c} string`).join(', ')})`,
    "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'",
    "WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')",
    `LOCATION ${sqlString(options.location)}`,
    'TBLPROPERTIES (',
    properties.map(([k, v]) => `  ${sqlString(k)} = ${sqlString(v)}`).join(',\n'),
    ');',
    '',
  ].join('\n');
}
