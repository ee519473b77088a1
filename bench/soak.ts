import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, DynamoDBStreamEvent } from 'aws-lambda';
import { v5 as uuidv5 } from 'uuid';
import * as z from 'zod';
import { LEADLOOP_NAMESPACE } from '../lambdas/domain/capture.js';
import { LeadEvent, type EventType } from '../lambdas/domain/events.js';
import { Lead, StageTransition } from '../lambdas/domain/lead.js';
import { TABLE as TABLE_DEF, keys } from '../lambdas/adapters/table-definition.js';
import { insertedEvent } from '../lambdas/handlers/stream-records.js';
import { apiEvent as gatewayEvent } from '../test/support/api-event.js';
import { ensureTable, startDynamoDbLocal } from '../lib/local/dynamodb.js';
import { tableProperties } from '../test/support/deployment.js';
import { lambdaContext } from '../lib/local/lambda-context.js';
import { freePort } from '../lib/local/ports.js';
import { startStreamPoller } from '../lib/local/stream-poller.js';
import { DEFAULT_NURTURE_PLAN } from '../lambdas/domain/nurture/default-tracks.js';
import { fakeStepFunctions, installFaults, referenceMismatches, seededRandom } from '../test/support/faults.js';

/**
 * Soak (issue 7 §3): tens of thousands of mixed events — form submissions (some double-clicked), event batches with
 * in-batch duplicates and whole-batch replays, for a few hundred leads — through the real capture handlers with
 * DynamoDB faults injected (throttling, 5xx, timeouts, lost responses, transaction conflicts), scored from the table's
 * real stream by the real scoring handler through the local event source mapping (retries of failed batch items, a
 * DLQ for records that exhaust them), plus a few poison event items. It ends by reconciling exactly: every event sent
 * is stored once; events in = events applied + events in the DLQ; none both; every lead equal to a fault-free
 * recomputation (`applyEvents` over exactly its applied events). Exits 1 on any mismatch.
 *
 *   npx tsx bench/soak.ts [--events 20000] [--fault-rate 0.05] [--leads 300] [--workers 8] [--poison 5] [--seed 1]
 *                        [--batch-size 25]   (records per scoring invocation; 25 as in the stack's event source mapping)
 */

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    'fault-rate': { type: 'string', default: '0.05' },
    leads: { type: 'string', default: '300' },
    workers: { type: 'string', default: '8' },
    poison: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    'batch-size': { type: 'string', default: '25' },
  },
});
const Options = z.object({
  events: z.coerce.number().int().min(100),
  faultRate: z.coerce.number().min(0).max(0.5),
  leads: z.coerce.number().int().min(1),
  workers: z.coerce.number().int().min(1).max(64),
  poison: z.coerce.number().int().min(0),
  seed: z.coerce.number().int(),
  // Kept below ~95: one lead's events in a larger batch can exceed TransactWriteItems' limit of 100 items.
  batchSize: z.coerce.number().int().min(1).max(90),
});
const opts = Options.parse({
  events: args.events,
  faultRate: args['fault-rate'],
  leads: args.leads,
  workers: args.workers,
  poison: args.poison,
  seed: args.seed,
  batchSize: args['batch-size'],
});

const REGION = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const TABLE = 'leadloop-soak';
const say = (line: string) => process.stdout.write(`${line}\n`);

