/**
 * Classifying AWS SDK failures by their error name and HTTP status — never by message text.
 */

/** The SDK error's name (`ThrottlingException`, `NoSuchBucket`, …) or undefined. */
export function awsErrorName(error: unknown): string | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : undefined;
}

/** The HTTP status the service answered with, when there was an answer. */
export function awsHttpStatus(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

const THROTTLING_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'LimitExceededException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'InternalServiceError',
  'InternalServiceErrorException',
]);

const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Whether an AWS failure may succeed if tried again: throttling, 5xx, timeouts and network
 * errors. Access, validation and not-found errors are not.
 */
export function isRetryableAwsError(error: unknown): boolean {
  const name = awsErrorName(error);
  if (name !== undefined && THROTTLING_NAMES.has(name)) return true;
  if (name === 'TimeoutError' || name === 'RequestTimeout' || name === 'RequestTimeoutException') return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  const status = awsHttpStatus(error);
  if (status !== undefined) return status === 429 || status >= 500;
  // No HTTP answer at all (the connection failed): worth another try.
  return true;
}
