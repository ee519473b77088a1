import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll } from 'vitest';
import { ensureTable, startDynamoDbLocal } from '../../lib/local/dynamodb.js';
import { freePort } from '../../lib/local/ports.js';
import { tableProperties } from './deployment.js';

/**
 * Imported first by a test file that reads the table's stream: a DynamoDB Local of the file's own with a lead table
 * exactly as the template declares it (stream included), named in `AWS_ENDPOINT_URL_DYNAMODB` and `TABLE_NAME` before
 * the file's other modules read them. The run's shared DynamoDB Local has tables without streams
 * (`sharedTableProperties`), because it slows with every stream record it keeps; this one is stopped after the file.
 */
const ddb = await startDynamoDbLocal({ port: await freePort() });
const tableName = 'leadloop-stream-test';
const client = new DynamoDBClient({
  endpoint: ddb.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
await ensureTable(client, tableName, tableProperties());
client.destroy();
process.env.AWS_ENDPOINT_URL_DYNAMODB = ddb.endpoint;
process.env.TABLE_NAME = tableName;

afterAll(() => ddb.stop());
