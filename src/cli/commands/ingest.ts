import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { ConfigValidationError, errorText } from '../../domain/index.js';
import { silentLogger } from '../../logging/index.js';
import {
  CloudwatchPayloadError,
  CloudwatchRefusalReason,
  createCloudwatchIngest,
  createCloudwatchWriter,
  DEFAULT_ANALYTICS_PREFIX,
  type IngestRefusal,
  type IngestSummary,
  looksGzipped,
  type PayloadSource,
  readLambdaEvent,
  validateCloudwatchIngestConfig,
} from '../../ingest/cloudwatch/index.js';
import { DEFAULT_FORWARD_PORT } from '../../ingest/forward/index.js';
import { readIngestTokensFile } from '../../ingest/http/index.js';
import { DEFAULT_HOST, DEFAULT_PORT, FORWARD_SHARED_KEY_ENV } from '../../runtimes/embedded.js';
import {
  INGEST_TOKEN_ENV,
  SOURCE_BUCKET_ENV,
  startIngestGateway,
} from '../../runtimes/ingest-gateway.js';
import { CliError, type CliIo, cliLogger, dataDirOf, type GlobalOptions, toJson, withStores } from '../context.js';
import { addForwardOptions, type ForwardFlags, forwardOptionsFromFlags } from '../forward-flags.js';
import { parsePort } from './up.js';

interface ServeOptions extends ForwardFlags {
  host: string;
  port: number;
  tokensFile?: string;
  clusterId?: string;
}

/** `tlr ingest serve`: the ingest gateway, writing into the central bucket until SIGTERM or SIGINT. */
function registerServeCommand(ingest: Command, io: CliIo, globals: () => GlobalOptions): void {
  const serve = ingest
    .command('serve')
    .description(
      `The ingest gateway: HTTP ingest (and Fluent Forward with --forward) written into the central bucket ${SOURCE_BUCKET_ENV} ` +
        'at the usual key layout, for clusters whose collectors cannot write to S3. Events are acknowledged once ' +
        'committed to the buffer in the data directory (keep it on a volume that survives restarts); the bucket\'s ' +
        'own notifications bring the objects to the processor. See docs/ingest-gateway.md.',
    )
    .option('--host <host>', 'listen address (pods pass 0.0.0.0)', DEFAULT_HOST)
    .option('--port <port>', 'HTTP listen port (0 = any free port)', parsePort, DEFAULT_PORT)
    .option('--tokens-file <file>', 'JSON array of ingest tokens: [{"id", "token", "cluster_id", "namespaces": [...]}]')
    .option('--cluster-id <id>', `the cluster of ${INGEST_TOKEN_ENV} and of ${FORWARD_SHARED_KEY_ENV} (every namespace)`);
  addForwardOptions(serve, `also accept Fluent Forward on port ${DEFAULT_FORWARD_PORT} (needs --forward-auth or ${FORWARD_SHARED_KEY_ENV})`, `JSON: {"shared_key", "cluster_id", "namespaces", "users": [...]}; default ${FORWARD_SHARED_KEY_ENV} with --cluster-id`)
    .action(async (options: ServeOptions) => {
      const logger = cliLogger(globals());
      const forward = await forwardOptionsFromFlags(options);
      const tokens = options.tokensFile ? await readIngestTokensFile(options.tokensFile) : [];
      const gateway = await startIngestGateway({
        dataDir: dataDirOf(globals()),
        host: options.host,
        port: options.port,
        logger,
        tokens,
        ...(options.clusterId !== undefined && { clusterId: options.clusterId }),
        ...(forward && { forward }),
      });
      io.out(
        [
          `tlr ingest gateway is up at ${gateway.url}, writing into s3://${gateway.bucket} (buffer in ${gateway.dataDir})`,
          `  ingest:  POST ${gateway.url}/api/v1/ingest  (Authorization: Bearer <token>; tokens: ${gateway.tokenIds.join(', ') || 'none'})`,
          ...(gateway.forward ? [`  forward: ${gateway.forward.host}:${gateway.forward.port}  (Fluent Forward, shared-key handshake)`] : []),
          `  health:  GET  ${gateway.url}/api/v1/health`,
          `  metrics: GET  ${gateway.url}/metrics`,
          '',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        const onSignal = (signal: string) => {
          io.err(`\nReceived ${signal}; flushing buffered events into the bucket (send it again to exit at once).\n`);
          process.once(signal, () => process.exit(130));
          resolve();
        };
        process.once('SIGINT', () => onSignal('SIGINT'));
        process.once('SIGTERM', () => onSignal('SIGTERM'));
      });
      await gateway.stop();
    });
}

