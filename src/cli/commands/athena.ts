import type { Command } from 'commander';
import { ConfigValidationError } from '../../domain/index.js';
import { DEFAULT_ANALYTICS_PREFIX, DEFAULT_ATHENA_TABLE, renderAthenaDdl } from '../../ingest/cloudwatch/index.js';
import { CliError, type CliIo } from '../context.js';

interface DdlOptions {
  bucket?: string;
  prefix?: string;
  location?: string;
  table: string;
  database?: string;
  startDate?: string;
}

/** Flags by the option fields `renderAthenaDdl` names in its errors. */
const FLAGS: Readonly<Record<string, string>> = {
  location: '--location (or --bucket/--prefix)',
  table: '--table',
  database: '--database',
  startDate: '--start-date',
};

/** `s3://<bucket>/<prefix>/` with exactly one `/` between the parts and at the end. */
function locationOf(bucket: string, prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  return `s3://${bucket}/${trimmed === '' ? '' : `${trimmed}/`}`;
}

/** `tlr athena ddl`: the Athena table over the EKS analytics copy. */
export function registerAthenaCommand(program: Command, io: CliIo): void {
  const athena = program.command('athena').description('Athena tables over the analytics copies.');

  athena
    .command('ddl')
    .description(
      'Print the CREATE EXTERNAL TABLE statement (JSON SerDe, partitions component/dt/hour with partition ' +
        'projection, so no crawler is needed) for the EKS control-plane analytics copy.',
    )
    .option('--bucket <bucket>', 'bucket of the analytics copy (env ANALYTICS_BUCKET, then SOURCE_BUCKET)')
    .option('--prefix <prefix>', `prefix of the analytics copy (env ANALYTICS_PREFIX; default ${DEFAULT_ANALYTICS_PREFIX})`)
    .option('--location <url>', 's3://bucket/prefix/ instead of --bucket and --prefix')
    .option('--table <name>', 'table name', DEFAULT_ATHENA_TABLE)
    .option('--database <name>', 'database to create the table in (default: the query editor\'s)')
    .option('--start-date <YYYY-MM-DD>', 'first day of the dt projection (default today, UTC); queries without dt visit every day since')
    .action((options: DdlOptions) => {
      let location = options.location;
      if (location === undefined) {
        const bucket = options.bucket ?? (process.env['ANALYTICS_BUCKET'] || process.env['SOURCE_BUCKET'] || undefined);
        if (bucket === undefined) {
          throw new CliError('Name the analytics bucket: --bucket, --location, ANALYTICS_BUCKET or SOURCE_BUCKET.');
        }
        location = locationOf(bucket, options.prefix ?? (process.env['ANALYTICS_PREFIX'] || DEFAULT_ANALYTICS_PREFIX));
      }
      try {
        io.out(
          renderAthenaDdl({
            location,
            table: options.table,
            ...(options.database !== undefined && { database: options.database }),
            startDate: options.startDate ?? new Date().toISOString().slice(0, 10),
          }),
        );
      } catch (error) {
        if (!(error instanceof ConfigValidationError)) throw error;
        throw new CliError(error.fieldErrors.map((e) => `${FLAGS[e.field] ?? e.field} ${e.message}.`).join(' '));
      }
    });
}
