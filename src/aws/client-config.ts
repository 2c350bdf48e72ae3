import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * How every AWS client of the router is configured, from the environment operators set:
 * `AWS_REGION`, `AWS_ENDPOINT_URL` (a local AWS-API server such as moto, or a VPC endpoint),
 * `AWS_S3_USE_PATH_STYLE`.
 */
export interface AwsSettings {
  readonly region: string;
  /** Overrides every service endpoint when set. */
  readonly endpoint?: string;
  /** Path-style S3 addressing (needed by most local S3 servers). */
  readonly s3PathStyle: boolean;
}

/** Region used when `AWS_REGION` and `AWS_DEFAULT_REGION` are both unset. */
export const DEFAULT_AWS_REGION = 'us-east-1';
const TRUE_VALUES: ReadonlySet<string> = new Set(['1', 'true', 'yes', 'on']);

/** Reads AwsSettings from an environment (default `process.env`). */
export function awsSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsSettings {
  const endpoint = env['AWS_ENDPOINT_URL']?.trim();
  return {
    region: env['AWS_REGION']?.trim() || env['AWS_DEFAULT_REGION']?.trim() || DEFAULT_AWS_REGION,
    ...(endpoint ? { endpoint } : {}),
    s3PathStyle: TRUE_VALUES.has((env['AWS_S3_USE_PATH_STYLE'] ?? '').trim().toLowerCase()),
  };
}

/** What an SDK v3 client constructor takes that the router sets. */
export interface AwsClientConfig {
  region: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  requestHandler: NodeHttpHandler;
  maxAttempts: number;
  logger: { debug(): void; info(): void; warn(): void; error(): void };
}

// The SDK's own warnings (for example about Node versions) must not reach user output;
// failures surface as errors the router maps and logs itself.
const quietLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Client config for one service. Every client uses an HTTP/1.1 handler: some SDK clients
 * (Kinesis) default to HTTP/2, which local AWS-API servers reject.
 *
 * @param options - `region` overrides the settings' region (a tenant's `target_region`);
 *   `credentials` are assumed-role credentials when the call acts for a tenant;
 *   `maxAttempts` is the SDK's own retries (the router retries with its own policy, so 1 by default)
 */
export function awsClientConfig(
  settings: AwsSettings,
  options: {
    region?: string;
    credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
    maxAttempts?: number;
    s3?: boolean;
    requestTimeoutMs?: number;
  } = {},
): AwsClientConfig {
  // The SDK warns on Node 20 through process.emitWarning (not its logger); the router runs on
  // Node 20 by design, so that notice must not reach user output.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  return {
    region: options.region ?? settings.region,
    ...(settings.endpoint !== undefined && { endpoint: settings.endpoint }),
    ...(options.s3 && settings.s3PathStyle && { forcePathStyle: true }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 5_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
    }),
    maxAttempts: options.maxAttempts ?? 1,
    logger: quietLogger,
  };
}
