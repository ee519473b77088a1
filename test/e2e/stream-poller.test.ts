import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamSchema } from '@aws-lambda-powertools/parser/schemas/dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable, startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb.js';
import { tableProperties } from '../support/deployment.js';
import { freePort } from '../../lib/local/ports.js';
import { startStreamPoller, type StreamPoller, type StreamPollerOptions } from '../../lib/local/stream-poller.js';
import type { LambdaHandler } from '../../lib/local/lambda.js';

/**
 * The stream poller against DynamoDB Local's real stream, with handlers written here: what Lambda's event source
 * mapping would deliver, and how partial failures, poison records and restarts behave.
 */

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const region = 'us-east-1';
let ddb: DynamoDbLocal;
let client: DynamoDBClient;
let tableCount = 0;
const dirs: string[] = [];

beforeAll(async () => {
  ddb = await startDynamoDbLocal({ port: await freePort() });
  client = new DynamoDBClient({ endpoint: ddb.endpoint, region, credentials });
});

afterAll(async () => {
  client.destroy();
  await ddb.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh table (and so a fresh stream) per test. */
async function freshTable(c: DynamoDBClient = client): Promise<string> {
  const name = `poller-test-${++tableCount}-${Date.now()}`;
  await ensureTable(c, name, tableProperties());
  return name;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'leadloop-poller-'));
  dirs.push(d);
  return d;
}

const putEvent = (table: string, leadId: string, eventId: string, c: DynamoDBClient = client) =>
  c.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        pk: { S: `LEAD#${leadId}` },
        sk: { S: `EVENT#${eventId}` },
        type: { S: 'page_viewed' },
        n: { N: '1' },
        properties: { M: {} },
        tags: { L: [] },
        raw: { B: new Uint8Array([1, 2]) },
      },
    }),
  );

/** A handler that records what it received (validated as Lambda's DynamoDBStreamEvent) and fails as told. */
function recorder(fail: (eventId: string, attempt: number) => 'ok' | 'report' | 'throw' = () => 'ok') {
  const batches: string[][] = [];
  const seen = new Map<string, number>();
  const handler: LambdaHandler = async (event) => {
    const parsed = DynamoDBStreamSchema.parse(event);
    const ids = parsed.Records.map((r) => String(r.dynamodb.Keys.sk).slice('EVENT#'.length));
    batches.push(ids);
    const failures: { itemIdentifier: string }[] = [];
    for (const [i, r] of parsed.Records.entries()) {
      const id = ids[i] ?? '';
      const attempt = (seen.get(id) ?? 0) + 1;
      seen.set(id, attempt);
      const verdict = fail(id, attempt);
      if (verdict === 'throw') throw new Error(`cannot process ${id}`);
      if (verdict === 'report')
        failures.push({ itemIdentifier: 'SequenceNumber' in r.dynamodb ? r.dynamodb.SequenceNumber : '' });
    }
    return { batchItemFailures: failures };
  };
  return { handler, batches, seen, delivered: () => batches.flat() };
}

async function poller(
  table: string,
  handler: LambdaHandler,
  extra: Partial<StreamPollerOptions> = {},
): Promise<StreamPoller> {
  return startStreamPoller({
    endpoint: ddb.endpoint,
    region,
    credentials,
    tableName: table,
    handler,
    pollIntervalMs: 50,
    log: () => undefined,
    ...extra,
  });
}

