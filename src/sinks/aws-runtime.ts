import type { AwsSinkDeps } from '../aws/index.js';
import { ConfigValidationError, type ValidatedDeliveryConfig } from '../domain/index.js';
import type { SinkDeps } from './types.js';

/**
 * The AWS settings and credentials a destination kind that calls AWS needs.
 *
 * @param kind - the destination kind, for the message
 * @throws ConfigValidationError when the runtime has no AWS (the config cannot be used here)
 */
export function requireAwsRuntime(deps: SinkDeps, kind: string, config: ValidatedDeliveryConfig): AwsSinkDeps {
  if (deps.aws) return deps.aws;
  throw new ConfigValidationError(
    [{ field: 'type', message: `'${kind}' needs the AWS runtime (AWS settings and credentials); this runtime has none` }],
    `${kind} destination of tenant '${config.tenant_id}'`,
  );
}