// --- the emulator, then the handlers (they read their configuration at import) --------------------------------------
const port = await freePort();
say(`soak: starting DynamoDB Local (in memory) on ${port} …`);
const ddb = await startDynamoDbLocal({ port });
const admin = new DynamoDBClient({ endpoint: ddb.endpoint, region: REGION, credentials });
await ensureTable(admin, TABLE, tableProperties());
const doc = DynamoDBDocumentClient.from(admin, { marshallOptions: { removeUndefinedValues: true } });
Object.assign(process.env, {
  AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
  TABLE_NAME: TABLE,
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  // Errors only: they are tallied by reason below instead of printed.
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  POWERTOOLS_METRICS_DISABLED: 'true',
  // Development mode makes Powertools write through the global console, which this script can read.
  POWERTOOLS_DEV: 'true',
  // Nurture runs start on an in-process Step Functions endpoint (fakeStepFunctions below), with faults injected.
  NURTURE_STATE_MACHINES: JSON.stringify(
    Object.fromEntries(
      DEFAULT_NURTURE_PLAN.tracks.map((t) => [t.id, `arn:aws:states:${REGION}:000000000000:stateMachine:${t.id}`]),
    ),
  ),
  AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:9',
  // Consent counts at once here (no confirmation mail: the soak has no SES); the form handler requires the setting.
  CONFIRMED_OPT_IN: 'false',
});
// Scoring invocations that apply nothing have no metrics to publish, and Powertools says so on every one of them.
const warn = console.warn.bind(console);
console.warn = (...data: unknown[]) => {
  if (typeof data[0] === 'string' && data[0].startsWith('No application metrics to publish')) return;
  warn(...data);
};
/** The handlers' error logs, counted by message and error name (e.g. why stream records failed). */
const errorLogs = new Map<string, number>();
const LogLine = z.object({ message: z.string(), error: z.object({ name: z.string() }).optional() });
console.error = (...data: unknown[]) => {
  let parsed;
  try {
    parsed = typeof data[0] === 'string' ? LogLine.safeParse(JSON.parse(data[0])) : undefined;
  } catch {
    parsed = undefined;
  }
  const key = parsed?.success
    ? `${parsed.data.message} (${parsed.data.error?.name ?? '-'})`
    : String(data[0]).slice(0, 80);
  errorLogs.set(key, (errorLogs.get(key) ?? 0) + 1);
};
const runtime = await import('../lambdas/adapters/aws.js');
const captureForm: (e: APIGatewayProxyEvent, c: Context) => Promise<APIGatewayProxyResult> = (
  await import('../lambdas/handlers/capture-form.js')
).handler;
const captureEvents: (e: APIGatewayProxyEvent, c: Context) => Promise<APIGatewayProxyResult> = (
  await import('../lambdas/handlers/capture-events.js')
).handler;
const scoreStream: (e: DynamoDBStreamEvent, c: Context) => Promise<unknown> = (
  await import('../lambdas/handlers/score-stream.js')
).handler;

const faults = installFaults(runtime.dynamoDb(), {
  seed: opts.seed,
  rate: opts.faultRate,
  kinds: { throttle: 2, server: 2, timeout: 1, lostResponse: 2, conflict: 1 },
});
// Step Functions: throttling, 5xx and lost answers to StartExecution (the SDK's retry then meets a start conflict).
const sfn = fakeStepFunctions();
(runtime.stepFunctions().config as { requestHandler: unknown }).requestHandler = sfn.requestHandler;
const sfnFaults = installFaults(runtime.stepFunctions(), {
  seed: opts.seed + 1,
  rate: opts.faultRate * 2,
  kinds: { throttle: 2, server: 1, lostResponse: 2 },
});

// --- scoring: the table's stream through the local event source mapping ---------------------------------------------
const BatchResponse = z.object({ batchItemFailures: z.array(z.object({ itemIdentifier: z.string() })) });
const isStreamEvent = (e: unknown): e is DynamoDBStreamEvent =>
  typeof e === 'object' && e !== null && 'Records' in e && Array.isArray(e.Records);
