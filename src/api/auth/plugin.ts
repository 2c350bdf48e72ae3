import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../../logging/index.js';
import { counter } from '../../metrics/index.js';
import { ApiError, ApiErrorCode } from '../errors.js';
import {
  AuthHeader,
  bodyHashMatches,
  createReplayGuard,
  DEFAULT_MAX_SKEW_MS,
  EMPTY_BODY_SHA256,
  HMAC_AUTH_SCHEME,
  parseApiTimestamp,
  signatureOfAuthorization,
  verifySignature,
} from './hmac.js';
import type { ReplayStore } from './replay-store.js';

/**
 * HMAC authentication of the delivery-config API, for the routes of the scope it is added
 * to. Split of duties: the signature and the time window are checked here (or, behind API
 * Gateway, by the Lambda authorizer, which never sees the body); the body is always
 * checked here against the signed `X-Body-SHA256`, and replays of mutating requests are
 * refused here.
 */

/** Where the Lambda adapter passes the authorizer's principal; a client's own value is removed first. */
export const PRINCIPAL_HEADER = 'x-tlr-principal';

/** Anything that hands out the accepted keys, current first (a PSK source). */
export interface ApiKeySource {
  keys(): Promise<readonly string[]>;
}

/** What both ways of authenticating share. */
export interface ApiAuthCommonOptions {
  /** Accepted clock skew (checked again behind the authorizer); default 300 s. */
  readonly maxSkewMs?: number;
  /**
   * Where signatures of mutating requests are remembered; default an in-memory guard
   * (`createReplayGuard()`, one process). Replicas share one store, e.g. on DynamoDB.
   */
  readonly replayStore?: ReplayStore;
  readonly now?: () => number;
}

/** How requests are authenticated. */
export type ApiAuthOptions =
  | (ApiAuthCommonOptions & {
      /** Verify signatures here (embedded router, `tlr api`). */
      readonly mode: 'verify';
      readonly psk: ApiKeySource;
    })
  | (ApiAuthCommonOptions & {
      /** Signatures were verified by the API Gateway Lambda authorizer; trust its principal. */
      readonly mode: 'authorizer';
    });

