import { describe, expect, it } from 'vitest';
import { instrumentHtml } from '../../../lib/local/adapters/ses-simulator.js';
import { fixedClock } from '../../../lambdas/domain/clock.js';
import { parseSesSqsBody } from '../../../lambdas/domain/ses-events.js';
import { LocalEventBus } from '../../../lib/local/adapters/event-bus.js';
import { LocalQueues } from '../../../lib/local/adapters/queues.js';
import { sesEventPublisher } from '../../../lib/local/adapters/ses-loopback.js';
import type { LocalRequest, LocalResponse } from '../../../lib/local/http-server.js';
import { sesRoutes } from '../../../lib/local/ses-routes.js';
import { testDeployment } from '../../support/deployment.js';
import { fixtureEvent, type Json } from '../ses/fixtures.js';

const SECRET = 'routes-test-secret';
const NOW = '2025-03-05T08:00:00.000Z';

const deployment = testDeployment('routes-test');
const [configurationSetName = ''] = Object.keys(deployment.configurationSets);
const engagementQueue = deployment.queueMappings[0]?.queueLogicalId ?? '';

/**
 * The routes on the template's event bus and queues: what they publish is routed by the stack's rule to the
 * engagement queue, whose messages are the EventBridge events the engagement function would receive.
 */
function routes(opts: { failPublish?: boolean } = {}) {
  const logs: string[] = [];
  const clock = fixedClock(NOW);
  const queues = new LocalQueues(deployment.queues);
  const bus = new LocalEventBus({
    rules: deployment.rules,
    queues,
    clock,
    region: 'eu-west-1',
    account: '000000000000',
    log: (l) => logs.push(l),
  });
  const publish = sesEventPublisher({
    bus,
    configurationSets: deployment.configurationSets,
    region: 'eu-west-1',
    account: '000000000000',
  });
  const r = sesRoutes({
    publish: opts.failPublish ? () => Promise.reject(new Error('boom')) : publish,
    configurationSetName,
    clock,
    secret: SECRET,
    log: (l) => logs.push(l),
  });
  /** The EventBridge events the engagement queue holds, each validated as SES's SQS record body. */
  const delivered = (): { [key: string]: Json }[] =>
    queues.peek(engagementQueue).map((m) => {
      parseSesSqsBody(m.body);
      return JSON.parse(m.body) as { [key: string]: Json };
    });
  return { ...r, logs, delivered };
}

/** A record as SES publishes it for mail of the stack's configuration set. */
const ofStack = (record: Json): Json => {
  const copy = structuredClone(record) as { mail: { tags?: Record<string, string[]> } };
  copy.mail.tags = { ...copy.mail.tags, 'ses:configuration-set': [configurationSetName] };
  return copy as Json;
};

function request(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): LocalRequest {
  const u = new URL(url, 'http://127.0.0.1:3000');
  return {
    method,
    path: u.pathname,
    query: u.searchParams,
    headers,
    body: Buffer.from(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)),
    params: {},
    sourceIp: '127.0.0.1',
  };
}

const bodyOf = (res: LocalResponse): unknown => JSON.parse(Buffer.from(res.body ?? '').toString('utf8'));

describe('POST /_local/ses', () => {
  it('publishes a bare SES record as the stack’s configuration set would, and the rule queues it for engagement', async () => {
    const r = routes();
    const record = fixtureEvent('bounce-permanent').detail;

    const res = await r.postSes(request('POST', '/_local/ses', record));

    expect(res.status).toBe(202);
    expect(bodyOf(res)).toEqual({ received: 1, failed: [] });
    const [event] = r.delivered();
    expect(event).toMatchObject({
      version: '0',
      source: 'aws.ses',
      'detail-type': 'Email Bounced',
      account: '000000000000',
      region: 'eu-west-1',
      time: '2025-03-05T08:00:00Z',
      resources: [`arn:aws:ses:eu-west-1:000000000000:configuration-set/${configurationSetName}`],
    });
    expect(event?.detail).toEqual(ofStack(record));
  });

  it('names each record type as SES does on EventBridge', async () => {
    const r = routes();
    const names = [
      'send',
      'delivery',
      'open',
      'click-human',
      'complaint',
      'reject',
      'delivery-delay',
      'rendering-failure',
      'subscription-unsubscribe',
    ] as const;
    const records = names.map((n) => fixtureEvent(n).detail);

    await r.postSes(request('POST', '/_local/ses', records));

    expect(r.delivered().map((e) => e['detail-type'])).toEqual(names.map((n) => fixtureEvent(n)['detail-type']));
  });

  it('publishes a whole EventBridge event as its record, beside bare records', async () => {
    const r = routes();
    const event = fixtureEvent('open');

    const res = await r.postSes(request('POST', '/_local/ses', [event, fixtureEvent('send').detail]));

    expect(bodyOf(res)).toEqual({ received: 2, failed: [] });
    expect(r.delivered()[0]).toMatchObject({ 'detail-type': event['detail-type'], detail: ofStack(event.detail) });
  });

  it('publishes a record of another configuration set as mail of the stack’s, the only mail SES reports to it', async () => {
    const r = routes();
    const other = structuredClone(fixtureEvent('open').detail) as { mail: { tags: Record<string, string[]> } };
    other.mail.tags['ses:configuration-set'] = ['someone-elses-set'];

    const res = await r.postSes(request('POST', '/_local/ses', other as Json));

    expect(bodyOf(res)).toEqual({ received: 1, failed: [] });
    expect(r.delivered()[0]).toMatchObject({
      detail: { mail: { tags: { 'ses:configuration-set': [configurationSetName] } } },
    });
  });

  it('answers 400 naming the field and reason of each malformed record, and processes none', async () => {
    const r = routes();
    const malformed = fixtureEvent('malformed').detail;

    const res = await r.postSes(request('POST', '/_local/ses', [fixtureEvent('send').detail, malformed]));
    const single = await r.postSes(request('POST', '/_local/ses', { eventType: 'Teleport', mail: {} }));

    expect(res.status).toBe(400);
    expect(bodyOf(res)).toMatchObject({ error: 'ValidationError', fields: { '[1].mail.messageId': 'is required' } });
    expect(bodyOf(single)).toMatchObject({
      fields: { eventType: expect.stringMatching(/unknown SES event type "Teleport"/) },
    });
    expect(r.delivered()).toEqual([]);
  });

  it('answers 400 for a body that is not JSON or holds no record', async () => {
    const r = routes();

    expect((await r.postSes(request('POST', '/_local/ses', 'not json'))).status).toBe(400);
    expect(bodyOf(await r.postSes(request('POST', '/_local/ses', [])))).toMatchObject({
      fields: { '(body)': 'must hold 1 to 100 SES records' },
    });
  });

  it('reports every record failed, with the error, when publishing fails', async () => {
    const r = routes({ failPublish: true });

    const res = await r.postSes(request('POST', '/_local/ses', fixtureEvent('send').detail));

    expect(bodyOf(res)).toEqual({ received: 1, failed: [{ index: 0, reason: 'not published: boom' }] });
  });
});

