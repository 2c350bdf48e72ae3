import { randomUUID } from 'node:crypto';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig, createCredentialBroker } from '../../src/aws/index.js';
import { AbortedError } from '../../src/domain/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { createLocalProcessor, openLocalStores } from '../../src/runtimes/local-stores.js';
import { cloudwatchSinkDefinition, createCloudwatchSink } from '../../src/sinks/cloudwatch/index.js';
import { createSinkRegistry } from '../../src/sinks/registry.js';
import { gzipObject, logEventFactory } from '../helpers/factories.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../helpers/moto.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

const ROLE = 'arn:aws:iam::111111111111:role/CustomerLogDistribution-resume';
// 7 accepted requests at the 10,000-event cap.
const EVENTS = 65_000;

describe.skipIf(motoUnavailable)('cloudwatch delivery after a crash', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
    await removeTempDirs();
  });

  it('resumes after a crash following 3 of 7 PutLogEvents calls with the records after the last accepted one', async () => {
    // Prepare
    const dataDir = await makeTempDir('tlr-cw-resume-');
    const tenant = `t-${randomUUID().slice(0, 8)}`;
    const group = `/resume/${tenant}`;
    const key = `c1/${tenant}/kube-apiserver/kube-apiserver-0/20260101-000000-${randomUUID()}.json.gz`;
    const base = Date.now() - 3_600_000;
    const events = Array.from({ length: EVENTS }, (_, i) =>
      logEventFactory({ message: `event ${i}`, timestamp: new Date(base + i).toISOString() }),
    );
    const firstMessages: string[] = [];
    let crash: AbortController | undefined;
    const puts: string[][] = [];
    const definition = {
      ...cloudwatchSinkDefinition,
      create: (...[config, deps]: Parameters<typeof cloudwatchSinkDefinition.create>) =>
        createCloudwatchSink(config, deps, {
          createClient: (clientConfig) => {
            const client = new CloudWatchLogsClient(clientConfig);
            client.middlewareStack.add(
              (next, context) => async (args) => {
                if (context.commandName === 'PutLogEventsCommand') {
                  const messages = ((args.input as { logEvents: { message: string }[] }).logEvents ?? []).map((e) => e.message);
                  // The process "dies" as the 4th call starts: nothing of it is sent.
                  if (puts.length === 3 && crash) {
                    crash.abort();
                    throw new AbortedError();
                  }
                  const result = await next(args);
                  // Only accepted calls count (the first one meets a missing stream and is repeated).
                  puts.push(messages);
                  firstMessages.push(messages[0]!);
                  return result;
                }
                return next(args);
              },
              { step: 'initialize', name: 'crashOnFourthPut' },
            );
            return client;
          },
        }),
    };
    const stores = openLocalStores(dataDir);
    await stores.configs.put({
      tenant_id: tenant,
      type: 'cloudwatch',
      enabled: true,
      desired_logs: [],
      groups: [],
      log_distribution_role_arn: ROLE,
      log_group_name: group,
    });
    await stores.objects.put(key, gzipObject(events));
    const aws = {
      settings: moto.settings,
      credentials: createCredentialBroker({ settings: moto.settings, centralRoleArn: 'arn:aws:iam::222222222222:role/Central' }),
    };
    const build = () => {
      const registry = new Registry();
      const sinks = createSinkRegistry([definition]);
      return createLocalProcessor(stores, { sinks, logger: silentLogger, registry, aws });
    };

    // Act
    crash = new AbortController();
    const first = build();
    const crashed = await first.processor.processItem({ key, attempt: 0 }, crash.signal).catch((e: unknown) => e);
    await first.resolver.close();
    crash = undefined;
    const second = build();
    const outcome = await second.processor.processItem({ key, attempt: 0 }, new AbortController().signal);
    await second.resolver.close();

    // Assess
    expect(crashed).toBeInstanceOf(AbortedError);
    expect(outcome.result).toBe('completed');
    expect(puts).toHaveLength(7);
    expect(firstMessages[3]).toBe('event 30000');
    const sts = new STSClient(awsClientConfig(moto.settings));
    const { Credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'reader' }));
    const logs = new CloudWatchLogsClient(
      awsClientConfig(moto.settings, {
        credentials: {
          accessKeyId: Credentials!.AccessKeyId!,
          secretAccessKey: Credentials!.SecretAccessKey!,
          sessionToken: Credentials!.SessionToken!,
        },
      }),
    );
    const read: string[] = [];
    let token: string | undefined;
    for (;;) {
      const page = await logs.send(
        new GetLogEventsCommand({
          logGroupName: group,
          logStreamName: 'kube-apiserver-0',
          startFromHead: true,
          ...(token && { nextToken: token }),
        }),
      );
      read.push(...(page.events ?? []).map((e) => e.message!));
      if (!page.nextForwardToken || page.nextForwardToken === token) break;
      token = page.nextForwardToken;
    }
    expect(read).toHaveLength(EVENTS);
    expect(new Set(read).size).toBe(EVENTS);
    stores.close();
  }, 120_000);
});
