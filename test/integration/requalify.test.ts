import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { reviewShardOf, TABLE } from '../../lambdas/adapters/table-definition.js';
import { DAY_MS, fixedClock } from '../../lambdas/domain/clock.js';
import type { EventProperties, EventType, LeadEvent } from '../../lambdas/domain/events.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { markUnresponsive } from '../../lambdas/domain/lifecycle.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { enrollmentDecision, withEnrollment, type NurtureRun } from '../../lambdas/domain/nurture/enrollment.js';
import type { NurtureStart, NurtureStarter } from '../../lambdas/domain/nurture/ports.js';
import { requalify } from '../../lambdas/domain/requalification.js';
import { scorePendingEvents } from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import {
  addCounts,
  emptyCounts,
  ShardSweepInput,
  sweepShard,
  type ShardSweepResult,
  type SweepCounts,
  type SweepDeps,
} from '../../lambdas/domain/sweep.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { sharedTableProperties } from '../support/deployment.js';

/** Day 0 of every scenario; the sweep runs as of day 200. */
const T0 = Date.parse('2025-01-06T09:00:00.000Z');
const day = (n: number): Date => new Date(T0 + n * DAY_MS);
const ASOF = day(200);
const tracks = DEFAULT_NURTURE_PLAN.tracks;
const IDEAL = { jobTitle: 'VP Operations', companySize: '201-1000', industry: 'Construction' };

class RecordingNurture implements NurtureStarter {
  readonly started: NurtureStart[] = [];
  readonly stopped: NurtureRun[] = [];
  async start(input: NurtureStart): Promise<'started'> {
    this.started.push(input);
    return 'started';
  }
  async stop(run: NurtureRun): Promise<'stopped'> {
    this.stopped.push(run);
    return 'stopped';
  }
}

let client: DynamoDBClient;
let repo: DynamoLeadRepository;

beforeAll(async () => {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint) throw new Error('DynamoDB Local is not running: run through vitest (globalSetup)');
  client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  // A table of its own: the sweep reads whole shards, so no other test's leads may be in them.
  const table = `requalify-${ulid().toLowerCase()}`;
  await ensureTable(client, table, sharedTableProperties());
  repo = new DynamoLeadRepository(
    DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    table,
  );
});

afterAll(() => client.destroy());

/** A lead captured on `startDay` (mailable) and scored event by event through the scoring pipeline, as in production. */
async function scoredLead(
  email: string,
  events: { day: number; type: EventType; properties?: EventProperties }[],
  opts: { leadId?: string } = {},
): Promise<string> {
  const first = events[0]?.day ?? 0;
  const leadId = opts.leadId ?? ulid(day(first).getTime());
  const created = newLead(leadId, email, day(first));
  await repo.createLead({ ...created, consent: { marketing: true, at: created.createdAt, source: 'form' } });
  const clock = fixedClock(day(first));
  const deps = {
    leads: repo,
    clock,
    apply: (l: Lead, e: LeadEvent[], now: Date) => applyEvents(l, e, defaultModel, now),
  };
  for (const e of events) {
    const at = day(e.day).toISOString();
    const event: LeadEvent = {
      eventId: ulid(),
      leadId,
      type: e.type,
      occurredAt: at,
      receivedAt: at,
      source: 'api',
      properties: e.properties ?? {},
    };
    await repo.appendEvent(event);
    clock.set(day(e.day));
    await scorePendingEvents(deps, leadId, [event.eventId]);
  }
  return leadId;
}

/**
 * Enrolls the lead in the track its stage belongs in, as the scoring pipeline does after a commit, and records the
 * run's first touch, as a run that started does (an enrollment with no touch for long is one whose start the sweep
 * checks).
 */
async function enrolled(leadId: string, onDay: number): Promise<void> {
  const lead = await stored(leadId);
  const decision = enrollmentDecision(undefined, lead, tracks);
  if (!decision.start) throw new Error(`no track for ${lead.stage}`);
  const running = withEnrollment(lead, decision, day(onDay));
  const nurture = running.nurture && { ...running.nurture, touchesSent: 1, lastTouchAt: day(onDay).toISOString() };
  await repo.saveLead({ ...running, ...(nurture && { nurture }), version: lead.version + 1 });
}

