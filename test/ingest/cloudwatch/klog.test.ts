import { describe, expect, it } from 'vitest';
import {
  parseKlogLine,
  parseLogfmtLine,
  splitMessageAndFields,
  unquoteGoString,
} from '../../../src/ingest/cloudwatch/index.js';

/** When CloudWatch stored the events of these tests, unless a case says otherwise. */
const STORED_MS = Date.UTC(2026, 4, 22, 12, 35, 0);

describe('parseKlogLine', () => {
  describe.each([
    { letter: 'I', level: 'info' },
    { letter: 'W', level: 'warning' },
    { letter: 'E', level: 'error' },
    { letter: 'F', level: 'fatal' },
  ])('severity $letter', ({ letter, level }) => {
    it(`reads the header letter ${letter} as level ${level}`, () => {
      // Prepare
      const line = `${letter}0522 12:34:56.789012       1 server.go:42] Something happened`;

      // Act
      const parsed = parseKlogLine(line, STORED_MS);

      // Assess
      expect(parsed?.level).toBe(level);
    });
  });

  it('reads time, thread id, source, message and key/value fields', () => {
    // Prepare
    const line = 'I0522 12:34:56.789012  4711 file.go:123] msg key="v" k2=v2';

    // Act
    const parsed = parseKlogLine(line, STORED_MS);

    // Assess
    expect(parsed).toEqual({
      level: 'info',
      timeMs: Date.UTC(2026, 4, 22, 12, 34, 56, 789),
      time: '2026-05-22T12:34:56.789012Z',
      threadId: 4711,
      source: 'file.go:123',
      message: 'msg',
      fields: { key: 'v', k2: 'v2' },
    });
  });

  it.each([
    {
      name: 'a structured (quoted) message',
      body: '"Starting workers" controller="deployment" count=5',
      message: 'Starting workers',
      fields: { controller: 'deployment', count: '5' },
    },
    {
      name: 'quoted values with spaces',
      body: 'Syncing pod="kube-system/coredns 1" reason="node not ready"',
      message: 'Syncing',
      fields: { pod: 'kube-system/coredns 1', reason: 'node not ready' },
    },
    {
      name: 'escaped quotes, backslashes and newlines',
      body: 'Failed err="dial \\"10.0.0.1:443\\": refused\\n\\tretry" path="C:\\\\x"',
      message: 'Failed',
      fields: { err: 'dial "10.0.0.1:443": refused\n\tretry', path: 'C:\\x' },
    },
    {
      name: 'unicode and byte escapes',
      body: '"Caf\\u00e9 \\xc3\\xa9t\\303\\251" who="\\U0001F600"',
      message: 'Café été',
      fields: { who: '😀' },
    },
    {
      name: 'no fields',
      body: 'Waiting for caches to sync for garbage collector',
      message: 'Waiting for caches to sync for garbage collector',
      fields: {},
    },
    {
      name: 'pairs that do not reach the end of the line',
      body: 'set port=443 now',
      message: 'set port=443 now',
      fields: {},
    },
    {
      name: 'a lone equals sign in the text',
      body: 'a = b',
      message: 'a = b',
      fields: {},
    },
    {
      name: 'a quoted value that never closes',
      body: 'msg k="unterminated value',
      message: 'msg k="unterminated value',
      fields: {},
    },
    {
      name: 'a quoted value with an escape Go never writes (kept as it stands)',
      body: 'msg k="bad\\q"',
      message: 'msg',
      fields: { k: 'bad\\q' },
    },
    {
      name: 'only fields',
      body: 'node="ip-10-0-0-1" status=Ready',
      message: '',
      fields: { node: 'ip-10-0-0-1', status: 'Ready' },
    },
    {
      name: 'keys with dots and slashes, and an empty value',
      body: 'Labeled node.kubernetes.io/instance-type=m5.large zone=',
      message: 'Labeled',
      fields: { 'node.kubernetes.io/instance-type': 'm5.large', zone: '' },
    },
  ])('splits $name', ({ body, message, fields }) => {
    // Prepare
    const line = `I0522 12:34:56.789012       1 controller.go:7] ${body}`;

    // Act
    const parsed = parseKlogLine(line, STORED_MS);

    // Assess
    expect(parsed?.message).toBe(message);
    expect(parsed?.fields).toEqual(fields);
  });

  it.each([
    { name: 'a logfmt line', line: 'time="2026-05-22T12:34:56Z" level=info msg="access granted"' },
    { name: 'plain text', line: 'panic: runtime error: invalid memory address' },
    { name: 'milliseconds instead of microseconds', line: 'I0522 12:34:56.789 1 a.go:1] x' },
    { name: 'an unknown severity letter', line: 'D0522 12:34:56.789012 1 a.go:1] x' },
    { name: 'month 13', line: 'I1322 12:34:56.789012 1 a.go:1] x' },
    { name: 'hour 24', line: 'I0522 24:00:00.000000 1 a.go:1] x' },
    { name: 'no source', line: 'I0522 12:34:56.789012 1 ] x' },
    { name: 'February 30', line: 'I0230 12:00:00.000000 1 a.go:1] x' },
    { name: 'an empty line', line: '' },
  ])('returns nothing for $name', ({ line }) => {
    // Act
    const parsed = parseKlogLine(line, STORED_MS);

    // Assess
    expect(parsed).toBeUndefined();
  });

  it.each([
    {
      name: 'a Dec 31 line stored on Jan 1 belongs to the year before',
      line: 'I1231 23:59:59.999999 1 a.go:1] x',
      storedMs: Date.UTC(2027, 0, 1, 0, 0, 2),
      time: '2026-12-31T23:59:59.999999Z',
    },
    {
      name: 'a Jan 1 line stored on Dec 31 (clock skew) belongs to the year after',
      line: 'I0101 00:00:00.000001 1 a.go:1] x',
      storedMs: Date.UTC(2026, 11, 31, 23, 59, 59),
      time: '2027-01-01T00:00:00.000001Z',
    },
    {
      name: 'a line of the same year keeps it',
      line: 'I0615 08:00:00.500000 1 a.go:1] x',
      storedMs: Date.UTC(2026, 5, 15, 8, 0, 1),
      time: '2026-06-15T08:00:00.500000Z',
    },
    {
      name: 'Feb 29 of a leap year',
      line: 'I0229 10:00:00.000000 1 a.go:1] x',
      storedMs: Date.UTC(2028, 1, 29, 10, 0, 1),
      time: '2028-02-29T10:00:00.000000Z',
    },
  ])('takes the year from the CloudWatch timestamp: $name', ({ line, storedMs, time }) => {
    // Act
    const parsed = parseKlogLine(line, storedMs);

    // Assess
    expect(parsed?.time).toBe(time);
    expect(parsed?.timeMs).toBe(Date.parse(time));
  });

  it('is not klog when no year near the CloudWatch timestamp has Feb 29', () => {
    // Act
    const parsed = parseKlogLine('I0229 10:00:00.000000 1 a.go:1] x', Date.UTC(2026, 5, 1));

    // Assess
    expect(parsed).toBeUndefined();
  });

  it('keeps the lines after the first one in the message', () => {
    // Prepare
    const line = 'E0522 12:34:56.789012 1 runtime.go:79] Observed a panic: boom\ngoroutine 1 [running]:\nmain.main()\n';

    // Act
    const parsed = parseKlogLine(line, STORED_MS);

    // Assess
    expect(parsed?.message).toBe('Observed a panic: boom\ngoroutine 1 [running]:\nmain.main()');
  });
});

