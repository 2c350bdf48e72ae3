import { createServer, request as httpRequest, type Server } from 'node:http';

/**
 * A pass-through HTTP proxy in front of moto that sees every AWS request a process makes,
 * so tests can check rules moto does not enforce (CloudWatch Logs `PutLogEvents` limits)
 * even for a child process. Requests are forwarded unchanged, except those an injected
 * fault answers (denials moto cannot produce, such as STS refusing AssumeRole) or an
 * injected rewrite changes (partial failures moto never reports, such as PutRecords refusing
 * some records).
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
  /** Every Kinesis PutRecords request as the client sent it (before any rewrite), data decoded. */
  readonly putRecords: PutRecordsRequest[];
  /** Every Firehose PutRecordBatch request as the client sent it (before any rewrite), data decoded. */
  readonly putRecordBatches: PutRecordBatchRequest[];
  /** Answers the requests `fault.match` selects with its scripted error instead of forwarding them. */
  inject(fault: ProxyFault): void;
  /**
   * Forwards the requests `rewrite.match` selects changed by `rewrite.request`, and answers
   * with `rewrite.response` of the upstream answer (partial failures moto never reports).
   */
  rewrite(rewrite: ProxyRewrite): void;
  /** Forgets every injected fault and rewrite (call between tests). */
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

/**
 * A request the proxy forwards changed, answering with a changed upstream answer: how a test
 * makes moto store only some records of a call while the client hears that the others were
 * refused, as AWS reports partial failures.
 */
export interface ProxyRewrite {
  readonly match: (request: ProxiedRequest) => boolean;
  /** The body to forward instead of the client's; undefined forwards nothing. */
  readonly request: (body: Buffer) => Buffer | undefined;
  /**
   * The body to answer the client with, from the upstream's 2xx answer (undefined when nothing
   * was forwarded) and the client's original body. Upstream errors pass through unchanged.
   */
  readonly response: (answer: Buffer | undefined, request: Buffer) => Buffer;
  /** How many requests it rewrites; every matching one when undefined. */
  times?: number;
}

/** The `X-Amz-Target` of Kinesis `PutRecords` and Firehose `PutRecordBatch`. */
export const PUT_RECORDS_TARGET = 'Kinesis_20131202.PutRecords';
export const PUT_RECORD_BATCH_TARGET = 'Firehose_20150804.PutRecordBatch';

/**
 * An error answer of a JSON-protocol service (Kinesis, Firehose, CloudWatch Logs), in the
 * shape AWS sends, so the SDK raises exactly the error AWS would.
 *
 * @param target - the `X-Amz-Target` to answer (`Kinesis_20131202.PutRecords`)
 * @param errorName - the error's `__type` (`AccessDeniedException`)
 * @param times - how many requests it answers; every matching one when undefined
 */
export function awsJsonErrorFault(target: string, errorName: string, status = 400, times?: number): ProxyFault {
  return {
    match: (request) => request.target === target,
    status,
    contentType: 'application/x-amz-json-1.1',
    body: JSON.stringify({ __type: errorName, message: `${errorName} (injected by the test proxy)` }),
    ...(times !== undefined && { times }),
  };
}

interface JsonRecordsCall {
  readonly records: string;
  readonly answers: string;
  readonly failedCount: string;
  readonly refusedEntry: (code: string) => Record<string, string>;
}

/**
 * A rewrite that refuses some records of a records call: the refused ones are not forwarded,
 * and the answer lists them at their positions with their `ErrorCode`, the others with the
 * upstream's entries.
 */
function partialRecordsFailure(
  target: string,
  call: JsonRecordsCall,
  refuse: (index: number) => string | undefined,
  times: number,
): ProxyRewrite {
  return {
    match: (request) => request.target === target,
    times,
    request: (body) => {
      const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown[]>;
      const kept = parsed[call.records]!.filter((_, i) => refuse(i) === undefined);
      return kept.length === 0 ? undefined : Buffer.from(JSON.stringify({ ...parsed, [call.records]: kept }));
    },
    response: (answer, request) => {
      const sent = (JSON.parse(request.toString('utf8')) as Record<string, unknown[]>)[call.records]!;
      const upstream = answer ? (JSON.parse(answer.toString('utf8')) as Record<string, unknown>) : {};
      const accepted = (upstream[call.answers] as unknown[] | undefined) ?? [];
      let next = 0;
      let failed = 0;
      const entries = sent.map((_, i) => {
        const code = refuse(i);
        if (code === undefined) return accepted[next++];
        failed += 1;
        return call.refusedEntry(code);
      });
      return Buffer.from(JSON.stringify({ ...upstream, [call.failedCount]: failed, [call.answers]: entries }));
    },
  };
}

