import { describe, expect, it } from 'vitest';
import {
  classifyEngagement,
  DEFAULT_MACHINE_RULES,
  mapSesRecord,
  parseSesSqsBody,
  userAgentFamily,
  type PriorClick,
  type SesEventRecord,
} from '../../../lambdas/domain/ses-events.js';
import { fixtureBody, fixtureEvent, objectAt, type FixtureName } from './fixtures.js';

const SENT = Date.parse('2025-03-04T09:00:00.000Z');
const CHROME =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36';
const IPHONE_MAIL =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148';

const at = (secondsAfterSend: number): string => new Date(SENT + secondsAfterSend * 1000).toISOString();

/** The fixture's record with its open/click detail changed. */
function engagement(
  name: Extract<FixtureName, 'open' | 'click-human'>,
  change: { secondsAfterSend?: number; userAgent?: string | null; link?: string },
): SesEventRecord {
  const event = fixtureEvent(name);
  const detail = objectAt(event.detail, name === 'open' ? 'open' : 'click');
  if (change.secondsAfterSend !== undefined) detail.timestamp = at(change.secondsAfterSend);
  if (change.userAgent === null) delete detail.userAgent;
  else if (change.userAgent !== undefined) detail.userAgent = change.userAgent;
  if (change.link !== undefined) detail.link = change.link;
  return parseSesSqsBody(JSON.stringify(event));
}

const click = (secondsAfterSend: number, link: string, userAgent = CHROME): SesEventRecord =>
  engagement('click-human', { secondsAfterSend, link, userAgent });

describe('classifyEngagement: a person', () => {
  it('does not flag the human click fixture', () => {
    expect(classifyEngagement(parseSesSqsBody(fixtureBody('click-human')))).toEqual({ machine: false });
  });

  it('does not flag the human open fixture', () => {
    expect(classifyEngagement(parseSesSqsBody(fixtureBody('open')))).toEqual({ machine: false });
  });

  it('never flags events other than opens and clicks', () => {
    for (const name of ['send', 'delivery', 'bounce-permanent', 'complaint'] as const) {
      expect(classifyEngagement(parseSesSqsBody(fixtureBody(name)))).toEqual({ machine: false });
    }
  });
});