/** The sequence numbers under which each record (by event id) was reported failed, once per report. */
const failedRecords = new Map<string, string[]>();
const scoring = { invocations: 0, thrown: 0, itemFailures: 0, pollerLog: [] as string[] };
const poller = await startStreamPoller({
  endpoint: ddb.endpoint,
  region: REGION,
  credentials,
  tableName: TABLE,
  functionName: 'leadloop-soak-score-stream',
  batchSize: opts.batchSize,
  retryAttempts: 3,
  pollIntervalMs: 50,
  log: (line) => scoring.pollerLog.push(line),
  handler: async (event, context) => {
    if (!isStreamEvent(event)) throw new Error('not a DynamoDB stream event');
    scoring.invocations++;
    try {
      const response = await scoreStream(event, context);
      const parsed = BatchResponse.safeParse(response ?? { batchItemFailures: [] });
      if (parsed.success) {
        scoring.itemFailures += parsed.data.batchItemFailures.length;
        for (const f of parsed.data.batchItemFailures) {
          const record = event.Records.find((r) => r.dynamodb?.SequenceNumber === f.itemIdentifier);
          const id = (record && insertedEvent(record)?.eventId) ?? f.itemIdentifier;
          failedRecords.set(id, [...(failedRecords.get(id) ?? []), f.itemIdentifier]);
        }
      }
      return response;
    } catch (e) {
      scoring.thrown++;
      throw e;
    }
  },
});

