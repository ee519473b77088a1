import { describe, expect, it } from 'vitest';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { captureForm, ingestEvents } from '../../lambdas/domain/capture.js';
import { FormSubmission } from '../../lambdas/domain/forms.js';
import { scorePendingEvents, type ScoringDeps } from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { insertedEvent } from '../../lambdas/handlers/stream-records.js';
import { testCaptureDeps, uniqueEmail } from '../support/dynamo.js';

function scoringDeps(base: ReturnType<typeof testCaptureDeps>): ScoringDeps {
  return {
    leads: base.repo,
    clock: base.clock,
    apply: (lead, events, now) => applyEvents(lead, events, defaultModel, now),
    maxAttempts: 50,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms / 4)),
  };
}

describe('scoring pipeline on DynamoDB Local', () => {
  it('applies an event once however often it is delivered', async () => {
    const base = testCaptureDeps();
    const email = uniqueEmail('cfo');
    const submission = FormSubmission.parse({
      email,
      jobTitle: 'CFO',
      company: 'Acme Health',
      companySize: '500',
      industry: 'Healthcare',
      budget: '$50k approved',
      timeline: 'this quarter',
      consent: true,
    });
    const { leadId } = await captureForm(base.deps, { formId: 'demo-request', submission });
    const [event] = await base.repo.listEvents(leadId as string);
    const deps = scoringDeps(base);

    const first = await scorePendingEvents(deps, leadId as string, [event?.eventId as string]);
    const again = await scorePendingEvents(deps, leadId as string, [event?.eventId as string]);

    expect(first.applied).toHaveLength(1);
    expect(again.applied).toHaveLength(0);
    const lead = await base.repo.getLead(leadId as string);
    expect(lead?.version).toBe(1);
    expect(lead?.profile.jobTitle).toBe('CFO');
    expect(lead?.scores?.contributions.some((c) => c.ruleId === 'demo-requested')).toBe(true);
    const history = await base.repo.stageHistory(leadId as string);
    expect(history.map((t) => t.to)).toEqual(first.transitions.map((t) => t.to));
    expect(lead?.stage).toBe(first.after?.stage);
  });

  it('loses no points when many events for one lead are scored concurrently', async () => {
    const base = testCaptureDeps();
    const email = uniqueEmail('busy');
    const events = Array.from({ length: 8 }, (_, i) => ({
      eventId: `webinar-${i}`,
      email,
      type: 'webinar_attended', // uncapped: the total does not depend on the order events are applied in
      occurredAt: new Date(Date.parse('2026-03-02T09:00:00Z') + i * 60_000).toISOString(),
      properties: { webinar: `w-${i}` },
    }));
    const ingested = await ingestEvents(base.deps, events);
    expect(ingested.accepted).toBe(8);
    const leadId = (await base.repo.findLeadIdByEmail(email)) as string;
    const deps = scoringDeps(base);

    // eight concurrent consumers, one event each: every one must land exactly once
    await Promise.all(events.map((e) => scorePendingEvents(deps, leadId, [e.eventId])));
    const concurrent = await base.repo.getLead(leadId);

    // the same events applied in one go, on an in-memory copy, give the reference score
    const fresh = { ...(concurrent as NonNullable<typeof concurrent>), scores: undefined, version: 0 };
    const stored = await base.repo.listEvents(leadId);
    const reference = applyEvents(
      { ...fresh, stage: 'subscriber', stageReason: 'created', profile: {}, attribution: {} },
      stored,
      defaultModel,
      base.clock.now(),
    );

    expect(concurrent?.scores?.engagement).toBeCloseTo(reference.lead.scores?.engagement ?? NaN, 6);
    expect(concurrent?.version).toBeGreaterThanOrEqual(1);
    const pending = await base.repo.loadPending(
      leadId,
      events.map((e) => e.eventId),
    );
    expect(pending.pending).toEqual([]);
  }, 90_000);

  it('scores more pending events than one transaction holds, in successive commits', async () => {
    const base = testCaptureDeps();
    const email = uniqueEmail('many');
    const events = Array.from({ length: 190 }, (_, i) => ({
      eventId: `view-${i}`,
      email,
      type: 'page_viewed',
      occurredAt: new Date(Date.parse('2026-03-01T00:00:00Z') + i * 60_000).toISOString(),
      properties: { url: `/blog/${i}` },
    }));
    await ingestEvents(base.deps, events.slice(0, 100));
    await ingestEvents(base.deps, events.slice(100));
    const leadId = (await base.repo.findLeadIdByEmail(email)) as string;

    const result = await scorePendingEvents(
      scoringDeps(base),
      leadId,
      events.map((e) => e.eventId),
    );

    expect(result.applied).toHaveLength(190);
    expect(
      (
        await base.repo.loadPending(
          leadId,
          events.map((e) => e.eventId),
        )
      ).pending,
    ).toEqual([]);
    expect((await base.repo.getLead(leadId))?.version).toBe(3);
  }, 90_000);

  it('reads only event inserts from stream records', () => {
    const record = (eventName: 'INSERT' | 'MODIFY', sk: string) => ({
      eventName,
      dynamodb: { Keys: { pk: { S: 'LEAD#01ARZ3NDEKTSV4RRFFQ69G5FAV' }, sk: { S: sk } } },
    });
    const event = {
      Records: [
        record('INSERT', 'EVENT#e-1'),
        record('MODIFY', 'EVENT#e-1'),
        record('INSERT', 'LEAD'),
        record('INSERT', 'STAGE#x'),
      ],
    } as DynamoDBStreamEvent;
    expect(event.Records.map(insertedEvent)).toEqual([
      { leadId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', eventId: 'e-1' },
      undefined,
      undefined,
      undefined,
    ]);
  });
});
