import { describe, expect, it } from 'vitest';
import {
  EventRejectReason,
  MAX_REPORTED_BAD_LINES,
  parseJsonBody,
  parseNdjsonBody,
  readEventIdentity,
  toBufferedEvent,
  UNKNOWN_SEGMENT,
} from '../../../src/ingest/http/events.js';

describe('parseNdjsonBody', () => {
  it('reads one event per line, skipping blank lines and tolerating CRLF', () => {
    // Prepare
    const body = '{"a":1}\r\n\n{"a":2}\n';

    // Act
    const parsed = parseNdjsonBody(body);

    // Assess
    expect(parsed).toEqual({
      ok: true,
      events: [
        { value: { a: 1 }, line: 1 },
        { value: { a: 2 }, line: 3 },
      ],
    });
  });

  it('expands a line holding an array, keeping its line number for every element', () => {
    // Prepare
    const body = '{"a":1}\n[{"a":2},{"a":3}]';

    // Act
    const parsed = parseNdjsonBody(body);

    // Assess
    expect(parsed).toEqual({
      ok: true,
      events: [
        { value: { a: 1 }, line: 1 },
        { value: { a: 2 }, line: 2 },
        { value: { a: 3 }, line: 2 },
      ],
    });
  });

  it('fails the whole body on a line that is not JSON, naming the line', () => {
    // Prepare
    const body = '{"a":1}\n{"a":\n{"a":3}';

    // Act
    const parsed = parseNdjsonBody(body);

    // Assess
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.message).toMatch(/^The body is not valid NDJSON: Line 2 is not valid JSON: .+\.$/);
    expect(parsed.lines).toEqual([{ line: 2, message: expect.stringMatching(/^Line 2 is not valid JSON/) }]);
  });

  it('lists at most a fixed number of bad lines and counts them all', () => {
    // Prepare
    const body = Array.from({ length: MAX_REPORTED_BAD_LINES + 5 }, () => 'nope').join('\n');

    // Act
    const parsed = parseNdjsonBody(body);

    // Assess
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.lines).toHaveLength(MAX_REPORTED_BAD_LINES);
    expect(parsed.message).toContain(`(${MAX_REPORTED_BAD_LINES + 5} bad lines in all)`);
  });
});

describe('parseJsonBody', () => {
  it.each([
    ['an array of events', '[{"a":1},{"a":2}]', [{ value: { a: 1 } }, { value: { a: 2 } }]],
    ['one event', '{"a":1}', [{ value: { a: 1 } }]],
    ['an array holding a non-object', '[1]', [{ value: 1 }]],
  ])('reads %s', (_case, body, events) => {
    // Act
    const parsed = parseJsonBody(body);

    // Assess
    expect(parsed).toEqual({ ok: true, events });
  });

  it.each([
    ['invalid JSON', '[{"a":1}', /^The body is not valid JSON: .+\.$/],
    ['an empty body', '', /^The body is not valid JSON/],
    ['a scalar', '"hello"', /must be a JSON object or an array/],
  ])('refuses %s', (_case, body, message) => {
    // Act
    const parsed = parseJsonBody(body);

    // Assess
    expect(parsed).toEqual({ ok: false, message: expect.stringMatching(message), lines: [] });
  });
});

