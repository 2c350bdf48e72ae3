import { ConfigValidationError, RouterError } from '../domain/index.js';
import { createLogger, type Logger, parseLogLevel } from '../logging/index.js';
import { DEFAULT_DATA_DIR, type LocalStores, openLocalStores } from '../runtimes/local-stores.js';
import type {
  AuditLogStore,
  DeadLetterStore,
  DeliveryConfigStore,
  NotificationQueue,
  ObjectStore,
} from '../stores/ports.js';

/** Options every command accepts. */
export interface GlobalOptions {
  dataDir?: string;
  json?: boolean;
  logLevel?: string;
  /** `local` (the data directory) or `aws` (DynamoDB, SQS and S3 from the environment). */
  store?: string;
}

/** The stores operator commands work on, wherever they live. */
export interface AdminStores {
  readonly configs: DeliveryConfigStore;
  readonly deadLetters: DeadLetterStore;
  /** Where config changes made by commands are recorded. */
  readonly audit: AuditLogStore;
  readonly queue: NotificationQueue;
  /** The central object store; on AWS only when `SOURCE_BUCKET` is set. */
  readonly objects?: ObjectStore;
}

/** Standard streams a command writes to; tests pass their own. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** An error a command reports with a message and an exit code, without a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The data directory a command works on: the flag, then `TLR_DATA_DIR`, then `./.tlr`. */
export function dataDirOf(options: GlobalOptions): string {
  return options.dataDir ?? process.env['TLR_DATA_DIR'] ?? DEFAULT_DATA_DIR;
}

/** A logger for command-line use: human lines on a terminal, JSON otherwise. */
export function cliLogger(options: GlobalOptions): Logger {
  return createLogger({
    level: parseLogLevel(options.logLevel ?? process.env['LOG_LEVEL'] ?? 'info'),
    format: process.stderr.isTTY ? 'pretty' : 'json',
  });
}

/** Runs `work` with the local stores open, closing them afterwards. */
export async function withLocalStores<T>(
  options: GlobalOptions,
  work: (stores: LocalStores) => Promise<T>,
): Promise<T> {
  const stores = openLocalStores(dataDirOf(options));
  try {
    return await work(stores);
  } finally {
    stores.close();
  }
}

/**
 * Runs `work` with the stores `--store` (env `TLR_STORE`) names: the local data directory
 * by default, or the AWS deployment's tables, queue and bucket from the environment.
 */
export async function withStores<T>(options: GlobalOptions, work: (stores: AdminStores) => Promise<T>): Promise<T> {
  const store = (options.store ?? process.env['TLR_STORE'] ?? 'local').trim().toLowerCase();
  if (store === 'local') return withLocalStores(options, work);
  if (store !== 'aws') throw new CliError(`--store must be 'local' or 'aws', got '${store}'.`);
  const { awsRuntimeConfigFromEnv, ExecutionMode } = await import('../runtimes/aws-env.js');
  const { createAwsRouter } = await import('../runtimes/aws-router.js');
  const { Registry } = await import('prom-client');
  const router = createAwsRouter(awsRuntimeConfigFromEnv(ExecutionMode.MANUAL), {
    logger: cliLogger(options),
    registry: new Registry(),
  });
  try {
    return await work({
      configs: router.configs,
      deadLetters: router.deadLetters,
      audit: router.audit,
      queue: router.queue(),
      ...(router.sourceObjects !== undefined && { objects: router.sourceObjects }),
    });
  } finally {
    await router.close();
  }
}

/** Renders an error for the terminal and returns the exit code. */
export function reportError(error: unknown, io: CliIo): number {
  if (error instanceof CliError) {
    io.err(`Error: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof ConfigValidationError) {
    io.err(`Error: invalid ${error.context}:\n`);
    for (const e of error.fieldErrors) io.err(`  - ${e.field || '(config)'}: ${e.message}\n`);
    return 1;
  }
  if (error instanceof RouterError) {
    io.err(`Error: ${error.message} (${error.code})\n`);
    return 1;
  }
  io.err(`Unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 2;
}

/** Everything on standard input, as UTF-8 text. */
export async function readStdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Pretty JSON with a trailing newline. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
