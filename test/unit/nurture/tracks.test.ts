import { describe, expect, it } from 'vitest';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import {
  InvalidNurturePlanError,
  parseNurturePlan,
  touchAt,
  trackById,
} from '../../../lambdas/domain/nurture/tracks.js';

const plan = structuredClone(DEFAULT_NURTURE_PLAN);

describe('the tracks file', () => {
  it('ships newsletter, case studies, testimonials and the re-engagement track, each with touches and waits', () => {
    expect(DEFAULT_NURTURE_PLAN.tracks.map((t) => t.id).sort()).toEqual([
      'case-studies',
      'newsletter',
      're-engagement',
      'testimonials',
    ]);
    expect(trackById(DEFAULT_NURTURE_PLAN, 're-engagement')).toMatchObject({
      touches: [{ template: 're-engagement-1' }],
      reengagement: { maxCycles: 1 },
    });
    expect(trackById(DEFAULT_NURTURE_PLAN, 'case-studies').touches.map((t) => [t.template, t.waitDays])).toEqual([
      ['case-study-1', 4],
      ['case-study-2', 4],
      ['case-study-3', 5],
    ]);
    expect(touchAt(trackById(DEFAULT_NURTURE_PLAN, 'case-studies'), 1).variants).toEqual([
      'real-estate',
      'general-contractor',
      'healthcare',
      'tech-support',
    ]);
  });

  it('names every offending path of an invalid file', () => {
    const bad = structuredClone(plan);
    const [first, second] = bad.tracks;
    if (!first || !second) throw new Error('fixture');
    second.id = first.id;
    first.touches[0] = {
      ...first.touches[0],
      name: 'Case Study!',
      template: 'case-study-1',
      variants: ['aerospace'],
      waitDays: 0,
    };
    first.entry.stages = ['mql', 'sql'];
    const error = (() => {
      try {
        parseNurturePlan(bad);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InvalidNurturePlanError);
    const message = String(error instanceof Error ? error.message : error);
    expect(message).toContain('tracks.0.touches.0.name');
    expect(message).toContain('tracks.0.touches.0.waitDays');
    expect(message).toContain('unknown industry "aerospace"');
    expect(message).toContain('stage "sql" both enters and exits the track');
    expect(message).toContain(`duplicate track "${first.id}"`);
  });

  it('rejects an unknown time zone and an empty send window', () => {
    const bad = structuredClone(plan);
    bad.policy.defaultTimeZone = 'Mars/Olympus_Mons';
    bad.policy.sendWindow = { days: [1], startHour: 17, endHour: 9 };
    expect(() => parseNurturePlan(bad)).toThrow(
      /policy\.defaultTimeZone: is not an IANA time zone[\s\S]*policy\.sendWindow: startHour must be before endHour/,
    );
  });

  it('fails loudly on an unknown track or touch', () => {
    expect(() => trackById(DEFAULT_NURTURE_PLAN, 'webinars')).toThrow('no nurture track "webinars"');
    expect(() => touchAt(trackById(DEFAULT_NURTURE_PLAN, 'newsletter'), 4)).toThrow(
      'track "newsletter" has no touch 4',
    );
  });
});
