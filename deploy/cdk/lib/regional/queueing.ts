import { Duration } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { type ITopic, Subscription, SubscriptionProtocol } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** SQS's longest retention: a backlog survives a long outage (the DLQ keeps as long as its source). */
const RETENTION = Duration.days(14);

export interface NotificationQueuesProps {
  readonly prefix: string;
  readonly key: IKey;
  readonly topic: ITopic;
  /** The topic's ARN as a literal of its name, for the key policy (see CentralStorage). */
  readonly topicArnByName: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
}

/**
 * The processor's queue, subscribed to the central topic with raw message delivery off (the
 * processor reads SNS envelopes), and its redrive dead-letter queue: the backstop for
 * crashes and poison messages. Both are encrypted with the central key.
 */
export class NotificationQueues extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly subscription: Subscription;

  constructor(scope: Construct, id: string, props: NotificationQueuesProps) {
    super(scope, id);
    const encryption = { encryption: QueueEncryption.KMS, encryptionMasterKey: props.key, enforceSSL: true };
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: `${props.prefix}-notifications-dlq`,
      retentionPeriod: RETENTION,
      ...encryption,
    });
    this.queue = new Queue(this, 'Queue', {
      queueName: `${props.prefix}-notifications`,
      retentionPeriod: RETENTION,
      visibilityTimeout: Duration.seconds(props.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
      ...encryption,
    });

    // The subscription is wired by hand rather than with SqsSubscription: that one names the
    // topic by reference in the key policy, a cycle when topic and queue share the key.
    const sns = new ServicePrincipal('sns.amazonaws.com');
    const queuePolicy = this.queue.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CentralTopicDelivers',
        principals: [sns],
        actions: ['sqs:SendMessage'],
        resources: [this.queue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': props.topic.topicArn } },
      }),
    );
    props.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CentralTopicDeliversToEncryptedQueue',
        principals: [sns],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { ArnEquals: { 'aws:SourceArn': props.topicArnByName } },
      }),
    );
    this.subscription = new Subscription(this, 'Subscription', {
      topic: props.topic,
      endpoint: this.queue.queueArn,
      protocol: SubscriptionProtocol.SQS,
      rawMessageDelivery: false,
    });
    if (queuePolicy.policyDependable) this.subscription.node.addDependency(queuePolicy.policyDependable);
  }
}
