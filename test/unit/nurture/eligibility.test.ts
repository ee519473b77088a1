import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import { frequencyCapFreeAt, suppressionOf, touchEligibility } from '../../../lambdas/domain/nurture/eligibility.js';
import type { LeadEvent } from '../../../lambdas/domain/events.js';
import { event, lead, NOW, sent } from './support.js';

const policy = DEFAULT_NURTURE_PLAN.policy;
const ago = (days: number) => new Date(NOW.getTime() - days * 86_400_000).toISOString();

describe('touch eligibility', () => {
  it('sends to a consenting lead inside its window and under the cap', () => {
    expect(touchEligibility({ lead: lead(), events: [sent(ago(2))], policy, now: NOW })).toEqual({ kind: 'send' });
  });

  it('skips suppressed leads and leads without marketing consent', () => {
    const suppression = { unsubscribed: false, hardBounced: false, complained: false, transientBounces: 0 };
    expect(
      touchEligibility({
        lead: lead({ suppression: { ...suppression, complained: true } }),
        events: [],
        policy,
        now: NOW,
      }),
    ).toEqual({ kind: 'skip', reason: 'complained' });
    expect(touchEligibility({ lead: lead({ consent: undefined }), events: [], policy, now: NOW })).toEqual({
      kind: 'skip',
      reason: 'no_consent',
    });
    expect(
      touchEligibility({
        lead: lead({ consent: { marketing: false, at: NOW.toISOString(), source: 'form' } }),
        events: [],
        policy,
        now: NOW,
      }),
    ).toEqual({ kind: 'skip', reason: 'no_consent' });
  });

  it('reads suppression from events scoring has not applied yet', () => {
    expect(suppressionOf(lead(), [event('email_unsubscribed', ago(0))])).toBe('unsubscribed');
    expect(suppressionOf(lead(), [event('email_bounced', ago(0), { bounceType: 'permanent' })])).toBe('hard_bounced');
    expect(suppressionOf(lead(), [event('email_bounced', ago(0), { bounceType: 'transient' })])).toBeUndefined();
  });

  it('holds a touch over the frequency cap until the oldest send in the window ages out', () => {
    const events = [sent(ago(1)), sent(ago(6)), sent(ago(3)), sent(ago(9))];
    expect(frequencyCapFreeAt(events, { maxEmails: 3, perDays: 7 }, NOW)?.toISOString()).toBe(
      new Date(Date.parse(ago(6)) + 7 * 86_400_000).toISOString(),
    );
    expect(touchEligibility({ lead: lead(), events, policy, now: NOW })).toEqual({
      kind: 'defer',
      reason: 'frequency_cap',
      until: new Date('2026-03-03T15:00:00.000Z'),
    });
    expect(frequencyCapFreeAt([sent(ago(1)), sent(ago(3))], { maxEmails: 3, perDays: 7 }, NOW)).toBeUndefined();
  });

  it('counts only nurture sends toward the cap', () => {
    const transactional = event('email_sent', ago(1), {}, 'system');
    expect(
      frequencyCapFreeAt([transactional, transactional, transactional], { maxEmails: 1, perDays: 7 }, NOW),
    ).toBeUndefined();
  });

  it('holds a touch outside the send window until the window opens in the lead’s zone', () => {
    const sundayNight = new Date('2026-03-01T23:00:00Z');
    expect(
      touchEligibility({
        lead: lead({ profile: { timeZone: 'Europe/Berlin' } }),
        events: [],
        policy,
        now: sundayNight,
      }),
    ).toEqual({
      kind: 'defer',
      reason: 'send_window',
      until: new Date('2026-03-02T08:00:00.000Z'),
    });
  });

  it('never sends to a suppressed lead or one without consent, whatever else holds', () => {
    const eventTypes = fc.constantFrom<LeadEvent['type']>(
      'email_sent',
      'email_opened',
      'email_clicked',
      'email_unsubscribed',
      'email_complained',
      'email_bounced',
      'page_viewed',
    );
    fc.assert(
      fc.property(
        fc.record({
          unsubscribed: fc.boolean(),
          hardBounced: fc.boolean(),
          complained: fc.boolean(),
          transientBounces: fc.nat(5),
        }),
        fc.option(fc.boolean(), { nil: undefined }),
        fc.array(fc.tuple(eventTypes, fc.integer({ min: 0, max: 20 }), fc.constantFrom('permanent', 'transient')), {
          maxLength: 12,
        }),
        fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T00:00:00Z'), noInvalidDate: true }),
        fc.constantFrom('UTC', 'America/Chicago', 'Asia/Tokyo', undefined),
        (suppression, marketing, raw, now, timeZone) => {
          const events = raw.map(([type, days, bounceType]) =>
            event(
              type,
              new Date(now.getTime() - days * 86_400_000).toISOString(),
              type === 'email_bounced' ? { bounceType } : {},
              type === 'email_sent' ? 'nurture' : 'ses',
            ),
          );
          const l = lead({
            suppression,
            consent: marketing === undefined ? undefined : { marketing, at: now.toISOString(), source: 'form' },
            profile: { timeZone },
          });
          const result = touchEligibility({ lead: l, events, policy, now });
          const mustNotSend = marketing !== true || suppressionOf(l, events) !== undefined;
          if (mustNotSend) expect(result.kind).toBe('skip');
          if (result.kind === 'defer') expect(result.until.getTime()).toBeGreaterThan(now.getTime());
        },
      ),
      { numRuns: 1000 },
    );
  });
});
