import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { LocalSecretsManager } from '../../lib/local/adapters/secrets-manager.js';
import { startLocalAwsEndpoint } from '../../lib/local/aws-endpoint.js';
import { startDynamoDbLocal, ensureTable } from '../../lib/local/dynamodb.js';
import { freePort } from '../../lib/local/ports.js';
import { tableProperties, testDeployment } from './deployment.js';
import { TEST_SUPPRESSION_KEY } from './dynamo.js';

/**
 * vitest globalSetup: one in-memory DynamoDB Local per test run with the lead table, and a stand-in endpoint for the
 * Step Functions and EventBridge calls handlers make (runs started and events put are answered, not executed: the
 * workflow tests run the state machines). Tests reach them through the variables the deployed functions read: the
 * SDK's `AWS_ENDPOINT_URL_<SERVICE>`, and the template's `TABLE_NAME`, `NURTURE_STATE_MACHINES` and `EVENT_BUS_NAME`.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const port = await freePort();
  const ddb = await startDynamoDbLocal({ port });
  const tableName = 'leadloop-test';
  const deployment = testDeployment(tableName);
  // The template's secrets, the suppression key set to the one the tests' repositories use (test/support/dynamo.ts).
  const secrets = new LocalSecretsManager(deployment.secrets);
  const suppressionKey = Object.values(deployment.secrets).find((s) =>
    s.logicalId.startsWith('DataRightsSuppressionKey'),
  );
  if (!suppressionKey) throw new Error('the template has no suppression key secret');
  secrets.put(suppressionKey.arn, TEST_SUPPRESSION_KEY);
  const stub = await startLocalAwsEndpoint({
    port: 0,
    services: [
      {
        targetPrefix: 'AWSStepFunctions.',
        protocol: '1.0',
        handle: async (operation, body) => {
          const req = z.object({ stateMachineArn: z.string().optional(), name: z.string().optional() }).parse(body);
          return operation === 'StartExecution'
            ? { executionArn: `${req.stateMachineArn}:${req.name ?? randomUUID()}`, startDate: Date.now() / 1000 }
            : { stopDate: Date.now() / 1000 };
        },
      },
      {
        targetPrefix: 'AWSEvents.',
        protocol: '1.1',
        handle: async () => ({ FailedEntryCount: 0, Entries: [{ EventId: randomUUID() }] }),
      },
      secrets.service(),
    ],
  });
  const machines = Object.fromEntries(
    Object.values(deployment.stateMachines)
      .filter((m) => m.track !== undefined)
      .map((m) => [m.track, m.arn]),
  );
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_SFN: stub.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: stub.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: stub.url,
    SUPPRESSION_KEY_SECRET_ARN: suppressionKey.arn,
    TABLE_NAME: tableName,
    NURTURE_STATE_MACHINES: JSON.stringify(machines),
    EVENT_BUS_NAME: 'default',
    ALLOWED_ORIGINS: 'http://localhost:3000,http://127.0.0.1:3000',
    // Handlers imported whole capture without the confirmation mail (no SES here); confirmed opt-in is tested with
    // injected dependencies and on the stack run as deployed.
    CONFIRMED_OPT_IN: 'false',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTable(client, tableName, tableProperties());
  client.destroy();
  return async () => {
    await stub.close();
    await ddb.stop();
  };
}
