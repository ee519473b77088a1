import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { newLead } from '../../../lambdas/domain/lead.js';
import { applyEvents, defaultModel } from '../../../lambdas/domain/scoring/index.js';

/** The example landing page's select values must mean to the default model what their labels say. */
function optionValues(select: string): string[] {
  const html = readFileSync(new URL('../../../lib/local/landing/index.html', import.meta.url), 'utf8');
  const block = html.match(new RegExp(`<select[^>]*name="${select}"[\\s\\S]*?</select>`))?.[0] ?? '';
  return [...block.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1] as string);
}

function fitRules(profile: Record<string, string>): string[] {
  const at = new Date('2026-03-02T10:00:00Z');
  const { lead } = applyEvents(
    newLead('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'ops@acme-builders.com', at),
    [
      {
        eventId: 'e1',
        leadId: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
        type: 'demo_requested',
        occurredAt: at.toISOString(),
        receivedAt: at.toISOString(),
        source: 'form',
        properties: profile,
      },
    ],
    defaultModel,
    at,
  );
  return (lead.scores?.contributions ?? []).filter((c) => c.kind === 'fit').map((c) => c.ruleId);
}

describe('landing-page form values under the default model', () => {
  it('scores every ideal-customer industry the form offers, and not "other"', () => {
    const values = optionValues('industry');
    expect(values).toEqual(
      expect.arrayContaining(['real-estate', 'general-contractor', 'healthcare', 'tech-support', 'other']),
    );
    for (const industry of values.filter((v) => v !== 'other'))
      expect(fitRules({ industry })).toContain('industry-icp');
    expect(fitRules({ industry: 'other' })).not.toContain('industry-icp');
  });

  it('reads each timeline choice as the label says', () => {
    expect(optionValues('timeline')).toEqual(['now', 'this-quarter', 'next-quarter', 'this-year', 'researching']);
    expect(fitRules({ timeline: 'now' })).toContain('timeline-this-quarter');
    expect(fitRules({ timeline: 'this-quarter' })).toContain('timeline-this-quarter');
    expect(fitRules({ timeline: 'next-quarter' })).toContain('timeline-this-year');
    expect(fitRules({ timeline: 'this-year' })).toContain('timeline-this-year');
    expect(fitRules({ timeline: 'researching' })).toContain('timeline-researching');
  });
});
