import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createLocalFilePskSource,
  createSecretsManagerPskSource,
  createStaticPskSource,
  DEFAULT_PSK_CACHE_MS,
  loadOrCreateLocalPsk,
  localPskPath,
  PskError,
  PskErrorReason,
  pskSourceFromEnv,
  type SecretsManagerPskSourceOptions,
} from '../../../src/api/auth/index.js';
import { awsClientConfig, type AwsSettings } from '../../../src/aws/index.js';
import { createLogger } from '../../../src/logging/index.js';
import { type AwsRequestProxy, startAwsRequestProxy } from '../../helpers/aws-request-proxy.js';
import { randomId } from '../../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';
import { caught } from '../../helpers/rejection.js';

const GET_SECRET_VALUE = 'secretsmanager.GetSecretValue';
const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/;


function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('Expected a throw.');
}

/** A key of `length` random characters, long enough unless asked otherwise. */
function keyOf(length = 32): string {
  return `k${randomId()}${randomId()}${randomId()}`.padEnd(length, 'x').slice(0, length);
}

afterEach(async () => {
  await removeTempDirs();
});

describe('createStaticPskSource', () => {
  it('answers the key without surrounding whitespace', async () => {
    // Prepare
    const key = keyOf();

    // Act
    const keys = await createStaticPskSource(`  ${key}\n`).keys();

    // Assess
    expect(keys).toEqual([key]);
  });

  it.each([{ key: '' }, { key: '   ' }, { key: 'fifteen-chars!!' }])('refuses the too-short key "$key" at once', ({ key }) => {
    // Prepare
    // Act
    const error = thrown(() => createStaticPskSource(key));

    // Assess
    expect(error).toBeInstanceOf(PskError);
    expect((error as PskError).reason).toBe(PskErrorReason.TOO_SHORT);
    expect((error as PskError).message).toContain('TLR_API_PSK');
    expect((error as PskError).message).toContain('at least 16');
  });

  it('accepts a key of exactly 16 characters', async () => {
    // Prepare
    const key = keyOf(16);

    // Act
    const keys = await createStaticPskSource(key).keys();

    // Assess
    expect(keys).toEqual([key]);
  });
});

describe('loadOrCreateLocalPsk', () => {
  it('generates a 32-byte base64url key in <data-dir>/api-psk with mode 0600', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');

    // Act
    const key = await loadOrCreateLocalPsk(dataDir);

    // Assess
    expect(key).toMatch(BASE64URL_32_BYTES);
    const path = join(dataDir, 'api-psk');
    expect((await readFile(path, 'utf8')).trim()).toBe(key);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('creates a missing data directory', async () => {
    // Prepare
    const dataDir = join(await makeTempDir('tlr-psk-'), 'a', 'b');

    // Act
    const key = await loadOrCreateLocalPsk(dataDir);

    // Assess
    expect((await readFile(localPskPath(dataDir), 'utf8')).trim()).toBe(key);
  });

  it('answers the same key on every later load', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');
    const first = await loadOrCreateLocalPsk(dataDir);

    // Act
    const second = await loadOrCreateLocalPsk(dataDir);
    const fromSource = await createLocalFilePskSource(dataDir).keys();

    // Assess
    expect(second).toBe(first);
    expect(fromSource).toEqual([first]);
  });

  it('gives every concurrent first load the one key that was stored, and leaves no temporary file', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');

    // Act
    const keys = await Promise.all(Array.from({ length: 32 }, () => loadOrCreateLocalPsk(dataDir)));

    // Assess
    expect(new Set(keys).size).toBe(1);
    expect((await readFile(localPskPath(dataDir), 'utf8')).trim()).toBe(keys[0]);
    expect(await readdir(dataDir)).toEqual(['api-psk']);
  });

  it('reads a key written by hand, without surrounding whitespace', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');
    const key = keyOf();
    await writeFile(localPskPath(dataDir), `\n  ${key}  \n\n`, { mode: 0o600 });

    // Act
    const loaded = await loadOrCreateLocalPsk(dataDir);

    // Assess
    expect(loaded).toBe(key);
  });

  it.each([
    { mode: 0o644, label: '0644' },
    { mode: 0o640, label: '0640' },
    { mode: 0o604, label: '0604' },
    { mode: 0o620, label: '0620' },
  ])(
    'refuses a key file with mode $label and says to chmod 600 it',
    async ({ mode }) => {
      // Prepare
      const dataDir = await makeTempDir('tlr-psk-');
      const path = localPskPath(dataDir);
      await writeFile(path, keyOf());
      await chmod(path, mode);

      // Act
      const error = await caught(loadOrCreateLocalPsk(dataDir));

      // Assess
      expect(error).toBeInstanceOf(PskError);
      expect((error as PskError).reason).toBe(PskErrorReason.FILE_TOO_OPEN);
      expect((error as PskError).message).toContain(`chmod 600 ${path}`);
    },
  );

  it('loads the key once the too-open file is fixed', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');
    const path = localPskPath(dataDir);
    const key = keyOf();
    await writeFile(path, key);
    await chmod(path, 0o644);
    const source = createLocalFilePskSource(dataDir);
    const refused = await caught(source.keys());

    // Act
    await chmod(path, 0o600);
    const keys = await source.keys();

    // Assess
    expect((refused as PskError).reason).toBe(PskErrorReason.FILE_TOO_OPEN);
    expect(keys).toEqual([key]);
  });

  it('refuses a key file holding fewer than 16 characters', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');
    await writeFile(localPskPath(dataDir), 'short\n', { mode: 0o600 });

    // Act
    const error = await caught(loadOrCreateLocalPsk(dataDir));

    // Assess
    expect((error as PskError).reason).toBe(PskErrorReason.TOO_SHORT);
    expect((error as PskError).message).toContain(localPskPath(dataDir));
  });

  it('refuses a directory in place of the key file', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');
    await mkdir(localPskPath(dataDir));

    // Act
    const error = await caught(loadOrCreateLocalPsk(dataDir));

    // Assess
    expect((error as PskError).reason).toBe(PskErrorReason.FILE_UNREADABLE);
  });
});

