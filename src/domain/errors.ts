/**
 * Typed errors shared by every layer. Callers branch on `instanceof` or `code`,
 * never on `message`.
 */

/** Stable error codes. */
export const ErrorCode = {
  INVALID_OBJECT_KEY: 'RTR_ERR_INVALID_OBJECT_KEY',
  INVALID_CONFIG: 'RTR_ERR_INVALID_CONFIG',
  INVALID_NOTIFICATION: 'RTR_ERR_INVALID_NOTIFICATION',
  CORRUPT_OBJECT: 'RTR_ERR_CORRUPT_OBJECT',
  OBJECT_NOT_FOUND: 'RTR_ERR_OBJECT_NOT_FOUND',
  DELIVERY_FAILED: 'RTR_ERR_DELIVERY_FAILED',
  RETRIES_EXHAUSTED: 'RTR_ERR_RETRIES_EXHAUSTED',
  ABORTED: 'RTR_ERR_ABORTED',
  UNKNOWN_KIND: 'RTR_ERR_UNKNOWN_KIND',
  STORE_FULL: 'RTR_ERR_STORE_FULL',
  INVALID_CURSOR: 'RTR_ERR_INVALID_CURSOR',
  DATA_DIR_LOCKED: 'RTR_ERR_DATA_DIR_LOCKED',
  CONFIG_NOT_FOUND: 'RTR_ERR_CONFIG_NOT_FOUND',
  CONFIG_EXISTS: 'RTR_ERR_CONFIG_EXISTS',
  /** A config changed (or was removed) by another request between this one's read and its write. */
  CONFIG_CHANGED: 'RTR_ERR_CONFIG_CHANGED',
  BAD_CONFIG_REQUEST: 'RTR_ERR_BAD_CONFIG_REQUEST',
  /** The API's pre-shared key cannot be had (missing, unreadable, too short, secret unavailable). */
  PSK_UNAVAILABLE: 'RTR_ERR_PSK_UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base of every error the router raises on purpose. */
export class RouterError extends Error {
  override readonly name: string = 'RouterError';
  readonly code: ErrorCode;

  /**
   * @param code - stable machine-readable code
   * @param message - a sentence a user can act on
   * @param options - `cause` to wrap the underlying error
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A central object key that does not follow the layout; permanent for that object. */
export class ObjectKeyError extends RouterError {
  override readonly name = 'ObjectKeyError';
  constructor(
    message: string,
    readonly key: string,
  ) {
    super(ErrorCode.INVALID_OBJECT_KEY, message);
  }
}

/** One field of a config that breaks a rule. */
export interface FieldError {
  /** The key path, dotted (`retry.maxElapsedMs`), or `''` for the whole value. */
  field: string;
  message: string;
}

/** A delivery config that fails validation; lists every field error. */
export class ConfigValidationError extends RouterError {
  override readonly name = 'ConfigValidationError';
  constructor(
    readonly fieldErrors: FieldError[],
    readonly context = 'delivery config',
  ) {
    super(
      ErrorCode.INVALID_CONFIG,
      `Invalid ${context}: ${fieldErrors.map((e) => (e.field ? `'${e.field}' ${e.message}` : e.message)).join('; ')}.`,
    );
  }
}

/** A queue message that is not a notification we understand. */
export class NotificationError extends RouterError {
  override readonly name = 'NotificationError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.INVALID_NOTIFICATION, message, options);
  }
}

/** An object body that cannot be read as gzip NDJSON (corrupt or truncated); permanent. */
export class CorruptObjectError extends RouterError {
  override readonly name = 'CorruptObjectError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.CORRUPT_OBJECT, message, options);
  }
}

/** The object named by a notification does not exist (any more); permanent. */
export class ObjectNotFoundError extends RouterError {
  override readonly name = 'ObjectNotFoundError';
  constructor(readonly key: string) {
    super(ErrorCode.OBJECT_NOT_FOUND, `Object '${key}' does not exist.`);
  }
}

/**
 * A failed delivery attempt. `retryable` is set once, in the sink's client, where the
 * failure is understood.
 */
export class DeliveryError extends RouterError {
  override readonly name = 'DeliveryError';
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  /** Short, stable reason recorded in dead letters (`access_denied`, `http_503`, …). */
  readonly reason: string;

  constructor(
    message: string,
    options: { retryable: boolean; reason: string; retryAfterMs?: number; cause?: unknown },
  ) {
    super(ErrorCode.DELIVERY_FAILED, message, { cause: options.cause });
    this.retryable = options.retryable;
    this.reason = options.reason;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The quick retries of one batch ran out of time or attempts. */
export class RetriesExhaustedError extends RouterError {
  override readonly name = 'RetriesExhaustedError';
  constructor(
    readonly attempts: number,
    readonly lastError: DeliveryError,
  ) {
    super(ErrorCode.RETRIES_EXHAUSTED, `Gave up after ${attempts} attempts: ${lastError.message}`, {
      cause: lastError,
    });
  }
}

/** Work stopped because the caller aborted (shutdown or deadline). */
export class AbortedError extends RouterError {
  override readonly name = 'AbortedError';
  constructor(message = 'The operation was aborted.') {
    super(ErrorCode.ABORTED, message);
  }
}

/** The message of a thrown value, for a sentence that names what went wrong. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
