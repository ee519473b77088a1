import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { ulid } from 'ulid';
import { beforeAll, describe, expect, it } from 'vitest';
import { keyedAddressHash } from '../../lambdas/adapters/address-hash.js';
import { bulkWriter } from '../../lambdas/adapters/bulk-writer.js';
import { DynamoSendingStore } from '../../lambdas/adapters/dynamo-sending-store.js';
import { keys } from '../../lambdas/adapters/table-definition.js';
import { captureForm, ingestEvents, type CaptureDeps } from '../../lambdas/domain/capture.js';
import { systemClock } from '../../lambdas/domain/clock.js';
import { continueErasure } from '../../lambdas/domain/erasure.js';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import { FormSubmission } from '../../lambdas/domain/forms.js';
import type { NurtureRun } from '../../lambdas/domain/nurture/enrollment.js';
import { createHandler, type AdminDeps } from '../../lambdas/handlers/leads-admin.js';
import { createHandler as eraseWorker } from '../../lambdas/handlers/erase-lead.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { apiEvent } from '../support/api-event.js';
import { sharedTableProperties } from '../support/deployment.js';
import { TEST_SUPPRESSION_KEY, testRepository, uniqueEmail } from '../support/dynamo.js';

/**
 * Erasure (issue 13): a tombstone first, every append conditional on the lead, the rest deleted in resumable passes
 * with the lead's item last, its nurture run stopped, a keyed hash of the address kept. On a table of its own, so that
 * "no item names the lead" is checked over the whole table.
 */

const tableName = `erasure-test-${Date.now()}`;
let repo: ReturnType<typeof testRepository>['repo'];
let doc: ReturnType<typeof testRepository>['doc'];
let deps: CaptureDeps;

beforeAll(async () => {
  const client = new DynamoDBClient({
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTable(client, tableName, sharedTableProperties());
  client.destroy();
  ({ repo, doc } = testRepository(tableName));
  deps = { leads: repo, clock: systemClock, newLeadId: (at) => ulid(at.getTime()) };
});

/** A fresh invocation's context (its deadline starts now). */
const context = () => lambdaContext({ functionName: 'leads-admin', region: 'us-east-1', timeoutMs: 10_000 });
const admin = (extra: Partial<AdminDeps> = {}) => createHandler(() => ({ leads: repo, clock: systemClock, ...extra }));
const call = async (handler: ReturnType<typeof admin>, method: 'GET' | 'DELETE', path: string, resource: string) =>
  (await handler(
    apiEvent({ method, path, resource, pathParameters: { leadId: path.split('/')[2] ?? '' } }),
    context(),
  )) as APIGatewayProxyResult;

const submission = (email: string) => FormSubmission.parse({ email, firstName: 'Ada', jobTitle: 'CTO' });

/** Every item of the table that names the lead id, its address, or the plain SHA-256 of its address. */
async function itemsNaming(leadId: string, email: string): Promise<Record<string, unknown>[]> {
  const plainHash = createHash('sha256').update(email).digest('hex');
  const found: Record<string, unknown>[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey, ConsistentRead: true }));
    for (const item of out.Items ?? []) {
      const text = JSON.stringify(item);
      if (text.includes(leadId) || text.includes(email) || text.includes(plainHash)) found.push(item);
    }
    ExclusiveStartKey = out.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return found;
}

/** Runs the erase worker's passes (as its stream records would) until the erasure is done. */
async function finishByWorker(leadId: string, stopped: NurtureRun[] = [], passMs = 1_000): Promise<number> {
  const nurture = { stop: async (run: NurtureRun) => (stopped.push(run), 'stopped' as const) };
  for (let pass = 1; pass <= 200; pass++) {
    const deadline = Date.now() + passMs;
    const progress = await continueErasure(
      { store: repo, nurture, reserveMs: 0 },
      leadId,
      () => deadline - Date.now(),
      {
        recordProgress: true,
      },
    );
    if (progress === 'done') return pass;
  }
  throw new Error('the erasure did not finish');
}