declare module 'fastify' {
  interface FastifyRequest {
    /** Who signed the request: `psk:current`, `psk:previous` or the authorizer's principal. */
    apiActor?: string;
    /** Set once the body (or its absence) matched `X-Body-SHA256`. */
    apiBodyVerified?: boolean;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const KEY_IDS = ['psk:current', 'psk:previous'];
/**
 * Largest config body accepted. A config is a few hundred bytes; the cap keeps an audit
 * entry (the row before and after) well inside one DynamoDB item (400 KB).
 */
export const MAX_CONFIG_BODY_BYTES = 64 * 1024;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The accepted keys, or a 503: a key source that fails (an unreadable key file, Secrets
 * Manager refusing) is the server's fault, and its message (a path, a secret name) is for
 * the operator's log, not the client.
 */
async function keysOrUnavailable(psk: ApiKeySource, logger: Logger, onFailure: () => void): Promise<readonly string[]> {
  try {
    return await psk.keys();
  } catch (error) {
    onFailure();
    logger.error('The API pre-shared key cannot be read; signed requests are refused with 503.', { error });
    throw new ApiError(503, ApiErrorCode.SERVICE_UNAVAILABLE, 'The API cannot check signatures right now; try again later.', {
      cause: error,
      headers: { 'retry-after': '30' },
    });
  }
}

/**
 * Whether the signature was seen before, or a 503: a replay store that fails (DynamoDB
 * throttling or refusing) is the server's fault, and accepting the request unchecked would
 * let a replay through.
 */
async function seenOrUnavailable(
  store: ReplayStore,
  signature: string,
  expiresAtMs: number,
  logger: Logger,
  onFailure: () => void,
): Promise<boolean> {
  try {
    return await store.remember(signature, expiresAtMs);
  } catch (error) {
    onFailure();
    logger.error('The API replay store cannot be reached; mutating requests are refused with 503.', { error });
    throw new ApiError(503, ApiErrorCode.SERVICE_UNAVAILABLE, 'The API cannot check for replays right now; try again later.', {
      cause: error,
      headers: { 'retry-after': '30' },
    });
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, ApiErrorCode.UNAUTHORIZED, message, {
    headers: { 'www-authenticate': HMAC_AUTH_SCHEME },
  });
}

/**
 * Adds authentication to every route of `app`'s scope, and the body parsers that check the
 * body hash: JSON only (other content types get 415 after their hash is checked).
 *
 * @param app - an encapsulated scope holding the authenticated routes
 * @param options - how signatures are checked
 * @param deps - the registry (`tlr_api_auth_failures_total`) and where key-source failures are logged
 */
export function addApiAuth(
  app: FastifyInstance,
  options: ApiAuthOptions,
  deps: { readonly registry: Registry; readonly logger: Logger },
): void {
  const { registry, logger } = deps;
  const failures = counter(registry, {
    name: 'tlr_api_auth_failures_total',
    help: 'Config API requests refused by authentication, by reason.',
    labelNames: ['reason'] as const,
  });
  const replayStore = options.replayStore ?? createReplayGuard();
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const now = options.now ?? Date.now;

  app.addHook('onRequest', async (request) => {
    let signature: string | undefined;
    let timestampMs: number;
    if (options.mode === 'verify') {
      const verification = verifySignature({
        method: request.method,
        rawPathAndQuery: request.url,
        headers: {
          authorization: request.headers.authorization,
          'x-api-timestamp': request.headers[AuthHeader.TIMESTAMP],
          'x-body-sha256': request.headers[AuthHeader.BODY_SHA256],
        },
        keys: await keysOrUnavailable(options.psk, logger, () => failures.inc({ reason: 'key_source_unavailable' })),
        nowMs: now(),
        maxSkewMs,
      });
      if (!verification.ok) {
        failures.inc({ reason: verification.reason });
        throw unauthorized(verification.message);
      }
      request.apiActor = KEY_IDS[verification.keyIndex] ?? `psk:${verification.keyIndex}`;
      signature = verification.signature;
      timestampMs = verification.timestampMs;
    } else {
      const principal = header(request, PRINCIPAL_HEADER);
      signature = signatureOfAuthorization(request.headers.authorization ?? '');
      if (!principal || !signature || header(request, AuthHeader.BODY_SHA256) === undefined) {
        failures.inc({ reason: 'no_authorizer_principal' });
        throw unauthorized('The request carries no verified signature.');
      }
      // The authorizer checked the window too, but a cached authorizer result could outlive it.
      const signedAtMs = parseApiTimestamp(header(request, AuthHeader.TIMESTAMP) ?? '');
      if (signedAtMs === undefined || Math.abs(now() - signedAtMs) > maxSkewMs) {
        failures.inc({ reason: 'stale_timestamp' });
        throw unauthorized(`X-API-Timestamp is missing or more than ${maxSkewMs / 1000} s from the server's clock.`);
      }
      request.apiActor = principal;
      timestampMs = signedAtMs;
    }
    if (!MUTATING.has(request.method)) return;
    // Remembered until its timestamp leaves the window: after that the timestamp check refuses
    // it, so no replica can accept the signature again while it is forgotten.
    const replayed = await seenOrUnavailable(replayStore, signature, timestampMs + maxSkewMs, logger, () =>
      failures.inc({ reason: 'replay_store_unavailable' }),
    );
    if (replayed) {
      failures.inc({ reason: 'replay' });
      throw unauthorized('This signed request was already received; sign each request anew with a fresh timestamp.');
    }
  });

  const checkBody = (request: FastifyRequest, body: Buffer): void => {
    const claimed = header(request, AuthHeader.BODY_SHA256) ?? '';
    if (!bodyHashMatches(body, claimed)) {
      failures.inc({ reason: 'body_hash_mismatch' });
      throw new ApiError(
        400,
        ApiErrorCode.BODY_HASH_MISMATCH,
        'The body does not match X-Body-SHA256; hash exactly the bytes you send.',
      );
    }
    request.apiBodyVerified = true;
  };

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: MAX_CONFIG_BODY_BYTES },
    async (request: FastifyRequest, body: Buffer) => {
      checkBody(request, body);
      if (body.length === 0) throw new ApiError(400, ApiErrorCode.MALFORMED_JSON, 'The body is empty; send a JSON object.');
      try {
        return JSON.parse(body.toString('utf8')) as unknown;
      } catch (error) {
        throw new ApiError(400, ApiErrorCode.MALFORMED_JSON, `The body is not valid JSON: ${(error as Error).message}.`, {
          cause: error,
        });
      }
    },
  );
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_CONFIG_BODY_BYTES }, async (request: FastifyRequest, body: Buffer) => {
    checkBody(request, body);
    throw new ApiError(
      415,
      ApiErrorCode.UNSUPPORTED_MEDIA_TYPE,
      `Content type '${request.headers['content-type'] ?? ''}' is not supported; send application/json.`,
    );
  });

  // A request without a body never reaches a parser: its claimed hash must be the empty one.
  app.addHook('preValidation', async (request) => {
    if (request.apiBodyVerified) return;
    const claimed = (header(request, AuthHeader.BODY_SHA256) ?? '').toLowerCase();
    if (claimed !== EMPTY_BODY_SHA256) {
      failures.inc({ reason: 'body_hash_mismatch' });
      throw new ApiError(
        400,
        ApiErrorCode.BODY_HASH_MISMATCH,
        `The request has no body, so X-Body-SHA256 must be ${EMPTY_BODY_SHA256}.`,
      );
    }
    request.apiBodyVerified = true;
  });
}
