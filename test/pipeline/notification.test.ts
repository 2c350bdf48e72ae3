import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, NotificationError } from '../../src/domain/errors.js';
import {
  decodeS3Key,
  encodeWorkItem,
  parseNotification,
  type WorkItem,
} from '../../src/pipeline/notification.js';
import {
  objectKeyFactory,
  s3EncodeKey,
  s3EventFactory,
  s3EventRecordFactory,
  s3TestEventFactory,
  snsEnvelopeFactory,
} from '../helpers/factories.js';

/** The NotificationError a body is refused with; fails the test when it is accepted. */
function refusal(body: string): NotificationError {
  try {
    parseNotification(body);
  } catch (error) {
    if (error instanceof NotificationError) return error;
    throw error;
  }
  throw new Error(`expected ${body} to be refused`);
}

describe('parseNotification', () => {
  it('reads the S3 event inside an SNS envelope', () => {
    // Prepare
    const key = objectKeyFactory();
    const body = JSON.stringify(snsEnvelopeFactory(s3EventFactory([key], { bucket: 'central-logs' })));
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed).toEqual({ items: [{ key, bucket: 'central-logs', attempt: 0 }] });
  });

  it('reads a raw S3 event', () => {
    // Prepare
    const key = objectKeyFactory();
    const body = JSON.stringify(s3EventFactory([key], { bucket: 'central-logs' }));
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed).toEqual({ items: [{ key, bucket: 'central-logs', attempt: 0 }] });
  });

  it('reads every record of an event, in order', () => {
    // Prepare
    const keys = [objectKeyFactory(), objectKeyFactory(), objectKeyFactory()];
    const body = JSON.stringify(snsEnvelopeFactory(s3EventFactory(keys)));
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed.items.map((item) => item.key)).toEqual(keys);
  });

  it.each([
    { case: 'raw', wrap: (event: unknown) => event },
    { case: 'in an SNS envelope', wrap: (event: unknown) => snsEnvelopeFactory(event) },
  ])('ignores the s3:TestEvent ($case)', ({ wrap }) => {
    // Prepare
    const body = JSON.stringify(wrap(s3TestEventFactory()));
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed).toEqual({ items: [], ignoredReason: 'test_event' });
  });

  it.each([
    { encoded: 'c1/team-a/api/pod-1/my+file.json.gz', key: 'c1/team-a/api/pod-1/my file.json.gz' },
    { encoded: 'c1%2Fteam-a%2Fapi%2Fpod-1%2Ff.json.gz', key: 'c1/team-a/api/pod-1/f.json.gz' },
    { encoded: 'c1/team-a/api/pod-1/a%2Bb.json.gz', key: 'c1/team-a/api/pod-1/a+b.json.gz' },
    { encoded: 'c1/team-a/api/pod-1/%C3%A9t%C3%A9.json.gz', key: 'c1/team-a/api/pod-1/été.json.gz' },
    { encoded: 'c1/team-a/api/pod-1/100%25.json.gz', key: 'c1/team-a/api/pod-1/100%.json.gz' },
  ])('form-URL-decodes the key $encoded', ({ encoded, key }) => {
    // Prepare
    const body = JSON.stringify({ Records: [s3EventRecordFactory({ encodedKey: encoded })] });
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed.items[0]?.key).toBe(key);
  });

  it('decodes any key S3 encodes back to the key', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), (key) => {
        // Prepare
        const encoded = s3EncodeKey(key);
        // Act
        const decoded = decodeS3Key(encoded);
        // Assess
        expect(decoded).toBe(key);
      }),
    );
  });

  it('keeps only the ObjectCreated records of an event', () => {
    // Prepare
    const created = objectKeyFactory();
    const copied = objectKeyFactory();
    const body = JSON.stringify({
      Records: [
        s3EventRecordFactory({ eventName: 'ObjectRemoved:Delete' }),
        s3EventRecordFactory({ key: created, eventName: 'ObjectCreated:Put' }),
        s3EventRecordFactory({ eventName: 'ObjectRestore:Completed' }),
        s3EventRecordFactory({ key: copied, eventName: 'ObjectCreated:CompleteMultipartUpload' }),
      ],
    });
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed.items.map((item) => item.key)).toEqual([created, copied]);
    expect(parsed.ignoredReason).toBeUndefined();
  });

  it('ignores an event whose records are none of them ObjectCreated', () => {
    // Prepare
    const body = JSON.stringify(
      snsEnvelopeFactory({ Records: [s3EventRecordFactory({ eventName: 'ObjectRemoved:Delete' })] }),
    );
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed).toEqual({ items: [], ignoredReason: 'not_object_created' });
  });

  it.each<{ case: string; item: WorkItem }>([
    { case: 'a first delivery', item: { key: 'c1/team-a/api/pod-1/f.json.gz', attempt: 0 } },
    {
      case: 'a delayed retry scoped to destinations',
      item: { key: 'c1/team-a/api/pod-1/f.json.gz', destinations: ['file', 's3:archive'], attempt: 3 },
    },
    {
      case: 'a replay from a bucket',
      item: { key: 'c1/team-a/api/pod-1/f.json.gz', bucket: 'central', attempt: 0, replayId: 'r-42' },
    },
    { case: 'a retry scoped to no destination', item: { key: 'k/t/a/p/f', destinations: [], attempt: 1 } },
    {
      case: 'a delayed retry with the time it was scheduled',
      item: { key: 'k/t/a/p/f', destinations: ['s3'], attempt: 2, delayed: true, scheduledAtMs: 1_700_000_000_123 },
    },
  ])('reads back the work item it encodes: $case', ({ item }) => {
    // Prepare
    const body = encodeWorkItem(item);
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed).toEqual({ items: [item] });
  });

  it('reads back any work item it encodes', () => {
    const workItem = fc.record(
      {
        key: fc.string({ minLength: 1 }),
        bucket: fc.string(),
        destinations: fc.array(fc.string()),
        attempt: fc.nat(),
        replayId: fc.string(),
        delayed: fc.constant(true),
        scheduledAtMs: fc.nat(),
      },
      { requiredKeys: ['key', 'attempt'] },
    );
    fc.assert(
      fc.property(workItem, (item) => {
        // Prepare
        const body = encodeWorkItem(item);
        // Act
        const parsed = parseNotification(body);
        // Assess
        expect(parsed).toEqual({ items: [item] });
      }),
    );
  });

  it('reads a work item without an attempt as the first delivery', () => {
    // Prepare
    const body = JSON.stringify({ v: 1, key: 'c1/team-a/api/pod-1/f.json.gz' });
    // Act
    const parsed = parseNotification(body);
    // Assess
    expect(parsed).toEqual({ items: [{ key: 'c1/team-a/api/pod-1/f.json.gz', attempt: 0 }] });
  });

  const sns = (message: unknown) => JSON.stringify(snsEnvelopeFactory(message));
  it.each([
    { case: 'not JSON', body: 'hello', message: 'Message body is not valid JSON.' },
    { case: 'empty', body: '', message: 'Message body is not valid JSON.' },
    { case: 'a JSON array', body: '[{"Records":[]}]', message: 'Message body is not a JSON object.' },
    { case: 'JSON null', body: 'null', message: 'Message body is not a JSON object.' },
    { case: 'a JSON string', body: '"Records"', message: 'Message body is not a JSON object.' },
    {
      case: 'an unknown object',
      body: '{"hello":"world"}',
      message: 'Message body is neither an S3 event, an SNS envelope nor a router work item.',
    },
    {
      case: 'a work item of an unknown version',
      body: '{"v":2,"key":"a/b/c/d/e"}',
      message: 'Message body is neither an S3 event, an SNS envelope nor a router work item.',
    },
    {
      case: 'an SNS envelope without Message',
      body: '{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t"}',
      message: "SNS envelope has no 'Message' string.",
    },
    {
      case: 'an SNS envelope whose Message is an object',
      body: JSON.stringify({ ...snsEnvelopeFactory(''), Message: { Records: [] } }),
      message: "SNS envelope has no 'Message' string.",
    },
    {
      case: 'an SNS Message that is not JSON',
      body: sns('oops'),
      message: "SNS envelope 'Message' is not valid JSON.",
    },
    {
      case: 'an SNS Message that is an array',
      body: sns('[]'),
      message: "SNS envelope 'Message' is not a JSON object.",
    },
    { case: 'an SNS Message without Records', body: sns({}), message: "S3 event has no 'Records' list." },
    {
      case: 'an S3 event whose Records is not a list',
      body: '{"Records":{"s3":{}}}',
      message: "S3 event has no 'Records' list.",
    },
    {
      case: 'an event other than the test event',
      body: '{"Event":"s3:Other"}',
      message: "S3 event has no 'Records' list.",
    },
    {
      case: 'a record that is not an object',
      body: '{"Records":[null]}',
      message: 'S3 event record 0 is not an object.',
    },
    {
      case: 'a record without s3',
      body: JSON.stringify({ Records: [s3EventRecordFactory(), { eventName: 'ObjectCreated:Put' }] }),
      message: "S3 event record 1 has no 's3.object.key'.",
    },
    {
      case: 'a record whose key is not a string',
      body: JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { object: { key: 42 } } }] }),
      message: "S3 event record 0 has no 's3.object.key'.",
    },
    {
      case: 'a key that is not valid URL encoding',
      body: JSON.stringify({ Records: [s3EventRecordFactory({ encodedKey: 'c1/t/a/p/%E0%A4%A.gz' })] }),
      message: "Object key 'c1/t/a/p/%E0%A4%A.gz' is not valid URL encoding.",
    },
    {
      case: 'a work item without key',
      body: '{"v":1,"attempt":0}',
      message: "Work item has no 'key' string.",
    },
    {
      case: 'a work item with an empty key',
      body: '{"v":1,"key":""}',
      message: "Work item has no 'key' string.",
    },
    {
      case: 'a work item with a negative attempt',
      body: '{"v":1,"key":"k","attempt":-1}',
      message: "Work item 'attempt' must be a whole number ≥ 0.",
    },
    {
      case: 'a work item with a fractional attempt',
      body: '{"v":1,"key":"k","attempt":1.5}',
      message: "Work item 'attempt' must be a whole number ≥ 0.",
    },
    {
      case: 'a work item with a string attempt',
      body: '{"v":1,"key":"k","attempt":"1"}',
      message: "Work item 'attempt' must be a whole number ≥ 0.",
    },
    {
      case: 'a work item whose destinations is a string',
      body: '{"v":1,"key":"k","destinations":"file"}',
      message: "Work item 'destinations' must be a list of config types.",
    },
    {
      case: 'a work item with a destination that is not a string',
      body: '{"v":1,"key":"k","destinations":["file",1]}',
      message: "Work item 'destinations' must be a list of config types.",
    },
  ])('refuses $case with a precise NotificationError', ({ body, message }) => {
    // Prepare
    // Act
    const error = refusal(body);
    // Assess
    expect(error.code).toBe(ErrorCode.INVALID_NOTIFICATION);
    expect(error.message).toBe(message);
  });

  it('keeps the JSON parse failure as the cause', () => {
    // Prepare
    // Act
    const error = refusal('{"Records": [');
    // Assess
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });
});
