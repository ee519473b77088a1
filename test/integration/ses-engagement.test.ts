import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ulid } from 'ulid';
import { afterEach, describe, expect, it, vi } from 'vitest';

// Before the handler module creates its logger and metrics: no EMF blobs on stdout, no info lines.
vi.hoisted(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
});
import { metrics } from '../../lambdas/adapters/aws.js';
import { scoringModel } from '../../lambdas/adapters/scoring-model.js';
import { captureForm } from '../../lambdas/domain/capture.js';
import { fixedClock } from '../../lambdas/domain/clock.js';
import { FormSubmission } from '../../lambdas/domain/forms.js';
import type { Lead } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { touchEligibility } from '../../lambdas/domain/nurture/eligibility.js';
import { scorePendingEvents } from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents } from '../../lambdas/domain/scoring/index.js';
import { handler } from '../../lambdas/handlers/ses-engagement.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { testCaptureDeps, uniqueEmail } from '../support/dynamo.js';
import { FIXTURES, fixtureBody, fixtureEvent, objectAt, type FixtureName, type Json } from '../unit/ses/fixtures.js';

/**
 * The `ses-engagement` handler against DynamoDB Local: SQS batches of SES EventBridge events in, lead events out,
 * then the scoring pipeline run as the table stream would run it, so that the whole path from an SES record to a
 * suppressed or disqualified lead is exercised.
 */

/** The addresses and lead ids of the fixtures, replaced per test so tests sharing the table never meet. */
const FIXTURE_ADDRESSES = /ada@example\.com|grace@example\.org|linus@example\.net/gi;
const FIXTURE_LEADS = /01JNF3K7Q8ZB2V6W9X4Y5T1R0M|01JNF3M1A2B3C4D5E6F7G8H9J0|01JNF3M9Z8Y7X6W5V4T3S2R1Q0/g;
/** After every fixture's time: the scoring clock. */
const SCORED_AT = '2025-03-07T00:00:00.000Z';

const { repo } = testCaptureDeps();
const scoring = {
  leads: repo,
  clock: fixedClock(SCORED_AT),
  apply: (lead: Lead, events: Parameters<typeof applyEvents>[1], now: Date) =>
    applyEvents(lead, events, scoringModel, now),
};

/** A lead who subscribed with marketing consent before any of the fixtures' mail was sent. */
async function newLead(tag: string): Promise<{ leadId: string; email: string }> {
  const { deps } = testCaptureDeps('2025-03-01T10:00:00.000Z');
  const email = uniqueEmail(tag);
  const { leadId } = await captureForm(deps, {
    formId: 'newsletter',
    submission: FormSubmission.parse({ email, firstName: 'Ada', consent: 'yes' }),
  });
  if (!leadId) throw new Error('lead not created');
  await scoreAll(leadId);
  return { leadId, email };
}

/** A fixture's SQS body addressed to `to` and tagged with `leadId`, optionally edited. */
function body(
  name: FixtureName,
  to: { email: string; leadId: string },
  edit?: (detail: { [key: string]: Json }) => void,
): string {
  const text = fixtureBody(name).replace(FIXTURE_ADDRESSES, to.email).replace(FIXTURE_LEADS, to.leadId);
  if (!edit) return text;
  const event = JSON.parse(text) as { detail: { [key: string]: Json } };
  edit(event.detail);
  return JSON.stringify(event);
}

/** An SQS event as Lambda's event source mapping delivers it. */
function sqsEvent(bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((b) => ({
      messageId: randomUUID(),
      receiptHandle: 'rh',
      body: b,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '1741078800000',
        SenderId: 'events',
        ApproximateFirstReceiveTimestamp: '1741078800000',
      },
      messageAttributes: {},
      md5OfBody: 'md5',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:leadloop-ses-engagement',
      awsRegion: 'us-east-1',
    })),
  };
}

