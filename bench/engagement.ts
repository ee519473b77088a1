/**
 * `npx tsx bench/engagement.ts`: SES records through the `ses-engagement` handler against an in-memory DynamoDB
 * Local, as Lambda would feed them (SQS batches of 10 EventBridge events). Prints records per second, the capacity
 * consumed per record (counted by a middleware on the handler's DynamoDB client that asks every call for
 * ReturnConsumedCapacity; the repository is unchanged), and an in-run baseline: plain PutItem of items of the same
 * size as the event items the handler writes, on the same DynamoDB Local, so the ratio says what the handler costs
 * over the one write it cannot avoid.
 *
 * Options (environment): BENCH_LEADS (default 250; four records each: Send, Delivery, Open, Click).
 */
import { randomUUID } from 'node:crypto';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ulid } from 'ulid';
import { countCapacity, resetTally, tally } from './support/capacity.js';
import { startBenchTable } from './support/dynamo.js';
import { lambdaContext } from '../lib/local/lambda-context.js';
import { sesEventBridgeEvent } from '../lib/local/adapters/ses-loopback.js';
import {
  clickRecord,
  openRecord,
  sendAndDeliveryRecords,
  type LocalMail,
  type SesRecordJson,
} from '../lib/local/adapters/ses-simulator.js';
import { newLead } from '../lambdas/domain/lead.js';

const LEADS = Number(process.env.BENCH_LEADS ?? 250);
const WARMUP_LEADS = 25;
const BATCH = 10;
const TABLE = 'leadloop-bench';
const REGION = 'us-east-1';
const BROWSER =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

// ---------------------------------------------------------------------------------------------------------------
// Workload

/** One lead's mail and what SES reports about it: sent, delivered, opened ten minutes later, clicked a minute after. */
function recordsFor(leadId: string, email: string, sentAt: Date): SesRecordJson[] {
  const mail: LocalMail = {
    messageId: `bench-${randomUUID()}`,
    to: email,
    from: 'Leadloop <hello@news.example.com>',
    subject: 'How Acme cut onboarding time in half',
    tags: { leadId, track: 'case-studies', touch: '2' },
    timestamp: sentAt,
  };
  const later = (minutes: number) => new Date(sentAt.getTime() + minutes * 60_000);
  return [
    ...sendAndDeliveryRecords(mail),
    openRecord(mail, { timestamp: later(10), userAgent: BROWSER }),
    clickRecord(mail, { timestamp: later(11), userAgent: BROWSER, link: 'https://www.example.com/case-studies/acme' }),
  ];
}

