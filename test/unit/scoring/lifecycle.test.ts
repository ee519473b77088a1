import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../../../lambdas/domain/clock.js';
import type { Lead, StageTransition } from '../../../lambdas/domain/lead.js';
import { markUnresponsive } from '../../../lambdas/domain/lifecycle.js';
import { requalify } from '../../../lambdas/domain/requalification.js';
import { defaultModel, rescore } from '../../../lambdas/domain/scoring/index.js';
import { IDEAL_PROFILE, T0, applyOn, day, eventOn, freshLead, isoDay, modelWith } from './support.js';

const moves = (transitions: StageTransition[]): string[] => transitions.map((t) => `${t.from}->${t.to}`);

/** An MQL (fit 62, engagement 20 from a webinar and a download on day 0, no BANT yet so not an SQL). */
function mqlOnDay0(): Lead {
  const { jobTitle, companySize, industry } = IDEAL_PROFILE;
  const { lead } = applyOn(
    freshLead(),
    [
      eventOn(0, 'form_submitted', { formId: 'ebook', jobTitle, companySize, industry }),
      eventOn(0, 'content_download'),
      eventOn(0, 'webinar_registered'),
      eventOn(0, 'content_download'),
    ],
    0,
  );
  return lead;
}

/** An SQL on day 0: ideal profile with BANT, and a demo request. */
function sqlOnDay0(): Lead {
  return applyOn(freshLead(), [eventOn(0, 'form_submitted', IDEAL_PROFILE), eventOn(0, 'demo_requested')], 0).lead;
}

describe('subscriber and lead', () => {
  it('keeps a newsletter-only contact a subscriber', () => {
    const { lead, transitions } = applyOn(
      freshLead(),
      [eventOn(0, 'newsletter_signup', { formId: 'newsletter', firstName: 'Pat' }), eventOn(3, 'email_opened')],
      3,
    );
    expect(lead.stage).toBe('subscriber');
    expect(transitions).toEqual([]);
    expect(lead.leadSince).toBeUndefined();
  });

  it('makes a lead of any non-newsletter action', () => {
    const { lead, transitions } = applyOn(
      freshLead(),
      [eventOn(0, 'newsletter_signup'), eventOn(2, 'page_viewed', {}, 'pv-1')],
      2,
    );
    expect(transitions).toEqual([
      { from: 'subscriber', to: 'lead', reason: 'became_lead', rule: 'threshold:lead', at: isoDay(2), eventId: 'pv-1' },
    ]);
    expect(lead).toMatchObject({
      stage: 'lead',
      stageReason: 'became_lead',
      stageChangedAt: isoDay(2),
      leadSince: isoDay(2),
    });
  });

  it('makes a lead of a profile beyond the email', () => {
    const { lead } = applyOn(freshLead(), [eventOn(1, 'newsletter_signup', { company: 'Acme Builders' })], 1);
    expect(lead.stage).toBe('lead');
    expect(lead.leadSince).toBe(isoDay(1));
  });
});

