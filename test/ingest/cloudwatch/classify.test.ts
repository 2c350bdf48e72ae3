import { describe, expect, it } from 'vitest';
import { MAX_KEY_SEGMENT_BYTES, isValidKeySegment } from '../../../src/domain/index.js';
import {
  classifyDataMessage,
  classifyLogStream,
  clusterFromLogGroup,
  type DataMessage,
  EKS_COMPONENTS,
  podSegmentFromLogStream,
  readSubscriptionPayload,
} from '../../../src/ingest/cloudwatch/index.js';
import { auditEventFactory, cloudwatchLogEventFactory, dataMessageFactory } from '../../helpers/cloudwatch-logs.js';
import { randomId } from '../../helpers/factories.js';

function dataMessage(overrides: Parameters<typeof dataMessageFactory>[0] = {}): DataMessage {
  return readSubscriptionPayload(dataMessageFactory(overrides)) as DataMessage;
}

describe('classifyLogStream', () => {
  it.each([
    { stream: 'kube-apiserver-audit-0f5c8e7d1a2b3c4d', component: 'kube-apiserver-audit' },
    { stream: 'kube-apiserver-0f5c8e7d1a2b3c4d', component: 'kube-apiserver' },
    { stream: 'kube-scheduler-0f5c8e7d1a2b3c4d', component: 'kube-scheduler' },
    { stream: 'authenticator-0f5c8e7d1a2b3c4d', component: 'authenticator' },
    { stream: 'kube-controller-manager-0f5c8e7d1a2b3c4d', component: 'kube-controller-manager' },
    { stream: 'cloud-controller-manager-0f5c8e7d1a2b3c4d', component: 'cloud-controller-manager' },
    { stream: 'kube-apiserver', component: 'kube-apiserver' },
  ])('classifies $stream as $component', ({ stream, component }) => {
    expect(classifyLogStream(stream)).toBe(component);
  });

  it.each([
    { name: 'an unknown prefix', stream: 'etcd-0f5c8e7d' },
    { name: 'a known prefix without the dash', stream: 'kube-apiserverX' },
    { name: 'a prefix in the middle', stream: 'x-kube-apiserver-1' },
    { name: 'an empty name', stream: '' },
  ])('does not classify $name', ({ stream }) => {
    expect(classifyLogStream(stream)).toBeUndefined();
  });

  it('knows the six components EKS writes', () => {
    expect(EKS_COMPONENTS).toHaveLength(6);
  });
});

describe('clusterFromLogGroup', () => {
  it.each([
    { group: '/aws/eks/prod-eu-1/cluster', cluster: 'prod-eu-1' },
    { group: '/aws/eks/prod/cluster/extra', cluster: undefined },
    { group: '/aws/lambda/fn', cluster: undefined },
    { group: '/aws/eks//cluster', cluster: undefined },
  ])('reads $group as $cluster', ({ group, cluster }) => {
    expect(clusterFromLogGroup(group)).toBe(cluster);
  });
});

describe('podSegmentFromLogStream', () => {
  it.each([
    { name: 'keeps a valid name', stream: 'kube-apiserver-0f5c8e7d', segment: 'kube-apiserver-0f5c8e7d' },
    { name: "replaces '/'", stream: 'kube-apiserver/a/b', segment: 'kube-apiserver_a_b' },
    { name: 'replaces control characters', stream: 'a\u0000b\nc\u007fd', segment: 'a_b_c_d' },
    { name: "replaces a leading '.'", stream: '..hidden', segment: '_.hidden' },
    { name: 'names a blank stream unknown', stream: '   ', segment: 'unknown' },
  ])('$name', ({ stream, segment }) => {
    expect(podSegmentFromLogStream(stream)).toBe(segment);
    expect(isValidKeySegment(podSegmentFromLogStream(stream))).toBe(true);
  });

  it('cuts a long name to the segment limit without splitting a character', () => {
    // Prepare
    const stream = `kube-apiserver-${'é'.repeat(300)}`;

    // Act
    const segment = podSegmentFromLogStream(stream);

    // Assess
    expect(Buffer.byteLength(segment, 'utf8')).toBeLessThanOrEqual(MAX_KEY_SEGMENT_BYTES);
    expect(segment.endsWith('é')).toBe(true);
    expect(isValidKeySegment(segment)).toBe(true);
  });
});

