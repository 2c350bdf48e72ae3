import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  CloudwatchPayloadError,
  decodeSubscriptionData,
  readLambdaEvent,
  SubscriptionMessageType,
} from '../../../src/ingest/cloudwatch/index.js';
import { controlMessageFactory, dataMessageFactory, gzipPayload } from '../../helpers/cloudwatch-logs.js';

const MAX_BYTES = 1024 * 1024;

async function refusal(data: string | Uint8Array, maxBytes = MAX_BYTES): Promise<CloudwatchPayloadError> {
  try {
    await decodeSubscriptionData(data, { maxBytes, what: 'awslogs.data' });
  } catch (error) {
    if (error instanceof CloudwatchPayloadError) return error;
    throw error;
  }
  throw new Error('Expected the payload to be refused.');
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

describe('decodeSubscriptionData', () => {
  it('decodes a DATA_MESSAGE from base64 gzip JSON', async () => {
    // Prepare
    const payload = dataMessageFactory();

    // Act
    const decoded = await decodeSubscriptionData(base64(gzipPayload(payload)), { maxBytes: MAX_BYTES });

    // Assess
    expect(decoded).toEqual(payload);
  });

  it('decodes the gzip bytes of a Kinesis record as they are', async () => {
    // Prepare
    const payload = dataMessageFactory();

    // Act
    const decoded = await decodeSubscriptionData(gzipPayload(payload), { maxBytes: MAX_BYTES });

    // Assess
    expect(decoded).toEqual(payload);
  });

  it('reads a numeric event id (as moto writes it) as a string', async () => {
    // Prepare
    const payload = { ...dataMessageFactory(), logEvents: [{ id: 0, timestamp: 1, message: 'x' }] };

    // Act
    const decoded = await decodeSubscriptionData(base64(gzipPayload(payload)), { maxBytes: MAX_BYTES });

    // Assess
    expect(decoded).toEqual({ ...payload, logEvents: [{ id: '0', timestamp: 1, message: 'x' }] });
  });

  it('reads a CONTROL_MESSAGE as its type only', async () => {
    // Act
    const decoded = await decodeSubscriptionData(base64(gzipPayload(controlMessageFactory())), { maxBytes: MAX_BYTES });

    // Assess
    expect(decoded).toEqual({ messageType: SubscriptionMessageType.CONTROL });
  });

  it.each([
    {
      name: 'a character outside the alphabet',
      data: 'H4sI$AAA',
      message: 'awslogs.data is not base64: unexpected character at position 4 ("$").',
    },
    {
      name: 'padding in the middle',
      data: 'H4=sIAAA',
      message: 'awslogs.data is not base64: unexpected character at position 2 ("=").',
    },
    {
      name: 'a length that is not a multiple of 4',
      data: 'H4sIAAA',
      message: 'awslogs.data is not base64: its length 7 is not a multiple of 4.',
    },
  ])('refuses bad base64: $name', async ({ data, message }) => {
    // Act
    const error = await refusal(data);

    // Assess
    expect(error.reason).toBe('bad_base64');
    expect(error.message).toBe(message);
    expect(error.code).toBe('RTR_ERR_INVALID_NOTIFICATION');
  });

  it('refuses data that is not gzip', async () => {
    // Act
    const error = await refusal(base64(Buffer.from('{"messageType":"DATA_MESSAGE"}')));

    // Assess
    expect(error.reason).toBe('bad_gzip');
    expect(error.message).toBe('awslogs.data is not gzip: it does not start with the gzip magic bytes 1f 8b.');
  });

  it('refuses truncated gzip', async () => {
    // Prepare
    const gzip = gzipPayload(dataMessageFactory());

    // Act
    const error = await refusal(base64(gzip.subarray(0, gzip.length - 12)));

    // Assess
    expect(error.reason).toBe('bad_gzip');
    expect(error.message).toBe('awslogs.data is not valid gzip: unexpected end of file.');
  });

  it('refuses a payload that inflates beyond the limit', async () => {
    // Prepare
    const bomb = gzipSync(Buffer.alloc(64 * 1024, 0x20));

    // Act
    const error = await refusal(base64(bomb), 1024);

    // Assess
    expect(error.reason).toBe('payload_too_large');
    expect(error.message).toBe('awslogs.data inflates to more than 1024 bytes; refused.');
  });

  it('refuses JSON that does not parse', async () => {
    // Act
    const error = await refusal(base64(gzipSync('{"messageType": DATA_MESSAGE}')));

    // Assess
    expect(error.reason).toBe('bad_json');
    expect(error.message).toMatch(/^awslogs\.data is not valid JSON: Unexpected token 'D'.*\.$/);
  });

  it.each([
    { name: 'a JSON array', payload: [1], message: 'awslogs.data is not a JSON object.' },
    {
      name: 'no messageType',
      payload: { logGroup: 'g' },
      message: "awslogs.data has 'messageType' nothing; expected 'DATA_MESSAGE' or 'CONTROL_MESSAGE'.",
    },
    {
      name: 'an unknown messageType',
      payload: { messageType: 'PING' },
      message: "awslogs.data has 'messageType' 'PING'; expected 'DATA_MESSAGE' or 'CONTROL_MESSAGE'.",
    },
    {
      name: 'a messageType that is not a string',
      payload: { messageType: 3 },
      message: "awslogs.data has 'messageType' a number; expected 'DATA_MESSAGE' or 'CONTROL_MESSAGE'.",
    },
    {
      name: 'missing fields',
      payload: { messageType: 'DATA_MESSAGE', logGroup: '/aws/eks/c/cluster' },
      message: "awslogs.data is not a valid DATA_MESSAGE: 'logStream' is required; 'logEvents' is required.",
    },
    {
      name: 'an empty log stream',
      payload: { ...dataMessageFactory(), logStream: '' },
      message: "awslogs.data is not a valid DATA_MESSAGE: 'logStream' must not have fewer than 1 characters.",
    },
    {
      name: 'an event with a bad timestamp and no message',
      payload: { ...dataMessageFactory(), logEvents: [{ id: '1', timestamp: '2026-05-22' }] },
      message:
        "awslogs.data is not a valid DATA_MESSAGE: 'logEvents[0].message' is required; " +
        "'logEvents[0].timestamp' must be epoch milliseconds (a whole number ≥ 0).",
    },
  ])('refuses a payload with $name, naming the fields', async ({ payload, message }) => {
    // Act
    const error = await refusal(base64(gzipPayload(payload)));

    // Assess
    expect(error.reason).toBe('invalid_payload');
    expect(error.message).toBe(message);
  });

  it('lists the first few problems and says there are more', async () => {
    // Prepare
    const payload = { ...dataMessageFactory(), logEvents: Array.from({ length: 8 }, () => ({ id: '1', timestamp: -1, message: 'x' })) };

    // Act
    const error = await refusal(base64(gzipPayload(payload)));

    // Assess
    expect(error.message).toBe(
      'awslogs.data is not a valid DATA_MESSAGE: ' +
        [0, 1, 2, 3, 4].map((i) => `'logEvents[${i}].timestamp' must be epoch milliseconds (a whole number ≥ 0)`).join('; ') +
        '; and more.',
    );
  });

  it('names a bad event id', async () => {
    // Prepare
    const payload = { ...dataMessageFactory(), logEvents: [{ id: null, timestamp: 1, message: 'x' }] };

    // Act
    const error = await refusal(base64(gzipPayload(payload)));

    // Assess
    expect(error.message).toBe("awslogs.data is not a valid DATA_MESSAGE: 'logEvents[0].id' must be a string of digits.");
  });
});

describe('readLambdaEvent', () => {
  it('reads a subscription event', () => {
    expect(readLambdaEvent({ awslogs: { data: 'H4sI' } })).toEqual({ kind: 'subscription', data: 'H4sI' });
  });

  it('reads a Firehose transformation event', () => {
    // Prepare
    const event = { invocationId: 'i', records: [{ recordId: 'r1', data: 'H4sI' }] };

    // Act
    const read = readLambdaEvent(event);

    // Assess
    expect(read).toEqual({ kind: 'firehose', event });
  });

  it.each([
    { name: 'not an object', event: 'x', message: 'The event is not a JSON object.' },
    { name: 'awslogs without data', event: { awslogs: {} }, message: "The subscription event has no 'awslogs.data' string." },
    { name: 'records that are not a list', event: { records: {} }, message: "The Firehose event's 'records' is not a list." },
    {
      name: 'a record without data',
      event: { records: [{ recordId: 'a', data: 'x' }, { recordId: 'b' }] },
      message: "The Firehose event's record 1 has no 'recordId' and 'data' strings.",
    },
    {
      name: 'an SQS event',
      event: { Records: [] },
      message: "The event is neither a CloudWatch Logs subscription ('awslogs.data') nor a Firehose transformation ('records').",
    },
  ])('refuses $name', ({ event, message }) => {
    // Act
    const act = () => readLambdaEvent(event);

    // Assess
    expect(act).toThrow(CloudwatchPayloadError);
    expect(act).toThrow(message);
  });
});
