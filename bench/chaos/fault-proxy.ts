import { createServer, request as httpRequest, type Server } from 'node:http';

/**
 * A fault-injecting HTTP proxy between the router and moto. Each request is matched against
 * the rules in order; the first whose `match` holds (and whose probability draw succeeds)
 * decides: `reset` drops the connection without an answer (a destination that refuses),
 * `delay` forwards it after `delayMs` (a slow destination), `error` answers with a scripted
 * AWS error (throttling, 5xx) without forwarding. Anything else is forwarded unchanged.
 * The `blackout` switch resets every request (the AWS side unreachable).
 */
export interface FaultProxy {
  readonly endpoint: string;
  /** Requests seen and faults applied, by rule name. */
  readonly counts: Record<string, number>;
  setRules(rules: readonly FaultRule[]): void;
  /** While true every request is reset, whatever the rules say. */
  blackout: boolean;
  close(): Promise<void>;
}

/** What a rule sees of a request. */
export interface FaultRequest {
  readonly method: string;
  readonly url: string;
  /** `X-Amz-Target` (JSON protocols), or ''. */
  readonly target: string;
  readonly body: string;
}

export type FaultAction =
  | { readonly kind: 'reset' }
  | { readonly kind: 'delay'; readonly delayMs: number }
  | { readonly kind: 'error'; readonly status: number; readonly contentType: string; readonly body: string };

export interface FaultRule {
  readonly name: string;
  readonly match: (request: FaultRequest) => boolean;
  /** Chance that a matching request gets the fault, 0–1 (default 1). */
  readonly probability?: number;
  /** Instead of a chance: every `every`-th matching request gets the fault (deterministic). */
  readonly every?: number;
  /** At most this many faults from this rule. */
  readonly limit?: number;
  /**
   * Never fault the same request body twice in a row: the SDK's retry of a faulted call (same
   * body) goes through, so its own retries are never exhausted by this rule.
   */
  readonly spareRetries?: boolean;
  readonly action: FaultAction;
}

/**
 * An AWS JSON-protocol error answer (DynamoDB `application/x-amz-json-1.0`, SQS and
 * CloudWatch Logs `1.0`/`1.1`): the SDK reads the error name from `__type`.
 */
export function awsJsonError(status: number, type: string, contentType = 'application/x-amz-json-1.0'): FaultAction {
  return {
    kind: 'error',
    status,
    contentType,
    body: JSON.stringify({ __type: type, message: `${type} (injected by the chaos proxy)` }),
  };
}

/**
 * Starts the proxy on a free 127.0.0.1 port in front of `target`.
 * @param random - the PRNG for probability draws (seeded by the caller)
 */
export async function startFaultProxy(target: string, random: () => number): Promise<FaultProxy> {
  const upstream = new URL(target);
  let rules: readonly FaultRule[] = [];
  const counts: Record<string, number> = { requests: 0, blackout: 0 };
  const state = { blackout: false };
  const matched = new Map<FaultRule, number>();
  /** Bodies a `spareRetries` rule faulted, until their retry comes. */
  const faulted = new Set<string>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      counts['requests']!++;
      const body = Buffer.concat(chunks);
      if (state.blackout) {
        counts['blackout']!++;
        req.socket.destroy();
        return;
      }
      const amzTarget = req.headers['x-amz-target'];
      const request: FaultRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        target: typeof amzTarget === 'string' ? amzTarget : '',
        body: body.length < 1_000_000 ? body.toString('utf8') : '',
      };
      const rule = rules.find((r) => {
        if (!r.match(request)) return false;
        const seen = (matched.get(r) ?? 0) + 1;
        matched.set(r, seen);
        if (r.limit !== undefined && (counts[r.name] ?? 0) >= r.limit) return false;
        if (r.spareRetries && faulted.delete(request.body)) return false;
        const hit = r.every !== undefined ? seen % r.every === 0 : random() < (r.probability ?? 1);
        if (hit && r.spareRetries) faulted.add(request.body);
        return hit;
      });
      if (rule) counts[rule.name] = (counts[rule.name] ?? 0) + 1;
      const forward = () => {
        const upstreamRequest = httpRequest(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstreamRequest.on('error', () => {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
        upstreamRequest.end(body);
      };
      if (!rule) return forward();
      const action = rule.action;
      if (action.kind === 'reset') {
        req.socket.destroy();
      } else if (action.kind === 'delay') {
        const timer = setTimeout(forward, action.delayMs);
        res.once('close', () => clearTimeout(timer));
      } else {
        res.writeHead(action.status, { 'content-type': action.contentType, 'content-length': Buffer.byteLength(action.body) });
        res.end(action.body);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    setRules(next) {
      rules = next;
    },
    get blackout() {
      return state.blackout;
    },
    set blackout(on: boolean) {
      state.blackout = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
