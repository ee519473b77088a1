import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import type { BusEvent } from '../../lib/local/adapters/event-bus.js';
import { freePort } from '../../lib/local/ports.js';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';

/**
 * Speed to lead (issue 11) on the local stack as `cdk deploy -c salesWebhookUrl=…` deploys it: a fit demo request is
 * scored an SQL, its promotion recorded with the transition and published from the outbox, and the stack's rule
 * delivers it to the webhook — once, within seconds; a failing webhook is retried or dead-lettered and never holds up
 * scoring.
 */

interface Received {
  at: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

const received: Received[] = [];
/** What the webhook answers next (then 200). */
const answers: number[] = [];
let webhook: Server;
let stack: LocalStack;
const logs: string[] = [];
const busEvents: BusEvent[] = [];

beforeAll(async () => {
  const port = await freePort();
  webhook = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const status = answers.shift() ?? 200;
      received.push({ at: Date.now(), headers: req.headers, body: JSON.parse(text || 'null') as unknown });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => webhook.listen(port, '127.0.0.1', r));
  stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    sesPort: 0,
    sfnPort: 0,
    inMemory: true,
    pollIntervalMs: 50,
    schedules: false,
    context: { salesWebhookUrl: `http://127.0.0.1:${port}/leads` },
    log: (l) => logs.push(l),
  });
  stack.bus.onEvent((e) => busEvents.push(e));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => webhook?.close(() => r()));
});

const Envelope = z.object({
  'detail-type': z.string(),
  source: z.string(),
  detail: z.object({
    promotionId: z.string(),
    lead: z.object({ leadId: z.string(), email: z.string(), stage: z.string() }),
    score: z.object({ grade: z.string(), explanation: z.array(z.object({ ruleId: z.string() })) }),
    bant: z.record(z.string(), z.string()),
    trigger: z.object({ rule: z.string() }),
  }),
});

async function demoRequest(email: string): Promise<{ leadId: string; acceptedAt: number }> {
  const res = await fetch(`${stack.url}/forms/demo-request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email,
      firstName: 'Ada',
      company: 'Analytical Engines',
      jobTitle: 'CTO',
      companySize: '201-1000',
      industry: 'tech-support',
      budget: '50k',
      timeline: 'this-quarter',
      consent: 'yes',
    }),
  });
  expect(res.status).toBe(202);
  return { ...z.object({ leadId: z.string() }).parse(await res.json()), acceptedAt: Date.now() };
}

const deliveriesTo = (leadId: string) =>
  received.filter((r) => Envelope.safeParse(r.body).data?.detail.lead.leadId === leadId);

async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the sales webhook', () => {
  it('receives a fit demo request within seconds, once, with the score explanation, BANT and trigger', async () => {
    const { leadId, acceptedAt } = await demoRequest('ada.cto@analytical-engines.example');

    await until(() => deliveriesTo(leadId).length > 0);
    await stack.settle();
    const [delivery, ...more] = deliveriesTo(leadId);
    const event = Envelope.parse(delivery?.body);

    expect(more).toEqual([]);
    expect((delivery?.at ?? 0) - acceptedAt).toBeLessThan(15_000);
    expect(event).toMatchObject({
      source: 'leadloop',
      'detail-type': 'LeadPromoted',
      detail: {
        lead: { leadId, stage: 'sql' },
        score: { grade: 'A' },
        bant: { budget: '50k', timeline: 'this-quarter' },
        trigger: { rule: expect.stringMatching(/sql/) },
      },
    });
    expect(event.detail.score.explanation.map((c) => c.ruleId)).toContain('demo-requested');
    expect(logs.some((l) => l.startsWith('promoted to sales: Ada, Analytical Engines'))).toBe(true);
    // Every transition went out as LeadStageChanged too.
    const changes = busEvents.filter(
      (e) => e['detail-type'] === 'LeadStageChanged' && JSON.stringify(e.detail).includes(leadId),
    );
    expect(changes.map((e) => z.object({ to: z.string() }).parse(e.detail).to)).toContain('sql');
  });

  it('retries a webhook that answers 5xx and delivers once it recovers', async () => {
    answers.push(503, 500);
    const { leadId } = await demoRequest('retry.me@analytical-engines.example');

    await until(() => deliveriesTo(leadId).length >= 3);
    await stack.settle();

    expect(deliveriesTo(leadId)).toHaveLength(3);
    expect(stack.apiDestinations.deliveries.some((d) => d.status === 'delivered' && d.attempts === 3)).toBe(true);
  });

  it('dead-letters a promotion the webhook refuses with a 4xx at once, intact, and scoring goes on', async () => {
    answers.push(400);
    const { leadId } = await demoRequest('refused@analytical-engines.example');

    await until(() => deliveriesTo(leadId).length >= 1);
    await stack.settle();
    const target = stack.deployment.rules.flatMap((r) => r.targets).find((t) => t.kind === 'api-destination');
    const dlq =
      target?.kind === 'api-destination' && target.deadLetterQueue ? stack.queues.peek(target.deadLetterQueue) : [];

    expect(deliveriesTo(leadId)).toHaveLength(1);
    expect(dlq.map((m) => Envelope.parse(JSON.parse(m.body)).detail.lead.leadId)).toContain(leadId);
    const lead = await fetch(`${stack.url}/leads/${leadId}`, { headers: { 'x-admin-key': stack.adminKey } });
    expect(z.object({ stage: z.string() }).parse(await lead.json()).stage).toBe('sql');
  });
});
