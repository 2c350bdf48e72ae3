import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryConfig } from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { parseNotification } from '../../../src/pipeline/notification.js';
import { createQueueWorker } from '../../../src/runtimes/queue-worker.js';
import { createLocalProcessor, openLocalStores } from '../../../src/runtimes/local-stores.js';
import { createBuiltinSinkRegistry } from '../../../src/sinks/registry.js';
import { drainQueue, runCli, withStores } from '../../helpers/cli.js';
import {
  auditEventFactory,
  cloudwatchLogEventFactory,
  controlMessageFactory,
  dataMessageFactory,
  firehoseEvent,
  gzipPayload,
  subscriptionEvent,
} from '../../helpers/cloudwatch-logs.js';
import { randomId } from '../../helpers/factories.js';
import { readAllNdjson } from '../../helpers/ndjson-files.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

let dataDir: string;
let inputDir: string;
let tenant: string;
let cluster: string;

function tlr(...args: string[]) {
  return runCli(['--data-dir', dataDir, ...args]);
}

async function inputFile(name: string, content: unknown): Promise<string> {
  const path = join(inputDir, name);
  await writeFile(path, typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content));
  return path;
}

async function storedKeys(prefix?: string): Promise<string[]> {
  return withStores(dataDir, async ({ objects }) => {
    const keys: string[] = [];
    for await (const info of objects.list(prefix !== undefined ? { prefix } : {})) keys.push(info.key);
    return keys;
  });
}

/** Runs the local processor over the data directory's queue until it is empty. */
async function deliver(): Promise<void> {
  const stores = openLocalStores(dataDir);
  try {
    const { processor, resolver } = createLocalProcessor(stores, {
      sinks: createBuiltinSinkRegistry(),
      logger: silentLogger,
      registry: new Registry(),
    });
    await createQueueWorker({ queue: stores.queue, processor, logger: silentLogger, waitMs: 0 }).drain();
    await resolver.close();
  } finally {
    stores.close();
  }
}

beforeEach(async () => {
  dataDir = await makeTempDir('tlr-cw-cli-');
  inputDir = await makeTempDir('tlr-cw-cli-in-');
  tenant = `acme-${randomId()}`;
  cluster = `eks-${randomId()}`;
});

afterEach(async () => {
  await removeTempDirs();
});

