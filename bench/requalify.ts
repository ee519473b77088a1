import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isDeepStrictEqual } from 'node:util';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  type AttributeValue,
  type BatchWriteItemCommandOutput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ulid } from 'ulid';
import { DynamoLeadRepository, leadItem } from '../lambdas/adapters/dynamo-lead-repository.js';
import { TABLE, keys, reviewShardOf } from '../lambdas/adapters/table-definition.js';
import { DAY_MS, fixedClock } from '../lambdas/domain/clock.js';
import { newLead, type Lead } from '../lambdas/domain/lead.js';
import type { NurtureStarter } from '../lambdas/domain/nurture/ports.js';
import { requalify } from '../lambdas/domain/requalification.js';
import { applyEvents, defaultModel } from '../lambdas/domain/scoring/index.js';
import {
  addCounts,
  emptyCounts,
  ShardSweepInput,
  sweepShard,
  type SweepCounts,
  type SweepDeps,
} from '../lambdas/domain/sweep.js';
import { startDynamoDbLocal } from '../lib/local/dynamodb.js';
import { freePort } from '../lib/local/ports.js';

/**
 * The requalification sweep's cost against table size (DESIGN §7, issue 6): seeds N realistic scored leads straight
 * into DynamoDB Local (in memory, started here), ~1% of them due, then sweeps every review-index shard the way the
 * state machine does (4 shards at a time, each shard invocation by invocation) and prints the items read per due lead
 * (the query's ScannedCount, and the read units DynamoDB Local reports), leads requalified per second, and how both
 * change from the smallest size to the others.
 *
 * Run: `npx tsx bench/requalify.ts [--sizes 10000,100000] [--largest 1000000] [--due 0.01] [--budget 240]
 * [--writers 16]`. Every size of --sizes runs; --largest runs only if seeding and sweeping it would take at most
 * --budget seconds at the rates measured on the sizes before it (the decision and the projection are printed).
 * Seeding is parallel BatchWriteItem (--writers requests in flight), each lead's item marshalled from its template's
 * (checked against the adapter's own item at start).
 */

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    largest: { type: 'string', default: '1000000' },
    due: { type: 'string', default: '0.01' },
    budget: { type: 'string', default: '240' },
    concurrency: { type: 'string', default: '4' },
    writers: { type: 'string', default: '16' },
  },
});
const SIZES = (values.sizes ?? '')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const LARGEST = Number(values.largest);
const DUE_SHARE = Number(values.due);
const BUDGET_S = Number(values.budget);
const MAP_CONCURRENCY = Number(values.concurrency);
/** BatchWriteItem requests in flight while seeding (see bench/README.md for the rates measured per count). */
const WRITERS = Number(values.writers);

const ASOF = new Date('2026-03-02T03:00:00.000Z');
const daysBefore = (days: number): Date => new Date(ASOF.getTime() - days * DAY_MS);

/** A lead scored from a realistic first touch: profile form, ebook, a few visits. Cloned (new id) for every seeded lead. */
function template(lastActivity: Date): Lead {
  const at = (d: number) => new Date(lastActivity.getTime() - d * DAY_MS).toISOString();
  const leadId = 'template';
  const ev = (d: number, type: 'form_submitted' | 'content_download' | 'page_viewed', properties = {}) => ({
    eventId: `${type}-${d}`,
    leadId,
    type,
    occurredAt: at(d),
    receivedAt: at(d),
    source: 'form' as const,
    properties,
  });
  const base: Lead = {
    ...newLead(leadId, 'template@acme-builders.com', new Date(at(20))),
    consent: { marketing: true, at: at(20), source: 'form' },
  };
  return applyEvents(
    base,
    [
      ev(20, 'form_submitted', {
        formId: 'ebook',
        jobTitle: 'Project Manager',
        companySize: '51-200',
        industry: 'Construction',
        firstName: 'Pat',
      }),
      ev(20, 'content_download', { url: '/ebooks/estimating' }),
      ev(5, 'page_viewed', { url: '/pricing' }),
      ev(0, 'page_viewed', { url: '/blog/bids' }),
    ],
    defaultModel,
    lastActivity,
  ).lead;
}

/** Due leads went silent 120 days ago (dormancy is due); the others were active in the last 60 days. */
const DUE_TEMPLATE = template(daysBefore(120));
const FRESH_TEMPLATES = Array.from({ length: 60 }, (_, d) => template(daysBefore(d)));

const templateOf = (i: number, due: boolean): Lead =>
  due ? DUE_TEMPLATE : (FRESH_TEMPLATES[i % FRESH_TEMPLATES.length] ?? DUE_TEMPLATE);

function seededLead(i: number, due: boolean, leadId: string): Lead {
  return { ...templateOf(i, due), leadId, email: `lead.${leadId.toLowerCase()}@acme-builders.com`, version: 1 };
}

/**
 * The item the adapter would write for `seededLead(i, due, leadId)`, marshalled: the template's item is marshalled
 * once, and only what depends on the lead's id is replaced (its id, email, version, key and index keys), which leaves
 * the CPU to DynamoDB Local rather than to marshalling the same 2 KB lead a million times.
 */
