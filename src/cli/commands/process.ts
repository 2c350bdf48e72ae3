import type { Command } from 'commander';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createApiApp } from '../../api/index.js';
import { routerVersion } from '../../version.js';
import { createLogger, parseLogLevel } from '../../logging/index.js';
import { awsRuntimeConfigFromEnv, ExecutionMode, parseExecutionMode } from '../../runtimes/aws-env.js';
import { createAwsRouter } from '../../runtimes/aws-router.js';
import { createQueueWorker } from '../../runtimes/queue-worker.js';
import { scanOnce } from '../../runtimes/scan.js';
import { CliError, type CliIo, type GlobalOptions, readStdinText, toJson } from '../context.js';

/** SQS long polls wait at most 20 s; `SQS_WAIT_SECONDS` shortens it (tests, quick drains). */
const SQS_MAX_WAIT_SECONDS = 20;

function sqsWaitMs(): number {
  const raw = Number(process.env['SQS_WAIT_SECONDS'] ?? SQS_MAX_WAIT_SECONDS);
  return Number.isFinite(raw) ? Math.min(SQS_MAX_WAIT_SECONDS, Math.max(0, raw)) * 1000 : SQS_MAX_WAIT_SECONDS * 1000;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new CliError("'manual' mode reads one SNS envelope or S3 event on standard input.");
  const text = await readStdinText();
  if (text.trim() === '') throw new CliError("'manual' mode got nothing on standard input; pipe one SNS envelope or S3 event.");
  return text;
}

/** `tlr process`: the processor on AWS (DynamoDB configs, S3 objects, SQS notifications). */
export function registerProcessCommand(program: Command, io: CliIo, globals: () => GlobalOptions): void {
  program
    .command('process')
    .description(
      'Run the processor against AWS: sqs (long-poll SQS_QUEUE_URL), scan (list SOURCE_BUCKET), ' +
        'manual (one notification on stdin) or lambda (see the bundle). Settings come from the environment.',
    )
    .option('--mode <mode>', 'lambda, sqs, manual or scan (env EXECUTION_MODE)')
    .option('--drain', 'sqs: exit once the queue stays empty for one poll; scan: exit after one pass')
    .option('--metrics-port <port>', 'serve Prometheus /metrics and /api/v1/health on this port (env METRICS_PORT)')
    .option('--metrics-host <host>', 'listen address for --metrics-port', '127.0.0.1')
    .action(async (options: { mode?: string; drain?: boolean; metricsPort?: string; metricsHost: string }) => {
      const mode = parseExecutionMode(options.mode ?? process.env['EXECUTION_MODE']);
      if (mode === ExecutionMode.LAMBDA) {
        throw new CliError("'lambda' mode runs inside AWS Lambda: deploy dist/lambda/index.mjs with handler index.handler.");
      }
      const config = awsRuntimeConfigFromEnv(mode);
      const metricsPort = options.metricsPort ?? process.env['METRICS_PORT'];
      if (metricsPort !== undefined && metricsPort !== '') {
        const port = Number(metricsPort);
        if (!Number.isInteger(port) || port < 0 || port > 65_535) {
          throw new CliError(`--metrics-port '${metricsPort}' is not a port (0-65535).`);
        }
      }
      const level = globals().logLevel !== undefined ? parseLogLevel(globals().logLevel) : config.logLevel;
      const logger = createLogger({ level, format: 'json' });
      if (config.logLevelWasInvalid) logger.warn('LOG_LEVEL is not a known level; using INFO.');
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      const router = createAwsRouter(config, { logger, registry });
      const metricsApp =
        metricsPort !== undefined && metricsPort !== ''
          ? createApiApp({ logger, registry, version: routerVersion() })
          : undefined;
      if (metricsApp) {
        const port = Number(metricsPort);
        await metricsApp.listen({ host: options.metricsHost, port });
        logger.info('Serving metrics.', { port, host: options.metricsHost });
      }
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        if (mode === ExecutionMode.MANUAL) {
          const outcome = await router.processor.processMessage(await readStdin(), abort.signal);
          io.out(toJson(outcome));
          return;
        }
        if (mode === ExecutionMode.SQS) {
          const worker = createQueueWorker({
            queue: router.queue(),
            processor: router.processor,
            logger,
            concurrency: config.concurrency,
            ...(config.maxInFlightPerTenant !== undefined && { maxInFlightPerTenant: config.maxInFlightPerTenant }),
            ...(config.schedulerSlowMs !== undefined && { slowAfterMs: config.schedulerSlowMs }),
            registry,
            waitMs: sqsWaitMs(),
            batches: true,
          });
          if (options.drain) {
            await worker.drain();
            return;
          }
          worker.start();
          logger.info('Polling the queue.', { queueUrl: config.queueUrl });
          await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
          await worker.stop();
          return;
        }
        // scan
        do {
          const result = await scanOnce({
            objects: router.sourceObjects!,
            ...(config.sourceBucket !== undefined && { bucket: config.sourceBucket }),
            processor: router.processor,
            logger,
            concurrency: config.concurrency,
            signal: abort.signal,
          });
          logger.info('Scan pass finished.', { listed: result.listed, results: result.results });
          if (options.drain || abort.signal.aborted) {
            if (globals().json) io.out(toJson(result));
            break;
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, config.scanIntervalSeconds * 1000);
            abort.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              resolve();
            }, { once: true });
          });
        } while (!abort.signal.aborted);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await metricsApp?.close();
        await router.close();
      }
    });
}