describe('erasing a lead', () => {
  it('under a concurrent stream of events leaves no item that names the lead or its address', async () => {
    const email = uniqueEmail('erase-race');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    if (!leadId) throw new Error('no lead');
    const store = new DynamoSendingStore(doc, tableName);
    let stop = false;
    let posted = 0;
    const statuses: number[] = [];
    // Four clients post events for the lead (by id and by address) while it is erased, and after.
    const poster = async (n: number) => {
      for (let i = 0; !stop; i++) {
        const result = await ingestEvents(deps, [
          { eventId: `race-${n}-${i}-a`, leadId, type: 'page_viewed', properties: { url: `/p/${i}` } },
          { eventId: `race-${n}-${i}-b`, email, type: 'content_download', properties: { asset: 'guide' } },
        ]);
        posted += result.accepted;
        await store.takeConfirmationSlot(leadId, new Date().toISOString(), 1_000);
      }
    };
    const posters = [0, 1, 2, 3].map(poster);
    while (posted < 40) await new Promise((r) => setTimeout(r, 5));

    const answer = await call(admin({ eraseBudgetMs: 50 }), 'DELETE', `/leads/${leadId}`, '/leads/{leadId}');
    statuses.push(answer.statusCode);
    await new Promise((r) => setTimeout(r, 300)); // events keep coming after the answer
    stop = true;
    await Promise.all(posters);
    await finishByWorker(leadId);

    expect(statuses.every((s) => s === 202 || s === 204)).toBe(true);
    expect(await itemsNaming(leadId, email)).toEqual([]);
    expect(await repo.isSuppressed(email)).toBe(true);
    // The address posted again is refused, and stores nothing.
    const again = await ingestEvents(deps, [{ email, type: 'page_viewed', properties: { url: '/again' } }]);
    expect(again.rejected).toEqual([{ index: 0, error: 'email: is suppressed' }]);
    expect(await itemsNaming(leadId, email)).toEqual([]);
  });

  it('refuses every append once the tombstone is written: events, confirmation counters', async () => {
    const email = uniqueEmail('erase-tombstone');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    if (!leadId) throw new Error('no lead');
    expect(await repo.requestErasure(leadId, new Date())).toMatchObject({ outcome: 'requested' });
    const now = new Date().toISOString();
    const event: LeadEvent = {
      eventId: 'after-tombstone',
      leadId,
      type: 'email_opened',
      occurredAt: now,
      receivedAt: now,
      source: 'ses',
      properties: {},
    };
    expect(await repo.appendEvent(event)).toBe('gone');
    expect(await new DynamoSendingStore(doc, tableName).takeConfirmationSlot(leadId, now, 3)).toBe(false);
    expect(await repo.getLead(leadId)).toBeUndefined();
    expect(await repo.findLeadIdByEmail(email)).toBeUndefined();
    // The tombstone holds no personal data.
    const { Item } = await doc.send(new GetCommand({ TableName: tableName, Key: keys.lead(leadId) }));
    expect(JSON.stringify(Item)).not.toContain(email);
    // A repeated DELETE while it runs answers 202 again.
    expect(await repo.requestErasure(leadId, new Date())).toMatchObject({ outcome: 'already' });
    await finishByWorker(leadId);
    expect(await itemsNaming(leadId, email)).toEqual([]);
  });

  it('erases a lead with thousands of events without a 5xx: 202 within the budget, the worker resumes in passes', async () => {
    const email = uniqueEmail('erase-big');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    if (!leadId) throw new Error('no lead');
    const lead = await repo.getLead(leadId);
    if (!lead) throw new Error('no lead');
    const writer = bulkWriter(doc, tableName);
    const at = new Date().toISOString();
    const events: LeadEvent[] = Array.from({ length: 3_000 }, (_, i) => ({
      eventId: `bulk-${String(i).padStart(5, '0')}`,
      leadId,
      type: 'page_viewed',
      occurredAt: at,
      receivedAt: at,
      source: 'api',
      properties: { url: `/docs/${i}` },
    }));
    // The lead item as stored (the bulk writer rewrites it with its identity): same lead, its events added.
    await writer.addLead(lead, events);
    await writer.flush();

    const handler = admin({ eraseBudgetMs: 300 });
    const answer = await call(handler, 'DELETE', `/leads/${leadId}`, '/leads/{leadId}');
    expect(answer.statusCode).toBe(202);
    // The call kept to its budget: it answered with the work left to the worker, not after doing it all.
    expect((await repo.partitionItems(leadId)).length).toBeGreaterThan(1_000);
    expect(answer.headers?.location).toBe(`/leads/${leadId}/erasure`);
    expect(JSON.parse(answer.body)).toMatchObject({ leadId, status: 'erasing' });
    const status = await call(handler, 'GET', `/leads/${leadId}/erasure`, '/leads/{leadId}/erasure');
    expect(status.statusCode).toBe(200);
    expect((await call(handler, 'GET', `/leads/${leadId}`, '/leads/{leadId}')).statusCode).toBe(404);

    const passes = await finishByWorker(leadId, [], 200);
    expect(passes).toBeGreaterThan(1);
    expect((await call(handler, 'GET', `/leads/${leadId}/erasure`, '/leads/{leadId}/erasure')).statusCode).toBe(404);
    expect(await repo.partitionItems(leadId)).toEqual([]);
    expect(await itemsNaming(leadId, email)).toEqual([]);
  }, 120_000);

  it("stops the lead's running nurture run before it finishes", async () => {
    const email = uniqueEmail('erase-run');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    const lead = leadId ? await repo.getLead(leadId) : undefined;
    if (!leadId || !lead) throw new Error('no lead');
    const run = { track: 'newsletter', executionName: `${leadId}-newsletter-1` };
    const enrolledAt = new Date().toISOString();
    await repo.saveLead({
      ...lead,
      nurture: { ...run, status: 'active', enrolledAt, touchesSent: 0 },
      version: lead.version + 1,
    });

    // The admin call cannot stop runs: it answers 202 and leaves the run to the worker.
    const answer = await call(admin(), 'DELETE', `/leads/${leadId}`, '/leads/{leadId}');
    expect(answer.statusCode).toBe(202);
    const stopped: NurtureRun[] = [];
    await finishByWorker(leadId, stopped);
    expect(stopped).toEqual([run]);
    expect(await itemsNaming(leadId, email)).toEqual([]);
  });

  it('answers 204 when everything was erased within the call, and keeps a keyed hash of the address', async () => {
    const email = uniqueEmail('erase-small');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    if (!leadId) throw new Error('no lead');
    const answer = await call(admin(), 'DELETE', `/leads/${leadId}`, '/leads/{leadId}');
    expect(answer.statusCode).toBe(204);
    expect(await itemsNaming(leadId, email)).toEqual([]);
    const get = (hash: string) =>
      doc.send(new GetCommand({ TableName: tableName, Key: keys.suppression(hash), ConsistentRead: true }));
    expect((await get(createHash('sha256').update(email).digest('hex'))).Item).toBeUndefined();
    expect((await get(keyedAddressHash(TEST_SUPPRESSION_KEY, email))).Item).toMatchObject({ reason: 'erased' });
    expect((await call(admin(), 'DELETE', `/leads/${leadId}`, '/leads/{leadId}')).statusCode).toBe(404);
  });
});

