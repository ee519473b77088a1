import { describe, expect, it } from 'vitest';
import type { LeadEvent } from '../../../lambdas/domain/events.js';
import type { Lead, Stage, StageTransition } from '../../../lambdas/domain/lead.js';
import { requalify } from '../../../lambdas/domain/requalification.js';
import { defaultModel } from '../../../lambdas/domain/scoring/index.js';
import { applyOn, day, eventOn, freshLead } from './support.js';

/** Feeds events to the lead one at a time, as the pipeline would, collecting every transition. */
function live(lead: Lead, events: LeadEvent[]): { lead: Lead; transitions: StageTransition[]; stages: Set<Stage> } {
  let current = lead;
  const transitions: StageTransition[] = [];
  const stages = new Set<Stage>([lead.stage]);
  for (const event of events) {
    const result = applyOn(current, [event], (Date.parse(event.occurredAt) - day(0).getTime()) / 86_400_000);
    current = result.lead;
    transitions.push(...result.transitions);
    stages.add(current.stage);
  }
  return { lead: current, transitions, stages };
}

const ruleIds = (lead: Lead): string[] => (lead.scores?.contributions ?? []).map((c) => c.ruleId);

describe('personas', () => {
  it('an intern researching for a team engages a lot but never becomes an MQL', () => {
    const events = [
      eventOn(0, 'content_download', {
        formId: 'ebook',
        jobTitle: 'Marketing Intern',
        company: 'Northwind Health Tech',
        companySize: '1000+',
        industry: 'Technology',
        authority: 'No, researching for my team',
        timeline: 'Just researching',
      }),
      eventOn(1, 'webinar_registered'),
      eventOn(3, 'webinar_attended'),
      eventOn(4, 'pricing_page_viewed'),
      eventOn(5, 'content_download'),
      eventOn(6, 'page_viewed', { url: 'https://leadloop.example/case-studies/acme' }),
      eventOn(8, 'chatbot_interaction'),
      eventOn(10, 'content_download'),
    ];
    const { lead, stages } = live(freshLead('jordan@northwind-health.com'), events);
    expect(lead.stage).toBe('lead');
    expect([...stages]).toEqual(['subscriber', 'lead']);
    // Grade F (fit -18), yet above the not-a-fit line (-20): nurtured, never handed to sales.
    expect(lead.scores).toMatchObject({ fit: -18, grade: 'F' });
    expect(lead.scores?.engagement ?? 0).toBeGreaterThan(defaultModel.thresholds.mql.engagement);
    expect(ruleIds(lead)).toEqual(
      expect.arrayContaining(['title-student-intern', 'timeline-researching', 'authority-none']),
    );
  });

  it('a freelancer on free mail is not a fit for an enterprise product, even after asking for a demo', () => {
    const events = [
      eventOn(0, 'content_download', { formId: 'ebook', jobTitle: 'Freelance web developer', companySize: '1' }),
      eventOn(2, 'pricing_page_viewed'),
      eventOn(3, 'demo_requested', { budget: 'none', timeline: 'someday' }),
    ];
    const { lead, transitions } = live(freshLead('dev.kim@gmail.com'), events);
    expect(lead).toMatchObject({ stage: 'disqualified', disqualification: 'not_a_fit' });
    expect(lead.scores?.grade).toBe('F');
    expect(transitions.map((t) => t.to)).toEqual(['disqualified']);
    expect(transitions[0]?.rule).toBe('threshold:not_a_fit');
    expect(lead.reviewAt).toBe(day(90).toISOString());
  });

  it('a CFO at a 500-person healthcare company who asks for a demo with budget and timeline is an SQL', () => {
    const events = [
      eventOn(0, 'content_download', {
        formId: 'whitepaper',
        firstName: 'Maria',
        jobTitle: 'CFO',
        company: 'Mercy Valley Health',
        companySize: '500',
        industry: 'Healthcare',
        consent: true,
      }),
      eventOn(2, 'pricing_page_viewed'),
      eventOn(
        3,
        'demo_requested',
        { formId: 'demo-request', budget: '$120k approved', timeline: 'This quarter' },
        'demo-maria',
      ),
    ];
    const { lead, transitions } = live(freshLead('maria.lopez@mercyvalleyhealth.org'), events);
    expect(lead.stage).toBe('sql');
    expect(lead.scores).toMatchObject({ grade: 'A', fit: 62, lastHighIntentAt: day(3).toISOString() });
    expect(transitions.at(-1)).toMatchObject({
      to: 'sql',
      rule: 'threshold:sql',
      eventId: 'demo-maria',
      at: day(3).toISOString(),
    });
    expect(ruleIds(lead)).toEqual(
      expect.arrayContaining([
        'title-decision-maker',
        'size-201-1000',
        'industry-icp',
        'budget-named',
        'demo-requested',
      ]),
    );
  });

  it('a reader who opens every newsletter for a year never becomes an SQL (nor, without a profile, a lead)', () => {
    const weekly = Array.from({ length: 52 }, (_, week) => [
      eventOn(week * 7, 'email_sent'),
      eventOn(week * 7, 'email_delivered'),
      eventOn(week * 7 + 0.5, 'email_opened'),
    ]).flat();
    const anonymous = live(freshLead('reader@acme-builders.com'), [
      eventOn(0, 'newsletter_signup', { consent: true }),
      ...weekly,
    ]);
    expect([...anonymous.stages]).toEqual(['subscriber']);
    expect(anonymous.lead.scores?.engagement ?? Infinity).toBeLessThan(defaultModel.thresholds.mql.engagement);

    const profiled = live(freshLead('reader@acme-builders.com'), [
      eventOn(0, 'newsletter_signup', {
        consent: true,
        jobTitle: 'Director of Operations',
        companySize: '500',
        industry: 'Construction',
      }),
      ...weekly,
    ]);
    expect(profiled.stages.has('sql')).toBe(false);
    expect([...profiled.stages].every((stage) => ['subscriber', 'lead', 'mql'].includes(stage))).toBe(true);
    expect(requalify(profiled.lead, defaultModel, day(365)).lead.stage).not.toBe('dormant');
  });

  it('a competitor is disqualified on sight and never comes back', () => {
    const events = [
      eventOn(0, 'demo_requested', {
        jobTitle: 'VP Product',
        companySize: '5000+',
        industry: 'SaaS',
        budget: 'yes',
        timeline: 'ASAP',
      }),
      eventOn(1, 'discovery_call_booked'),
    ];
    const { lead, transitions } = live(freshLead('ana@marketo.com'), events);
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({
      to: 'disqualified',
      disqualification: 'competitor',
      rule: 'fit:email-competitor',
    });
    expect(lead.reviewAt).toBeUndefined();
    expect(requalify(lead, defaultModel, day(1000)).lead.disqualification).toBe('competitor');
  });
});
