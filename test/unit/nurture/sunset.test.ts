import { describe, expect, it } from 'vitest';
import type { Lead } from '../../../lambdas/domain/lead.js';
import { markUnresponsive } from '../../../lambdas/domain/lifecycle.js';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import { chooseTrack } from '../../../lambdas/domain/nurture/enrollment.js';
import { withExhaustion } from '../../../lambdas/domain/nurture/sunset.js';
import { parseNurturePlan, trackById } from '../../../lambdas/domain/nurture/tracks.js';
import { requalify } from '../../../lambdas/domain/requalification.js';
import { applyEvents, defaultModel, rescore } from '../../../lambdas/domain/scoring/index.js';
import { event, lead, NOW } from './support.js';

const tracks = DEFAULT_NURTURE_PLAN.tracks;
const newsletter = trackById(DEFAULT_NURTURE_PLAN, 'newsletter');
const reengagement = trackById(DEFAULT_NURTURE_PLAN, 're-engagement');
const DAY = 86_400_000;
const later = (days: number) => new Date(NOW.getTime() + days * DAY);
const scored = (fit: number) => ({
  fit,
  engagement: 0,
  total: fit,
  grade: 'D' as const,
  contributions: [],
  scoredAt: NOW.toISOString(),
  caps: {},
});

/** A lead whose run of `track` just ran out without engagement: marked as the evaluation marks it. */
function exhausted(l: Lead, trackId: string, at: Date): Lead {
  return markUnresponsive(withExhaustion(l, trackById(DEFAULT_NURTURE_PLAN, trackId), tracks, at), defaultModel, at)
    .lead;
}

/** The lead after the cool-off, requalified by the sweep's rules as of `at`. */
const afterCoolOff = (l: Lead, at: Date) => requalify(l, defaultModel, at);

describe('sunset policy', () => {
  // A lead (it did more than subscribe) scored as the model scores it, so its fit is what requalification computes.
  const quiet = rescore(
    lead({ stage: 'lead', leadSince: '2026-02-01T00:00:00.000Z', profile: { company: 'Quiet Co' } }),
    defaultModel,
    NOW,
  ).lead;

  it('does not restart an exhausted track without new evidence: one re-engagement mail instead', () => {
    const out = exhausted(quiet, 'newsletter', NOW);
    const back = afterCoolOff(out, later(91));

    expect(out.sunset).toMatchObject({ cycles: 1, exhausted: [{ track: 'newsletter', fit: quiet.scores?.fit }] });
    expect(out.sunset?.sunsetAt).toBeUndefined();
    expect(back.lead.stage).toBe('lead');
    expect(back.actions).toEqual(['enroll']);
    expect(chooseTrack(back.lead, tracks)?.id).toBe('re-engagement');
  });

  it('sunsets the lead after the re-engagement cycle: no track, no cool-off revival, no more reviews', () => {
    const first = exhausted(quiet, 'newsletter', NOW);
    const back = afterCoolOff(first, later(91)).lead;
    const sunset = exhausted(back, 're-engagement', later(105));
    const years = afterCoolOff(sunset, later(105 + 2 * 365));

    expect(sunset.sunset).toMatchObject({ cycles: 2, sunsetAt: later(105).toISOString() });
    expect(sunset.reviewAt).toBeUndefined();
    expect(chooseTrack(sunset, tracks)).toBeUndefined();
    expect(years.transitions).toEqual([]);
    expect(years.lead.stage).toBe('disqualified');
    expect(years.actions).toEqual([]);
  });

  it('lifts the sunset when the lead acts: it is requalified at once and mailed its track again', () => {
    const back = afterCoolOff(exhausted(quiet, 'newsletter', NOW), later(91)).lead;
    const sunset = exhausted(back, 're-engagement', later(105));
    const visit = event('page_viewed', later(400).toISOString(), { url: 'https://example.com/blog' }, 'api');

    const acted = applyEvents(sunset, [visit], defaultModel, later(400));

    expect(acted.lead.stage).toBe('lead');
    expect(acted.transitions).toEqual([
      expect.objectContaining({ from: 'disqualified', to: 'lead', reason: 'requalified' }),
    ]);
    expect(chooseTrack(acted.lead, tracks)?.id).toBe('newsletter');
  });

  it('re-enrolls an exhausted track when the lead engaged since, or its fit changed', () => {
    const out = exhausted(quiet, 'newsletter', NOW);
    const back = afterCoolOff(out, later(91)).lead;

    expect(chooseTrack({ ...back, lastEngagedAt: later(50).toISOString() }, tracks)?.id).toBe('newsletter');
    expect(chooseTrack({ ...back, scores: scored((quiet.scores?.fit ?? 0) + 7) }, tracks)?.id).toBe('newsletter');
    expect(chooseTrack(back, tracks)?.id).toBe('re-engagement');
  });

  it('never picks the re-engagement track by its entry criteria alone', () => {
    expect(chooseTrack(quiet, tracks)?.id).toBe('newsletter');
    expect(chooseTrack(lead({ stage: 'mql', scores: scored(20) }), tracks)?.id).toBe('case-studies');
    expect(chooseTrack(lead({ stage: 'subscriber' }), tracks)?.id).toBe('newsletter');
    expect(reengagement.entry.stages).toContain('lead');
  });

  it('is configured in the tracks file: more cycles, or none (sunset right after the first track)', () => {
    const withTracks = (maxCycles: number | undefined) =>
      parseNurturePlan({
        ...DEFAULT_NURTURE_PLAN,
        tracks: tracks
          .filter((t) => maxCycles !== undefined || t.reengagement === undefined)
          .map((t) => (t.reengagement ? { ...t, reengagement: { maxCycles } } : t)),
      }).tracks;
    const two = withTracks(2);
    const none = withTracks(undefined);

    const once = withExhaustion(quiet, newsletter, two, NOW);
    const twice = withExhaustion(
      once,
      trackById({ ...DEFAULT_NURTURE_PLAN, tracks: two }, 're-engagement'),
      two,
      later(1),
    );
    expect(twice.sunset).toMatchObject({ cycles: 2 });
    expect(twice.sunset?.sunsetAt).toBeUndefined();
    expect(withExhaustion(quiet, newsletter, none, NOW).sunset?.sunsetAt).toBe(NOW.toISOString());
    expect(() =>
      parseNurturePlan({
        ...DEFAULT_NURTURE_PLAN,
        tracks: [...tracks, { ...reengagement, id: 'another-reengagement' }],
      }),
    ).toThrow(/at most one track may be the re-engagement track/);
  });
});