describe('GET /_local/t/open and /_local/t/click', () => {
  const mail = {
    messageId: 'local-message-1',
    to: 'ada@example.com',
    from: 'Leadloop <hello@leadloop.localhost>',
    subject: 'Hello',
    tags: { leadId: '01JNF3K7Q8ZB2V6W9X4Y5T1R0M', track: 'newsletter', touch: '1' },
    timestamp: '2025-03-05T07:00:00.000Z',
  };
  const html = instrumentHtml('<body><a href="https://example.com/pricing?a=1&amp;b=2">x</a></body>', {
    ...mail,
    trackingBaseUrl: 'http://127.0.0.1:3000',
    secret: SECRET,
  });
  const link = (kind: string): string => {
    const found = [...html.matchAll(/(?:href|src)="([^"]*)"/g)]
      .map((m) => (m[1] ?? '').replaceAll('&amp;', '&'))
      .find((u) => u.includes(`/_local/t/${kind}?`));
    if (!found) throw new Error(`no ${kind} link`);
    return found;
  };
  const browser = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0' };

  it('a click emits the Click record of that mail, now, with the reader’s user agent, and redirects to the target', async () => {
    const r = routes();

    const res = await r.trackClick(request('GET', link('click'), undefined, browser));

    expect(res).toMatchObject({ status: 302, headers: { Location: 'https://example.com/pricing?a=1&b=2' } });
    const [event] = r.delivered();
    expect(event).toMatchObject({
      'detail-type': 'Email Clicked',
      detail: {
        eventType: 'Click',
        mail: {
          messageId: 'local-message-1',
          destination: ['ada@example.com'],
          timestamp: mail.timestamp,
          tags: { leadId: [mail.tags.leadId], track: ['newsletter'] },
        },
        click: { link: 'https://example.com/pricing?a=1&b=2', timestamp: NOW, userAgent: browser['user-agent'] },
      },
    });
  });

  it('an open emits the Open record and answers a 1×1 GIF that is not cached', async () => {
    const r = routes();

    const res = await r.trackOpen(request('GET', link('open'), undefined, browser));

    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({
      'Content-Type': 'image/gif',
      'Cache-Control': expect.stringMatching(/no-store/),
    });
    expect(
      Buffer.from(res.body ?? '')
        .subarray(0, 6)
        .toString('latin1'),
    ).toBe('GIF89a');
    expect(r.delivered()[0]).toMatchObject({
      'detail-type': 'Email Opened',
      detail: { eventType: 'Open', open: { timestamp: NOW } },
    });
  });

  it('refuses a link whose target or signature was changed, and emits nothing', async () => {
    const r = routes();
    const forged = new URL(link('click'));
    forged.searchParams.set('u', 'https://evil.example/');

    const res = await r.trackClick(request('GET', forged.toString()));
    const unsigned = await r.trackOpen(request('GET', '/_local/t/open?m=local-message-1'));

    expect(res.status).toBe(400);
    expect(bodyOf(res)).toMatchObject({ message: 'invalid tracking link: bad signature' });
    expect(unsigned.status).toBe(400);
    expect(r.delivered()).toEqual([]);
  });

  it('still redirects the reader when recording fails, and logs why', async () => {
    const r = routes({ failPublish: true });

    const res = await r.trackClick(request('GET', link('click'), undefined, browser));

    expect(res.status).toBe(302);
    expect(r.logs.join('\n')).toMatch(/click of local-message-1 not recorded/);
  });
});