// --- traffic -------------------------------------------------------------------------------------------------------
const rnd = seededRandom(opts.seed * 7919 + 17);
const pick = <T>(items: readonly T[]): T => {
  const item = items[Math.floor(rnd() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
};
const DOMAINS = ['acme-builders.com', 'gmail.com', 'mercyhealth.org', 'northwind.io', 'contoso.dev'];
const TITLES = ['CEO', 'VP Operations', 'Project Manager', 'Marketing Intern', 'Head of IT', 'Student'];
const SIZES = ['1-10', '11-50', '51-200', '201-1000', '5000+'];
const INDUSTRIES = ['Construction', 'Healthcare', 'Real Estate', 'Retail', 'SaaS'];
const FORM_IDS = ['newsletter', 'content-download', 'webinar-registration', 'demo-request', 'contact'] as const;
/** Event types with their share of traffic and typical properties. */
const MIX: [EventType, number, () => Record<string, string | number | boolean>][] = [
  ['page_viewed', 40, () => ({ url: `/blog/post-${Math.floor(rnd() * 50)}` })],
  ['pricing_page_viewed', 7, () => ({ url: '/pricing' })],
  ['content_download', 8, () => ({ asset: `guide-${Math.floor(rnd() * 10)}` })],
  ['email_delivered', 10, () => ({ messageId: `m-${Math.floor(rnd() * 1e6)}` })],
  ['email_opened', 14, () => ({ messageId: `m-${Math.floor(rnd() * 1e6)}`, machine: rnd() < 0.2 })],
  ['email_clicked', 6, () => ({ link: 'https://leadloop.example/case-study' })],
  ['webinar_registered', 3, () => ({ webinar: 'w-1' })],
  ['webinar_attended', 2, () => ({ webinar: 'w-1' })],
  ['chatbot_interaction', 3, () => ({})],
  ['product_used', 2, () => ({ feature: 'import', count: Math.floor(rnd() * 5) })],
  ['demo_requested', 1, () => ({})],
  ['email_unsubscribed', 0.3, () => ({})],
  ['email_bounced', 0.3, () => ({ bounceType: rnd() < 0.5 ? 'permanent' : 'transient' })],
  ['email_complained', 0.1, () => ({})],
  ['purchase', 0.2, () => ({ plan: 'team' })],
];
const MIX_TOTAL = MIX.reduce((s, [, w]) => s + w, 0);
function randomEvent(): { type: EventType; properties: Record<string, string | number | boolean> } {
  let x = rnd() * MIX_TOTAL;
  for (const [type, w, props] of MIX) {
    x -= w;
    if (x < 0) return { type, properties: props() };
  }
  return { type: 'page_viewed', properties: {} };
}

interface SoakLead {
  email: string;
  leadId?: string;
  profile: Record<string, string | boolean>;
}
const leads: SoakLead[] = Array.from({ length: opts.leads }, (_, i) => ({
  email: `soak.${opts.seed}.${i}@${pick(DOMAINS)}`,
  profile: {
    firstName: `Lead${i}`,
    jobTitle: pick(TITLES),
    company: `Company ${i % 40}`,
    companySize: pick(SIZES),
    industry: pick(INDUSTRIES),
    consent: rnd() < 0.8,
  },
}));

const traffic = {
  requests: 0,
  serverErrors: 0,
  formsSent: 0,
  formRepeats: 0,
  batchesSent: 0,
  batchReplays: 0,
  inBatchDuplicates: 0,
  duplicatesReported: 0,
};
/** Every distinct event id the clients had acknowledged (202): what must be stored, exactly. */
const expected = new Set<string>();
let seq = 0;
const nextId = () => String(++seq).padStart(9, '0');
let remaining = opts.events;

function apiEvent(
  path: string,
  formId: string | null,
  headers: Record<string, string>,
  body: string,
): APIGatewayProxyEvent {
  return gatewayEvent({
    method: 'POST',
    path,
    resource: formId === null ? '/events' : '/forms/{formId}',
    pathParameters: formId === null ? null : { formId },
    headers,
    body,
    sourceIp: '192.0.2.10',
    userAgent: 'soak',
  });
}

/** A client that retries a 5xx with the same request until it gets an answer. */
async function send(
  handler: (e: APIGatewayProxyEvent, c: Context) => Promise<APIGatewayProxyResult>,
  event: APIGatewayProxyEvent,
): Promise<APIGatewayProxyResult> {
  for (let attempt = 1; ; attempt++) {
    traffic.requests++;
    const result = await handler(event, lambdaContext({ functionName: 'soak', region: REGION, timeoutMs: 30_000 }));
    if (result.statusCode < 500) return result;
    traffic.serverErrors++;
    if (attempt >= 50) throw new Error(`still ${result.statusCode} after ${attempt} attempts: ${result.body}`);
    await new Promise((r) => setTimeout(r, Math.min(1000, 10 * 2 ** attempt) * rnd()));
  }
}

const FormAnswer = z.object({ leadId: z.string(), status: z.literal('accepted') });
const EventsAnswer = z.object({
  accepted: z.number(),
  duplicates: z.number(),
  rejected: z.array(z.object({ index: z.number(), error: z.string() })),
});

async function submitForm(lead: SoakLead): Promise<void> {
  const formId = lead.leadId === undefined && rnd() < 0.5 ? 'newsletter' : pick(FORM_IDS);
  const key = `soak-form-${nextId()}`;
  remaining--;
  const event = apiEvent(
    `/forms/${formId}`,
    formId,
    { 'Content-Type': 'application/json', 'Idempotency-Key': key },
    JSON.stringify({ email: lead.email, ...lead.profile }),
  );
  const answer = FormAnswer.parse(JSON.parse((await send(captureForm, event)).body));
  lead.leadId = answer.leadId;
  expected.add(uuidv5(`form|${formId}|key|${key}`, LEADLOOP_NAMESPACE));
  traffic.formsSent++;
  if (rnd() < 0.1) {
    // A double click: the same submission again, counted once.
    traffic.formRepeats++;
    FormAnswer.parse(JSON.parse((await send(captureForm, event)).body));
  }
}

const sentBatches: string[] = [];
async function sendBatch(own: SoakLead[]): Promise<void> {
  const targets = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(own));
  const size = Math.min(remaining, 10 + Math.floor(rnd() * 80));
  if (size < 1) return;
  remaining -= size;
  const items: Record<string, unknown>[] = [];
  const ids: string[] = [];
  for (let i = 0; i < size; i++) {
    const lead = pick(targets);
    const { type, properties } = randomEvent();
    const eventId = `soak-e-${nextId()}`;
    ids.push(eventId);
    const who = lead.leadId !== undefined && rnd() < 0.3 ? { leadId: lead.leadId } : { email: lead.email };
    items.push({ eventId, ...who, type, properties });
    if (rnd() < 0.05 && items.length < 100) {
      // The client's own retry inside the batch: the same event twice.
      traffic.inBatchDuplicates++;
      items.push({ eventId, ...who, type, properties });
    }
  }
  const body = JSON.stringify({ events: items });
  const answer = EventsAnswer.parse(
    JSON.parse(
      (await send(captureEvents, apiEvent('/events', null, { 'content-type': 'application/json' }, body))).body,
    ),
  );
  if (answer.rejected.length > 0)
    throw new Error(`valid events were rejected: ${JSON.stringify(answer.rejected.slice(0, 3))}`);
  traffic.batchesSent++;
  traffic.duplicatesReported += answer.duplicates;
  for (const id of ids) expected.add(id);
  sentBatches.push(body);
  if (rnd() < 0.1) {
    // A whole batch sent again (the client never saw the first answer): nothing new may be stored.
    traffic.batchReplays++;
    const again = EventsAnswer.parse(
      JSON.parse(
        (
          await send(
            captureEvents,
            apiEvent('/events', null, { 'content-type': 'application/json' }, pick(sentBatches)),
          )
        ).body,
      ),
    );
    traffic.duplicatesReported += again.duplicates;
  }
}

/** A worker owns every `workers`-th lead, so one lead's traffic is sent in order (as one site backend would). */
async function worker(w: number): Promise<void> {
  const own = leads.filter((_, i) => i % opts.workers === w);
  if (own.length === 0) return;
  while (remaining > 0) {
    const unknown = own.filter((l) => l.leadId === undefined);
    if (unknown.length > 0 && rnd() < 0.5) await submitForm(pick(unknown));
    else if (rnd() < 0.08) await submitForm(pick(own));
    else await sendBatch(own);
  }
}

/** Poison: stored event items whose properties break the event schema (they can only fail, and must end in the DLQ). */
const poison = new Set<string>();
async function writePoison(): Promise<void> {
  for (let i = 0; i < opts.poison; i++) {
    const known = leads.filter((l) => l.leadId !== undefined);
    const lead = known.length > 0 ? pick(known) : undefined;
    if (!lead?.leadId) continue;
    const eventId = `soak-poison-${i}`;
    const at = new Date().toISOString();
    await doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          ...keys.event(lead.leadId, eventId),
          entity: 'event',
          eventId,
          leadId: lead.leadId,
          type: 'page_viewed',
          occurredAt: at,
          receivedAt: at,
          source: 'api',
          properties: { nested: { not: 'a scalar' } },
        },
      }),
    );
    poison.add(eventId);
  }
}