interface CloudwatchOptions {
  tenant?: string;
  cluster?: string;
  analytics?: boolean;
  analyticsPrefix?: string;
}


/** A JSON value of a file: a Lambda event (subscription or Firehose) or a decoded payload. */
function payloadsOfValue(value: unknown, source: string): PayloadSource[] {
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isObject && ('awslogs' in value || 'records' in value)) {
    const event = readLambdaEvent(value);
    if (event.kind === 'subscription') return [{ data: event.data, source: `${source} awslogs.data` }];
    return event.event.records.map((r) => ({ data: r.data, source: `${source} Firehose record '${r.recordId}'` }));
  }
  return [{ json: value, source }];
}

/**
 * The payloads of one file: raw gzip (a Kinesis record, a Firehose S3 object), or JSON —
 * one value, or one value per line (captured events) — holding Lambda events or decoded
 * payloads. What cannot be read becomes a refusal of its own.
 */
function payloadsOfFile(bytes: Buffer, file: string): { payloads: PayloadSource[]; refusals: IngestRefusal[] } {
  const name = basename(file);
  if (looksGzipped(bytes)) return { payloads: [{ data: bytes, source: name }], refusals: [] };
  const text = bytes.toString('utf8');
  const values: { value: unknown; source: string }[] = [];
  const refusals: IngestRefusal[] = [];
  try {
    values.push({ value: JSON.parse(text), source: name });
  } catch (wholeError) {
    const lines = text.split('\n');
    const nonBlank = lines.filter((l) => l.trim() !== '').length;
    if (nonBlank <= 1) {
      refusals.push({
        reason: CloudwatchRefusalReason.BAD_JSON,
        message: `${name} is neither gzip nor JSON: ${errorText(wholeError)}.`,
        source: name,
      });
    }
    lines.forEach((line, i) => {
      if (nonBlank <= 1 || line.trim() === '') return;
      const source = `${name}:${i + 1}`;
      try {
        values.push({ value: JSON.parse(line), source });
      } catch (error) {
        refusals.push({ reason: CloudwatchRefusalReason.BAD_JSON, message: `${source} is not JSON: ${errorText(error)}.`, source });
      }
    });
  }
  const payloads: PayloadSource[] = [];
  for (const { value, source } of values) {
    try {
      payloads.push(...payloadsOfValue(value, source));
    } catch (error) {
      if (!(error instanceof CloudwatchPayloadError)) throw error;
      refusals.push({ reason: error.reason, message: `${source}: ${error.message}`, source });
    }
  }
  return { payloads, refusals };
}

function summaryText(summary: IngestSummary, files: number): string {
  const lines = [
    `Wrote ${summary.events} event(s) of ${summary.dataMessages} message(s) from ${files} file(s) into ` +
      `${summary.centralKeys.length} object(s)` +
      (summary.analyticsKeys.length > 0 ? ` and ${summary.analyticsKeys.length} analytics object(s)` : '') +
      '; a running `tlr up` delivers them.',
  ];
  if (summary.controlMessages > 0) lines.push(`Ignored ${summary.controlMessages} control message(s).`);
  return `${lines.join('\n')}\n`;
}

/**
 * `tlr ingest cloudwatch <files…>`: CloudWatch Logs payloads from files into the central store;
 * `tlr ingest serve`: the ingest gateway.
 */
