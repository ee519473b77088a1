import '../support/stream-table.js'; // first: this file reads the table's stream, on a DynamoDB Local of its own
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { keyedAddressHasher } from '../../lambdas/adapters/address-hash.js';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  Context,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import { v5 as uuidv5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { LEADLOOP_NAMESPACE } from '../../lambdas/domain/capture.js';
import { LeadEvent } from '../../lambdas/domain/events.js';
import { keys } from '../../lambdas/adapters/table-definition.js';
import { insertedEvent } from '../../lambdas/handlers/stream-records.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { toLambdaRecord } from '../../lib/local/stream-poller.js';
import { apiEvent } from '../support/api-event.js';
import { testRepository, uniqueEmail, TEST_SUPPRESSION_KEY } from '../support/dynamo.js';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ulid } from 'ulid';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { DynamoSendingStore } from '../../lambdas/adapters/dynamo-sending-store.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { tableProperties } from '../support/deployment.js';
import { fixedClock } from '../../lambdas/domain/clock.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { sentEventId, type TouchDeps } from '../../lambdas/domain/nurture/nurture-tasks.js';
import { staticSigningKeys } from '../../lambdas/domain/nurture/unsubscribe-token.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import {
  fakeSes,
  fakeStepFunctions,
  installFaults,
  referenceMismatches,
  retryGaps,
  seededRandom,
  type Call,
  type FaultInjector,
  type FaultOptions,
} from '../support/faults.js';

/**
 * Issue 7 §3 against DynamoDB Local: the capture handlers and the scoring handler with DynamoDB faults injected
 * (throttling, 5xx, timeouts, lost responses, transaction conflicts) show that the SDK retries with backoff, that no
 * event is lost or applied twice, that no lead is left half-updated, and that a poison record fails alone.
 *
 * Every "container" below is a fresh import of the handler modules (their own runtime singletons and SDK client),
 * as separate Lambda containers would be; faults are installed on that container's `runtime.dynamoDb()`.
 */

const REGION = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '';
const tableName = process.env.TABLE_NAME ?? '';

// Quiet logs and metrics: thousands of invocations would otherwise flood the output. Set before any handler import.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

type Runtime = typeof import('../../lambdas/adapters/aws.js');
type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

interface Container {
  runtime: Runtime;
  form: ApiHandler;
  events: ApiHandler;
  score: (event: DynamoDBStreamEvent, context: Context) => Promise<unknown>;
}

/** A cold start: fresh handler modules with their own clients. */
async function container(): Promise<Container> {
  vi.resetModules();
  const runtime = await import('../../lambdas/adapters/aws.js');
  const form = await import('../../lambdas/handlers/capture-form.js');
  const events = await import('../../lambdas/handlers/capture-events.js');
  const score = await import('../../lambdas/handlers/score-stream.js');
  return { runtime, form: form.handler, events: events.handler, score: score.handler };
}

const context = (name: string): Context => lambdaContext({ functionName: name, region: REGION, timeoutMs: 30_000 });

/** An API Gateway (REST, proxy integration) event for a POST. */
function post(
  path: string,
  pathParameters: Record<string, string> | null,
  headers: Record<string, string>,
  body: string,
): APIGatewayProxyEvent {
  return apiEvent({
    method: 'POST',
    path,
    resource: pathParameters ? '/forms/{formId}' : path,
    pathParameters,
    headers,
    body,
    sourceIp: '203.0.113.7',
    userAgent: 'faults-test',
  });
}

