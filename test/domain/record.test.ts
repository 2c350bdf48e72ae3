import { describe, expect, it } from 'vitest';
import {
  COLLECTOR_METADATA_FIELDS,
  LineSkipReason,
  type LogRecord,
  messageText,
  parseNdjsonLine,
  toLogRecord,
} from '../../src/domain/record.js';
import { randomId } from '../helpers/factories.js';

const FALLBACK = Date.UTC(2021, 5, 1, 12, 0, 0);

function recordOf(event: Record<string, unknown>): LogRecord {
  return toLogRecord({ event, json: JSON.stringify(event) }, 0, FALLBACK);
}

describe('parseNdjsonLine', () => {
  it('parses an object line and keeps its original text as json', () => {
    // Prepare
    const message = `hello ${randomId()}`;
    const line = `{"message":  "${message}", "n": 1.50, "nested": {"a": [1, 2]}}`;

    // Act
    const parsed = parseNdjsonLine(line);

    // Assess
    expect(parsed).toEqual({
      ok: true,
      events: [{ event: { message, n: 1.5, nested: { a: [1, 2] } }, json: line }],
      skipped: 0,
    });
  });

  it('trims surrounding whitespace from the kept text', () => {
    // Prepare
    const line = '  {"message":"hi"}\r';

    // Act
    const parsed = parseNdjsonLine(line);

    // Assess
    expect(parsed).toEqual({
      ok: true,
      events: [{ event: { message: 'hi' }, json: '{"message":"hi"}' }],
      skipped: 0,
    });
  });

  it('expands an array line to its object elements, in order, skipping the rest', () => {
    // Prepare
    const line = '[{"message":"a"}, 42, "text", null, [{"x":1}], {"message":"b", "n": 2}]';

    // Act
    const parsed = parseNdjsonLine(line);

    // Assess
    expect(parsed).toEqual({
      ok: true,
      events: [
        { event: { message: 'a' }, json: '{"message":"a"}' },
        { event: { message: 'b', n: 2 }, json: '{"message":"b","n":2}' },
      ],
      skipped: 4,
    });
  });

  it.each([
    { name: 'an empty line', line: '', reason: LineSkipReason.BLANK },
    { name: 'a line of whitespace', line: ' \t ', reason: LineSkipReason.BLANK },
    { name: 'truncated JSON', line: '{"message": "hel', reason: LineSkipReason.INVALID_JSON },
    { name: 'plain text', line: 'hello world', reason: LineSkipReason.INVALID_JSON },
    { name: 'two objects on one line', line: '{"a":1}{"b":2}', reason: LineSkipReason.INVALID_JSON },
    { name: 'a number', line: '42', reason: LineSkipReason.NOT_AN_OBJECT },
    { name: 'a string', line: '"hello"', reason: LineSkipReason.NOT_AN_OBJECT },
    { name: 'null', line: 'null', reason: LineSkipReason.NOT_AN_OBJECT },
    { name: 'an empty array', line: '[]', reason: LineSkipReason.NOT_AN_OBJECT },
    { name: 'an array without objects', line: '[1, "a", null]', reason: LineSkipReason.NOT_AN_OBJECT },
  ])('skips $name with reason $reason', ({ line, reason }) => {
    // Prepare
    // Act
    const parsed = parseNdjsonLine(line);
    // Assess
    expect(parsed).toEqual({ ok: false, reason, skipped: 1 });
  });
});

describe('toLogRecord', () => {
  it("takes the timestamp from the event's timestamp field", () => {
    // Prepare
    const event = { message: 'hi', timestamp: '2024-01-15T10:30:00-05:00' };
    const json = JSON.stringify(event);

    // Act
    const record = toLogRecord({ event, json }, 7, FALLBACK);

    // Assess
    expect(record).toEqual({ offset: 7, timestampMs: 1_705_332_600_000, event, json });
  });

  it.each([
    { name: 'no timestamp', event: { message: 'hi' } },
    { name: 'an unparsable timestamp', event: { message: 'hi', timestamp: 'soon' } },
    { name: 'an impossible date', event: { message: 'hi', timestamp: '2024-02-30T00:00:00Z' } },
  ])('uses the fallback time for an event with $name', ({ event }) => {
    // Prepare
    const json = JSON.stringify(event);

    // Act
    const record = toLogRecord({ event, json }, 0, FALLBACK);

    // Assess
    expect(record.timestampMs).toBe(FALLBACK);
  });
});

describe('messageText', () => {
  it.each([
    {
      name: 'a string message as is',
      event: { message: 'GET /healthz 200', pod_name: 'p' },
      text: 'GET /healthz 200',
    },
    { name: 'an empty string message as is', event: { message: '' }, text: '' },
    { name: 'a number message JSON-encoded', event: { message: 42 }, text: '42' },
    { name: 'a null message JSON-encoded', event: { message: null }, text: 'null' },
    {
      name: 'an object message JSON-encoded',
      event: { message: { level: 'info', msg: 'ok' }, namespace: 'ns' },
      text: '{"level":"info","msg":"ok"}',
    },
    {
      name: 'an event without message as the event minus collector metadata',
      event: {
        level: 'warn',
        timestamp: '2024-01-15T15:30:00Z',
        cluster_id: 'c1',
        namespace: 'team-a',
        application: 'app',
        pod_name: 'pod-1',
        kubernetes: { pod_uid: 'u' },
        source_type: 'kubernetes_logs',
        file: '/var/log/pods/x.log',
        stream: 'stdout',
        detail: { code: 7 },
      },
      text: '{"level":"warn","detail":{"code":7}}',
    },
    {
      name: 'an event of metadata only as an empty object',
      event: { timestamp: 'x', namespace: 'ns' },
      text: '{}',
    },
  ])('returns $name', ({ event, text }) => {
    // Prepare
    // Act
    const result = messageText(recordOf(event));
    // Assess
    expect(result).toBe(text);
  });

  it('drops exactly the collector metadata fields', () => {
    // Prepare
    const event = Object.fromEntries(COLLECTOR_METADATA_FIELDS.map((field) => [field, randomId()]));

    // Act
    const text = messageText(recordOf({ ...event, kept: 1 }));

    // Assess
    expect(COLLECTOR_METADATA_FIELDS).toEqual([
      'timestamp',
      'cluster_id',
      'namespace',
      'application',
      'pod_name',
      'kubernetes',
      'source_type',
      'file',
      'stream',
    ]);
    expect(text).toBe('{"kept":1}');
  });
});
