import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, inject } from 'vitest';
import { ensureTable } from '../../lib/local/dynamodb.js';

/**
 * vitest setupFile (runs before each test file): a lead table of the file's own on the test run's DynamoDB Local
 * (emulators.ts), without a stream (see `sharedTableProperties`), named in `TABLE_NAME` before the file's modules
 * read it. Unique addresses keep a file's tests apart;
 * a table per file also keeps apart the items every lead shares (the sender's reputation state and daily counters),
 * which one file's complaint would otherwise pause for every other file running beside it.
 */
const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
if (!endpoint) throw new Error('DynamoDB Local is not running: the project needs the emulators globalSetup');
const tableName = `leadloop-test-${randomUUID().slice(0, 8)}`;
const client = new DynamoDBClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
await ensureTable(client, tableName, inject('leadTableProperties'));
process.env.TABLE_NAME = tableName;

afterAll(async () => {
  await client.send(new DeleteTableCommand({ TableName: tableName }));
  client.destroy();
});