describe('pskSourceFromEnv', () => {
  it('uses TLR_API_PSK over every other source', async () => {
    // Prepare
    const key = keyOf();
    const dataDir = await makeTempDir('tlr-psk-');

    // Act
    const source = pskSourceFromEnv({ TLR_API_PSK: key, PSK_SECRET_NAME: 'tlr/api-psk' }, { dataDir });

    // Assess
    expect(source.description).toBe('TLR_API_PSK');
    expect(await source.keys()).toEqual([key]);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('refuses a too-short TLR_API_PSK when the source is chosen', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');

    // Act
    const error = thrown(() => pskSourceFromEnv({ TLR_API_PSK: 'secret' }, { dataDir }));

    // Assess
    expect((error as PskError).reason).toBe(PskErrorReason.TOO_SHORT);
  });

  it('uses the Secrets Manager secret named by PSK_SECRET_NAME when TLR_API_PSK is unset', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');

    // Act
    const source = pskSourceFromEnv({ PSK_SECRET_NAME: ' tlr/api-psk ', AWS_REGION: 'eu-west-1' }, { dataDir });

    // Assess
    expect(source.description).toBe("the Secrets Manager secret 'tlr/api-psk'");
  });

  it('refuses to choose when nothing is configured and there is no data directory (Lambda)', () => {
    // Prepare
    // Act
    const error = thrown(() => pskSourceFromEnv({}, {}));

    // Assess
    expect((error as PskError).reason).toBe(PskErrorReason.NOT_CONFIGURED);
    expect((error as PskError).message).toContain('TLR_API_PSK');
    expect((error as PskError).message).toContain('PSK_SECRET_NAME');
  });

  it('falls back to <data-dir>/api-psk, generated on first use', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-psk-');

    // Act
    const source = pskSourceFromEnv({ TLR_API_PSK: '' }, { dataDir });
    const keys = await source.keys();

    // Assess
    expect(source.description).toContain(localPskPath(dataDir));
    expect(keys).toEqual([(await readFile(localPskPath(dataDir), 'utf8')).trim()]);
  });
});