const marshalledTemplates = new Map<Lead, Record<string, AttributeValue>>();
function seededItem(i: number, due: boolean, leadId: string): Record<string, AttributeValue> {
  const t = templateOf(i, due);
  let base = marshalledTemplates.get(t);
  if (base === undefined) {
    base = marshall(leadItem(t), { removeUndefinedValues: true });
    marshalledTemplates.set(t, base);
  }
  const s = (S: string): AttributeValue => ({ S });
  return {
    ...base,
    leadId: s(leadId),
    email: s(`lead.${leadId.toLowerCase()}@acme-builders.com`),
    version: { N: '1' },
    [TABLE.partitionKey]: s(keys.lead(leadId).pk),
    [TABLE.byStageIndex.sortKey]: s(`${t.stageChangedAt}#${leadId}`),
    ...(t.reviewAt && {
      [TABLE.reviewIndex.partitionKey]: s(keys.reviewShard(reviewShardOf(leadId))),
      [TABLE.reviewIndex.sortKey]: s(`${t.reviewAt}#${leadId}`),
    }),
  };
}

/** The shortcut writes what the adapter writes: checked on every template before any seeding. */
function checkSeededItems(): void {
  for (let i = 0; i < 2 * FRESH_TEMPLATES.length; i++) {
    const due = i % 2 === 0;
    const leadId = ulid();
    const expected = marshall(leadItem(seededLead(i, due, leadId)), { removeUndefinedValues: true });
    if (!isDeepStrictEqual(seededItem(i, due, leadId), expected)) {
      throw new Error(`seeded item ${i} differs from the adapter's item`);
    }
  }
}

/**
 * The lead table's keys and indexes exactly as the stack defines them (TABLE), without the stream: DynamoDB Local's
 * stream emulation slows every write several times over (real DynamoDB's does not), and the sweep reads no stream.
 */
async function createBenchTable(client: DynamoDBClient, name: string): Promise<void> {
  const string = (AttributeName: string) => ({ AttributeName, AttributeType: 'S' as const });
  const indexes = [TABLE.byStageIndex, TABLE.reviewIndex];
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        TABLE.partitionKey,
        TABLE.sortKey,
        ...indexes.flatMap((ix) => [ix.partitionKey, ix.sortKey]),
      ].map(string),
      KeySchema: [
        { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: indexes.map((ix) => ({
        IndexName: ix.name,
        KeySchema: [
          { AttributeName: ix.partitionKey, KeyType: 'HASH' as const },
          { AttributeName: ix.sortKey, KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: ix.projection },
      })),
    }),
  );
}

async function pool(tasks: number, workers: number, run: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = next++; i < tasks; i = next++) await run(i);
    }),
  );
}

async function seed(client: DynamoDBClient, table: string, n: number): Promise<{ due: number; seconds: number }> {
  const dueEvery = Math.round(1 / DUE_SHARE);
  let due = 0;
  const started = performance.now();
  await pool(Math.ceil(n / 25), WRITERS, async (batch) => {
    const items: WriteRequest[] = [];
    for (let i = batch * 25; i < Math.min(n, batch * 25 + 25); i++) {
      const isDue = i % dueEvery === 0;
      if (isDue) due++;
      const leadId = ulid(Date.parse(templateOf(i, isDue).createdAt));
      items.push({ PutRequest: { Item: seededItem(i, isDue, leadId) } });
    }
    let request: Record<string, WriteRequest[]> | undefined = { [table]: items };
    for (let attempt = 0; request; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
      const out: BatchWriteItemCommandOutput = await client.send(new BatchWriteItemCommand({ RequestItems: request }));
      const unprocessed: WriteRequest[] | undefined = out.UnprocessedItems?.[table];
      request = unprocessed && unprocessed.length > 0 ? { [table]: unprocessed } : undefined;
    }
  });
  return { due, seconds: (performance.now() - started) / 1000 };
}

/** Nurture is not under measurement: the seeded leads have no running track, so nothing is stopped. */
const noNurture: NurtureStarter = { start: async () => 'started', stop: async () => 'not_running' };

async function sweep(repo: DynamoLeadRepository): Promise<{ counts: SweepCounts; readUnits: number; seconds: number }> {
  let readUnits = 0;
  const leads: SweepDeps['leads'] = {
    dueLeads: async (shard, asOf, limit, after) => {
      const page = await repo.dueLeads(shard, asOf, limit, after);
      readUnits += page.readUnits ?? 0;
      return page;
    },
    getLead: (id) => repo.getLead(id),
    commitScoring: (lead, applied, transitions) => repo.commitScoring(lead, applied, transitions),
  };
  const deps: SweepDeps = {
    leads,
    requalify: (lead, now) => requalify(lead, defaultModel, now),
    nurture: noNurture,
    tracks: [],
    clock: fixedClock(ASOF),
  };
  let counts = emptyCounts();
  const started = performance.now();
  await pool(TABLE.reviewShards, MAP_CONCURRENCY, async (shard) => {
    let input = ShardSweepInput.parse({ shard, asOf: ASOF.toISOString() });
    for (;;) {
      const deadline = Date.now() + 300_000; // one "Sweep shard" invocation: the construct's 5-minute timeout
      const result = await sweepShard(deps, input, () => deadline - Date.now());
      if (result.done) {
        counts = addCounts(counts, result.counts);
        return;
      }
      input = ShardSweepInput.parse(result);
    }
  });
  return { counts, readUnits, seconds: (performance.now() - started) / 1000 };
}

