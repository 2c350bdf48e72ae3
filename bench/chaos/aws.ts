/**
 * The AWS side of the chaos harness: a central deployment on moto (bucket → SNS → SQS
 * notifications, the router's DynamoDB tables; `test/helpers/aws-e2e.ts`) with the fault proxy
 * between `tlr process --mode sqs` and moto, delivery configs, and objects of chaos events.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  type CentralDeployment,
  customerRole,
  putConfigRows,
  startCentralDeployment,
  stopCentralDeployment,
} from '../../test/helpers/aws-e2e.js';
import { motoUnavailable } from '../../test/helpers/moto.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { chaosEvent, type Child, seededRandom, spawnChild, TLR_BIN } from './lib.js';

export { motoUnavailable };

/** The cluster id in the keys and events of the AWS scenarios. */
export const AWS_CLUSTER_ID = 'c1';

export interface ChaosDeployment {
  readonly central: CentralDeployment;
  readonly proxy: FaultProxy;
  /** The environment of `tlr process`: every router AWS call goes through the fault proxy. */
  readonly env: Record<string, string>;
}

/** Starts moto, the central deployment and the fault proxy (its draws seeded by `seed`). */
export async function startChaosDeployment(seed: number): Promise<ChaosDeployment> {
  process.env['AWS_ACCESS_KEY_ID'] = 'testing';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'testing';
  process.env['AWS_REGION'] = 'us-east-1';
  delete process.env['AWS_SESSION_TOKEN'];
  delete process.env['AWS_PROFILE'];
  const central = await startCentralDeployment();
  const proxy = await startFaultProxy(central.moto.endpoint, seededRandom(seed));
  return {
    central,
    proxy,
    env: { ...central.env, AWS_ENDPOINT_URL: proxy.endpoint, LOG_LEVEL: 'WARN', SQS_WAIT_SECONDS: '1' },
  };
}

/** Stops the proxy, the clients and moto (by PID; it is resumed first if it was paused). */
export async function stopChaosDeployment(d: ChaosDeployment | undefined): Promise<void> {
  if (!d) return;
  try {
    process.kill(d.central.moto.pid, 'SIGCONT');
  } catch {
    // Already gone.
  }
  await d.proxy.close();
  await stopCentralDeployment(d.central);
}

/** One `file` destination per tenant, `<outDir>/<tenant>`. */
export async function putFileConfigs(d: ChaosDeployment, tenants: readonly string[], outDir: string): Promise<void> {
  await putConfigRows(
    d.central,
    tenants.map((tenant) => ({ tenant_id: { S: tenant }, type: { S: 'file' }, directory: { S: `${outDir}/${tenant}` } })),
  );
}

/** The CloudWatch Logs log group of a tenant's destination. */
export const logGroupOf = (tenant: string) => `/chaos/${tenant}`;

/** A `cloudwatch` destination in the tenant's account (role assumed through the central role). */
export async function putCloudwatchConfig(d: ChaosDeployment, tenant: string): Promise<void> {
  await putConfigRows(d.central, [
    {
      tenant_id: { S: tenant },
      type: { S: 'cloudwatch' },
      log_distribution_role_arn: { S: customerRole(tenant) },
      log_group_name: { S: logGroupOf(tenant) },
    },
  ]);
}

function keyTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
}

/**
 * Puts one gzip NDJSON object of chaos events `seqs` of `tenant` into the central bucket (straight
 * to moto, not through the proxy); its notification reaches the queue through SNS.
 */
export async function putEventsObject(d: ChaosDeployment, tenant: string, seqs: readonly number[]): Promise<void> {
  const now = Date.now();
  const body = gzipSync(`${seqs.map((seq) => JSON.stringify(chaosEvent(tenant, seq, AWS_CLUSTER_ID, now))).join('\n')}\n`);
  const key = `${AWS_CLUSTER_ID}/${tenant}/app/app-0/${keyTime(now)}-${randomUUID()}.json.gz`;
  await d.central.s3.send(new PutObjectCommand({ Bucket: d.central.central, Key: key, Body: body }));
}

/** Starts `node bin/tlr.js process --mode sqs` on the deployment (stop it by PID). */
export function startTlrProcess(d: ChaosDeployment, extraEnv: Record<string, string> = {}): Child {
  return spawnChild(process.execPath, [TLR_BIN, 'process', '--mode', 'sqs'], { ...process.env, ...d.env, ...extraEnv });
}
