import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkWriter } from '../../lambdas/adapters/bulk-writer.js';
import { bareScan, emptyStats, LeadTableReader, type LeadRead } from '../../lambdas/adapters/lead-table-reader.js';
import { keys } from '../../lambdas/adapters/table-definition.js';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import { newLead } from '../../lambdas/domain/lead.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { sharedTableProperties } from '../support/deployment.js';

/** A table of its own (the reader reads a whole table), filled with leads of 0 to 20 events. */
const table = `reader-${Date.now()}`;
const LEADS = 60;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
const expected = new Map<string, string[]>();

const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString();

beforeAll(async () => {
  client = new DynamoDBClient({
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  await ensureTable(client, table, sharedTableProperties());
  const writer = bulkWriter(doc, table, 4);
  for (let i = 0; i < LEADS; i++) {
    const leadId = `01J${String(i).padStart(23, '0')}`;
    const events: LeadEvent[] = Array.from({ length: (i * 7) % 21 }, (_, j) => ({
      eventId: `e-${i}-${j}`,
      leadId,
      type: j % 3 === 0 ? 'page_viewed' : 'email_opened',
      occurredAt: at(j),
      receivedAt: at(j),
      source: 'api',
      properties: { url: 'https://x.io/pricing' },
    }));
    expected.set(leadId, events.map((e) => e.eventId).sort());
    await writer.addLead(newLead(leadId, `p${i}@example-corp.com`, new Date(at(0))), events);
  }
  await writer.flush();
  // Items the reader must leave out or set apart: a stage-history item, an orphan event, a lead with a bad event.
  await doc.send(
    new PutCommand({
      TableName: table,
      Item: { ...keys.stage('01J00000000000000000000000', at(1), 'lead'), entity: 'stage', to: 'lead' },
    }),
  );
  await doc.send(
    new PutCommand({ TableName: table, Item: { ...keys.event('orphan', 'x'), entity: 'event', eventId: 'x' } }),
  );
  const bad = newLead('01JBAD00000000000000000000', 'bad@example-corp.com', new Date(at(0)));
  const w2 = bulkWriter(doc, table);
  await w2.addLead(bad, []);
  await w2.flush();
  await doc.send(
    new PutCommand({
      TableName: table,
      Item: { ...keys.event(bad.leadId, 'broken'), entity: 'event', eventId: 'broken', type: 'no_such_type' },
    }),
  );
}, 60_000);

afterAll(() => client.destroy());

async function readAll(options: Parameters<LeadTableReader['leads']>[0]) {
  const reads: LeadRead[] = [];
  const stats = emptyStats();
  for await (const read of new LeadTableReader(doc, table).leads(options, stats)) reads.push(read);
  return { reads, stats };
}

describe('LeadTableReader (parallel Scan, one lead at a time)', () => {
  it.each([
    { segments: 1, pageSize: 7, window: 1000 },
    { segments: 3, pageSize: 7, window: 1 },
    { segments: 8, pageSize: undefined, window: 10 },
  ])('hands on every lead once with all its events (%o)', async (options) => {
    const { reads, stats } = await readAll(options);
    const logs = reads.flatMap((r) => (r.kind === 'lead' ? [r.log] : []));
    expect(logs.map((l) => l.lead.leadId).sort()).toEqual([...expected.keys()].sort());
    for (const log of logs) expect(log.events.map((e) => e.eventId).sort()).toEqual(expected.get(log.lead.leadId));
    expect(reads.filter((r) => r.kind === 'unreadable')).toEqual([
      { kind: 'unreadable', leadId: '01JBAD00000000000000000000', reason: expect.stringMatching(/^event broken: /) },
    ]);
    expect(stats).toMatchObject({ leads: LEADS, unreadable: 1, orphans: 1, split: 0 });
    // Small pages split leads over page boundaries: the reader carried them over.
    if (options.pageSize) expect(stats.pages).toBeGreaterThan(LEADS / 2);
  });

  it('stops scanning when the consumer stops early', async () => {
    const stats = emptyStats();
    let seen = 0;
    for await (const _ of new LeadTableReader(doc, table).leads({ segments: 2, pageSize: 5, window: 2 }, stats)) {
      if (++seen === 3) break;
    }
    expect(stats.items).toBeLessThan(200);
  });

  it('the bare scan baseline reads the same items', async () => {
    const { stats } = await readAll({ segments: 4 });
    expect(await bareScan(doc, table, { segments: 4 })).toBe(stats.items);
  });

  it('estimates the table size for the progress display', async () => {
    expect(await new LeadTableReader(doc, table).estimatedItems()).toBeGreaterThan(LEADS);
  });
});