describe.skipIf(motoUnavailable)('createSecretsManagerPskSource against moto', () => {
  let moto: MotoServer;
  let proxy: AwsRequestProxy;
  /** Reaches moto through the proxy, which counts the source's requests. */
  let settings: AwsSettings;
  let admin: SecretsManagerClient;
  let client: SecretsManagerClient;

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    proxy = await startAwsRequestProxy(moto.endpoint);
    settings = { ...moto.settings, endpoint: proxy.endpoint };
    admin = new SecretsManagerClient(awsClientConfig(moto.settings));
    client = new SecretsManagerClient(awsClientConfig(settings));
  });
  afterAll(async () => {
    admin?.destroy();
    client?.destroy();
    await proxy?.close();
    await moto?.stop();
  });
  beforeEach(() => {
    proxy.calls.length = 0;
  });

  const reads = () => proxy.calls.filter((call) => call.startsWith(GET_SECRET_VALUE)).length;

  async function createSecret(value: string): Promise<string> {
    const secretName = `tlr/api-psk-${randomId()}`;
    await admin.send(new CreateSecretCommand({ Name: secretName, SecretString: value }));
    return secretName;
  }

  async function rotate(secretName: string, value: string): Promise<void> {
    // PutSecretValue stages the new version AWSCURRENT and moves the old one to AWSPREVIOUS.
    await admin.send(new PutSecretValueCommand({ SecretId: secretName, SecretString: value }));
  }

  function source(options: Partial<SecretsManagerPskSourceOptions> & { secretName: string }) {
    return createSecretsManagerPskSource({ client, ...options });
  }

  it('answers only the current key of a secret never rotated', async () => {
    // Prepare
    const key = keyOf();
    const secretName = await createSecret(key);

    // Act
    const keys = await source({ secretName }).keys();

    // Assess
    expect(keys).toEqual([key]);
  });

  it('answers the current key first and the previous one after a rotation', async () => {
    // Prepare
    const [oldKey, newKey] = [keyOf(), keyOf()];
    const secretName = await createSecret(oldKey);
    await rotate(secretName, newKey);

    // Act
    const keys = await source({ secretName }).keys();

    // Assess
    expect(keys).toEqual([newKey, oldKey]);
  });

  it('reads the key from a JSON secret {"psk": "…"}', async () => {
    // Prepare
    const key = keyOf();
    const secretName = await createSecret(JSON.stringify({ psk: key, note: 'rotated monthly' }));

    // Act
    const keys = await source({ secretName }).keys();

    // Assess
    expect(keys).toEqual([key]);
  });

  it.each([
    { value: '{"psk": ', reason: PskErrorReason.SECRET_FORMAT },
    { value: '{"key": "0123456789abcdef0123"}', reason: PskErrorReason.SECRET_FORMAT },
    { value: 'too-short', reason: PskErrorReason.TOO_SHORT },
    { value: '{"psk": "too-short"}', reason: PskErrorReason.TOO_SHORT },
  ])('refuses the secret value $value ($reason)', async ({ value, reason }) => {
    // Prepare
    const secretName = await createSecret(value);

    // Act
    const error = await caught(source({ secretName }).keys());

    // Assess
    expect(error).toBeInstanceOf(PskError);
    expect((error as PskError).reason).toBe(reason);
    expect((error as PskError).message).toContain(secretName);
  });

  it('fails the first load with a clear error when the secret does not exist', async () => {
    // Prepare
    const secretName = `tlr/missing-${randomId()}`;

    // Act
    const error = await caught(source({ secretName }).keys());

    // Assess
    expect(error).toBeInstanceOf(PskError);
    expect((error as PskError).reason).toBe(PskErrorReason.SECRET_NOT_FOUND);
    expect((error as PskError).message).toContain(secretName);
    expect((error as PskError).message).toContain('PSK_SECRET_NAME');
  });

  it('keeps answering the cached keys until cacheMs has passed, then reads the rotated ones', async () => {
    // Prepare
    let nowMs = Date.parse('2024-05-01T12:00:00Z');
    const [oldKey, newKey] = [keyOf(), keyOf()];
    const secretName = await createSecret(oldKey);
    const psk = source({ secretName, now: () => nowMs });
    const first = await psk.keys();
    const readsAfterFirst = reads();
    await rotate(secretName, newKey);

    // Act
    nowMs += DEFAULT_PSK_CACHE_MS - 1;
    const beforeExpiry = await psk.keys();
    const readsBeforeExpiry = reads();
    nowMs += 1;
    const afterExpiry = await psk.keys();

    // Assess
    expect(first).toEqual([oldKey]);
    expect(readsAfterFirst).toBe(2); // AWSCURRENT and AWSPREVIOUS
    expect(beforeExpiry).toEqual([oldKey]);
    expect(readsBeforeExpiry).toBe(2);
    expect(afterExpiry).toEqual([newKey, oldKey]);
    expect(reads()).toBe(4);
  });

  it('reads once for many concurrent callers', async () => {
    // Prepare
    const key = keyOf();
    const secretName = await createSecret(key);
    const psk = source({ secretName });

    // Act
    const answers = await Promise.all(Array.from({ length: 10 }, () => psk.keys()));

    // Assess
    expect(answers.every((keys) => keys.length === 1 && keys[0] === key)).toBe(true);
    expect(reads()).toBe(2);
  });

  it('keeps serving the cached keys and logs when a refresh fails, and drops them once too stale', async () => {
    // Prepare
    let nowMs = Date.parse('2024-05-01T12:00:00Z');
    const key = keyOf();
    const secretName = await createSecret(key);
    const lines: { level: string; message: string }[] = [];
    const logger = createLogger({ level: 'warn', write: (line) => lines.push(JSON.parse(line) as { level: string; message: string }) });
    const psk = source({ secretName, now: () => nowMs, cacheMs: 1_000, maxStaleMs: 10_000, retryAfterFailureMs: 500, logger });
    await psk.keys();
    await admin.send(new DeleteSecretCommand({ SecretId: secretName, ForceDeleteWithoutRecovery: true }));

    // Act
    nowMs += 1_000;
    const duringOutage = await psk.keys();
    const readsAfterFailure = reads();
    nowMs += 499;
    const withinRetryWait = await psk.keys();
    const readsWithinRetryWait = reads();
    nowMs += 10_000;
    const tooStale = await caught(psk.keys());

    // Assess
    expect(duringOutage).toEqual([key]);
    expect(withinRetryWait).toEqual([key]);
    expect(readsWithinRetryWait).toBe(readsAfterFailure);
    expect(lines.map((l) => l.level)).toEqual(['warn', 'error']);
    expect((tooStale as PskError).reason).toBe(PskErrorReason.SECRET_NOT_FOUND);
  });
});
