import { describe, expect, it } from 'vitest';
import type { LeadEvent } from '../../../lambdas/domain/events.js';
import { newLead } from '../../../lambdas/domain/lead.js';
import { defaultModel, parseModel } from '../../../lambdas/domain/scoring/index.js';
import { compareModels, type LeadHistory } from '../../../lambdas/domain/simulation.js';

const at = (day: number) => new Date(Date.UTC(2026, 2, 1 + day, 10)).toISOString();
const event = (
  leadId: string,
  n: number,
  type: LeadEvent['type'],
  properties: LeadEvent['properties'] = {},
): LeadEvent => ({
  eventId: `${leadId}-${n}`,
  leadId,
  type,
  occurredAt: at(n),
  receivedAt: at(n),
  source: 'api',
  properties,
});

function history(leadId: string, email: string, events: LeadEvent[]): LeadHistory {
  return { lead: newLead(leadId, email, new Date(at(0))), events };
}

const director = (id: string) =>
  history(id, `${id}@acme-health.com`, [
    event(id, 0, 'content_download', {
      formId: 'content-download',
      jobTitle: 'Director of Operations',
      companySize: '500',
      industry: 'Healthcare',
    }),
    event(id, 1, 'webinar_registered'),
    event(id, 2, 'pricing_page_viewed', { url: '/pricing' }),
    event(id, 3, 'content_download', { formId: 'content-download' }),
  ]);
const reader = (id: string) =>
  history(id, `${id}@gmail.com`, [event(id, 0, 'newsletter_signup'), event(id, 1, 'email_opened')]);

describe('compareModels (the model preview)', () => {
  const now = new Date(at(5));

  it('reports no change when the candidate is the current model', () => {
    const c = compareModels([director('d1'), reader('r1')], defaultModel, defaultModel, now);
    expect(c).toMatchObject({ leads: 2, changed: 0, moves: {} });
    expect(c.funnel.reduce((n, r) => n + r.before, 0)).toBe(2);
  });

  it('counts the leads a stricter MQL threshold would move, with examples', () => {
    const base = [director('d1'), director('d2'), reader('r1')];
    const before = compareModels(base, defaultModel, defaultModel, now);
    const mqlsBefore = before.funnel.find((r) => r.stage === 'mql')?.before ?? 0;
    expect(mqlsBefore).toBe(2);

    const stricter = parseModel({
      ...defaultModel,
      thresholds: { ...defaultModel.thresholds, mql: { fit: 15, engagement: 500 } },
    });
    const c = compareModels(base, defaultModel, stricter, now, 1);

    expect(c.changed).toBe(2);
    expect(c.moves).toEqual({ 'mql → lead': 2 });
    expect(c.examples['mql → lead']).toHaveLength(1);
    expect(c.examples['mql → lead']?.[0]).toMatchObject({ before: { stage: 'mql' }, after: { stage: 'lead' } });
    expect(c.funnel.find((r) => r.stage === 'mql')).toEqual({ stage: 'mql', before: 2, after: 0 });
  });
});
