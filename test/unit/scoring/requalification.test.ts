import { describe, expect, it } from 'vitest';
import type { Lead, NurtureState } from '../../../lambdas/domain/lead.js';
import { markUnresponsive } from '../../../lambdas/domain/lifecycle.js';
import { requalify } from '../../../lambdas/domain/requalification.js';
import { defaultModel } from '../../../lambdas/domain/scoring/index.js';
import { IDEAL_PROFILE, applyOn, day, eventOn, freshLead, isoDay } from './support.js';

const running = (since: number): NurtureState => ({
  track: 'newsletter',
  executionName: `lead-1-newsletter-${since}`,
  status: 'active',
  enrolledAt: isoDay(since),
  touchesSent: 1,
});

/** A lead (fit 42, engagement 5) last active on day 0. */
function leadOnDay0(): Lead {
  const { jobTitle, companySize, industry } = IDEAL_PROFILE;
  return applyOn(freshLead(), [eventOn(0, 'form_submitted', { formId: 'ebook', jobTitle, companySize, industry })], 0)
    .lead;
}

/** An MQL on day 0 (engagement 20, decays below 15 on day 12.45). */
function mqlOnDay0(): Lead {
  return applyOn(
    leadOnDay0(),
    [eventOn(0, 'webinar_registered'), eventOn(0, 'content_download'), eventOn(0, 'content_download')],
    0,
  ).lead;
}

