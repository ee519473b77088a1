import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { leadItem } from '../../../lambdas/adapters/dynamo-lead-repository.js';
import { itemSize, MAX_ITEM_BYTES } from '../../../lambdas/adapters/item-size.js';
import { ApiEvent } from '../../../lambdas/domain/capture.js';
import { EVENT_TYPES, type LeadEvent } from '../../../lambdas/domain/events.js';
import { LEAD_FIELD_LIMITS, leadFieldIssues } from '../../../lambdas/domain/lead-fields.js';
import { applyEvents, defaultModel } from '../../../lambdas/domain/scoring/index.js';
import { T0, freshLead } from '../scoring/support.js';

/** The widest characters a value can hold per UTF-16 unit (3 bytes of UTF-8 each), and some plain ones. */
const wide = fc.constantFrom('€', '漢', 'x', ' ');
const LEAD_FIELDS = Object.keys(LEAD_FIELD_LIMITS);

/** A property value at or near a limit: the field's own, the property limit (2,048), or just over the field's. */
const valueFor = (name: string) => {
  const limit = (LEAD_FIELD_LIMITS as Record<string, number>)[name] ?? 2048;
  return fc
    .tuple(wide, fc.constantFrom(limit, limit + 1, 2048, 1))
    .map(([c, n]) => `${c}`.repeat(Math.min(n, 2048)).slice(0, 2048));
};

/** Up to 50 properties: lead fields and free `utm_*`/other names, each at its maximal length. */
const maximalProperties = fc
  .uniqueArray(
    fc.oneof(
      fc.constantFrom(...LEAD_FIELDS),
      fc.integer({ min: 0, max: 99 }).map((i) => `utm_x${i}`),
      fc.integer({ min: 0, max: 99 }).map((i) => `note${i}`),
    ),
    { minLength: 1, maxLength: 50, size: 'max' },
  )
  .chain((names) => fc.tuple(...names.map((n) => valueFor(n).map((v) => [n, v] as const))))
  .map((entries) => Object.fromEntries(entries));

describe('lead size over maximal inputs', () => {
  it('every event the edge accepts applies, and however many are applied the lead item stays under 64 KB', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...EVENT_TYPES), maximalProperties), { minLength: 1, maxLength: 12 }),
        (raw) => {
          const accepted: LeadEvent[] = [];
          for (const [i, [type, properties]] of raw.entries()) {
            const edge = ApiEvent.safeParse({ email: 'a@example.com', type, properties });
            if (!edge.success || Object.keys(leadFieldIssues(properties)).length > 0) continue;
            const at = new Date(T0 + i * 60_000).toISOString();
            accepted.push({
              eventId: `e${i}`,
              leadId: 'L1',
              type: edge.data.type,
              occurredAt: at,
              receivedAt: at,
              source: 'api',
              properties: edge.data.properties ?? {},
            });
          }
          const { lead } = applyEvents(freshLead(), accepted, defaultModel, new Date(T0 + 86_400_000));
          const bytes = itemSize(leadItem(lead));
          expect(bytes).toBeLessThan(64 * 1024);
          expect(bytes).toBeLessThan(MAX_ITEM_BYTES);
        },
      ),
      { numRuns: 60, seed: 20261202 },
    );
  }, 60_000);

  it('the edge names every lead field over its limit and nothing else', () => {
    fc.assert(
      fc.property(maximalProperties, (properties) => {
        const expected = Object.entries(properties)
          .filter(
            ([k, v]) =>
              k in LEAD_FIELD_LIMITS && v.length > ((LEAD_FIELD_LIMITS as Record<string, number>)[k] ?? Infinity),
          )
          .map(([k]) => k)
          .sort();
        expect(Object.keys(leadFieldIssues(properties)).sort()).toEqual(expected);
      }),
      { numRuns: 100, seed: 20261203 },
    );
  });
});
