import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandlerOptions, HttpRequest, HttpResponse } from '@smithy/types';
import { awsClientConfig, type AwsSettings } from '../../../src/aws/index.js';

/**
 * S3 clients for the s3 sink's integration tests: real SDK clients against moto, which
 * record every command they send and can answer chosen requests with a scripted S3 error
 * (what moto cannot produce: AccessDenied, wrong-region redirects, KMS denials). A scripted
 * answer goes through the SDK's own deserializer, exactly as an answer from AWS would.
 */

/** A scripted HTTP answer for the requests `match` selects, `times` times (default once). */
export interface S3Fault {
  readonly match: (request: HttpRequest) => boolean;
  readonly status: number;
  /** The S3 error code in the XML body; no body when undefined (as HEAD answers). */
  readonly code?: string;
  readonly headers?: Record<string, string>;
  times?: number;
}

/** One command sent by a test client. */
export interface SentCommand {
  readonly region: string;
  readonly command: string;
}

/** One HTTP request as it left a test client (signed, headers lowercased). */
export interface SentRequest {
  readonly region: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

function header(request: HttpRequest, name: string): string | undefined {
  const found = Object.entries(request.headers).find(([key]) => key.toLowerCase() === name);
  return found?.[1];
}

/** Matches `CopyObject` (a PUT with a copy source and no part number). */
export const isCopyObject = (request: HttpRequest): boolean =>
  request.method === 'PUT' && header(request, 'x-amz-copy-source') !== undefined && !request.query?.['partNumber'];

/** Matches `UploadPartCopy` of one part number (any when omitted). */
export const isUploadPartCopy =
  (partNumber?: number) =>
  (request: HttpRequest): boolean =>
    request.method === 'PUT' &&
    header(request, 'x-amz-copy-source') !== undefined &&
    request.query?.['partNumber'] !== undefined &&
    (partNumber === undefined || request.query['partNumber'] === String(partNumber));

/** Matches `HeadBucket` (a HEAD on the bucket itself, path-style). */
export const isHeadBucket = (request: HttpRequest): boolean =>
  request.method === 'HEAD' && request.path.split('/').filter(Boolean).length === 1;

/** Matches `GetBucketLocation`. */
export const isGetBucketLocation = (request: HttpRequest): boolean =>
  request.method === 'GET' && request.query?.['location'] !== undefined;

function errorBody(code: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>Scripted by the test.</Message><RequestId>TEST</RequestId></Error>`
  );
}

/** Wraps the router's HTTP handler and answers matching requests from the script instead. */
class ScriptedHandler {
  constructor(
    private readonly inner: NodeHttpHandler,
    private readonly faults: S3Fault[],
    private readonly onRequest: (request: HttpRequest) => void,
  ) {}

  async handle(request: HttpRequest, options?: HttpHandlerOptions): Promise<{ response: HttpResponse }> {
    this.onRequest(request);
    const fault = this.faults.find((f) => (f.times ?? 1) > 0 && f.match(request));
    if (!fault) return this.inner.handle(request as Parameters<NodeHttpHandler['handle']>[0], options);
    fault.times = (fault.times ?? 1) - 1;
    const body = fault.code !== undefined && request.method !== 'HEAD' ? errorBody(fault.code) : '';
    return {
      response: {
        statusCode: fault.status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': 'TEST', ...fault.headers },
        body: Readable.from([Buffer.from(body)]),
      },
    };
  }

  updateHttpClientConfig(key: never, value: never): void {
    this.inner.updateHttpClientConfig(key, value);
  }

  httpHandlerConfigs() {
    return this.inner.httpHandlerConfigs();
  }

  destroy(): void {
    this.inner.destroy();
  }
}

/** A factory of per-region test clients, with what they sent and which regions were asked for. */
export interface TestClientFactory {
  readonly create: (region: string) => S3Client;
  readonly sent: SentCommand[];
  readonly requests: SentRequest[];
  readonly regionsCreated: string[];
  /** Commands of one name sent, optionally in one region. */
  count(command: string, region?: string): number;
}

/**
 * Builds S3 clients against moto for the given region, recording each command and
 * answering scripted faults per region.
 *
 * @param settings - moto's settings
 * @param faultsByRegion - scripted answers, by the region of the client that sends
 */
export function testClientFactory(
  settings: AwsSettings,
  faultsByRegion: Record<string, S3Fault[]> = {},
): TestClientFactory {
  const sent: SentCommand[] = [];
  const requests: SentRequest[] = [];
  const regionsCreated: string[] = [];
  return {
    sent,
    requests,
    regionsCreated,
    count: (command, region) =>
      sent.filter((s) => s.command === command && (region === undefined || s.region === region)).length,
    create(region) {
      regionsCreated.push(region);
      const config = awsClientConfig(settings, { region, s3: true });
      const client = new S3Client({
        ...config,
        requestHandler: new ScriptedHandler(config.requestHandler, faultsByRegion[region] ?? [], (request) =>
          requests.push({
            region,
            method: request.method,
            path: request.path,
            headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
          }),
        ),
        followRegionRedirects: false,
      });
      client.middlewareStack.add(
        (next, context) => async (args) => {
          sent.push({ region, command: context.commandName ?? 'unknown' });
          return next(args);
        },
        { step: 'initialize', name: 'recordSentCommands' },
      );
      return client;
    },
  };
}
