import { Arn, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { centralBucketName } from '../naming.js';

/** The suffix of the objects collectors write (`….json.gz`); only these are notified. */
export const CENTRAL_OBJECT_SUFFIX = '.gz';

export interface CentralStorageProps {
  readonly prefix: string;
  readonly objectExpiryDays: number;
  readonly versioned: boolean;
  readonly retainData: boolean;
}

/**
 * The central store of one region: a KMS key (rotated yearly), the central bucket encrypted
 * with it, and the SNS topic (encrypted with it too) that the bucket notifies on
 * `ObjectCreated` for `.gz` keys. The notification is set on the bucket itself (no custom
 * resource); the bucket waits for the topic policy, since S3 checks it can publish.
 *
 * Keys whose first segment starts with `_` (the router's analytics) are notified too; the
 * processor skips them.
 */
export class CentralStorage extends Construct {
  readonly key: Key;
  readonly bucket: Bucket;
  readonly topic: Topic;
  /** The topic's ARN as a literal of its name, for policies the topic itself depends on. */
  readonly topicArnByName: string;

  constructor(scope: Construct, id: string, props: CentralStorageProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const bucketName = centralBucketName(props.prefix, stack.account, stack.region);
    const topicName = `${props.prefix}-central-objects`;
    // Built from names, not references: the key policy would otherwise depend on the topic,
    // which depends on the key.
    this.topicArnByName = stack.formatArn({ service: 'sns', resource: topicName });
    const bucketArnByName = Arn.format({ partition: stack.partition, service: 's3', region: '', account: '', resource: bucketName });

    this.key = new Key(this, 'Key', {
      alias: `alias/${props.prefix}-central`,
      description: `Tenant log router (${props.prefix}): the central bucket, its notification topic and queues.`,
      enableKeyRotation: true,
      removalPolicy,
    });
    // S3 publishes to the encrypted topic with its own principal, so it needs the key; SNS names
    // the topic in the encryption context.
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/grant-destinations-permissions-to-s3.html
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'S3PublishesToTheEncryptedTopic',
        principals: [new ServicePrincipal('s3.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:EncryptionContext:aws:sns:topicArn': this.topicArnByName } },
      }),
    );

    this.topic = new Topic(this, 'Topic', { topicName, masterKey: this.key, enforceSSL: true });
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CentralBucketPublishes',
        principals: [new ServicePrincipal('s3.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topicArnByName],
        conditions: {
          ArnEquals: { 'aws:SourceArn': bucketArnByName },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );

    this.bucket = new Bucket(this, 'Bucket', {
      bucketName,
      encryption: BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: props.versioned,
      lifecycleRules: [
        {
          id: 'expire-central-objects',
          expiration: Duration.days(props.objectExpiryDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
          ...(props.versioned && { noncurrentVersionExpiration: Duration.days(1) }),
        },
      ],
      removalPolicy,
    });
    const cfnBucket = this.bucket.node.defaultChild as CfnBucket;
    cfnBucket.notificationConfiguration = {
      topicConfigurations: [
        {
          event: 's3:ObjectCreated:*',
          topic: this.topic.topicArn,
          filter: { s3Key: { rules: [{ name: 'suffix', value: CENTRAL_OBJECT_SUFFIX }] } },
        },
      ],
    };
    // S3 sends a test event when the configuration is set: the topic policy must be there first.
    cfnBucket.node.addDependency(this.topic);
  }
}
