import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { EventProperties, LeadEvent } from '../../../lambdas/domain/events.js';
import {
  emailEventId,
  mapSesRecord,
  parseSesSqsBody,
  SES_EVENT_NAMESPACE,
  type MappedEmailEvent,
} from '../../../lambdas/domain/ses-events.js';
import { FIXTURES, fixtureBody, fixtureEvent, objectAt, type FixtureName } from './fixtures.js';

const LEAD = '01JNF3K7Q8ZB2V6W9X4Y5T1R0M';
const MESSAGE_1 = '0102019560a1b2c3-0001-4d5e-8f90-a1b2c3d4e5f6-000000';
const TAGS = { track: 'case-studies', touch: '2', template: 'case-study-2-default' };

const mapFixture = (name: FixtureName): MappedEmailEvent[] => mapSesRecord(parseSesSqsBody(fixtureBody(name)));
const mapEvent = (event: unknown): MappedEmailEvent[] => mapSesRecord(parseSesSqsBody(JSON.stringify(event)));

/** The only event a record maps to, failing the test if there is not exactly one. */
function only(events: MappedEmailEvent[]): MappedEmailEvent {
  expect(events).toHaveLength(1);
  const [event] = events;
  if (event === undefined) throw new Error('no event');
  return event;
}

describe('mapSesRecord: each fixture', () => {
  it('Send → email_sent for the tagged lead, at the send time', () => {
    expect(only(mapFixture('send'))).toEqual({
      eventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'email_sent',
      occurredAt: '2025-03-04T09:00:00.000Z',
      email: 'ada@example.com',
      leadId: LEAD,
      properties: { messageId: MESSAGE_1, ...TAGS },
    });
  });

  it('Delivery → email_delivered at the delivery time', () => {
    expect(only(mapFixture('delivery'))).toMatchObject({
      type: 'email_delivered',
      occurredAt: '2025-03-04T09:00:01.812Z',
      email: 'ada@example.com',
      leadId: LEAD,
      properties: { messageId: MESSAGE_1, ...TAGS },
    });
  });

  it('Open → email_opened with a coarse user-agent family, and neither IP address nor user agent', () => {
    const event = only(mapFixture('open'));

    expect(event).toMatchObject({ type: 'email_opened', occurredAt: '2025-03-04T09:14:27.310Z', leadId: LEAD });
    expect(event.properties).toEqual({ messageId: MESSAGE_1, ...TAGS, userAgentFamily: 'apple-mail' });
    expect(JSON.stringify(event)).not.toMatch(/203\.0\.113\.7|iPhone OS/);
  });

  it('a human Click → email_clicked with the link, not flagged', () => {
    const event = only(mapFixture('click-human'));

    expect(event).toMatchObject({ type: 'email_clicked', occurredAt: '2025-03-04T09:15:02.118Z', leadId: LEAD });
    expect(event.properties).toEqual({
      messageId: MESSAGE_1,
      ...TAGS,
      link: 'https://www.example.com/case-studies/acme?utm_source=leadloop&utm_medium=email&utm_campaign=case-studies',
      userAgentFamily: 'chrome',
    });
  });

  it('a scanner Click one second after send → email_clicked flagged as a machine', () => {
    const event = only(mapFixture('click-machine'));

    expect(event.type).toBe('email_clicked');
    expect(event.properties).toMatchObject({
      link: 'https://www.example.com/pricing?utm_source=leadloop&utm_medium=email',
      userAgentFamily: 'scanner',
      machine: true,
      machineReason: 'user_agent',
      machineDetail: 'barracuda',
    });
    expect(JSON.stringify(event)).not.toContain('198.51.100.99');
  });

  it('a permanent Bounce → email_bounced permanent, for the bounced recipient', () => {
    expect(only(mapFixture('bounce-permanent'))).toMatchObject({
      type: 'email_bounced',
      occurredAt: '2025-03-04T09:00:03.120Z',
      email: 'grace@example.org',
      leadId: '01JNF3M1A2B3C4D5E6F7G8H9J0',
      properties: { bounceType: 'permanent', bounceSubType: 'General', bounceStatus: '5.1.1' },
    });
  });

  it('a transient Bounce → email_bounced transient, the recipient normalized', () => {
    expect(only(mapFixture('bounce-transient'))).toMatchObject({
      type: 'email_bounced',
      email: 'linus@example.net',
      leadId: '01JNF3M9Z8Y7X6W5V4T3S2R1Q0',
      properties: { bounceType: 'transient', bounceSubType: 'MailboxFull' },
    });
  });

  it('an Undetermined Bounce counts as transient', () => {
    const event = fixtureEvent('bounce-permanent');
    objectAt(event.detail, 'bounce').bounceType = 'Undetermined';

    expect(only(mapEvent(event)).properties).toMatchObject({ bounceType: 'transient', bounceUndetermined: true });
  });

  it('Complaint → email_complained with the feedback type', () => {
    expect(only(mapFixture('complaint'))).toMatchObject({
      type: 'email_complained',
      occurredAt: '2025-03-05T07:42:11.000Z',
      email: 'ada@example.com',
      leadId: LEAD,
      properties: { complaintFeedbackType: 'abuse' },
    });
  });

  it('Reject → email_rejected with the reason', () => {
    expect(only(mapFixture('reject'))).toMatchObject({
      type: 'email_rejected',
      occurredAt: '2025-03-04T09:00:00.000Z',
      properties: { reason: 'Bad content' },
    });
  });

  it('DeliveryDelay → email_delivery_delayed with the delay type and expiry', () => {
    expect(only(mapFixture('delivery-delay'))).toMatchObject({
      type: 'email_delivery_delayed',
      occurredAt: '2025-03-04T09:10:00.095Z',
      email: 'ada@example.com',
      properties: { delayType: 'TransientCommunicationFailure', expirationTime: '2025-03-04T23:00:00.000Z' },
    });
  });

  it('Rendering Failure → email_rendering_failed with the template and error', () => {
    expect(only(mapFixture('rendering-failure'))).toMatchObject({
      type: 'email_rendering_failed',
      properties: {
        template: 'case-study-2-default',
        errorMessage: "Attribute 'firstName' is not present in the rendering data.",
      },
    });
  });

  it('a Subscription that opts a topic out → email_unsubscribed naming the topic', () => {
    expect(only(mapFixture('subscription-unsubscribe'))).toMatchObject({
      type: 'email_unsubscribed',
      occurredAt: '2025-03-06T12:30:45.500Z',
      email: 'ada@example.com',
      leadId: LEAD,
      properties: {
        unsubscribeAll: false,
        topics: 'case-studies',
        contactList: 'leadloop',
        unsubscribeSource: 'UnsubscribeHeader',
      },
    });
  });

  it.each(FIXTURES)('the %s fixture maps to valid event properties and ids', (name) => {
    for (const event of mapFixture(name)) {
      expect(EventProperties.safeParse(event.properties).success).toBe(true);
      const asLeadEvent = { ...event, leadId: event.leadId ?? 'unknown', receivedAt: event.occurredAt, source: 'ses' };
      expect(LeadEvent.safeParse(asLeadEvent).success).toBe(true);
    }
  });
});

