export {
  AuthFailureReason,
  type AuthResult,
  createNamespaceMatcher,
  createTokenAuthenticator,
  MIN_STATIC_TOKEN_CHARS,
  matchesNamespacePattern,
  staticTokenFieldErrors,
  type StaticIngestToken,
  type TokenAuthenticator,
} from './auth.js';
export {
  createIngestBatcher,
  type FlushResult,
  INGEST_OBJECT_CONTENT_ENCODING,
  INGEST_OBJECT_CONTENT_TYPE,
  type IngestBatcher,
  type IngestBatcherOptions,
} from './batcher.js';
export {
  DEFAULT_FLUSH_CONCURRENCY,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_MAX_BATCH_AGE_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_OBJECT_BYTES,
  DEFAULT_RETRY_AFTER_SECONDS,
  defaultHttpIngestConfig,
  type HttpIngestConfig,
  HttpIngestConfigSchema,
  validateHttpIngestConfig,
} from './config.js';
export {
  type BodyEvent,
  type EventIdentity,
  type EventIdentityResult,
  EventRejectReason,
  MAX_REPORTED_BAD_LINES,
  type ParsedBody,
  parseJsonBody,
  parseNdjsonBody,
  readEventIdentity,
  toBufferedEvent,
  UNKNOWN_SEGMENT,
} from './events.js';
export {
  type HttpIngestPluginOptions,
  httpIngestPlugin,
  INGEST_ROUTE,
  IngestOutcome,
  type IngestResponse,
  IngestResponseSchema,
  JSON_CONTENT_TYPE,
  MAX_ERROR_DETAILS,
  NDJSON_CONTENT_TYPE,
} from './plugin.js';
export {
  IngestTokenEntrySchema,
  type IngestTokensFile,
  IngestTokensFileSchema,
  readIngestTokensFile,
  validateIngestTokensFile,
} from './tokens-file.js';
