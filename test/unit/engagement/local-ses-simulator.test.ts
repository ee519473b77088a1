import { describe, expect, it } from 'vitest';
import {
  bounceRecord,
  clickRecord,
  complaintRecord,
  instrumentHtml,
  localMessageId,
  localTrackingFromEnv,
  openRecord,
  sendAndDeliveryRecords,
  unsubscribeRecord,
  verifyTrackingParams,
  type LocalMail,
} from '../../../lib/local/adapters/ses-simulator.js';
import { mapSesRecord, parseSesRecord } from '../../../lambdas/domain/ses-events.js';

const SECRET = 'test-secret-of-some-length';
const BASE = 'http://127.0.0.1:3000';
const MAIL: LocalMail = {
  messageId: '0102019560a1b2c3-0001-4d5e-8f90-a1b2c3d4e5f6-000000',
  to: 'Ada@Example.com',
  from: 'Leadloop <hello@news.example.com>',
  subject: 'How Acme cut onboarding time in half',
  tags: [
    { Name: 'leadId', Value: '01JNF3K7Q8ZB2V6W9X4Y5T1R0M' },
    { Name: 'track', Value: 'case-studies' },
    { Name: 'touch', Value: '2' },
  ],
  timestamp: new Date('2025-03-04T09:00:00.000Z'),
};
const tracking = { ...MAIL, trackingBaseUrl: BASE, secret: SECRET };

/** The tracking URLs in a piece of HTML, entity-decoded as a browser reads them. */
const trackingUrls = (html: string, kind: 'open' | 'click'): URL[] =>
  [...html.matchAll(/(?:href|src)="([^"]*)"/g)]
    .map((m) => (m[1] ?? '').replaceAll('&amp;', '&'))
    .filter((u) => u.startsWith(`${BASE}/_local/t/${kind}?`))
    .map((u) => new URL(u));

