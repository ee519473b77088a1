/**
 * `npx tsx bench/per-lead.ts [sizes…]` (default 10 1000 10000): what one nurture touch, one re-evaluation after a
 * track's last touch and one SES Open record cost on a lead with N events in its log, on an in-memory DynamoDB Local,
 * as time and as DynamoDB read units (counted by a middleware asking every call for ReturnConsumedCapacity; the code
 * under measurement is unchanged). The in-run baseline is what those paths read before issue 13: the lead's whole log
 * (`listEvents`), timed and counted on the same leads. Each figure is the median over REPEAT leads of that size.
 *
 * The logs are realistic nurture histories (page views, sends, deliveries, opens, clicks, all applied), seeded with
 * the bulk writer as the scoring pipeline would have left them, lookups included.
 */
import { randomUUID } from 'node:crypto';
import type { SQSEvent } from 'aws-lambda';
import { ulid } from 'ulid';
import { countCapacity, resetTally, tally } from './support/capacity.js';
import { startBenchTable } from './support/dynamo.js';
import { lambdaContext } from '../lib/local/lambda-context.js';
import { sesEventBridgeEvent } from '../lib/local/adapters/ses-loopback.js';
import { openRecord, type LocalMail, type SesRecordJson } from '../lib/local/adapters/ses-simulator.js';
import { fixedClock } from '../lambdas/domain/clock.js';
import type { LeadEvent } from '../lambdas/domain/events.js';
import { newLead, type Lead } from '../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../lambdas/domain/nurture/default-tracks.js';
import { evaluateLead, sendTouch, type NurtureDeps } from '../lambdas/domain/nurture/nurture-tasks.js';
import { staticSigningKeys } from '../lambdas/domain/nurture/unsubscribe-token.js';

const TABLE = 'leadloop-bench';
const REGION = 'us-east-1';
const REPEAT = 5;
const NOW = '2026-03-02T15:00:00.000Z'; // a Monday, inside the send window
const SIZES = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const BROWSER =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

/** N events over the year before NOW: a quarter of them mail (sent, delivered, opened), the rest site visits. */
function history(leadId: string, n: number, lastMessageId: string): LeadEvent[] {
  const start = Date.parse(NOW) - 365 * 86_400_000;
  const step = (300 * 86_400_000) / n;
  return Array.from({ length: n }, (_, i): LeadEvent => {
    const at = new Date(start + i * step).toISOString();
    const base = { leadId, occurredAt: at, receivedAt: at, eventId: `h-${i}` };
    const messageId = i === n - 1 ? lastMessageId : `m-${Math.floor(i / 4)}`;
    switch (i % 8) {
      case 0:
        return {
          ...base,
          type: 'email_sent',
          source: 'nurture',
          properties: { track: 'newsletter', touch: 1, messageId, executionName: `old-${i}` },
        };
      case 1:
        return { ...base, type: 'email_delivered', source: 'ses', properties: { messageId } };
      case 2:
        return { ...base, type: 'email_opened', source: 'ses', properties: { messageId } };
      default:
        return { ...base, type: 'page_viewed', source: 'api', properties: { url: `https://x.io/blog/${i}` } };
    }
  });
}