describe('stream poller', () => {
  it('delivers new event items only, in Lambda batches of at most 25, each once', async () => {
    const table = await freshTable();
    const rec = recorder();
    const p = await poller(table, rec.handler);
    await client.send(
      new PutItemCommand({ TableName: table, Item: { pk: { S: 'LEAD#a' }, sk: { S: 'LEAD' }, v: { N: '1' } } }),
    );
    for (let i = 0; i < 30; i++) await putEvent(table, 'a', `e${String(i).padStart(2, '0')}`);
    await client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: 'LEAD#a' }, sk: { S: 'EVENT#e00' } },
        UpdateExpression: 'SET appliedAt = :t',
        ExpressionAttributeValues: { ':t': { S: 'now' } },
      }),
    );

    await p.drain();
    await p.stop();

    const delivered = rec.delivered();
    expect(delivered).toHaveLength(30);
    expect(new Set(delivered).size).toBe(30);
    expect(delivered[0]).toBe('e00');
    expect(Math.max(...rec.batches.map((b) => b.length))).toBeLessThanOrEqual(25);
  });

  it('shapes records as Lambda does', async () => {
    const table = await freshTable();
    let first: unknown;
    const p = await poller(table, async (event) => {
      first ??= event;
      return { batchItemFailures: [] };
    });
    await putEvent(table, 'b', 'x1');

    await p.drain();
    await p.stop();

    const parsed = DynamoDBStreamSchema.parse(first);
    const r = parsed.Records[0];
    expect(r?.eventSource).toBe('aws:dynamodb');
    expect(r?.eventName).toBe('INSERT');
    expect(r?.eventSourceARN).toBe(p.streamArn);
    expect(r?.awsRegion).toBe(region);
    expect(r?.dynamodb).toMatchObject({ StreamViewType: 'KEYS_ONLY' });
    expect(typeof r?.dynamodb.ApproximateCreationDateTime).toBe('number');
    expect(r?.dynamodb.Keys).toEqual({ pk: 'LEAD#b', sk: 'EVENT#x1' });
    // The table streams keys only (the template's view type): no item content travels with the record.
    expect(r?.dynamodb.NewImage).toBeUndefined();
    expect(r?.dynamodb.OldImage).toBeUndefined();
  });

  it('retries from the first record reported as failed, not the records before it', async () => {
    const table = await freshTable();
    const rec = recorder((id, attempt) => (id === 'e2' && attempt === 1 ? 'report' : 'ok'));
    for (const id of ['e1', 'e2', 'e3']) await putEvent(table, 'c', id);
    const p = await poller(table, rec.handler);

    await p.drain();
    await p.stop();

    expect(rec.seen.get('e1')).toBe(1);
    expect(rec.seen.get('e2')).toBe(2);
    expect(rec.seen.get('e3')).toBe(2);
    expect(p.deadLetters).toHaveLength(0);
  });

  it('sets a record that keeps failing aside in the DLQ file and moves on', async () => {
    const table = await freshTable();
    const dir = tempDir();
    const dlqFile = join(dir, 'dlq', 'score-stream.jsonl');
    const rec = recorder((id) => (id === 'poison' ? 'report' : 'ok'));
    for (const id of ['ok1', 'poison', 'ok2']) await putEvent(table, 'd', id);
    const p = await poller(table, rec.handler, { retryAttempts: 2, dlqFile });

    await p.drain();
    await p.stop();

    expect(rec.seen.get('poison')).toBe(3);
    expect(rec.seen.get('ok2')).toBeGreaterThanOrEqual(1);
    expect(p.deadLetters.map((d) => d.sequenceNumber)).toHaveLength(1);
    const lines = readFileSync(dlqFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      attempts: 3,
      record: { dynamodb: { Keys: { sk: { S: 'EVENT#poison' } } } },
    });
  });

  it('bisects a batch whose invocation throws until the poison record is alone', async () => {
    const table = await freshTable();
    const ids = Array.from({ length: 8 }, (_, i) => `t${i}`);
    const rec = recorder((id) => (id === 't5' ? 'throw' : 'ok'));
    for (const id of ids) await putEvent(table, 'e', id);
    const p = await poller(table, rec.handler, { retryAttempts: 1 });

    await p.drain();
    await p.stop();

    expect(p.deadLetters.map((d) => d.record.dynamodb?.Keys?.sk?.S)).toEqual(['EVENT#t5']);
    for (const id of ids.filter((i) => i !== 't5')) expect(rec.seen.get(id)).toBeGreaterThanOrEqual(1);
    expect(rec.batches.at(-1)).not.toContain('t5');
  });

  // Two cold starts of DynamoDB Local on disk: slow on a busy machine.
  it(
    'resumes after its checkpoint across a restart of the poller and of DynamoDB Local, without replaying',
    { timeout: 180_000 },
    async () => {
      const dir = tempDir();
      const checkpointFile = join(dir, 'stream-checkpoint.json');
      const port = await freePort();
      let persisted = await startDynamoDbLocal({ port, dataDir: join(dir, 'dynamodb') });
      let c = new DynamoDBClient({ endpoint: persisted.endpoint, region, credentials });
      try {
        const table = await freshTable(c);
        for (const id of ['r1', 'r2', 'r3']) await putEvent(table, 'f', id, c);
        const first = recorder();
        const p1 = await startStreamPoller({
          endpoint: persisted.endpoint,
          region,
          credentials,
          tableName: table,
          handler: first.handler,
          checkpointFile,
          pollIntervalMs: 50,
          log: () => undefined,
        });
        await p1.drain();
        await p1.stop();
        c.destroy();
        await persisted.stop();

        persisted = await startDynamoDbLocal({ port, dataDir: join(dir, 'dynamodb') });
        c = new DynamoDBClient({ endpoint: persisted.endpoint, region, credentials });
        for (const id of ['r4', 'r5']) await putEvent(table, 'f', id, c);
        const second = recorder();
        const p2 = await startStreamPoller({
          endpoint: persisted.endpoint,
          region,
          credentials,
          tableName: table,
          handler: second.handler,
          checkpointFile,
          pollIntervalMs: 50,
          log: () => undefined,
        });
        await p2.drain();
        await p2.stop();

        expect(first.delivered()).toEqual(['r1', 'r2', 'r3']);
        expect(second.delivered()).toEqual(['r4', 'r5']);
      } finally {
        c.destroy();
        await persisted.stop();
      }
    },
  );

  it('rejects drain() once stopped', async () => {
    const table = await freshTable();
    const p = await poller(table, recorder().handler);
    await p.stop();

    await expect(p.drain()).rejects.toThrow(/stopped/);
  });
});
