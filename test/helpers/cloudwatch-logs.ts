import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { randomId } from './factories.js';

/** A CloudWatch event id: 56 digits, as CloudWatch Logs writes them. */
export function cloudwatchEventId(): string {
  let id = '';
  while (id.length < 56) id += String(Math.floor(Math.random() * 1e15)).padStart(15, '0');
  return id.slice(0, 56);
}

/** One subscription log event. */
export function cloudwatchLogEventFactory(
  overrides: Partial<{ id: string; timestamp: number; message: string }> = {},
): { id: string; timestamp: number; message: string } {
  return {
    id: cloudwatchEventId(),
    timestamp: Date.UTC(2026, 4, 22, 12, 34, 56, 789),
    message: `I0522 12:34:56.789012       1 server.go:42] "Request handled" id="${randomId()}"`,
    ...overrides,
  };
}

/** A `DATA_MESSAGE` of a random EKS cluster's log group. */
export function dataMessageFactory(
  overrides: Partial<{
    cluster: string;
    logGroup: string;
    logStream: string;
    logEvents: { id: string; timestamp: number; message: string }[];
  }> = {},
): Record<string, unknown> {
  const cluster = overrides.cluster ?? `eks-${randomId()}`;
  return {
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: overrides.logGroup ?? `/aws/eks/${cluster}/cluster`,
    logStream: overrides.logStream ?? `kube-apiserver-${randomUUID().replaceAll('-', '')}`,
    subscriptionFilters: ['eks-control-plane'],
    logEvents: overrides.logEvents ?? [cloudwatchLogEventFactory()],
  };
}

/** The `CONTROL_MESSAGE` CloudWatch Logs sends to check a destination. */
export function controlMessageFactory(): Record<string, unknown> {
  return {
    messageType: 'CONTROL_MESSAGE',
    owner: 'CloudwatchLogs',
    logGroup: '',
    logStream: '',
    subscriptionFilters: [],
    logEvents: [{ id: '', timestamp: Date.now(), message: 'CWL CONTROL MESSAGE: Checking health of destination.' }],
  };
}

/** A payload as delivered: gzip of its JSON. */
export function gzipPayload(payload: unknown): Buffer {
  return gzipSync(JSON.stringify(payload));
}

/** The Lambda subscription event for a payload: `{"awslogs":{"data": base64(gzip(json))}}`. */
export function subscriptionEvent(payload: unknown): { awslogs: { data: string } } {
  return { awslogs: { data: gzipPayload(payload).toString('base64') } };
}

/** A Firehose transformation event whose records hold the given base64 data. */
export function firehoseEvent(datas: readonly string[]): {
  invocationId: string;
  deliveryStreamArn: string;
  region: string;
  records: { recordId: string; approximateArrivalTimestamp: number; data: string }[];
} {
  return {
    invocationId: randomUUID(),
    deliveryStreamArn: 'arn:aws:firehose:us-east-1:123456789012:deliverystream/eks-logs',
    region: 'us-east-1',
    records: datas.map((data, i) => ({
      recordId: `${i}-${randomId()}`,
      approximateArrivalTimestamp: Date.now(),
      data,
    })),
  };
}

/** A Kubernetes audit event (`audit.k8s.io/v1`), as the `kube-apiserver-audit` stream holds them. */
export function auditEventFactory(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: randomUUID(),
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/team-a/pods?limit=500',
    verb: 'list',
    user: { username: 'system:serviceaccount:team-a:deployer', uid: randomUUID(), groups: ['system:serviceaccounts', 'system:authenticated'] },
    sourceIPs: ['10.0.12.7'],
    userAgent: 'kubectl/v1.30.0 (linux/amd64) kubernetes/abc1234',
    objectRef: { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: '2026-05-22T12:34:56.123456Z',
    stageTimestamp: '2026-05-22T12:34:56.130001Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
    ...overrides,
  };
}
