import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { LocalSecretsManager } from '../../lib/local/adapters/secrets-manager.js';
import { startLocalAwsEndpoint } from '../../lib/local/aws-endpoint.js';
import { startDynamoDbLocal, ensureTable } from '../../lib/local/dynamodb.js';
import { freePort } from '../../lib/local/ports.js';
import type { TestProject } from 'vitest/node';
import { sharedTableProperties, suppressionKeySecret, testDeployment } from './deployment.js';
import { TEST_SUPPRESSION_KEY } from './dynamo.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The template's `AWS::DynamoDB::Table` properties, for each test file's own table. */
    leadTableProperties: unknown;
  }
}

interface Emulators {
  dynamodb: string;
  tableProperties: unknown;
  stop(): Promise<void>;
}

/** The emulators of this test run: the projects that use this setup share them (one JVM, not one per project). */
const shared = globalThis as { leadloopTestEmulators?: Promise<Emulators> };

/**
 * vitest globalSetup: one in-memory DynamoDB Local per test run, and a stand-in endpoint for the Step Functions and
 * EventBridge calls handlers make (runs started and events put are answered, not executed: the workflow tests run
 * the state machines). Each test file then gets a lead table of its own (table-per-file.ts, from the template's table
 * properties provided here), so state one file leaves behind in the table's global items (the sender's reputation
 * brake, say) never reaches another file's tests. Tests reach them through the variables the deployed functions read:
 * the SDK's `AWS_ENDPOINT_URL_<SERVICE>`, and the template's `TABLE_NAME`, `NURTURE_STATE_MACHINES` and
 * `EVENT_BUS_NAME`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const owner = shared.leadloopTestEmulators === undefined;
  shared.leadloopTestEmulators ??= startEmulators();
  const emulators = await shared.leadloopTestEmulators;
  project.provide('leadTableProperties', emulators.tableProperties);
  return async () => {
    if (owner) await emulators.stop();
  };
}

async function startEmulators(): Promise<Emulators> {
  const port = await freePort();
  const ddb = await startDynamoDbLocal({ port });
  const tableName = 'leadloop-test';
  const deployment = testDeployment(tableName);
  // The template's secrets, the suppression key set to the one the tests' repositories use (test/support/dynamo.ts).
  const secrets = new LocalSecretsManager(deployment.secrets);
  const suppressionKey = suppressionKeySecret(deployment);
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
  const properties = sharedTableProperties();
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTable(client, 'leadloop-test', properties);
  client.destroy();
  return {
    dynamodb: ddb.endpoint,
    tableProperties: properties,
    async stop() {
      await stub.close();
      await ddb.stop();
    },
  };
}
