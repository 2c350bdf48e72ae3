import { createHash } from 'node:crypto';
import {
  AssumeRoleCommand,
  type Credentials,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { DeliveryError } from '../domain/index.js';
import { type AwsSettings, awsClientConfig } from './client-config.js';
import { awsErrorName, awsHttpStatus, isRetryableAwsError } from './errors.js';
import type { CredentialBroker, TenantRoleRequest } from './types.js';

/** Why assuming a role failed; stable values recorded in dead letters. */
export const AssumeRoleFailureReason = {
  /** The trust policy, the ExternalId or the role itself refuses us: retrying will not help. */
  DENIED: 'assume_role_denied',
  /** STS throttled, failed or could not be reached: worth another try. */
  STS_UNAVAILABLE: 'sts_unavailable',
} as const;
export type AssumeRoleFailureReason = (typeof AssumeRoleFailureReason)[keyof typeof AssumeRoleFailureReason];

/** Refresh credentials this long before they expire (the SDK itself refreshes 5 min early). */
export const DEFAULT_REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
/** Session length asked of STS. */
export const DEFAULT_SESSION_DURATION_SECONDS = 3_600;
/**
 * STS bounds of `DurationSeconds`: at least 900 s, and at most 1 h for a chained role session
 * (the tenant hop is always chained through the central role).
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
export const MIN_SESSION_DURATION_SECONDS = 900;
export const MAX_CHAINED_SESSION_DURATION_SECONDS = 3_600;
/**
 * `RoleSessionName`: 2–64 characters of `[\w+=,.@-]`.
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html#API_AssumeRole_RequestParameters
 */
export const MAX_ROLE_SESSION_NAME_LENGTH = 64;
/** Role sessions kept in memory; the oldest is forgotten beyond this (it is only a cache). */
export const DEFAULT_MAX_CACHED_SESSIONS = 10_000;

const SESSION_NAME_PREFIX = 'tlr-';
const CENTRAL_SESSION_NAME = 'tlr-central';
const SESSION_NAME_INVALID_CHARS = /[^\w+=,.@-]/g;
const SESSION_NAME_HASH_LENGTH = 8;
const ROLE_ARN_ACCOUNT = /^arn:[\w-]+:iam::(\d{12}):role\//;

/**
 * STS error names that mean the role refuses us: wrong trust policy or ExternalId
 * (`AccessDenied`), a malformed or unknown role (`ValidationError`), a disabled region,
 * unusable caller credentials. Classified by name, never by message text.
 */
const DENIED_NAMES: ReadonlySet<string> = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'ValidationError',
  'ValidationException',
  'InvalidParameterValue',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'MalformedPolicyDocument',
  'MalformedPolicyDocumentException',
  'PackedPolicyTooLarge',
  'PackedPolicyTooLargeException',
  'RegionDisabledException',
  'UnrecognizedClientException',
]);

/** Names that are 4xx answers yet go away by asking again (fresh caller credentials). */
const TRANSIENT_NAMES: ReadonlySet<string> = new Set(['ExpiredToken', 'ExpiredTokenException', 'IDPCommunicationError']);

/** What a broker needs to build an STS client. */
export interface StsClientOptions {
  readonly region: string;
  /** Absent: the processor's own credentials (the SDK's default chain). */
  readonly credentials?: AwsCredentialIdentityProvider;
}

/** Options of {@link createCredentialBroker}. */
export interface CredentialBrokerOptions {
  readonly settings: AwsSettings;
  /** The central log-distribution role; absent: the processor's own credentials act as central. */
  readonly centralRoleArn?: string;
  /**
   * The default ExternalId of tenant roles. Absent: the account of `centralRoleArn`, or
   * else the processor's account from STS `GetCallerIdentity` (asked once).
   */
  readonly centralAccountId?: string;
  /** Builds STS clients (tests add middleware here). */
  readonly sts?: (options: StsClientOptions) => STSClient;
  readonly now?: () => number;
  /** Credentials are renewed this long before `Expiration`; default 5 min. */
  readonly refreshBeforeExpiryMs?: number;
  /** `DurationSeconds` of every session; default 3600, within [900, 3600]. */
  readonly sessionDurationSeconds?: number;
  /** Sessions kept in memory; default 10,000. */
  readonly maxCachedSessions?: number;
}

interface CachedSession {
  credentials?: AwsCredentialIdentity;
  /** When to ask STS again (epoch ms, per the broker's clock). */
  refreshAtMs: number;
  inFlight?: Promise<AwsCredentialIdentity>;
}

