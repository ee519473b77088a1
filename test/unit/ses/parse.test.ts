import { describe, expect, it } from 'vitest';
import {
  parseSesRecord,
  parseSesSqsBody,
  SES_EVENT_TYPES,
  SesRecordError,
  SesSqsRecord,
} from '../../../lambdas/domain/ses-events.js';
import { FIXTURES, fixtureBody, fixtureEvent, objectAt } from './fixtures.js';

const EXPECTED_EVENT_TYPE: Record<(typeof FIXTURES)[number], string> = {
  send: 'Send',
  delivery: 'Delivery',
  open: 'Open',
  'click-human': 'Click',
  'click-machine': 'Click',
  'bounce-permanent': 'Bounce',
  'bounce-transient': 'Bounce',
  complaint: 'Complaint',
  reject: 'Reject',
  'delivery-delay': 'DeliveryDelay',
  'rendering-failure': 'Rendering Failure',
  'subscription-unsubscribe': 'Subscription',
};

/** Runs `act` and returns the SesRecordError it throws, failing the test if it throws anything else or nothing. */
function recordError(act: () => unknown): SesRecordError {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(SesRecordError);
    if (error instanceof SesRecordError) return error;
  }
  throw new Error('expected a SesRecordError');
}

const bodyOf = (event: unknown): string => JSON.stringify(event);

