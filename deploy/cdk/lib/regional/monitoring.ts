import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  type Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EMF_NAMESPACE } from '../../../../src/metrics/emf.js';
import { CLOUDWATCH_KIND } from '../../../../src/sinks/cloudwatch/config.js';
import { FIREHOSE_KIND } from '../../../../src/sinks/firehose/config.js';
import { KINESIS_KIND } from '../../../../src/sinks/kinesis/config.js';
import { S3_KIND } from '../../../../src/sinks/s3/config.js';
import type { ValidatedRegionalSettings } from './props.js';

/** The destination kinds the processor delivers to on AWS; EMF names its metrics `LogCount/<kind>/…`. */
export const AWS_DELIVERY_KINDS = [CLOUDWATCH_KIND, S3_KIND, KINESIS_KIND, FIREHOSE_KIND] as const;

const PERIOD = Duration.minutes(5);

/**
 * A Metrics Insights query summing one EMF metric over every tenant (the processor emits it
 * with the `Tenant` dimension only, so no single metric holds the total).
 *
 * @param kind - the destination kind (`cloudwatch`, `s3`, …)
 * @param metric - `failed_delivery`, `successful_delivery`, …
 * @internal
 */
export function deliveryQuery(kind: string, metric: string): string {
  return `SELECT SUM("LogCount/${kind}/${metric}") FROM SCHEMA("${EMF_NAMESPACE}", Tenant)`;
}

export interface RouterMonitoringProps {
  readonly settings: ValidatedRegionalSettings;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly processorFunction?: LambdaFunction;
  readonly api: RestApi;
  readonly controlPlaneFunction?: LambdaFunction;
}

/**
 * The alarms an operator needs, and one dashboard with them: anything in the dead-letter
 * queue, a queue that is not drained, processor Lambda errors, sustained failed deliveries per
 * destination kind (the processor's EMF metrics), and API server errors.
 */
export class RouterMonitoring extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: RouterMonitoringProps) {
    super(scope, id);
    const { settings, queue, deadLetterQueue } = props;
    const prefix = settings.prefix;
    const alarm = (alarmId: string, alarmProps: ConstructorParameters<typeof Alarm>[2]) => {
      const created = new Alarm(this, alarmId, { treatMissingData: TreatMissingData.NOT_BREACHING, ...alarmProps });
      this.alarms.push(created);
      return created;
    };

    const dlqDepth = deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' });
    alarm('DeadLetterQueueNotEmpty', {
      alarmName: `${prefix}-dead-letter-queue-not-empty`,
      alarmDescription: 'Notifications were received too often without success (a crash or a poison message). ' +
        'Look at the processor logs, then redrive the DLQ to the queue.',
      metric: dlqDepth,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      threshold: 0,
      evaluationPeriods: 1,
    });
    const oldest = queue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: 'Maximum' });
    alarm('QueueBacklog', {
      alarmName: `${prefix}-queue-oldest-message-age`,
      alarmDescription: `The oldest notification has waited longer than ${settings.queueAgeAlarmSeconds} s: the processor is not keeping up.`,
      metric: oldest,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      threshold: settings.queueAgeAlarmSeconds,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    const fnErrors: Metric[] = [];
    if (props.processorFunction) {
      const errors = props.processorFunction.metricErrors({ period: PERIOD, statistic: 'Sum' });
      fnErrors.push(errors);
      alarm('ProcessorErrors', {
        alarmName: `${prefix}-processor-errors`,
        alarmDescription: 'Processor invocations failed as a whole (a bad environment, a timeout or a crash).',
        metric: errors,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        threshold: 0,
        evaluationPeriods: 1,
      });
    }
    const failures = AWS_DELIVERY_KINDS.map((kind) => {
      const metric = new MathExpression({ expression: deliveryQuery(kind, 'failed_delivery'), period: PERIOD, label: `${kind} failed` });
      alarm(`DeliveryFailures-${kind}`, {
        alarmName: `${prefix}-delivery-failures-${kind}`,
        alarmDescription: `Deliveries to '${kind}' destinations kept failing (retried or dead-lettered). ` +
          'Check the tenants\' destination status (GET /api/v1/tenants/{tenant}/status) and the dead letters.',
        metric,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: settings.deliveryFailureAlarmThreshold,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
      });
      return metric;
    });
    const api5xx = props.api.metricServerError({ period: PERIOD, statistic: 'Sum' });
    alarm('ApiServerErrors', {
      alarmName: `${prefix}-api-server-errors`,
      alarmDescription: 'The config API answered 5xx (DynamoDB, the key secret or the authorizer failing).',
      metric: api5xx,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 5,
      evaluationPeriods: 1,
    });
    if (props.controlPlaneFunction) {
      const errors = props.controlPlaneFunction.metricErrors({ period: PERIOD, statistic: 'Sum' });
      fnErrors.push(errors);
      alarm('EksControlPlaneErrors', {
        alarmName: `${prefix}-eks-control-plane-errors`,
        alarmDescription: 'The EKS control-plane ingest failed; CloudWatch Logs retries, then drops.',
        metric: errors,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        threshold: 0,
        evaluationPeriods: 1,
      });
    }
    if (settings.alarmTopicArn !== undefined) {
      const action = new SnsAction(Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn));
      for (const a of this.alarms) a.addAlarmAction(action);
    }

    const deliveries = AWS_DELIVERY_KINDS.map(
      (kind) => new MathExpression({ expression: deliveryQuery(kind, 'successful_delivery'), period: PERIOD, label: `${kind} delivered` }),
    );
    // Dashboards are global per account: the region keeps regional stacks apart.
    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `${prefix}-router-${Stack.of(this).region}` });
    const queueDepth = [
      queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD }),
      queue.metricApproximateNumberOfMessagesNotVisible({ period: PERIOD }),
    ];
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Queue', left: queueDepth, right: [oldest] }),
      new GraphWidget({ title: 'Dead-letter queue', left: [dlqDepth] }),
      new GraphWidget({ title: 'Deliveries by kind', left: deliveries, right: failures }),
    );
    const fn = props.processorFunction;
    const functionWidgets = fn
      ? [new GraphWidget({ title: 'Processor', left: [fn.metricInvocations({ period: PERIOD }), ...fnErrors], right: [fn.metricDuration()] })]
      : [];
    const apiRequests = [props.api.metricCount({ period: PERIOD }), api5xx, props.api.metricClientError({ period: PERIOD })];
    this.dashboard.addWidgets(...functionWidgets, new GraphWidget({ title: 'Config API', left: apiRequests }));
    this.dashboard.addWidgets(...this.alarms.map((a) => new AlarmWidget({ alarm: a })));
  }
}