/**
 * Kinesis answering `PutRecords` with `FailedRecordCount` and a per-record `ErrorCode` for
 * the records `refuse` names, storing only the others (moto never reports partial failures).
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
 *
 * @param refuse - the code to refuse the record at a position with, or undefined to accept it
 * @param times - how many calls it rewrites
 */
export function kinesisPartialFailure(refuse: (index: number) => string | undefined, times = 1): ProxyRewrite {
  return partialRecordsFailure(
    PUT_RECORDS_TARGET,
    {
      records: 'Records',
      answers: 'Records',
      failedCount: 'FailedRecordCount',
      refusedEntry: (code) => ({ ErrorCode: code, ErrorMessage: `${code} (injected by the test proxy)` }),
    },
    refuse,
    times,
  );
}

/**
 * Firehose answering `PutRecordBatch` with `FailedPutCount` and a per-record `ErrorCode` in
 * `RequestResponses` for the records `refuse` names, storing only the others.
 * https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
 *
 * @param refuse - the code to refuse the record at a position with, or undefined to accept it
 * @param times - how many calls it rewrites
 */
export function firehosePartialFailure(refuse: (index: number) => string | undefined, times = 1): ProxyRewrite {
  return partialRecordsFailure(
    PUT_RECORD_BATCH_TARGET,
    {
      records: 'Records',
      answers: 'RequestResponses',
      failedCount: 'FailedPutCount',
      refusedEntry: (code) => ({ ErrorCode: code, ErrorMessage: `${code} (injected by the test proxy)` }),
    },
    refuse,
    times,
  );
}

/** One Kinesis PutRecords request, data decoded as UTF-8. */
export interface PutRecordsRequest {
  readonly streamName?: string;
  readonly streamArn?: string;
  readonly records: { readonly data: string; readonly dataBytes: number; readonly partitionKey: string }[];
}

/** One Firehose PutRecordBatch request, data decoded as UTF-8. */
export interface PutRecordBatchRequest {
  readonly deliveryStreamName: string;
  readonly records: { readonly data: string; readonly dataBytes: number }[];
}

/**
 * PutRecords limits (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html):
 * 500 records, 1 MiB per record and 10 MiB per request, partition keys included; keys of 1-256 characters.
 */
export const PUT_RECORDS_MAX_RECORDS = 500;
export const PUT_RECORDS_MAX_RECORD_BYTES = 1_048_576;
export const PUT_RECORDS_MAX_BYTES = 10 * 1_048_576;
export const PUT_RECORDS_MAX_KEY_LENGTH = 256;
/**
 * PutRecordBatch limits (https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html):
 * 500 records, 1,000 KiB per record, 4 MiB per request.
 */
export const PUT_RECORD_BATCH_MAX_RECORDS = 500;
export const PUT_RECORD_BATCH_MAX_RECORD_BYTES = 1_024_000;
export const PUT_RECORD_BATCH_MAX_BYTES = 4 * 1_048_576;

/** Every limit a PutRecords request breaks; empty when it is valid. */
export function putRecordsViolations(body: PutRecordsRequest): string[] {
  const problems: string[] = [];
  const { records } = body;
  if (records.length === 0) problems.push('no records');
  if (records.length > PUT_RECORDS_MAX_RECORDS) problems.push(`${records.length} records > ${PUT_RECORDS_MAX_RECORDS}`);
  let total = 0;
  records.forEach((record, i) => {
    const bytes = record.dataBytes + Buffer.byteLength(record.partitionKey);
    total += bytes;
    if (bytes > PUT_RECORDS_MAX_RECORD_BYTES) problems.push(`record ${i}: ${bytes} bytes > ${PUT_RECORDS_MAX_RECORD_BYTES}`);
    const keyLength = [...record.partitionKey].length;
    if (keyLength < 1 || keyLength > PUT_RECORDS_MAX_KEY_LENGTH) problems.push(`record ${i}: partition key of ${keyLength} characters`);
  });
  if (total > PUT_RECORDS_MAX_BYTES) problems.push(`${total} bytes > ${PUT_RECORDS_MAX_BYTES}`);
  return problems;
}