const formPost = (formId: string, body: Record<string, unknown>, idempotencyKey: string) =>
  post(
    `/forms/${formId}`,
    { formId },
    { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
    JSON.stringify(body),
  );
const eventsPost = (events: unknown[]) =>
  post('/events', null, { 'content-type': 'application/json', 'x-api-key': 'k' }, JSON.stringify({ events }));

/** Sends like a well-behaved client: a 5xx is retried (same request), anything else is the answer. */
async function sendWithRetries(
  handler: ApiHandler,
  event: APIGatewayProxyEvent,
  name: string,
): Promise<{ result: APIGatewayProxyResult; serverErrors: number }> {
  let serverErrors = 0;
  for (;;) {
    const result = await handler(event, context(name));
    if (result.statusCode < 500 || serverErrors >= 10) return { result, serverErrors };
    serverErrors++;
    await new Promise((r) => setTimeout(r, 20 * serverErrors));
  }
}

const BatchResponse = z.object({ batchItemFailures: z.array(z.object({ itemIdentifier: z.string() })) });
const EventsAnswer = z.object({
  accepted: z.number(),
  duplicates: z.number(),
  rejected: z.array(z.object({ index: z.number(), error: z.string() })),
});

/** The id captureForm derives for a submission with an Idempotency-Key. */
const formEventId = (formId: string, key: string) => uuidv5(`form|${formId}|key|${key}`, LEADLOOP_NAMESPACE);

const { repo, doc } = testRepository();
const ddb = new DynamoDBClient({ endpoint, region: REGION, credentials });
const streams = new DynamoDBStreamsClient({ endpoint, region: REGION, credentials });

afterAll(() => {
  ddb.destroy();
  streams.destroy();
});

/** The table stream's event inserts for the given leads, in stream order, as Lambda would deliver them. */
async function streamRecordsFor(leadIds: ReadonlySet<string>): Promise<DynamoDBRecord[]> {
  const arn = (await ddb.send(new DescribeTableCommand({ TableName: tableName }))).Table?.LatestStreamArn;
  if (!arn) throw new Error('the test table has no stream');
  const shardIds: string[] = [];
  let start: string | undefined;
  do {
    const out = await streams.send(new DescribeStreamCommand({ StreamArn: arn, ExclusiveStartShardId: start }));
    for (const s of out.StreamDescription?.Shards ?? []) if (s.ShardId) shardIds.push(s.ShardId);
    start = out.StreamDescription?.LastEvaluatedShardId;
  } while (start);
  const records: DynamoDBRecord[] = [];
  for (const shardId of shardIds) {
    let iterator = (
      await streams.send(
        new GetShardIteratorCommand({ StreamArn: arn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator;
    while (iterator) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      const raw = page.Records ?? [];
      for (const r of raw) {
        const record = toLambdaRecord(r, arn, REGION);
        const ev = insertedEvent(record);
        if (ev && leadIds.has(ev.leadId)) records.push(record);
      }
      if (raw.length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return records;
}

const sequenceOf = (r: DynamoDBRecord): string => r.dynamodb?.SequenceNumber ?? '';

interface Delivery {
  invocations: number;
  /** Records reported failed (each report counts once). */
  failedReports: number;
  deadLetters: { record: DynamoDBRecord; reason: string }[];
}

/**
 * Feeds records to the scoring handler as Lambda's event source mapping does for a stream shard: in batches, resuming
 * from the first failed record of a partial batch response, a record that fails `maxAttempts` times set aside in a
 * DLQ; and, being at-least-once, sometimes delivering a batch that already succeeded a second time.
 */
async function deliver(
  c: Container,
  records: DynamoDBRecord[],
  o: { batchSize?: number; maxAttempts?: number; redeliverRate?: number; seed?: number } = {},
): Promise<Delivery> {
  const batchSize = o.batchSize ?? 25;
  const maxAttempts = o.maxAttempts ?? 6;
  const rnd = seededRandom(o.seed ?? 1);
  const attempts = new Map<string, number>();
  const out: Delivery = { invocations: 0, failedReports: 0, deadLetters: [] };
  const invoke = async (batch: DynamoDBRecord[]): Promise<{ index: number; reason: string } | undefined> => {
    out.invocations++;
    try {
      const response = BatchResponse.parse(
        (await c.score({ Records: batch }, context('score-stream'))) ?? { batchItemFailures: [] },
      );
      if (response.batchItemFailures.length === 0) return undefined;
      out.failedReports += response.batchItemFailures.length;
      const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      return { index: batch.findIndex((r) => failed.has(sequenceOf(r))), reason: 'reported in batchItemFailures' };
    } catch (e) {
      out.failedReports += batch.length;
      return { index: 0, reason: e instanceof Error ? e.message : String(e) };
    }
  };
  let pos = 0;
  while (pos < records.length) {
    const batch = records.slice(pos, pos + batchSize);
    const failure = await invoke(batch);
    if (!failure) {
      if (rnd() < (o.redeliverRate ?? 0)) await invoke(batch);
      pos += batch.length;
      continue;
    }
    pos += Math.max(0, failure.index);
    const record = records[pos];
    if (!record) break;
    const n = (attempts.get(sequenceOf(record)) ?? 0) + 1;
    attempts.set(sequenceOf(record), n);
    if (n >= maxAttempts) {
      out.deadLetters.push({ record, reason: failure.reason });
      pos++;
    }
  }
  return out;
}

/**
 * Per lead: the events stored (valid ones; a poison item is left out), those marked applied, and how the lead differs
 * from the fault-free reference.
 */
async function audit(leadIds: Iterable<string>) {
  const leads = [];
  for (const leadId of leadIds) {
    const lead = await repo.getLead(leadId);
    if (!lead) throw new Error(`lead ${leadId} is missing`);
    const raw = (await repo.partitionItems(leadId)).filter((i) => i.entity === 'event');
    const events = raw.flatMap((i) => {
      const parsed = StoredEvent.safeParse(i);
      return parsed.success ? [parsed.data] : [];
    });
    const applied = events.filter((e) => e.appliedAt !== undefined).map(({ appliedAt: _, ...e }) => e);
    const history = await repo.stageHistory(leadId);
    leads.push({ lead, events, applied, mismatches: referenceMismatches(lead, history, applied) });
  }
  return leads;
}

const StoredEvent = LeadEvent.extend({ appliedAt: z.string().optional() });

/** One lead's traffic: a batch of web events (creating the lead), then a form submission. Ids are fixed up front. */
function workload(tag: string, rnd: () => number) {
  const email = uniqueEmail(tag.toLowerCase());
  const types = [
    'page_viewed',
    'pricing_page_viewed',
    'content_download',
    'webinar_attended',
    'email_opened',
    'email_clicked',
    'chatbot_interaction',
  ];
  const n = 6 + Math.floor(rnd() * 6);
  const events = Array.from({ length: n }, (_, i) => ({
    eventId: `${tag}-${i}-${Math.floor(rnd() * 1e9).toString(36)}`,
    email,
    type: types[Math.floor(rnd() * types.length)] ?? 'page_viewed',
    properties: { url: `/page/${i}` },
  }));
  // A client that retried inside its own batch: the first event appears twice.
  const batch = [...events, ...(events[0] ? [events[0]] : [])];
  const formIds = ['demo-request', 'contact', 'content-download', 'webinar-registration'] as const;
  const formId = formIds[Math.floor(rnd() * formIds.length)] ?? 'contact';
  const key = `${tag}-${Math.floor(rnd() * 1e9).toString(36)}`;
  const form = {
    email,
    firstName: 'Ada',
    jobTitle: rnd() < 0.5 ? 'VP Operations' : 'Marketing Intern',
    company: 'Acme',
    companySize: '201-1000',
    consent: true,
  };
  return {
    email,
    batch,
    formId,
    key,
    form,
    expected: new Set([...events.map((e) => e.eventId), formEventId(formId, key)]),
  };
}

type Workload = ReturnType<typeof workload>;

/** Sends one workload through the capture handlers, retrying 5xx like a client would. */
async function capture(
  c: Container,
  w: Workload,
): Promise<{ leadId: string; serverErrors: number; answers: z.infer<typeof EventsAnswer>[] }> {
  const ev = await sendWithRetries(c.events, eventsPost(w.batch), 'capture-events');
  expect(ev.result.statusCode).toBe(202);
  const answer = EventsAnswer.parse(JSON.parse(ev.result.body));
  const fm = await sendWithRetries(c.form, formPost(w.formId, w.form, w.key), 'capture-form');
  expect(fm.result.statusCode).toBe(202);
  const leadId = await repo.findLeadIdByEmail(w.email);
  if (!leadId) throw new Error(`no lead for ${w.email}`);
  expect(z.object({ leadId: z.string() }).parse(JSON.parse(fm.result.body)).leadId).toBe(leadId);
  return { leadId, serverErrors: ev.serverErrors + fm.serverErrors, answers: [answer] };
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

describe('DynamoDB faults: capture', () => {
  /** A fresh container (so a fresh SDK retry quota) with faults installed on its DynamoDB client. */
  async function faulty(o: FaultOptions): Promise<{ c: Container; f: FaultInjector }> {
    const c = await container();
    return { c, f: installFaults(c.runtime.dynamoDb(), o) };
  }
  const identityLookup = (call: Call) =>
    call.command === 'GetItemCommand' && JSON.stringify(call.input).includes('"EMAIL#');

  it('retries 5xx and throttling with growing, jittered backoff until the call succeeds', async () => {
    // Every identity lookup fails three times, then goes through on the SDK's fourth and last attempt.
    const { c, f } = await faulty({
      seed: 7,
      rate: 1,
      kinds: { server: 1 },
      maxFaultsPerCall: 3,
      maxCalls: 10,
      select: identityLookup,
    });
    const rnd = seededRandom(11);
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => capture(c, workload(`backoff${i}`, rnd))));
    f.remove();
    expect(results.every((r) => r.serverErrors === 0)).toBe(true);
    const calls = f.faultedCalls();
    expect(calls).toHaveLength(10);
    for (const call of calls) {
      expect(call.attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4]);
      expect(call.attempts.map((a) => a.fault)).toEqual(['server', 'server', 'server', undefined]);
      expect(call.recovered).toBe(true);
    }
    // Full jitter over an exponential base: the third pause is drawn from a range four times the first one's.
    const gaps = calls.map(retryGaps);
    const [g1, g3] = [mean(gaps.map((g) => g[0] ?? 0)), mean(gaps.map((g) => g[2] ?? 0))];
    expect(g3).toBeGreaterThan(g1);

    // Throttling backs off from a much larger base than a 5xx does.
    const t = await faulty({
      seed: 8,
      rate: 1,
      kinds: { throttle: 1 },
      maxFaultsPerCall: 1,
      maxCalls: 8,
      select: identityLookup,
    });
    await Promise.all(Array.from({ length: 4 }, (_, i) => capture(t.c, workload(`throttle${i}`, rnd))));
    t.f.remove();
    const throttled = t.f.faultedCalls();
    expect(throttled).toHaveLength(8);
    expect(throttled.every((call) => call.recovered && call.attempts.length === 2)).toBe(true);
    expect(mean(throttled.map((call) => retryGaps(call)[0] ?? 0))).toBeGreaterThan(2 * g1);
  }, 60_000);

  it('records every form and event exactly once through throttling, 5xx, timeouts and lost responses', async () => {
    const { c, f } = await faulty({
      seed: 42,
      rate: 0.15,
      kinds: { throttle: 1, server: 2, timeout: 2, lostResponse: 3 },
    });
    const rnd = seededRandom(43);
    const loads = Array.from({ length: 14 }, (_, i) => workload(`capture${i}`, rnd));
    const captured = await Promise.all(loads.map((w) => capture(c, w)));
    f.pause();

    const stats = f.stats();
    expect(stats.injected.lostResponse).toBeGreaterThan(0);
    expect(stats.injected.throttle + stats.injected.server + stats.injected.timeout).toBeGreaterThan(0);
    expect(stats.recoveredCalls).toBeGreaterThan(0);
    for (const [i, w] of loads.entries()) {
      const got = captured[i];
      if (!got) throw new Error('capture result missing');
      const stored = await repo.listEvents(got.leadId);
      // Nothing lost, nothing doubled: exactly the distinct events sent (ids are the identity of an event).
      expect(new Set(stored.map((e) => e.eventId))).toEqual(w.expected);
      expect(stored).toHaveLength(w.expected.size);
      for (const a of got.answers) expect(a.accepted + a.duplicates + a.rejected.length).toBe(w.batch.length);
    }
    // One lead per address, however many retries created it.
    expect(new Set(captured.map((x) => x.leadId)).size).toBe(loads.length);
  }, 60_000);

  it('creates one lead for one address submitted many times at once, through lost responses and 5xx', async () => {
    const { c, f } = await faulty({ seed: 21, rate: 0.15, kinds: { server: 1, timeout: 1, lostResponse: 3 } });
    const email = uniqueEmail('samelead');
    const idempotencyKeys = Array.from({ length: 10 }, (_, i) => `same-${i}-${email}`);
    const answers = await Promise.all(
      idempotencyKeys.map((key, i) =>
        sendWithRetries(c.form, formPost('contact', { email, firstName: `Ada${i}` }, key), 'capture-form'),
      ),
    );
    f.remove();
    expect(answers.map((a) => a.result.statusCode)).toEqual(idempotencyKeys.map(() => 202));
    const leadIds = new Set(
      answers.map((a) => z.object({ leadId: z.string() }).parse(JSON.parse(a.result.body)).leadId),
    );
    expect(leadIds.size).toBe(1);
    const [leadId] = [...leadIds];
    expect(await repo.findLeadIdByEmail(email)).toBe(leadId);
    const stored = await repo.listEvents(leadId ?? '');
    expect(new Set(stored.map((e) => e.eventId))).toEqual(
      new Set(idempotencyKeys.map((k) => formEventId('contact', k))),
    );
  }, 60_000);

  it.each([
    ['the lead', 'LEAD#'],
    ['the identity', 'EMAIL#'],
    ['the form event', 'EVENT#'],
  ])(
    'creates one whole lead when the answer to the put of %s is lost and the SDK sends it again',
    async (_, prefix) => {
      // A new lead is three conditional puts (lead, identity, event). The retry of one whose answer was lost finds
      // the first attempt's item: it must count as written, not as another caller's (which would delete the lead, or
      // report a first submission as a duplicate and skip its confirmation).
      const { c, f } = await faulty({
        seed: 3,
        rate: 1,
        kinds: { lostResponse: 1 },
        maxFaults: 1,
        select: (call) => call.command === 'PutItemCommand' && JSON.stringify(call.input).includes(`"S":"${prefix}`),
      });
      const email = uniqueEmail('lostput');
      const result = await c.form(formPost('newsletter', { email }, `k-${email}`), context('capture-form'));
      f.remove();
      expect(f.stats().injected.lostResponse).toBe(1);
      expect(result.statusCode).toBe(202);
      const leadId = await repo.findLeadIdByEmail(email);
      expect(leadId).toBe(z.object({ leadId: z.string() }).parse(JSON.parse(result.body)).leadId);
      expect(await repo.getLead(leadId ?? '')).toBeDefined();
      expect((await repo.listEvents(leadId ?? '')).map((e) => e.eventId)).toEqual([
        formEventId('newsletter', `k-${email}`),
      ]);
    },
  );
});

describe('DynamoDB faults: scoring from the table stream', () => {
  let capturer: Container;
  beforeAll(async () => {
    capturer = await container();
  });

  /** Fault-free capture of `n` workloads; returns their lead ids and stream records. */
  async function captured(tag: string, n: number, seed: number) {
    const rnd = seededRandom(seed);
    const loads = Array.from({ length: n }, (_, i) => workload(`${tag}${i}`, rnd));
    const leadIds = new Set((await Promise.all(loads.map((w) => capture(capturer, w)))).map((r) => r.leadId));
    const records = await streamRecordsFor(leadIds);
    expect(records.length).toBe(loads.reduce((s, w) => s + w.expected.size, 0));
    return { leadIds, records, loads };
  }

  it('applies every stored event exactly once under faults, and each lead equals its fault-free reference', async () => {
    const { leadIds, records } = await captured('score', 8, 5);
    const scorer = await container();
    // Every kind of fault on every call, and on top of that, half the commits meet a conflict or lose their response.
    const f = installFaults(scorer.runtime.dynamoDb(), {
      seed: 99,
      rate: 0.1,
      kinds: { throttle: 1, server: 2, timeout: 1, lostResponse: 2 },
    });
    const commits = installFaults(scorer.runtime.dynamoDb(), {
      seed: 100,
      rate: 0.5,
      kinds: { conflict: 1, lostResponse: 1 },
      select: (call) => call.command === 'TransactWriteItemsCommand',
    });
    const delivery = await deliver(scorer, records, { batchSize: 10, redeliverRate: 0.3, seed: 6 });
    f.remove();
    commits.remove();

    expect(commits.stats().injected.conflict).toBeGreaterThan(0);
    expect(commits.stats().injected.lostResponse).toBeGreaterThan(0);
    expect(f.stats().recoveredCalls).toBeGreaterThan(0);
    expect(delivery.deadLetters).toEqual([]);
    for (const { lead, events, applied, mismatches } of await audit(leadIds)) {
      expect({ leadId: lead.leadId, mismatches }).toEqual({ leadId: lead.leadId, mismatches: [] });
      // No event lost: every stored event is applied, once (appliedAt is written once, under a condition).
      expect(applied.map((e) => e.eventId).sort()).toEqual(events.map((e) => e.eventId).sort());
    }
  }, 60_000);

  it('gets a scoring commit that met a TransactionConflict retried, and applies its events once', async () => {
    const { leadIds, records } = await captured('conflict', 3, 8);
    const scorer = await container();
    const f = installFaults(scorer.runtime.dynamoDb(), {
      seed: 1,
      rate: 1,
      kinds: { conflict: 1 },
      maxFaults: 1,
      select: (call) => call.command === 'TransactWriteItemsCommand',
    });
    const delivery = await deliver(scorer, records, { batchSize: 100 });
    f.remove();

    // Retried in the handler (a conflict is a lost race) or by redelivery of the record: either way, once.
    expect(f.stats().injected.conflict).toBe(1);
    expect(delivery.deadLetters).toEqual([]);
    for (const { mismatches, events, applied } of await audit(leadIds)) {
      expect(mismatches).toEqual([]);
      expect(applied).toHaveLength(events.length);
    }
  });

  it('many concurrent scorers on one lead (separate containers, duplicate deliveries) apply each event once', async () => {
    const email = uniqueEmail('crowd');
    const batch = Array.from({ length: 16 }, (_, i) => ({
      eventId: `crowd-${i}`,
      email,
      type: 'content_download',
      properties: { asset: `guide-${i}` },
    }));
    expect((await capturer.events(eventsPost(batch), context('capture-events'))).statusCode).toBe(202);
    const leadId = await repo.findLeadIdByEmail(email);
    if (!leadId) throw new Error('no lead');
    const records = await streamRecordsFor(new Set([leadId]));
    expect(records).toHaveLength(16);

    const scorers = await Promise.all(Array.from({ length: 4 }, () => container()));
    const injectors = scorers.map((s, i) =>
      installFaults(s.runtime.dynamoDb(), {
        seed: 200 + i,
        rate: 0.15,
        kinds: { throttle: 1, lostResponse: 2, conflict: 2 },
      }),
    );
    // Each record is delivered to two containers (at-least-once), one record per invocation, all containers at once.
    const queues = scorers.map((_, i) =>
      records.filter((_r, j) => j % scorers.length === i || (j + 1) % scorers.length === i),
    );
    await Promise.all(
      scorers.map(async (s, i) => {
        for (const record of queues[i] ?? []) {
          for (let attempt = 1; attempt <= 8; attempt++) {
            const out = await deliver(s, [record], { batchSize: 1, maxAttempts: 1 });
            if (out.deadLetters.length === 0) break;
          }
        }
      }),
    );
    for (const f of injectors) f.remove();

    const [audited] = await audit([leadId]);
    expect(audited?.mismatches).toEqual([]);
    expect(audited?.applied).toHaveLength(16);
    // An invocation applies its own event and any other the lead still has pending (issue 13), so there are at most
    // as many lead writes as events, and the audit above shows each applied once: no double apply, no lost update.
    expect(audited?.lead.version).toBeGreaterThanOrEqual(1);
    expect(audited?.lead.version).toBeLessThanOrEqual(16);
  }, 60_000);
});

describe('poison records', () => {
  /** A stored event item whose properties break the event schema (a nested object). */
  async function poison(leadId: string, eventId: string): Promise<void> {
    const at = new Date().toISOString();
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          ...keys.event(leadId, eventId),
          entity: 'event',
          eventId,
          leadId,
          type: 'page_viewed',
          occurredAt: at,
          receivedAt: at,
          source: 'api',
          properties: { nested: { not: 'a scalar' } },
        },
      }),
    );
  }

  async function leadWithEvents(tag: string, n: number): Promise<{ leadId: string; eventIds: string[] }> {
    const email = uniqueEmail(tag.toLowerCase());
    const c = await capturerOnce();
    const batch = Array.from({ length: n }, (_, i) => ({
      eventId: `${tag}-${i}`,
      email,
      type: 'page_viewed',
      properties: { url: `/p/${i}` },
    }));
    expect((await c.events(eventsPost(batch), context('capture-events'))).statusCode).toBe(202);
    const leadId = await repo.findLeadIdByEmail(email);
    if (!leadId) throw new Error('no lead');
    return { leadId, eventIds: batch.map((e) => e.eventId) };
  }

  let shared: Container | undefined;
  const capturerOnce = async () => (shared ??= await container());

  it('reports a poison record as the only failure of its batch; the other leads of the batch are scored', async () => {
    const a = await leadWithEvents('poisonA', 2);
    const b = await leadWithEvents('poisonB', 1);
    const p = await leadWithEvents('poisonP', 1);
    const c = await capturerOnce();
    // The poison lead's good event is scored beforehand, so the batch below holds only the poison record of it.
    expect(
      BatchResponse.parse(
        await c.score({ Records: await streamRecordsFor(new Set([p.leadId])) }, context('score-stream')),
      ),
    ).toEqual({ batchItemFailures: [] });
    await poison(p.leadId, 'bad-properties');
    const records = await streamRecordsFor(new Set([a.leadId, b.leadId, p.leadId]));
    const bad = records.find((r) => insertedEvent(r)?.eventId === 'bad-properties');
    if (!bad) throw new Error('poison record not on the stream');
    const ofLead = (leadId: string) => records.filter((r) => insertedEvent(r)?.leadId === leadId);
    const ordered = [...ofLead(a.leadId), bad, ...ofLead(b.leadId)];

    const response = BatchResponse.parse(await c.score({ Records: ordered }, context('score-stream')));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: sequenceOf(bad) }]);
    const audited = await audit([a.leadId, b.leadId]);
    for (const x of audited) {
      expect(x.mismatches).toEqual([]);
      expect(x.applied).toHaveLength(x.events.length);
    }
    // Redelivered until its attempts run out, it ends in the DLQ; nothing of it was applied.
    const delivery = await deliver(c, [bad], { maxAttempts: 3 });
    expect(delivery.deadLetters.map((d) => insertedEvent(d.record)?.eventId)).toEqual(['bad-properties']);
    const raw = await repo.partitionItems(p.leadId);
    expect(raw.find((i) => i.eventId === 'bad-properties')?.appliedAt).toBeUndefined();
  });

  it('logs why a record failed, naming the lead and the event', async () => {
    const p = await leadWithEvents('poisonLog', 1);
    await poison(p.leadId, 'bad-logged');
    const c = await capturerOnce();
    const records = await streamRecordsFor(new Set([p.leadId]));
    const bad = records.filter((r) => insertedEvent(r)?.eventId === 'bad-logged');
    const good = await leadWithEvents('poisonLogGood', 1);
    const other = await streamRecordsFor(new Set([good.leadId]));
    const error = vi.spyOn(c.runtime.logger, 'error');
    const warn = vi.spyOn(c.runtime.logger, 'warn');

    const response = BatchResponse.parse(await c.score({ Records: [...bad, ...other] }, context('score-stream')));
    expect(response.batchItemFailures).toHaveLength(1);
    // Errors are logged as objects; their name and message are what a reader of the log sees.
    const logged = JSON.stringify([...error.mock.calls, ...warn.mock.calls], (_k, v: unknown) =>
      v instanceof Error ? { name: v.name, message: v.message } : v,
    );
    error.mockRestore();
    warn.mockRestore();
    expect(logged).toContain('bad-logged');
    expect(logged).toContain(p.leadId);
    expect(logged).toMatch(/properties/);
  });

  it('does not fail the good records of the poison record’s own lead in the same batch', async () => {
    const p = await leadWithEvents('poisonsame', 3);
    await poison(p.leadId, 'bad-same-lead');
    const other = await leadWithEvents('poisonother', 1);
    const c = await capturerOnce();
    const records = await streamRecordsFor(new Set([p.leadId, other.leadId]));
    const bad = records.find((r) => insertedEvent(r)?.eventId === 'bad-same-lead');
    if (!bad) throw new Error('poison record not on the stream');

    const response = BatchResponse.parse(await c.score({ Records: records }, context('score-stream')));
    const failed = response.batchItemFailures.map(
      (f) => insertedEvent(records.find((r) => sequenceOf(r) === f.itemIdentifier) ?? {})?.eventId,
    );
    expect(failed).toEqual(['bad-same-lead']);
    const [x] = await audit([p.leadId]);
    expect(x?.applied.map((e) => e.eventId).sort()).toEqual(p.eventIds.sort());
    expect(x?.mismatches).toEqual([]);
  });
});