describe('MQL and SQL', () => {
  it('makes an MQL when fit and engagement reach the thresholds', () => {
    const lead = mqlOnDay0();
    expect(lead.stage).toBe('mql');
    expect(lead.scores).toMatchObject({ fit: 42, engagement: 20, grade: 'A' });
  });

  it('goes straight to SQL on a high-intent action with BANT evidence', () => {
    const { lead, transitions } = applyOn(
      freshLead(),
      [eventOn(0, 'form_submitted', IDEAL_PROFILE, 'f-1'), eventOn(1, 'demo_requested', {}, 'd-1')],
      1,
    );
    expect(lead.stage).toBe('sql');
    expect(transitions.map((t) => [t.from, t.to, t.rule, t.eventId])).toEqual([
      ['subscriber', 'lead', 'threshold:lead', 'f-1'],
      ['lead', 'sql', 'threshold:sql', 'd-1'],
    ]);
  });

  it('needs BANT evidence for an SQL, and promotes once it arrives', () => {
    const mql = applyOn(mqlOnDay0(), [eventOn(1, 'demo_requested')], 1).lead;
    expect(mql.stage).toBe('mql');
    const { lead, transitions } = applyOn(
      mql,
      [eventOn(2, 'form_submitted', { budget: '$40k', need: 'faster bids' })],
      2,
    );
    expect(lead.stage).toBe('sql');
    expect(transitions[0]).toMatchObject({ from: 'mql', to: 'sql', rule: 'threshold:sql', reason: 'sql_criteria_met' });
  });

  it('does not count negative BANT answers as evidence', () => {
    const { lead } = applyOn(
      freshLead(),
      [
        eventOn(0, 'form_submitted', { ...IDEAL_PROFILE, budget: 'no budget', timeline: 'just researching' }),
        eventOn(0, 'demo_requested'),
      ],
      0,
    );
    expect(lead.stage).toBe('mql');
  });

  it('needs the high-intent action to be recent', () => {
    const slow = modelWith((m) => {
      m.engagement.halfLifeDays = 10_000;
    });
    const mql = applyOn(mqlOnDay0(), [eventOn(1, 'demo_requested')], 1, slow).lead;
    const late = applyOn(mql, [eventOn(100, 'form_submitted', { budget: 'yes', timeline: 'ASAP' })], 100, slow).lead;
    expect(late.stage).toBe('mql');
    const renewed = applyOn(late, [eventOn(101, 'discovery_call_booked')], 101, slow).lead;
    expect(renewed.stage).toBe('sql');
  });

  it('never makes an SQL of low-intent actions, however many', () => {
    const events = Array.from({ length: 60 }, (_, i) => eventOn(i, i % 2 ? 'content_download' : 'pricing_page_viewed'));
    const { lead, transitions } = applyOn(freshLead(), [eventOn(0, 'form_submitted', IDEAL_PROFILE), ...events], 60);
    expect(lead.stage).toBe('mql');
    expect(transitions.some((t) => t.to === 'sql')).toBe(false);
  });

  it('recycles an MQL to lead at the exact instant decay takes it below the threshold', () => {
    const lead = mqlOnDay0();
    const crossing = Math.floor(T0 + 30 * DAY_MS * Math.log2(20 / 15)) + 1;
    expect(lead.reviewAt).toBe(new Date(crossing).toISOString());
    expect(rescore(lead, defaultModel, day(12)).transitions).toEqual([]);
    const { lead: after, transitions } = rescore(lead, defaultModel, day(20));
    expect(transitions).toEqual([
      { from: 'mql', to: 'lead', reason: 'score_decayed', rule: 'decay:mql', at: new Date(crossing).toISOString() },
    ]);
    expect(after.stageChangedAt).toBe(new Date(crossing).toISOString());
    expect(rescore(lead, defaultModel, day(40)).transitions).toEqual(transitions);
  });

  it('moves an MQL back to lead when negative points drop it below the threshold', () => {
    const { lead, transitions } = applyOn(
      mqlOnDay0(),
      [
        eventOn(0, 'email_bounced', { bounceType: 'transient' }),
        eventOn(0, 'email_bounced', { bounceType: 'transient' }),
        eventOn(0, 'email_bounced', { bounceType: 'transient' }),
      ],
      0,
    );
    expect(lead.stage).toBe('lead');
    expect(transitions[0]).toMatchObject({ from: 'mql', to: 'lead', reason: 'score_dropped', rule: 'threshold:mql' });
  });

  it('keeps an SQL with sales however its score decays', () => {
    const { lead, transitions } = rescore(sqlOnDay0(), defaultModel, day(80));
    expect(lead.stage).toBe('sql');
    expect(transitions).toEqual([]);
  });
});