describe('SES-shaped records of a local send', () => {
  it('Send and Delivery records parse as SES records and map to email_sent and email_delivered for the tagged lead', () => {
    const [send, delivery] = sendAndDeliveryRecords(MAIL);

    const events = [send, delivery].flatMap((r) => mapSesRecord(parseSesRecord(r)));

    expect(events).toMatchObject([
      {
        type: 'email_sent',
        occurredAt: '2025-03-04T09:00:00.000Z',
        email: 'ada@example.com',
        leadId: '01JNF3K7Q8ZB2V6W9X4Y5T1R0M',
      },
      { type: 'email_delivered', occurredAt: '2025-03-04T09:00:00.500Z', email: 'ada@example.com' },
    ]);
    expect(events[0]?.properties).toMatchObject({ messageId: MAIL.messageId, track: 'case-studies', touch: '2' });
  });

  it('carries what SES publishes in mail: source, destination, headers, common headers and the ses: tags', () => {
    const [send] = sendAndDeliveryRecords({ ...MAIL, configurationSet: 'leadloop-dev' });

    expect(send).toMatchObject({
      eventType: 'Send',
      send: {},
      mail: {
        source: MAIL.from,
        destination: ['Ada@Example.com'],
        sendingAccountId: '000000000000',
        commonHeaders: { from: [MAIL.from], to: ['Ada@Example.com'], subject: MAIL.subject, messageId: MAIL.messageId },
        tags: {
          'ses:configuration-set': ['leadloop-dev'],
          'ses:from-domain': ['news.example.com'],
          leadId: ['01JNF3K7Q8ZB2V6W9X4Y5T1R0M'],
        },
      },
    });
  });

  it('builds each injectable record so that it parses and maps to its event', () => {
    const at = new Date('2025-03-05T10:00:00.000Z');
    const reader = { timestamp: at, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/124.0' };
    const mapped = (r: Parameters<typeof parseSesRecord>[0]) => mapSesRecord(parseSesRecord(r))[0];

    expect(mapped(bounceRecord(MAIL, { permanent: true, timestamp: at }))).toMatchObject({
      type: 'email_bounced',
      properties: { bounceType: 'permanent', bounceSubType: 'General', bounceStatus: '5.1.1' },
    });
    expect(mapped(bounceRecord(MAIL, { permanent: false, timestamp: at }))?.properties.bounceType).toBe('transient');
    expect(mapped(complaintRecord(MAIL, { timestamp: at }))).toMatchObject({
      type: 'email_complained',
      properties: { complaintFeedbackType: 'abuse' },
    });
    expect(mapped(unsubscribeRecord(MAIL, { timestamp: at }))).toMatchObject({
      type: 'email_unsubscribed',
      properties: { unsubscribeAll: true },
    });
    expect(mapped(openRecord(MAIL, reader))).toMatchObject({
      type: 'email_opened',
      properties: { userAgentFamily: 'firefox' },
    });
    expect(mapped(clickRecord(MAIL, { ...reader, link: 'https://example.com/x' }))).toMatchObject({
      type: 'email_clicked',
      occurredAt: '2025-03-05T10:00:00.000Z',
      properties: { link: 'https://example.com/x' },
    });
  });

  it('makes message ids shaped like SES ones, a new one each time', () => {
    const a = localMessageId();

    expect(a).toMatch(/^[0-9a-f]{16}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-000000$/);
    expect(localMessageId()).not.toBe(a);
  });
});

describe('instrumentHtml', () => {
  const html = [
    '<html><body>',
    '<p><a href="https://www.example.com/case?utm_source=leadloop&amp;utm_medium=email">Read</a></p>',
    "<a class='x' href='http://example.org/'>plain http</a>",
    '<a href="mailto:sales@example.com">mail us</a> <a href="#top">top</a>',
    '<a ses:no-track href="https://leads.example.com/unsubscribe?token=abc">Unsubscribe</a>',
    '</body></html>',
  ].join('\n');

  it('routes every http(s) link through the click endpoint with the exact target, and nothing else', () => {
    const out = instrumentHtml(html, tracking);

    const clicks = trackingUrls(out, 'click');
    expect(clicks.map((u) => u.searchParams.get('u'))).toEqual([
      'https://www.example.com/case?utm_source=leadloop&utm_medium=email',
      'http://example.org/',
    ]);
    expect(clicks.every((u) => u.searchParams.get('m') === MAIL.messageId)).toBe(true);
    expect(out).toContain('href="mailto:sales@example.com"');
    expect(out).toContain('href="#top"');
    expect(out).toContain('href="https://leads.example.com/unsubscribe?token=abc"');
    expect(out).toContain("class='x'");
  });

  it('appends one open pixel at the end of the body', () => {
    const out = instrumentHtml(html, tracking);

    expect(trackingUrls(out, 'open')).toHaveLength(1);
    expect(out).toMatch(/<img src="http:\/\/127\.0\.0\.1:3000\/_local\/t\/open\?[^"]+"[^>]*\/><\/body><\/html>$/);
    expect(instrumentHtml('<p>no body tag</p>', tracking)).toMatch(/^<p>no body tag<\/p><img /);
  });

  it('leaves links it already instrumented alone', () => {
    const once = instrumentHtml('<a href="https://example.com/">x</a>', tracking);

    const twice = instrumentHtml(once, tracking);

    expect(trackingUrls(twice, 'click')).toHaveLength(1);
    expect(trackingUrls(twice, 'open')).toHaveLength(2);
  });
});

describe('verifyTrackingParams', () => {
  const [click] = trackingUrls(instrumentHtml('<a href="https://example.com/pricing">x</a>', tracking), 'click');
  const [open] = trackingUrls(instrumentHtml('<p></p>', tracking), 'open');
  if (!click || !open) throw new Error('no tracking links');

  it('recovers the mail and the target of a link it signed', () => {
    const check = verifyTrackingParams(click.searchParams, 'click', SECRET);

    expect(check).toEqual({
      valid: true,
      target: 'https://example.com/pricing',
      mail: {
        messageId: MAIL.messageId,
        to: ['Ada@Example.com'],
        from: MAIL.from,
        subject: MAIL.subject,
        tags: { leadId: '01JNF3K7Q8ZB2V6W9X4Y5T1R0M', track: 'case-studies', touch: '2' },
        timestamp: '2025-03-04T09:00:00.000Z',
      },
    });
    expect(verifyTrackingParams(open.searchParams, 'open', SECRET)).toMatchObject({ valid: true });
  });

  it('refuses a changed target, recipient or message, another key, and a pixel used as a link', () => {
    const tampered = (name: string, value: string) => {
      const params = new URLSearchParams(click.searchParams);
      params.set(name, value);
      return params;
    };
    const otherMail = Buffer.from(
      JSON.stringify({ to: ['victim@example.com'], from: 'x', subject: 'x', tags: {}, ts: '2025-03-04T09:00:00.000Z' }),
    ).toString('base64url');

    expect(verifyTrackingParams(tampered('u', 'https://evil.example/'), 'click', SECRET)).toEqual({
      valid: false,
      reason: 'bad signature',
    });
    expect(verifyTrackingParams(tampered('c', otherMail), 'click', SECRET)).toEqual({
      valid: false,
      reason: 'bad signature',
    });
    expect(verifyTrackingParams(tampered('m', 'another-message'), 'click', SECRET)).toEqual({
      valid: false,
      reason: 'bad signature',
    });
    expect(verifyTrackingParams(click.searchParams, 'click', 'another-secret')).toEqual({
      valid: false,
      reason: 'bad signature',
    });
    const pixelAsLink = new URLSearchParams(open.searchParams);
    pixelAsLink.set('u', 'https://evil.example/');
    expect(verifyTrackingParams(pixelAsLink, 'click', SECRET)).toEqual({ valid: false, reason: 'bad signature' });
    expect(verifyTrackingParams(new URLSearchParams('m=x'), 'open', SECRET)).toEqual({
      valid: false,
      reason: 'missing m, c or s',
    });
  });
});

describe('localTrackingFromEnv', () => {
  it('is off unless LEADLOOP_LOCAL_TRACKING_URL is set, and falls back to the local secret', () => {
    expect(localTrackingFromEnv({})).toBeUndefined();
    expect(localTrackingFromEnv({ LEADLOOP_LOCAL_TRACKING_URL: 'http://127.0.0.1:3000/' })).toEqual({
      baseUrl: 'http://127.0.0.1:3000',
      secret: expect.stringMatching(/local/),
    });
    expect(
      localTrackingFromEnv({ LEADLOOP_LOCAL_TRACKING_URL: BASE, LEADLOOP_LOCAL_TRACKING_SECRET: SECRET })?.secret,
    ).toBe(SECRET);
  });
});
