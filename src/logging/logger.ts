/**
 * Structured logs: one JSON object per line, or a short human line when writing to a
 * terminal. Messages are capitalized sentences ending in a period; context goes in fields.
 */

export const LogLevel = {
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
  SILENT: 'silent',
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'json' | 'pretty';
  /** Where lines go; default stderr, so stdout stays for command output. */
  write?: (line: string) => void;
  fields?: LogFields;
}

/**
 * Parses a level name as operators write it (`DEBUG`, `info`, …); anything else is `info`.
 */
export function parseLogLevel(value: string | undefined): LogLevel {
  const lower = value?.trim().toLowerCase();
  if (lower === 'warning') return LogLevel.WARN;
  return lower && lower in RANK ? (lower as LogLevel) : LogLevel.INFO;
}

function errorFields(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const { code, reason } = value as Error & { code?: unknown; reason?: unknown };
  return { name: value.name, message: value.message, code, reason };
}

/** Creates a logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? LogLevel.INFO;
  const format = options.format ?? 'json';
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = options.fields ?? {};
  const emit = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields) => {
    if (RANK[lvl] < RANK[level]) return;
    const merged: LogFields = { ...base, ...fields };
    for (const [k, v] of Object.entries(merged)) merged[k] = errorFields(v);
    if (format === 'json') {
      write(JSON.stringify({ time: new Date().toISOString(), level: lvl, message, ...merged }));
    } else {
      const extra = Object.entries(merged)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      write(`${lvl.toUpperCase().padEnd(5)} ${message}${extra ? ` ${extra}` : ''}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = createLogger({ level: LogLevel.SILENT });
