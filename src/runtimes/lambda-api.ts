import { Registry } from 'prom-client';
import { type PskSource, pskSourceFromEnv } from '../api/index.js';
import { createLogger, parseLogLevel } from '../logging/index.js';
import { createApiGatewayHandler, createAuthorizerHandler } from './api-lambda.js';
import { openAwsConfigApi } from './config-api-aws.js';

/**
 * Entry points of the API Lambdas (bundled as `dist/lambda/api.mjs`):
 * `api.handler` behind API Gateway (the config API over DynamoDB, trusting the authorizer's
 * principal), and `api.authorizer`, the REQUEST authorizer (key from `PSK_SECRET_NAME` or
 * `TLR_API_PSK`). Both are built once per container from the environment.
 */

const logger = createLogger({ level: parseLogLevel(process.env['LOG_LEVEL'] ?? 'info'), format: 'json' });

/** The API: API Gateway proxy events (REST or HTTP API) in, proxy results out. */
export const handler = createApiGatewayHandler(async () => {
  const server = await openAwsConfigApi({
    store: 'aws',
    // Lambda has no data directory; the key is the authorizer's concern here.
    dataDir: '/tmp/tlr',
    env: process.env,
    logger,
    registry: new Registry(),
    authMode: 'authorizer',
  });
  return server.app;
});

let psk: PskSource | undefined;

/**
 * The REQUEST authorizer: signature and timestamp, current or previous key. The key source
 * is chosen on the first request, so a missing `PSK_SECRET_NAME` fails requests with its
 * message (logged) rather than the container's start.
 */
export const authorizer = createAuthorizerHandler({
  psk: { keys: () => (psk ??= pskSourceFromEnv(process.env, { logger })).keys() },
  logger,
});
