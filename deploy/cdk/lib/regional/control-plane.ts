import { Duration } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, LogGroup, SubscriptionFilter } from 'aws-cdk-lib/aws-logs';
import { LambdaDestination } from 'aws-cdk-lib/aws-logs-destinations';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LambdaBundle } from '../lambda-bundle.js';
import { allow, KMS_ENCRYPT } from './grants.js';
import { createRouterFunction } from './functions.js';
import { RouterEnv } from './processor.js';
import type { EksControlPlaneProps, ValidatedRegionalSettings } from './props.js';

/** The variables of the CloudWatch Lambda (src/ingest/cloudwatch/config.ts) besides the shared ones. */
export const EksEnv = { EKS_TENANT: 'EKS_TENANT', EKS_CLUSTER_NAME: 'EKS_CLUSTER_NAME' } as const;

export interface EksControlPlaneIngestProps {
  readonly settings: ValidatedRegionalSettings;
  readonly eks: EksControlPlaneProps;
  readonly bucket: IBucket;
  readonly queue: IQueue;
  readonly key: IKey;
}

/**
 * EKS control-plane logs into the central bucket: the `cloudwatch.handler` Lambda (a
 * subscription filter or Firehose transformation calls it), with a role of its own that may
 * put objects into the central bucket and notify the processor's queue. With a cluster name,
 * it is subscribed to `/aws/eks/<cluster>/cluster`.
 */
export class EksControlPlaneIngest extends Construct {
  readonly function: LambdaFunction;

  constructor(scope: Construct, id: string, props: EksControlPlaneIngestProps) {
    super(scope, id);
    const { settings, eks } = props;
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Tenant log router: EKS control-plane logs into the central bucket.',
    });
    // Objects (and, without a separate analytics bucket, analytics copies under `_…`) are put
    // into the central bucket; each central object is also sent to the processor's queue.
    allow(role, ['s3:PutObject'], [props.bucket.arnForObjects('*')]);
    allow(role, [...KMS_ENCRYPT], [props.key.keyArn]);
    allow(role, ['sqs:SendMessage'], [props.queue.queueArn]);
    this.function = createRouterFunction(this, 'Function', {
      functionName: `${settings.prefix}-eks-control-plane`,
      description: 'Tenant log router: EKS control-plane logs (CloudWatch Logs subscription) into the central bucket.',
      role,
      grantLogs: true,
      codeDir: settings.bundles[LambdaBundle.CLOUDWATCH],
      handler: `${LambdaBundle.CLOUDWATCH}.handler`,
      environment: {
        [EksEnv.EKS_TENANT]: eks.tenant,
        ...(eks.clusterName !== undefined && { [EksEnv.EKS_CLUSTER_NAME]: eks.clusterName }),
        [RouterEnv.SOURCE_BUCKET]: props.bucket.bucketName,
        [RouterEnv.SQS_QUEUE_URL]: props.queue.queueUrl,
        [RouterEnv.LOG_LEVEL]: settings.logLevel,
      },
      timeout: Duration.seconds(60),
      memorySize: 512,
      logRetentionDays: settings.logRetentionDays,
      retainData: settings.retainData,
    });
    if (eks.clusterName === undefined) return;
    new SubscriptionFilter(this, 'Subscription', {
      logGroup: LogGroup.fromLogGroupName(this, 'ClusterLogs', `/aws/eks/${eks.clusterName}/cluster`),
      destination: new LambdaDestination(this.function),
      filterPattern: FilterPattern.allEvents(),
    });
  }
}
