import type { Command } from 'commander';
import { startDemoTraffic } from '../../demo/index.js';
import { join } from 'node:path';
import { DEFAULT_FORWARD_PORT } from '../../ingest/forward/index.js';
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  type EmbeddedRouter,
  FORWARD_SHARED_KEY_ENV,
  FORWARD_SHARED_KEY_FILE,
  ForwardKeySource,
  startEmbeddedRouter,
} from '../../runtimes/embedded.js';
import { CliError, type CliIo, cliLogger, dataDirOf, type GlobalOptions } from '../context.js';
import { addForwardOptions, type ForwardFlags, forwardOptionsFromFlags, portOf } from '../forward-flags.js';

export const parsePort = portOf('--port');

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** `512MiB`, `20GiB` or a plain number of bytes. */
export function parseByteSize(value: string): number {
  const m = /^(\d+)\s*(KiB|MiB|GiB|TiB)?$/.exec(value.trim());
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2] ?? '']! : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new CliError(`--store-budget '${value}' is not a size: use bytes or a number with KiB, MiB, GiB or TiB.`);
  }
  return bytes;
}


function forwardLine(router: EmbeddedRouter): string[] {
  const forward = router.forward;
  if (!forward) return [];
  const key = {
    [ForwardKeySource.CONFIG]: 'auth from --forward-auth',
    [ForwardKeySource.ENV]: `shared key from ${FORWARD_SHARED_KEY_ENV}`,
    [ForwardKeySource.DATA_DIR]: `shared key in ${join(router.dataDir, FORWARD_SHARED_KEY_FILE)}`,
  }[forward.keySource];
  return [`  forward: ${forward.host}:${forward.port}  (Fluent Forward; ${key})`];
}

function parsePositive(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new CliError(`${flag} '${value}' must be a positive number.`);
    return n;
  };
}

/** A commander parser for a whole-number flag ≥ 1, naming the flag in its error. */
function parseWholeNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value.trim());
    if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`${flag} '${value}' must be a whole number ≥ 1.`);
    return n;
  };
}

/** `tlr up`: the whole router in one process on the embedded stores. */
export function registerUpCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  const up = program
    .command('up')
    .description(
      'Run the router in one process: HTTP ingest, processor, health and metrics, on a local data directory.',
    )
    .option('--host <host>', 'listen address', DEFAULT_HOST)
    .option('--port <port>', 'listen port (0 = any free port)', parsePort, DEFAULT_PORT)
    .option('--concurrency <n>', 'objects processed at once', parseWholeNumber('--concurrency'), 4)
    .option(
      '--max-in-flight-per-tenant <n>',
      'objects of one tenant processed at once (env TLR_MAX_IN_FLIGHT_PER_TENANT; default half of --concurrency, at least 1)',
      parseWholeNumber('--max-in-flight-per-tenant'),
    )
    .option(
      '--max-queue-backlog <n>',
      'notifications ready for delivery (delayed retries not counted) above which ingest answers 503 and Forward stops reading (env TLR_MAX_QUEUE_BACKLOG; default 10000)',
      parseWholeNumber('--max-queue-backlog'),
    )
    .option('--store-budget <size>', 'disk budget of the central object store (e.g. 20GiB): no objects are written past it, and ingest answers 503 once its buffer fills', parseByteSize);
  addForwardOptions(
    up,
    `also accept Fluent Forward (fluentd/Fluent Bit out_forward) on port ${DEFAULT_FORWARD_PORT}`,
    `JSON: {"shared_key", "cluster_id", "namespaces", "users": [{"username", "password", "cluster_id", "namespaces"}]}; default ${FORWARD_SHARED_KEY_ENV} or a key kept in the data directory`,
  )
    .option('--demo', 'also load demo tenants and send them generated control-plane logs')
    .option('--demo-rate <events>', 'demo events per second', parsePositive('--demo-rate'), 200)
    .action(
      async (options: ForwardFlags & {
        host: string;
        port: number;
        concurrency: number;
        maxInFlightPerTenant?: number;
        maxQueueBacklog?: number;
        storeBudget?: number;
        demo?: boolean;
        demoRate: number;
      }) => {
        const logger = cliLogger(globals());
        const forward = await forwardOptionsFromFlags(options);
        const router = await startEmbeddedRouter({
          dataDir: dataDirOf(globals()),
          host: options.host,
          port: options.port,
          logger,
          concurrency: options.concurrency,
          ...(options.maxInFlightPerTenant !== undefined && { maxInFlightPerTenant: options.maxInFlightPerTenant }),
          ...(options.maxQueueBacklog !== undefined && { maxQueueBacklog: options.maxQueueBacklog }),
          ...(options.storeBudget !== undefined && { maxObjectStoreBytes: options.storeBudget }),
          ...(process.env['TLR_INGEST_TOKEN'] && { ingestToken: process.env['TLR_INGEST_TOKEN'] }),
          ...(forward && { forward }),
        });
        io.out(
          [
            `tlr is up at ${router.url} (data in ${router.dataDir})`,
            `  ingest:  POST ${router.url}/api/v1/ingest  (Authorization: Bearer $(cat ${router.dataDir}/ingest-token))`,
            ...forwardLine(router),
            `  configs: ${router.url}/api/v1/delivery-configs  (HMAC-signed with the key in ${router.dataDir}/api-psk or TLR_API_PSK; tlr configs --api-url ${router.url})`,
            `  docs:    ${router.url}/api/v1/docs`,
            `  health:  GET  ${router.url}/api/v1/health`,
            `  metrics: GET  ${router.url}/metrics`,
            '',
          ].join('\n'),
        );
        const demo = options.demo
          ? await startDemoTraffic({ router, ratePerSecond: options.demoRate, logger, print: io.out })
          : undefined;
        await new Promise<void>((resolve) => {
          const onSignal = (signal: string) => {
            io.err(`\nReceived ${signal}; finishing in-flight work (send it again to exit at once).\n`);
            process.once(signal, () => process.exit(130));
            resolve();
          };
          process.once('SIGINT', () => onSignal('SIGINT'));
          process.once('SIGTERM', () => onSignal('SIGTERM'));
        });
        await demo?.stop();
        await router.stop();
      },
    );
}
