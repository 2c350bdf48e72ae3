import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig } from '../../src/aws/index.js';
import { type MotoServer, motoUnavailable, startMoto, useFakeAwsCredentials } from '../helpers/moto.js';

describe.skipIf(motoUnavailable)('moto harness', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    useFakeAwsCredentials();
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('answers S3 calls made through the router client config and stops by its PID', async () => {
    // Prepare
    const s3 = new S3Client(awsClientConfig(moto.settings, { s3: true }));

    // Act
    const result = await s3.send(new ListBucketsCommand({}));

    // Assess
    expect(result.Buckets ?? []).toEqual([]);
    expect(() => process.kill(moto.pid, 0)).not.toThrow();
  });
});