interface Row {
  size: number;
  due: number;
  seedSeconds: number;
  counts: SweepCounts;
  readUnits: number;
  sweepSeconds: number;
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const port = await freePort();
  const ddb = await startDynamoDbLocal({ port });
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  checkSeededItems();
  console.log(
    `Requalification sweep: DynamoDB Local in memory, ${TABLE.reviewShards} shards swept ${MAP_CONCURRENCY} at a time, ${fmt(DUE_SHARE * 100, 1)}% of leads due\n`,
  );
  // Warm-up (not reported): the first sweep in a fresh JVM and process runs several times slower than the next.
  {
    const table = `bench-warmup-${Date.now()}`;
    await createBenchTable(client, table);
    await seed(client, table, 2_000);
    await sweep(new DynamoLeadRepository(doc, table));
    await client.send(new DeleteTableCommand({ TableName: table }));
  }
  const rows: Row[] = [];
  let seedRate: number | undefined;
  let sweepRate: number | undefined;
  const sizes = [...SIZES, ...(Number.isInteger(LARGEST) && LARGEST > 0 ? [LARGEST] : [])];
  try {
    for (const [i, size] of sizes.entries()) {
      const optional = i >= SIZES.length;
      if (optional) {
        const projected = seedRate && sweepRate ? size / seedRate + (size * DUE_SHARE) / sweepRate : Infinity;
        if (projected > BUDGET_S) {
          console.log(
            `${fmt(size)} leads: skipped — at the rates measured above (${fmt(seedRate ?? 0)} items/s seeding, ${fmt(sweepRate ?? 0)} leads/s sweeping) it would take ~${fmt(projected)} s, over the ${BUDGET_S} s budget (--budget to raise it)`,
          );
          continue;
        }
        console.log(`${fmt(size)} leads: projected ~${fmt(projected)} s, within the ${BUDGET_S} s budget`);
      }
      const table = `bench-${size}-${Date.now()}`;
      await createBenchTable(client, table);
      const { due, seconds: seedSeconds } = await seed(client, table, size);
      seedRate = size / seedSeconds;
      console.log(`${fmt(size)} leads seeded in ${fmt(seedSeconds, 1)} s (${fmt(seedRate)} items/s); ${fmt(due)} due`);
      const repo = new DynamoLeadRepository(doc, table);
      const { counts, readUnits, seconds } = await sweep(repo);
      sweepRate = counts.reviewed / seconds;
      rows.push({ size, due, seedSeconds, counts, readUnits, sweepSeconds: seconds });
      console.log(
        `  swept in ${fmt(seconds, 1)} s: ${fmt(counts.reviewed)} requalified, ${fmt(counts.itemsRead)} items read`,
      );
      await client.send(new DeleteTableCommand({ TableName: table }));
    }
  } finally {
    client.destroy();
    await ddb.stop();
  }

  const header = [
    'leads',
    'seeded items/s',
    'due',
    'requalified',
    'items read',
    'reads/due lead (goal <= 1.05)',
    'read units/due lead',
    'queries',
    'sweep s',
    'due leads/s',
    'share of table read',
  ];
  const table = rows.map((r) => [
    fmt(r.size),
    fmt(r.size / r.seedSeconds),
    fmt(r.due),
    fmt(r.counts.reviewed),
    fmt(r.counts.itemsRead),
    fmt(r.counts.itemsRead / Math.max(1, r.counts.reviewed), 3),
    fmt(r.readUnits / Math.max(1, r.counts.reviewed), 3),
    fmt(r.counts.pages),
    fmt(r.sweepSeconds, 1),
    fmt(r.counts.reviewed / r.sweepSeconds, 0),
    `${fmt((100 * r.counts.itemsRead) / r.size, 2)}%`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  console.log(`\n${line(header)}\n${table.map(line).join('\n')}`);

  const [base, ...others] = rows;
  if (base) {
    console.log(
      `\nRatios against ${fmt(base.size)} leads (reads proportional to due leads means items read grows like due, not like leads):`,
    );
    for (const r of others) {
      const x = (a: number, b: number) => `×${fmt(a / b, 2)}`;
      console.log(
        `  ${fmt(r.size)}: leads ${x(r.size, base.size)}, due ${x(r.due, base.due)}, items read ${x(r.counts.itemsRead, base.counts.itemsRead)}, ` +
          `items per due lead ${x(r.counts.itemsRead / r.counts.reviewed, base.counts.itemsRead / base.counts.reviewed)}, ` +
          `sweep time ${x(r.sweepSeconds, base.sweepSeconds)}, leads/s ${x(r.counts.reviewed / r.sweepSeconds, base.counts.reviewed / base.sweepSeconds)}`,
      );
    }
  }
}

await main();
