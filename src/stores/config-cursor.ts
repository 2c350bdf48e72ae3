import { ErrorCode, RouterError } from '../domain/index.js';

/**
 * The opaque `listAll` cursor of delivery-config stores: the key of the last row handed
 * out, base64url JSON `{t: tenant_id, y: type}`. Shared by every adapter, so a client
 * sees one format and one error.
 */

/** The position a cursor holds. */
export interface ConfigCursorPosition {
  readonly t: string;
  readonly y: string;
}

/** A `listAll` cursor that this store did not hand out (or that was altered). */
export class InvalidCursorError extends RouterError {
  override readonly name = 'InvalidCursorError';

  /**
   * @param cursor - the cursor as received
   * @param options - `cause`: the decoding error, if any
   */
  constructor(
    readonly cursor: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.INVALID_CURSOR, 'The cursor is not one this server handed out; start again without a cursor.', options);
  }
}

/** Encodes the position after which the next page starts. */
export function encodeConfigCursor(position: ConfigCursorPosition): string {
  return Buffer.from(JSON.stringify({ t: position.t, y: position.y })).toString('base64url');
}

/**
 * Decodes a cursor.
 * @throws InvalidCursorError when the cursor is not base64url JSON `{t, y}` with two non-empty strings
 */
export function decodeConfigCursor(cursor: string): ConfigCursorPosition {
  // Buffer's base64url decoder skips invalid characters instead of failing, so check first.
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursorError(cursor);
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new InvalidCursorError(cursor, { cause });
  }
  const { t, y } = (position ?? {}) as Partial<Record<keyof ConfigCursorPosition, unknown>>;
  // Keys are never empty (DynamoDB refuses empty key strings), so an empty field is not ours.
  if (typeof t !== 'string' || typeof y !== 'string' || t === '' || y === '') throw new InvalidCursorError(cursor);
  return { t, y };
}
