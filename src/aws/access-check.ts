import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { DeliveryError } from '../domain/index.js';
import { AccessCheckStatus, type AccessCheckStep } from '../sinks/types.js';
import { type AwsClientConfig, awsClientConfig } from './client-config.js';
import { awsErrorName, awsHttpStatus } from './errors.js';
import type { AwsSinkDeps, CredentialBroker, TenantRoleRequest } from './types.js';

/**
 * The parts of a live access check that every AWS destination shares: getting the role's
 * credentials from the broker (which makes the AssumeRole calls), and turning SDK failures
 * into failed steps that carry the AWS error name as their code.
 */

/** Name of the step that obtains the credentials a destination is written with. */
export const ASSUME_ROLE_STEP = 'assume_role';

/** The code of a check aborted by its caller (deadline or shutdown). */
export const ABORTED_CODE = 'Aborted';

/**
 * What environment gives a router AWS settings and credentials, for the message of a
 * skipped check (see `src/runtimes/aws-env.ts`).
 */
const AWS_ENV_HINT =
  'AWS_REGION, AWS credentials and CENTRAL_LOG_DISTRIBUTION_ROLE_ARN, as the AWS runtime (tlr process) reads them';

/**
 * The code a failed step reports: the AWS error name of the SDK error at the root of the
 * failure (broker errors wrap it as their `cause`), else a network error's `code`
 * (`ECONNREFUSED`), else our own reason. Decided by names and codes, never by message text.
 *
 * @param error - what a credentials provider or an SDK call threw
 */
export function accessCheckErrorCode(error: unknown): string {
  const root = rootCause(error);
  if (root instanceof DeliveryError) return root.reason;
  const name = awsErrorName(root);
  if (name !== undefined && name !== 'Error') return name;
  const errno = (root as { code?: unknown } | null)?.code;
  if (typeof errno === 'string') return errno;
  const status = awsHttpStatus(root);
  return status !== undefined ? `HTTP_${status}` : 'UnknownError';
}

/** The error at the bottom of broker wrapping (DeliveryErrors keep the SDK error as `cause`). */
function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof DeliveryError && current.cause !== undefined) current = current.cause;
  return current;
}

/**
 * A failed step from any error an SDK call or a credentials provider threw.
 *
 * @param step - the step's name (`describe_log_groups`)
 * @param error - what was thrown
 * @param what - the action, as the start of a sentence (`DescribeLogGroups for '/app'`); a
 *   broker error's own message is used instead, since it names which role refused
 * @param hint - what to check next, appended as a sentence
 * @param code - overrides the code derived from the error (a HEAD answer has no error name)
 */
export function failedAccessStep(
  step: string,
  error: unknown,
  what: string,
  hint?: string,
  code: string = accessCheckErrorCode(error),
): AccessCheckStep {
  const status = awsHttpStatus(rootCause(error));
  // A broker error's own message names the role that refused (central or tenant hop).
  const sentence = error instanceof DeliveryError ? error.message : `${what} failed (${code}${status !== undefined ? `, HTTP ${status}` : ''}).`;
  return { step, status: AccessCheckStatus.FAILED, code, message: hint ? `${sentence} ${hint}` : sentence };
}

/**
 * The single step reported for an AWS destination when the router has no AWS settings:
 * nothing could be checked.
 *
 * @param target - what would have been checked (`the log group '/app'`)
 */
export function noAwsSettingsStep(target: string): AccessCheckStep {
  return {
    step: ASSUME_ROLE_STEP,
    status: AccessCheckStatus.SKIPPED,
    message: `This router has no AWS settings (${AWS_ENV_HINT}), so neither the role nor ${target} could be checked.`,
  };
}

/**
 * Steps that follow a failed one are reported skipped, so the answer always lists every step.
 *
 * @param steps - the names of the steps not run
 * @param after - the step that failed
 */
export function skippedAfter(steps: readonly string[], after: string): AccessCheckStep[] {
  return steps.map((step) => ({
    step,
    status: AccessCheckStatus.SKIPPED,
    message: `Not checked: the '${after}' step failed.`,
  }));
}

/** Rejects with an AbortError-named error as soon as `signal` aborts; the work carries on. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  const aborted = () => Object.assign(new Error('The access check was aborted.'), { name: ABORTED_CODE });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Resolves a credentials provider as a step: a provider from the broker calls STS
 * AssumeRole when it has no fresh session, so resolving it checks the role chain.
 */