describe('an erasure that fails after its tombstone', () => {
  it('answers 202 (never a 5xx) and is finished by the worker', async () => {
    const email = uniqueEmail('erase-throttled');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    if (!leadId) throw new Error('no lead');
    const throttled = Object.assign(Object.create(repo) as typeof repo, {
      deletePartitionPage: () => Promise.reject(new Error('ProvisionedThroughputExceededException')),
    });
    const answer = await call(admin({ leads: throttled }), 'DELETE', `/leads/${leadId}`, '/leads/{leadId}');
    expect(answer.statusCode).toBe(202);
    await finishByWorker(leadId);
    expect(await itemsNaming(leadId, email)).toEqual([]);
  });
});

describe('the erase worker', () => {
  /** A stream record as the keys-only stream carries it. */
  const record = (eventName: 'INSERT' | 'MODIFY' | 'REMOVE', pk: string, sk: string) => ({
    eventID: ulid(),
    eventName,
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    dynamodb: { Keys: { pk: { S: pk }, sk: { S: sk } }, SequenceNumber: '1', StreamViewType: 'KEYS_ONLY' as const },
  });

  it('finishes an erasure from its keys-only stream record: stops the run, deletes everything, the lead last', async () => {
    const email = uniqueEmail('erase-worker');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    const lead = leadId ? await repo.getLead(leadId) : undefined;
    if (!leadId || !lead) throw new Error('no lead');
    const run = { track: 'newsletter', executionName: `${leadId}-newsletter-9` };
    await repo.saveLead({
      ...lead,
      nurture: { ...run, status: 'active', enrolledAt: new Date().toISOString(), touchesSent: 0 },
      version: lead.version + 1,
    });
    expect(await repo.requestErasure(leadId, new Date())).toMatchObject({ outcome: 'requested' });

    const stopped: NurtureRun[] = [];
    const handler = eraseWorker(() => ({
      store: repo,
      nurture: { stop: async (r: NurtureRun) => (stopped.push(r), 'stopped' as const) },
    }));
    const event = {
      Records: [
        record('INSERT', `LEAD#${leadId}`, 'ERASURE'),
        record('INSERT', `LEAD#${leadId}`, 'EVENT#x'), // not an erasure record: ignored
        record('REMOVE', `LEAD#${leadId}`, 'ERASURE'),
      ],
    };
    const out = await handler(
      event,
      lambdaContext({ functionName: 'erase-lead', region: 'us-east-1', timeoutMs: 60_000 }),
    );
    expect(out).toEqual({ batchItemFailures: [] });
    expect(stopped).toEqual([run]);
    expect(await repo.erasureStatus(leadId)).toBeUndefined();
    expect(await itemsNaming(leadId, email)).toEqual([]);
  });
});

