import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../../lambdas/domain/clock.js';
import { machineContextFrom, recordEngagement } from '../../../lambdas/domain/engagement.js';
import type { LeadEvent } from '../../../lambdas/domain/events.js';
import { parseSesSqsBody, type SesEventRecord } from '../../../lambdas/domain/ses-events.js';
import { FIXTURES, fixtureBody, fixtureEvent, objectAt, type FixtureName, type Json } from '../ses/fixtures.js';
import { MemoryLeads } from './memory-leads.js';

const ADA = 'ada@example.com';
const ADA_LEAD = '01JNF3K7Q8ZB2V6W9X4Y5T1R0M';
const OTHER_LEAD = '01JNF3ZZZZZZZZZZZZZZZZZZZZ';
const MESSAGE_1 = '0102019560a1b2c3-0001-4d5e-8f90-a1b2c3d4e5f6-000000';
const NOW = '2025-03-10T12:00:00.000Z';

const fixture = (name: FixtureName): SesEventRecord => parseSesSqsBody(fixtureBody(name));

/** A fixture with its SES detail edited. */
function edited(name: FixtureName, edit: (detail: { [key: string]: Json }) => void): SesEventRecord {
  const event = fixtureEvent(name);
  edit(event.detail);
  return parseSesSqsBody(JSON.stringify(event));
}

/** A Click on message 1 at `at`, with a person's browser user agent. */
const clickAt = (at: string, link = 'https://www.example.com/a'): SesEventRecord =>
  edited('click-human', (d) => {
    Object.assign(objectAt(d, 'click'), { timestamp: at, link });
  });

const deliveryAt = (at: string): SesEventRecord =>
  edited('delivery', (d) => {
    Object.assign(objectAt(d, 'delivery'), { timestamp: at });
  });

function setup() {
  const leads = new MemoryLeads().register(ADA, ADA_LEAD);
  return { leads, deps: { leads, clock: fixedClock(NOW) } };
}

