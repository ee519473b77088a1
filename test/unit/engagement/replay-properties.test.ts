import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { captureForm } from '../../../lambdas/domain/capture.js';
import { fixedClock } from '../../../lambdas/domain/clock.js';
import { recordEngagement } from '../../../lambdas/domain/engagement.js';
import { FormSubmission } from '../../../lambdas/domain/forms.js';
import type { Lead } from '../../../lambdas/domain/lead.js';
import { scorePendingEvents } from '../../../lambdas/domain/scoring-pipeline.js';
import { applyEvents, defaultModel } from '../../../lambdas/domain/scoring/index.js';
import { parseSesSqsBody, type SesEventRecord } from '../../../lambdas/domain/ses-events.js';
import { MemoryLeadRepository } from '../../support/memory-lead-repository.js';
import { FIXTURES, fixtureEvent, objectAt } from '../ses/fixtures.js';

/**
 * Replays have one effect (issue 12 §7): SES and EventBridge deliver records at least once, in any order and
 * sometimes concurrently. Whatever the interleaving of redeliveries, the lead ends exactly as if each record had been
 * delivered once, at its first delivery: same events, same score and contributions, same stage and history. Each
 * delivery is recorded as the engagement handler records it and then scored as the table stream scores it.
 */

const ADA = 'ada@example.com';
const LEAD_ID = '01JNF3K7Q8ZB2V6W9X4Y5T1R0M';
const NOW = '2025-03-07T00:00:00.000Z';

/** Every fixture to Ada, plus clicks whose classification depends on what was recorded before them. */
function records(): SesEventRecord[] {
  const toAda = FIXTURES.map((name) => {
    const event = fixtureEvent(name);
    return JSON.parse(JSON.stringify(event).replace(/grace@example\.org|linus@example\.net/gi, ADA)) as typeof event;
  });
  const click = (at: string, link: string) => {
    const event = fixtureEvent('click-human');
    Object.assign(objectAt(event.detail, 'click'), { timestamp: at, link });
    return event;
  };
  const extra = [
    // 11 s after the send, 9 s after the delivery: a person by the send, a scanner by the delivery.
    click('2025-03-04T09:00:11.000Z', 'https://www.example.com/pricing'),
    // Three links within five seconds: the one completing the burst is a scanner's.
    click('2025-03-04T10:00:00.000Z', 'https://www.example.com/a'),
    click('2025-03-04T10:00:01.000Z', 'https://www.example.com/b'),
    click('2025-03-04T10:00:02.000Z', 'https://www.example.com/c'),
  ];
  return [...toAda, ...extra].map((e) => parseSesSqsBody(JSON.stringify(e)));
}
const RECORDS = records();

/** One delivery step: a record, or several copies of one record delivered concurrently. */
type Step = { record: number; copies: number };

async function deliver(steps: readonly Step[]) {
  const repo = new MemoryLeadRepository();
  const clock = fixedClock(NOW);
  const scoring = {
    leads: repo,
    clock,
    apply: (lead: Lead, events: Parameters<typeof applyEvents>[1], now: Date) =>
      applyEvents(lead, events, defaultModel, now),
    sleep: async () => undefined,
  };
  await captureForm(
    { leads: repo, clock: fixedClock('2025-03-01T10:00:00.000Z'), newLeadId: () => LEAD_ID },
    { formId: 'newsletter', submission: FormSubmission.parse({ email: ADA, firstName: 'Ada', consent: 'yes' }) },
  );
  await scorePendingEvents(
    scoring,
    LEAD_ID,
    (await repo.listEvents(LEAD_ID)).map((e) => e.eventId),
  );
  for (const step of steps) {
    const record = RECORDS[step.record];
    if (!record) throw new Error(`no record ${step.record}`);
    await Promise.all(
      Array.from({ length: step.copies }, async () => {
        const recorded = await recordEngagement({ leads: repo, clock }, record);
        await scorePendingEvents(
          scoring,
          LEAD_ID,
          recorded.recorded.map((e) => e.eventId),
        );
      }),
    );
  }
  return {
    lead: await repo.getLead(LEAD_ID),
    events: await repo.listEvents(LEAD_ID),
    history: await repo.stageHistory(LEAD_ID),
  };
}

/** A first-delivery order of every record, and redeliveries: extra concurrent copies, or later deliveries. */
const deliveries = fc
  .tuple(
    fc.shuffledSubarray(
      RECORDS.map((_, i) => i),
      { minLength: RECORDS.length, maxLength: RECORDS.length },
    ),
    fc.array(fc.record({ record: fc.nat(RECORDS.length - 1), concurrent: fc.boolean(), later: fc.nat() }), {
      minLength: 1,
      maxLength: 10,
    }),
  )
  .map(([order, redeliveries]) => {
    const once: Step[] = order.map((record) => ({ record, copies: 1 }));
    const steps: Step[] = once.map((s) => ({ ...s }));
    for (const r of redeliveries) {
      const first = steps.findIndex((s) => s.record === r.record);
      const step = steps[first];
      if (r.concurrent && step) step.copies++;
      else steps.splice(first + 1 + (r.later % (steps.length - first)), 0, { record: r.record, copies: 1 });
    }
    return { once, steps };
  });

describe('SES replays (property)', () => {
  it('any interleaving of duplicate deliveries yields the same lead as one delivery of each', async () => {
    await fc.assert(
      fc.asyncProperty(deliveries, async ({ once, steps }) => {
        expect(await deliver(steps)).toEqual(await deliver(once));
      }),
      { numRuns: 60 },
    );
  }, 60_000);

  it('the interleavings it tries do redeliver records, alone and concurrently', () => {
    const samples = fc.sample(deliveries, { numRuns: 50, seed: 12 });
    const copies = samples.flatMap((s) => s.steps.map((step) => step.copies));
    expect(samples.every((s) => s.steps.reduce((n, step) => n + step.copies, 0) > s.once.length)).toBe(true);
    expect(Math.max(...copies)).toBeGreaterThan(1);
  });
});
