export {
  type ApiAppOptions,
  type ApiIngestOptions,
  createApiApp,
  HEALTH_CHECK_TIMEOUT_MS,
  HEALTH_ROUTE,
  type HealthCheck,
  type HealthCheckResult,
  type HealthResponse,
  HealthResponseSchema,
  METRICS_ROUTE,
  DOCS_ROUTE,
  OPENAPI_ROUTE,
} from './app.js';
export {
  ApiError,
  ApiErrorCode,
  type ApiErrorDetail,
  type ApiErrorResponse,
  ApiErrorResponseSchema,
  apiErrorBody,
  apiErrorHandler,
  toApiError,
} from './errors.js';
export {
  addApiAuth,
  type ApiAuthOptions,
  type ApiKeySource,
  MAX_CONFIG_BODY_BYTES,
  PRINCIPAL_HEADER,
} from './auth/plugin.js';
export {
  loadOrCreateKeyFile,
  localPskPath,
  type PskSource,
  pskSourceFromEnv,
  type ReplayStore,
  signRequest,
  type SignRequestOptions,
} from './auth/index.js';
export { CONFIG_API_PREFIX, type ConfigApiOptions, configApiPlugin } from './routes/config-api.js';
