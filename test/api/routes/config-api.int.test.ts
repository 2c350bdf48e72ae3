import { rm } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsClientConfig } from '../../../src/aws/index.js';
import {
  createDynamoAuditLogStore,
  createDynamoConfigStore,
  createDynamoDeadLetterStore,
  createDynamoDestinationStatusStore,
  createRouterTables,
  defaultRouterTableNames,
} from '../../../src/stores/aws/index.js';
import type { ConfigApiBackend } from '../../helpers/api.js';
import { requireAttributeNamePlaceholders } from '../../helpers/dynamodb.js';
import { randomId } from '../../helpers/factories.js';
import { motoUnavailable, startMoto, useFakeAwsCredentials } from '../../helpers/moto.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { describeConfigApiRoutes } from './config-api.suite.js';

/**
 * The stores of the AWS runtime on a moto server of this file's own: the six router tables
 * under random names, and a document client as the runtime builds it, refusing expressions
 * that name attributes without placeholders (AWS refuses reserved words; moto does not).
 */
function dynamoConfigApiBackend(): ConfigApiBackend {
  return {
    name: 'DynamoDB (moto)',
    unavailable: motoUnavailable,
    async open() {
      useFakeAwsCredentials();
      const moto = await startMoto();
      const client = new DynamoDBClient(awsClientConfig(moto.settings));
      requireAttributeNamePlaceholders(client);
      const documentClient = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
      const id = randomId();
      const tables = defaultRouterTableNames(`configs-${id}`);
      await createRouterTables(client, tables);
      const baseDir = await makeTempDir('tlr-api-dynamo-');
      return {
        configs: createDynamoConfigStore({
          client: documentClient,
          tableName: tables.configs,
          auditTableName: tables.audit,
        }),
        audit: createDynamoAuditLogStore({ client: documentClient, tableName: tables.audit }),
        status: createDynamoDestinationStatusStore({ client: documentClient, tableName: tables.status }),
        deadLetters: createDynamoDeadLetterStore({ client: documentClient, tableName: tables.deadLetters }),
        baseDir,
        async close() {
          client.destroy();
          await moto.stop();
          await rm(baseDir, { recursive: true, force: true });
        },
      };
    },
  };
}

describeConfigApiRoutes(dynamoConfigApiBackend());
