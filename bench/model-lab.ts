import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { bulkWriter } from '../lambdas/adapters/bulk-writer.js';
import { bareScan, emptyStats, LeadTableReader } from '../lambdas/adapters/lead-table-reader.js';
import { DAY_MS } from '../lambdas/domain/clock.js';
import type { EventProperties, EventType, LeadEvent } from '../lambdas/domain/events.js';
import { newLead } from '../lambdas/domain/lead.js';
import { defaultModel, parseModel } from '../lambdas/domain/scoring/index.js';
import { ensureTable } from '../lib/local/dynamodb.js';
import { tableProperties } from '../test/support/deployment.js';
import { defaultWorkers, foldLeads } from '../bin/analysis/pool.js';
import { demoLeads, random } from '../bin/demo/personas.js';
import { readableLeads } from '../bin/commands/table-args.js';
import { startBenchTable } from './support/dynamo.js';

/**
 * The model lab against its I/O (issues 14 goal 2 and 15): leads seeded into an in-memory DynamoDB Local with parallel
 * BatchWriteItem, then, on the same table in the same run,
 *
 * - the baseline: a bare parallel Scan of the same items (same segments, filter, projection), counted and dropped;
 * - `leadloop simulate`'s path: the streaming reader assembling each lead, two replays per lead in worker threads;
 * - `leadloop backtest`'s path on demo leads with sales outcomes: replays of the labeled leads up to their outcome.
 *
 * Each prints its rate as a ratio of the scan rate and the peak RSS of this process while it ran (worker threads
 * included; DynamoDB Local is a separate JVM, not counted).
 *
 * Run: `npx tsx bench/model-lab.ts [--leads 10000] [--backtest-leads 10000,100000] [--segments 16] [--workers n]`
 * (`--leads 0` runs the backtest part alone).
 */

const REGION = 'us-east-1';
const START = Date.parse('2025-01-06T09:00:00.000Z');

/** A lead's 26 weeks of nurture (~80 events), as bench/scoring.ts generates them. */
function history(index: number, rnd: () => number): { leadId: string; email: string; events: LeadEvent[] } {
  const leadId = `01BENCH${String(index).padStart(19, '0')}`;
  const events: LeadEvent[] = [];
  const add = (days: number, type: EventType, properties: EventProperties = {}) => {
    const at = new Date(START + days * DAY_MS).toISOString();
    events.push({
      eventId: `${leadId}-${events.length}`,
      leadId,
      type,
      occurredAt: at,
      receivedAt: at,
      source: 'api',
      properties,
    });
  };
  add(0, 'content_download', {
    formId: 'ebook',
    jobTitle: rnd() < 0.5 ? 'VP Operations' : 'Marketing Intern',
    companySize: '201-1000',
    industry: 'Construction',
  });
  for (let week = 0; week < 26; week++) {
    const sent = week * 7 + 1;
    add(sent, 'email_sent');
    add(sent + 0.01, 'email_delivered');
    if (rnd() < 0.5) add(sent + rnd(), 'email_opened', { machine: rnd() < 0.1 });
    if (rnd() < 0.15) add(sent + 1, 'email_clicked', { link: 'https://x.io/pricing' });
    if (rnd() < 0.3)
      add(sent + 2, 'page_viewed', { url: rnd() < 0.5 ? 'https://x.io/pricing' : 'https://x.io/blog/post' });
  }
  if (rnd() < 0.2) add(26 * 7 - 1, 'demo_requested', { budget: 'yes', timeline: 'this quarter' });
  return { leadId, email: `person${index}@acme-builders.com`, events };
}