describe('classifyDataMessage', () => {
  it('gives every event the key parts: cluster from the log group, tenant, component, pod', () => {
    // Prepare
    const cluster = `eks-${randomId()}`;
    const payload = dataMessage({ cluster, logStream: 'kube-scheduler-abc123' });

    // Act
    const result = classifyDataMessage(payload, { tenant: 'acme' });

    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.component).toBe('kube-scheduler');
    expect(result.records).toHaveLength(1);
    expect(result.records[0]).toMatchObject({
      cluster,
      tenant: 'acme',
      component: 'kube-scheduler',
      pod: 'kube-scheduler-abc123',
      logGroup: `/aws/eks/${cluster}/cluster`,
      logStream: 'kube-scheduler-abc123',
      eventId: payload.logEvents[0]!.id,
      cloudwatchTimestampMs: payload.logEvents[0]!.timestamp,
      message: payload.logEvents[0]!.message,
      time: '2026-05-22T12:34:56.789012Z',
      parsed: { format: 'klog' },
    });
  });

  it('prefers the configured cluster name to the log group', () => {
    // Act
    const result = classifyDataMessage(dataMessage({ logGroup: '/custom/group' }), { tenant: 'acme', clusterName: 'prod' });

    // Assess
    expect(result.ok && result.records[0]!.cluster).toBe('prod');
  });

  it('reads audit streams as audit JSON, and keeps a line that is not JSON as plain', () => {
    // Prepare
    const audit = auditEventFactory();
    const payload = dataMessage({
      logStream: 'kube-apiserver-audit-1',
      logEvents: [
        cloudwatchLogEventFactory({ message: JSON.stringify(audit) }),
        cloudwatchLogEventFactory({ message: 'not json', timestamp: Date.UTC(2026, 0, 2, 3, 4, 5, 6) }),
      ],
    });

    // Act
    const result = classifyDataMessage(payload, { tenant: 'acme' });

    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.records[0]!.parsed).toMatchObject({ format: 'audit', audit: { audit_id: audit['auditID'], verb: 'list' } });
    expect(result.records[1]!.parsed).toEqual({ format: 'plain' });
    expect(result.records[1]!.time).toBe('2026-01-02T03:04:05.006Z');
  });

  it('reads authenticator logfmt lines and takes their time', () => {
    // Prepare
    const payload = dataMessage({
      logStream: 'authenticator-1',
      logEvents: [cloudwatchLogEventFactory({ message: 'time="2026-05-22T12:34:50Z" level=info msg="access granted"' })],
    });

    // Act
    const result = classifyDataMessage(payload, { tenant: 'acme' });

    // Assess
    expect(result.ok && result.records[0]!.parsed).toEqual({
      format: 'logfmt',
      level: 'info',
      fields: { time: '2026-05-22T12:34:50Z', level: 'info', msg: 'access granted' },
    });
    expect(result.ok && result.records[0]!.time).toBe('2026-05-22T12:34:50Z');
  });

  it('refuses a stream that is not an EKS control-plane stream, naming it and the known prefixes', () => {
    // Act
    const result = classifyDataMessage(dataMessage({ cluster: 'prod', logStream: 'etcd-1' }), { tenant: 'acme' });

    // Assess
    expect(result).toEqual({
      ok: false,
      reason: 'unknown_log_stream',
      message:
        "Log stream 'etcd-1' of '/aws/eks/prod/cluster' is not an EKS control-plane stream; expected a name starting " +
        'with one of kube-apiserver-audit, kube-apiserver, kube-scheduler, authenticator, kube-controller-manager, ' +
        'cloud-controller-manager.',
    });
  });

  it.each([
    { name: 'a group that names no cluster', logGroup: '/custom/group', message: /is not named '\/aws\/eks\/<cluster>\/cluster'/ },
    { name: "a cluster starting with '_'", logGroup: '/aws/eks/_internal/cluster', message: /must not start with '_'/ },
  ])('refuses $name without a configured cluster', ({ logGroup, message }) => {
    // Act
    const result = classifyDataMessage(dataMessage({ logGroup }), { tenant: 'acme' });

    // Assess
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toBe('unknown_cluster');
    expect(!result.ok && result.message).toMatch(message);
  });
});
