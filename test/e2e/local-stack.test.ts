import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { isPortFree } from '../../lib/local/ports.js';
import { TABLE } from '../../lambdas/adapters/table-definition.js';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';

/**
 * The local stack as `npm start` runs it, in-process on free ports with nothing kept, over real HTTP: the landing
 * page, a form post as a browser without JavaScript sends it, a JSON post, scoring through the stream poller, the
 * admin read-back, API Gateway's own answers, and a clean stop.
 */

const Accepted = z.object({ leadId: z.string().min(1), status: z.literal('accepted') });
const LeadView = z.object({
  leadId: z.string(),
  email: z.string(),
  stage: z.string(),
  scores: z.object({ total: z.number(), contributions: z.array(z.object({ kind: z.string() })) }).nullable(),
  stageHistory: z.array(z.object({ to: z.string() })),
});

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
    logMode: 'json',
    log: (l) => logs.push(l),
  });
});

afterAll(async () => {
  await stack?.stop();
});

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const urlencoded = { 'content-type': 'application/x-www-form-urlencoded' };

async function readLead(email: string): Promise<Response> {
  return fetch(`${stack.url}/leads?email=${encodeURIComponent(email)}`, { headers: { 'x-admin-key': stack.adminKey } });
}

describe('local stack over HTTP', () => {
  it('serves the example landing page with the demo-request form', async () => {
    const res = await fetch(`${stack.url}/`);
    const html = await res.text();

    expect(res.status).toBe(200);
    expect(html).toMatch(/<form[^>]*action="\/forms\/demo-request"[^>]*method="post"/);
    expect(html).toMatch(/<form[^>]*action="\/forms\/newsletter"/);
    expect(html).toMatch(/name="website"[^>]*tabindex="-1"[^>]*autocomplete="off"/);
  });

  it('answers a plain HTML form post with a 303 to its redirect page, which exists', async () => {
    const res = await fetch(`${stack.url}/forms/demo-request`, {
      method: 'POST',
      headers: urlencoded,
      body: form({
        email: 'grace@example.com',
        firstName: 'Grace',
        company: 'Navy Labs',
        jobTitle: 'Director of Engineering',
        companySize: '201-1000',
        industry: 'tech-support',
        timeline: 'this-quarter',
        consent: 'yes',
        redirect: '/thanks.html',
        website: '',
      }),
      redirect: 'manual',
    });
    const thanks = await fetch(res.headers.get('location') ?? `${stack.url}/missing`);

    expect(res.status).toBe(303);
    // resolved against the page's site (the first allowed origin when the post carries no Origin)
    expect(new URL(res.headers.get('location') ?? '').pathname).toBe('/thanks.html');
    expect(thanks.status).toBe(200);
  });

  it('accepts a JSON form post, then scores and stages the lead from the stream', async () => {
    const res = await fetch(`${stack.url}/forms/demo-request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'Ada@Example.com',
        firstName: 'Ada',
        company: 'Analytical Engines',
        jobTitle: 'CTO',
        budget: '$2,000 / month',
        timeline: 'now',
        consent: 'yes',
      }),
    });
    expect(res.status).toBe(202);
    const { leadId } = Accepted.parse(await res.json());

    await stack.poller.drain();
    const read = await readLead('ada@example.com');
    const lead = LeadView.parse(await read.json());

    expect(read.status).toBe(200);
    expect(lead.leadId).toBe(leadId);
    expect(lead.email).toBe('ada@example.com');
    expect(lead.scores?.contributions.some((c) => c.kind === 'engagement')).toBe(true);
    expect(lead.stage).not.toBe('subscriber');
    expect(lead.stageHistory.length).toBeGreaterThan(0);
    expect(stack.poller.deadLetters).toHaveLength(0);
  });

  it('writes nothing for a filled honeypot but answers as usual', async () => {
    const res = await fetch(`${stack.url}/forms/newsletter`, {
      method: 'POST',
      headers: urlencoded,
      body: form({ email: 'bot@example.com', website: 'http://spam.example', redirect: '/subscribed.html' }),
      redirect: 'manual',
    });
    await stack.poller.drain();

    expect(res.status).toBe(303);
    expect((await readLead('bot@example.com')).status).toBe(404);
  });

  it('requires the API key on /events and the admin key on /leads', async () => {
    const body = JSON.stringify({ events: [{ email: 'ada@example.com', type: 'pricing_page_viewed' }] });
    const none = await fetch(`${stack.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const wrong = await fetch(`${stack.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'wrong' },
      body,
    });
    const right = await fetch(`${stack.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': stack.apiKey },
      body,
    });
    const admin = await fetch(`${stack.url}/leads?email=ada%40example.com`);

    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: 'Unauthorized', message: 'missing or invalid x-api-key' });
    expect(wrong.status).toBe(401);
    expect(right.status).toBe(202);
    expect(admin.status).toBe(401);
  });

  it('answers 404 for an unknown route', async () => {
    const res = await fetch(`${stack.url}/no/such/route`);

    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'NotFound', message: 'no such route' });
  });

  it('runs a named sweep on request and reports how far it got (what `leadloop sweep` draws its bar from)', async () => {
    const name = `e2e-sweep-${Date.now()}`;
    const post = (body: unknown) =>
      fetch(`${stack.url}/_local/sweep`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const swept = await post({ name });
    const progress = await fetch(`${stack.url}/_local/sweep/${name}`);
    const again = await post({ name });
    const badName = await post({ name: 'no spaces allowed' });
    const unknown = await fetch(`${stack.url}/_local/sweep/never-ran`);

    expect(swept.status).toBe(200);
    expect(await progress.json()).toEqual({
      status: 'SUCCEEDED',
      shards: TABLE.reviewShards,
      shardsDone: TABLE.reviewShards,
    });
    expect(again.status).toBe(409);
    expect(badName.status).toBe(400);
    expect(unknown.status).toBe(404);
  });

  it('logs requests without query strings', () => {
    expect(logs.some((l) => /^http {2}GET \/leads 200 \d+ms$/.test(l))).toBe(true);
    expect(logs.some((l) => l.includes('ada%40example.com'))).toBe(false);
  });

  it('frees every port it used once stopped', async () => {
    const ports = [stack.port, stack.dynamoDbPort, stack.sesPort];

    await stack.stop();

    for (const port of ports) expect(await isPortFree(port)).toBe(true);
  });
});