/**
 * The role session name for a tenant: `tlr-<tenant id>`, so CloudTrail entries in the
 * tenant's account trace back to the tenant. Characters STS refuses become `-`; a name
 * over 64 characters is cut and ends with a short hash of the full name, so two long
 * tenant ids sharing a prefix still get distinct names.
 *
 * @param tenantId - the tenant (a namespace name, up to 63 characters)
 */
export function roleSessionNameFor(tenantId: string): string {
  const name = `${SESSION_NAME_PREFIX}${tenantId}`.replace(SESSION_NAME_INVALID_CHARS, '-');
  if (name.length <= MAX_ROLE_SESSION_NAME_LENGTH) return name;
  const hash = createHash('sha256').update(tenantId).digest('hex').slice(0, SESSION_NAME_HASH_LENGTH);
  return `${name.slice(0, MAX_ROLE_SESSION_NAME_LENGTH - SESSION_NAME_HASH_LENGTH - 1)}-${hash}`;
}

/**
 * Maps an STS failure to a DeliveryError: denials are permanent (`assume_role_denied`),
 * throttling, 5xx and network failures are retryable (`sts_unavailable`). A DeliveryError
 * (from the central hop under a tenant hop) passes through unchanged.
 *
 * @param roleArn - the role being assumed, for the message
 */
export function toAssumeRoleError(error: unknown, roleArn: string): DeliveryError {
  return toStsError(error, `Assuming role '${roleArn}'`);
}

function toStsError(error: unknown, what: string): DeliveryError {
  if (error instanceof DeliveryError) return error;
  const name = awsErrorName(error) ?? 'UnknownError';
  const status = awsHttpStatus(error);
  const denied =
    DENIED_NAMES.has(name) ||
    (!TRANSIENT_NAMES.has(name) && !isRetryableAwsError(error) && status !== undefined && status < 500);
  if (denied) {
    return new DeliveryError(`${what} was refused (${name}).`, {
      retryable: false,
      reason: AssumeRoleFailureReason.DENIED,
      cause: error,
    });
  }
  return new DeliveryError(`${what} failed; STS is unavailable (${name}).`, {
    retryable: true,
    reason: AssumeRoleFailureReason.STS_UNAVAILABLE,
    cause: error,
  });
}

function toIdentity(credentials: Credentials | undefined, roleArn: string): AwsCredentialIdentity {
  if (!credentials?.AccessKeyId || !credentials.SecretAccessKey) {
    throw new DeliveryError(`STS returned no credentials for role '${roleArn}'.`, {
      retryable: true,
      reason: AssumeRoleFailureReason.STS_UNAVAILABLE,
    });
  }
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    ...(credentials.SessionToken !== undefined && { sessionToken: credentials.SessionToken }),
    ...(credentials.Expiration !== undefined && { expiration: credentials.Expiration }),
  };
}

/**
 * Builds the broker that hands out role credentials: the central role assumed from the
 * processor's own credentials, and tenant roles assumed from the central role with an
 * ExternalId. Sessions are cached per (role, ExternalId, region) until
 * `refreshBeforeExpiryMs` before they expire; concurrent callers share one AssumeRole.
 * The returned providers are what SDK clients take as `credentials`; the SDK calls them
 * per request, and they answer from the cache.
 *
 * @throws RangeError when `sessionDurationSeconds` is outside [900, 3600]
 * @example
 * const broker = createCredentialBroker({ settings, centralRoleArn });
 * const logs = new CloudWatchLogsClient({ credentials: broker.forTenant({ roleArn, tenantId, region }) });
 */