say(
  `soak: ${opts.events} events for ${opts.leads} leads, ${opts.workers} clients, fault rate ${opts.faultRate}, ${opts.poison} poison records, seed ${opts.seed}`,
);
const t0 = performance.now();
const progress = setInterval(
  () => say(`  … ${opts.events - Math.max(0, remaining)} events sent, ${scoring.invocations} scoring invocations`),
  10_000,
);
let poisoned = false;
await Promise.all([
  ...Array.from({ length: opts.workers }, (_, w) => worker(w)),
  (async () => {
    while (remaining > opts.events / 2) await new Promise((r) => setTimeout(r, 100));
    await writePoison();
    poisoned = true;
  })(),
]);
if (!poisoned) await writePoison();
const tIngest = performance.now();
await poller.drain({ timeoutMs: 30 * 60_000 });
const tScored = performance.now();
clearInterval(progress);
faults.remove();
await poller.stop();

// --- reconciliation ----------------------------------------------------------------------------------------------
const items: Record<string, unknown>[] = [];
let start: Record<string, unknown> | undefined;
do {
  const out = await doc.send(new ScanCommand({ TableName: TABLE, ExclusiveStartKey: start, ConsistentRead: true }));
  items.push(...(out.Items ?? []));
  start = out.LastEvaluatedKey;
} while (start);

