import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import {
  ConfigValidationError,
  type FieldError,
  INTERNAL_KEY_PREFIX,
  keySegmentProblem,
  schemaFieldErrors,
  TENANT_ID_REGEX,
} from '../../domain/index.js';

/** 1 MiB in bytes. */
const MIB = 1024 * 1024;

/**
 * Default analytics prefix. Its first segment starts with `_`, so in the central bucket the
 * processor treats these objects as the router's own and never routes them as logs.
 */
export const DEFAULT_ANALYTICS_PREFIX = '_analytics/eks/';
/** Default largest central object before gzip: the HTTP ingest's size, so reads stay alike. */
export const DEFAULT_MAX_OBJECT_BYTES = 8 * MIB;
/**
 * Default largest decompressed subscription payload. A payload arrives compressed in one
 * Kinesis record (≤ 1 MiB) or one Lambda event (≤ 1 MB); log text compresses about 10 to 20
 * times, so 32 MiB leaves room while a gzip bomb is cut off early.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 32 * MIB;
/** Default objects written at once; a Firehose batch can fill several. */
export const DEFAULT_WRITE_CONCURRENCY = 4;

/** Where the Hive-partitioned analytics copy goes, when enabled. */
export const AnalyticsConfigSchema = Type.Object(
  {
    bucket: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Bucket of the analytics objects; default the central bucket.',
        errorMessage: 'must be a non-empty bucket name',
      }),
    ),
    prefix: Type.String({
      default: DEFAULT_ANALYTICS_PREFIX,
      description:
        "Key prefix of the analytics objects, ending in '/'. In the central bucket its first segment must " +
        `start with '${INTERNAL_KEY_PREFIX}' so the processor never routes them. Default \`${DEFAULT_ANALYTICS_PREFIX}\`.`,
    }),
  },
  { additionalProperties: false, description: 'Hive-partitioned copy for Athena: `component=…/dt=…/hour=…/`.' },
);

/** The CloudWatch Logs (EKS control plane) ingest's config, as an operator writes it. */
export const CloudwatchIngestConfigSchema = Type.Object(
  {
    tenant: Type.String({
      pattern: TENANT_ID_REGEX.source,
      description: 'The tenant (namespace segment of the central keys) that owns the control-plane logs.',
      errorMessage: 'must be a Kubernetes namespace name (lowercase letters, digits and "-", 1-63 characters)',
    }),
    clusterName: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'The cluster segment of the central keys; default the EKS cluster name in the log group ' +
          '`/aws/eks/<cluster>/cluster`.',
        errorMessage: 'must be a non-empty cluster name',
      }),
    ),
    analytics: Type.Optional(AnalyticsConfigSchema),
    maxObjectBytes: Type.Integer({
      minimum: 1,
      default: DEFAULT_MAX_OBJECT_BYTES,
      errorMessage: 'must be a whole number of bytes ≥ 1',
      description: 'Largest central or analytics object before gzip, in bytes (one bigger event still gets one). Default 8 MiB.',
    }),
    maxPayloadBytes: Type.Integer({
      minimum: 1,
      default: DEFAULT_MAX_PAYLOAD_BYTES,
      errorMessage: 'must be a whole number of bytes ≥ 1',
      description: 'Largest decompressed subscription payload, in bytes; bigger ones are refused. Default 32 MiB.',
    }),
    writeConcurrency: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: DEFAULT_WRITE_CONCURRENCY,
      errorMessage: 'must be a whole number from 1 to 64',
      description: 'Objects written at the same time. Default 4.',
    }),
  },
  { additionalProperties: false, description: 'CloudWatch Logs subscription ingest of EKS control-plane logs.' },
);

/** The ingest's config. */
export type CloudwatchIngestConfig = Static<typeof CloudwatchIngestConfigSchema>;

declare const validatedBrand: unique symbol;
/** A config that passed `validateCloudwatchIngestConfig`; the analytics prefix ends in `/`. */
export type ValidatedCloudwatchIngestConfig = CloudwatchIngestConfig & { readonly [validatedBrand]: true };

function clusterProblem(cluster: string): string | undefined {
  const problem = keySegmentProblem(cluster);
  if (problem !== undefined) return `is not a valid object key segment: it ${problem}`;
  if (cluster.startsWith(INTERNAL_KEY_PREFIX)) return `must not start with '${INTERNAL_KEY_PREFIX}' (kept for the router's own keys)`;
  return undefined;
}