async function invoke(event: SQSEvent): Promise<SQSBatchResponse> {
  const context = lambdaContext({ functionName: 'leadloop-ses-engagement', region: 'us-east-1', timeoutMs: 10_000 });
  return handler(event, context);
}

/** What the table stream does after the handler: score the lead's not-yet-applied events. */
async function scoreAll(leadId: string) {
  const events = await repo.listEvents(leadId);
  return scorePendingEvents(
    scoring,
    leadId,
    events.map((e) => e.eventId),
  );
}

/** The lead after its new SES events are scored. */
async function handleAndScore(leadId: string, bodies: string[]): Promise<Lead> {
  expect(await invoke(sqsEvent(bodies))).toEqual({ batchItemFailures: [] });
  await scoreAll(leadId);
  const lead = await repo.getLead(leadId);
  if (!lead) throw new Error('lead gone');
  return lead;
}

/** Whether nurture would mail the lead now (the check made at send time). */
async function sendDecision(lead: Lead) {
  return touchEligibility({
    lead,
    events: await repo.listEvents(lead.leadId),
    policy: DEFAULT_NURTURE_PLAN.policy,
    now: new Date(SCORED_AT),
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('ses-engagement handler: exactly once', () => {
  it('replaying every fixture three times changes nothing after the first: events, score, stage, history', async () => {
    const to = await newLead('replay');
    const batch = FIXTURES.map((name) => body(name, to));
    const snapshot = async () => ({
      events: (await repo.listEvents(to.leadId))
        .map((e) => ({ ...e, receivedAt: '' }))
        .sort((a, b) => a.eventId.localeCompare(b.eventId)),
      lead: await repo.getLead(to.leadId),
      history: await repo.stageHistory(to.leadId),
    });
    const added = vi.spyOn(metrics, 'addMetric');

    const first = await handleAndScore(to.leadId, batch);
    const afterFirst = await snapshot();
    const recordedFirst = added.mock.calls.filter(([n]) => n === 'SesEventsRecorded').reduce((s, [, , v]) => s + v, 0);
    added.mockClear();
    await handleAndScore(to.leadId, batch);
    await handleAndScore(to.leadId, batch);

    expect(afterFirst.events.filter((e) => e.source === 'ses')).toHaveLength(FIXTURES.length);
    expect(first.scores?.contributions.length).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(afterFirst);
    expect(recordedFirst).toBe(FIXTURES.length);
    const sum = (name: string) => added.mock.calls.filter(([n]) => n === name).reduce((s, [, , v]) => s + v, 0);
    expect(sum('SesEventsRecorded')).toBe(0);
    expect(sum('SesEventsDuplicate')).toBe(2 * FIXTURES.length);
  });

  it('reports only the malformed records of a batch as failed, records the rest, and logs why without addresses', async () => {
    const to = await newLead('malformed');
    const event = sqsEvent([body('open', to), body('malformed', to), 'not json at all', body('delivery', to)]);
    const written: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    };
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);

    const response = await invoke(event);
    out.mockRestore();
    err.mockRestore();

    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: event.Records[1]?.messageId },
      { itemIdentifier: event.Records[2]?.messageId },
    ]);
    const types = (await repo.listEvents(to.leadId)).filter((e) => e.source === 'ses').map((e) => e.type);
    expect(types.sort()).toEqual(['email_delivered', 'email_opened']);
    const logged = written.join('');
    expect(logged).toMatch(/malformed SES record/);
    expect(logged).toContain('"field":"detail.mail.messageId"');
    expect(logged).toContain('"field":"body"');
    expect(logged).toContain(event.Records[1]?.messageId);
    expect(logged).not.toContain(to.email);
  });

  it('counts bounces, complaints, opens, clicks and machine activity once each', async () => {
    const to = await newLead('metrics');
    const added = vi.spyOn(metrics, 'addMetric');
    const names: FixtureName[] = ['open', 'click-human', 'click-machine', 'bounce-transient', 'complaint'];

    await invoke(sqsEvent(names.map((n) => body(n, to))));
    const counts = Object.fromEntries(
      [
        'EmailOpens',
        'EmailClicks',
        'EmailMachineEngagement',
        'EmailBounces',
        'EmailHardBounces',
        'EmailComplaints',
      ].map((m) => [m, added.mock.calls.filter(([n]) => n === m).reduce((s, [, , v]) => s + v, 0)]),
    );

    expect(counts).toEqual({
      EmailOpens: 1,
      EmailClicks: 2,
      EmailMachineEngagement: 1,
      EmailBounces: 1,
      EmailHardBounces: 0,
      EmailComplaints: 1,
    });
  });
});

