import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { ConfigValidationError, ErrorCode, RouterError } from '../domain/index.js';
import type { Logger } from '../logging/index.js';

/**
 * The one error shape of the HTTP API: `{"error":{"code","message","details"}}`, rendered
 * by one handler for our own errors and Fastify's alike.
 */

/** Stable machine-readable API error codes; clients branch on these, never on messages. */
export const ApiErrorCode = {
  BAD_REQUEST: 'bad_request',
  VALIDATION_FAILED: 'validation_failed',
  MALFORMED_JSON: 'malformed_json',
  UNAUTHORIZED: 'unauthorized',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  /** A create for a key that exists, or a change that raced another change of the config (409). */
  CONFLICT: 'conflict',
  /** A pagination cursor this server did not hand out (400). */
  BAD_CURSOR: 'bad_cursor',
  /** The body does not hash to the signed `X-Body-SHA256` (400). */
  BODY_HASH_MISMATCH: 'body_hash_mismatch',
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  TOO_MANY_REQUESTS: 'too_many_requests',
  SERVICE_UNAVAILABLE: 'service_unavailable',
  INTERNAL_ERROR: 'internal_error',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** One precise problem inside a request: a field, an event by index, or both. */
export interface ApiErrorDetail {
  /** Dotted path of the offending field (`body.namespaces[0]`, `namespace`). */
  field?: string;
  /** 0-based position of the offending event in the request. */
  index?: number;
  message: string;
}

/** An error the API answers with on purpose: status, stable code, and a message to act on. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly details: ApiErrorDetail[] | undefined;
  /** Response headers that go with the error (`Retry-After`, `WWW-Authenticate`). */
  readonly headers: Record<string, string> | undefined;

  /**
   * @param statusCode - the HTTP status, 4xx or 5xx
   * @param code - stable snake_case code
   * @param message - a sentence the client can act on
   */
  constructor(
    readonly statusCode: number,
    readonly code: ApiErrorCode,
    message: string,
    options?: { details?: ApiErrorDetail[]; headers?: Record<string, string>; cause?: unknown },
  ) {
    super(message, { cause: options?.cause });
    this.details = options?.details;
    this.headers = options?.headers;
  }
}

/** The response body of every error, for route `response` schemas. */
export const ApiErrorResponseSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable snake_case code, e.g. `validation_failed`.' }),
      message: Type.String({ description: 'What went wrong, as a sentence.' }),
      details: Type.Optional(
        Type.Array(
          Type.Object({
            field: Type.Optional(Type.String({ description: 'The offending field, dotted.' })),
            index: Type.Optional(Type.Integer({ description: 'The offending event, 0-based.' })),
            message: Type.String(),
          }),
        ),
      ),
    }),
  },
  { description: 'An error.' },
);

/** The response body of every error. */
export type ApiErrorResponse = Static<typeof ApiErrorResponseSchema>;

const CODE_BY_STATUS: Readonly<Record<number, ApiErrorCode>> = {
  400: ApiErrorCode.BAD_REQUEST,
  401: ApiErrorCode.UNAUTHORIZED,
  403: ApiErrorCode.FORBIDDEN,
  404: ApiErrorCode.NOT_FOUND,
  405: ApiErrorCode.METHOD_NOT_ALLOWED,
  413: ApiErrorCode.PAYLOAD_TOO_LARGE,
  415: ApiErrorCode.UNSUPPORTED_MEDIA_TYPE,
  429: ApiErrorCode.TOO_MANY_REQUESTS,
  503: ApiErrorCode.SERVICE_UNAVAILABLE,
};

const INTERNAL_ERROR_MESSAGE = 'An internal error occurred; it has been logged.';

function fieldOf(context: string | undefined, instancePath: string, missing: unknown): string {
  const path = instancePath
    .split('/')
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('');
  const withMissing = typeof missing === 'string' ? `${path}.${missing}` : path;
  return `${context ?? 'body'}${withMissing}`;
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : undefined;
}

/**
 * Maps any error to the `ApiError` the client sees. Fastify's errors keep their 4xx status
 * (bad input is never a 500); anything unexpected becomes a generic 500.
 *
 * @param request - for the content type named in a 415
 */
