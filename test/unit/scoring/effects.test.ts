import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../../lambdas/domain/events.js';
import { isLeadActivity } from '../../../lambdas/domain/scoring/index.js';
import { applyOn, eventOn, freshLead, isoDay } from './support.js';

describe('effects of events on the lead', () => {
  it('copies profile and BANT fields found in the properties; a non-empty string overwrites', () => {
    const { lead } = applyOn(
      freshLead(),
      [
        eventOn(0, 'form_submitted', { firstName: 'Pat', jobTitle: 'Manager', budget: '10k', companySize: 200 }),
        eventOn(1, 'form_submitted', { jobTitle: '  Director  ', firstName: '', budget: null, timeline: 'Q3' }),
      ],
      1,
    );
    expect(lead.profile).toEqual({ firstName: 'Pat', jobTitle: 'Director' });
    expect(lead.bant).toEqual({ budget: '10k', timeline: 'Q3' });
  });

  it('records consent with its source and ip; a later answer replaces it', () => {
    const first = applyOn(
      freshLead(),
      [eventOn(0, 'form_submitted', { consent: true, formId: 'ebook', ip: '203.0.113.9' })],
      0,
    );
    expect(first.lead.consent).toEqual({ marketing: true, at: isoDay(0), source: 'ebook', ip: '203.0.113.9' });
    const second = applyOn(first.lead, [eventOn(2, 'chatbot_interaction', { consent: false })], 2);
    expect(second.lead.consent).toEqual({ marketing: false, at: isoDay(2), source: 'api' });
  });

  it('keeps the newer consent when an older answer arrives late', () => {
    const first = applyOn(freshLead(), [eventOn(5, 'form_submitted', { consent: false, formId: 'prefs' })], 5);
    const late = applyOn(first.lead, [eventOn(1, 'form_submitted', { consent: true, formId: 'ebook' })], 6);
    expect(late.lead.consent?.marketing).toBe(false);
  });

  it('keeps first and last form and utm parameters', () => {
    const { lead } = applyOn(
      freshLead(),
      [
        eventOn(0, 'newsletter_signup', { formId: 'newsletter', utm_source: 'google', utm_campaign: 'spring' }),
        eventOn(1, 'page_viewed', { url: '/pricing' }),
        eventOn(2, 'demo_requested', { formId: 'demo-request', utm_source: 'linkedin', utm_medium: '' }),
      ],
      2,
    );
    expect(lead.attribution).toEqual({
      firstForm: 'newsletter',
      lastForm: 'demo-request',
      firstUtm: { utm_source: 'google', utm_campaign: 'spring' },
      lastUtm: { utm_source: 'linkedin' },
    });
  });

  it('sets suppression from unsubscribes, complaints and bounces', () => {
    const { lead } = applyOn(
      freshLead(),
      [
        eventOn(0, 'email_unsubscribed'),
        eventOn(0, 'email_complained'),
        eventOn(1, 'email_bounced', { bounceType: 'permanent' }),
      ],
      1,
    );
    expect(lead.suppression).toEqual({ unsubscribed: true, complained: true, hardBounced: true, transientBounces: 0 });
  });

  it('counts transient bounces until a delivery, open or click shows the address works', () => {
    const bounced = applyOn(
      freshLead(),
      [
        eventOn(0, 'email_bounced', { bounceType: 'transient' }),
        eventOn(1, 'email_bounced', { bounceType: 'transient' }),
      ],
      1,
    ).lead;
    expect(bounced.suppression.transientBounces).toBe(2);
    for (const type of ['email_delivered', 'email_opened', 'email_clicked'] as const) {
      expect(applyOn(bounced, [eventOn(2, type)], 2).lead.suppression.transientBounces).toBe(0);
    }
  });

  it('moves lastActivityAt on actions by the lead, not on sends, deliveries or sales verdicts', () => {
    const { lead } = applyOn(
      freshLead(),
      [
        eventOn(3, 'page_viewed'),
        eventOn(5, 'email_sent'),
        eventOn(6, 'email_delivered'),
        eventOn(7, 'sales_accepted'),
      ],
      7,
    );
    expect(lead.lastActivityAt).toBe(isoDay(3));
  });

  it('never moves lastActivityAt back for a late event', () => {
    const first = applyOn(freshLead(), [eventOn(5, 'page_viewed')], 5).lead;
    expect(applyOn(first, [eventOn(2, 'page_viewed')], 6).lead.lastActivityAt).toBe(isoDay(5));
  });

  it('classifies every event type', () => {
    const passive = EVENT_TYPES.filter((type) => !isLeadActivity(eventOn(0, type)));
    expect(passive).toEqual([
      'sales_accepted',
      'sales_rejected',
      'email_sent',
      'email_delivered',
      'email_bounced',
      'email_rejected',
      'email_delivery_delayed',
      'email_rendering_failed',
      'touch_held_out',
    ]);
  });

  it('counts an event from the future as of now', () => {
    const { lead } = applyOn(freshLead(), [eventOn(9, 'page_viewed')], 4);
    expect(lead.lastActivityAt).toBe(isoDay(4));
  });

  it('does not touch the version', () => {
    const lead = { ...freshLead(), version: 7 };
    expect(applyOn(lead, [eventOn(1, 'demo_requested')], 1).lead.version).toBe(7);
  });

  it('does not change the lead it is given', () => {
    const lead = freshLead();
    const snapshot = structuredClone(lead);
    applyOn(
      lead,
      [
        eventOn(1, 'form_submitted', { jobTitle: 'CEO', consent: true, utm_source: 'x' }),
        eventOn(2, 'email_unsubscribed'),
      ],
      2,
    );
    expect(lead).toEqual(snapshot);
  });
});
