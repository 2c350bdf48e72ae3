import { ConfigValidationError, RouterError } from '../domain/index.js';
import { createLogger, type Logger, parseLogLevel } from '../logging/index.js';
import { DEFAULT_DATA_DIR, type LocalStores, openLocalStores } from '../runtimes/local-stores.js';

/** Options every command accepts. */
export interface GlobalOptions {
  dataDir?: string;
  json?: boolean;
  logLevel?: string;
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

/** Pretty JSON with a trailing newline. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