describe('requalify', () => {
  it('applies decay and sets the next review, changing nothing else for an active lead', () => {
    const lead = leadOnDay0();
    const { lead: after, transitions, actions } = requalify({ ...lead, nurture: running(0) }, defaultModel, day(30));
    expect(transitions).toEqual([]);
    expect(actions).toEqual([]);
    expect(after.scores?.engagement).toBeCloseTo(2.5, 10);
    expect(after.scores?.scoredAt).toBe(isoDay(30));
    expect(after.reviewAt).toBe(isoDay(90));
  });

  it('makes a silent lead dormant at the exact dormancy date and stops its nurture', () => {
    const { lead, transitions, actions } = requalify({ ...leadOnDay0(), nurture: running(0) }, defaultModel, day(95));
    expect(transitions).toEqual([
      { from: 'lead', to: 'dormant', reason: 'silent', rule: 'lifecycle:dormant', at: isoDay(90) },
    ]);
    expect(actions).toEqual(['stop_nurture']);
    expect(lead.reviewAt).toBeUndefined();
  });

  it('recycles a decayed MQL to lead and enrolls it in its new stage', () => {
    const { lead, transitions, actions } = requalify(mqlOnDay0(), defaultModel, day(13));
    expect(transitions).toEqual([
      {
        from: 'mql',
        to: 'lead',
        reason: 'score_decayed',
        rule: 'decay:mql',
        at: expect.stringMatching(/^2025-01-18T/),
      },
    ]);
    expect(actions).toEqual(['enroll']);
    expect(lead.reviewAt).toBe(new Date(Date.parse(lead.stageChangedAt) + 90 * 86_400_000).toISOString());
  });

  it('records decay then dormancy, each at its own instant, when the sweep comes late', () => {
    const { transitions } = requalify(mqlOnDay0(), defaultModel, day(200));
    expect(transitions.map((t) => [t.to, t.rule])).toEqual([
      ['lead', 'decay:mql'],
      ['dormant', 'lifecycle:dormant'],
    ]);
    const recycledAt = Date.parse(transitions[0]?.at ?? '');
    expect(transitions[1]?.at).toBe(new Date(recycledAt + 90 * 86_400_000).toISOString());
  });

  it('gives a lead that just changed stage a full period before calling it silent', () => {
    const accepted = applyOn(leadOnDay0(), [eventOn(50, 'sales_accepted')], 50).lead;
    expect(accepted.reviewAt).toBe(isoDay(140));
    expect(requalify(accepted, defaultModel, day(139)).lead.stage).toBe('sql');
    expect(requalify(accepted, defaultModel, day(140)).lead.stage).toBe('dormant');
  });

  it('asks to enroll a lead revived by activity whose track has not been started for its new stage', () => {
    const dormant = requalify(leadOnDay0(), defaultModel, day(100)).lead;
    const revived = applyOn(
      { ...dormant, nurture: { ...running(0), status: 'stopped' } },
      [eventOn(110, 'page_viewed')],
      110,
    ).lead;
    expect(revived.stage).toBe('lead');
    expect(requalify(revived, defaultModel, day(111)).actions).toEqual(['enroll']);
    expect(requalify({ ...revived, nurture: running(110) }, defaultModel, day(111)).actions).toEqual([]);
  });

  it('re-evaluates an unresponsive lead after the cool-off', () => {
    const unresponsive = markUnresponsive(leadOnDay0(), defaultModel, day(30)).lead;
    expect(requalify(unresponsive, defaultModel, day(60)).transitions).toEqual([]);
    const { lead, transitions, actions } = requalify(unresponsive, defaultModel, day(125));
    expect(transitions).toEqual([
      { from: 'disqualified', to: 'lead', reason: 'requalified', rule: 'lifecycle:cool_off', at: isoDay(120) },
    ]);
    expect(actions).toEqual(['enroll']);
    expect(lead.disqualification).toBeUndefined();
  });

  it('keeps a poor fit disqualified after the cool-off and looks again one cool-off later', () => {
    const poor = applyOn(
      freshLead('kim@gmail.com'),
      [eventOn(0, 'form_submitted', { jobTitle: 'Intern', companySize: '5' })],
      0,
    ).lead;
    expect(poor.disqualification).toBe('not_a_fit');
    const { lead, transitions } = requalify(poor, defaultModel, day(95));
    expect(transitions).toEqual([]);
    expect(lead.reviewAt).toBe(isoDay(180));
  });

  it('re-evaluates a sales-rejected disqualification after the cool-off', () => {
    const sql = applyOn(leadOnDay0(), [eventOn(0, 'demo_requested', { budget: 'yes', timeline: 'ASAP' })], 0).lead;
    const rejected = applyOn(sql, [eventOn(1, 'sales_rejected', { disqualify: true })], 1).lead;
    expect(requalify(rejected, defaultModel, day(60)).lead.stage).toBe('disqualified');
    expect(requalify(rejected, defaultModel, day(92)).transitions).toEqual([
      { from: 'disqualified', to: 'lead', reason: 'requalified', rule: 'lifecycle:cool_off', at: isoDay(91) },
    ]);
  });

  it.each(['email_unsubscribed', 'email_complained', 'email_bounced'] as const)(
    'never revives a lead after %s',
    (type) => {
      const gone = applyOn(leadOnDay0(), [eventOn(1, type, { bounceType: 'permanent' })], 1).lead;
      const { lead, transitions } = requalify({ ...gone, nurture: running(0) }, defaultModel, day(1000));
      expect(lead.stage).toBe('disqualified');
      expect(transitions).toEqual([]);
      expect(lead.reviewAt).toBeUndefined();
    },
  );

  it('never revives a competitor', () => {
    const rival = applyOn(freshLead('ana@marketo.com'), [eventOn(0, 'page_viewed')], 0).lead;
    expect(requalify(rival, defaultModel, day(1000)).lead.disqualification).toBe('competitor');
  });

  it('leaves customers and opportunities to sales', () => {
    const sql = applyOn(leadOnDay0(), [eventOn(0, 'demo_requested', { budget: 'yes', timeline: 'ASAP' })], 0).lead;
    for (const type of ['opportunity_created', 'purchase'] as const) {
      const won = applyOn(sql, [eventOn(1, type)], 1).lead;
      const { lead, transitions, actions } = requalify(won, defaultModel, day(1000));
      expect([lead.stage, transitions, actions, lead.reviewAt]).toEqual([won.stage, [], [], undefined]);
    }
  });

  it('gives the same answer when run twice (the sweep may retry)', () => {
    const mql = mqlOnDay0();
    const once = requalify(mql, defaultModel, day(200));
    expect(requalify(mql, defaultModel, day(200))).toEqual(once);
    expect(requalify(mql, defaultModel, day(201)).transitions).toEqual(once.transitions);
    expect(requalify(once.lead, defaultModel, day(200)).transitions).toEqual([]);
  });
});