describe('classifyEngagement: rule (b) user agents of proxies, scanners and scripts', () => {
  it.each([
    ['google-image-proxy', 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)'],
    ['yahoo-mail-proxy', 'YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html'],
    ['apple-mail-privacy-protection', 'Mozilla/5.0'],
    ['microsoft-defender', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) BingPreview/1.0b'],
    ['barracuda', 'Mozilla/5.0 (compatible; Barracuda Sentinel (EE))'],
    ['mimecast', 'Mimecast-URL-Protect/1.0'],
    ['proofpoint', 'Proofpoint URL Defense'],
    ['bot', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'],
    ['bot', 'python-requests/2.31.0'],
    ['bot', 'curl/8.4.0'],
    ['bot', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0'],
    ['bot', 'Acme Link Scanner 2.0'],
  ])('flags %s (%s)', (name, userAgent) => {
    const record = engagement('open', { secondsAfterSend: 3600, userAgent });

    expect(classifyEngagement(record)).toEqual({ machine: true, reason: 'user_agent', detail: name });
  });

  it('flags an open or click without a user agent, unless configured not to', () => {
    const record = engagement('open', { secondsAfterSend: 3600, userAgent: null });

    expect(classifyEngagement(record)).toMatchObject({ machine: true, reason: 'missing_user_agent' });
    expect(classifyEngagement(record, { rules: { flagMissingUserAgent: false } })).toEqual({ machine: false });
  });

  it('uses the configured patterns instead of the defaults', () => {
    const record = engagement('open', { secondsAfterSend: 3600, userAgent: 'Mozilla/5.0' });
    const rules = { userAgents: [{ name: 'acme-gateway', pattern: /AcmeGateway/ }] };

    expect(classifyEngagement(record, { rules })).toEqual({ machine: false });
    expect(
      classifyEngagement(engagement('open', { secondsAfterSend: 3600, userAgent: 'AcmeGateway/3' }), { rules }),
    ).toMatchObject({ machine: true, detail: 'acme-gateway' });
  });
});

describe('classifyEngagement: rule (a) too soon after delivery', () => {
  it('flags a click within 10 s of the send when delivery is unknown', () => {
    expect(classifyEngagement(click(9, 'https://www.example.com/a'))).toEqual({
      machine: true,
      reason: 'fast_click',
      detail: '9.0 s after send',
    });
    expect(classifyEngagement(click(11, 'https://www.example.com/a'))).toEqual({ machine: false });
  });

  it('measures from the delivery when the context knows it', () => {
    const record = click(40, 'https://www.example.com/a');

    expect(classifyEngagement(record, { deliveredAt: at(35) })).toEqual({
      machine: true,
      reason: 'fast_click',
      detail: '5.0 s after delivery',
    });
    expect(classifyEngagement(record, { deliveredAt: at(20) })).toEqual({ machine: false });
  });

  it('ignores a deliveredAt that is not a date', () => {
    expect(classifyEngagement(click(40, 'https://www.example.com/a'), { deliveredAt: 'soon' })).toEqual({
      machine: false,
    });
  });

  it('flags an open within 2 s, not one at 3 s', () => {
    expect(classifyEngagement(engagement('open', { secondsAfterSend: 1.5, userAgent: IPHONE_MAIL }))).toMatchObject({
      machine: true,
      reason: 'fast_open',
    });
    expect(classifyEngagement(engagement('open', { secondsAfterSend: 3, userAgent: IPHONE_MAIL }))).toEqual({
      machine: false,
    });
  });

  it('takes its thresholds from the configuration', () => {
    const record = click(30, 'https://www.example.com/a');

    expect(classifyEngagement(record, { rules: { clickWithinSeconds: 60 } })).toMatchObject({ reason: 'fast_click' });
  });
});

describe('classifyEngagement: rule (c) all links clicked at once', () => {
  const prior = (...clicks: [number, string][]): PriorClick[] =>
    clicks.map(([seconds, link]) => ({ at: at(seconds), link: `https://www.example.com/${link}` }));

  it('flags the third distinct link within 5 s', () => {
    const record = click(62, 'https://www.example.com/c');

    expect(classifyEngagement(record, { priorClicks: prior([60, 'a'], [61, 'b']) })).toEqual({
      machine: true,
      reason: 'link_burst',
      detail: '3 links within 5 s',
    });
  });

  it('does not flag three clicks spread over more than 5 s', () => {
    const record = click(70, 'https://www.example.com/c');

    expect(classifyEngagement(record, { priorClicks: prior([60, 'a'], [64, 'b']) })).toEqual({ machine: false });
  });

  it('does not flag repeated clicks on the same two links', () => {
    const record = click(62, 'https://www.example.com/a');

    expect(classifyEngagement(record, { priorClicks: prior([60, 'a'], [60.5, 'b'], [61, 'a'], [61.5, 'b']) })).toEqual({
      machine: false,
    });
  });

  it('flags a click that arrives before the others of its burst (SES does not order events)', () => {
    const record = click(60, 'https://www.example.com/a');

    expect(classifyEngagement(record, { priorClicks: prior([63, 'b'], [64, 'c']) })).toMatchObject({
      reason: 'link_burst',
    });
  });

  it('is not fooled by a redelivery of the same click in the prior clicks', () => {
    const record = click(62, 'https://www.example.com/b');

    expect(classifyEngagement(record, { priorClicks: prior([60, 'a'], [62, 'b']) })).toEqual({ machine: false });
  });

  it('takes the number of links and the window from the configuration', () => {
    const record = click(62, 'https://www.example.com/b');
    const rules = { ...DEFAULT_MACHINE_RULES, burstDistinctLinks: 2 };

    expect(classifyEngagement(record, { priorClicks: prior([60, 'a']), rules })).toMatchObject({
      reason: 'link_burst',
    });
  });
});

describe('mapSesRecord flags machine events but keeps them', () => {
  it('keeps the type and marks the reason', () => {
    const record = click(5, 'https://www.example.com/a');

    const [event] = mapSesRecord(record);

    expect(event).toMatchObject({
      type: 'email_clicked',
      properties: { machine: true, machineReason: 'fast_click', machineDetail: '5.0 s after send' },
    });
  });

  it('marks nothing on a human click', () => {
    const [event] = mapSesRecord(click(600, 'https://www.example.com/a'));

    expect(event?.properties).not.toHaveProperty('machine');
    expect(event?.properties).not.toHaveProperty('machineReason');
  });

  it('gives a flagged and an unflagged delivery of the same click the same id', () => {
    const record = click(62, 'https://www.example.com/c');
    const priorClicks = [
      { at: at(60), link: 'https://www.example.com/a' },
      { at: at(61), link: 'https://www.example.com/b' },
    ];

    const [alone] = mapSesRecord(record);
    const [inBurst] = mapSesRecord(record, { priorClicks });

    expect(inBurst?.properties.machine).toBe(true);
    expect(inBurst?.eventId).toBe(alone?.eventId);
  });
});

describe('userAgentFamily', () => {
  it.each([
    [undefined, 'unknown'],
    ['', 'unknown'],
    [IPHONE_MAIL, 'apple-mail'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)', 'apple-mail'],
    ['Mozilla/5.0', 'apple-mail-privacy-proxy'],
    ['Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)', 'gmail-image-proxy'],
    [CHROME, 'chrome'],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36 Edg/122.0',
      'edge',
    ],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0', 'firefox'],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15',
      'safari',
    ],
    ['Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)', 'outlook'],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.8.0', 'thunderbird'],
    ['python-requests/2.31.0', 'scanner'],
    ['SomethingElse/1.0', 'other'],
  ])('%s → %s', (userAgent, family) => {
    expect(userAgentFamily(userAgent)).toBe(family);
  });
});