describe('parseSesSqsBody', () => {
  it.each(FIXTURES)('parses the %s fixture', (name) => {
    const record = parseSesSqsBody(fixtureBody(name));

    expect(record.eventType).toBe(EXPECTED_EVENT_TYPE[name]);
    expect(record.mail.messageId).toMatch(/-000000$/);
  });

  it('keeps the fields the mapping reads and drops the ones it does not name', () => {
    const record = parseSesSqsBody(fixtureBody('bounce-permanent'));

    expect(record.eventType === 'Bounce' && record.bounce.bouncedRecipients[0]?.emailAddress).toBe('grace@example.org');
    expect(record.mail.tags.leadId).toEqual(['01JNF3M1A2B3C4D5E6F7G8H9J0']);
    expect(record.mail).not.toHaveProperty('sourceArn');
  });

  it('tolerates fields SES adds later', () => {
    const event = fixtureEvent('click-human');
    event.detail.newTopLevelField = { anything: [1, 2, 3] };
    objectAt(event.detail, 'click').clickedAtEdgeLocation = 'FRA56-P1';

    const record = parseSesSqsBody(bodyOf(event));

    expect(record.eventType).toBe('Click');
  });

  it('reads a mail without tags as having none (identity feedback publishes no tags)', () => {
    const event = fixtureEvent('delivery');
    delete objectAt(event.detail, 'mail').tags;

    expect(parseSesSqsBody(bodyOf(event)).mail.tags).toEqual({});
  });

  it('accepts RenderingFailure/renderingFailure as well as the documented "Rendering Failure"/failure', () => {
    const event = fixtureEvent('rendering-failure');
    event.detail.eventType = 'RenderingFailure';
    event.detail.renderingFailure = event.detail.failure ?? null;
    delete event.detail.failure;

    const record = parseSesSqsBody(bodyOf(event));

    expect(record.eventType === 'RenderingFailure' && record.failure.templateName).toBe('case-study-2-default');
  });

  it('accepts the API spelling of subscription statuses (OPT_OUT) as well as the event one (OptOut)', () => {
    const event = fixtureEvent('subscription-unsubscribe');
    const prefs = objectAt(objectAt(event.detail, 'subscription'), 'newTopicPreferences');
    prefs.topicSubscriptionStatus = [{ topicName: 'case-studies', subscriptionStatus: 'OPT_OUT' }];

    const record = parseSesSqsBody(bodyOf(event));

    expect(
      record.eventType === 'Subscription' && record.subscription.newTopicPreferences.topicSubscriptionStatus[0],
    ).toEqual({ topicName: 'case-studies', subscriptionStatus: 'optout' });
  });

  it('rejects the malformed fixture, naming the first field and listing every problem', () => {
    const error = recordError(() => parseSesSqsBody(fixtureBody('malformed')));

    expect(error.field).toBe('detail.mail.messageId');
    expect(error.reason).toBe('is required');
    expect(error.problems).toEqual([
      'detail.mail.messageId: is required',
      'detail.bounce.bounceType: must be Permanent, Transient or Undetermined',
    ]);
    expect(error.message).toBe(`malformed SES event record: ${error.problems.join('; ')}`);
  });

  it('rejects an unknown eventType, naming the field and the value', () => {
    const event = fixtureEvent('send');
    event.detail.eventType = 'Unsubscribe';

    const error = recordError(() => parseSesSqsBody(bodyOf(event)));

    expect(error.field).toBe('detail.eventType');
    expect(error.reason).toBe(`unknown SES event type "Unsubscribe" (expected one of ${SES_EVENT_TYPES.join(', ')})`);
  });

  it('rejects a record without an eventType as missing it', () => {
    const event = fixtureEvent('send');
    delete event.detail.eventType;

    const error = recordError(() => parseSesSqsBody(bodyOf(event)));

    expect(error.field).toBe('detail.eventType');
    expect(error.reason).toMatch(/^is required/);
  });

  it('rejects a record whose per-type detail is missing', () => {
    const event = fixtureEvent('bounce-permanent');
    delete event.detail.bounce;

    const error = recordError(() => parseSesSqsBody(bodyOf(event)));

    expect(error).toMatchObject({ field: 'detail.bounce', reason: 'is required' });
  });

  it('names array positions in the field path', () => {
    const event = fixtureEvent('bounce-transient');
    objectAt(event.detail, 'bounce').bouncedRecipients = [{ emailAddress: 'linus@example.net' }, { status: '5.2.2' }];

    const error = recordError(() => parseSesSqsBody(bodyOf(event)));

    expect(error.field).toBe('detail.bounce.bouncedRecipients[1].emailAddress');
  });

  it('rejects a timestamp that is not ISO-8601', () => {
    const event = fixtureEvent('open');
    objectAt(event.detail, 'open').timestamp = 'yesterday';

    const error = recordError(() => parseSesSqsBody(bodyOf(event)));

    expect(error).toMatchObject({ field: 'detail.open.timestamp', reason: 'must be an ISO-8601 timestamp' });
  });

  it('rejects an event that is not from aws.ses', () => {
    const event = fixtureEvent('send');
    event.source = 'leadloop.local';

    expect(recordError(() => parseSesSqsBody(bodyOf(event)))).toMatchObject({
      field: 'source',
      reason: 'must be "aws.ses"',
    });
  });

  it('rejects a body that is not JSON, and JSON that is not an event', () => {
    expect(recordError(() => parseSesSqsBody('{"version":'))).toMatchObject({
      field: 'body',
      reason: 'is not valid JSON',
    });
    expect(recordError(() => parseSesSqsBody('[]')).field).toBe('(root)');
  });

  it('rejects a bare SES record in an SQS body: the queue carries EventBridge events', () => {
    const { detail } = fixtureEvent('send');

    expect(recordError(() => parseSesSqsBody(bodyOf(detail))).field).toBe('version');
  });
});

describe('parseSesRecord', () => {
  it('parses a bare record as SES publishes it to SNS or Firehose', () => {
    const { detail } = fixtureEvent('complaint');

    const record = parseSesRecord(detail);

    expect(record.eventType === 'Complaint' && record.complaint.complaintFeedbackType).toBe('abuse');
  });

  it('reports fields relative to the record', () => {
    const { detail } = fixtureEvent('delivery');
    delete objectAt(detail, 'mail').destination;

    expect(recordError(() => parseSesRecord(detail)).field).toBe('mail.destination');
  });
});

describe('SesSqsRecord', () => {
  it('parses a whole SQS record whose body is an SES EventBridge event', () => {
    const sqsRecord = {
      messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
      receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...',
      body: fixtureBody('delivery'),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '1741078802000',
        SenderId: 'AIDAIENQZJOLO23YVJ4VO',
        ApproximateFirstReceiveTimestamp: '1741078802010',
      },
      messageAttributes: {},
      md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:leadloop-engagement',
      awsRegion: 'eu-west-1',
    };

    const parsed = SesSqsRecord.parse(sqsRecord);

    expect(parsed.body.detail.eventType).toBe('Delivery');
    expect(parsed.body['detail-type']).toBe('Email Delivered');
  });
});
