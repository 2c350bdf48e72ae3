import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Registry } from 'prom-client';
import { awsClientConfig, awsSettingsFromEnv } from '../aws/index.js';
import {
  type CloudwatchIngest,
  cloudwatchIngestConfigFromEnv,
  createCloudwatchIngest,
  createCloudwatchWriter,
  type FirehoseTransformationResult,
  type IngestSummary,
} from '../ingest/cloudwatch/index.js';
import { createLogger, type Logger, parseLogLevel } from '../logging/index.js';
import { createS3ObjectStore, createSqsQueue } from '../stores/aws/index.js';

/**
 * Entry point of the CloudWatch Logs Lambda (bundled as `dist/lambda/cloudwatch.mjs`,
 * handler `cloudwatch.handler`): EKS control-plane logs from a subscription filter
 * (`{"awslogs":{"data":…}}`) or a Firehose data transformation (`{"records":[…]}`) into the
 * central bucket, notified on the processor's queue.
 */

/** The SDK's own retries for store calls; a failed invocation is retried by its source on top. */
const STORE_SDK_ATTEMPTS = 3;

/** What the handler returns: a summary for subscriptions, the transformation response for Firehose. */
export type CloudwatchHandlerResult = IngestSummary | FirehoseTransformationResult;

/** A CloudWatch Lambda handler and what it holds open. */
export interface CloudwatchLambda {
  handle(event: unknown): Promise<CloudwatchHandlerResult>;
  /** Releases the SDK clients (tests; Lambda freezes the container instead). */
  close(): void;
}

/**
 * Wraps an ingest as a handler that logs one line per invocation (never one per event).
 *
 * @param deps - the ingest and the logger
 */
export function createCloudwatchHandler(deps: { ingest: CloudwatchIngest; logger: Logger }) {
  return async (event: unknown): Promise<CloudwatchHandlerResult> => {
    const result = await deps.ingest.handleEvent(event);
    if ('records' in result) {
      const tally: Record<string, number> = {};
      for (const r of result.records) tally[r.result] = (tally[r.result] ?? 0) + 1;
      deps.logger.info('Transformed a Firehose batch.', { records: result.records.length, ...tally });
    } else {
      deps.logger.info('Ingested a CloudWatch Logs subscription event.', {
        dataMessages: result.dataMessages,
        controlMessages: result.controlMessages,
        refusedMessages: result.refusedMessages,
        events: result.events,
        objects: result.centralKeys.length,
        analyticsObjects: result.analyticsKeys.length,
      });
    }
    return result;
  };
}

/**
 * Builds the handler from an environment: `EKS_TENANT`, `EKS_CLUSTER_NAME`,
 * `ANALYTICS_BUCKET`, `ANALYTICS_PREFIX`, `SOURCE_BUCKET`, `SQS_QUEUE_URL`, `LOG_LEVEL` and
 * the AWS client settings (`AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_S3_USE_PATH_STYLE`).
 *
 * @param env - default `process.env`
 * @param options - a logger and registry of the caller's (tests); default JSON logs on stderr
 * @throws ConfigValidationError naming every missing or malformed variable
 */
export function createCloudwatchLambda(
  env: NodeJS.ProcessEnv = process.env,
  options: { logger?: Logger; registry?: Registry } = {},
): CloudwatchLambda {
  const logger = options.logger ?? createLogger({ level: parseLogLevel(env['LOG_LEVEL']), format: 'json' });
  const { ingest: config, sourceBucket, queueUrl } = cloudwatchIngestConfigFromEnv(env);
  const settings = awsSettingsFromEnv(env);
  const s3 = new S3Client(awsClientConfig(settings, { s3: true, maxAttempts: STORE_SDK_ATTEMPTS }));
  const sqs = new SQSClient(awsClientConfig(settings, { maxAttempts: STORE_SDK_ATTEMPTS }));
  const centralStore = createS3ObjectStore({ client: s3, bucket: sourceBucket });
  const analyticsBucket = config.analytics?.bucket;
  const registry = options.registry ?? new Registry();
  const writer = createCloudwatchWriter({
    centralStore,
    queue: createSqsQueue({ client: sqs, queueUrl }),
    ...(config.analytics && {
      analyticsStore: analyticsBucket ? createS3ObjectStore({ client: s3, bucket: analyticsBucket }) : centralStore,
    }),
    config,
    logger,
    registry,
  });
  const handle = createCloudwatchHandler({ ingest: createCloudwatchIngest({ writer, config, logger, registry }), logger });
  return {
    handle,
    close() {
      s3.destroy();
      sqs.destroy();
    },
  };
}

let initialised: CloudwatchLambda | undefined;

/**
 * The Lambda entry point. Built once per container from the environment; a bad environment
 * fails every invocation with each problem named (the source retries, then dead-letters).
 *
 * @example
 * // Subscription filter on /aws/eks/<cluster>/cluster → this function; or a Firehose processor.
 * export { handler } from './lambda-cloudwatch.js';
 */
export async function handler(event: unknown): Promise<CloudwatchHandlerResult> {
  initialised ??= createCloudwatchLambda();
  return initialised.handle(event);
}
