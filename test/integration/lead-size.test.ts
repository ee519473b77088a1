import { describe, expect, it } from 'vitest';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { itemSize } from '../../lambdas/adapters/item-size.js';
import { leadItem } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { ingestEvents } from '../../lambdas/domain/capture.js';
import { scorePendingEvents } from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { createHandler } from '../../lambdas/handlers/capture-events.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { apiEvent } from '../support/api-event.js';
import { testCaptureDeps, uniqueEmail } from '../support/dynamo.js';

/** 2,048 three-byte characters: the longest value an event property may hold, 6 KB of UTF-8. */
const longValue = (i: number) => `${i}`.padEnd(2048, '€');

describe('an accepted event is applied, and the lead item stays far from 400 KB', () => {
  it('applies an /events item with 40 long utm_* properties (240 KB) without copying them all onto the lead', async () => {
    const base = testCaptureDeps();
    const email = uniqueEmail('utm');
    const properties = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`utm_p${i}`, longValue(i)]));
    const ingested = await ingestEvents(base.deps, [
      { eventId: 'utm-heavy', email, type: 'page_viewed', properties: { ...properties, utm_source: 'newsletter' } },
    ]);
    expect(ingested.accepted).toBe(1);
    const leadId = (await base.repo.findLeadIdByEmail(email)) as string;

    const result = await scorePendingEvents(
      { leads: base.repo, clock: base.clock, apply: (l, e, now) => applyEvents(l, e, defaultModel, now) },
      leadId,
      ['utm-heavy'],
    );

    expect(result.applied).toEqual(['utm-heavy']);
    const lead = await base.repo.getLead(leadId);
    expect(lead?.attribution.lastUtm).toEqual({ utm_source: 'newsletter' });
    expect(itemSize(leadItem(lead as NonNullable<typeof lead>))).toBeLessThan(20 * 1024);
  });

  it('refuses with a 400 naming the field an event whose lead field is over the form limit, and writes nothing', async () => {
    const base = testCaptureDeps();
    const handler = createHandler(() => base.deps);
    const first = uniqueEmail('fine');
    const second = uniqueEmail('long');
    const body = JSON.stringify({
      events: [
        { eventId: 'fine-1', email: first, type: 'page_viewed' },
        { eventId: 'long-1', email: second, type: 'page_viewed', properties: { utm_source: 'x'.repeat(201) } },
      ],
    });

    const out = (await handler(
      apiEvent({ method: 'POST', path: '/events', headers: { 'content-type': 'application/json' }, body }),
      lambdaContext({ functionName: 'events', region: 'us-east-1', timeoutMs: 10_000 }),
    )) as APIGatewayProxyResult;

    expect(out.statusCode).toBe(400);
    expect(JSON.parse(out.body).fields).toEqual({
      'events.1.properties.utm_source': 'is longer than 200 characters',
    });
    expect(await base.repo.findLeadIdByEmail(first)).toBeUndefined();
    expect(await base.repo.findLeadIdByEmail(second)).toBeUndefined();
  });
});