const byLead = new Map<
  string,
  { lead?: Lead; events: (LeadEvent & { appliedAt?: string })[]; history: StageTransition[] }
>();
const entry = (leadId: string) => {
  let e = byLead.get(leadId);
  if (!e) byLead.set(leadId, (e = { events: [], history: [] }));
  return e;
};
const stored = new Map<string, { applied: boolean }>();
const StoredEvent = LeadEvent.extend({ appliedAt: z.string().optional() });
for (const item of items) {
  const leadId = typeof item.pk === 'string' && item.pk.startsWith('LEAD#') ? item.pk.slice('LEAD#'.length) : undefined;
  if (!leadId) continue;
  if (item.entity === 'lead') entry(leadId).lead = Lead.parse(item);
  else if (item.entity === 'stage') entry(leadId).history.push(StageTransition.parse(item));
  else if (item.entity === 'event') {
    const eventId = String(item.eventId);
    stored.set(eventId, { applied: typeof item.appliedAt === 'string' });
    const parsed = StoredEvent.safeParse(item);
    if (parsed.success) entry(leadId).events.push(parsed.data);
  }
}
const dlq = poller.deadLetters.map((d) => insertedEvent(d.record)?.eventId ?? `?${d.sequenceNumber}`);
const dlqSet = new Set(dlq);
const applied = [...stored].filter(([, s]) => s.applied).map(([id]) => id);
const appliedSet = new Set(applied);

const checks: [string, boolean, string][] = [];
const check = (name: string, ok: boolean, detail = '') => checks.push([name, ok, detail]);
const missing = [...expected].filter((id) => !stored.has(id));
const extra = [...stored.keys()].filter((id) => !expected.has(id) && !poison.has(id));
check(
  'every acknowledged event stored exactly once (no loss, nothing invented)',
  missing.length === 0 && extra.length === 0,
  `missing ${missing.length}, unexpected ${extra.length}`,
);
// A dead-lettered record's event stays pending and is applied by its lead's next scoring (issue 13), so an event in
// the DLQ may be applied by the end: it counts once, as applied.
const deadAndPending = [...dlqSet].filter((id) => stored.has(id) && !appliedSet.has(id));
check(
  'events in = events applied + events dead-lettered and still pending',
  stored.size === applied.length + deadAndPending.length &&
    [...stored.keys()].every((id) => appliedSet.has(id) || dlqSet.has(id)),
  `${stored.size} = ${applied.length} + ${deadAndPending.length} (${dlqSet.size - deadAndPending.length} dead-lettered, applied since)`,
);
check(
  'every unapplied event is findable in the pending index (the poison items are written raw, around the repository)',
  items
    .filter((i) => i.entity === 'event' && typeof i.appliedAt !== 'string' && !poison.has(String(i.eventId)))
    .every((i) => typeof i[TABLE_DEF.pendingIndex.partitionKey] === 'string'),
);
check(
  'no record dead-lettered twice',
  dlq.length === dlqSet.size,
  `${dlq.length} dead letters, ${dlqSet.size} distinct`,
);
const collateral = [...dlqSet].filter((id) => !poison.has(id));
check(
  'the DLQ holds exactly the poison records',
  collateral.length === 0 && [...poison].every((id) => dlqSet.has(id)),
  `${collateral.length} good events dead-lettered${collateral.length ? ` (e.g. ${collateral.slice(0, 3).join(', ')})` : ''}`,
);
const active = [...byLead.values()].flatMap((e) =>
  e.lead?.nurture?.status === 'active' ? [e.lead.nurture.executionName] : [],
);
const withoutRun = active.filter((name) => !sfn.executions.has(name));
check(
  'every enrolled lead has its one Step Functions run (a repeated start refused, never a second run)',
  withoutRun.length === 0,
  `${active.length} active enrollments, ${withoutRun.length} without a run, ${sfn.executions.size} runs, ${sfn.conflicts.length} start conflicts refused`,
);
let mismatched = 0;
const samples: string[] = [];
let transitions = 0;
for (const [leadId, e] of byLead) {
  if (!e.lead) continue;
  transitions += e.history.length;
  const appliedEvents = e.events.filter((x) => x.appliedAt !== undefined).map(({ appliedAt: _, ...x }) => x);
  const m = referenceMismatches(e.lead, e.history, appliedEvents);
  if (m.length > 0) {
    mismatched++;
    if (samples.length < 3) samples.push(`${leadId}: ${m.slice(0, 2).join('; ')}`);
  }
}
check(
  'every lead equals its fault-free recomputation (no double apply, no half update)',
  mismatched === 0,
  `${mismatched} of ${byLead.size} leads differ${samples.length ? `\n      ${samples.join('\n      ')}` : ''}`,
);

