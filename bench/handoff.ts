/**
 * Speed to lead (issue 11): a burst of fit demo requests posted to the local stack as `cdk deploy -c
 * salesWebhookUrl=…` deploys it, timed from each form's 202 to the webhook's receipt of its `LeadPromoted` — capture,
 * the stream, scoring (the commit records the promotion), the stream again, the publisher, the bus, the rule, the API
 * destination. The in-run baseline is the capture alone: the form post's own round trip to its 202, in the same
 * bursts. `npx tsx bench/handoff.ts [--burst 20] [--rounds 3]`.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { freePort } from '../lib/local/ports.js';
import { startLocalStack } from '../lib/local/stack.js';

const { values } = parseArgs({ options: { burst: { type: 'string' }, rounds: { type: 'string' } } });
const BURST = Number(values.burst ?? 20);
const ROUNDS = Number(values.rounds ?? 3);

const received = new Map<string, number>();
const port = await freePort();
const webhook = createServer((req, res) => {
  let text = '';
  req.on('data', (c: Buffer) => (text += c.toString()));
  req.on('end', () => {
    const leadId = z
      .object({ detail: z.object({ lead: z.object({ leadId: z.string() }) }) })
      .safeParse(JSON.parse(text || 'null')).data?.detail.lead.leadId;
    if (leadId && !received.has(leadId)) received.set(leadId, performance.now());
    res.writeHead(200).end();
  });
});
await new Promise<void>((r) => webhook.listen(port, '127.0.0.1', r));

const stack = await startLocalStack({
  port: 0,
  dynamoDbPort: 0,
  sesPort: 0,
  sfnPort: 0,
  inMemory: true,
  pollIntervalMs: 50,
  schedules: false,
  // Lambda scales a burst out over several containers; one container per function would queue it.
  maxConcurrency: 4,
  context: { salesWebhookUrl: `http://127.0.0.1:${port}/leads` },
  log: () => undefined,
  onFunctionLog: () => undefined,
});

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

async function demoRequest(email: string): Promise<{ leadId: string; acceptedAt: number; captureMs: number }> {
  const postedAt = performance.now();
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
  const acceptedAt = performance.now();
  if (res.status !== 202) throw new Error(`form answered ${res.status}`);
  const leadId = z.object({ leadId: z.string() }).parse(await res.json()).leadId;
  return { leadId, acceptedAt, captureMs: acceptedAt - postedAt };
}

try {
  // Warm every container on the path once (a cold start is a deploy's first request, not speed to lead).
  const warm = await demoRequest(`warm-up@bench.example`);
  while (!received.has(warm.leadId)) await new Promise((r) => setTimeout(r, 20));

  const toWebhook: number[] = [];
  const capture: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const burst = await Promise.all(
      Array.from({ length: BURST }, (_, i) => demoRequest(`burst-${round}-${i}@bench.example`)),
    );
    const deadline = performance.now() + 60_000;
    while (burst.some((b) => !received.has(b.leadId)) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const b of burst) {
      const at = received.get(b.leadId);
      if (at !== undefined) toWebhook.push(at - b.acceptedAt);
      capture.push(b.captureMs);
    }
  }
  await stack.settle();
  const deliveries = stack.apiDestinations.deliveries.length - 1; // minus the warm-up
  const leads = BURST * ROUNDS;
  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  console.log(`\nSpeed to lead: ${ROUNDS} bursts of ${BURST} fit demo requests (${leads} leads), local stack`);
  console.log(`${'measure'.padEnd(44)}${'p50'.padStart(10)}${'p95'.padStart(10)}${'max'.padStart(10)}`);
  const row = (label: string, xs: number[]) =>
    console.log(
      `${label.padEnd(44)}${fmt(percentile(xs, 50)).padStart(10)}${fmt(percentile(xs, 95)).padStart(10)}${fmt(Math.max(...xs)).padStart(10)}`,
    );
  row('baseline: form post → 202 (capture alone)', capture);
  row('202 → webhook received LeadPromoted', toWebhook);
  console.log(
    `hand-off after the 202 / capture (p50): ${(percentile(toWebhook, 50) / percentile(capture, 50)).toFixed(2)}×; ` +
      `webhook deliveries ${deliveries} for ${leads} promotions (${toWebhook.length} received)`,
  );
} finally {
  await stack.stop();
  await new Promise<void>((r) => webhook.close(() => r()));
}
