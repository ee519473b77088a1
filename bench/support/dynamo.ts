import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LocalSecretsManager } from '../../lib/local/adapters/secrets-manager.js';
import { startLocalAwsEndpoint } from '../../lib/local/aws-endpoint.js';
import { ensureTable, startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb.js';
import { suppressionKeySecret, tableProperties, testDeployment } from '../../test/support/deployment.js';
import { freePort } from '../../lib/local/ports.js';

/**
 * An in-memory DynamoDB Local with the lead table, the template's secrets on a local Secrets Manager (the capture and
 * engagement handlers read the suppression key at run time), and the environment the handler modules read at import
 * set to use them (quiet: no metrics, no tracing, errors only). Import handlers after this resolves.
 */
export async function startBenchTable(table: string, region: string): Promise<DynamoDbLocal> {
  const ddb = await startDynamoDbLocal({ port: await freePort() });
  const deployment = testDeployment(table);
  const suppressionKey = suppressionKeySecret(deployment);
  const secrets = await startLocalAwsEndpoint({
    port: 0,
    services: [new LocalSecretsManager(deployment.secrets).service()],
  });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    SUPPRESSION_KEY_SECRET_ARN: suppressionKey.arn,
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
  return {
    endpoint: ddb.endpoint,
    async stop() {
      await secrets.close();
      await ddb.stop();
    },
  };
}
