import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureTable, startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb.js';
import { tableProperties } from '../../test/support/deployment.js';
import { freePort } from '../../lib/local/ports.js';

/**
 * An in-memory DynamoDB Local with the lead table, and the environment the handler modules read at import set to use
 * it (quiet: no metrics, no tracing, errors only). Import handlers after this resolves.
 */
export async function startBenchTable(table: string, region: string): Promise<DynamoDbLocal> {
  const ddb = await startDynamoDbLocal({ port: await freePort() });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    TABLE_NAME: table,
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  const admin = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await ensureTable(admin, table, tableProperties());
  } finally {
    admin.destroy();
  }
  return ddb;
}
