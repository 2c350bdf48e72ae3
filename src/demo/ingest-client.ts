/**
 * A small client for the router's own HTTP ingest, used by the demo and the log generator.
 */

export interface IngestClientOptions {
  /** Base URL of the router (`http://127.0.0.1:8080`). */
  readonly url: string;
  readonly token: string;
  /** Attempts for one request on 429/503 or a connection error. */
  readonly maxAttempts?: number;
}

/** The ingest refused a request for good. */
export class IngestRequestError extends Error {
  override readonly name = 'IngestRequestError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/**
 * Sends events as NDJSON and resolves once the router answered 200 (they are durable then).
 * Retries back-pressure answers, waiting `Retry-After`.
 *
 * @throws IngestRequestError when the router refuses the events
 */
export async function postEvents(
  options: IngestClientOptions,
  events: readonly object[],
): Promise<{ accepted: number }> {
  const body = `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
  const maxAttempts = options.maxAttempts ?? 20;
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(`${options.url}/api/v1/ingest`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${options.token}` },
        body,
      });
    } catch (error) {
      if (attempt >= maxAttempts) throw error;
      await new Promise((r) => setTimeout(r, 250 * attempt));
      continue;
    }
    const text = await response.text();
    if (response.ok) return JSON.parse(text) as { accepted: number };
    if (RETRY_STATUSES.has(response.status) && attempt < maxAttempts) {
      const waitS = Number(response.headers.get('retry-after') ?? '1');
      await new Promise((r) => setTimeout(r, Math.min(5, Number.isFinite(waitS) ? waitS : 1) * 1000));
      continue;
    }
    throw new IngestRequestError(`Ingest answered ${response.status}: ${text}`, response.status);
  }
}