describe('sales verdicts and outcomes', () => {
  it('makes an SQL of a lead sales accepts; accepting an SQL changes nothing', () => {
    const accepted = applyOn(mqlOnDay0(), [eventOn(1, 'sales_accepted', {}, 'sa-1')], 1);
    expect(accepted.transitions).toEqual([
      {
        from: 'mql',
        to: 'sql',
        reason: 'sales_accepted',
        rule: 'event:sales_accepted',
        at: isoDay(1),
        eventId: 'sa-1',
      },
    ]);
    expect(applyOn(sqlOnDay0(), [eventOn(1, 'sales_accepted')], 1).transitions).toEqual([]);
  });

  it('sends a rejected SQL back to nurture as a lead, with negative points, held for the cool-off', () => {
    const sql = sqlOnDay0();
    const { lead, transitions } = applyOn(sql, [eventOn(1, 'sales_rejected', { reason: 'no project' }, 'sr-1')], 1);
    expect(transitions).toEqual([
      {
        from: 'sql',
        to: 'lead',
        reason: 'sales_rejected',
        rule: 'event:sales_rejected',
        at: isoDay(1),
        eventId: 'sr-1',
      },
    ]);
    expect(lead.disqualification).toBeUndefined();
    expect((lead.scores?.engagement ?? 0) < (sql.scores?.engagement ?? 0)).toBe(true);
    expect(lead.reviewAt).toBe(isoDay(91)); // the hold ends, and dormancy counts from the stage change

    const held = applyOn(lead, [eventOn(10, 'discovery_call_attended'), eventOn(10, 'demo_requested')], 10).lead;
    expect(held.stage).toBe('lead');
  });

  it('re-promotes a rejected lead at the end of the hold if its scores still earn it', () => {
    const rejected = applyOn(sqlOnDay0(), [eventOn(1, 'sales_rejected')], 1).lead;
    const engaged = applyOn(rejected, [eventOn(88, 'discovery_call_attended'), eventOn(88, 'demo_requested')], 88).lead;
    expect(engaged.stage).toBe('lead');
    const { lead, transitions } = rescore(engaged, defaultModel, day(92));
    expect(transitions).toEqual([
      { from: 'lead', to: 'sql', reason: 'sql_criteria_met', rule: 'threshold:sql', at: isoDay(91) },
    ]);
    expect(lead.stage).toBe('sql');
  });

  it('disqualifies as sales_rejected when sales says so', () => {
    const { lead } = applyOn(sqlOnDay0(), [eventOn(1, 'sales_rejected', { disqualify: true })], 1);
    expect(lead).toMatchObject({ stage: 'disqualified', disqualification: 'sales_rejected', reviewAt: isoDay(91) });
  });

  it('makes an opportunity, then a customer', () => {
    const { lead, transitions } = applyOn(
      sqlOnDay0(),
      [eventOn(5, 'opportunity_created'), eventOn(30, 'purchase')],
      30,
    );
    expect(moves(transitions)).toEqual(['sql->opportunity', 'opportunity->customer']);
    expect(transitions.map((t) => t.rule)).toEqual(['event:opportunity_created', 'event:purchase']);
    expect(lead.reviewAt).toBeUndefined();
  });

  it('keeps an opportunity through marketing-side events; a lost deal goes back to nurture', () => {
    const opportunity = applyOn(sqlOnDay0(), [eventOn(5, 'opportunity_created')], 5).lead;
    const unsubscribed = applyOn(opportunity, [eventOn(6, 'email_unsubscribed')], 6);
    expect(unsubscribed.lead.stage).toBe('opportunity');
    expect(unsubscribed.lead.suppression.unsubscribed).toBe(true);
    expect(rescore(opportunity, defaultModel, day(400)).lead.stage).toBe('opportunity');
    expect(moves(applyOn(opportunity, [eventOn(7, 'sales_rejected')], 7).transitions)).toEqual(['opportunity->lead']);
  });

  it('never demotes a customer', () => {
    const customer = applyOn(sqlOnDay0(), [eventOn(3, 'purchase')], 3).lead;
    const { lead, transitions } = applyOn(
      customer,
      [
        eventOn(4, 'email_unsubscribed'),
        eventOn(5, 'email_complained'),
        eventOn(6, 'sales_rejected'),
        eventOn(7, 'email_bounced', { bounceType: 'permanent' }),
      ],
      7,
    );
    expect(lead.stage).toBe('customer');
    expect(transitions).toEqual([]);
    expect(requalify(lead, defaultModel, day(900)).lead.stage).toBe('customer');
  });
});

