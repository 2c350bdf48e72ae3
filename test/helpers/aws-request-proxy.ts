import { createServer, request as httpRequest, type Server } from 'node:http';

/**
 * A pass-through HTTP proxy in front of moto that sees every AWS request a process makes,
 * so tests can check rules moto does not enforce (CloudWatch Logs `PutLogEvents` limits)
 * even for a child process. Requests are forwarded unchanged, except those an injected
 * fault answers (denials moto cannot produce, such as STS refusing AssumeRole).
 */
export interface AwsRequestProxy {
  readonly endpoint: string;
  /** `X-Amz-Target` (JSON protocols) or `METHOD path` of every request, in order. */
  readonly calls: string[];
  /** Rule violations seen, as sentences. */
  readonly violations: string[];
  /** Every PutLogEvents request body. */
  readonly putLogEvents: PutLogEventsRequest[];
  /** Parameters of every STS AssumeRole request (RoleArn, ExternalId, RoleSessionName, …). */
  readonly assumeRoles: Record<string, string>[];
  /** Answers the requests `fault.match` selects with its scripted error instead of forwarding them. */
  inject(fault: ProxyFault): void;
  /** Forgets every injected fault (call between tests). */
  clearFaults(): void;
  close(): Promise<void>;
}

/** One request as the proxy received it, for a fault to match on. */
export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
  /** Request headers, lowercase names (the signing region is in `authorization`). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** `X-Amz-Target` (JSON protocols), when sent. */
  readonly target?: string;
  /** Form parameters of query-protocol requests (STS): `Action`, `RoleArn`, … */
  readonly params: Readonly<Record<string, string>>;
}

/** A scripted answer the proxy gives instead of forwarding (an injected fault). */
export interface ProxyFault {
  readonly match: (request: ProxiedRequest) => boolean;
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** Extra response headers (`x-amz-bucket-region`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** How many requests it answers; every matching one when undefined. */
  times?: number;
}

/**
 * STS answering `AssumeRole` of one role with `AccessDenied`, in the query-protocol error
 * shape STS uses, so the SDK raises exactly the error AWS would.
 * https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
 *
 * @param roleArn - the role whose AssumeRole is refused
 */
export function stsAccessDeniedFault(roleArn: string): ProxyFault {
  return {
    match: (request) => request.params['Action'] === 'AssumeRole' && request.params['RoleArn'] === roleArn,
    status: 403,
    contentType: 'text/xml',
    body:
      '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>' +
      `<Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRole on ${roleArn} (injected by the test proxy).</Message>` +
      '</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>',
  };
}

export interface PutLogEventsRequest {
  logGroupName: string;
  logStreamName: string;
  logEvents: { timestamp: number; message: string }[];
}

/** PutLogEvents limits (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html). */
export const PUT_LOG_EVENTS_MAX_BYTES = 1_048_576;
export const PUT_LOG_EVENTS_MAX_EVENTS = 10_000;
export const PUT_LOG_EVENTS_EVENT_OVERHEAD = 26;
export const PUT_LOG_EVENTS_MAX_SPAN_MS = 24 * 3_600_000;

/** Every limit a PutLogEvents request breaks; empty when it is valid. */
export function putLogEventsViolations(body: PutLogEventsRequest): string[] {
  const problems: string[] = [];
  const events = body.logEvents ?? [];
  if (events.length === 0) problems.push('empty batch');
  if (events.length > PUT_LOG_EVENTS_MAX_EVENTS) problems.push(`${events.length} events > ${PUT_LOG_EVENTS_MAX_EVENTS}`);
  const bytes = events.reduce((n, e) => n + Buffer.byteLength(e.message) + PUT_LOG_EVENTS_EVENT_OVERHEAD, 0);
  if (bytes > PUT_LOG_EVENTS_MAX_BYTES) problems.push(`${bytes} bytes > ${PUT_LOG_EVENTS_MAX_BYTES}`);
  for (let i = 1; i < events.length; i++) {
    if (events[i]!.timestamp < events[i - 1]!.timestamp) {
      problems.push(`events not in time order at index ${i}`);
      break;
    }
  }
  if (events.length > 1 && events.at(-1)!.timestamp - events[0]!.timestamp > PUT_LOG_EVENTS_MAX_SPAN_MS) {
    problems.push('batch spans more than 24 h');
  }
  return problems;
}

/** Starts the proxy on a free 127.0.0.1 port, forwarding to `target` (moto's endpoint). */
export async function startAwsRequestProxy(target: string): Promise<AwsRequestProxy> {
  const upstream = new URL(target);
  const calls: string[] = [];
  const violations: string[] = [];
  const putLogEvents: PutLogEventsRequest[] = [];
  const assumeRoles: Record<string, string>[] = [];
  const faults: ProxyFault[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const amzTarget = req.headers['x-amz-target'];
      calls.push(typeof amzTarget === 'string' ? amzTarget : `${req.method} ${req.url}`);
      if (amzTarget === 'Logs_20140328.PutLogEvents') {
        const parsed = JSON.parse(body.toString('utf8')) as PutLogEventsRequest;
        putLogEvents.push(parsed);
        for (const problem of putLogEventsViolations(parsed)) {
          violations.push(`PutLogEvents ${parsed.logGroupName}/${parsed.logStreamName}: ${problem}`);
        }
      }
      const text = body.toString('utf8');
      const params: Record<string, string> = amzTarget ? {} : Object.fromEntries(new URLSearchParams(text));
      if (params['Action'] === 'AssumeRole') assumeRoles.push(params);
      const proxied: ProxiedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        ...(typeof amzTarget === 'string' && { target: amzTarget }),
        params,
      };
      const fault = faults.find((f) => (f.times ?? 1) > 0 && f.match(proxied));
      if (fault) {
        if (fault.times !== undefined) fault.times -= 1;
        res.writeHead(fault.status, {
          ...fault.headers,
          'content-type': fault.contentType,
          'content-length': Buffer.byteLength(fault.body),
        });
        res.end(fault.body);
        return;
      }
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    violations,
    putLogEvents,
    assumeRoles,
    inject: (fault) => {
      faults.push(fault);
    },
    clearFaults: () => {
      faults.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