export function registerIngestCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  const ingest = program
    .command('ingest')
    .description('Write logs into the central store: from files, or as a gateway serving HTTP ingest and Forward.');
  registerServeCommand(ingest, io, globals);

  ingest
    .command('cloudwatch')
    .description(
      'EKS control-plane logs from CloudWatch Logs subscription payloads: Lambda events ({"awslogs":{"data":…}}), ' +
        'Firehose transformation events, decoded DATA_MESSAGE JSON or raw gzip payloads; one JSON value per file ' +
        'or one per line. Objects are written and queued as the Lambda does (see docs/eks.md).',
    )
    .argument('<files...>', 'files holding payloads')
    .option('--tenant <tenant>', 'the tenant (namespace) that owns the logs (env EKS_TENANT)')
    .option('--cluster <name>', 'cluster segment of the keys (env EKS_CLUSTER_NAME; default from /aws/eks/<cluster>/cluster)')
    .option('--analytics', `also write the Hive-partitioned analytics copy (under ${DEFAULT_ANALYTICS_PREFIX})`)
    .option('--analytics-prefix <prefix>', 'prefix of the analytics copy in the central store; implies --analytics (env ANALYTICS_PREFIX)')
    .action(async (files: string[], options: CloudwatchOptions) => {
      const tenant = options.tenant ?? process.env['EKS_TENANT'];
      if (!tenant) throw new CliError('Name the tenant that owns the logs: --tenant or EKS_TENANT.');
      const clusterName = options.cluster ?? (process.env['EKS_CLUSTER_NAME'] || undefined);
      const prefix = options.analyticsPrefix ?? (options.analytics ? process.env['ANALYTICS_PREFIX'] || undefined : undefined);
      let config;
      try {
        config = validateCloudwatchIngestConfig({
          tenant,
          ...(clusterName !== undefined && { clusterName }),
          ...((options.analytics || prefix !== undefined) && { analytics: { ...(prefix !== undefined && { prefix }) } }),
        });
      } catch (error) {
        if (!(error instanceof ConfigValidationError)) throw error;
        const flags: Record<string, string> = { tenant: '--tenant', clusterName: '--cluster', 'analytics.prefix': '--analytics-prefix' };
        throw new CliError(error.fieldErrors.map((e) => `${flags[e.field] ?? e.field} ${e.message}.`).join(' '));
      }

      const payloads: PayloadSource[] = [];
      const refusals: IngestRefusal[] = [];
      for (const file of files) {
        let bytes: Buffer;
        try {
          bytes = await readFile(file);
        } catch (error) {
          throw new CliError(`Cannot read '${file}': ${errorText(error)}`);
        }
        const read = payloadsOfFile(bytes, file);
        payloads.push(...read.payloads);
        refusals.push(...read.refusals);
      }

      // The command reports every refusal itself; --log-level adds the ingest's structured logs.
      const logger = globals().logLevel !== undefined ? cliLogger(globals()) : silentLogger;
      const summary = await withStores(globals(), async (stores) => {
        if (!stores.objects) throw new CliError('Writing needs the central bucket: set SOURCE_BUCKET.');
        const registry = new Registry();
        const writer = createCloudwatchWriter({
          centralStore: stores.objects,
          queue: stores.queue,
          ...(config.analytics && { analyticsStore: stores.objects }),
          config,
          logger,
          registry,
        });
        return createCloudwatchIngest({ writer, config, logger, registry }).ingest(payloads);
      });
      const allRefusals = [...refusals, ...summary.refusals];
      const result = { ...summary, refusedMessages: summary.refusedMessages + refusals.length, refusals: allRefusals };
      if (globals().json) io.out(toJson(result));
      else io.out(summaryText(result, files.length));
      for (const r of allRefusals) {
        const where = r.source !== undefined && !r.message.startsWith(r.source) ? `${r.source}: ` : '';
        io.err(`Refused ${where}${r.message} (${r.reason})\n`);
      }
      if (result.refusedMessages > 0) {
        throw new CliError(`${result.refusedMessages} payload(s) were refused; the others were written.`);
      }
    });
}
