import {
  type AssumeRoleCommandInput,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsClientConfig, type AwsSettings } from '../../src/aws/index.js';
import {
  AssumeRoleFailureReason,
  createCredentialBroker,
  type CredentialBrokerOptions,
  roleSessionNameFor,
  type StsClientOptions,
  toAssumeRoleError,
} from '../../src/aws/credential-broker.js';
import { DeliveryError } from '../../src/domain/index.js';
import { randomId } from '../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../helpers/moto.js';
import { caught } from '../helpers/rejection.js';

/** moto's account for the processor's own (fake) credentials. */
const MOTO_DEFAULT_ACCOUNT = '123456789012';
const CENTRAL_ACCOUNT = '111111111111';
const TENANT_ACCOUNT = '222222222222';

/** One STS request as the SDK sent it. */
interface StsCall {
  readonly command: string;
  readonly input: Partial<AssumeRoleCommandInput>;
  readonly region: string;
  /** The access key that signed the request. */
  readonly accessKeyId: string | undefined;
}

/** An SDK error as the SDK raises it: a name and, when the service answered, a status. */
function awsError(name: string, httpStatusCode?: number): Error {
  return Object.assign(new Error(`${name} (injected fault)`), {
    name,
    ...(httpStatusCode !== undefined && { $metadata: { httpStatusCode } }),
  });
}

/**
 * STS clients pointed at `settings` that record every request they send, and that throw
 * `fault(call)` instead of sending when it returns an error.
 */
function recordingSts(
  settings: AwsSettings,
  calls: StsCall[],
  fault: (call: StsCall) => Error | undefined = () => undefined,
): (options: StsClientOptions) => STSClient {
  return (options) => {
    const client = new STSClient(awsClientConfig(settings, options));
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        const accessKeyId = /Credential=([^/]+)\//.exec(headers['authorization'] ?? '')?.[1];
        const call: StsCall = {
          command: context.commandName ?? '',
          input: args.input as Partial<AssumeRoleCommandInput>,
          region: options.region,
          accessKeyId,
        };
        calls.push(call);
        const error = fault(call);
        if (error) throw error;
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordStsCall', priority: 'low' },
    );
    return client;
  };
}

function assumeRoleCalls(calls: readonly StsCall[], roleArn?: string): StsCall[] {
  return calls.filter((c) => c.command === 'AssumeRoleCommand' && (roleArn === undefined || c.input.RoleArn === roleArn));
}

function roleArn(account: string, name = `role-${randomId()}`): string {
  return `arn:aws:iam::${account}:role/${name}`;
}

async function callerArn(settings: AwsSettings, credentials: AwsCredentialIdentityProvider): Promise<string | undefined> {
  const sts = new STSClient(awsClientConfig(settings, { credentials }));
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Arn;
  } finally {
    sts.destroy();
  }
}


describe('roleSessionNameFor', () => {
  it.each([
    { tenantId: 'team-a', expected: 'tlr-team-a' },
    { tenantId: 'a'.repeat(60), expected: `tlr-${'a'.repeat(60)}` },
  ])('names the session of $tenantId after the tenant', ({ tenantId, expected }) => {
    // Prepare
    // Act
    const name = roleSessionNameFor(tenantId);

    // Assess
    expect(name).toBe(expected);
  });

  it('keeps the name of a 63-character tenant within 64 characters, distinct from its siblings', () => {
    // Prepare
    const first = `${'t'.repeat(62)}1`;
    const second = `${'t'.repeat(62)}2`;

    // Act
    const names = [roleSessionNameFor(first), roleSessionNameFor(second)];

    // Assess
    for (const name of names) {
      expect(name.length).toBeLessThanOrEqual(64);
      expect(name).toMatch(/^tlr-t+-[0-9a-f]{8}$/);
    }
    expect(names[0]).not.toBe(names[1]);
  });

  it('replaces characters STS refuses in session names', () => {
    // Prepare
    // Act
    const name = roleSessionNameFor('team a/b');

    // Assess
    expect(name).toBe('tlr-team-a-b');
  });
});