function sqsEvent(record: SesRecordJson): SQSEvent {
  return {
    Records: [
      {
        messageId: randomUUID(),
        receiptHandle: 'bench',
        body: JSON.stringify(sesEventBridgeEvent(record, { at: new Date(), region: REGION })),
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
      },
    ],
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

interface Cost {
  ms: number;
  rcu: number;
}

async function measure(run: () => Promise<unknown>): Promise<Cost> {
  resetTally();
  const start = performance.now();
  await run();
  return { ms: performance.now() - start, rcu: tally.readUnits };
}

async function main(): Promise<void> {
  const sizes = SIZES.length > 0 ? SIZES : [10, 1_000, 10_000];
  const ddb = await startBenchTable(TABLE, REGION);
  try {
    const runtime = await import('../lambdas/adapters/aws.js');
    const { bulkWriter } = await import('../lambdas/adapters/bulk-writer.js');
    const { handler: sesHandler } = await import('../lambdas/handlers/ses-engagement.js');
    countCapacity(runtime.dynamoDb().middlewareStack);
    const repo = runtime.repository();
    const deps: NurtureDeps = {
      leads: repo,
      clock: fixedClock(NOW),
      plan: DEFAULT_NURTURE_PLAN,
      mailer: { send: async () => ({ messageId: `bench-${ulid()}` }) },
      mail: {
        from: 'hello@leadloop.test',
        configurationSetName: 'bench',
        templatePrefix: 'leadloop-bench',
        mailingAddress: 'Leadloop, 1 Bench Street',
        siteUrl: 'https://leadloop.test',
        unsubscribeBaseUrl: 'https://api.leadloop.test/unsubscribe',
      },
      signingKeys: staticSigningKeys('k1', { k1: 'per-lead-bench-secret-0123456789' }),
      sending: runtime.sendingStore(),
      markUnresponsive: (lead) => ({ lead, transitions: [] }),
    };
    const newsletter = DEFAULT_NURTURE_PLAN.tracks.find((t) => t.id === 'newsletter');
    if (!newsletter) throw new Error('no newsletter track');

    const rows: { n: number; touch: Cost; evaluate: Cost; ses: Cost; log: Cost }[] = [];
    for (const n of sizes) {
      const samples: { touch: Cost; evaluate: Cost; ses: Cost; log: Cost }[] = [];
      for (let r = 0; r < REPEAT + 1; r++) {
        const leadId = ulid();
        const executionName = `bench-${leadId}`;
        const messageId = `bench-msg-${leadId}`;
        const lead: Lead = {
          ...newLead(leadId, `${leadId.toLowerCase()}@example-corp.com`, new Date('2025-01-01T00:00:00Z')),
          stage: 'lead',
          profile: { firstName: 'Ada', timeZone: 'UTC' },
          consent: { marketing: true, at: '2025-01-01T00:00:00.000Z', source: 'newsletter' },
          nurture: { track: 'newsletter', executionName, status: 'active', enrolledAt: NOW, touchesSent: 0 },
          lastActivityAt: '2026-01-01T00:00:00.000Z',
          activity: { lastEngagementAt: '2026-01-01T00:00:00.000Z' },
        };
        const events = history(leadId, n, messageId);
        const writer = bulkWriter(runtime.documentClient(), TABLE, 16);
        await writer.addLead(lead, events, { appliedAt: '2026-01-01T00:00:00.000Z', transitions: [] });
        await writer.flush();

        const input = { leadId, track: 'newsletter', executionName };
        const touch = await measure(() => sendTouch(deps, { ...input, touch: 1 }));
        const evaluate = await measure(() => evaluateLead(deps, { ...input, touch: newsletter.touches.length }));
        const mail: LocalMail = {
          messageId,
          to: lead.email,
          from: 'Leadloop <hello@news.example.com>',
          subject: 'Bench',
          tags: { leadId, track: 'newsletter', touch: '1' },
          timestamp: new Date(Date.parse(NOW) - 3_600_000),
        };
        const open = openRecord(mail, { timestamp: new Date(Date.parse(NOW) - 600_000), userAgent: BROWSER });
        const ses = await measure(async () => {
          const out = await sesHandler(
            sqsEvent(open),
            lambdaContext({ functionName: 'ses-engagement', region: REGION, timeoutMs: 60_000 }),
          );
          if (out.batchItemFailures.length > 0) throw new Error('the SES record failed');
        });
        const log = await measure(() => repo.listEvents(leadId));
        if (r > 0) samples.push({ touch, evaluate, ses, log }); // the first lead of each size warms up
      }
      const pick = (k: 'touch' | 'evaluate' | 'ses' | 'log'): Cost => ({
        ms: median(samples.map((s) => s[k].ms)),
        rcu: median(samples.map((s) => s[k].rcu)),
      });
      rows.push({ n, touch: pick('touch'), evaluate: pick('evaluate'), ses: pick('ses'), log: pick('log') });
      console.error(`  ${n} events per lead measured`);
    }

    const cell = (c: Cost) => `${c.ms.toFixed(1)} ms / ${c.rcu.toFixed(1)} RCU`.padEnd(24);
    const lines = [
      '',
      `Cost per lead by history size (DynamoDB Local in memory; median of ${REPEAT} leads per size)`,
      '',
      `  ${'events'.padEnd(8)}${'touch'.padEnd(24)}${'re-evaluate (last)'.padEnd(24)}${'SES Open record'.padEnd(24)}baseline: whole log (listEvents)`,
      ...rows.map((r) => `  ${String(r.n).padEnd(8)}${cell(r.touch)}${cell(r.evaluate)}${cell(r.ses)}${cell(r.log)}`),
    ];
    const first = rows[0];
    const last = rows.at(-1);
    if (first && last && last !== first) {
      const ratio = (k: 'touch' | 'evaluate' | 'ses' | 'log', f: 'ms' | 'rcu') =>
        `${(last[k][f] / first[k][f]).toFixed(2)}×`;
      lines.push(
        '',
        `  ${last.n} vs ${first.n} events:  touch ${ratio('touch', 'ms')} time, ${ratio('touch', 'rcu')} RCU;  ` +
          `re-evaluate ${ratio('evaluate', 'ms')} time, ${ratio('evaluate', 'rcu')} RCU;  ` +
          `SES record ${ratio('ses', 'ms')} time, ${ratio('ses', 'rcu')} RCU;  whole log ${ratio('log', 'ms')} time, ${ratio('log', 'rcu')} RCU`,
      );
    }
    console.log([...lines, ''].join('\n'));
  } finally {
    await ddb.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error('bench/per-lead failed:', e);
    process.exit(1);
  },
);
