export {
  createLogger,
  type LogFields,
  type Logger,
  type LoggerOptions,
  LogLevel,
  parseLogLevel,
  silentLogger,
} from './logger.js';
