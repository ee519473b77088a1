import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal, ensureTable } from '../../lib/local/dynamodb.js';
import { freePort } from '../../lib/local/ports.js';

/**
 * vitest globalSetup: one in-memory DynamoDB Local per test run, with the lead table. Tests reach it through the
 * same environment variables the Lambdas read (DYNAMODB_ENDPOINT, TABLE_NAME).
 */
export default async function setup(): Promise<() => Promise<void>> {
  const port = await freePort();
  const ddb = await startDynamoDbLocal({ port });
  process.env.DYNAMODB_ENDPOINT = ddb.endpoint;
  process.env.TABLE_NAME = 'leadloop-test';
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTable(client, process.env.TABLE_NAME);
  client.destroy();
  return async () => ddb.stop();
}