async function credentialsStep(
  provider: AwsCredentialIdentityProvider,
  what: string,
  okMessage: string,
  hint: string,
  signal: AbortSignal | undefined,
): Promise<AccessCheckStep> {
  try {
    await untilAborted(provider(), signal);
    return { step: ASSUME_ROLE_STEP, status: AccessCheckStatus.OK, message: okMessage };
  } catch (error) {
    return failedAccessStep(ASSUME_ROLE_STEP, error, what, hint);
  }
}

/**
 * The `assume_role` step of a destination written as the tenant's role: assumes the
 * central role and, from it, the tenant's role with its ExternalId, exactly as delivery
 * does (through the same broker and its session cache). Never throws.
 *
 * @param broker - the runtime's credential broker
 * @param request - the tenant role, ExternalId and region of the destination
 * @param signal - aborts the step (it then fails with code `Aborted`)
 * @returns an `ok` step, or a `failed` one whose code is the STS error name (`AccessDenied`, …)
 * @example const step = await assumeRoleStep(deps.aws.credentials, { roleArn, tenantId, region });
 */
export function assumeRoleStep(
  broker: CredentialBroker,
  request: TenantRoleRequest,
  signal?: AbortSignal,
): Promise<AccessCheckStep> {
  return credentialsStep(
    broker.forTenant(request),
    `Assuming the tenant role '${request.roleArn}'`,
    `Assumed the tenant role '${request.roleArn}' through the central role.`,
    'Check the chain: the central role may sts:AssumeRole the tenant role, whose trust policy names the central role ' +
      'and the ExternalId (the config\'s external_id, else the central account id).',
    signal,
  );
}

/**
 * The `assume_role` step of a destination written as the central role (the s3 copies):
 * obtains the central role's credentials as delivery does. Never throws.
 *
 * @param broker - the runtime's credential broker
 * @param signal - aborts the step (it then fails with code `Aborted`)
 */
export function assumeCentralRoleStep(broker: CredentialBroker, signal?: AbortSignal): Promise<AccessCheckStep> {
  return credentialsStep(
    broker.central(),
    "Obtaining the router's central role credentials",
    "Obtained the router's central role credentials, which this destination is written with.",
    "Check the router's own credentials and that they may assume CENTRAL_LOG_DISTRIBUTION_ROLE_ARN.",
    signal,
  );
}

/** How a destination written as the tenant's role is checked after `assume_role`. */
export interface TenantRoleCheck<C extends { destroy(): void }> {
  /** The step run after `assume_role`, reported skipped when the role cannot be assumed. */
  readonly step: string;
  /** Builds the SDK client, as for the sink (tests add middleware here). */
  readonly createClient: (config: AwsClientConfig) => C;
  /** Runs the step with a client acting as the tenant's role in the destination region; never throws. */
  readonly run: (client: C) => Promise<AccessCheckStep>;
}

/**
 * The steps of a destination written as the tenant's role: `assume_role` (the central role,
 * then the tenant's role with its ExternalId, through the runtime's broker), then the
 * destination's own step with a client acting as that role in `role.region`, skipped when
 * the role cannot be assumed. The client is destroyed afterwards. Never throws.
 *
 * @param aws - the runtime's AWS settings and credential broker
 * @param role - the tenant role, ExternalId and destination region
 * @param signal - aborts the steps (the step in progress then fails)
 * @example return checkAsTenantRole(aws, role, signal, { step: 'describe_stream_summary', createClient, run });
 */
export async function checkAsTenantRole<C extends { destroy(): void }>(
  aws: AwsSinkDeps,
  role: TenantRoleRequest,
  signal: AbortSignal,
  check: TenantRoleCheck<C>,
): Promise<AccessCheckStep[]> {
  const assumed = await assumeRoleStep(aws.credentials, role, signal);
  if (assumed.status !== AccessCheckStatus.OK) return [assumed, ...skippedAfter([check.step], ASSUME_ROLE_STEP)];
  const client = check.createClient(
    awsClientConfig(aws.settings, { region: role.region, credentials: aws.credentials.forTenant(role) }),
  );
  try {
    return [assumed, await check.run(client)];
  } finally {
    client.destroy();
  }
}