/** Every limit a PutRecordBatch request breaks; empty when it is valid. */
export function putRecordBatchViolations(body: PutRecordBatchRequest): string[] {
  const problems: string[] = [];
  const { records } = body;
  if (records.length === 0) problems.push('no records');
  if (records.length > PUT_RECORD_BATCH_MAX_RECORDS) problems.push(`${records.length} records > ${PUT_RECORD_BATCH_MAX_RECORDS}`);
  let total = 0;
  records.forEach((record, i) => {
    total += record.dataBytes;
    if (record.dataBytes > PUT_RECORD_BATCH_MAX_RECORD_BYTES) {
      problems.push(`record ${i}: ${record.dataBytes} bytes > ${PUT_RECORD_BATCH_MAX_RECORD_BYTES}`);
    }
  });
  if (total > PUT_RECORD_BATCH_MAX_BYTES) problems.push(`${total} bytes > ${PUT_RECORD_BATCH_MAX_BYTES}`);
  return problems;
}

function decodedData(data: unknown): { data: string; dataBytes: number } {
  const bytes = Buffer.from(typeof data === 'string' ? data : '', 'base64');
  return { data: bytes.toString('utf8'), dataBytes: bytes.length };
}

/** A PutRecords body as the proxy records it. */
function parsePutRecords(body: Buffer): PutRecordsRequest {
  const parsed = JSON.parse(body.toString('utf8')) as {
    StreamName?: string;
    StreamARN?: string;
    Records?: { Data?: string; PartitionKey?: string }[];
  };
  return {
    ...(parsed.StreamName !== undefined && { streamName: parsed.StreamName }),
    ...(parsed.StreamARN !== undefined && { streamArn: parsed.StreamARN }),
    records: (parsed.Records ?? []).map((r) => ({ ...decodedData(r.Data), partitionKey: r.PartitionKey ?? '' })),
  };
}

/** A PutRecordBatch body as the proxy records it. */
function parsePutRecordBatch(body: Buffer): PutRecordBatchRequest {
  const parsed = JSON.parse(body.toString('utf8')) as { DeliveryStreamName?: string; Records?: { Data?: string }[] };
  return {
    deliveryStreamName: parsed.DeliveryStreamName ?? '',
    records: (parsed.Records ?? []).map((r) => decodedData(r.Data)),
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
  const putRecords: PutRecordsRequest[] = [];
  const putRecordBatches: PutRecordBatchRequest[] = [];
  const faults: ProxyFault[] = [];
  const rewrites: ProxyRewrite[] = [];
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
      if (amzTarget === PUT_RECORDS_TARGET) {
        const parsed = parsePutRecords(body);
        putRecords.push(parsed);
        for (const problem of putRecordsViolations(parsed)) {
          violations.push(`PutRecords ${parsed.streamName ?? parsed.streamArn}: ${problem}`);
        }
      }
      if (amzTarget === PUT_RECORD_BATCH_TARGET) {
        const parsed = parsePutRecordBatch(body);
        putRecordBatches.push(parsed);
        for (const problem of putRecordBatchViolations(parsed)) {
          violations.push(`PutRecordBatch ${parsed.deliveryStreamName}: ${problem}`);
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
      const rewrite = rewrites.find((r) => (r.times ?? 1) > 0 && r.match(proxied));
      if (rewrite?.times !== undefined) rewrite.times -= 1;
      const forwarded = rewrite ? rewrite.request(body) : body;
      const answerWith = (status: number, headers: Record<string, string | string[] | undefined>, answer: Buffer) => {
        const { 'transfer-encoding': _chunked, ...rest } = headers;
        res.writeHead(status, { ...rest, 'content-length': answer.length });
        res.end(answer);
      };
      if (forwarded === undefined) {
        answerWith(200, { 'content-type': 'application/x-amz-json-1.1' }, rewrite!.response(undefined, body));
        return;
      }
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: rewrite ? { ...req.headers, 'content-length': String(forwarded.length) } : req.headers,
        },
        (answer) => {
          if (!rewrite) {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            return;
          }
          const answerChunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => answerChunks.push(c));
          answer.on('end', () => {
            const status = answer.statusCode ?? 502;
            const upstreamBody = Buffer.concat(answerChunks);
            const ok = status >= 200 && status < 300;
            answerWith(status, answer.headers, ok ? rewrite.response(upstreamBody, body) : upstreamBody);
          });
        },
      );
      forward.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      forward.end(forwarded);
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
    putRecords,
    putRecordBatches,
    inject: (fault) => {
      faults.push(fault);
    },
    rewrite: (rewrite) => {
      rewrites.push(rewrite);
    },
    clearFaults: () => {
      faults.length = 0;
      rewrites.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
