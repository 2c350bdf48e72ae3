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
