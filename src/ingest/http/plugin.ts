import { createGunzip } from 'node:zlib';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import Type, { type Static } from 'typebox';
import {
  ApiError,
  ApiErrorCode,
  type ApiErrorDetail,
  ApiErrorResponseSchema,
  toApiError,
} from '../../api/errors.js';
import type { Logger } from '../../logging/index.js';
import { counter } from '../../metrics/index.js';
import type { BufferedEvent, IngestBuffer, TokenBinding } from '../../stores/ports.js';
import type { BackpressureCheck } from '../backpressure.js';
import { createNamespaceMatcher, type TokenAuthenticator } from './auth.js';
import type { HttpIngestConfig } from './config.js';
import {
  type BodyEvent,
  type EventIdentity,
  type ParsedBody,
  parseJsonBody,
  parseNdjsonBody,
  readEventIdentity,
  toBufferedEvent,
} from './events.js';

/** Where collectors post events. */
export const INGEST_ROUTE = '/api/v1/ingest';
/** Content type of NDJSON bodies (Vector `newline_delimited`, Fluent Bit `json_lines`); others get 415. */
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';
/** Content type of JSON array or single-object bodies (Fluent Bit `json`). */
export const JSON_CONTENT_TYPE = 'application/json';
/** Most per-event details an error response lists; its message gives the full count. */
export const MAX_ERROR_DETAILS = 100;

/** Why a request or an event got the answer it got; the `reason` label of the ingest counters. */
export const IngestOutcome = {
  ACCEPTED: 'accepted',
  PARTIAL: 'partial',
  BACK_PRESSURE: 'back_pressure',
  FORBIDDEN: 'forbidden',
  FORBIDDEN_NAMESPACE: 'forbidden_namespace',
  FORBIDDEN_CLUSTER: 'forbidden_cluster',
  REQUEST_REFUSED: 'request_refused',
  MALFORMED_JSON: 'malformed_json',
  NO_EVENTS: 'no_events',
  NO_ACCEPTABLE_EVENTS: 'no_acceptable_events',
  BUFFER_WRITE_FAILED: 'buffer_write_failed',
} as const;
export type IngestOutcome = (typeof IngestOutcome)[keyof typeof IngestOutcome];

/** The 200 answer: how many events were stored, and which were refused and why. */
export const IngestResponseSchema = Type.Object(
  {
    accepted: Type.Integer({ description: 'Events durably buffered.' }),
    rejected: Type.Array(
      Type.Object({
        index: Type.Integer({ description: 'The event, 0-based, in body order (array lines expanded).' }),
        reason: Type.String({ description: 'Stable reason, e.g. `missing_namespace`.' }),
        message: Type.String(),
      }),
      { description: 'Events refused; the others were stored.' },
    ),
  },
  { description: 'The events were stored, except those listed as rejected.' },
);
/** The 200 answer of the ingest route. */
export type IngestResponse = Static<typeof IngestResponseSchema>;

/** What the ingest route needs. */
export interface HttpIngestPluginOptions {
  readonly authenticator: TokenAuthenticator;
  readonly buffer: IngestBuffer;
  readonly config: HttpIngestConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  /** The clock for receive times; default `Date.now`. */
  readonly now?: () => number;
  /**
   * Asked before each request's body is read, after the buffer's own limit: while it refuses
   * (delivery behind, store full), requests get 503 with its Retry-After and message.
   */
  readonly backpressure?: BackpressureCheck;
}

interface AcceptedEvent {
  readonly event: Record<string, unknown>;
  readonly identity: EventIdentity;
}

function atLine(message: string, line: number | undefined): string {
  return line === undefined ? message : `Line ${line}: ${message}`;
}

function capDetails(details: ApiErrorDetail[]): { details: ApiErrorDetail[]; more: string } {
  if (details.length <= MAX_ERROR_DETAILS) return { details, more: '' };
  return {
    details: details.slice(0, MAX_ERROR_DETAILS),
    more: ` (the first ${MAX_ERROR_DETAILS} are listed)`,
  };
}

/** The events of one request, sorted by what happens to them. */
interface SortedEvents {
  readonly accepted: AcceptedEvent[];
  /** Unusable events (missing namespace, …); the others are still stored. */
  readonly rejected: IngestResponse['rejected'];
  /** Events outside the token's scope; any one refuses the whole request. */
  readonly forbidden: ApiErrorDetail[];
  /** Rejected and forbidden events per reason, for the events counter. */
  readonly rejectedTally: Map<string, number>;
}

