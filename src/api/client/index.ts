export {
  API_PATH_PREFIX,
  type ApiAuditPage,
  type ApiClient,
  ApiClientError,
  ApiClientErrorCode,
  type ApiClientErrorDetail,
  type ApiClientOptions,
  type ApiConfigPage,
  type ApiConfigRow,
  type ApiHealth,
  type ApiPageOptions,
  type ApiRequestOptions,
  type ApiTenantStatus,
  type ApiValidationReport,
  createApiClient,
  DEFAULT_API_CLIENT_TIMEOUT_MS,
  DEFAULT_LIST_ALL_PAGE_SIZE,
} from './api-client.js';
// The signer, for TypeScript clients that build their own requests (docs/api-auth.md).
export {
  EMPTY_BODY_SHA256,
  sha256Hex,
  type SignedRequestHeaders,
  signRequest,
  type SignRequestOptions,
} from '../auth/hmac.js';
