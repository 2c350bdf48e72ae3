import { randomBytes } from 'node:crypto';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  awsClientConfig,
  awsErrorName,
  awsHttpStatus,
  type AwsSettings,
  awsSettingsFromEnv,
} from '../../aws/index.js';
import { ErrorCode, RouterError } from '../../domain/index.js';
import { type Logger, silentLogger } from '../../logging/index.js';

/**
 * Where the API's pre-shared keys come from: the environment, a file in the data directory
 * (a local `tlr up`), or AWS Secrets Manager (deployed routers, with rotation). Every source
 * answers the accepted keys, current first, as `verifySignature` takes them.
 */

/** A supplier of the accepted pre-shared keys. */
export interface PskSource {
  /**
   * The accepted keys: the current one first, then the previous one while it is known
   * (during a rotation both verify).
   *
   * @throws PskError when no key can be had (bad key, unreadable file, secret missing)
   */
  keys(): Promise<readonly string[]>;
  /** Where the keys come from, for logs and error messages (never the key itself). */
  readonly description: string;
}

/** Environment variables that choose the key source (see {@link pskSourceFromEnv}). */
export const PskEnv = {
  /** The key itself. */
  API_PSK: 'TLR_API_PSK',
  /** Name or ARN of a Secrets Manager secret holding the key. */
  SECRET_NAME: 'PSK_SECRET_NAME',
} as const;
export type PskEnv = (typeof PskEnv)[keyof typeof PskEnv];

/** Shortest key accepted: anything shorter is guessable offline from one signed request. */
export const MIN_PSK_LENGTH = 16;
/** Name of the key file in the data directory. */
export const LOCAL_PSK_FILE_NAME = 'api-psk';
/** Random bytes of a generated key (256 bits, the HMAC-SHA256 block strength). */
export const LOCAL_PSK_BYTES = 32;
/** How long keys read from Secrets Manager are used before asking again. */
export const DEFAULT_PSK_CACHE_MS = 300_000;
/**
 * How long past `cacheMs` keys already read stay in use while Secrets Manager cannot be
 * read; after that they are dropped (a key that cannot be confirmed may have been revoked).
 */
export const DEFAULT_PSK_MAX_STALE_MS = 3_600_000;
/** After a failed refresh, how long the cached keys are used before asking again. */
export const DEFAULT_PSK_RETRY_AFTER_FAILURE_MS = 30_000;
/** The JSON field holding the key when a secret's value is a JSON object. */
export const PSK_SECRET_JSON_FIELD = 'psk';

/** The Secrets Manager staging labels of the current and the previous version of a secret. */
const SecretStage = { CURRENT: 'AWSCURRENT', PREVIOUS: 'AWSPREVIOUS' } as const;
type SecretStage = (typeof SecretStage)[keyof typeof SecretStage];

const RESOURCE_NOT_FOUND = 'ResourceNotFoundException';
/** Permission bits for group and others: none may be set on the key file. */
const GROUP_OTHER_BITS = 0o077;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** Why a key source failed; stable values to branch on. */
export const PskErrorReason = {
  /** The key is shorter than {@link MIN_PSK_LENGTH} (or empty). */
  TOO_SHORT: 'too_short',
  /** The key file may be read or written by other users. */
  FILE_TOO_OPEN: 'file_too_open',
  /** The key file cannot be read or created. */
  FILE_UNREADABLE: 'file_unreadable',
  /** Secrets Manager has no such secret. */
  SECRET_NOT_FOUND: 'secret_not_found',
  /** The secret's value is neither a key nor `{"psk": "…"}`. */
  SECRET_FORMAT: 'secret_format',
  /** Secrets Manager refused or could not be reached. */
  SECRET_UNAVAILABLE: 'secret_unavailable',
  /** No source is configured (no key, no secret name, and no data directory to keep a key in). */
  NOT_CONFIGURED: 'not_configured',
} as const;
export type PskErrorReason = (typeof PskErrorReason)[keyof typeof PskErrorReason];

/** A key source that cannot supply a usable key. The message says how to fix it. */
export class PskError extends RouterError {
  override readonly name = 'PskError';

  /**
   * @param reason - stable reason to branch on
   * @param message - a sentence an operator can act on; never contains a key
   */
  constructor(
    readonly reason: PskErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.PSK_UNAVAILABLE, message, options);
  }
}

/**
 * Checks one key: surrounding whitespace (a trailing newline from `echo` or an editor) is
 * not part of it, and what is left must be at least {@link MIN_PSK_LENGTH} characters.
 *
 * @param from - where the key came from, for the message
 * @returns the trimmed key
 * @throws PskError `too_short`
 */