describe('toAssumeRoleError', () => {
  it.each([
    { name: 'AccessDenied', status: 403, retryable: false, reason: AssumeRoleFailureReason.DENIED },
    { name: 'AccessDenied', status: undefined, retryable: false, reason: AssumeRoleFailureReason.DENIED },
    { name: 'ValidationError', status: 400, retryable: false, reason: AssumeRoleFailureReason.DENIED },
    { name: 'InvalidClientTokenId', status: 403, retryable: false, reason: AssumeRoleFailureReason.DENIED },
    { name: 'RegionDisabledException', status: 403, retryable: false, reason: AssumeRoleFailureReason.DENIED },
    { name: 'SomeNewClientError', status: 400, retryable: false, reason: AssumeRoleFailureReason.DENIED },
    { name: 'Throttling', status: 400, retryable: true, reason: AssumeRoleFailureReason.STS_UNAVAILABLE },
    { name: 'ExpiredTokenException', status: 400, retryable: true, reason: AssumeRoleFailureReason.STS_UNAVAILABLE },
    { name: 'InternalFailure', status: 500, retryable: true, reason: AssumeRoleFailureReason.STS_UNAVAILABLE },
    { name: 'UnknownError', status: 503, retryable: true, reason: AssumeRoleFailureReason.STS_UNAVAILABLE },
    { name: 'TimeoutError', status: undefined, retryable: true, reason: AssumeRoleFailureReason.STS_UNAVAILABLE },
  ])('classifies $name (HTTP $status) as retryable=$retryable', ({ name, status, retryable, reason }) => {
    // Prepare
    const error = awsError(name, status);

    // Act
    const mapped = toAssumeRoleError(error, roleArn(TENANT_ACCOUNT));

    // Assess
    expect(mapped).toBeInstanceOf(DeliveryError);
    expect(mapped.retryable).toBe(retryable);
    expect(mapped.reason).toBe(reason);
    expect(mapped.cause).toBe(error);
  });

  it('passes a DeliveryError through unchanged', () => {
    // Prepare
    const error = new DeliveryError('central refused', { retryable: false, reason: AssumeRoleFailureReason.DENIED });

    // Act
    const mapped = toAssumeRoleError(error, roleArn(TENANT_ACCOUNT));

    // Assess
    expect(mapped).toBe(error);
  });
});

describe('createCredentialBroker options', () => {
  it.each([{ seconds: 899 }, { seconds: 3_601 }, { seconds: 1_000.5 }])(
    'refuses a session duration of $seconds s',
    ({ seconds }) => {
      // Prepare
      const settings: AwsSettings = { region: 'us-east-1', s3PathStyle: false };

      // Act
      const create = () => createCredentialBroker({ settings, sessionDurationSeconds: seconds });

      // Assess
      expect(create).toThrow(RangeError);
    },
  );
});

describe('createCredentialBroker (network failure)', () => {
  it('reports STS that cannot be reached as retryable sts_unavailable', async () => {
    // Prepare: a port nothing listens on.
    const settings: AwsSettings = { region: 'us-east-1', endpoint: 'http://127.0.0.1:9', s3PathStyle: false };
    useFakeAwsCredentials();
    const broker = createCredentialBroker({ settings, centralRoleArn: roleArn(CENTRAL_ACCOUNT) });

    // Act
    const error = await caught(broker.central()());

    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(true);
    expect((error as DeliveryError).reason).toBe(AssumeRoleFailureReason.STS_UNAVAILABLE);
  });
});

