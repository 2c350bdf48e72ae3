import {
  CloudWatchLogsClient,
  type CloudWatchLogsClientConfig,
  CreateLogGroupCommand,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  type PutLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCredentialBroker } from '../../../src/aws/credential-broker.js';
import { awsClientConfig, type AwsSinkDeps, type CredentialBroker } from '../../../src/aws/index.js';
import { sendWithRetry } from '../../../src/delivery/index.js';
import {
  DeliveryError,
  type LogObjectKey,
  type LogRecord,
  parseObjectKey,
  RetriesExhaustedError,
  validateDeliveryConfig,
} from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import {
  CLOUDWATCH_REJECTED_METRIC,
  type CloudwatchPayload,
  type CloudwatchSinkOptions,
  cloudwatchSinkDefinition,
  createCloudwatchSink,
  MAX_EVENT_BYTES,
  rejectedEventCounts,
} from '../../../src/sinks/cloudwatch/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import type { Batch, Sink, SinkDeps } from '../../../src/sinks/types.js';
import { type PutLogEventsRequest, putLogEventsViolations } from '../../helpers/aws-request-proxy.js';
import { deliveryConfigFactory, objectKeyFactory, randomId } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { caught } from '../../helpers/rejection.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const TENANT_ACCOUNT = '222222222222';
/** Older than CloudWatch's 14 days, yet within 24 h of events CloudWatch accepts. */
const OLD_MS = 14 * DAY_MS + 2 * HOUR_MS;
const CENTRAL_ROLE_ARN = 'arn:aws:iam::111111111111:role/tlr-central';
const lookup = createSinkRegistry([cloudwatchSinkDefinition]).lookup;

/** One CloudWatch Logs request as the sink's SDK client sent it. */
interface LogsCall {
  readonly command: string;
  readonly input: Record<string, unknown>;
  readonly region: string;
}

/** An SDK error as the SDK raises it: a name and the status the service answered with. */
function awsError(name: string, httpStatusCode?: number): Error {
  return Object.assign(new Error(`${name} (injected fault)`), {
    name,
    ...(httpStatusCode !== undefined && { $metadata: { httpStatusCode } }),
  });
}

function recordOf(offset: number, timestampMs: number, message: string): LogRecord {
  const event = { message, timestamp: new Date(timestampMs).toISOString() };
  return { offset, timestampMs, event, json: JSON.stringify(event) };
}