function checkedKey(key: string, from: string, keyName = 'API pre-shared key'): string {
  const trimmed = key.trim();
  if (trimmed.length < MIN_PSK_LENGTH) {
    throw new PskError(
      PskErrorReason.TOO_SHORT,
      `The ${keyName} from ${from} is ${trimmed.length} characters long; use at least ${MIN_PSK_LENGTH} ` +
        '(for example 32 random bytes: openssl rand -base64 32).',
    );
  }
  return trimmed;
}

/**
 * A source of one fixed key, such as `TLR_API_PSK`.
 *
 * @param key - the key; surrounding whitespace is dropped
 * @param description - where it came from, for messages; default `TLR_API_PSK`
 * @throws PskError `too_short` when the key has fewer than 16 characters
 * @example const source = createStaticPskSource(process.env.TLR_API_PSK ?? '');
 */
export function createStaticPskSource(key: string, description: string = PskEnv.API_PSK): PskSource {
  const keys = [checkedKey(key, description)] as const;
  return { description, keys: () => Promise.resolve(keys) };
}

/** The path of the key file in a data directory. */
export function localPskPath(dataDir: string): string {
  return join(dataDir, LOCAL_PSK_FILE_NAME);
}

/**
 * Reads the key file, or undefined when there is none. Mode and content are checked on the
 * opened handle, so the file checked is the file read.
 */
async function readKeyFile(path: string, keyName: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(path, error, keyName);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      throw new PskError(PskErrorReason.FILE_UNREADABLE, `The ${keyName} file ${path} is not a regular file; remove it so a new key is generated.`);
    }
    // Windows has no POSIX modes (Node reports 0o666 for every file), so the check means nothing there.
    if (process.platform !== 'win32' && (stats.mode & GROUP_OTHER_BITS) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
      throw new PskError(
        PskErrorReason.FILE_TOO_OPEN,
        `The ${keyName} file ${path} has mode ${mode}, so other users may read or change the key; ` +
          `restrict it to its owner with: chmod 600 ${path}`,
      );
    }
    return checkedKey(await handle.readFile('utf8'), `the file ${path}`, keyName);
  } catch (error) {
    if (error instanceof PskError) throw error;
    throw unreadable(path, error, keyName);
  } finally {
    await handle.close();
  }
}

function unreadable(path: string, error: unknown, keyName: string): PskError {
  const code = (error as NodeJS.ErrnoException | null)?.code ?? 'unknown error';
  return new PskError(
    PskErrorReason.FILE_UNREADABLE,
    `The ${keyName} file ${path} cannot be read or created (${code}); check the data directory's owner and permissions.`,
    { cause: error },
  );
}

/**
 * The key of a local router: read from `<dataDir>/api-psk`, or generated there on first use
 * (32 random bytes, base64url, mode 0600). Creation is atomic: the key is written and synced
 * to a temporary file which is then hard-linked into place, and linking fails when the file
 * already exists, so concurrent first starts all end up with the one key that won, and no
 * reader ever sees a half-written file.
 *
 * @param dataDir - the router's data directory; created (mode 0700) when missing
 * @returns the key, whitespace trimmed
 * @throws PskError `file_too_open` when group or others have any permission on the file
 *   (fix: `chmod 600 <file>`), `too_short` when it holds fewer than 16 characters,
 *   `file_unreadable` when it cannot be read or created
 * @example const key = await loadOrCreateLocalPsk('.tlr');
 */
export async function loadOrCreateLocalPsk(dataDir: string): Promise<string> {
  return loadOrCreateKeyFile(localPskPath(dataDir), 'API key');
}

/**
 * A secret kept in a file of the data directory (the API key, the Forward shared key): read,
 * or generated on first use, as {@link loadOrCreateLocalPsk} describes.
 *
 * @param path - the key file; its directory is created (mode 0700) when missing
 * @param keyName - what the key is, for messages (`API key`, `Forward shared key`)
 * @throws PskError as {@link loadOrCreateLocalPsk}
 */