describe('readEventIdentity', () => {
  it.each([
    [
      'the flat Vector layout',
      { message: 'm', namespace: 'team-a', application: 'api', pod_name: 'api-1', cluster_id: 'c1' },
      { namespace: 'team-a', application: 'api', podName: 'api-1', declaredClusterId: 'c1' },
    ],
    [
      'the Vector kubernetes_logs layout',
      {
        message: 'm',
        kubernetes: {
          pod_namespace: 'team-a',
          pod_name: 'api-1',
          pod_labels: { app: 'api' },
          container_name: 'c',
        },
      },
      { namespace: 'team-a', application: 'api', podName: 'api-1', declaredClusterId: undefined },
    ],
    [
      'the Fluent Bit layout',
      {
        log: 'm',
        kubernetes: {
          namespace_name: 'team-b',
          pod_name: 'web-1',
          labels: { app: 'web' },
          container_name: 'nginx',
        },
      },
      { namespace: 'team-b', application: 'web', podName: 'web-1', declaredClusterId: undefined },
    ],
    [
      'a container name when there is no app label',
      { kubernetes: { namespace_name: 'team-b', pod_name: 'web-1', container_name: 'nginx' } },
      { namespace: 'team-b', application: 'nginx', podName: 'web-1', declaredClusterId: undefined },
    ],
    [
      'unknown application and pod when the event names neither',
      { namespace: 'team-a' },
      {
        namespace: 'team-a',
        application: UNKNOWN_SEGMENT,
        podName: UNKNOWN_SEGMENT,
        declaredClusterId: undefined,
      },
    ],
    [
      'flat fields over kubernetes ones',
      {
        namespace: 'flat',
        application: 'flat-app',
        kubernetes: { pod_namespace: 'nested', pod_labels: { app: 'x' } },
      },
      { namespace: 'flat', application: 'flat-app', podName: UNKNOWN_SEGMENT, declaredClusterId: undefined },
    ],
    [
      'kubernetes fields when the flat ones are null',
      { namespace: null, kubernetes: { pod_namespace: 'nested' } },
      {
        namespace: 'nested',
        application: UNKNOWN_SEGMENT,
        podName: UNKNOWN_SEGMENT,
        declaredClusterId: undefined,
      },
    ],
  ])('reads %s', (_case, event, identity) => {
    // Act
    const result = readEventIdentity(event);

    // Assess
    expect(result).toEqual({ ok: true, event, identity });
  });

  it.each([
    ['a string', 'hello', EventRejectReason.NOT_AN_OBJECT, 'not a JSON object'],
    ['an array', [{ namespace: 'a' }], EventRejectReason.NOT_AN_OBJECT, 'not a JSON object'],
    ['null', null, EventRejectReason.NOT_AN_OBJECT, 'not a JSON object'],
    ['an event without namespace', { message: 'm' }, EventRejectReason.MISSING_NAMESPACE, "set 'namespace'"],
    [
      'a numeric namespace',
      { namespace: 7 },
      EventRejectReason.INVALID_NAMESPACE,
      "'namespace' must be a string",
    ],
    [
      'a namespace with a slash',
      { namespace: 'a/b' },
      EventRejectReason.INVALID_NAMESPACE,
      "'namespace' value 'a/b'",
    ],
    [
      'a blank namespace',
      { namespace: ' ' },
      EventRejectReason.INVALID_NAMESPACE,
      'not a valid object key segment',
    ],
    ['a dot-dot namespace', { namespace: '..' }, EventRejectReason.INVALID_NAMESPACE, "starts with '.'"],
    ['a too long namespace', { namespace: 'n'.repeat(256) }, EventRejectReason.INVALID_NAMESPACE, 'longer than 255 bytes'],
    ['a namespace of 128 two-byte characters (256 bytes)', { namespace: 'é'.repeat(128) }, EventRejectReason.INVALID_NAMESPACE, 'longer than 255 bytes'],
    ['a hidden-file namespace', { namespace: '.tmp-x' }, EventRejectReason.INVALID_NAMESPACE, "starts with '.'"],
    [
      'a nested namespace with a slash',
      { kubernetes: { namespace_name: 'x/y' } },
      EventRejectReason.INVALID_NAMESPACE,
      "'kubernetes.namespace_name'",
    ],
    [
      'an app label that is not a string',
      { namespace: 'a', kubernetes: { pod_labels: { app: 1 } } },
      EventRejectReason.INVALID_APPLICATION,
      "'kubernetes.pod_labels.app' must be a string",
    ],
    [
      'a pod name with a slash',
      { namespace: 'a', pod_name: 'p/1' },
      EventRejectReason.INVALID_POD_NAME,
      "'pod_name'",
    ],
    [
      'a numeric cluster id',
      { namespace: 'a', cluster_id: 5 },
      EventRejectReason.INVALID_CLUSTER_ID,
      "'cluster_id'",
    ],
  ])('rejects %s with a precise message', (_case, event, reason, message) => {
    // Act
    const result = readEventIdentity(event);

    // Assess
    expect(result).toEqual({ ok: false, reason, message: expect.stringContaining(message) });
  });
});

describe('toBufferedEvent', () => {
  it('fills in the flat cluster, namespace, application and pod, keeping existing fields in place', () => {
    // Prepare
    const event = {
      message: 'hello',
      namespace: 'team-a',
      kubernetes: { pod_name: 'api-1', pod_labels: { app: 'api' } },
    };
    const result = readEventIdentity(event);
    if (!result.ok) throw new Error('expected an identity');

    // Act
    const buffered = toBufferedEvent(result.event, result.identity, 'c1');

    // Assess
    expect(buffered).toMatchObject({
      clusterId: 'c1',
      namespace: 'team-a',
      application: 'api',
      podName: 'api-1',
    });
    expect(Object.keys(JSON.parse(buffered.line))).toEqual([
      'message',
      'namespace',
      'kubernetes',
      'cluster_id',
      'application',
      'pod_name',
    ]);
    expect(JSON.parse(buffered.line)).toEqual({
      ...event,
      cluster_id: 'c1',
      application: 'api',
      pod_name: 'api-1',
    });
  });
});