export function createCredentialBroker(options: CredentialBrokerOptions): CredentialBroker {
  const { settings, centralRoleArn } = options;
  const now = options.now ?? Date.now;
  const refreshBeforeExpiryMs = options.refreshBeforeExpiryMs ?? DEFAULT_REFRESH_BEFORE_EXPIRY_MS;
  const durationSeconds = options.sessionDurationSeconds ?? DEFAULT_SESSION_DURATION_SECONDS;
  const maxCachedSessions = options.maxCachedSessions ?? DEFAULT_MAX_CACHED_SESSIONS;
  if (
    !Number.isInteger(durationSeconds) ||
    durationSeconds < MIN_SESSION_DURATION_SECONDS ||
    durationSeconds > MAX_CHAINED_SESSION_DURATION_SECONDS
  ) {
    throw new RangeError(
      `'sessionDurationSeconds' must be a whole number in [${MIN_SESSION_DURATION_SECONDS}, ` +
        `${MAX_CHAINED_SESSION_DURATION_SECONDS}], got ${durationSeconds}.`,
    );
  }
  const buildSts =
    options.sts ?? ((o: StsClientOptions) => new STSClient(awsClientConfig(settings, o)));

  // STS clients per (region, caller): the processor's own in the home region, and
  // central-role callers per tenant region (regional STS endpoints, other partitions).
  const processorSts = buildSts({ region: settings.region });
  const centralStsByRegion = new Map<string, STSClient>();
  const sessions = new Map<string, CachedSession>();

  const assume = async (
    sts: STSClient,
    roleArn: string,
    sessionName: string,
    externalId: string | undefined,
  ): Promise<AwsCredentialIdentity> => {
    try {
      const answer = await sts.send(
        new AssumeRoleCommand({
          RoleArn: roleArn,
          RoleSessionName: sessionName,
          DurationSeconds: durationSeconds,
          ...(externalId !== undefined && { ExternalId: externalId }),
        }),
      );
      return toIdentity(answer.Credentials, roleArn);
    } catch (error) {
      throw toAssumeRoleError(error, roleArn);
    }
  };

  /** A provider answering from the cache entry `key`, calling `fetch` when it is stale. */
  const cachedProvider = (
    key: string,
    fetch: () => Promise<AwsCredentialIdentity>,
  ): AwsCredentialIdentityProvider => {
    return async () => {
      let session = sessions.get(key);
      if (session?.credentials && now() < session.refreshAtMs) return session.credentials;
      if (session?.inFlight) return session.inFlight;
      if (!session) {
        if (sessions.size >= maxCachedSessions) {
          const oldest = sessions.keys().next().value;
          if (oldest !== undefined) sessions.delete(oldest);
        }
        session = { refreshAtMs: 0 };
        sessions.set(key, session);
      }
      const entry = session;
      const inFlight = fetch().then(
        (credentials) => {
          const expiresAtMs = credentials.expiration?.getTime() ?? now() + durationSeconds * 1_000;
          entry.credentials = credentials;
          entry.refreshAtMs = expiresAtMs - refreshBeforeExpiryMs;
          entry.inFlight = undefined;
          return credentials;
        },
        (error: unknown) => {
          // No negative caching: the next call asks STS again (the retry policy paces it).
          entry.inFlight = undefined;
          throw error;
        },
      );
      entry.inFlight = inFlight;
      return inFlight;
    };
  };

  const central: AwsCredentialIdentityProvider =
    centralRoleArn === undefined
      ? (processorSts.config.credentials as AwsCredentialIdentityProvider)
      : cachedProvider(`${centralRoleArn}||${settings.region}`, () =>
          assume(processorSts, centralRoleArn, CENTRAL_SESSION_NAME, undefined),
        );

  let accountId: Promise<string> | undefined;
  const centralAccountId = (): Promise<string> => {
    const known = options.centralAccountId ?? (centralRoleArn && ROLE_ARN_ACCOUNT.exec(centralRoleArn)?.[1]);
    if (known) return Promise.resolve(known);
    accountId ??= processorSts.send(new GetCallerIdentityCommand({})).then(
      (identity) => {
        if (identity.Account) return identity.Account;
        accountId = undefined;
        throw new DeliveryError('STS GetCallerIdentity returned no account.', {
          retryable: true,
          reason: AssumeRoleFailureReason.STS_UNAVAILABLE,
        });
      },
      (error: unknown) => {
        accountId = undefined;
        throw toStsError(error, 'Reading the central account id (GetCallerIdentity)');
      },
    );
    return accountId;
  };

  const centralSts = (region: string): STSClient => {
    let sts = centralStsByRegion.get(region);
    if (!sts) {
      sts = buildSts({ region, credentials: central });
      centralStsByRegion.set(region, sts);
    }
    return sts;
  };

  return {
    central: () => central,
    forTenant(request: TenantRoleRequest): AwsCredentialIdentityProvider {
      const sessionName = roleSessionNameFor(request.tenantId);
      // The key holds the ExternalId as configured; an absent one means "the central
      // account id", which does not change while the process runs.
      const key = `${request.roleArn}|${request.externalId ?? ''}|${request.region}`;
      return cachedProvider(key, async () => {
        const externalId = request.externalId ?? (await centralAccountId());
        return assume(centralSts(request.region), request.roleArn, sessionName, externalId);
      });
    },
  };
}