describe('SES and Step Functions faults', () => {
  const NOW = '2026-03-02T15:00:00.000Z'; // a Monday, inside the send window

  /**
   * A table of its own: the reputation brake is one item per table, and other suites record bounces and complaints
   * on the shared one (a paused brake would defer these touches).
   */
  async function ownTable() {
    const name = `faults-ses-${ulid().toLowerCase()}`;
    await ensureTable(ddb, name, tableProperties());
    const ownDoc = DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
    return {
      repo: new DynamoLeadRepository(ownDoc, name, keyedAddressHasher(TEST_SUPPRESSION_KEY)),
      sending: new DynamoSendingStore(ownDoc, name),
    };
  }

  /** A consenting lead whose current run is on the newsletter track, no touch sent yet. */
  async function leadInRun(repo: DynamoLeadRepository): Promise<Lead> {
    const leadId = ulid();
    const lead: Lead = {
      ...newLead(leadId, `${leadId.toLowerCase()}@example-corp.com`, new Date('2026-02-01T00:00:00Z')),
      stage: 'lead',
      profile: { firstName: 'Ada', timeZone: 'UTC' },
      consent: { marketing: true, at: '2026-02-01T00:00:00.000Z', source: 'newsletter' },
      nurture: {
        track: 'newsletter',
        executionName: `faults-${leadId}`,
        status: 'active',
        enrolledAt: '2026-03-01T00:00:00.000Z',
        touchesSent: 0,
      },
      activity: {},
    };
    await repo.createLead(lead);
    return lead;
  }

  it('SES throttling, 5xx and timeouts before or after acceptance: mails sent = touches claimed, each once', async () => {
    const { repo, sending } = await ownTable();
    // The mailer from the same module generation as the handler (earlier tests reset modules): its errors must be
    // the classes the handler checks for.
    const { createHandler: touchHandler } = await import('../../lambdas/handlers/nurture-touch.js');
    const { SesMailer } = await import('../../lambdas/adapters/ses-mailer.js');
    const ses = fakeSes();
    const client = new SESv2Client({ region: REGION, credentials, maxAttempts: 1, requestHandler: ses.requestHandler });
    const faults = installFaults(client, {
      seed: 1302,
      rate: 0.45,
      kinds: { throttle: 1, server: 1, timeout: 1, lostResponse: 1 },
    });
    const deps: TouchDeps = {
      leads: repo,
      clock: fixedClock(NOW),
      plan: DEFAULT_NURTURE_PLAN,
      mailer: new SesMailer(client),
      mail: {
        from: 'hello@leadloop.test',
        configurationSetName: 'faults',
        templatePrefix: 'leadloop-faults',
        mailingAddress: 'Leadloop, 1 Test Street',
        siteUrl: 'https://leadloop.test',
        unsubscribeBaseUrl: 'https://api.leadloop.test/unsubscribe',
      },
      signingKeys: staticSigningKeys('k1', { k1: 'faults-test-secret-0123456789abcdef' }),
      sending,
      maxWriteAttempts: 10,
    };
    const touch = touchHandler(() => deps);
    const leads = await Promise.all(Array.from({ length: 30 }, () => leadInRun(repo)));

    // Each touch as its state retries it: a thrown (retryable) error is tried again, up to 10 times.
    const results = await Promise.all(
      leads.map(async (lead) => {
        const input = {
          leadId: lead.leadId,
          track: 'newsletter',
          touch: 1,
          executionName: lead.nurture?.executionName,
        };
        for (let attempt = 1; ; attempt++) {
          try {
            return await touch(input, context('nurture-touch'));
          } catch (e) {
            if (attempt >= 10) throw e;
          }
        }
      }),
    );
    faults.remove();

    const injected = faults.stats().injected;
    expect(injected.throttle + injected.server).toBeGreaterThan(0);
    expect(injected.timeout + injected.lostResponse).toBeGreaterThan(0);
    expect(results.every((r) => r.outcome === 'sent')).toBe(true);
    const claims = await Promise.all(
      leads.map((l) => sending.getClaim(l.leadId, sentEventId(l.nurture?.executionName ?? '', 1))),
    );
    const claimed = claims.filter((c) => c?.state === 'sent' || c?.state === 'unconfirmed');
    // Every touch is claimed once; a mail reached SES at most once per touch, and only for a claimed touch.
    expect(claimed).toHaveLength(leads.length);
    const perLead = new Map<string, number>();
    for (const m of ses.accepted) perLead.set(m.tags.leadId ?? '', (perLead.get(m.tags.leadId ?? '') ?? 0) + 1);
    expect([...perLead.values()].every((n) => n === 1)).toBe(true);
    // Mails sent = touches claimed, less those whose request timed out before reaching SES (recorded as unconfirmed).
    const sent = claims.filter((c) => c?.state === 'sent').length;
    const unconfirmed = claims.filter((c) => c?.state === 'unconfirmed').length;
    expect(ses.accepted).toHaveLength(sent + injected.lostResponse);
    expect(unconfirmed).toBe(injected.lostResponse + injected.timeout);
    // No lead half-updated: each has its one email_sent and its touch on the nurture state.
    for (const lead of leads) {
      const events = await repo.listEvents(lead.leadId);
      expect(events.filter((e) => e.type === 'email_sent')).toHaveLength(1);
      expect((await repo.getLead(lead.leadId))?.nurture?.touchesSent).toBe(1);
    }
  }, 60_000);

  it('Step Functions throttling, 5xx and lost start answers: one run per enrolled lead; events in = applied + dead-lettered', async () => {
    const sfn = fakeStepFunctions();
    const client = new SFNClient({ region: REGION, credentials, maxAttempts: 2, requestHandler: sfn.requestHandler });
    const faults = installFaults(client, {
      seed: 1303,
      rate: 0.5,
      kinds: { throttle: 1, server: 1, lostResponse: 2 },
    });
    const machines = Object.fromEntries(
      DEFAULT_NURTURE_PLAN.tracks.map((t) => [t.id, `arn:aws:states:${REGION}:000000000000:stateMachine:${t.id}`]),
    );
    const clock = fixedClock(NOW);
    const { createHandler: scoreHandler } = await import('../../lambdas/handlers/score-stream.js');
    const { SfnNurtureStarter } = await import('../../lambdas/adapters/sfn-nurture-starter.js');
    const score = scoreHandler(() => ({
      leads: repo,
      clock,
      apply: (lead, events, now) => applyEvents(lead, events, defaultModel, now),
      nurture: { tracks: DEFAULT_NURTURE_PLAN.tracks, starter: new SfnNurtureStarter(client, machines) },
    }));
    const captureDeps = { leads: repo, clock, newLeadId: (at: Date) => ulid(at.getTime()) };
    const { captureForm } = await import('../../lambdas/domain/capture.js');
    const { FormSubmission } = await import('../../lambdas/domain/forms.js');
    const signups = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const submission = FormSubmission.parse({ email: uniqueEmail('sfn-faults'), consent: true });
        const { leadId } = await captureForm(captureDeps, { formId: 'newsletter', submission });
        const [event] = await repo.listEvents(leadId as string);
        return { leadId: leadId as string, eventId: event?.eventId as string };
      }),
    );

    // Each record as the event source mapping delivers it: retried on failure 5 times, then dead-lettered.
    let deadLettered = 0;
    for (const [i, { leadId, eventId }] of signups.entries()) {
      const record = {
        eventID: `sfn-${i}`,
        eventName: 'INSERT' as const,
        dynamodb: {
          Keys: { pk: { S: `LEAD#${leadId}` }, sk: { S: `EVENT#${eventId}` } },
          SequenceNumber: `${i}`,
        },
      };
      for (let attempt = 1; ; attempt++) {
        // A batch whose every record failed is thrown (FullBatchFailureError): a failure like a reported one.
        const failed = await score({ Records: [record] }, context('score-stream')).then(
          (out) => BatchResponse.parse(out).batchItemFailures.length > 0,
          () => true,
        );
        if (!failed) break;
        if (attempt >= 6) {
          deadLettered++;
          break;
        }
      }
    }
    faults.remove();

    const stats = faults.stats();
    expect(stats.injected.throttle + stats.injected.server).toBeGreaterThan(0);
    expect(stats.injected.lostResponse).toBeGreaterThan(0);
    // A start whose answer was lost was retried by the SDK and refused as a duplicate: never a second run.
    expect(sfn.conflicts.length).toBeGreaterThan(0);
    const audited = await audit(signups.map((s) => s.leadId));
    const applied = audited.reduce((n, a) => n + a.applied.length, 0);
    // Events in = applied: an event is applied before its run is started, so a record dead-lettered for a start
    // that kept failing still had its event applied (its lead waits for the sweep to enroll it again).
    expect(applied).toBe(signups.length);
    // A lead whose start failed was made due for review within 15 minutes (the sweep then starts or forgets its
    // enrollment): that write, and nothing else, sets it apart from its fault-free reference.
    const dueSoon = new Date(new Date(NOW).getTime() + 15 * 60_000).toISOString();
    for (const a of audited) {
      const reconciled = a.lead.reviewAt === dueSoon;
      const allowed = reconciled ? a.mismatches.filter((m) => /^(version \d+ for|reviewAt: )/.test(m)) : [];
      expect(a.mismatches).toEqual(allowed);
      if (!sfn.executions.has(a.lead.nurture?.executionName ?? '')) expect(a.lead.reviewAt).toBe(dueSoon);
    }
    // One run per enrolled lead, named as the lead records it; the leads whose start kept failing have none yet.
    const enrolled = audited.filter((a) => a.lead.nurture?.status === 'active');
    expect(enrolled).toHaveLength(signups.length);
    const running = enrolled.filter((a) => sfn.executions.has(a.lead.nurture?.executionName ?? ''));
    expect(running.length + deadLettered).toBe(enrolled.length);
    expect(sfn.executions.size).toBe(running.length);
  }, 60_000);
});