function sqsEvent(records: SesRecordJson[]): SQSEvent {
  return {
    Records: records.map((record) => {
      const body = JSON.stringify(sesEventBridgeEvent(record, { at: new Date(), region: REGION }));
      return {
        messageId: randomUUID(),
        receiptHandle: 'bench',
        body,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: '0',
          SenderId: 'events',
          ApproximateFirstReceiveTimestamp: '0',
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:${REGION}:000000000000:leadloop-ses-engagement`,
        awsRegion: REGION,
      };
    }),
  };
}

const perSecond = (n: number, ms: number) => (n / ms) * 1000;
const fmt = (n: number, digits = 2) => n.toFixed(digits);

async function main(): Promise<void> {
  const ddb = await startBenchTable(TABLE, REGION);
  try {
    // The handler module creates its clients at import, from the environment just set.
    const runtime = await import('../lambdas/adapters/aws.js');
    const { handler } = await import('../lambdas/handlers/ses-engagement.js');
    countCapacity(runtime.dynamoDb().middlewareStack);
    const invoke = async (records: SesRecordJson[]): Promise<SQSBatchResponse> =>
      handler(
        sqsEvent(records),
        lambdaContext({ functionName: 'leadloop-ses-engagement', region: REGION, timeoutMs: 60_000 }),
      );

    const makeLeads = async (n: number) => {
      const leads: { leadId: string; email: string }[] = [];
      for (let i = 0; i < n; i++) {
        const lead = newLead(
          ulid(),
          `bench.${i}.${ulid().toLowerCase()}@example-corp.com`,
          new Date('2025-03-01T00:00:00Z'),
        );
        await runtime.repository().createLead(lead);
        leads.push({ leadId: lead.leadId, email: lead.email });
      }
      return leads;
    };
    const workload = (leads: { leadId: string; email: string }[]) =>
      leads.flatMap((l, i) => recordsFor(l.leadId, l.email, new Date(Date.parse('2025-03-04T09:00:00Z') + i * 1000)));
    const run = async (records: SesRecordJson[]) => {
      resetTally();
      let failed = 0;
      const start = performance.now();
      for (let i = 0; i < records.length; i += BATCH)
        failed += (await invoke(records.slice(i, i + BATCH))).batchItemFailures.length;
      const ms = performance.now() - start;
      return { ms, failed, ...tally };
    };

    await run(workload(await makeLeads(WARMUP_LEADS)));
    const leads = await makeLeads(LEADS);
    const records = workload(leads);
    const first = await run(records);
    const replay = await run(records);

    // Baseline: plain PutItem of copies of the event items the handler wrote (same size, fresh keys).
    const samples = (
      await Promise.all(
        leads.slice(0, 50).map(
          async (l) =>
            (
              await runtime.documentClient().send(
                new QueryCommand({
                  TableName: TABLE,
                  KeyConditionExpression: 'pk = :pk AND begins_with(sk, :e)',
                  ExpressionAttributeValues: { ':pk': `LEAD#${l.leadId}`, ':e': 'EVENT#' },
                }),
              )
            ).Items ?? [],
        ),
      )
    ).flat();
    if (samples.length === 0) throw new Error('the handler wrote no event items');
    const itemBytes = samples.reduce((n, item) => n + Buffer.byteLength(JSON.stringify(item)), 0) / samples.length;
    resetTally();
    const rawStart = performance.now();
    for (let i = 0; i < records.length; i++) {
      const item = samples[i % samples.length];
      await runtime
        .documentClient()
        .send(new PutCommand({ TableName: TABLE, Item: { ...item, pk: `BENCH#${i}`, sk: `RAW#${i}` } }));
    }
    const rawMs = performance.now() - rawStart;
    const raw = { ...tally };

    const n = records.length;
    const rate = perSecond(n, first.ms);
    const rawRate = perSecond(n, rawMs);
    const lines = [
      '',
      `SES engagement through the handler, DynamoDB Local in memory (${LEADS} leads × 4 records = ${n} records, SQS batches of ${BATCH}, one consumer)`,
      '',
      `  first delivery   ${fmt(rate, 0).padStart(6)} records/s   ${fmt(first.ms / n)} ms/record   ${fmt(first.writeUnits / n)} WCU/record   ${fmt(first.readUnits / n)} RCU/record   ${fmt(first.calls / n)} calls/record   failed ${first.failed}`,
      `  redelivery       ${fmt(perSecond(n, replay.ms), 0).padStart(6)} records/s   ${fmt(replay.ms / n)} ms/record   ${fmt(replay.writeUnits / n)} WCU/record   ${fmt(replay.readUnits / n)} RCU/record   ${fmt(replay.calls / n)} calls/record   duplicates refused ${replay.conditionFailures} (billed ≥1 WCU each, not reported)`,
      `  raw PutItem      ${fmt(rawRate, 0).padStart(6)} items/s     ${fmt(rawMs / n)} ms/item     ${fmt(raw.writeUnits / n)} WCU/item     (items of ~${fmt(itemBytes, 0)} bytes, as the handler's event items)`,
      '',
      `  handler / raw    throughput ${fmt(rate / rawRate)}×   write units ${fmt(first.writeUnits / n / (raw.writeUnits / n))}×`,
      '',
    ];
    console.log(lines.join('\n'));
  } finally {
    await ddb.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error('bench/engagement failed:', e);
    process.exit(1);
  },
);