export function toApiError(error: unknown, request?: FastifyRequest): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof RouterError) {
    const mapped = fromRouterError(error);
    if (mapped) return mapped;
  }
  const validation = (error as Partial<FastifyError> | null)?.validation;
  if (Array.isArray(validation)) {
    const context = (error as FastifyError).validationContext;
    const details = validation.map((v) => ({
      field: fieldOf(context, v.instancePath, (v.params as { missingProperty?: unknown }).missingProperty),
      message: v.message ?? 'is invalid',
    }));
    return new ApiError(
      400,
      ApiErrorCode.VALIDATION_FAILED,
      `The request is invalid: ${details.map((d) => `'${d.field}' ${d.message}`).join('; ')}.`,
      { details, cause: error },
    );
  }
  if (isFastifyError(error)) {
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return new ApiError(413, ApiErrorCode.PAYLOAD_TOO_LARGE, 'The request body exceeds the size limit.', {
          cause: error,
        });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
        const type = request?.headers['content-type'];
        const named = type === undefined ? 'A request without a content type' : `Content type '${type}'`;
        return new ApiError(415, ApiErrorCode.UNSUPPORTED_MEDIA_TYPE, `${named} is not supported here.`, {
          cause: error,
        });
      }
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return new ApiError(400, ApiErrorCode.MALFORMED_JSON, `${error.message}.`, { cause: error });
    }
  }
  const zlibCode = (error as { code?: unknown } | null)?.code;
  if (typeof zlibCode === 'string' && zlibCode.startsWith('Z_')) {
    return new ApiError(400, ApiErrorCode.BAD_REQUEST, `The gzip request body is corrupt or truncated (${zlibCode}).`, {
      cause: error,
    });
  }
  const status = statusOf(error);
  if (status !== undefined && status < 500) {
    // Parsers raise SyntaxError with a 400 status for bodies they cannot read.
    const code =
      error instanceof SyntaxError
        ? ApiErrorCode.MALFORMED_JSON
        : (CODE_BY_STATUS[status] ?? ApiErrorCode.BAD_REQUEST);
    const message = error instanceof Error ? error.message : 'The request is invalid.';
    return new ApiError(status, code, message.endsWith('.') ? message : `${message}.`, { cause: error });
  }
  return new ApiError(500, ApiErrorCode.INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE, { cause: error });
}

/** The router's own errors that are the client's doing, by their stable code. */
function fromRouterError(error: RouterError): ApiError | undefined {
  const options = { cause: error };
  switch (error.code) {
    case ErrorCode.INVALID_CONFIG: {
      const fieldErrors = error instanceof ConfigValidationError ? error.fieldErrors : [];
      return new ApiError(422, ApiErrorCode.VALIDATION_FAILED, error.message, {
        ...options,
        details: fieldErrors.map((e) => ({ field: e.field, message: e.message })),
      });
    }
    case ErrorCode.CONFIG_NOT_FOUND:
      return new ApiError(404, ApiErrorCode.NOT_FOUND, error.message, options);
    case ErrorCode.CONFIG_EXISTS:
    case ErrorCode.CONFIG_CHANGED:
      return new ApiError(409, ApiErrorCode.CONFLICT, error.message, options);
    case ErrorCode.INVALID_CURSOR:
      return new ApiError(400, ApiErrorCode.BAD_CURSOR, error.message, options);
    case ErrorCode.BAD_CONFIG_REQUEST: {
      const field = (error as { field?: unknown }).field;
      return new ApiError(400, ApiErrorCode.BAD_REQUEST, error.message, {
        ...options,
        ...(typeof field === 'string' && { details: [{ field, message: error.message }] }),
      });
    }
    default:
      return undefined;
  }
}

/** The body of an error response. */
export function apiErrorBody(error: ApiError): ApiErrorResponse {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details !== undefined && error.details.length > 0 && { details: error.details }),
    },
  };
}

/**
 * The Fastify error handler rendering every error in the one shape. Unexpected errors are
 * logged with the request; the client gets only a generic message.
 *
 * @param logger - where unexpected errors go (Fastify's own logger is off)
 * @example app.setErrorHandler(apiErrorHandler(logger));
 */
export function apiErrorHandler(
  logger: Logger,
): (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (error, request, reply) => {
    const apiError = toApiError(error, request);
    if (apiError.code === ApiErrorCode.INTERNAL_ERROR) {
      logger.error('A request failed with an unexpected error.', {
        method: request.method,
        url: request.url.split('?')[0],
        error: error instanceof ApiError ? error.cause : error,
      });
    }
    for (const [name, value] of Object.entries(apiError.headers ?? {})) reply.header(name, value);
    return reply.status(apiError.statusCode).send(apiErrorBody(apiError));
  };
}