describe.skipIf(motoUnavailable)('createCredentialBroker against moto', () => {
  let moto: MotoServer;
  let calls: StsCall[];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });
  beforeEach(() => {
    calls = [];
  });

  function broker(overrides: Partial<CredentialBrokerOptions> = {}) {
    return createCredentialBroker({
      settings: moto.settings,
      centralRoleArn: roleArn(CENTRAL_ACCOUNT, `central-${randomId()}`),
      sts: recordingSts(moto.settings, calls),
      ...overrides,
    });
  }

  it('assumes the tenant role from the central role, which it assumes from the processor credentials', async () => {
    // Prepare
    const centralRoleArn = roleArn(CENTRAL_ACCOUNT, `central-${randomId()}`);
    const tenantRoleArn = roleArn(TENANT_ACCOUNT, `logs-${randomId()}`);
    const tenantId = `tenant-${randomId()}`;
    const credentials = broker({ centralRoleArn });

    // Act
    const tenant = credentials.forTenant({ roleArn: tenantRoleArn, tenantId, region: 'us-east-1' });
    const tenantIdentity = await tenant();
    const centralIdentity = await credentials.central()();

    // Assess
    const [centralCall, tenantCall] = assumeRoleCalls(calls);
    expect(centralCall?.input).toMatchObject({ RoleArn: centralRoleArn, RoleSessionName: 'tlr-central' });
    expect(centralCall?.input.ExternalId).toBeUndefined();
    expect(centralCall?.accessKeyId).toBe(process.env['AWS_ACCESS_KEY_ID']);
    expect(tenantCall?.input).toMatchObject({ RoleArn: tenantRoleArn, RoleSessionName: `tlr-${tenantId}` });
    expect(tenantCall?.accessKeyId).toBe(centralIdentity.accessKeyId);
    expect(tenantIdentity.sessionToken).toBeTruthy();
    expect(tenantIdentity.expiration).toBeInstanceOf(Date);
    expect(await callerArn(moto.settings, tenant)).toBe(
      `arn:aws:sts::${TENANT_ACCOUNT}:assumed-role/${tenantRoleArn.split('/').pop()}/tlr-${tenantId}`,
    );
  });

  it('sends the central account id as ExternalId when the config has none', async () => {
    // Prepare
    const credentials = broker({ centralRoleArn: roleArn(CENTRAL_ACCOUNT) });
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);

    // Act
    await credentials.forTenant({ roleArn: tenantRoleArn, tenantId: 'team-a', region: 'us-east-1' })();

    // Assess
    expect(assumeRoleCalls(calls, tenantRoleArn).map((c) => c.input.ExternalId)).toEqual([CENTRAL_ACCOUNT]);
  });

  it("sends the config's own ExternalId when it has one", async () => {
    // Prepare
    const credentials = broker();
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);
    const externalId = `ext-${randomId()}`;

    // Act
    await credentials.forTenant({ roleArn: tenantRoleArn, externalId, tenantId: 'team-a', region: 'us-east-1' })();

    // Assess
    expect(assumeRoleCalls(calls, tenantRoleArn).map((c) => c.input.ExternalId)).toEqual([externalId]);
  });

  it('sends the configured central account id as ExternalId over the central role account', async () => {
    // Prepare
    const credentials = broker({ centralAccountId: '333333333333' });
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);

    // Act
    await credentials.forTenant({ roleArn: tenantRoleArn, tenantId: 'team-a', region: 'us-east-1' })();

    // Assess
    expect(assumeRoleCalls(calls, tenantRoleArn).map((c) => c.input.ExternalId)).toEqual(['333333333333']);
  });

  it('reads the account id once from GetCallerIdentity when there is no central role', async () => {
    // Prepare
    const credentials = createCredentialBroker({ settings: moto.settings, sts: recordingSts(moto.settings, calls) });
    const roles = [roleArn(TENANT_ACCOUNT), roleArn(TENANT_ACCOUNT)];

    // Act
    for (const role of roles) await credentials.forTenant({ roleArn: role, tenantId: 'team-a', region: 'us-east-1' })();

    // Assess
    expect(calls.filter((c) => c.command === 'GetCallerIdentityCommand')).toHaveLength(1);
    expect(assumeRoleCalls(calls).map((c) => [c.input.RoleArn, c.input.ExternalId])).toEqual(
      roles.map((role) => [role, MOTO_DEFAULT_ACCOUNT]),
    );
    // The processor's own credentials sign the tenant hop.
    expect(assumeRoleCalls(calls).every((c) => c.accessKeyId === process.env['AWS_ACCESS_KEY_ID'])).toBe(true);
  });

  it('assumes each (role, ExternalId, region) once across many and concurrent calls', async () => {
    // Prepare
    const credentials = broker();
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);
    const request = { roleArn: tenantRoleArn, tenantId: 'team-a', region: 'us-east-1' };

    // Act
    const first = await Promise.all(Array.from({ length: 20 }, () => credentials.forTenant(request)()));
    for (let i = 0; i < 20; i++) await credentials.forTenant(request)();
    await credentials.forTenant({ ...request, region: 'eu-west-1' })();
    await credentials.forTenant({ ...request, externalId: 'other-id' })();

    // Assess
    expect(new Set(first.map((c) => c.accessKeyId)).size).toBe(1);
    expect(assumeRoleCalls(calls, tenantRoleArn).map((c) => [c.region, c.input.ExternalId])).toEqual([
      ['us-east-1', CENTRAL_ACCOUNT],
      ['eu-west-1', CENTRAL_ACCOUNT],
      ['us-east-1', 'other-id'],
    ]);
    expect(assumeRoleCalls(calls).filter((c) => c.input.RoleSessionName === 'tlr-central')).toHaveLength(1);
  });

  it('assumes the role again only once the cached session is within 5 minutes of expiry', async () => {
    // Prepare
    let nowMs = Date.now();
    const credentials = broker({ now: () => nowMs, sessionDurationSeconds: 3_600 });
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);
    const provider = credentials.forTenant({ roleArn: tenantRoleArn, tenantId: 'team-a', region: 'us-east-1' });
    const first = await provider();
    const expiresAtMs = first.expiration!.getTime();

    // Act
    nowMs = expiresAtMs - 5 * 60_000 - 1_000;
    const beforeRefresh = await provider();
    nowMs = expiresAtMs - 5 * 60_000;
    const refreshed = await provider();

    // Assess
    expect(beforeRefresh.accessKeyId).toBe(first.accessKeyId);
    expect(refreshed.accessKeyId).not.toBe(first.accessKeyId);
    expect(assumeRoleCalls(calls, tenantRoleArn)).toHaveLength(2);
    expect(assumeRoleCalls(calls, tenantRoleArn)[0]!.input.DurationSeconds).toBe(3_600);
  });

  it('keeps the session name of a 63-character tenant id within 64 characters, and moto accepts it', async () => {
    // Prepare
    const tenantId = `t${randomId()}`.padEnd(63, 'x');
    const credentials = broker();
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);

    // Act
    const provider = credentials.forTenant({ roleArn: tenantRoleArn, tenantId, region: 'us-east-1' });
    await provider();

    // Assess
    const sent = assumeRoleCalls(calls, tenantRoleArn)[0]!.input.RoleSessionName!;
    expect(sent.length).toBeLessThanOrEqual(64);
    expect(sent).toMatch(/^[\w+=,.@-]+$/);
    expect(sent.startsWith(`tlr-${tenantId.slice(0, 40)}`)).toBe(true);
    expect(await callerArn(moto.settings, provider)).toMatch(new RegExp(`/${sent}$`));
  });

  it('fails with a permanent assume_role_denied when STS refuses the tenant role (injected fault)', async () => {
    // Prepare
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);
    const credentials = broker({
      sts: recordingSts(moto.settings, calls, (call) =>
        call.input.RoleArn === tenantRoleArn ? awsError('AccessDenied', 403) : undefined,
      ),
    });

    // Act
    const error = await caught(credentials.forTenant({ roleArn: tenantRoleArn, tenantId: 'team-a', region: 'us-east-1' })());

    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(false);
    expect((error as DeliveryError).reason).toBe(AssumeRoleFailureReason.DENIED);
    expect((error as DeliveryError).message).toContain(tenantRoleArn);
  });

  it('fails the tenant hop with the central denial when the central role is refused (injected fault)', async () => {
    // Prepare
    const centralRoleArn = roleArn(CENTRAL_ACCOUNT);
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);
    const credentials = broker({
      centralRoleArn,
      sts: recordingSts(moto.settings, calls, (call) =>
        call.input.RoleArn === centralRoleArn ? awsError('AccessDenied') : undefined,
      ),
    });

    // Act
    const error = await caught(credentials.forTenant({ roleArn: tenantRoleArn, tenantId: 'team-a', region: 'us-east-1' })());

    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(false);
    expect((error as DeliveryError).message).toContain(centralRoleArn);
    expect(assumeRoleCalls(calls, tenantRoleArn)).toHaveLength(0);
  });

  it('fails with a retryable sts_unavailable on throttling and asks STS again on the next call (injected fault)', async () => {
    // Prepare
    const tenantRoleArn = roleArn(TENANT_ACCOUNT);
    let throttle = true;
    const credentials = broker({
      sts: recordingSts(moto.settings, calls, (call) =>
        throttle && call.input.RoleArn === tenantRoleArn ? awsError('Throttling', 400) : undefined,
      ),
    });
    const provider = credentials.forTenant({ roleArn: tenantRoleArn, tenantId: 'team-a', region: 'us-east-1' });

    // Act
    const error = await caught(provider());
    throttle = false;
    const identity = await provider();

    // Assess
    expect((error as DeliveryError).retryable).toBe(true);
    expect((error as DeliveryError).reason).toBe(AssumeRoleFailureReason.STS_UNAVAILABLE);
    expect(identity.accessKeyId).toBeTruthy();
    expect(assumeRoleCalls(calls, tenantRoleArn)).toHaveLength(2);
  });

  it('fails with a retryable sts_unavailable when GetCallerIdentity is throttled, and reads it again later (injected fault)', async () => {
    // Prepare
    let throttle = true;
    const credentials = createCredentialBroker({
      settings: moto.settings,
      sts: recordingSts(moto.settings, calls, (call) =>
        throttle && call.command === 'GetCallerIdentityCommand' ? awsError('Throttling', 400) : undefined,
      ),
    });
    const provider = credentials.forTenant({ roleArn: roleArn(TENANT_ACCOUNT), tenantId: 'team-a', region: 'us-east-1' });

    // Act
    const error = await caught(provider());
    throttle = false;
    await provider();

    // Assess
    expect((error as DeliveryError).retryable).toBe(true);
    expect((error as DeliveryError).reason).toBe(AssumeRoleFailureReason.STS_UNAVAILABLE);
    expect(calls.filter((c) => c.command === 'GetCallerIdentityCommand')).toHaveLength(2);
  });

  it("hands out the processor's own credentials as central when no central role is set", async () => {
    // Prepare
    const credentials = createCredentialBroker({ settings: moto.settings, sts: recordingSts(moto.settings, calls) });

    // Act
    const identity = await credentials.central()();

    // Assess
    expect(identity.accessKeyId).toBe(process.env['AWS_ACCESS_KEY_ID']);
    expect(assumeRoleCalls(calls)).toHaveLength(0);
  });
});
