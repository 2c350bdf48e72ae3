import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import {
  AuditAttribute,
  CheckpointAttribute,
  ConfigTableKey,
  DEAD_LETTERS_BY_TENANT_INDEX,
  DeadLetterAttribute,
  DestinationStatusAttribute,
  QuotaAttribute,
  ReplayAttribute,
} from '../../../../src/stores/aws/dynamodb-tables.js';
import { routerTableNames } from '../naming.js';

export interface RouterTablesProps {
  readonly prefix: string;
  readonly retainData: boolean;
}

/**
 * The router's seven DynamoDB tables, with the key schema the stores use (the attribute
 * constants of `src/stores/aws/dynamodb-tables.ts`, written once): on demand, point-in-time
 * recovery on, encrypted with the AWS managed key, TTL on `expires_at` for checkpoints,
 * replay signatures and daily quota counters.
 */
export class RouterTables extends Construct {
  readonly configs: Table;
  readonly checkpoints: Table;
  readonly deadLetters: Table;
  readonly audit: Table;
  readonly status: Table;
  readonly replay: Table;
  /** Daily byte counters of the tenants' quotas, shared by every processor. */
  readonly quotas: Table;

  constructor(scope: Construct, id: string, props: RouterTablesProps) {
    super(scope, id);
    const names = routerTableNames(props.prefix);
    const common = {
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: props.retainData,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    };
    const s = (name: string) => ({ name, type: AttributeType.STRING });

    this.configs = new Table(this, 'Configs', {
      ...common,
      tableName: names.configs,
      partitionKey: s(ConfigTableKey.TENANT_ID),
      sortKey: s(ConfigTableKey.TYPE),
    });
    this.checkpoints = new Table(this, 'Checkpoints', {
      ...common,
      tableName: names.checkpoints,
      partitionKey: s(CheckpointAttribute.OBJECT_KEY),
      sortKey: s(CheckpointAttribute.DESTINATION_ID),
      timeToLiveAttribute: CheckpointAttribute.EXPIRES_AT,
    });
    this.deadLetters = new Table(this, 'DeadLetters', {
      ...common,
      tableName: names.deadLetters,
      partitionKey: s(DeadLetterAttribute.ID),
    });
    this.deadLetters.addGlobalSecondaryIndex({
      indexName: DEAD_LETTERS_BY_TENANT_INDEX,
      partitionKey: s(DeadLetterAttribute.TENANT_ID),
      sortKey: { name: DeadLetterAttribute.CREATED_AT, type: AttributeType.NUMBER },
      // `list` reads whole entries from the index.
      projectionType: ProjectionType.ALL,
    });
    this.audit = new Table(this, 'Audit', {
      ...common,
      tableName: names.audit,
      partitionKey: s(AuditAttribute.TENANT_ID),
      sortKey: s(AuditAttribute.ENTRY_KEY),
    });
    this.status = new Table(this, 'Status', {
      ...common,
      tableName: names.status,
      partitionKey: s(DestinationStatusAttribute.TENANT_ID),
      sortKey: s(DestinationStatusAttribute.TYPE),
    });
    this.replay = new Table(this, 'Replay', {
      ...common,
      tableName: names.replay,
      partitionKey: s(ReplayAttribute.SIGNATURE),
      timeToLiveAttribute: ReplayAttribute.EXPIRES_AT,
    });
    this.quotas = new Table(this, 'Quotas', {
      ...common,
      tableName: names.quotas!,
      partitionKey: s(QuotaAttribute.TENANT_ID),
      sortKey: s(QuotaAttribute.DAY),
      timeToLiveAttribute: QuotaAttribute.EXPIRES_AT,
    });
  }
}
