import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Lead, Scores } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { contentVariantFor } from '../../lambdas/domain/nurture/experiments.js';
import { sendTouch } from '../../lambdas/domain/nurture/send-touch.js';
import { trackById } from '../../lambdas/domain/nurture/tracks.js';
import { startHarness, type Harness } from './nurture-harness.js';

/**
 * A track's experiment run through its synthesized state machine (docs/experiments.md): the shipped `testimonials`
 * track holds 20% of its leads out and tests two versions of its first touch.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(async () => h?.stop());
beforeEach(() => {
  h.onWait = undefined;
  h.mailerOverride = undefined;
  // A Monday, 15:00 UTC: inside the send window of a lead in UTC.
  h.clock.set('2026-03-02T15:00:00.000Z');
});

const track = trackById(DEFAULT_NURTURE_PLAN, 'testimonials');
const experimentId = track.experimentId ?? '';

const engagedMql: Scores = {
  fit: 40,
  engagement: 45,
  total: 85,
  grade: 'A',
  scoredAt: '2026-03-02T15:00:00.000Z',
  caps: {},
  contributions: [{ ruleId: 'fit:title', kind: 'fit', label: 'Job title: COO', points: 40 }],
};
const newMql = () => h.createLead({ stage: 'mql', scores: engagedMql });
const events = async (leadId: string, type: string) =>
  (await h.repo.listEvents(leadId))
    .filter((e) => e.type === type)
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));

describe('a track with a holdout', () => {
  it('mails a held-out lead nothing, yet waits, re-evaluates and disqualifies it exactly as a treated lead', async () => {
    const held = await newMql();
    const treated = await newMql();

    const heldRun = await h.runTrack(held, 'testimonials', undefined, { experimentId, arm: 'holdout' });
    h.clock.set('2026-03-02T15:00:00.000Z');
    const treatedRun = await h.runTrack(treated, 'testimonials', undefined, { experimentId, arm: 'treatment' });

    expect(JSON.parse(heldRun.input)).toMatchObject({ leadId: held.leadId, arm: 'holdout', experimentId });
    expect(heldRun.status).toBe('SUCCEEDED');
    expect(h.statesOf(heldRun)).toEqual([
      'Holdout group? (testimonial 1)',
      'Held out: no mail (testimonial 1)',
      'Testimonial 1 held out?',
      'Wait 3 days after testimonial 1',
      'Re-evaluate lead after testimonial 1',
      'Promoted to SQL after testimonial 1?',
      'Holdout group? (testimonial 2)',
      'Held out: no mail (testimonial 2)',
      'Testimonial 2 held out?',
      'Wait 4 days after testimonial 2',
      'Re-evaluate lead after testimonial 2',
      'Promoted to SQL after testimonial 2?',
      'Disqualified as unresponsive',
    ]);
    expect(await h.mailTo(held.email)).toEqual([]);
    expect(await events(held.leadId, 'email_sent')).toEqual([]);
    const heldOut = await events(held.leadId, 'touch_held_out');
    expect(heldOut.map((e) => e.properties)).toEqual(
      [1, 2].map((touch) =>
        expect.objectContaining({
          track: 'testimonials',
          touch,
          experimentId,
          arm: 'holdout',
          executionName: heldRun.name,
        }),
      ),
    );
    expect(await h.repo.getLead(held.leadId)).toMatchObject({
      stage: 'disqualified',
      disqualification: 'unresponsive',
      nurture: { track: 'testimonials', arm: 'holdout', experimentId, status: 'completed', touchesSent: 0 },
    });

    // The treated lead took the other branch of the same choices and ended the same way, with its two mails.
    expect(h.statesOf(treatedRun)).toEqual(
      expect.arrayContaining(['Holdout group? (testimonial 1)', 'Send testimonial 1', 'Disqualified as unresponsive']),
    );
    expect(h.statesOf(treatedRun)).not.toContain('Held out: no mail (testimonial 1)');
    expect(await h.mailTo(treated.email)).toHaveLength(2);
    expect(await h.repo.getLead(treated.leadId)).toMatchObject({
      stage: 'disqualified',
      disqualification: 'unresponsive',
      nurture: { arm: 'treatment', touchesSent: 2 },
    });
  });

  it('holds a held-out touch outside the send window as long as a treated one waits for it', async () => {
    const held = await newMql();
    const treated = await newMql();
    // A Saturday, 15:00 UTC: the window (weekdays 09:00-17:00 in the lead's zone) opens on Monday at 09:00.
    h.clock.set('2026-03-07T15:00:00.000Z');
    const heldRun = await h.runTrack(held, 'testimonials', undefined, { experimentId, arm: 'holdout' });
    h.clock.set('2026-03-07T15:00:00.000Z');
    const treatedRun = await h.runTrack(treated, 'testimonials', undefined, { experimentId, arm: 'treatment' });

    expect(heldRun.status).toBe('SUCCEEDED');
    expect(h.statesOf(heldRun).slice(0, 5)).toEqual([
      'Holdout group? (testimonial 1)',
      'Held out: no mail (testimonial 1)',
      'Testimonial 1 held out?',
      'Wait for send window (held out, testimonial 1)',
      'Held out: no mail (testimonial 1)',
    ]);
    expect(h.statesOf(treatedRun)).toContain('Wait for send window (testimonial 1)');
    const heldAt = (await events(held.leadId, 'touch_held_out')).map((e) => e.occurredAt);
    const sentAt = (await events(treated.leadId, 'email_sent'))
      .filter((e) => e.source === 'nurture')
      .map((e) => e.occurredAt);
    expect(heldAt[0]?.slice(0, 13)).toBe('2026-03-09T09');
    expect(heldAt.map((at) => at.slice(0, 13))).toEqual(sentAt.map((at) => at.slice(0, 13)));
  });

  it('hands a held-out lead promoted mid-track to sales, as it would a treated one', async () => {
    const lead = await newMql();
    h.onWait = async (w) => {
      if (w.state !== 'Wait 3 days after testimonial 1') return;
      const stored = await h.repo.getLead(lead.leadId);
      if (!stored) throw new Error('lead vanished');
      const at = h.clock.now().toISOString();
      const next: Lead = {
        ...stored,
        stage: 'sql',
        stageReason: 'threshold',
        stageChangedAt: at,
        version: stored.version + 1,
      };
      await h.repo.commitScoring(
        next,
        [],
        [{ from: 'mql', to: 'sql', reason: 'threshold', rule: 'threshold:sql', at }],
      );
    };
    const run = await h.runTrack(lead, 'testimonials', undefined, { experimentId, arm: 'holdout' });

    expect(h.statesOf(run).slice(-2)).toEqual(['Hand off to sales', 'Handed off to sales']);
    expect(await h.mailTo(lead.email)).toEqual([]);
    expect(await h.promotions(lead.leadId)).toHaveLength(1);
  });
});

describe('a content test', () => {
  it('sends each treated lead the variant its id hashes to, tagged and recorded on email_sent', async () => {
    const subjects = {
      quotes: 'What teams say after 90 days with Leadloop',
      numbers: 'Minutes, not Mondays: what 90 days of Leadloop changed',
    } as const;
    for (let i = 0; i < 6; i++) {
      h.clock.set('2026-03-02T15:00:00.000Z');
      const lead = await newMql();
      await h.runTrack(lead, 'testimonials', undefined, { experimentId, arm: 'treatment' });
      const expected = contentVariantFor(lead.leadId, track, track.touches[0] ?? { name: '' });
      if (!expected) throw new Error('touch 1 of testimonials tests its content');
      const [first] = await events(lead.leadId, 'email_sent');
      expect(first?.properties).toMatchObject({
        touch: 1,
        contentVariant: expected.id,
        template: expected.template,
        experimentId,
        arm: 'treatment',
      });
      const [mail] = await h.mailTo(lead.email);
      expect(mail?.subject).toBe(subjects[expected.id as keyof typeof subjects]);
    }
  });

  it('tags the mail with its content variant, experiment and arm', async () => {
    const sent: { tags: Record<string, string>; templateName: string }[] = [];
    h.mailerOverride = {
      send: async (email) => {
        sent.push({ tags: email.tags, templateName: email.templateName });
        return { messageId: `m-${sent.length}` };
      },
    };
    const lead = await newMql();
    await h.runTrack(lead, 'testimonials', undefined, { experimentId, arm: 'treatment' });

    const variant = contentVariantFor(lead.leadId, track, track.touches[0] ?? { name: '' });
    expect(sent.map((s) => s.tags)).toEqual([
      expect.objectContaining({ touch: '1', contentVariant: variant?.id, experiment: experimentId, arm: 'treatment' }),
      expect.not.objectContaining({ contentVariant: expect.anything() }),
    ]);
    expect(sent[0]?.templateName).toBe(`leadloop-dev-${variant?.template ?? ''}--default`);
    expect(sent[1]?.tags).toMatchObject({ experiment: experimentId, arm: 'treatment' });
  });
});

describe('the guard rails of the send task', () => {
  it('never mails a lead whose run says it is held out, and counts a run started without an arm in no arm', async () => {
    const held = await newMql();
    await h.enroll(held, 'testimonials', `${held.leadId}-direct`, { experimentId, arm: 'holdout' });
    const input = { leadId: held.leadId, track: 'testimonials', touch: 1, executionName: `${held.leadId}-direct` };
    await expect(sendTouch(h.deps, { ...input, arm: 'holdout', experimentId })).rejects.toThrow(/held out/);
    expect(await h.mailTo(held.email)).toEqual([]);

    // A run from before the track had its experiment (no arm in its input): mailed as it was, recorded in no arm.
    const old = await newMql();
    await h.enroll(old, 'testimonials', `${old.leadId}-old`);
    const result = await sendTouch(h.deps, { ...input, leadId: old.leadId, executionName: `${old.leadId}-old` });
    expect(result.outcome).toBe('sent');
    const [sent] = await events(old.leadId, 'email_sent');
    expect(sent?.properties).toMatchObject({ template: 'testimonial-1' });
    expect(sent?.properties).not.toHaveProperty('experimentId');
    expect(sent?.properties).not.toHaveProperty('contentVariant');
  });
});
