import { describe, expect, it } from 'vitest';
import { captureForm, IMPLICIT_ID_WINDOW_MS, ingestEvents } from '../../lambdas/domain/capture.js';
import { continueErasure } from '../../lambdas/domain/erasure.js';
import { FormSubmission } from '../../lambdas/domain/forms.js';
import { testCaptureDeps, uniqueEmail } from '../support/dynamo.js';

const submission = (email: string, extra: Record<string, unknown> = {}) =>
  FormSubmission.parse({ email, firstName: 'Ada', jobTitle: 'CTO', consent: 'yes', ...extra });

describe('capturing forms into DynamoDB Local', () => {
  it('creates exactly one lead when one address is submitted concurrently', async () => {
    const { deps, repo } = testCaptureDeps();
    const email = uniqueEmail('race');
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        captureForm(deps, { formId: 'newsletter', submission: submission(email, { firstName: `Ada${i}` }) }),
      ),
    );
    const leadIds = new Set(results.map((r) => r.leadId));
    expect(leadIds.size).toBe(1);
    const leadId = [...leadIds][0] as string;
    expect(await repo.findLeadIdByEmail(email)).toBe(leadId);
    expect((await repo.listEvents(leadId)).length).toBe(12);
  });

  it('records a retried submission once (same content, same day)', async () => {
    const { deps, repo } = testCaptureDeps();
    const email = uniqueEmail('retry');
    const first = await captureForm(deps, { formId: 'demo-request', submission: submission(email) });
    const again = await captureForm(deps, { formId: 'demo-request', submission: submission(email) });
    expect(first.outcome).toBe('recorded');
    expect(again).toEqual({ leadId: first.leadId, outcome: 'duplicate' });
    const events = await repo.listEvents(first.leadId as string);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'demo_requested',
      source: 'form',
      properties: { formId: 'demo-request', jobTitle: 'CTO', consent: true },
    });
  });

  it('treats an Idempotency-Key as the identity of the submission', async () => {
    const { deps, repo, clock } = testCaptureDeps();
    const email = uniqueEmail('idem');
    const first = await captureForm(deps, { formId: 'contact', submission: submission(email), idempotencyKey: 'k-1' });
    clock.advance(3 * 86_400_000);
    const retry = await captureForm(deps, {
      formId: 'contact',
      submission: submission(email, { lastName: 'L' }),
      idempotencyKey: 'k-1',
    });
    const other = await captureForm(deps, { formId: 'contact', submission: submission(email), idempotencyKey: 'k-2' });
    expect(retry.outcome).toBe('duplicate');
    expect(other.outcome).toBe('recorded');
    expect(await repo.listEvents(first.leadId as string)).toHaveLength(2);
  });

  it('ingests a batch: accepted, duplicates and per-index rejections, writing nothing for the rejected', async () => {
    const { deps, repo } = testCaptureDeps();
    const email = uniqueEmail('batch');
    const batch = [
      { eventId: 'pv-1', email, type: 'page_viewed', properties: { url: '/pricing' } },
      { eventId: 'pv-1', email, type: 'page_viewed', properties: { url: '/pricing' } },
      { email, type: 'not_a_type' },
      { type: 'page_viewed' },
      { email, type: 'page_viewed', occurredAt: '2999-01-01T00:00:00Z' },
      { email, type: 'webinar_attended', occurredAt: '2026-03-01T09:00:00+01:00' },
      { leadId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', type: 'page_viewed' },
    ];
    const result = await ingestEvents(deps, batch);
    expect(result.accepted).toBe(2);
    expect(result.duplicates).toBe(1);
    expect(result.rejected.map((r) => r.index)).toEqual([2, 3, 4, 6]);
    expect(result.rejected[0]?.error).toMatch(/^type:/);
    expect(result.rejected[1]?.error).toMatch(/^email: needs email or leadId/);
    expect(result.rejected[2]?.error).toBe('occurredAt: is in the future');
    expect(result.rejected[3]?.error).toBe('leadId: no such lead');
    const leadId = (await repo.findLeadIdByEmail(email)) as string;
    const events = await repo.listEvents(leadId);
    expect(events.map((e) => e.type).sort()).toEqual(['page_viewed', 'webinar_attended']);
    expect(events.find((e) => e.type === 'webinar_attended')?.occurredAt).toBe('2026-03-01T08:00:00.000Z');
    // a retry of the whole batch changes nothing
    const retry = await ingestEvents(deps, batch);
    expect(retry).toMatchObject({ accepted: 0, duplicates: 3 });
    expect(await repo.listEvents(leadId)).toHaveLength(2);
  });

  it('erases a lead and keeps only a suppression entry, so the address is not re-added', async () => {
    const { deps, repo, clock } = testCaptureDeps();
    const email = uniqueEmail('erase');
    const { leadId } = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    expect(await repo.requestErasure(leadId as string, clock.now())).toMatchObject({ outcome: 'requested' });
    expect(await continueErasure({ store: repo }, leadId as string, () => 60_000, { recordProgress: false })).toBe(
      'done',
    );
    expect(await repo.getLead(leadId as string)).toBeUndefined();
    expect(await repo.findLeadIdByEmail(email)).toBeUndefined();
    expect(await repo.partitionItems(leadId as string)).toEqual([]);
    expect(await repo.isSuppressed(email)).toBe(true);
    const again = await captureForm(deps, { formId: 'newsletter', submission: submission(email) });
    expect(again.outcome).toBe('suppressed');
    expect(await repo.findLeadIdByEmail(email)).toBeUndefined();
    expect(await repo.requestErasure(leadId as string, clock.now())).toBeUndefined();
  });

  it('counts an event sent twice with neither eventId nor occurredAt once (a retry within the window)', async () => {
    const { deps, repo, clock } = testCaptureDeps('2026-03-02T10:01:00.000Z');
    const email = uniqueEmail('retry-no-id');
    const body = [
      { email, type: 'pricing_page_viewed', properties: { url: '/pricing' } },
      { email, type: 'webinar_registered', properties: { webinarId: 'w-7' } },
    ];
    const first = await ingestEvents(deps, body);
    clock.advance(40_000); // the client retries 40 s later, same body
    const retry = await ingestEvents(deps, body);
    expect(first).toMatchObject({ accepted: 2, duplicates: 0 });
    expect(retry).toMatchObject({ accepted: 0, duplicates: 2 });
    const leadId = (await repo.findLeadIdByEmail(email)) as string;
    expect(await repo.listEvents(leadId)).toHaveLength(2);
    // the next window is another event
    clock.advance(IMPLICIT_ID_WINDOW_MS);
    expect(await ingestEvents(deps, body.slice(0, 1))).toMatchObject({ accepted: 1, duplicates: 0 });
  });
});