describe('unquoteGoString', () => {
  it.each([
    { literal: '""', value: '' },
    { literal: '"plain"', value: 'plain' },
    { literal: '"a\\"b"', value: 'a"b' },
    { literal: '"\\a\\b\\f\\n\\r\\t\\v\\\\"', value: '\x07\b\f\n\r\t\v\\' },
    { literal: '"\\x41\\101\\u0042\\U00000043"', value: 'AABC' },
    { literal: '"\\xe2\\x82\\xac"', value: '€' },
  ])('unquotes $literal', ({ literal, value }) => {
    expect(unquoteGoString(literal)).toBe(value);
  });

  it.each([
    { name: 'no quotes', literal: 'abc' },
    { name: 'an unescaped quote inside', literal: '"a"b"' },
    { name: 'a trailing backslash', literal: '"abc\\"' },
    { name: 'short hex', literal: '"\\x4"' },
    { name: 'a surrogate code point', literal: '"\\ud800"' },
    { name: 'an unknown escape', literal: '"\\q"' },
  ])('refuses $name', ({ literal }) => {
    expect(unquoteGoString(literal)).toBeUndefined();
  });
});

describe('splitMessageAndFields', () => {
  it('keeps the last value of a repeated key', () => {
    expect(splitMessageAndFields('x k=1 k=2')).toEqual({ message: 'x', fields: { k: '2' } });
  });
});

describe('parseLogfmtLine', () => {
  it('reads an aws-iam-authenticator line: every pair, and the level lowercased', () => {
    // Prepare
    const line =
      'time="2026-05-22T12:34:56Z" level=INFO msg="access granted" arn="arn:aws:iam::123456789012:role/admin" ' +
      'client="127.0.0.1:43572" groups="[system:masters]" method=POST path=/authenticate uid="heptio-authenticator-aws:1"';

    // Act
    const parsed = parseLogfmtLine(line);

    // Assess
    expect(parsed).toEqual({
      level: 'info',
      fields: {
        time: '2026-05-22T12:34:56Z',
        level: 'INFO',
        msg: 'access granted',
        arn: 'arn:aws:iam::123456789012:role/admin',
        client: '127.0.0.1:43572',
        groups: '[system:masters]',
        method: 'POST',
        path: '/authenticate',
        uid: 'heptio-authenticator-aws:1',
      },
    });
  });

  it.each([
    { name: 'text with one pair', line: 'listening port=443' },
    { name: 'a single pair', line: 'port=443' },
    { name: 'plain text', line: 'hello world' },
  ])('is not logfmt: $name', ({ line }) => {
    expect(parseLogfmtLine(line)).toBeUndefined();
  });
});