describe('exporting a large lead', () => {
  it('answers in pages of at most 1,000 events that together hold every event once', async () => {
    const email = uniqueEmail('export-big');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    const lead = leadId ? await repo.getLead(leadId) : undefined;
    if (!leadId || !lead) throw new Error('no lead');
    const writer = bulkWriter(doc, tableName);
    const at = new Date().toISOString();
    await writer.addLead(
      lead,
      Array.from({ length: 2_500 }, (_, i) => ({
        eventId: `exp-${String(i).padStart(5, '0')}`,
        leadId,
        type: 'page_viewed' as const,
        occurredAt: at,
        receivedAt: at,
        source: 'api' as const,
        properties: { url: `/docs/${i}` },
      })),
    );
    await writer.flush();

    const handler = admin();
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = (await handler(
        apiEvent({
          method: 'GET',
          path: `/leads/${leadId}/export`,
          resource: '/leads/{leadId}/export',
          pathParameters: { leadId },
          ...(cursor ? { query: { cursor } } : {}),
        }),
        context(),
      )) as APIGatewayProxyResult;
      expect(res.statusCode).toBe(200);
      const page = JSON.parse(res.body) as {
        lead: { email: string };
        events: { eventId: string }[];
        nextCursor: string | null;
      };
      expect(page.lead.email).toBe(email);
      expect(page.events.length).toBeLessThanOrEqual(1_000);
      seen.push(...page.events.map((e) => e.eventId));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen.filter((id) => id.startsWith('exp-'))).toHaveLength(2_500);
    expect(new Set(seen).size).toBe(seen.length);

    const bad = (await handler(
      apiEvent({
        method: 'GET',
        path: `/leads/${leadId}/export`,
        resource: '/leads/{leadId}/export',
        pathParameters: { leadId },
        query: { cursor: '%%%' },
      }),
      context(),
    )) as APIGatewayProxyResult;
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ fields: { cursor: 'is not an export cursor' } });
  });
});