/** Marks the lead unresponsive, as a nurture run that ran out of touches does. */
async function unresponsive(leadId: string, onDay: number): Promise<void> {
  const lead = await stored(leadId);
  const { lead: marked, transitions } = markUnresponsive(lead, defaultModel, day(onDay));
  await repo.commitScoring({ ...marked, version: lead.version + 1 }, [], transitions);
}

async function stored(leadId: string): Promise<Lead> {
  const lead = await repo.getLead(leadId);
  if (!lead) throw new Error(`no lead ${leadId}`);
  return lead;
}

const email = (tag: string) => `${tag}.${ulid().toLowerCase()}@acme-builders.com`;

function sweepDeps(nurture: NurtureStarter, limits?: SweepDeps['limits']): SweepDeps {
  return {
    leads: repo,
    requalify: (lead, now) => requalify(lead, defaultModel, now),
    nurture,
    tracks,
    clock: fixedClock(ASOF),
    sleep: async () => undefined,
    ...(limits && { limits }),
  };
}

/** Runs every shard to the end as the state machine does (re-invoking while not done); returns the summed counts. */
async function sweepAll(
  deps: SweepDeps,
  remainingMs: () => () => number = () => () => 300_000,
): Promise<{
  counts: SweepCounts;
  results: ShardSweepResult[];
}> {
  let counts = emptyCounts();
  const results: ShardSweepResult[] = [];
  for (let shard = 0; shard < TABLE.reviewShards; shard++) {
    let input = ShardSweepInput.parse({ shard, asOf: ASOF.toISOString() });
    for (;;) {
      const result = await sweepShard(deps, input, remainingMs());
      results.push(result);
      if (result.done) break;
      input = ShardSweepInput.parse(result);
    }
    counts = addCounts(counts, results.at(-1)?.counts ?? emptyCounts());
  }
  return { counts, results };
}

