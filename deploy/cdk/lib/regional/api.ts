import { Duration } from 'aws-cdk-lib';
import {
  AuthorizationType,
  type CfnAuthorizer,
  EndpointType,
  LambdaIntegration,
  RequestAuthorizer,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { PskEnv } from '../../../../src/api/auth/psk.js';
import { DEAD_LETTERS_BY_TENANT_INDEX } from '../../../../src/stores/aws/dynamodb-tables.js';
import { LambdaBundle } from '../lambda-bundle.js';
import { pskSecretName } from '../naming.js';
import { allow } from './grants.js';
import { createRouterFunction } from './functions.js';
import { RouterEnv, tableEnvironment } from './processor.js';
import type { ValidatedRegionalSettings } from './props.js';
import type { RouterTables } from './tables.js';

/** The API Gateway stage; signatures never include it (docs/api-auth.md). */
export const API_STAGE_NAME = 'prod';

const API_TIMEOUT = Duration.seconds(29);
const AUTHORIZER_TIMEOUT = Duration.seconds(10);

export interface ConfigApiProps {
  readonly settings: ValidatedRegionalSettings;
  readonly apiRole: IRole;
  readonly authorizerRole: IRole;
  readonly centralRole: IRole;
  readonly centralAccountId: string;
  readonly tables: RouterTables;
  readonly bucketName: string;
}

/**
 * The delivery-config API: a regional REST API whose every route goes to the API Lambda
 * (`api.handler`, proxy integration), behind the REQUEST authorizer (`api.authorizer`).
 *
 * The authorizer has no identity source and no result cache: every request carries a new
 * HMAC signature over its own timestamp, so a cached policy could only let a request through
 * unchecked; and an identity source would refuse the unsigned `GET /api/v1/health` before
 * the authorizer sees it.
 */
export class ConfigApi extends Construct {
  readonly api: RestApi;
  readonly handler: LambdaFunction;
  readonly authorizerFunction: LambdaFunction;

  constructor(scope: Construct, id: string, props: ConfigApiProps) {
    super(scope, id);
    const { settings, tables } = props;
    const common = {
      grantLogs: false,
      codeDir: settings.bundles[LambdaBundle.API],
      logRetentionDays: settings.logRetentionDays,
      retainData: settings.retainData,
    };
    this.handler = createRouterFunction(this, 'Handler', {
      ...common,
      functionName: `${settings.prefix}-api`,
      description: 'Tenant log router: the delivery-config API behind API Gateway.',
      role: props.apiRole,
      handler: `${LambdaBundle.API}.handler`,
      environment: {
        ...tableEnvironment(tables),
        [RouterEnv.SOURCE_BUCKET]: props.bucketName,
        [RouterEnv.CENTRAL_LOG_DISTRIBUTION_ROLE_ARN]: props.centralRole.roleArn,
        [RouterEnv.CENTRAL_ACCOUNT_ID]: props.centralAccountId,
        [RouterEnv.LOG_LEVEL]: settings.logLevel,
      },
      timeout: API_TIMEOUT,
      memorySize: 512,
    });
    this.authorizerFunction = createRouterFunction(this, 'Authorizer', {
      ...common,
      functionName: `${settings.prefix}-api-authorizer`,
      description: 'Tenant log router: checks the HMAC signature of API requests.',
      role: props.authorizerRole,
      handler: `${LambdaBundle.API}.authorizer`,
      environment: { [PskEnv.SECRET_NAME]: pskSecretName(settings.prefix), [RouterEnv.LOG_LEVEL]: settings.logLevel },
      timeout: AUTHORIZER_TIMEOUT,
      memorySize: 256,
    });

    // The API: configs are read, written in transactions with their audit entry, and removed
    // on offboarding; status is listed and removed; dead letters are listed (by tenant through
    // the index); each mutating request's signature is put once into the replay table.
    const api = props.apiRole;
    allow(
      api,
      [
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:ConditionCheckItem',
      ],
      [tables.configs.tableArn],
    );
    allow(api, ['dynamodb:PutItem', 'dynamodb:Query'], [tables.audit.tableArn]);
    allow(
      api,
      ['dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      [tables.status.tableArn],
    );
    allow(
      api,
      ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan'],
      [tables.deadLetters.tableArn, `${tables.deadLetters.tableArn}/index/${DEAD_LETTERS_BY_TENANT_INDEX}`],
    );
    allow(api, ['dynamodb:PutItem'], [tables.replay.tableArn]);
    // Assuming the central role (live checks), reading the key secret (the authorizer) and
    // writing logs: the global stack's grants.

    const authorizer = new RequestAuthorizer(this, 'RequestAuthorizer', {
      authorizerName: `${settings.prefix}-hmac`,
      handler: this.authorizerFunction,
      identitySources: [],
      resultsCacheTtl: Duration.seconds(0),
    });
    this.api = new RestApi(this, 'RestApi', {
      restApiName: `${settings.prefix}-config-api`,
      description: 'Tenant log router: delivery-config API (HMAC-signed requests).',
      endpointTypes: [EndpointType.REGIONAL],
      // The account-wide CloudWatch role for API Gateway logging is the platform's to set.
      cloudWatchRole: false,
      deployOptions: { stageName: API_STAGE_NAME },
      defaultMethodOptions: { authorizer, authorizationType: AuthorizationType.CUSTOM },
    });
    this.api.root.addProxy({ defaultIntegration: new LambdaIntegration(this.handler), anyMethod: true });
    // With no identity source and no cache, the property is left out rather than sent empty.
    (authorizer.node.defaultChild as CfnAuthorizer).addPropertyDeletionOverride('IdentitySource');
  }
}