// --- figures -------------------------------------------------------------------------------------------------------
const s = (ms: number) => (ms / 1000).toFixed(1);
const f = faults.stats();
const stageCounts = new Map<string, number>();
for (const e of byLead.values()) if (e.lead) stageCounts.set(e.lead.stage, (stageCounts.get(e.lead.stage) ?? 0) + 1);
say('');
say(
  `events acknowledged   ${expected.size} distinct (+${traffic.inBatchDuplicates} in-batch duplicates, ${traffic.formRepeats} repeated forms, ${traffic.batchReplays} replayed batches; ${traffic.duplicatesReported} reported as duplicates)`,
);
say(
  `ingest                ${s(tIngest - t0)} s, ${(expected.size / ((tIngest - t0) / 1000)).toFixed(0)} events/s, ${traffic.requests} requests (${traffic.formsSent} forms, ${traffic.batchesSent} batches)`,
);
say(
  `scoring               drained ${s(tScored - tIngest)} s after ingest; end to end ${(applied.length / ((tScored - t0) / 1000)).toFixed(0)} events/s applied`,
);
say(
  `SDK faults injected   ${f.attempts} attempts, ${Object.entries(f.injected)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
say(
  `Step Functions faults ${sfnFaults.stats().attempts} attempts, ${Object.entries(sfnFaults.stats().injected)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}; ${sfn.executions.size} runs started, ${sfn.conflicts.length} start conflicts`,
);
say(
  `retries               SDK: of ${f.faultedCalls} faulted calls ${f.recoveredCalls} recovered by its backoff, ${f.genuineErrorCalls} met their own earlier write (lost response), ${f.surfacedCalls} surfaced (conflicts, exhausted retries)`,
);
say(
  `                      clients: ${traffic.serverErrors} 5xx answers retried; stream: ${scoring.itemFailures} batch items reported failed, ${scoring.thrown} whole-batch failures, ${scoring.invocations} invocations`,
);
say(
  `failed records        ${failedRecords.size} distinct: ${[...failedRecords]
    .map(
      ([id, seqs]) =>
        `${id} ×${seqs.length}${new Set(seqs).size > 1 ? ` (under ${new Set(seqs).size} sequence numbers)` : ''}`,
    )
    .slice(0, 8)
    .join(', ')}`,
);
say(`error logs            ${errorLogs.size === 0 ? 'none' : [...errorLogs].map(([k, n]) => `${n}× ${k}`).join('; ')}`);
say(
  `DLQ                   ${dlqSet.size} (${[...dlqSet].filter((id) => poison.has(id)).length} poison, ${collateral.length} good events)`,
);
say(
  `leads                 ${byLead.size}, ${transitions} stage transitions; ${[...stageCounts].map(([k, v]) => `${k} ${v}`).join(', ')}`,
);
say('');
for (const [name, ok, detail] of checks) say(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? ` — ${detail}` : ''}`);
const failed = checks.filter(([, ok]) => !ok).length;
say(failed === 0 ? '\nreconciled exactly' : `\n${failed} check(s) failed`);

admin.destroy();
await ddb.stop();
process.exit(failed === 0 ? 0 : 1);