describe('ses-engagement handler: protecting the sender', () => {
  it('a permanent bounce suppresses the address, disqualifies the lead as invalid_contact, and stops its mail', async () => {
    const to = await newLead('hard-bounce');

    const lead = await handleAndScore(to.leadId, [
      body('send', to),
      body('delivery', to),
      body('bounce-permanent', to),
    ]);

    expect(lead.suppression).toMatchObject({ hardBounced: true });
    expect(lead).toMatchObject({ stage: 'disqualified', disqualification: 'invalid_contact' });
    expect((await repo.stageHistory(to.leadId)).at(-1)).toMatchObject({
      to: 'disqualified',
      rule: 'event:email_bounced',
    });
    expect(await sendDecision(lead)).toEqual({ kind: 'skip', reason: 'hard_bounced' });
  });

  it('a complaint suppresses the address, disqualifies the lead as complained, and stops its mail', async () => {
    const to = await newLead('complaint');

    const lead = await handleAndScore(to.leadId, [body('send', to), body('complaint', to)]);

    expect(lead.suppression).toMatchObject({ complained: true });
    expect(lead).toMatchObject({ stage: 'disqualified', disqualification: 'complained' });
    expect(await sendDecision(lead)).toEqual({ kind: 'skip', reason: 'complained' });
  });

  it('an unsubscribe through SES subscription management suppresses marketing mail', async () => {
    const to = await newLead('unsubscribe');

    const lead = await handleAndScore(to.leadId, [body('subscription-unsubscribe', to)]);

    expect(lead.suppression).toMatchObject({ unsubscribed: true });
    expect(lead).toMatchObject({ stage: 'disqualified', disqualification: 'unsubscribed' });
    expect(await sendDecision(lead)).toEqual({ kind: 'skip', reason: 'unsubscribed' });
  });

  it('transient bounces count but disqualify only at the configured number in a row; a delivery resets the count', async () => {
    const to = await newLead('soft-bounce');
    const max = scoringModel.lifecycle.maxTransientBounces;
    const bounce = (n: number) =>
      body('bounce-transient', to, (d) => {
        objectAt(d, 'mail').messageId = `soft-${n}`;
        objectAt(d, 'bounce').timestamp = new Date(Date.parse('2025-03-05T00:00:00Z') + n * 3_600_000).toISOString();
      });
    const deliveryAfter = (n: number) =>
      body('delivery', to, (d) => {
        objectAt(d, 'mail').messageId = `delivered-${n}`;
        objectAt(d, 'delivery').timestamp = new Date(
          Date.parse('2025-03-05T00:00:00Z') + n * 3_600_000 + 60_000,
        ).toISOString();
      });

    const almost = await handleAndScore(
      to.leadId,
      Array.from({ length: max - 1 }, (_, i) => bounce(i)),
    );
    expect(almost.suppression.transientBounces).toBe(max - 1);
    expect(almost.stage).not.toBe('disqualified');
    expect(await sendDecision(almost)).not.toMatchObject({ kind: 'skip' });

    const reset = await handleAndScore(to.leadId, [deliveryAfter(max - 1), bounce(max)]);
    expect(reset.suppression.transientBounces).toBe(1);
    expect(reset.stage).not.toBe('disqualified');

    const exhausted = await handleAndScore(
      to.leadId,
      Array.from({ length: max - 1 }, (_, i) => bounce(max + 1 + i)),
    );
    expect(exhausted.suppression.transientBounces).toBe(max);
    expect(exhausted).toMatchObject({ stage: 'disqualified', disqualification: 'invalid_contact' });
    expect((await repo.stageHistory(to.leadId)).at(-1)).toMatchObject({ rule: 'lifecycle:transient_bounces' });
  });
});