function sortEvents(events: readonly BodyEvent[], binding: TokenBinding): SortedEvents {
  const allowed = createNamespaceMatcher(binding.namespaces);
  const sorted: SortedEvents = { accepted: [], rejected: [], forbidden: [], rejectedTally: new Map() };
  const tally = (reason: string) =>
    sorted.rejectedTally.set(reason, (sorted.rejectedTally.get(reason) ?? 0) + 1);
  events.forEach(({ value, line }, index) => {
    const result = readEventIdentity(value);
    if (!result.ok) {
      sorted.rejected.push({ index, reason: result.reason, message: atLine(result.message, line) });
      tally(result.reason);
      return;
    }
    const { identity } = result;
    if (identity.declaredClusterId !== undefined && identity.declaredClusterId !== binding.clusterId) {
      sorted.forbidden.push({
        index,
        field: 'cluster_id',
        message: atLine(`Cluster '${identity.declaredClusterId}' is not the token's cluster.`, line),
      });
      tally(IngestOutcome.FORBIDDEN_CLUSTER);
      return;
    }
    if (!allowed(identity.namespace)) {
      sorted.forbidden.push({
        index,
        field: 'namespace',
        message: atLine(`Namespace '${identity.namespace}' is not allowed for this token.`, line),
      });
      tally(IngestOutcome.FORBIDDEN_NAMESPACE);
      return;
    }
    sorted.accepted.push(result);
  });
  return sorted;
}

/**
 * The HTTP ingest route, `POST /api/v1/ingest`: collectors post NDJSON or a JSON array with
 * `Authorization: Bearer <token>`; the answer comes only after the accepted events are
 * committed to the durable buffer, so a 200 means they cannot be lost.
 *
 * Register it encapsulated (it replaces the body parsers of its own context only) on an app
 * whose error handler is `apiErrorHandler`.
 *
 * @example
 * app.register(httpIngestPlugin, { authenticator, buffer, config, logger, registry });
 */