describe('the requalification sweep on DynamoDB Local', () => {
  it('moves every due lead where the rules say, sets its next reviewAt, reads only due leads, and leaves the rest', async () => {
    // Arrange: leads in every state and age, built through the scoring pipeline.
    const ids = {
      active: await scoredLead(email('active'), [
        { day: 0, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 190, type: 'page_viewed' },
      ]),
      silent: await scoredLead(email('silent'), [
        { day: 100, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
      ]),
      silentSubscriber: await scoredLead(email('subscriber'), [{ day: 100, type: 'newsletter_signup' }]),
      decayedMql: await scoredLead(email('mql'), [
        { day: 180, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 180, type: 'webinar_registered' },
        { day: 180, type: 'content_download' },
        { day: 180, type: 'content_download' },
      ]),
      unresponsive: await scoredLead(email('unresponsive'), [
        { day: 0, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 100, type: 'page_viewed' },
      ]),
      salesRejected: await scoredLead(email('rejected'), [
        { day: 100, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 100, type: 'demo_requested', properties: { budget: 'yes', timeline: 'ASAP' } },
        { day: 101, type: 'sales_rejected', properties: { disqualify: true } },
      ]),
      notAFit: await scoredLead(`kim.${ulid().toLowerCase()}@gmail.com`, [
        { day: 60, type: 'form_submitted', properties: { jobTitle: 'Intern', companySize: '5' } },
      ]),
      unsubscribed: await scoredLead(email('unsub'), [
        { day: 0, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 1, type: 'email_unsubscribed' },
      ]),
      complained: await scoredLead(email('complained'), [
        { day: 0, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 1, type: 'email_complained' },
      ]),
      bounced: await scoredLead(email('bounced'), [
        { day: 0, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 1, type: 'email_bounced', properties: { bounceType: 'permanent' } },
      ]),
      competitor: await scoredLead(`ana.${ulid().toLowerCase()}@marketo.com`, [{ day: 0, type: 'page_viewed' }]),
      opportunity: await scoredLead(email('opportunity'), [
        { day: 100, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 100, type: 'demo_requested', properties: { budget: 'yes', timeline: 'ASAP' } },
        { day: 101, type: 'opportunity_created' },
      ]),
      customer: await scoredLead(email('customer'), [
        { day: 100, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } },
        { day: 101, type: 'purchase' },
      ]),
    };
    await enrolled(ids.silent, 100);
    await enrolled(ids.decayedMql, 180);
    await unresponsive(ids.unresponsive, 105);
    const before = Object.fromEntries(
      await Promise.all(Object.entries(ids).map(async ([name, id]) => [name, await stored(id)] as const)),
    ) as Record<keyof typeof ids, Lead>;
    const due = Object.entries(before).filter(
      ([, l]) => l.reviewAt !== undefined && Date.parse(l.reviewAt) <= ASOF.getTime(),
    );
    expect(due.map(([name]) => name).sort()).toEqual(
      ['silent', 'silentSubscriber', 'decayedMql', 'unresponsive', 'salesRejected', 'notAFit'].sort(),
    );

    // Act
    const nurture = new RecordingNurture();
    const { counts } = await sweepAll(sweepDeps(nurture));

    // Assert: where each lead landed, its next review, its history.
    const after = async (name: keyof typeof ids) => stored(ids[name]);
    const history = async (name: keyof typeof ids) =>
      (await repo.stageHistory(ids[name])).map((t) => `${t.from}->${t.to}:${t.rule}`);
    const expectedReview = (name: keyof typeof ids) => requalify(before[name], defaultModel, ASOF).lead.reviewAt;

    expect(await after('silent')).toMatchObject({
      stage: 'dormant',
      stageReason: 'silent',
      version: before.silent.version + 1,
    });
    expect((await after('silent')).reviewAt).toBeUndefined();
    expect((await after('silent')).nurture?.status).toBe('stopped');
    expect(await history('silent')).toContain('lead->dormant:lifecycle:dormant');
    expect((await after('silentSubscriber')).stage).toBe('dormant');

    const recycled = await after('decayedMql');
    expect(recycled).toMatchObject({ stage: 'lead', stageReason: 'score_decayed' });
    expect(recycled.reviewAt).toBe(expectedReview('decayedMql'));
    expect(Date.parse(recycled.reviewAt ?? '')).toBeGreaterThan(ASOF.getTime());
    expect(await history('decayedMql')).toContain('mql->lead:decay:mql');
    expect(recycled.scores?.engagement).toBeLessThan(before.decayedMql.scores?.engagement ?? 0);

    for (const name of ['unresponsive', 'salesRejected'] as const) {
      const requalified = await after(name);
      expect(requalified).toMatchObject({ stage: 'lead', stageReason: 'requalified' });
      expect(requalified.disqualification).toBeUndefined();
      expect(requalified.reviewAt).toBe(expectedReview(name));
      expect(await history(name)).toContain('disqualified->lead:lifecycle:cool_off');
    }

    const poorFit = await after('notAFit');
    expect(poorFit).toMatchObject({
      stage: 'disqualified',
      disqualification: 'not_a_fit',
      version: before.notAFit.version + 1,
    });
    expect(poorFit.reviewAt).toBe(day(240).toISOString());

    for (const name of [
      'active',
      'unsubscribed',
      'complained',
      'bounced',
      'competitor',
      'opportunity',
      'customer',
    ] as const) {
      expect(await after(name), name).toEqual(before[name]);
    }

    // Nurture: the silent lead's run stopped; requalified leads enrolled in their new stage's track; the recycled MQL
    // keeps its running track, which re-evaluates it after its wait (the rules enroll only leads with no track running).
    expect(nurture.stopped).toEqual([
      { track: before.silent.nurture?.track, executionName: before.silent.nurture?.executionName },
    ]);
    expect(recycled.nurture).toEqual(before.decayedMql.nurture);
    expect(nurture.started.map((s) => s.leadId).sort()).toEqual([ids.unresponsive, ids.salesRejected].sort());
    for (const { leadId, track, executionName } of nurture.started) {
      expect((await stored(leadId)).nurture).toMatchObject({ status: 'active', track, executionName });
    }

    // Counts: per transition, and the cost: exactly one item read per due lead.
    expect(counts).toMatchObject({ reviewed: 6, changed: 5, skipped: 0, itemsRead: 6, actionFailures: 0 });
    expect(counts.transitions).toMatchObject({
      'lead->dormant': 1,
      'subscriber->dormant': 1,
      'mql->lead': 1,
      'disqualified->lead': 2,
    });
    expect(counts.actions).toEqual({ stop_nurture: 1, enroll: 2 });

    // A second run as of the same instant finds nothing due.
    const again = await sweepAll(sweepDeps(new RecordingNurture()));
    expect(again.counts).toMatchObject({ reviewed: 0, itemsRead: 0 });
  });

  it('resumes an interrupted shard from its cursor without skipping or repeating a lead', async () => {
    // Arrange: 12 silent leads in one shard, due at different instants, and one not due yet.
    const shard = 5;
    const leadIds: string[] = [];
    while (leadIds.length < 12) {
      const id = ulid(day(50 + leadIds.length).getTime());
      if (reviewShardOf(id) === shard) leadIds.push(id);
    }
    for (const [i, id] of leadIds.entries()) {
      await scoredLead(
        email(`silent${i}`),
        [{ day: 50 + i, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } }],
        {
          leadId: id,
        },
      );
    }
    const before = await Promise.all(leadIds.map(stored));

    // Act: every invocation has 1 ms left after its first lead, so each stops after one lead and hands over its cursor.
    const deps = sweepDeps(new RecordingNurture(), { pageSize: 5, reserveMs: 0 });
    const results: ShardSweepResult[] = [];
    let input = ShardSweepInput.parse({ shard, asOf: ASOF.toISOString() });
    for (;;) {
      const deadline = Date.now() + 1;
      const result = await sweepShard(deps, input, () => deadline - Date.now());
      results.push(result);
      if (result.done) break;
      input = ShardSweepInput.parse(result);
    }

    // Assert: one write and one transition per lead, in review order, and a cursor that only moved forward.
    const final = results.at(-1)?.counts;
    expect(final).toMatchObject({ reviewed: 12, transitions: { 'lead->dormant': 12 }, invocations: results.length });
    expect(results.length).toBeGreaterThanOrEqual(12);
    const cursors = results.flatMap((r) => (r.cursor ? [r.cursor] : []));
    expect([...cursors].sort()).toEqual(cursors);
    expect(new Set(cursors).size).toBe(cursors.length);
    for (const [i, id] of leadIds.entries()) {
      const lead = await stored(id);
      expect(lead.version, id).toBe((before[i]?.version ?? 0) + 1);
      expect(lead.stage).toBe('dormant');
      expect((await repo.stageHistory(id)).filter((t) => t.to === 'dormant')).toHaveLength(1);
    }
  });

  it('reads a due page straight from the review index, oldest first, resuming after a position', async () => {
    const shard = 9;
    const ids: string[] = [];
    while (ids.length < 3) {
      const id = ulid(day(120 + ids.length).getTime());
      if (reviewShardOf(id) === shard) ids.push(id);
    }
    for (const [i, id] of ids.entries()) {
      await scoredLead(
        email(`page${i}`),
        [{ day: 20 + i, type: 'form_submitted', properties: { formId: 'ebook', ...IDEAL } }],
        {
          leadId: id,
        },
      );
    }
    const asOf = day(112);
    const first = await repo.dueLeads(shard, asOf, 2);
    expect(first.leads.map((d) => d.lead.leadId)).toEqual(ids.slice(0, 2));
    expect(first).toMatchObject({ itemsRead: 2, more: true });
    expect(first.leads[0]?.lead).toEqual(await stored(ids[0] ?? ''));
    const rest = await repo.dueLeads(shard, asOf, 2, first.leads[1]?.position);
    expect(rest.leads.map((d) => d.lead.leadId)).toEqual([ids[2]]);
    expect(rest.more).toBe(false);
    expect((await repo.dueLeads(shard, day(110), 10)).leads.map((d) => d.lead.leadId)).toEqual([ids[0]]);
  });
});
