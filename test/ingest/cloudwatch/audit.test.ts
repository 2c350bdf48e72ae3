import { describe, expect, it } from 'vitest';
import { AUDIT_COLUMNS, flattenAuditEvent, parseAuditLine } from '../../../src/ingest/cloudwatch/index.js';
import { auditEventFactory } from '../../helpers/cloudwatch-logs.js';

describe('flattenAuditEvent', () => {
  it('flattens an audit event into the stable columns', () => {
    // Prepare
    const event = auditEventFactory({
      objectRef: { resource: 'deployments', namespace: 'team-a', name: 'web', apiGroup: 'apps', apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 201 },
    });

    // Act
    const columns = flattenAuditEvent(event);

    // Assess
    expect(columns).toEqual({
      audit_id: event['auditID'],
      stage: 'ResponseComplete',
      verb: 'list',
      request_uri: '/api/v1/namespaces/team-a/pods?limit=500',
      user_username: 'system:serviceaccount:team-a:deployer',
      user_groups: ['system:serviceaccounts', 'system:authenticated'],
      user_agent: 'kubectl/v1.30.0 (linux/amd64) kubernetes/abc1234',
      source_ips: ['10.0.12.7'],
      object_resource: 'deployments',
      object_namespace: 'team-a',
      object_name: 'web',
      object_api_group: 'apps',
      object_api_version: 'v1',
      response_code: 201,
      request_received_timestamp: '2026-05-22T12:34:56.123456Z',
      stage_timestamp: '2026-05-22T12:34:56.130001Z',
      annotations: '{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}',
    });
  });

  it('leaves out what the event lacks (a RequestReceived stage has no response)', () => {
    // Prepare
    const event = auditEventFactory({ stage: 'RequestReceived', responseStatus: undefined, annotations: undefined, objectRef: undefined });

    // Act
    const columns = flattenAuditEvent(JSON.parse(JSON.stringify(event)) as Record<string, unknown>);

    // Assess
    expect(columns).not.toHaveProperty('response_code');
    expect(columns).not.toHaveProperty('annotations');
    expect(columns).not.toHaveProperty('object_resource');
    expect(columns.stage).toBe('RequestReceived');
  });

  it('leaves out values of the wrong type rather than coercing them', () => {
    // Prepare
    const event = auditEventFactory({
      verb: 7,
      user: { username: ['a'], groups: ['ok', 3] },
      sourceIPs: '10.0.0.1',
      responseStatus: { code: '200' },
      annotations: 'not-an-object',
    });

    // Act
    const columns = flattenAuditEvent(event);

    // Assess
    for (const name of ['verb', 'user_username', 'user_groups', 'source_ips', 'response_code', 'annotations']) {
      expect(columns).not.toHaveProperty(name);
    }
  });

  it('names every column in snake_case, which Athena accepts without quoting rules', () => {
    expect(AUDIT_COLUMNS.every((c) => /^[a-z][a-z0-9_]*$/.test(c.name))).toBe(true);
    expect(new Set(AUDIT_COLUMNS.map((c) => c.name)).size).toBe(AUDIT_COLUMNS.length);
  });
});

describe('parseAuditLine', () => {
  it.each([
    { name: 'not JSON', line: 'I0522 12:34:56.789012 1 a.go:1] x' },
    { name: 'a JSON array', line: '[1,2]' },
    { name: 'a JSON string', line: '"event"' },
  ])('returns nothing for $name', ({ line }) => {
    expect(parseAuditLine(line)).toBeUndefined();
  });

  it('flattens a JSON line', () => {
    expect(parseAuditLine(JSON.stringify(auditEventFactory({ verb: 'delete' })))?.verb).toBe('delete');
  });
});