export const httpIngestPlugin: FastifyPluginAsync<HttpIngestPluginOptions> = async (app, options) => {
  const { authenticator, buffer, config, registry } = options;
  const logger = options.logger.child({ component: 'http-ingest' });
  const now = options.now ?? Date.now;

  const requests = counter(registry, {
    name: 'tlr_ingest_requests_total',
    help: 'HTTP ingest requests by status and reason.',
    labelNames: ['status', 'reason'] as const,
  });
  const events = counter(registry, {
    name: 'tlr_ingest_events_total',
    help: 'Events received by the HTTP ingest, accepted or rejected, by reason.',
    labelNames: ['result', 'reason'] as const,
  });

  const outcomes = new WeakMap<FastifyRequest, string>();
  const bindings = new WeakMap<FastifyRequest, TokenBinding>();

  // Our parsers only, in this context: anything else (text/plain included) gets 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(NDJSON_CONTENT_TYPE, { parseAs: 'string' }, (_request, body, done) => {
    done(null, parseNdjsonBody(body as string));
  });
  app.addContentTypeParser(JSON_CONTENT_TYPE, { parseAs: 'string' }, (_request, body, done) => {
    done(null, parseJsonBody(body as string));
  });

  app.addHook('onError', async (request, _reply, error) => {
    if (!outcomes.has(request)) outcomes.set(request, toApiError(error, request).code);
  });
  app.addHook('onResponse', async (request, reply) => {
    requests.inc({ status: String(reply.statusCode), reason: outcomes.get(request) ?? 'unknown' });
  });

  function refuse(request: FastifyRequest, outcome: string, error: ApiError): never {
    outcomes.set(request, outcome);
    throw error;
  }

  function countEvents(result: 'accepted' | 'rejected', tally: Map<string, number>): void {
    for (const [reason, n] of tally) events.inc({ result, reason }, n);
  }

  app.post(
    INGEST_ROUTE,
    {
      bodyLimit: config.maxBodyBytes,
      schema: {
        summary: 'Ingest log events.',
        description:
          'NDJSON (one event per line; a line holding an array expands) or a JSON array of events. ' +
          'Each event names its namespace flat or under `kubernetes`.',
        response: { 200: IngestResponseSchema, '4xx': ApiErrorResponseSchema, '5xx': ApiErrorResponseSchema },
      },
      // Vector's `compression = "gzip"` and Fluent Bit's `compress gzip` send gzip bodies; the body
      // limit then applies to the decompressed bytes, so a small bomb cannot grow without bound.
      preParsing: async (request, _reply, payload) => {
        const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
        if (encoding === 'identity' || encoding === '') return payload;
        if (encoding !== 'gzip') {
          refuse(
            request,
            'unsupported_encoding',
            new ApiError(
              415,
              ApiErrorCode.UNSUPPORTED_MEDIA_TYPE,
              `Content-Encoding '${encoding}' is not supported; send the body as is or gzip.`,
            ),
          );
        }
        const gunzip = createGunzip() as ReturnType<typeof createGunzip> & { receivedEncodedLength: number };
        gunzip.receivedEncodedLength = 0;
        payload.on('data', (chunk: Buffer) => {
          gunzip.receivedEncodedLength += chunk.length;
        });
        payload.on('error', (error) => gunzip.destroy(error));
        return payload.pipe(gunzip);
      },
      // Before the body is read: an unauthenticated or throttled client costs no parsing.
      onRequest: async (request) => {
        const auth = await authenticator.authenticate(request.headers.authorization);
        if (!auth.ok) {
          refuse(
            request,
            auth.reason,
            new ApiError(401, ApiErrorCode.UNAUTHORIZED, auth.message, {
              headers: { 'www-authenticate': 'Bearer' },
            }),
          );
        }
        bindings.set(request, auth.binding);
        const pending = await buffer.pendingBytes();
        if (pending > config.maxBufferedBytes) {
          refuse(
            request,
            IngestOutcome.BACK_PRESSURE,
            new ApiError(
              503,
              ApiErrorCode.SERVICE_UNAVAILABLE,
              `The ingest buffer holds more than ${config.maxBufferedBytes} bytes not yet written; retry later.`,
              { headers: { 'retry-after': String(config.retryAfterSeconds) } },
            ),
          );
        }
        const state = await options.backpressure?.check();
        if (state && !state.ok) {
          refuse(
            request,
            state.reason,
            new ApiError(503, ApiErrorCode.SERVICE_UNAVAILABLE, state.message, {
              headers: { 'retry-after': String(state.retryAfterSeconds) },
            }),
          );
        }
      },
    },
    async (request): Promise<IngestResponse> => {
      const binding = bindings.get(request)!;
      const body = request.body as ParsedBody | undefined;
      if (body === undefined) {
        refuse(
          request,
          IngestOutcome.NO_EVENTS,
          new ApiError(
            400,
            ApiErrorCode.VALIDATION_FAILED,
            'The request has no body; send NDJSON or a JSON array of events.',
          ),
        );
      }
      if (!body.ok) {
        refuse(
          request,
          IngestOutcome.MALFORMED_JSON,
          new ApiError(400, ApiErrorCode.MALFORMED_JSON, body.message, {
            details: body.lines.map((l) => ({ message: l.message })),
          }),
        );
      }
      if (body.events.length === 0) {
        refuse(
          request,
          IngestOutcome.NO_EVENTS,
          new ApiError(400, ApiErrorCode.VALIDATION_FAILED, 'The body holds no events.'),
        );
      }

      const { accepted, rejected, forbidden, rejectedTally } = sortEvents(body.events, binding);

      if (forbidden.length > 0) {
        // One foreign event refuses the whole request: a token writing outside its scope
        // is a misconfigured or hostile collector, and a partial write would hide that.
        if (accepted.length > 0) rejectedTally.set(IngestOutcome.REQUEST_REFUSED, accepted.length);
        countEvents('rejected', rejectedTally);
        logger.warn('Refused an ingest request writing outside its token.', {
          token_id: binding.id,
          cluster_id: binding.clusterId,
          events: body.events.length,
          forbidden: forbidden.length,
        });
        const { details, more } = capDetails(forbidden);
        refuse(
          request,
          IngestOutcome.FORBIDDEN,
          new ApiError(
            403,
            ApiErrorCode.FORBIDDEN,
            `${forbidden.length} of ${body.events.length} events name a namespace or cluster this token ` +
              `may not write${more}; nothing was written.`,
            { details },
          ),
        );
      }
      countEvents('rejected', rejectedTally);

      if (accepted.length === 0) {
        const { details, more } = capDetails(rejected.map(({ index, message }) => ({ index, message })));
        refuse(
          request,
          IngestOutcome.NO_ACCEPTABLE_EVENTS,
          new ApiError(400, ApiErrorCode.VALIDATION_FAILED, `No event in the request is acceptable${more}.`, {
            details,
          }),
        );
      }

      const buffered: BufferedEvent[] = accepted.map((a) =>
        toBufferedEvent(a.event, a.identity, binding.clusterId),
      );
      try {
        await buffer.append(buffered, now());
      } catch (error) {
        logger.error('Storing ingested events in the buffer failed.', { events: buffered.length, error });
        refuse(
          request,
          IngestOutcome.BUFFER_WRITE_FAILED,
          new ApiError(
            503,
            ApiErrorCode.SERVICE_UNAVAILABLE,
            'The ingest buffer could not store the events; retry later.',
            {
              headers: { 'retry-after': String(config.retryAfterSeconds) },
              cause: error,
            },
          ),
        );
      }
      events.inc({ result: 'accepted', reason: IngestOutcome.ACCEPTED }, buffered.length);
      outcomes.set(request, rejected.length > 0 ? IngestOutcome.PARTIAL : IngestOutcome.ACCEPTED);
      return { accepted: buffered.length, rejected };
    },
  );
};
