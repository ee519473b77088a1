import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import {
  instrumentHtml,
  localMessageId,
  localTrackingSecret,
  postToLoopback,
  sendAndDeliveryRecords,
  type LocalMail,
} from '../../lib/local/adapters/ses-simulator.js';
import { inject } from '../../bin/commands/inject.js';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';

/**
 * The engagement loop-back of `npm start` over real HTTP (issue 5, "done when"): a local send's Send and Delivery
 * records, the open pixel and a tracked link of its HTML raising the lead's engagement, an injected hard bounce
 * disqualifying and suppressing the lead, and replays changing nothing.
 */

const LeadView = z.object({
  leadId: z.string(),
  stage: z.string(),
  disqualification: z.string().nullable(),
  suppression: z.object({ hardBounced: z.boolean(), complained: z.boolean(), unsubscribed: z.boolean() }),
  scores: z.object({ engagement: z.number(), contributions: z.array(z.object({ label: z.string() })) }).nullable(),
  stageHistory: z.array(z.object({ to: z.string(), at: z.string() })),
});
const BROWSER =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15';
const SECRET = localTrackingSecret();

let stack: LocalStack;
const logs: string[] = [];

beforeAll(async () => {
  stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    sesPort: 0,
    sfnPort: 0,
    inMemory: true,
    pollIntervalMs: 50,
    log: (l) => logs.push(l),
  });
});

afterAll(async () => {
  await stack?.stop();
});

async function subscribe(email: string): Promise<string> {
  const res = await fetch(`${stack.url}/forms/newsletter`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, firstName: 'Ada', consent: 'yes' }),
  });
  expect(res.status).toBe(202);
  await stack.poller.drain();
  return z.object({ leadId: z.string() }).parse(await res.json()).leadId;
}

async function lead(email: string) {
  await stack.poller.drain();
  const res = await fetch(`${stack.url}/leads?email=${encodeURIComponent(email)}`, {
    headers: { 'x-admin-key': stack.adminKey },
  });
  expect(res.status).toBe(200);
  return LeadView.parse(await res.json());
}

/** A local nurture mail to `email`, sent an hour ago on the stack's clock (so a reader's open is not a pre-fetch). */
function mailTo(email: string, leadId: string): LocalMail {
  return {
    messageId: localMessageId(),
    to: email,
    from: 'Leadloop <hello@leadloop.localhost>',
    subject: 'Welcome',
    tags: [
      { Name: 'leadId', Value: leadId },
      { Name: 'track', Value: 'newsletter' },
      { Name: 'touch', Value: '1' },
    ],
    timestamp: new Date(stack.clock.now().getTime() - 3_600_000),
  };
}

const links = (html: string): string[] =>
  [...html.matchAll(/(?:href|src)="([^"]*)"/g)].map((m) => (m[1] ?? '').replaceAll('&amp;', '&'));

