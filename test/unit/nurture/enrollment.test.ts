import { describe, expect, it } from 'vitest';
import type { Lead } from '../../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import { chooseTrack, enrollmentDecision, withEnrollment } from '../../../lambdas/domain/nurture/enrollment.js';
import { nurtureExecutionName } from '../../../lambdas/domain/nurture/execution-name.js';
import { lead, NOW } from './support.js';

const tracks = DEFAULT_NURTURE_PLAN.tracks;
const scores = (grade: 'A' | 'C', engagement: number) => ({
  fit: 40,
  engagement,
  total: 40 + engagement,
  grade,
  contributions: [],
  scoredAt: NOW.toISOString(),
  caps: {},
});
const at = (stage: Lead['stage'], extra: Partial<Lead> = {}) =>
  lead({ stage, stageChangedAt: '2026-03-01T10:00:00.000Z', ...extra });
const active = (track: string, executionName: string) => ({
  track,
  executionName,
  status: 'active' as const,
  enrolledAt: '2026-02-01T00:00:00.000Z',
  touchesSent: 1,
});

describe('choosing a track', () => {
  it('puts subscribers and early leads in the newsletter, MQLs in case studies, engaged A/B MQLs in testimonials', () => {
    expect(chooseTrack(at('subscriber'), tracks)?.id).toBe('newsletter');
    expect(chooseTrack(at('lead'), tracks)?.id).toBe('newsletter');
    expect(chooseTrack(at('mql', { scores: scores('C', 60) }), tracks)?.id).toBe('case-studies');
    expect(chooseTrack(at('mql', { scores: scores('A', 20) }), tracks)?.id).toBe('case-studies');
    expect(chooseTrack(at('mql', { scores: scores('A', 45) }), tracks)?.id).toBe('testimonials');
    expect(chooseTrack(at('sql'), tracks)).toBeUndefined();
    expect(chooseTrack(at('customer'), tracks)).toBeUndefined();
  });

  it('enrolls nobody who may not be mailed', () => {
    expect(chooseTrack(at('subscriber', { consent: undefined }), tracks)).toBeUndefined();
    expect(
      chooseTrack(
        at('subscriber', {
          suppression: { unsubscribed: true, hardBounced: false, complained: false, transientBounces: 0 },
        }),
        tracks,
      ),
    ).toBeUndefined();
  });
});

describe('enrollment after a scoring commit', () => {
  it('starts the track of a new lead, named by lead, track and stage change', () => {
    const after = at('subscriber');
    const name = nurtureExecutionName(after.leadId, 'newsletter', after.stageChangedAt);
    expect(enrollmentDecision(undefined, after, tracks)).toEqual({
      start: { track: 'newsletter', executionName: name },
    });
    expect(name).toBe('01JLEAD0000000000000000000-newsletter-20260301T100000Z');
  });

  it('does not start a run that already ran for this stage (repeat commits are no-ops)', () => {
    const name = nurtureExecutionName('01JLEAD0000000000000000000', 'newsletter', '2026-03-01T10:00:00.000Z');
    const done = at('subscriber', { nurture: { ...active('newsletter', name), status: 'completed' } });
    expect(enrollmentDecision(done, done, tracks)).toEqual({});
  });

  it('keeps a running track while the lead stays in it, and on promotion (the run hands off itself)', () => {
    const running = at('lead', { nurture: active('newsletter', 'n-1') });
    expect(enrollmentDecision(at('subscriber', { nurture: active('newsletter', 'n-1') }), running, tracks)).toEqual({});
    const promoted = at('sql', { nurture: active('case-studies', 'c-1') });
    expect(enrollmentDecision(at('mql', { nurture: active('case-studies', 'c-1') }), promoted, tracks)).toEqual({});
  });

  it('moves a lead to its new stage’s track: stop, then start', () => {
    const before = at('lead', { nurture: active('newsletter', 'n-1') });
    const after = at('mql', { nurture: active('newsletter', 'n-1'), stageChangedAt: '2026-03-02T09:00:00.000Z' });
    expect(enrollmentDecision(before, after, tracks)).toEqual({
      stop: { track: 'newsletter', executionName: 'n-1' },
      start: { track: 'case-studies', executionName: '01JLEAD0000000000000000000-case-studies-20260302T090000Z' },
    });
  });

  it('does not switch tracks on a score change alone', () => {
    const before = at('mql', { scores: scores('A', 20), nurture: active('case-studies', 'c-1') });
    const after = at('mql', { scores: scores('A', 50), nurture: active('case-studies', 'c-1') });
    expect(enrollmentDecision(before, after, tracks)).toEqual({});
  });

  it('stops the run of a lead that may no longer be mailed or left the funnel, or was erased', () => {
    const running = { nurture: active('newsletter', 'n-1') };
    expect(
      enrollmentDecision(
        at('lead', running),
        at('lead', {
          ...running,
          suppression: { unsubscribed: true, hardBounced: false, complained: false, transientBounces: 0 },
        }),
        tracks,
      ),
    ).toEqual({
      stop: { track: 'newsletter', executionName: 'n-1' },
    });
    expect(enrollmentDecision(at('lead', running), at('dormant', running), tracks)).toEqual({
      stop: { track: 'newsletter', executionName: 'n-1' },
    });
    expect(enrollmentDecision(at('lead', running), undefined, tracks)).toEqual({
      stop: { track: 'newsletter', executionName: 'n-1' },
    });
  });

  it('records the decision on the lead', () => {
    const started = withEnrollment(at('subscriber'), { start: { track: 'newsletter', executionName: 'n-2' } }, NOW);
    expect(started.nurture).toEqual({
      track: 'newsletter',
      executionName: 'n-2',
      status: 'active',
      enrolledAt: NOW.toISOString(),
      touchesSent: 0,
    });
    const stopped = withEnrollment(
      at('lead', { nurture: active('newsletter', 'n-1') }),
      { stop: { track: 'newsletter', executionName: 'n-1' } },
      NOW,
    );
    expect(stopped.nurture?.status).toBe('stopped');
  });
});