describe('mapSesRecord: subscriptions', () => {
  const subscription = (change: (sub: ReturnType<typeof objectAt>) => void): MappedEmailEvent[] => {
    const event = fixtureEvent('subscription-unsubscribe');
    change(objectAt(event.detail, 'subscription'));
    return mapEvent(event);
  };

  it('unsubscribeAll turned on is an unsubscribe from everything (the documented SES example)', () => {
    const events = subscription((sub) => {
      sub.newTopicPreferences = {
        unsubscribeAll: true,
        topicSubscriptionStatus: [{ topicName: 'ExampleTopicName', subscriptionStatus: 'OptOut' }],
      };
      sub.oldTopicPreferences = {
        unsubscribeAll: false,
        topicSubscriptionStatus: [{ topicName: 'ExampleTopicName', subscriptionStatus: 'OptOut' }],
      };
    });

    expect(only(events).properties).toMatchObject({ unsubscribeAll: true });
    expect(only(events).properties).not.toHaveProperty('topics');
  });

  it('an opt-in is not an unsubscribe', () => {
    const events = subscription((sub) => {
      sub.newTopicPreferences = { topicSubscriptionStatus: [{ topicName: 'newsletter', subscriptionStatus: 'OptIn' }] };
      sub.oldTopicPreferences = {
        topicSubscriptionStatus: [{ topicName: 'newsletter', subscriptionStatus: 'OptOut' }],
      };
    });

    expect(events).toEqual([]);
  });

  it('a topic already opted out, or unsubscribeAll already on, is no new unsubscribe', () => {
    const events = subscription((sub) => {
      const prefs = {
        unsubscribeAll: true,
        topicSubscriptionStatus: [{ topicName: 'case-studies', subscriptionStatus: 'OptOut' }],
      };
      sub.newTopicPreferences = prefs;
      sub.oldTopicPreferences = prefs;
    });

    expect(events).toEqual([]);
  });

  it('a topic opted out with no previous preference recorded counts as an unsubscribe', () => {
    const events = subscription((sub) => {
      sub.newTopicPreferences = { topicSubscriptionStatus: [{ topicName: 'webinars', subscriptionStatus: 'OPT_OUT' }] };
      delete sub.oldTopicPreferences;
    });

    expect(only(events).properties).toMatchObject({ unsubscribeAll: false, topics: 'webinars' });
  });

  it('a topic whose default was opt-out and stays opted out is no unsubscribe', () => {
    const events = subscription((sub) => {
      sub.newTopicPreferences = { topicSubscriptionStatus: [{ topicName: 'webinars', subscriptionStatus: 'OptOut' }] };
      sub.oldTopicPreferences = {
        topicDefaultSubscriptionStatus: [{ topicName: 'webinars', subscriptionStatus: 'OptOut' }],
      };
    });

    expect(events).toEqual([]);
  });
});

