import { describe, expect, it } from 'vitest';
import type { Lead } from '../../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import { sunsetReport } from '../../../lambdas/domain/simulation.js';
import { lead } from '../nurture/support.js';

const at = '2026-01-10T00:00:00.000Z';
const scores = {
  fit: 5,
  engagement: 0,
  total: 5,
  grade: 'D' as const,
  contributions: [],
  scoredAt: at,
  caps: {},
};
const unresponsive = (extra: Partial<Lead> = {}): Lead =>
  lead({
    stage: 'disqualified',
    disqualification: 'unresponsive',
    scores,
    sunset: { exhausted: [{ track: 'newsletter', at, fit: 5 }], cycles: 1 },
    ...extra,
  });

describe('sunset report (leadloop simulate)', () => {
  it('counts leads by what the sunset policy does with them next', () => {
    const leads = [
      lead({ stage: 'lead' }),
      unresponsive(),
      unresponsive({ lastEngagedAt: '2026-02-01T00:00:00.000Z' }),
      unresponsive({ sunset: { exhausted: [{ track: 'newsletter', at, fit: 5 }], cycles: 2, sunsetAt: at } }),
    ];

    expect(sunsetReport(leads, DEFAULT_NURTURE_PLAN.tracks)).toEqual({
      exhausted: 3,
      reengagement: 1,
      sunset: 1,
      reenrollable: 1,
    });
  });
});