describe('SES engagement loop-back on the local stack', () => {
  it('reading and clicking a local mail raises the lead’s engagement; a forged link is refused', async () => {
    const email = 'reader@example.com';
    const leadId = await subscribe(email);
    const mail = mailTo(email, leadId);
    const before = await lead(email);

    const posted = await postToLoopback(sendAndDeliveryRecords(mail), stack.url);
    const html = instrumentHtml('<html><body><a href="https://example.com/pricing">Pricing</a></body></html>', {
      ...mail,
      trackingBaseUrl: stack.url,
      secret: SECRET,
    });
    const [click, open] = links(html);
    const pixel = await fetch(open ?? '', { headers: { 'user-agent': BROWSER } });
    const clicked = await fetch(click ?? '', { headers: { 'user-agent': BROWSER }, redirect: 'manual' });
    const forged = new URL(click ?? '');
    forged.searchParams.set('u', 'https://evil.example/');
    const refused = await fetch(forged, { redirect: 'manual' });
    const after = await lead(email);

    expect(posted).toEqual({ received: 2, failed: [] });
    expect(pixel.status).toBe(200);
    expect(pixel.headers.get('content-type')).toBe('image/gif');
    expect(clicked.status).toBe(302);
    expect(clicked.headers.get('location')).toBe('https://example.com/pricing');
    expect(refused.status).toBe(400);
    expect(after.scores?.engagement ?? 0).toBeGreaterThan(before.scores?.engagement ?? 0);
    expect(after.scores?.contributions.map((c) => c.label)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Opened/), expect.stringMatching(/^Clicked/)]),
    );
    expect(after.scores?.contributions.some((c) => c.label.endsWith('(machine)'))).toBe(false);
  });

  it('an injected hard bounce disqualifies and suppresses the lead, and replaying it changes nothing', async () => {
    const email = 'bounced@example.com';
    await subscribe(email);
    const args = ['bounce', '--email', email, '--permanent', '--url', stack.url, '--admin-key', stack.adminKey];
    const replayable = [...args, '--message-id', 'injected-bounce-1', '--at', stack.clock.now().toISOString()];
    vi.spyOn(console, 'log').mockImplementation(() => undefined);

    const code = await inject(replayable);
    const bounced = await lead(email);
    const replays = [await inject(replayable), await inject(replayable)];
    const replayed = await lead(email);
    vi.restoreAllMocks();

    expect(code).toBe(0);
    expect(bounced).toMatchObject({
      stage: 'disqualified',
      disqualification: 'invalid_contact',
      suppression: { hardBounced: true },
    });
    expect(replays).toEqual([0, 0]);
    expect(replayed).toEqual(bounced);
  });

  it('injected hard bounces trip the reputation brake; GET /sending says why; POST /sending/resume resumes', async () => {
    const admin = { 'x-admin-key': stack.adminKey };
    const Sending = z.object({
      paused: z.boolean(),
      reason: z.string().nullable(),
      bounceRate: z.number(),
      complaintRate: z.number(),
      bounces: z.number(),
    });
    const sending = async (method = 'GET', path = '/sending') => {
      const res = await fetch(`${stack.url}${path}`, { method, headers: admin });
      expect(res.status).toBe(200);
      return Sending.parse(await res.json());
    };
    const before = await sending();
    const emails = ['brake.1@example.com', 'brake.2@example.com', 'brake.3@example.com'];
    for (const email of emails) await subscribe(email);
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const at = stack.clock.now().getTime();
    // Six hard bounces (two per address, different messages): 6 over the brake's floor of 100 sends is 6% > 4%
    // (with the bounce of the test above, 7%).
    let n = 0;
    for (const email of emails) {
      for (const m of [1, 2]) {
        const args = ['bounce', '--email', email, '--permanent', '--url', stack.url, '--admin-key', stack.adminKey];
        await inject([...args, '--message-id', `brake-${email}-${m}`, '--at', new Date(at + n++ * 1000).toISOString()]);
      }
    }
    // A replay of one of them counts nothing more.
    await postToLoopback(
      [
        {
          eventType: 'Bounce',
          mail: {
            timestamp: new Date(at - 3000).toISOString(),
            messageId: `brake-${emails[0]}-1`,
            destination: [emails[0] ?? ''],
          },
          bounce: {
            bounceType: 'Permanent',
            bounceSubType: 'General',
            bouncedRecipients: [{ emailAddress: emails[0] ?? '' }],
            timestamp: new Date(at).toISOString(),
          },
        },
      ],
      stack.url,
    );
    vi.restoreAllMocks();
    const tripped = await sending();
    const resumed = await sending('POST', '/sending/resume');
    const unauthorized = await fetch(`${stack.url}/sending`);

    expect(before.paused).toBe(false);
    expect(tripped).toMatchObject({ paused: true, bounces: before.bounces + 6 });
    expect(tripped.reason).toMatch(/^bounce rate \d+\.\d\d% over 4\.00% \(\d+ hard bounces, \d+ sends\)$/);
    expect(tripped.bounceRate).toBeGreaterThanOrEqual(0.06);
    expect(resumed).toMatchObject({ paused: false, reason: null, bounces: 0, bounceRate: 0 });
    expect(unauthorized.status).toBe(401);
  });

  it('answers 400 with the field and reason for a malformed record, and 202 with failures by index otherwise', async () => {
    const malformed = await fetch(`${stack.url}/_local/ses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        eventType: 'Bounce',
        mail: { timestamp: 'yesterday', messageId: 'm', destination: ['a@b.co'] },
      }),
    });
    const unknown = await fetch(`${stack.url}/_local/ses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sendAndDeliveryRecords(mailTo('nobody@example.com', '01JNF3K7Q8ZB2V6W9X4Y5T1R0M'))),
    });

    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({
      error: 'ValidationError',
      fields: { 'mail.timestamp': 'must be an ISO-8601 timestamp' },
      records: [{ index: 0, problems: ['mail.timestamp: must be an ISO-8601 timestamp', 'bounce: is required'] }],
    });
    expect(unknown.status).toBe(202);
    expect(await unknown.json()).toEqual({ received: 2, failed: [] });
    expect(
      (await fetch(`${stack.url}/leads?email=nobody%40example.com`, { headers: { 'x-admin-key': stack.adminKey } }))
        .status,
    ).toBe(404);
  });

  it('inject says so when no lead is registered for the address', async () => {
    const out: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));

    const code = await inject([
      'complaint',
      '--email',
      'stranger@example.com',
      '--url',
      stack.url,
      '--admin-key',
      stack.adminKey,
    ]);
    vi.restoreAllMocks();

    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/No lead is registered for stranger@example.com: nothing was recorded/);
  });
});