describe('recordEngagement', () => {
  it('appends the event to the lead registered for the recipient, as an SES event received now', async () => {
    const { leads, deps } = setup();

    const result = await recordEngagement(deps, fixture('open'));

    expect(result).toMatchObject({ duplicates: [], unattributed: 0, tagMismatches: [] });
    expect(result.recorded).toHaveLength(1);
    expect(result.recorded[0]).toMatchObject({
      leadId: ADA_LEAD,
      type: 'email_opened',
      occurredAt: '2025-03-04T09:14:27.310Z',
      receivedAt: NOW,
      source: 'ses',
      properties: { messageId: MESSAGE_1, track: 'case-studies', touch: '2' },
    });
    expect(leads.all()).toEqual(result.recorded);
  });

  it('records every fixture once however often it is delivered', async () => {
    const { leads, deps } = setup();
    const records = FIXTURES.map((name) =>
      // Every fixture to Ada, so one log holds them all.
      edited(name, (d) => {
        const text = JSON.stringify(d).replace(/grace@example\.org|linus@example\.net/gi, ADA);
        Object.assign(d, JSON.parse(text) as { [key: string]: Json });
      }),
    );

    const first = [];
    for (const record of records) first.push(await recordEngagement(deps, record));
    const afterFirst = leads.all();
    const replays = [];
    for (let i = 0; i < 2; i++) for (const record of records) replays.push(await recordEngagement(deps, record));

    expect(first.reduce((n, r) => n + r.recorded.length, 0)).toBe(FIXTURES.length);
    expect(new Set(afterFirst.map((e) => e.eventId)).size).toBe(FIXTURES.length);
    expect(replays.every((r) => r.recorded.length === 0 && r.duplicates.length === 1)).toBe(true);
    expect(leads.all()).toEqual(afterFirst);
  });

  it('writes nothing for an address no lead is registered for, even when the leadId tag names a lead', async () => {
    const { leads, deps } = setup();
    const record = edited('bounce-permanent', (d) => {
      objectAt(d, 'mail').tags = { leadId: [ADA_LEAD] };
    });

    const result = await recordEngagement(deps, record);

    expect(result).toEqual({ recorded: [], duplicates: [], unattributed: 1, tagMismatches: [] });
    expect(leads.all()).toEqual([]);
    expect(leads.calls).toEqual(['findLeadIdByEmail grace@example.org']);
  });

  it('attributes by address, and reports it, when the leadId tag names another lead', async () => {
    const { leads, deps } = setup();
    leads.register('someone@example.com', OTHER_LEAD);
    const record = edited('complaint', (d) => {
      objectAt(d, 'mail').tags = { leadId: [OTHER_LEAD] };
    });

    const result = await recordEngagement(deps, record);

    expect(result.tagMismatches).toEqual([{ leadId: ADA_LEAD, taggedLeadId: OTHER_LEAD }]);
    expect(result.recorded.map((e) => e.leadId)).toEqual([ADA_LEAD]);
    expect(leads.events.get(OTHER_LEAD)).toBeUndefined();
  });

  it('records one event per recipient of a message to several, each on its own lead', async () => {
    const { leads, deps } = setup();
    leads.register('bob@example.com', OTHER_LEAD);
    const record = edited('delivery', (d) => {
      objectAt(d, 'mail').destination = ['Ada <ADA@example.com>', 'bob@example.com', 'nobody@example.com'];
      objectAt(d, 'delivery').recipients = [];
    });

    const result = await recordEngagement(deps, record);

    expect(result.recorded.map((e) => e.leadId).sort()).toEqual([ADA_LEAD, OTHER_LEAD].sort());
    expect(result.unattributed).toBe(1);
  });

  it("reads only the message's own lookups, and only for opens and clicks", async () => {
    const { leads, deps } = setup();

    await recordEngagement(deps, fixture('bounce-transient'));
    await recordEngagement(deps, fixture('delivery'));
    await recordEngagement(deps, fixture('click-human'));

    const reads = leads.calls.filter((c) => c.startsWith('messageEvents'));
    expect(reads).toEqual([`messageEvents ${ADA_LEAD} ${fixture('click-human').mail.messageId}`]);
  });

  it('propagates a store failure so that the platform retries the record', async () => {
    const { leads, deps } = setup();
    leads.appendEvent = () => Promise.reject(new Error('ProvisionedThroughputExceededException'));

    await expect(recordEngagement(deps, fixture('open'))).rejects.toThrow('ProvisionedThroughputExceededException');
  });
});

