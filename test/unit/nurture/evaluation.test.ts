import { describe, expect, it } from 'vitest';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import { isEngagement, reevaluate, trackStanding } from '../../../lambdas/domain/nurture/evaluation.js';
import { trackById } from '../../../lambdas/domain/nurture/tracks.js';
import { event, lead, NOW, sent } from './support.js';

const caseStudies = trackById(DEFAULT_NURTURE_PLAN, 'case-studies');
const newsletter = trackById(DEFAULT_NURTURE_PLAN, 'newsletter');
const run = 'lead-case-studies-run';
const nurture = {
  track: 'case-studies',
  executionName: run,
  status: 'active' as const,
  enrolledAt: '2026-02-20T00:00:00.000Z',
  touchesSent: 3,
};
const decide = (
  l: ReturnType<typeof lead> | undefined,
  events = [sent('2026-02-20T00:00:00.000Z', { executionName: run })],
  touch = 3,
) => reevaluate({ lead: l, events, track: caseStudies, touch, executionName: run, now: NOW });

describe('re-evaluation after a wait', () => {
  it('hands off a lead that reached SQL', () => {
    expect(decide(lead({ stage: 'sql', nurture }), [], 1)).toBe('promoted');
  });

  it('ends for disqualified, unsubscribed, suppressed, non-consenting, departed and erased leads', () => {
    expect(decide(lead({ stage: 'disqualified', disqualification: 'competitor' }), [], 1)).toBe('disqualified');
    expect(decide(lead({ stage: 'disqualified', disqualification: 'unsubscribed' }), [], 1)).toBe('unsubscribed');
    expect(decide(lead({ stage: 'mql' }), [event('email_unsubscribed', NOW.toISOString())], 1)).toBe('unsubscribed');
    expect(
      decide(
        lead({
          stage: 'mql',
          suppression: { unsubscribed: false, hardBounced: true, complained: false, transientBounces: 0 },
        }),
        [],
        1,
      ),
    ).toBe('suppressed');
    expect(decide(lead({ stage: 'mql', consent: undefined }), [], 1)).toBe('no_consent');
    expect(decide(lead({ stage: 'dormant' }), [], 1)).toBe('exited');
    expect(decide(lead({ stage: 'lead' }), [], 1)).toBe('exited');
    expect(decide(undefined, [], 1)).toBe('gone');
  });

  it('goes on to the next touch while the track lasts', () => {
    expect(decide(lead({ stage: 'mql', nurture }), [], 2)).toBe('next');
  });

  it('calls an exhausted track unresponsive without engagement since enrollment, completed with it', () => {
    expect(decide(lead({ stage: 'mql', nurture }))).toBe('unresponsive');
    expect(decide(lead({ stage: 'mql', nurture }), [event('email_opened', '2026-02-10T00:00:00.000Z')])).toBe(
      'unresponsive',
    );
    expect(decide(lead({ stage: 'mql', nurture }), [event('email_clicked', '2026-02-25T00:00:00.000Z')])).toBe(
      'completed',
    );
    expect(decide(lead({ stage: 'mql', nurture, lastEngagedAt: '2026-02-26T00:00:00.000Z' }), [])).toBe('completed');
    expect(
      decide(lead({ stage: 'mql', nurture }), [event('email_opened', '2026-02-25T00:00:00.000Z', { machine: true })]),
    ).toBe('unresponsive');
  });

  it('counts people’s actions as engagement, not what mail servers report', () => {
    expect(isEngagement(event('email_opened', NOW.toISOString()))).toBe(true);
    expect(isEngagement(event('page_viewed', NOW.toISOString()))).toBe(true);
    expect(isEngagement(event('email_delivered', NOW.toISOString()))).toBe(false);
    expect(isEngagement(event('email_sent', NOW.toISOString()))).toBe(false);
    expect(isEngagement(event('sales_rejected', NOW.toISOString()))).toBe(false);
  });

  it('treats a newsletter lead that became an MQL as having left the newsletter', () => {
    expect(trackStanding(lead({ stage: 'mql' }), [], newsletter)).toBe('exited');
    expect(trackStanding(lead({ stage: 'subscriber' }), [], newsletter)).toBe('continue');
  });
});