describe.skipIf(motoUnavailable)('cloudwatch sink against moto', () => {
  let moto: MotoServer;
  let broker: CredentialBroker;
  let calls: LogsCall[];
  let violations: string[];
  let answers: PutLogEventsCommandOutput[];
  let registry: Registry;
  const sinks: Sink[] = [];

  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
    broker = createCredentialBroker({ settings: moto.settings, centralRoleArn: CENTRAL_ROLE_ARN });
  });
  afterAll(async () => {
    await moto?.stop();
  });
  beforeEach(() => {
    calls = [];
    violations = [];
    answers = [];
    registry = new Registry();
  });
  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => s.close()));
    // Every PutLogEvents request of every test must respect the limits moto does not enforce.
    expect(violations).toEqual([]);
  });

  /**
   * A client factory whose clients record every request, check every PutLogEvents against
   * the CloudWatch limits, and throw `fault(call)` instead of sending when it returns one.
   */
  function recordingClients(
    fault: (call: LogsCall) => Error | undefined = () => undefined,
    override: Partial<CloudWatchLogsClientConfig> = {},
  ): (config: CloudWatchLogsClientConfig) => CloudWatchLogsClient {
    return (config) => {
      const client = new CloudWatchLogsClient({ ...config, ...override });
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const call: LogsCall = {
            command: context.commandName ?? '',
            input: args.input as Record<string, unknown>,
            region: String(config.region),
          };
          calls.push(call);
          if (call.command === 'PutLogEventsCommand') {
            const body = call.input as unknown as PutLogEventsRequest;
            for (const problem of putLogEventsViolations(body)) violations.push(`${body.logStreamName}: ${problem}`);
          }
          const error = fault(call);
          if (error) throw error;
          const result = await next(args);
          if (call.command === 'PutLogEventsCommand') answers.push(result.output as PutLogEventsCommandOutput);
          return result;
        },
        { step: 'initialize', name: 'recordLogsCall' },
      );
      return client;
    };
  }

  function sinkDeps(credentials: CredentialBroker = broker): SinkDeps {
    const aws: AwsSinkDeps = { settings: moto.settings, credentials };
    return { baseDir: '.', logger: silentLogger, registry, aws };
  }

  function cloudwatchSink(
    fields: Record<string, unknown> = {},
    options: CloudwatchSinkOptions = {},
    deps: SinkDeps = sinkDeps(),
  ): { sink: Sink<CloudwatchPayload>; config: Record<string, unknown> } {
    const config = deliveryConfigFactory({
      type: 'cloudwatch',
      directory: undefined,
      log_distribution_role_arn: `arn:aws:iam::${TENANT_ACCOUNT}:role/logs-${randomId()}`,
      log_group_name: `/tlr/${randomId()}`,
      retry: { initialIntervalMs: 1, maxIntervalMs: 5, maxAttempts: 3 },
      ...fields,
    });
    const sink = createCloudwatchSink(validateDeliveryConfig(config, lookup), deps, {
      createClient: recordingClients(),
      ...options,
    });
    sinks.push(sink);
    return { sink, config };
  }

  function logObject(podName = `pod-${randomId()}`): LogObjectKey {
    return parseObjectKey(objectKeyFactory({ podName })) as LogObjectKey;
  }

  function plan(sink: Sink<CloudwatchPayload>, object: LogObjectKey, records: readonly LogRecord[]): Batch<CloudwatchPayload>[] {
    const planner = sink.createPlanner(object);
    return [...records.flatMap((r) => planner.add(r)), ...planner.flush()];
  }

  /** Plans and sends as the processor does: each batch with the sink's quick retries. */
  async function deliver(sink: Sink<CloudwatchPayload>, object: LogObjectKey, records: readonly LogRecord[]) {
    const batches = plan(sink, object, records);
    for (const batch of batches) {
      await sendWithRetry((b, s) => sink.send(b, s), batch, sink.retry, new AbortController().signal);
    }
    return batches;
  }

  function tenantCredentials(config: Record<string, unknown>): AwsCredentialIdentityProvider {
    return broker.forTenant({
      roleArn: config['log_distribution_role_arn'] as string,
      tenantId: config['tenant_id'] as string,
      region: (config['target_region'] as string | undefined) ?? moto.settings.region,
    });
  }

  /** Every message of a stream, oldest first, read as the tenant. */
  async function readBack(config: Record<string, unknown>, logStreamName: string): Promise<string[]> {
    const logs = new CloudWatchLogsClient(
      awsClientConfig(moto.settings, {
        credentials: tenantCredentials(config),
        ...(config['target_region'] !== undefined && { region: config['target_region'] as string }),
      }),
    );
    try {
      const messages: string[] = [];
      let token: string | undefined;
      for (;;) {
        const page = await logs.send(
          new GetLogEventsCommand({
            logGroupName: config['log_group_name'] as string,
            logStreamName,
            startFromHead: true,
            ...(token !== undefined && { nextToken: token }),
          }),
        );
        messages.push(...(page.events ?? []).map((e) => e.message ?? ''));
        if ((page.events ?? []).length === 0 || page.nextForwardToken === token) return messages;
        token = page.nextForwardToken;
      }
    } finally {
      logs.destroy();
    }
  }

  const commands = () => calls.map((c) => c.command.replace(/Command$/, ''));

  it("delivers a tenant's records through the role chain into its account, in order", async () => {
    // Prepare
    const { sink, config } = cloudwatchSink();
    const object = logObject();
    const startMs = Date.now() - HOUR_MS;
    const records = Array.from({ length: 50 }, (_, i) => recordOf(i, startMs + i * 1_000, `line ${i} ${randomId()}`));

    // Act
    const batches = await deliver(sink, object, records);

    // Assess
    expect(batches.map((b) => [b.firstOffset, b.lastOffset, b.count])).toEqual([[0, 49, 50]]);
    expect(await readBack(config, object.podName)).toEqual(records.map((r) => r.event['message']));
    // The group lives in the tenant's account: the processor's own account does not see it.
    const own = new CloudWatchLogsClient(awsClientConfig(moto.settings));
    const ownStreams = await caught(
      own.send(new DescribeLogStreamsCommand({ logGroupName: config['log_group_name'] as string })),
    );
    own.destroy();
    expect((ownStreams as Error).name).toBe('ResourceNotFoundException');
  });

  it('creates the group and the stream on the first ResourceNotFoundException, then puts only', async () => {
    // Prepare
    const { sink, config } = cloudwatchSink();
    const object = logObject();
    const nowMs = Date.now();

    // Act
    await deliver(sink, object, [recordOf(0, nowMs, 'first')]);
    await deliver(sink, object, [recordOf(1, nowMs + 1, 'second')]);

    // Assess
    expect(commands()).toEqual([
      'PutLogEvents',
      'CreateLogStream',
      'CreateLogGroup',
      'CreateLogStream',
      'PutLogEvents',
      'PutLogEvents',
    ]);
    expect(await readBack(config, object.podName)).toEqual(['first', 'second']);
  });

  it('creates only the stream when the group exists', async () => {
    // Prepare
    const { sink, config } = cloudwatchSink();
    const logs = new CloudWatchLogsClient(awsClientConfig(moto.settings, { credentials: tenantCredentials(config) }));
    await logs.send(new CreateLogGroupCommand({ logGroupName: config['log_group_name'] as string }));
    logs.destroy();
    const object = logObject();

    // Act
    await deliver(sink, object, [recordOf(0, Date.now(), 'only')]);

    // Assess
    expect(commands()).toEqual(['PutLogEvents', 'CreateLogStream', 'PutLogEvents']);
    expect(await readBack(config, object.podName)).toEqual(['only']);
  });

  it('names the stream from the template and writes to the target region', async () => {
    // Prepare
    const { sink, config } = cloudwatchSink({
      log_stream_template: '{application}/{pod_name}',
      target_region: 'eu-west-1',
    });
    const object = logObject();

    // Act
    await deliver(sink, object, [recordOf(0, Date.now(), 'regional')]);

    // Assess
    expect(new Set(calls.map((c) => c.region))).toEqual(new Set(['eu-west-1']));
    expect(await readBack(config, `${object.application}/${object.podName}`)).toEqual(['regional']);
  });

  it('keeps every PutLogEvents request within the CloudWatch limits for a large, unordered object', async () => {
    // Prepare: 25,000 events over 30 hours, out of order in places, one message of 1.5 MB.
    const { sink, config } = cloudwatchSink();
    const object = logObject();
    const startMs = Date.now() - 30 * HOUR_MS;
    const records = Array.from({ length: 25_000 }, (_, i) => {
      const jitterMs = (i % 7) * 60_000 - 3 * 60_000;
      // Short messages first (the event count binds), then longer ones (the bytes bind).
      const message = i === 12_345 ? 'big'.repeat(500_000) : i < 12_000 ? `e${i}` : `event ${i} ${'m'.repeat(i % 300)}`;
      return recordOf(i, startMs + Math.floor((i * 30 * HOUR_MS) / 25_000) + jitterMs, message);
    });

    // Act
    const batches = await deliver(sink, object, records);

    // Assess
    const puts = calls.filter((c) => c.command === 'PutLogEventsCommand');
    expect(puts).toHaveLength(batches.length + 1); // the first met no stream
    expect(batches.length).toBeGreaterThanOrEqual(3);
    expect(batches.reduce((n, b) => n + b.count, 0)).toBe(25_000);
    const stored = await readBack(config, object.podName);
    expect(stored).toHaveLength(25_000);
    const big = stored.find((m) => m.startsWith('bigbig'))!;
    expect(Buffer.byteLength(big)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    expect(big).toMatch(/…\[truncated by tlr: \d+ bytes\]$/);
  });

  it('delivers a throttled request once after a quick retry (injected fault)', async () => {
    // Prepare
    let puts = 0;
    const { sink, config } = cloudwatchSink(
      {},
      {
        createClient: recordingClients((call) =>
          call.command === 'PutLogEventsCommand' && puts++ === 0 ? awsError('ThrottlingException', 400) : undefined,
        ),
      },
    );
    const object = logObject();
    const nowMs = Date.now();
    const records = Array.from({ length: 10 }, (_, i) => recordOf(i, nowMs + i, `once ${i}`));

    // Act
    await deliver(sink, object, records);

    // Assess
    expect(puts).toBeGreaterThanOrEqual(2);
    expect(await readBack(config, object.podName)).toEqual(records.map((r) => r.event['message']));
  });

  it.each([
    // moto reports the last too-old index inclusively where AWS's is exclusive (TESTING-AWS.md),
    // so moto's answer for 3 too-old events reads as 2 under the AWS semantics the sink follows.
    { reason: 'too_old', clockShiftMs: -13.5 * DAY_MS, eventAgesMs: [OLD_MS, OLD_MS, OLD_MS, 13.5 * DAY_MS, 13.5 * DAY_MS], stored: [3, 4], counted: 2 },
    { reason: 'too_new', clockShiftMs: DAY_MS, eventAgesMs: [0, 0, -12 * HOUR_MS], stored: [0, 1], counted: 1 },
  ])(
    'counts events CloudWatch refuses as $reason from rejectedLogEventsInfo and does not retry them',
    async ({ reason, clockShiftMs, eventAgesMs, stored, counted }) => {
      // Prepare: the planner's clock is shifted, so it lets through what CloudWatch refuses.
      const { sink, config } = cloudwatchSink({}, { createClient: recordingClients(), now: () => Date.now() + clockShiftMs });
      const object = logObject();
      const nowMs = Date.now();
      const records = eventAgesMs.map((ageMs, i) => recordOf(i, nowMs - ageMs + i, `event ${i}`));

      // Act
      await deliver(sink, object, records);

      // Assess
      expect(calls.filter((c) => c.command === 'PutLogEventsCommand')).toHaveLength(2); // the first met no stream
      const answer = answers.at(-1)!;
      expect(rejectedEventCounts(answer.rejectedLogEventsInfo, records.length)[reason as 'too_old']).toBe(counted);
      expect(await metricValue(registry, CLOUDWATCH_REJECTED_METRIC, { reason })).toBe(counted);
      expect(await readBack(config, object.podName)).toEqual(stored.map((i) => records[i]!.event['message']));
    },
  );

  it('sends nothing for a batch whose records were all filtered', async () => {
    // Prepare
    const { sink } = cloudwatchSink();
    const records = [recordOf(0, Date.now() - 20 * DAY_MS, 'old')];

    // Act
    const batches = await deliver(sink, logObject(), records);

    // Assess
    expect(batches.map((b) => [b.lastOffset, b.count])).toEqual([[0, 0]]);
    expect(calls).toEqual([]);
  });

  it('treats DataAlreadyAcceptedException as delivered (injected fault)', async () => {
    // Prepare
    const { sink } = cloudwatchSink(
      {},
      { createClient: recordingClients((c) => (c.command === 'PutLogEventsCommand' ? awsError('DataAlreadyAcceptedException', 400) : undefined)) },
    );

    // Act
    const batches = await deliver(sink, logObject(), [recordOf(0, Date.now(), 'again')]);

    // Assess
    expect(batches).toHaveLength(1);
    expect(commands()).toEqual(['PutLogEvents']);
  });

  it.each([
    { name: 'AccessDeniedException', status: 400, retryable: false, reason: 'access_denied' },
    { name: 'InvalidParameterException', status: 400, retryable: false, reason: 'invalid_parameter' },
    { name: 'UnrecognizedClientException', status: 400, retryable: false, reason: 'unrecognized_client' },
    { name: 'ThrottlingException', status: 400, retryable: true, reason: 'throttled' },
    { name: 'ServiceUnavailableException', status: 503, retryable: true, reason: 'service_unavailable' },
  ])('fails a PutLogEvents answered $name with retryable=$retryable (injected fault)', async ({ name, status, retryable, reason }) => {
    // Prepare
    const { sink } = cloudwatchSink(
      {},
      { createClient: recordingClients((c) => (c.command === 'PutLogEventsCommand' ? awsError(name, status) : undefined)) },
    );
    const [batch] = plan(sink, logObject(), [recordOf(0, Date.now(), 'refused')]);

    // Act
    const error = await caught(sink.send(batch!, new AbortController().signal));

    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(retryable);
    expect((error as DeliveryError).reason).toBe(reason);
    expect(commands()).toEqual(['PutLogEvents']);
  });

  it('fails with a retryable network_error when CloudWatch cannot be reached', async () => {
    // Prepare: a port nothing listens on.
    const { sink } = cloudwatchSink({}, { createClient: recordingClients(undefined, { endpoint: 'http://127.0.0.1:9' }) });
    const [batch] = plan(sink, logObject(), [recordOf(0, Date.now(), 'unreachable')]);

    // Act
    const error = await caught(sink.send(batch!, new AbortController().signal));

    // Assess
    expect((error as DeliveryError).retryable).toBe(true);
    expect((error as DeliveryError).reason).toBe('network_error');
  });

  it('fails with a permanent log_group_limit_exceeded when the account has no room for the group (injected fault)', async () => {
    // Prepare
    const { sink } = cloudwatchSink(
      {},
      { createClient: recordingClients((c) => (c.command === 'CreateLogGroupCommand' ? awsError('LimitExceededException', 400) : undefined)) },
    );
    const [batch] = plan(sink, logObject(), [recordOf(0, Date.now(), 'no room')]);

    // Act
    const error = await caught(sink.send(batch!, new AbortController().signal));

    // Assess
    expect((error as DeliveryError).retryable).toBe(false);
    expect((error as DeliveryError).reason).toBe('log_group_limit_exceeded');
  });

  it('fails with a permanent access_denied when the role may not create the stream (injected fault)', async () => {
    // Prepare
    const { sink } = cloudwatchSink(
      {},
      { createClient: recordingClients((c) => (c.command === 'CreateLogStreamCommand' ? awsError('AccessDeniedException', 400) : undefined)) },
    );
    const [batch] = plan(sink, logObject(), [recordOf(0, Date.now(), 'denied')]);

    // Act
    const error = await caught(sink.send(batch!, new AbortController().signal));

    // Assess
    expect((error as DeliveryError).retryable).toBe(false);
    expect((error as DeliveryError).reason).toBe('access_denied');
    expect(commands()).toEqual(['PutLogEvents', 'CreateLogStream']);
  });

  it('fails with a permanent access_denied when the role may not create the group (injected fault)', async () => {
    // Prepare
    const { sink } = cloudwatchSink(
      {},
      { createClient: recordingClients((c) => (c.command === 'CreateLogGroupCommand' ? awsError('AccessDeniedException', 400) : undefined)) },
    );
    const [batch] = plan(sink, logObject(), [recordOf(0, Date.now(), 'denied')]);

    // Act
    const error = await caught(sink.send(batch!, new AbortController().signal));

    // Assess
    expect((error as DeliveryError).reason).toBe('access_denied');
    expect(commands()).toEqual(['PutLogEvents', 'CreateLogStream', 'CreateLogGroup']);
  });

  it('fails with a retryable resource_not_found when the stream is still missing after creating it (injected fault)', async () => {
    // Prepare
    const { sink } = cloudwatchSink(
      {},
      {
        createClient: recordingClients((c) =>
          c.command === 'PutLogEventsCommand' ? awsError('ResourceNotFoundException', 400) : undefined,
        ),
      },
    );
    const [batch] = plan(sink, logObject(), [recordOf(0, Date.now(), 'vanished')]);

    // Act
    const error = await caught(sink.send(batch!, new AbortController().signal));

    // Assess
    expect((error as DeliveryError).retryable).toBe(true);
    expect((error as DeliveryError).reason).toBe('resource_not_found');
    expect(commands().filter((c) => c === 'PutLogEvents')).toHaveLength(2);
  });

  it('fails with a permanent assume_role_denied when the tenant role refuses the central role (injected fault)', async () => {
    // Prepare
    const deniedBroker = createCredentialBroker({
      settings: moto.settings,
      centralRoleArn: CENTRAL_ROLE_ARN,
      sts: (options) => {
        const sts = new STSClient(awsClientConfig(moto.settings, options));
        sts.middlewareStack.add(
          (next, context) => async (args) => {
            const input = args.input as { RoleArn?: string };
            if (context.commandName === 'AssumeRoleCommand' && input.RoleArn !== CENTRAL_ROLE_ARN) {
              throw awsError('AccessDenied', 403);
            }
            return next(args);
          },
          { step: 'initialize', name: 'denyTenantRole' },
        );
        return sts;
      },
    });
    const { sink } = cloudwatchSink({}, {}, sinkDeps(deniedBroker));
    const [batch] = plan(sink, logObject(), [recordOf(0, Date.now(), 'denied')]);

    // Act
    const error = await caught(sendWithRetry((b, s) => sink.send(b, s), batch!, sink.retry, new AbortController().signal));

    // Assess
    expect(error).not.toBeInstanceOf(RetriesExhaustedError);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(false);
    expect((error as DeliveryError).reason).toBe('assume_role_denied');
  });
});