/** The prefix with one trailing `/`. */
function normalizePrefix(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

function prefixProblem(prefix: string, inCentralBucket: boolean): string | undefined {
  if (prefix.startsWith('/')) return "must not start with '/'";
  const segments = normalizePrefix(prefix).split('/').slice(0, -1);
  if (segments.length === 0 || segments.some((s) => keySegmentProblem(s) !== undefined)) {
    return "must be one or more key segments joined by '/', none empty, blank or starting with '.'";
  }
  if (inCentralBucket && !segments[0]!.startsWith(INTERNAL_KEY_PREFIX)) {
    return `must start with '${INTERNAL_KEY_PREFIX}' in the central bucket, so the processor never routes analytics objects as logs`;
  }
  return undefined;
}

/** The suggested defaults for a tenant. */
export function defaultCloudwatchIngestConfig(tenant: string): CloudwatchIngestConfig {
  return Value.Default(CloudwatchIngestConfigSchema, { tenant }) as CloudwatchIngestConfig;
}

/**
 * Validates an operator's config, filling in defaults for missing keys.
 *
 * @param input - the config as written (unknown keys are refused)
 * @throws ConfigValidationError listing every bad field
 */
export function validateCloudwatchIngestConfig(input: unknown): ValidatedCloudwatchIngestConfig {
  const candidate = Value.Default(CloudwatchIngestConfigSchema, structuredClone(input ?? {})) as CloudwatchIngestConfig;
  const errors = schemaFieldErrors(CloudwatchIngestConfigSchema, candidate);
  if (typeof candidate.clusterName === 'string' && candidate.clusterName !== '') {
    const problem = clusterProblem(candidate.clusterName);
    if (problem) errors.push({ field: 'clusterName', message: problem });
  }
  const analytics = candidate.analytics;
  if (analytics && typeof analytics.prefix === 'string') {
    const problem = prefixProblem(analytics.prefix, analytics.bucket === undefined);
    if (problem) errors.push({ field: 'analytics.prefix', message: problem });
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'CloudWatch ingest config');
  return {
    ...candidate,
    ...(analytics && { analytics: { ...analytics, prefix: normalizePrefix(analytics.prefix) } }),
  } as ValidatedCloudwatchIngestConfig;
}

/**
 * Why a cluster name taken from a log group cannot be a key segment, or undefined when it can.
 * @internal
 */
export function clusterNameProblem(cluster: string): string | undefined {
  return clusterProblem(cluster);
}

/** What the CloudWatch Lambda reads from its environment. */
export interface CloudwatchLambdaEnv {
  readonly ingest: ValidatedCloudwatchIngestConfig;
  /** The central bucket (`SOURCE_BUCKET`). */
  readonly sourceBucket: string;
  /** The notification queue (`SQS_QUEUE_URL`). */
  readonly queueUrl: string;
}

/** Config fields and the variables they come from, so errors name what the operator set. */
const ENV_NAMES: Readonly<Record<string, string>> = {
  tenant: 'EKS_TENANT',
  clusterName: 'EKS_CLUSTER_NAME',
  'analytics.bucket': 'ANALYTICS_BUCKET',
  'analytics.prefix': 'ANALYTICS_PREFIX',
};

/**
 * Reads the CloudWatch Lambda's settings: `EKS_TENANT` (required), `EKS_CLUSTER_NAME`,
 * `ANALYTICS_BUCKET` and `ANALYTICS_PREFIX` (either one turns the analytics copy on),
 * `SOURCE_BUCKET` and `SQS_QUEUE_URL` (required). Every problem is reported at once.
 *
 * @param env - the environment, default `process.env`
 * @throws ConfigValidationError naming each missing or malformed variable
 * @example const { ingest, sourceBucket, queueUrl } = cloudwatchIngestConfigFromEnv();
 */
export function cloudwatchIngestConfigFromEnv(env: NodeJS.ProcessEnv = process.env): CloudwatchLambdaEnv {
  const value = (name: string) => env[name]?.trim() || undefined;
  const errors: FieldError[] = [];
  const tenant = value('EKS_TENANT');
  if (!tenant) errors.push({ field: 'EKS_TENANT', message: 'is required (the tenant that owns the control-plane logs)' });
  const sourceBucket = value('SOURCE_BUCKET');
  if (!sourceBucket) errors.push({ field: 'SOURCE_BUCKET', message: 'is required (the central bucket objects are written to)' });
  const queueUrl = value('SQS_QUEUE_URL');
  if (!queueUrl) errors.push({ field: 'SQS_QUEUE_URL', message: 'is required (the queue the processor reads)' });
  const clusterName = value('EKS_CLUSTER_NAME');
  const analyticsBucket = value('ANALYTICS_BUCKET');
  const analyticsPrefix = value('ANALYTICS_PREFIX');
  // The central bucket named as the analytics bucket is the central bucket: same prefix rule.
  const separateBucket = analyticsBucket !== undefined && analyticsBucket !== sourceBucket;
  const input = {
    tenant: tenant ?? '',
    ...(clusterName !== undefined && { clusterName }),
    ...((analyticsBucket !== undefined || analyticsPrefix !== undefined) && {
      analytics: {
        ...(separateBucket && { bucket: analyticsBucket }),
        ...(analyticsPrefix !== undefined && { prefix: analyticsPrefix }),
      },
    }),
  };
  let ingest: ValidatedCloudwatchIngestConfig | undefined;
  try {
    ingest = validateCloudwatchIngestConfig(input);
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    for (const e of error.fieldErrors) {
      // EKS_TENANT missing is reported once, above.
      if (e.field === 'tenant' && !tenant) continue;
      errors.push({ field: ENV_NAMES[e.field] ?? e.field, message: e.message });
    }
  }
  if (errors.length > 0 || !ingest) throw new ConfigValidationError(errors, 'environment');
  return { ingest, sourceBucket: sourceBucket!, queueUrl: queueUrl! };
}