describe('disqualification', () => {
  it.each([
    ['email_unsubscribed', {}, 'unsubscribed'],
    ['email_complained', {}, 'complained'],
    ['email_bounced', { bounceType: 'permanent' }, 'invalid_contact'],
  ] as const)('%s %o disqualifies as %s, for good', (type, properties, reason) => {
    const { lead, transitions } = applyOn(mqlOnDay0(), [eventOn(1, type, properties, 'x-1')], 1);
    expect(transitions).toEqual([
      {
        from: 'mql',
        to: 'disqualified',
        reason,
        rule: `event:${type}`,
        at: isoDay(1),
        disqualification: reason,
        eventId: 'x-1',
      },
    ]);
    expect(lead.reviewAt).toBeUndefined();
    const later = applyOn(
      lead,
      [eventOn(200, 'demo_requested'), eventOn(200, 'sales_accepted'), eventOn(201, 'opportunity_created')],
      201,
    );
    expect(later.lead.stage).toBe('disqualified');
    expect(requalify(later.lead, defaultModel, day(900)).transitions).toEqual([]);
  });

  it('treats repeated transient bounces as an invalid contact', () => {
    const bounces = Array.from({ length: 5 }, (_, i) => eventOn(i, 'email_bounced', { bounceType: 'transient' }));
    const { lead, transitions } = applyOn(mqlOnDay0(), bounces, 5);
    expect(lead.disqualification).toBe('invalid_contact');
    expect(transitions.at(-1)?.rule).toBe('lifecycle:transient_bounces');
  });

  it('disqualifies a competitor on its first event, for good', () => {
    const { lead, transitions } = applyOn(freshLead('sam@hubspot.com'), [eventOn(0, 'content_download', {}, 'c-1')], 0);
    expect(transitions).toEqual([
      {
        from: 'subscriber',
        to: 'disqualified',
        reason: 'competitor',
        rule: 'fit:email-competitor',
        at: isoDay(0),
        disqualification: 'competitor',
        eventId: 'c-1',
      },
    ]);
    expect(applyOn(lead, [eventOn(1, 'demo_requested', IDEAL_PROFILE)], 1).lead.stage).toBe('disqualified');
  });

  it('lets a purchase make a customer even of a final disqualification (a sale is a fact, not a score)', () => {
    const unsubscribed = applyOn(mqlOnDay0(), [eventOn(1, 'email_unsubscribed')], 1).lead;
    const { lead } = applyOn(unsubscribed, [eventOn(9, 'purchase')], 9);
    expect(lead.stage).toBe('customer');
    expect(lead.suppression.unsubscribed).toBe(true);
    expect(lead.disqualification).toBeUndefined();
  });

  it('disqualifies a poor fit as not_a_fit only once enough of the profile is known', () => {
    const thin = applyOn(
      freshLead('kim@gmail.com'),
      [eventOn(0, 'content_download', { jobTitle: 'Freelance designer' })],
      0,
    );
    expect(thin.lead.stage).toBe('lead');
    const known = applyOn(thin.lead, [eventOn(1, 'form_submitted', { companySize: '1' })], 1);
    expect(known.transitions[0]).toMatchObject({
      to: 'disqualified',
      rule: 'threshold:not_a_fit',
      disqualification: 'not_a_fit',
    });
    expect(known.lead.reviewAt).toBe(isoDay(91));
  });

  it('disqualifies on a not_a_fit rule', () => {
    const model = modelWith((m) => {
      m.fit.rules.unshift({
        id: 'students-out',
        label: 'Student',
        op: 'pattern',
        field: 'jobTitle',
        pattern: 'student',
        points: 0,
        disqualify: 'not_a_fit',
      });
    });
    const { transitions } = applyOn(freshLead(), [eventOn(0, 'form_submitted', { jobTitle: 'Student' })], 0, model);
    expect(transitions.at(-1)).toMatchObject({
      to: 'disqualified',
      rule: 'fit:students-out',
      disqualification: 'not_a_fit',
    });
  });

  it('requalifies a not_a_fit lead as soon as a profile update makes it a fit', () => {
    const poor = applyOn(
      freshLead('kim@gmail.com'),
      [eventOn(0, 'form_submitted', { jobTitle: 'Freelancer', companySize: '1' })],
      0,
    ).lead;
    expect(poor.stage).toBe('disqualified');
    const { lead, transitions } = applyOn(
      poor,
      [eventOn(20, 'form_submitted', { jobTitle: 'Founder', companySize: '51-200' }, 'p-1')],
      20,
    );
    expect(transitions).toEqual([
      {
        from: 'disqualified',
        to: 'lead',
        reason: 'requalified',
        rule: 'threshold:not_a_fit',
        at: isoDay(20),
        eventId: 'p-1',
      },
    ]);
    expect(lead.disqualification).toBeUndefined();
  });

  it('revives an unresponsive lead that acts, not one that merely receives mail', () => {
    const unresponsive = markUnresponsive(mqlOnDay0(), defaultModel, day(40));
    expect(unresponsive.transitions[0]).toMatchObject({
      from: 'mql',
      to: 'disqualified',
      rule: 'lifecycle:unresponsive',
    });
    expect(unresponsive.lead.reviewAt).toBe(isoDay(130));
    expect(applyOn(unresponsive.lead, [eventOn(50, 'email_delivered')], 50).transitions).toEqual([]);
    const { transitions } = applyOn(unresponsive.lead, [eventOn(50, 'pricing_page_viewed', {}, 'pp-1')], 50);
    expect(transitions).toEqual([
      {
        from: 'disqualified',
        to: 'lead',
        reason: 'requalified',
        rule: 'event:pricing_page_viewed',
        at: isoDay(50),
        eventId: 'pp-1',
      },
    ]);
  });

  it('upgrades a revivable disqualification to a final one', () => {
    const unresponsive = markUnresponsive(mqlOnDay0(), defaultModel, day(40)).lead;
    const { lead, transitions } = applyOn(unresponsive, [eventOn(41, 'email_complained')], 41);
    expect(moves(transitions)).toEqual(['disqualified->disqualified']);
    expect(lead.disqualification).toBe('complained');
  });

  it('leaves sales-owned and final stages alone when marking unresponsive', () => {
    const sql = sqlOnDay0();
    expect(markUnresponsive(sql, defaultModel, day(40))).toEqual({ lead: sql, transitions: [] });
  });
});