describe('tlr ingest cloudwatch', () => {
  it('writes payloads of every file shape into the data directory, and the processor delivers them', async () => {
    // Prepare
    const audit = auditEventFactory();
    const klog = cloudwatchLogEventFactory({ message: 'I0522 12:34:56.789012 1 a.go:1] "Started" port=443' });
    const files = [
      await inputFile('lambda-event.json', subscriptionEvent(dataMessageFactory({ cluster, logStream: 'kube-apiserver-1', logEvents: [klog] }))),
      await inputFile(
        'firehose-event.json',
        firehoseEvent([
          gzipPayload(
            dataMessageFactory({
              cluster,
              logStream: 'kube-apiserver-audit-1',
              logEvents: [cloudwatchLogEventFactory({ message: JSON.stringify(audit) })],
            }),
          ).toString('base64'),
        ]),
      ),
      await inputFile('decoded.json', dataMessageFactory({ cluster, logStream: 'kube-scheduler-1' })),
      await inputFile('kinesis-record.gz', gzipPayload(dataMessageFactory({ cluster, logStream: 'authenticator-1' }))),
      await inputFile(
        'captured.ndjson',
        [subscriptionEvent(controlMessageFactory()), subscriptionEvent(dataMessageFactory({ cluster, logStream: 'kube-controller-manager-1' }))]
          .map((e) => JSON.stringify(e))
          .join('\n'),
      ),
    ];
    const destination: DeliveryConfig = {
      tenant_id: tenant,
      type: 'file',
      enabled: true,
      desired_logs: [],
      groups: [],
      directory: `outputs/${tenant}`,
    };
    await withStores(dataDir, ({ configs }) => configs.put(destination));

    // Act
    const run = await tlr('ingest', 'cloudwatch', '--tenant', tenant, ...files);
    await deliver();

    // Assess
    expect(run).toEqual({
      code: 0,
      stdout:
        'Wrote 5 event(s) of 5 message(s) from 5 file(s) into 5 object(s); a running `tlr up` delivers them.\n' +
        'Ignored 1 control message(s).\n',
      stderr: '',
    });
    const delivered = await readAllNdjson(join(dataDir, 'outputs', tenant));
    expect(delivered.map((e) => e['application']).sort()).toEqual([
      'authenticator',
      'kube-apiserver',
      'kube-apiserver-audit',
      'kube-controller-manager',
      'kube-scheduler',
    ]);
    expect(delivered.every((e) => e['cluster_id'] === cluster && e['namespace'] === tenant)).toBe(true);
    expect(delivered.find((e) => e['application'] === 'kube-apiserver')).toMatchObject({
      message: klog.message,
      msg: 'Started',
      fields: { port: '443' },
      pod_name: 'kube-apiserver-1',
    });
    expect(delivered.find((e) => e['application'] === 'kube-apiserver-audit')).toMatchObject({
      message: JSON.stringify(audit),
      audit: { audit_id: audit['auditID'] },
    });
  });

  it('writes the analytics copy under _analytics/, which the processor skips', async () => {
    // Prepare
    const file = await inputFile('event.json', subscriptionEvent(dataMessageFactory({ cluster })));

    // Act
    const run = await tlr('ingest', 'cloudwatch', '--tenant', tenant, '--analytics', file);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('into 1 object(s) and 1 analytics object(s)');
    expect(await storedKeys('_analytics/eks/component=kube-apiserver/dt=2026-05-22/hour=12/')).toHaveLength(1);
    const queued = (await drainQueue(dataDir)).flatMap((m) => parseNotification(m.body).items.map((i) => i.key));
    expect(queued).toEqual(await storedKeys(`${cluster}/`));
  });

  it('writes the good payloads, names each refused one, and exits 1', async () => {
    // Prepare
    const good = await inputFile('good.json', subscriptionEvent(dataMessageFactory({ cluster })));
    const badBase64 = await inputFile('bad.json', { awslogs: { data: 'not*base64' } });
    const unknown = await inputFile('unknown.json', subscriptionEvent(dataMessageFactory({ cluster, logStream: 'etcd-0' })));
    const notJson = await inputFile('notes.txt', 'hello');

    // Act
    const run = await tlr('ingest', 'cloudwatch', '--tenant', tenant, good, badBase64, unknown, notJson);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('Wrote 1 event(s) of 1 message(s) from 4 file(s) into 1 object(s); a running `tlr up` delivers them.\n');
    expect(run.stderr).toBe(
      "Refused notes.txt is neither gzip nor JSON: Unexpected token 'h', \"hello\" is not valid JSON. (bad_json)\n" +
        'Refused bad.json awslogs.data is not base64: unexpected character at position 3 ("*"). (bad_base64)\n' +
        `Refused unknown.json awslogs.data: Log stream 'etcd-0' of '/aws/eks/${cluster}/cluster' is not an EKS control-plane ` +
        'stream; expected a name starting with one of kube-apiserver-audit, kube-apiserver, kube-scheduler, authenticator, ' +
        'kube-controller-manager, cloud-controller-manager. (unknown_log_stream)\n' +
        'Error: 3 payload(s) were refused; the others were written.\n',
    );
    expect(await storedKeys(`${cluster}/`)).toHaveLength(1);
  });

  it('prints the summary as JSON with --json', async () => {
    // Prepare
    const file = await inputFile('event.json', subscriptionEvent(dataMessageFactory({ cluster })));

    // Act
    const run = await runCli(['--data-dir', dataDir, '--json', 'ingest', 'cloudwatch', '--tenant', tenant, '--cluster', 'prod', file]);

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      dataMessages: 1,
      controlMessages: 0,
      refusedMessages: 0,
      events: 1,
      centralKeys: [expect.stringMatching(new RegExp(`^prod/${tenant}/kube-apiserver/`))],
      analyticsKeys: [],
      refusals: [],
    });
  });

  it.each([
    { name: 'no tenant', args: [], stderr: 'Error: Name the tenant that owns the logs: --tenant or EKS_TENANT.\n' },
    {
      name: 'a bad tenant and cluster',
      args: ['--tenant', 'Acme', '--cluster', '_x'],
      stderr:
        'Error: --tenant must be a Kubernetes namespace name (lowercase letters, digits and "-", 1-63 characters). ' +
        "--cluster must not start with '_' (kept for the router's own keys).\n",
    },
  ])('refuses $name before reading anything', async ({ args, stderr }) => {
    // Act
    const run = await tlr('ingest', 'cloudwatch', ...args, join(inputDir, 'missing.json'));

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr });
  });

  it('names a file it cannot read', async () => {
    // Act
    const run = await tlr('ingest', 'cloudwatch', '--tenant', tenant, join(inputDir, 'missing.json'));

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: Cannot read '.*missing\.json': ENOENT/);
  });
});