describe('mapSesRecord: attribution', () => {
  it('falls back to the normalized destination when there is no leadId tag', () => {
    const event = fixtureEvent('open');
    const mail = objectAt(event.detail, 'mail');
    mail.tags = { 'ses:configuration-set': ['leadloop'] };
    mail.destination = ['  Ada.Lovelace@Example.COM '];

    const mapped = only(mapEvent(event));

    expect(mapped.email).toBe('ada.lovelace@example.com');
    expect(mapped).not.toHaveProperty('leadId');
    expect(mapped.properties).not.toHaveProperty('track');
  });

  it('reads "Name <address>" destinations as the address', () => {
    const event = fixtureEvent('send');
    objectAt(event.detail, 'mail').destination = ['Ada Lovelace <Ada@Example.com>'];

    expect(only(mapEvent(event)).email).toBe('ada@example.com');
  });

  it('ignores an empty leadId tag', () => {
    const event = fixtureEvent('send');
    objectAt(objectAt(event.detail, 'mail'), 'tags').leadId = [''];

    expect(only(mapEvent(event))).not.toHaveProperty('leadId');
  });

  it('maps a message to several recipients to one event each, attributed by address, not by the tag', () => {
    const event = fixtureEvent('send');
    objectAt(event.detail, 'mail').destination = ['ada@example.com', 'grace@example.org', 'ADA@example.com'];

    const mapped = mapEvent(event);

    expect(mapped.map((e) => e.email)).toEqual(['ada@example.com', 'grace@example.org']);
    expect(mapped.every((e) => e.leadId === undefined)).toBe(true);
    expect(new Set(mapped.map((e) => e.eventId)).size).toBe(2);
  });

  it('maps a bounce to the bounced recipients only, not the whole destination', () => {
    const event = fixtureEvent('bounce-permanent');
    objectAt(event.detail, 'mail').destination = ['grace@example.org', 'ada@example.com'];

    expect(mapEvent(event).map((e) => e.email)).toEqual(['grace@example.org']);
  });

  it('maps a complaint without listed recipients to the destination', () => {
    const event = fixtureEvent('complaint');
    objectAt(event.detail, 'complaint').complainedRecipients = [];

    expect(only(mapEvent(event)).email).toBe('ada@example.com');
  });
});

describe('mapSesRecord: deterministic ids', () => {
  it('gives a redelivered record (a new EventBridge id, the same SES record) the same event id', () => {
    const first = only(mapFixture('click-human'));
    const redelivered = fixtureEvent('click-human');
    redelivered.id = 'a-new-eventbridge-id';
    redelivered.time = '2025-03-04T09:20:00Z';

    expect(only(mapEvent(redelivered)).eventId).toBe(first.eventId);
  });

  it('gives two clicks on the same link at different times different ids', () => {
    const later = fixtureEvent('click-human');
    objectAt(later.detail, 'click').timestamp = '2025-03-04T10:00:00.000Z';

    expect(only(mapEvent(later)).eventId).not.toBe(only(mapFixture('click-human')).eventId);
  });

  it('gives clicks on two links at the same time different ids', () => {
    const other = fixtureEvent('click-human');
    objectAt(other.detail, 'click').link = 'https://www.example.com/pricing';

    expect(only(mapEvent(other)).eventId).not.toBe(only(mapFixture('click-human')).eventId);
  });

  it('gives each event type of one message its own id', () => {
    const ids = ['send', 'delivery', 'open', 'click-human', 'complaint', 'subscription-unsubscribe'].map(
      (name) => only(mapFixture(name as FixtureName)).eventId,
    );

    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is uuidv5 of messageId|type|recipient|timestamp|link in the fixed namespace', () => {
    const click = only(mapFixture('click-human'));
    const link = click.properties.link;

    expect(click.eventId).toBe(
      uuidv5(
        `${MESSAGE_1}|email_clicked|ada@example.com|2025-03-04T09:15:02.118Z|${String(link)}`,
        SES_EVENT_NAMESPACE,
      ),
    );
    expect(
      emailEventId({
        messageId: MESSAGE_1,
        type: 'email_sent',
        recipient: 'ada@example.com',
        timestamp: '2025-03-04T09:00:00.000Z',
      }),
    ).toBe(only(mapFixture('send')).eventId);
  });

  it('does not depend on how the timestamp is written', () => {
    const offset = fixtureEvent('open');
    objectAt(offset.detail, 'open').timestamp = '2025-03-04T10:14:27.310+01:00';

    expect(only(mapEvent(offset)).eventId).toBe(only(mapFixture('open')).eventId);
  });
});