describe('dormancy', () => {
  it('revives a dormant lead that acts again, at the stage its scores earn', () => {
    const dormant = requalify(mqlOnDay0(), defaultModel, day(110)).lead;
    expect(dormant.stage).toBe('dormant');
    expect(applyOn(dormant, [eventOn(120, 'email_delivered')], 120).transitions).toEqual([]);
    const { lead, transitions } = applyOn(
      dormant,
      [eventOn(120, 'webinar_attended', {}, 'w-1'), eventOn(120, 'content_download', {}, 'w-2')],
      120,
    );
    expect(transitions).toEqual([
      {
        from: 'dormant',
        to: 'lead',
        reason: 'revived',
        rule: 'event:webinar_attended',
        at: isoDay(120),
        eventId: 'w-1',
      },
      // Two moves at one instant: the second is stamped a millisecond later, so no two transitions share an instant.
      {
        from: 'lead',
        to: 'mql',
        reason: 'mql_threshold_met',
        rule: 'threshold:mql',
        at: '2025-05-06T09:00:00.001Z',
        eventId: 'w-2',
      },
    ]);
    expect(lead.reviewAt).toBeDefined();
  });

  it('still disqualifies a dormant lead that unsubscribes', () => {
    const dormant = requalify(mqlOnDay0(), defaultModel, day(110)).lead;
    expect(applyOn(dormant, [eventOn(111, 'email_unsubscribed')], 111).lead.disqualification).toBe('unsubscribed');
  });
});

describe('reviewAt', () => {
  it('is the dormancy date for a funnel lead', () => {
    const { lead } = applyOn(freshLead(), [eventOn(3, 'page_viewed')], 3);
    expect(lead.reviewAt).toBe(isoDay(93));
  });

  it('is the earlier of decay below the MQL threshold and dormancy for an MQL', () => {
    const slow = modelWith((m) => {
      m.engagement.halfLifeDays = 1000;
    });
    const { jobTitle, companySize, industry } = IDEAL_PROFILE;
    const { lead } = applyOn(
      freshLead(),
      [eventOn(0, 'form_submitted', { jobTitle, companySize, industry }), eventOn(0, 'demo_requested')],
      0,
      slow,
    );
    expect(lead.stage).toBe('mql');
    expect(lead.reviewAt).toBe(new Date(Date.parse(lead.stageChangedAt) + 90 * DAY_MS).toISOString());
    expect(lead.reviewAt?.startsWith(isoDay(90).slice(0, 10))).toBe(true);
  });

  it('is undefined for customers, opportunities and final disqualifications', () => {
    expect(applyOn(sqlOnDay0(), [eventOn(1, 'opportunity_created')], 1).lead.reviewAt).toBeUndefined();
    expect(applyOn(sqlOnDay0(), [eventOn(1, 'email_complained')], 1).lead.reviewAt).toBeUndefined();
  });
});

describe('determinism', () => {
  it('produces identical results from identical inputs, whatever the order the events come in', () => {
    const events = [
      eventOn(0, 'form_submitted', IDEAL_PROFILE),
      eventOn(1, 'content_download'),
      eventOn(2, 'demo_requested'),
      eventOn(3, 'sales_rejected'),
      eventOn(3, 'email_opened'),
    ];
    const first = applyOn(freshLead(), events, 10);
    expect(applyOn(freshLead(), [...events].reverse(), 10)).toEqual(first);
    expect(applyOn(freshLead(), [...events, ...events], 10)).toEqual(first);
  });
});