describe('recordEngagement: machine context from the lead log', () => {
  // Message 1 was sent at 09:00:00; here SES delivers it 30 s later.
  const DELIVERED = '2025-03-04T09:00:30.000Z';

  it('times a click from the recorded delivery, not from the send', async () => {
    const { deps } = setup();
    const click = clickAt('2025-03-04T09:00:35.000Z'); // 35 s after the send, 5 s after the delivery

    const withoutDelivery = await recordEngagement(deps, click);
    expect(withoutDelivery.recorded[0]?.properties.machine).toBeUndefined();

    const fresh = setup();
    await recordEngagement(fresh.deps, deliveryAt(DELIVERED));
    const withDelivery = await recordEngagement(fresh.deps, click);
    expect(withDelivery.recorded[0]?.properties).toMatchObject({
      machine: true,
      machineReason: 'fast_click',
      machineDetail: '5.0 s after delivery',
    });
  });

  it('flags the click that completes a burst of distinct links, from the clicks already recorded', async () => {
    const { deps } = setup();
    await recordEngagement(deps, deliveryAt(DELIVERED));
    const clicks = [
      clickAt('2025-03-04T10:00:00.000Z', 'https://www.example.com/a'),
      clickAt('2025-03-04T10:00:01.000Z', 'https://www.example.com/b'),
      clickAt('2025-03-04T10:00:02.000Z', 'https://www.example.com/c'),
    ];

    const results = [];
    for (const click of clicks) results.push(await recordEngagement(deps, click));

    expect(results.map((r) => r.recorded[0]?.properties.machineReason ?? null)).toEqual([null, null, 'link_burst']);
  });

  it('keeps the same event id for a click classified differently on redelivery: the first write wins', async () => {
    const { leads, deps } = setup();
    const click = clickAt('2025-03-04T09:00:35.000Z');

    const first = await recordEngagement(deps, click);
    await recordEngagement(deps, deliveryAt(DELIVERED));
    const again = await recordEngagement(deps, click);

    expect(again.duplicates[0]?.eventId).toBe(first.recorded[0]?.eventId);
    expect(again.duplicates[0]?.properties.machine).toBe(true);
    const stored = leads.events.get(ADA_LEAD)?.find((e) => e.type === 'email_clicked');
    expect(stored?.properties.machine).toBeUndefined();
  });

  it('applies the configured machine rules', async () => {
    const { deps } = setup();
    await recordEngagement(deps, deliveryAt(DELIVERED));

    const result = await recordEngagement(
      { ...deps, machineRules: { clickWithinSeconds: 3600 } },
      clickAt('2025-03-04T09:30:00.000Z'),
    );

    expect(result.recorded[0]?.properties.machineReason).toBe('fast_click');
  });
});

describe('machineContextFrom', () => {
  const event = (over: Partial<LeadEvent> & Pick<LeadEvent, 'eventId' | 'type' | 'occurredAt'>): LeadEvent => ({
    leadId: ADA_LEAD,
    receivedAt: NOW,
    source: 'ses',
    properties: { messageId: MESSAGE_1 },
    ...over,
  });

  it('takes the first delivery and the clicks of that message only, oldest first, leaving out the event itself', () => {
    const log = [
      event({ eventId: 'd2', type: 'email_delivered', occurredAt: '2025-03-04T09:00:05.000Z' }),
      event({ eventId: 'd1', type: 'email_delivered', occurredAt: '2025-03-04T09:00:01.000Z' }),
      event({
        eventId: 'c2',
        type: 'email_clicked',
        occurredAt: '2025-03-04T09:10:00.000Z',
        properties: { messageId: MESSAGE_1, link: 'https://b' },
      }),
      event({
        eventId: 'c1',
        type: 'email_clicked',
        occurredAt: '2025-03-04T09:05:00.000Z',
        properties: { messageId: MESSAGE_1, link: 'https://a' },
      }),
      event({
        eventId: 'self',
        type: 'email_clicked',
        occurredAt: '2025-03-04T09:11:00.000Z',
        properties: { messageId: MESSAGE_1, link: 'https://c' },
      }),
      event({
        eventId: 'x',
        type: 'email_clicked',
        occurredAt: '2025-03-04T09:06:00.000Z',
        properties: { messageId: 'other', link: 'https://x' },
      }),
      event({
        eventId: 'y',
        type: 'email_delivered',
        occurredAt: '2025-03-04T08:00:00.000Z',
        properties: { messageId: 'other' },
      }),
      event({
        eventId: 'f',
        type: 'form_submitted',
        occurredAt: '2025-03-04T08:00:00.000Z',
        source: 'form',
        properties: {},
      }),
    ];

    expect(machineContextFrom(log, MESSAGE_1, 'self')).toEqual({
      deliveredAt: '2025-03-04T09:00:01.000Z',
      priorClicks: [
        { link: 'https://a', at: '2025-03-04T09:05:00.000Z' },
        { link: 'https://b', at: '2025-03-04T09:10:00.000Z' },
      ],
    });
  });

  it('knows nothing of a message the log does not mention', () => {
    expect(machineContextFrom([], MESSAGE_1)).toEqual({ priorClicks: [] });
  });
});
