import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { instrumentHtml } from '../../../lambdas/adapters/local-ses-simulator.js';
import { fixedClock } from '../../../lambdas/domain/clock.js';
import { SesSqsRecord } from '../../../lambdas/domain/ses-events.js';
import type { LocalRequest, LocalResponse } from '../../../lib/local/http-server.js';
import { sesRoutes } from '../../../lib/local/ses-routes.js';
import { fixtureEvent, type Json } from '../ses/fixtures.js';

const SECRET = 'routes-test-secret';
const RawSqsRecord = z.object({ messageId: z.string(), body: z.string() });
const NOW = '2025-03-05T08:00:00.000Z';

/** A stand-in engagement handler: keeps what it was called with, fails the messages `fail` picks. */
function fakeHandler(fail: (body: string) => boolean = () => false) {
  const calls: unknown[] = [];
  const handler = async (event: unknown) => {
    calls.push(event);
    const records = sqsRecords(event);
    return { batchItemFailures: records.filter((r) => fail(r.body)).map((r) => ({ itemIdentifier: r.messageId })) };
  };
  return { calls, handler };
}

/** The SQS records of an event, each validated as an SES SQS record (envelope and body). */
function sqsRecords(event: unknown): { messageId: string; body: string }[] {
  if (typeof event !== 'object' || event === null || !('Records' in event) || !Array.isArray(event.Records)) {
    throw new Error('not an SQS event');
  }
  return event.Records.map((r: unknown) => {
    SesSqsRecord.parse(r);
    return RawSqsRecord.parse(r);
  });
}

function routes(fail?: (body: string) => boolean) {
  const fake = fakeHandler(fail);
  const logs: string[] = [];
  const r = sesRoutes({
    handler: fake.handler,
    clock: fixedClock(NOW),
    region: 'eu-west-1',
    secret: SECRET,
    log: (l) => logs.push(l),
  });
  return { ...r, ...fake, logs };
}

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

/** The EventBridge events the handler received, parsed from the SQS bodies. */
const delivered = (calls: unknown[]): { [key: string]: Json }[] =>
  calls.flatMap((c) => sqsRecords(c)).map((r) => JSON.parse(r.body) as { [key: string]: Json });

describe('POST /_local/ses', () => {
  it('wraps a bare SES record in the EventBridge → SQS envelope SES and the queue would give it', async () => {
    const r = routes();
    const record = fixtureEvent('bounce-permanent').detail;

    const res = await r.postSes(request('POST', '/_local/ses', record));

    expect(res.status).toBe(202);
    expect(bodyOf(res)).toEqual({ received: 1, failed: [] });
    const [event] = delivered(r.calls);
    expect(event).toMatchObject({
      version: '0',
      source: 'aws.ses',
      'detail-type': 'Email Bounced',
      account: '000000000000',
      region: 'eu-west-1',
      time: '2025-03-05T08:00:00Z',
      resources: ['arn:aws:ses:eu-west-1:000000000000:configuration-set/leadloop'],
    });
    expect(event?.detail).toEqual(record);
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

    expect(delivered(r.calls).map((e) => e['detail-type'])).toEqual(names.map((n) => fixtureEvent(n)['detail-type']));
  });

  it('passes a whole EventBridge event on as it is, in one invocation with the bare records', async () => {
    const r = routes();
    const event = fixtureEvent('open');

    const res = await r.postSes(request('POST', '/_local/ses', [event, fixtureEvent('send').detail]));

    expect(bodyOf(res)).toEqual({ received: 2, failed: [] });
    expect(r.calls).toHaveLength(1);
    expect(delivered(r.calls)[0]).toEqual(event);
  });

  it('reports the records the handler failed, by index', async () => {
    const r = routes((body) => body.includes('"eventType":"Open"'));

    const res = await r.postSes(
      request('POST', '/_local/ses', [fixtureEvent('send').detail, fixtureEvent('open').detail]),
    );

    expect(res.status).toBe(202);
    expect(bodyOf(res)).toEqual({
      received: 2,
      failed: [{ index: 1, reason: expect.stringMatching(/reported it failed/) }],
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
    expect(r.calls).toEqual([]);
  });

  it('answers 400 for a body that is not JSON or holds no record', async () => {
    const r = routes();

    expect((await r.postSes(request('POST', '/_local/ses', 'not json'))).status).toBe(400);
    expect(bodyOf(await r.postSes(request('POST', '/_local/ses', [])))).toMatchObject({
      fields: { '(body)': 'must hold 1 to 100 SES records' },
    });
  });

  it('reports every record failed, with the error, when the handler throws', async () => {
    const r = routes();
    const broken = sesRoutes({
      handler: async () => {
        throw new Error('boom');
      },
      clock: fixedClock(NOW),
      region: 'eu-west-1',
      log: (l) => r.logs.push(l),
    });

    const res = await broken.postSes(request('POST', '/_local/ses', fixtureEvent('send').detail));

    expect(bodyOf(res)).toEqual({
      received: 1,
      failed: [{ index: 0, reason: 'the engagement handler failed: Error: boom' }],
    });
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
    const [event] = delivered(r.calls);
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
    expect(delivered(r.calls)[0]).toMatchObject({
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
    expect(r.calls).toEqual([]);
  });

  it('still redirects the reader when recording fails, and logs why', async () => {
    const r = routes(() => true);

    const res = await r.trackClick(request('GET', link('click'), undefined, browser));

    expect(res.status).toBe(302);
    expect(r.logs.join('\n')).toMatch(/click of local-message-1 not recorded/);
  });
});