/** Peak RSS of this process while `run` runs (sampled every 50 ms). */
async function withPeakRss<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number; peakMb: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  try {
    const value = await run();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, seconds: (performance.now() - t0) / 1000, peakMb: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function seed(
  doc: DynamoDBDocumentClient,
  table: string,
  logs: Iterable<{ leadId: string; email: string; createdAt?: string; events: LeadEvent[] }>,
) {
  const writer = bulkWriter(doc, table, 32);
  const t0 = performance.now();
  for (const l of logs) await writer.addLead(newLead(l.leadId, l.email, new Date(l.createdAt ?? START)), l.events);
  const items = await writer.flush();
  return { items, seconds: (performance.now() - t0) / 1000 };
}

async function simulateBench(
  doc: DynamoDBDocumentClient,
  leads: number,
  segments: number,
  workers: number,
  stricter: ReturnType<typeof parseModel>,
): Promise<void> {
  const rnd = random(42);
  const seeded = await seed(
    doc,
    'bench-simulate',
    (function* () {
      for (let i = 0; i < leads; i++) yield history(i, rnd);
    })(),
  );
  console.log(
    `  seeded ${fmt(leads)} leads, ${fmt(seeded.items)} items in ${seeded.seconds.toFixed(1)} s (${fmt(seeded.items / seeded.seconds)} items/s, parallel BatchWriteItem)`,
  );
  const scan = await withPeakRss(() => bareScan(doc, 'bench-simulate', { segments }));
  const scanRate = scan.value / scan.seconds;
  console.log(
    `  baseline: bare parallel Scan       ${fmt(scanRate).padStart(8)} items/s  (${fmt(scan.value)} items, ${scan.seconds.toFixed(1)} s, peak RSS ${scan.peakMb.toFixed(0)} MB)`,
  );
  const stats = emptyStats();
  const sim = await withPeakRss(() =>
    foldLeads(
      {
        kind: 'simulate',
        current: defaultModel,
        candidate: stricter,
        asOf: new Date(START + 200 * DAY_MS).toISOString(),
        examples: 3,
      },
      readableLeads(new LeadTableReader(doc, 'bench-simulate'), { segments }, [], stats),
      { workers },
    ),
  );
  const simRate = stats.items / sim.seconds;
  console.log(
    `  simulate (stream + 2 replays)      ${fmt(simRate).padStart(8)} items/s  ${(simRate / scanRate).toFixed(2)}× scan (goal ≥ 0.5×)  ${fmt(sim.value.leads / sim.seconds)} leads/s  peak RSS ${sim.peakMb.toFixed(0)} MB (goal ≤ 512)  ${sim.value.changed} of ${sim.value.leads} would change stage`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      leads: { type: 'string', default: '10000' },
      'backtest-leads': { type: 'string', default: '10000' },
      segments: { type: 'string', default: '16' },
      workers: { type: 'string' },
    },
  });
  const segments = Number(values.segments);
  const workers = values.workers === undefined ? defaultWorkers() : Number(values.workers);
  const ddb = await startBenchTable('bench-simulate', REGION);
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  try {
    console.log(
      `model lab benchmark: DynamoDB Local in memory, ${segments} Scan segments, ${workers} worker thread(s)`,
    );

    // --- simulate (issue 14 goal 2); --leads 0 skips it
    const leads = Number(values.leads);
    const stricter = parseModel({
      ...defaultModel,
      thresholds: { ...defaultModel.thresholds, mql: { fit: 20, engagement: 25 } },
    });
    if (leads > 0) await simulateBench(doc, leads, segments, workers, stricter);

    // --- backtest (issue 15), on demo leads with sales outcomes
    for (const n of values['backtest-leads'].split(',').map(Number)) {
      const table = `bench-backtest-${n}`;
      await ensureTable(client, table, tableProperties());
      const demo = await seed(doc, table, demoLeads({ leads: n, until: new Date('2026-06-01T00:00:00Z'), seed: 7 }));
      console.log(
        `  backtest table: ${fmt(n)} demo leads, ${fmt(demo.items)} items seeded in ${demo.seconds.toFixed(1)} s`,
      );
      const base = await withPeakRss(() => bareScan(doc, table, { segments }));
      const baseRate = base.value / base.seconds;
      const bstats = emptyStats();
      const bt = await withPeakRss(() =>
        foldLeads(
          { kind: 'backtest', current: defaultModel, candidate: stricter, examples: 5 },
          readableLeads(new LeadTableReader(doc, table), { segments }, [], bstats),
          { workers },
        ),
      );
      const t = bt.value;
      console.log(
        `    baseline: bare parallel Scan     ${fmt(baseRate).padStart(8)} items/s  (${base.seconds.toFixed(1)} s)`,
      );
      console.log(
        `    backtest (current + candidate)   ${fmt(bstats.items / bt.seconds).padStart(8)} items/s  ${(bstats.items / bt.seconds / baseRate).toFixed(2)}× scan  ${fmt(t.leads / bt.seconds)} leads/s  ${fmt(t.events / bt.seconds)} events/s read  ${fmt(t.evidence / bt.seconds)} evidence events/s replayed (×2 models)  ${fmt(t.labeled)} labeled  peak RSS ${bt.peakMb.toFixed(0)} MB`,
      );
    }
  } finally {
    client.destroy();
    await ddb.stop();
  }
}

await main();
