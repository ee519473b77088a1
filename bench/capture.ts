/**
 * `npx tsx bench/capture.ts`: form submissions and tracked events through the capture handlers (`capture-form`,
 * `capture-events`) against an in-memory DynamoDB Local, as API Gateway would call them. Prints submissions per
 * second, DynamoDB write units per submission and per tracked event (from ReturnConsumedCapacity, counted by a client
 * middleware), and an in-run baseline: this machine's raw PutItem rate on the same DynamoDB Local, as a ratio.
 *
 * Options (environment): BENCH_SUBMISSIONS (default 500), BENCH_EVENTS (default 500).
 */
import { performance } from 'node:perf_hooks';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { lambdaContext } from '../lib/local/lambda-context.js';
import { apiEvent as gatewayEvent } from '../test/support/api-event.js';
import { countCapacity, resetTally, tally, writeBreakdown } from './support/capacity.js';
import { startBenchTable } from './support/dynamo.js';

const SUBMISSIONS = Number(process.env.BENCH_SUBMISSIONS ?? 500);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 500);
const TABLE = 'leadloop-bench';
const REGION = 'us-east-1';

type Handler = (
  event: APIGatewayProxyEvent,
  context: ReturnType<typeof lambdaContext>,
) => Promise<APIGatewayProxyResult>;

function apiEvent(
  resource: string,
  path: string,
  body: string,
  contentType: string,
  pathParameters: Record<string, string> | null = null,
): APIGatewayProxyEvent {
  return gatewayEvent({
    method: 'POST',
    path,
    resource,
    pathParameters,
    headers: { 'content-type': contentType },
    body,
    sourceIp: '203.0.113.7',
  });
}

const form = (i: number) =>
  new URLSearchParams({
    email: `bench.${i}.${Date.now()}@example-corp.com`,
    firstName: 'Ada',
    lastName: 'Lovelace',
    company: 'Analytical Engines',
    jobTitle: 'VP Engineering',
    companySize: '201-1000',
    industry: 'tech-support',
    budget: '50k',
    timeline: 'this-quarter',
    consent: 'yes',
    utm_source: 'google',
    utm_campaign: 'spring',
  }).toString();

const perSecond = (n: number, ms: number) => (n / ms) * 1000;
const fmt = (n: number, digits = 2) => n.toFixed(digits);

async function main(): Promise<void> {
  const ddb = await startBenchTable(TABLE, REGION);
  // The capture path alone: the confirmation mail of confirmed opt-in is an SES call, not a DynamoDB write.
  process.env.CONFIRMED_OPT_IN = 'false';
  try {
    const runtime = await import('../lambdas/adapters/aws.js');
    const formHandler = (await import('../lambdas/handlers/capture-form.js')).handler as unknown as Handler;
    const eventsHandler = (await import('../lambdas/handlers/capture-events.js')).handler as unknown as Handler;
    countCapacity(runtime.dynamoDb().middlewareStack);
    const ctx = () => lambdaContext({ functionName: 'leadloop-capture', region: REGION, timeoutMs: 10_000 });

    const submit = async (i: number) => {
      const res = await formHandler(
        apiEvent('/forms/{formId}', '/forms/demo-request', form(i), 'application/x-www-form-urlencoded', {
          formId: 'demo-request',
        }),
        ctx(),
      );
      if (res.statusCode !== 202) throw new Error(`submission ${i}: ${res.statusCode} ${res.body}`);
      return JSON.parse(res.body) as { leadId: string };
    };
    for (let i = 0; i < 25; i++) await submit(-1 - i); // warm-up

    // Form submissions: each a new lead (lead + identity in one transaction, then the event).
    resetTally();
    const t0 = performance.now();
    const leadIds: string[] = [];
    for (let i = 0; i < SUBMISSIONS; i++) leadIds.push((await submit(i)).leadId);
    const formMs = performance.now() - t0;
    const forms = { ...tally, writeUnitsByCommand: { ...tally.writeUnitsByCommand } };

    // Tracked events for existing leads, in batches of 10 as a site backend would post them.
    resetTally();
    const t1 = performance.now();
    for (let i = 0; i < EVENTS; i += 10) {
      const events = Array.from({ length: Math.min(10, EVENTS - i) }, (_, j) => ({
        eventId: `pv-${i + j}`,
        leadId: leadIds[(i + j) % leadIds.length],
        type: 'page_viewed',
        properties: { url: 'https://www.example.com/pricing' },
      }));
      const res = await eventsHandler(
        apiEvent('/events', '/events', JSON.stringify({ events }), 'application/json'),
        ctx(),
      );
      if (res.statusCode !== 202) throw new Error(`events: ${res.statusCode} ${res.body}`);
    }
    const eventsMs = performance.now() - t1;
    const tracked = { ...tally, writeUnitsByCommand: { ...tally.writeUnitsByCommand } };

    // Baseline: plain PutItem of ~1 KB items on the same DynamoDB Local.
    resetTally();
    const padding = 'x'.repeat(700);
    const t2 = performance.now();
    for (let i = 0; i < SUBMISSIONS; i++) {
      await runtime
        .documentClient()
        .send(new PutCommand({ TableName: TABLE, Item: { pk: `RAW#${i}`, sk: 'RAW', padding } }));
    }
    const rawMs = performance.now() - t2;
    const raw = { ...tally };

    const formRate = perSecond(SUBMISSIONS, formMs);
    const rawRate = perSecond(SUBMISSIONS, rawMs);
    console.log(
      [
        '',
        `Capture through the handlers, DynamoDB Local in memory, one caller (${SUBMISSIONS} new-lead form submissions, ${EVENTS} tracked events)`,
        '',
        `  form submissions   ${fmt(formRate, 0).padStart(6)} /s   ${fmt(formMs / SUBMISSIONS)} ms each   ${fmt(forms.writeUnits / SUBMISSIONS)} WCU   ${fmt(forms.readUnits / SUBMISSIONS)} RCU   ${fmt(forms.calls / SUBMISSIONS)} calls per submission`,
        `  tracked events     ${fmt(perSecond(EVENTS, eventsMs), 0).padStart(6)} /s   ${fmt(eventsMs / EVENTS)} ms each   ${fmt(tracked.writeUnits / EVENTS)} WCU   ${fmt(tracked.readUnits / EVENTS)} RCU   ${fmt(tracked.calls / EVENTS)} calls per event (batches of 10)`,
        `    write units by call: submission ${writeBreakdown(forms, SUBMISSIONS)}; tracked event ${writeBreakdown(tracked, EVENTS)}`,
        `  raw PutItem        ${fmt(rawRate, 0).padStart(6)} /s   ${fmt(rawMs / SUBMISSIONS)} ms each   ${fmt(raw.writeUnits / SUBMISSIONS)} WCU per item (~0.7 KB)`,
        '',
        `  submissions / raw writes: throughput ${fmt(formRate / rawRate)}×, write units ${fmt(forms.writeUnits / SUBMISSIONS / (raw.writeUnits / SUBMISSIONS))}×`,
        '',
      ].join('\n'),
    );
  } finally {
    await ddb.stop();
  }
}

await main();
