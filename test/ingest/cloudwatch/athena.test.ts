import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/index.js';
import {
  ANALYTICS_COLUMNS,
  classifyDataMessage,
  type DataMessage,
  readSubscriptionPayload,
  renderAthenaDdl,
  toAnalyticsRow,
} from '../../../src/ingest/cloudwatch/index.js';
import { runCli } from '../../helpers/cli.js';
import { auditEventFactory, cloudwatchLogEventFactory, dataMessageFactory } from '../../helpers/cloudwatch-logs.js';

const EXPECTED_DDL = `CREATE EXTERNAL TABLE IF NOT EXISTS \`eks_control_plane_logs\` (
  \`event_time\`                 string,
  \`cloudwatch_timestamp\`       bigint,
  \`cluster\`                    string,
  \`tenant\`                     string,
  \`log_stream\`                 string,
  \`event_id\`                   string,
  \`format\`                     string,
  \`message\`                    string,
  \`level\`                      string,
  \`thread_id\`                  bigint,
  \`source\`                     string,
  \`fields\`                     map<string,string>,
  \`audit_id\`                   string,
  \`stage\`                      string,
  \`verb\`                       string,
  \`request_uri\`                string,
  \`user_username\`              string,
  \`user_groups\`                array<string>,
  \`user_agent\`                 string,
  \`source_ips\`                 array<string>,
  \`object_resource\`            string,
  \`object_namespace\`           string,
  \`object_name\`                string,
  \`object_api_group\`           string,
  \`object_api_version\`         string,
  \`response_code\`              int,
  \`request_received_timestamp\` string,
  \`stage_timestamp\`            string,
  \`annotations\`                string
)
PARTITIONED BY (component string, dt string, hour string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION 's3://central-logs/_analytics/eks/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.component.type' = 'enum',
  'projection.component.values' = 'kube-apiserver-audit,kube-apiserver,kube-scheduler,authenticator,kube-controller-manager,cloud-controller-manager',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2026-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://central-logs/_analytics/eks/component=\${component}/dt=\${dt}/hour=\${hour}/'
);
`;

describe('renderAthenaDdl', () => {
  it('declares the columns, the partitions, the JSON SerDe, the location and partition projection', () => {
    expect(renderAthenaDdl({ location: 's3://central-logs/_analytics/eks/', startDate: '2026-01-01' })).toBe(EXPECTED_DDL);
  });

  it('qualifies the table with the database', () => {
    expect(
      renderAthenaDdl({ location: 's3://lake/eks/', table: 'eks_logs', database: 'observability', startDate: '2026-01-01' }),
    ).toMatch(/^CREATE EXTERNAL TABLE IF NOT EXISTS `observability`\.`eks_logs` \(/);
  });

  it('names every bad option at once', () => {
    // Act
    let error: unknown;
    try {
      renderAthenaDdl({ location: "s3://x/it's/", table: 'EKS-logs', database: 'a b', startDate: '2026-02-30' });
    } catch (e) {
      error = e;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toEqual(['location', 'table', 'database', 'startDate']);
  });

  it('has a column for every key a row can hold', () => {
    // Prepare
    const payloads = [
      dataMessageFactory({ logStream: 'kube-apiserver-audit-1', logEvents: [cloudwatchLogEventFactory({ message: JSON.stringify(auditEventFactory()) })] }),
      dataMessageFactory({ logStream: 'kube-apiserver-1' }),
      dataMessageFactory({ logStream: 'authenticator-1', logEvents: [cloudwatchLogEventFactory({ message: 'level=info msg=ok' })] }),
    ];
    const columns = new Set(ANALYTICS_COLUMNS.map((c) => c.name));

    // Act
    const keys = payloads.flatMap((p) => {
      const result = classifyDataMessage(readSubscriptionPayload(p) as DataMessage, { tenant: 'acme' });
      return result.ok ? result.records.flatMap((r) => Object.keys(toAnalyticsRow(r))) : [];
    });

    // Assess
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((k) => !columns.has(k))).toEqual([]);
  });
});

describe('tlr athena ddl', () => {
  const saved = { ...process.env };

  beforeEach(() => {
    delete process.env['ANALYTICS_BUCKET'];
    delete process.env['ANALYTICS_PREFIX'];
    delete process.env['SOURCE_BUCKET'];
  });

  afterEach(() => {
    process.env = { ...saved };
  });

  it('prints the DDL for the central bucket', async () => {
    // Act
    const run = await runCli(['athena', 'ddl', '--bucket', 'central-logs', '--start-date', '2026-01-01']);

    // Assess
    expect(run).toEqual({ code: 0, stdout: EXPECTED_DDL, stderr: '' });
  });

  it('takes the bucket and prefix from the environment', async () => {
    // Prepare
    process.env['SOURCE_BUCKET'] = 'central-logs';
    process.env['ANALYTICS_BUCKET'] = 'lake';
    process.env['ANALYTICS_PREFIX'] = '/eks';

    // Act
    const run = await runCli(['athena', 'ddl', '--start-date', '2026-01-01']);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("LOCATION 's3://lake/eks/'");
    expect(run.stdout).toContain("'storage.location.template' = 's3://lake/eks/component=${component}/dt=${dt}/hour=${hour}/'");
  });

  it('starts the dt projection today by default', async () => {
    // Act
    const run = await runCli(['athena', 'ddl', '--location', 's3://lake/eks/']);

    // Assess
    expect(run.stdout).toContain(`'projection.dt.range' = '${new Date().toISOString().slice(0, 10)},NOW'`);
  });

  it.each([
    { name: 'no bucket', args: [], stderr: 'Error: Name the analytics bucket: --bucket, --location, ANALYTICS_BUCKET or SOURCE_BUCKET.\n' },
    {
      name: 'a bad start date and table',
      args: ['--bucket', 'b1b', '--start-date', '1 May', '--table', 'My-Table'],
      stderr: 'Error: --table must be lowercase letters, digits and underscores. --start-date must be a date YYYY-MM-DD.\n',
    },
  ])('refuses $name', async ({ args, stderr }) => {
    // Act
    const run = await runCli(['athena', 'ddl', ...args]);

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr });
  });
});