export async function loadOrCreateKeyFile(path: string, keyName: string): Promise<string> {
  const existing = await readKeyFile(path, keyName);
  if (existing !== undefined) return existing;

  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
    // `wx` with mode 0600: the umask can only take bits away, so the key is never readable by others.
    const handle = await open(temp, 'wx', FILE_MODE);
    try {
      await handle.writeFile(`${randomBytes(LOCAL_PSK_BYTES).toString('base64url')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, path);
    } catch (error) {
      // Another process created the key first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  } catch (error) {
    throw unreadable(path, error, keyName);
  } finally {
    await unlink(temp).catch(() => {});
  }
  const stored = await readKeyFile(path, keyName);
  if (stored === undefined) throw unreadable(path, Object.assign(new Error('vanished'), { code: 'ENOENT' }), keyName);
  return stored;
}

/**
 * A source reading the local key file once (see {@link loadOrCreateLocalPsk}). A failed
 * read is not remembered, so fixing the file's mode takes effect on the next request.
 *
 * @param dataDir - the router's data directory
 */
export function createLocalFilePskSource(dataDir: string): PskSource {
  const path = localPskPath(dataDir);
  let loaded: Promise<readonly string[]> | undefined;
  return {
    description: `the file ${path}`,
    keys() {
      loaded ??= loadOrCreateLocalPsk(dataDir).then(
        (key) => [key],
        (error: unknown) => {
          loaded = undefined;
          throw error;
        },
      );
      return loaded;
    },
  };
}

/** Options of {@link createSecretsManagerPskSource}. */
export interface SecretsManagerPskSourceOptions {
  /** Name or ARN of the secret. */
  readonly secretName: string;
  /** The client to read with; built from `settings` when absent. */
  readonly client?: SecretsManagerClient;
  /** AWS settings for the client when none is given; default from the environment. */
  readonly settings?: AwsSettings;
  /** How long keys are used before Secrets Manager is asked again; default 5 min. */
  readonly cacheMs?: number;
  /** How long past `cacheMs` the keys are still used while refreshing fails; default 1 h. */
  readonly maxStaleMs?: number;
  /** After a failed refresh, how long before asking again; default 30 s. */
  readonly retryAfterFailureMs?: number;
  /** The clock (epoch ms). */
  readonly now?: () => number;
  readonly logger?: Logger;
}

/**
 * The key of one staged version of a secret. The value is either the key itself, or a JSON
 * object `{"psk": "<key>"}` (the shape the Secrets Manager console's key/value editor and
 * rotation functions write). A value starting with `{` is always read as JSON, so a
 * malformed object is reported rather than taken as a key.
 */
function keyOfSecret(value: string | undefined, from: string): string {
  if (value === undefined) {
    throw new PskError(PskErrorReason.SECRET_FORMAT, `${from} has no SecretString; store the key as text or as {"${PSK_SECRET_JSON_FIELD}": "<key>"}.`);
  }
  if (!value.trim().startsWith('{')) return checkedKey(value, from);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new PskError(PskErrorReason.SECRET_FORMAT, `${from} starts with '{' but is not valid JSON; store {"${PSK_SECRET_JSON_FIELD}": "<key>"} or the key alone.`, {
      cause: error,
    });
  }
  const field = (parsed as Record<string, unknown> | null)?.[PSK_SECRET_JSON_FIELD];
  if (typeof field !== 'string') {
    throw new PskError(PskErrorReason.SECRET_FORMAT, `${from} is a JSON object without a string "${PSK_SECRET_JSON_FIELD}" field.`);
  }
  return checkedKey(field, from);
}

/**
 * A source reading the key from AWS Secrets Manager: the `AWSCURRENT` version first and,
 * when there is one, the `AWSPREVIOUS` version (so clients still signing with the old key
 * keep working through a rotation). The secret's `SecretString` is either the key itself or
 * `{"psk": "<key>"}`.
 *
 * Keys are read at the first call and again once `cacheMs` has passed; concurrent callers
 * share one read. When a refresh fails, the keys read before stay in use (a warning is
 * logged and Secrets Manager is asked again after `retryAfterFailureMs`) until they are
 * `maxStaleMs` past their cache time; a failing first read throws.
 *
 * @throws PskError from `keys()`: `secret_not_found`, `secret_format`, `too_short`, `secret_unavailable`
 * @example
 * const source = createSecretsManagerPskSource({ secretName: 'tlr/api-psk', settings: awsSettingsFromEnv() });
 * const keys = await source.keys(); // [current] or [current, previous]
 */
export function createSecretsManagerPskSource(options: SecretsManagerPskSourceOptions): PskSource {
  const { secretName } = options;
  const cacheMs = options.cacheMs ?? DEFAULT_PSK_CACHE_MS;
  const maxStaleMs = options.maxStaleMs ?? DEFAULT_PSK_MAX_STALE_MS;
  const retryAfterFailureMs = options.retryAfterFailureMs ?? DEFAULT_PSK_RETRY_AFTER_FAILURE_MS;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger;
  // A read happens once per cache period, so the SDK's own retries may smooth over a
  // throttled or dropped call rather than serving stale keys at once.
  const client =
    options.client ?? new SecretsManagerClient(awsClientConfig(options.settings ?? awsSettingsFromEnv(), { maxAttempts: 3 }));
  const description = `the Secrets Manager secret '${secretName}'`;

  let cached: { keys: readonly string[]; readAtMs: number } | undefined;
  /** When to ask Secrets Manager next while keys are cached. */
  let nextReadAtMs = 0;
  let inFlight: Promise<readonly string[]> | undefined;

  const readStage = async (stage: SecretStage): Promise<string | undefined> => {
    try {
      const answer = await client.send(new GetSecretValueCommand({ SecretId: secretName, VersionStage: stage }));
      return keyOfSecret(answer.SecretString, `${description} (${stage})`);
    } catch (error) {
      if (error instanceof PskError) throw error;
      const name = awsErrorName(error);
      // A secret never rotated has no AWSPREVIOUS version: Secrets Manager answers not found.
      if (name === RESOURCE_NOT_FOUND && stage === SecretStage.PREVIOUS) return undefined;
      if (name === RESOURCE_NOT_FOUND) {
        throw new PskError(
          PskErrorReason.SECRET_NOT_FOUND,
          `Secrets Manager has no ${description} (${PskEnv.SECRET_NAME}); create it with the key as its value, ` +
            `or unset ${PskEnv.SECRET_NAME}.`,
          { cause: error },
        );
      }
      const status = awsHttpStatus(error);
      throw new PskError(
        PskErrorReason.SECRET_UNAVAILABLE,
        `Reading ${description} failed (${name ?? 'no answer'}${status !== undefined ? `, HTTP ${status}` : ''}); ` +
          'check that the router may secretsmanager:GetSecretValue on it and can reach Secrets Manager.',
        { cause: error },
      );
    }
  };

  const read = async (): Promise<readonly string[]> => {
    const [current, previous] = await Promise.all([readStage(SecretStage.CURRENT), readStage(SecretStage.PREVIOUS)]);
    return previous !== undefined && previous !== current ? [current!, previous] : [current!];
  };

  const refresh = async (): Promise<readonly string[]> => {
    try {
      const keys = await read();
      cached = { keys, readAtMs: now() };
      nextReadAtMs = now() + cacheMs;
      return keys;
    } catch (error) {
      if (!cached) throw error;
      const ageMs = now() - cached.readAtMs;
      if (ageMs > cacheMs + maxStaleMs) {
        cached = undefined;
        logger.error('The API pre-shared keys could not be refreshed for too long; they are no longer accepted.', {
          secret: secretName,
          ageMs,
          error,
        });
        throw error;
      }
      nextReadAtMs = now() + retryAfterFailureMs;
      logger.warn('Refreshing the API pre-shared keys from Secrets Manager failed; the keys read before stay in use.', {
        secret: secretName,
        ageMs,
        error,
      });
      return cached.keys;
    }
  };

  return {
    description,
    keys() {
      if (cached && now() < nextReadAtMs) return Promise.resolve(cached.keys);
      inFlight ??= refresh().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
  };
}

/** What {@link pskSourceFromEnv} needs besides the environment. */
export interface PskSourceFromEnvOptions {
  /**
   * The data directory holding `api-psk` when no other source is configured. Absent where
   * there is no persistent disk (Lambda): then `TLR_API_PSK` or `PSK_SECRET_NAME` is required.
   */
  readonly dataDir?: string;
  /** AWS settings for Secrets Manager; default from the same environment. */
  readonly settings?: AwsSettings;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/**
 * Chooses the key source from the environment, first match wins:
 * `TLR_API_PSK` set (non-empty) → that key; `PSK_SECRET_NAME` set → that Secrets Manager
 * secret (cached 5 min, `AWSCURRENT` and `AWSPREVIOUS`); otherwise `<dataDir>/api-psk`,
 * generated on first use.
 *
 * @throws PskError `too_short` at once when `TLR_API_PSK` is shorter than 16 characters;
 *   `not_configured` when neither variable is set and there is no `dataDir`
 * @example const source = pskSourceFromEnv(process.env, { dataDir: '.tlr', logger });
 */
export function pskSourceFromEnv(env: NodeJS.ProcessEnv, options: PskSourceFromEnvOptions): PskSource {
  const key = env[PskEnv.API_PSK];
  if (key !== undefined && key.trim() !== '') {
    if (env[PskEnv.SECRET_NAME]?.trim()) {
      // A key left in the environment would silently outlive every rotation of the secret.
      options.logger?.warn('Both TLR_API_PSK and PSK_SECRET_NAME are set; TLR_API_PSK is used and the secret ignored.');
    }
    return createStaticPskSource(key, PskEnv.API_PSK);
  }
  const secretName = env[PskEnv.SECRET_NAME]?.trim();
  if (secretName) {
    return createSecretsManagerPskSource({
      secretName,
      settings: options.settings ?? awsSettingsFromEnv(env),
      ...(options.logger !== undefined && { logger: options.logger }),
      ...(options.now !== undefined && { now: options.now }),
    });
  }
  if (options.dataDir === undefined) {
    throw new PskError(
      PskErrorReason.NOT_CONFIGURED,
      `No API pre-shared key is configured: set ${PskEnv.API_PSK} to the key, or ${PskEnv.SECRET_NAME} to the Secrets Manager secret holding it.`,
    );
  }
  return createLocalFilePskSource(options.dataDir);
}