describe('ses-engagement handler: attribution', () => {
  it('writes nothing for an unknown recipient, even when the leadId tag names an existing lead', async () => {
    const known = await newLead('tagged');
    const stranger = { email: uniqueEmail('stranger'), leadId: known.leadId };
    const ghost = { email: uniqueEmail('ghost'), leadId: ulid() };
    const before = await repo.partitionItems(known.leadId);

    await handleAndScore(known.leadId, [
      body('bounce-permanent', stranger),
      body('complaint', ghost),
      body('open', ghost),
    ]);

    expect(await repo.partitionItems(known.leadId)).toEqual(before);
    expect(await repo.partitionItems(ghost.leadId)).toEqual([]);
    expect(await repo.findLeadIdByEmail(stranger.email)).toBeUndefined();
    expect(await repo.findLeadIdByEmail(ghost.email)).toBeUndefined();
  });

  it('attributes by address when the leadId tag names another lead', async () => {
    const ada = await newLead('ada');
    const bob = await newLead('bob');

    await invoke(sqsEvent([body('open', { email: ada.email, leadId: bob.leadId })]));

    expect((await repo.listEvents(ada.leadId)).map((e) => e.type)).toContain('email_opened');
    expect((await repo.listEvents(bob.leadId)).map((e) => e.type)).not.toContain('email_opened');
  });
});

describe('ses-engagement handler: machine activity from the event log', () => {
  it('times clicks from the recorded delivery and catches a burst of links against the clicks already recorded', async () => {
    const to = await newLead('machine');
    const human =
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36';
    const click = (at: string, link: string) =>
      body('click-human', to, (d) => {
        Object.assign(objectAt(d, 'click'), { timestamp: at, link, userAgent: human });
      });
    const delivery = body('delivery', to, (d) => {
      objectAt(d, 'delivery').timestamp = '2025-03-04T09:00:30.000Z'; // 30 s after the send
    });

    const lead = await handleAndScore(to.leadId, [
      delivery,
      click('2025-03-04T09:00:35.000Z', 'https://www.example.com/scanned'), // 5 s after delivery, 35 s after send
      click('2025-03-04T10:00:00.000Z', 'https://www.example.com/a'),
      click('2025-03-04T10:00:01.000Z', 'https://www.example.com/b'),
      click('2025-03-04T10:00:02.000Z', 'https://www.example.com/c'),
    ]);

    const clicks = (await repo.listEvents(to.leadId))
      .filter((e) => e.type === 'email_clicked')
      .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt))
      .map((e) => [e.properties.link, e.properties.machineReason ?? null, e.properties.machineDetail ?? null]);
    expect(clicks).toEqual([
      ['https://www.example.com/scanned', 'fast_click', '5.0 s after delivery'],
      ['https://www.example.com/a', null, null],
      ['https://www.example.com/b', null, null],
      ['https://www.example.com/c', 'link_burst', '3 links within 5 s'],
    ]);
    const machineContributions = lead.scores?.contributions.filter((c) => c.label.endsWith('(machine)')) ?? [];
    expect(machineContributions.every((c) => c.points === scoringModel.engagement.machinePoints)).toBe(true);
  });
});

describe('fixtures', () => {
  it('every fixture but the malformed one is an SES event from aws.ses', () => {
    expect(FIXTURES.map((n) => fixtureEvent(n).source)).toEqual(FIXTURES.map(() => 'aws.ses'));
  });
});
