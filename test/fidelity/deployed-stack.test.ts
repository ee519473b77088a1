import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import type { BusEvent } from '../../lib/local/adapters/event-bus.js';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';
import type { RunRecord } from '../../lib/local/stepfunctions.js';

/**
 * What deploys is what runs (issue 10): the stack as `cdk deploy` ships it — every function of the synthesized
 * template run as its own Lambda, with exactly the environment its `AWS::Lambda::Function` declares plus the SDK's
 * endpoint variables, wired by the template's routes, event source mappings, rules, state machines and schedule —
 * against the emulators. Each scenario drives functions through the path AWS would invoke them by, and the suite ends
 * by checking that every function of the template ran and did its job. A function that reads a setting the stack does
 * not give it fails here exactly as on AWS.
 */

const DAY_SECONDS = 0.25;
const FAILURE_STATES = ['Record failure', 'Nurture failed'];

let stack: LocalStack;
const logs: string[] = [];
const functionErrors: string[] = [];
const busEvents: BusEvent[] = [];

beforeAll(async () => {
  stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    sesPort: 0,
    sfnPort: 0,
    inMemory: true,
    daySeconds: DAY_SECONDS,
    pollIntervalMs: 50,
    // The sweep runs when this suite asks (below), not every simulated day.
    schedules: false,
    log: (l) => logs.push(l),
    onFunctionLog: ({ functionName, line }) => {
      if (/"level":"(ERROR|CRITICAL)"/.test(line)) functionErrors.push(`${functionName}: ${line}`);
    },
  });
  stack.bus.onEvent((e) => busEvents.push(e));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const LeadView = z.object({
  leadId: z.string(),
  stage: z.string(),
  nurture: z.object({ track: z.string(), executionName: z.string(), status: z.string() }).nullable(),
  suppression: z.object({ unsubscribed: z.boolean() }),
});

async function readLead(email: string) {
  const res = await fetch(`${stack.url}/leads?email=${encodeURIComponent(email)}`, {
    headers: { 'x-admin-key': stack.adminKey },
  });
  expect(res.status).toBe(200);
  return LeadView.parse(await res.json());
}

async function postForm(formId: string, fields: Record<string, string>): Promise<void> {
  const res = await fetch(`${stack.url}/forms/${formId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  expect(res.status).toBe(202);
}

/** The lead's nurture run, once it has ended. */
async function endedRun(email: string, timeoutMs = 60_000): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await stack.poller.drain();
    const lead = await readLead(email);
    const run = lead.nurture ? stack.stepFunctions.get(lead.nurture.executionName) : undefined;
    if (run && run.status !== 'RUNNING') return run;
    if (Date.now() > deadline) throw new Error(`no ended run for ${email} (nurture ${JSON.stringify(lead.nurture)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const statesOf = (run: RunRecord) => run.history.filter((h) => h.type === 'StateEntered').map((h) => h.state ?? '');

const StoredMail = z.object({
  destination: z.object({ to: z.array(z.string()) }),
  subject: z.string(),
  body: z.object({ text: z.string().optional() }).optional(),
  headers: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
});

async function mailTo(email: string) {
  const res = await fetch(`${stack.sesEndpoint}/store`);
  return z
    .object({ emails: z.array(StoredMail) })
    .parse(await res.json())
    .emails.filter((m) => m.destination.to.includes(email));
}

/** Confirmed opt-in, as the person does it: the confirmation mail's link, its page, and the one POST. */
async function confirmFromMail(email: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let link: string | undefined;
  while (!link && Date.now() < deadline) {
    const mail = (await mailTo(email)).find((m) => /confirm your subscription/i.test(m.subject));
    link = /(https?:\/\/\S+\/confirm\?token=\S+)/.exec(mail?.body?.text ?? '')?.[1];
    if (!link) await new Promise((r) => setTimeout(r, 100));
  }
  if (!link) throw new Error(`no confirmation mail for ${email}`);
  expect((await fetch(link)).status).toBe(200);
  expect((await fetch(link, { method: 'POST' })).status).toBe(200);
}

describe('the synthesized stack, run as deployed', () => {
  it('reads every function, route, mapping, rule, state machine and schedule from the template', () => {
    const d = stack.deployment;
    expect(Object.keys(d.functions)).toHaveLength(17);
    expect(d.api.routes.map((r) => `${r.method} ${r.resource} ${r.auth}`).sort()).toEqual([
      'DELETE /leads/{leadId} iam',
      'GET /confirm public',
      'GET /leads iam',
      'GET /leads/{leadId} iam',
      'GET /leads/{leadId}/erasure iam',
      'GET /leads/{leadId}/export iam',
      'GET /sending iam',
      'GET /unsubscribe public',
      'POST /confirm public',
      'POST /events api-key',
      'POST /forms/{formId} public',
      'POST /sending/resume iam',
      'POST /unsubscribe public',
    ]);
    expect(d.streamMappings).toHaveLength(3);
    expect(d.queueMappings).toHaveLength(1);
    expect(d.rules.map((r) => r.targets[0]?.kind)).toEqual(['sqs']);
    expect(
      Object.values(d.stateMachines)
        .map((m) => m.track ?? 'requalification')
        .sort(),
    ).toEqual(['case-studies', 'newsletter', 're-engagement', 'requalification', 'testimonials']);
    expect(d.schedules).toHaveLength(1);
    // Each function runs with its own environment: the touch is given the keyring's ARN, the evaluation is not.
    const env = (module: string) => stack.lambda.environmentOf(d.functions[stack.functionIds[module] ?? ''] ?? fail());
    expect(env('nurture-touch').UNSUBSCRIBE_KEYS_SECRET_ARN).toMatch(/^arn:aws:secretsmanager:/);
    expect(env('nurture-evaluate').UNSUBSCRIBE_KEYS_SECRET_ARN).toBeUndefined();
    expect(env('nurture-evaluate').SENDER_EMAIL).toBeUndefined();
    // The form function sends the confirmation mail of confirmed opt-in, on by default.
    expect(env('capture-form')).toMatchObject({
      CONFIRMED_OPT_IN: 'true',
      CONFIRM_BASE_URL: expect.stringMatching(/\/confirm$/),
    });
    expect(env('capture-form').UNSUBSCRIBE_KEYS_SECRET_ARN).toMatch(/^arn:aws:secretsmanager:/);
  });

  it('answers GET /sending with the reputation brake’s state and rates', async () => {
    const res = await fetch(`${stack.url}/sending`, { headers: { 'x-admin-key': stack.adminKey } });

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ paused: false, reason: null, bounceRate: 0, complaintRate: 0 });
  });

  it('runs a whole newsletter track: each touch sent, each wait, each re-evaluation, then unresponsive', async () => {
    const email = 'quiet.reader@example-corp.com';
    await postForm('newsletter', { email, firstName: 'Quinn', consent: 'yes' });
    await stack.settle();
    // Confirmed opt-in: the confirmation mail only, no run, until the person confirms.
    expect((await mailTo(email)).map((m) => m.subject)).toEqual([expect.stringMatching(/confirm your subscription/i)]);
    expect((await readLead(email)).nurture).toBeNull();
    await confirmFromMail(email);

    const run = await endedRun(email);
    await stack.settle();

    expect(run.status).toBe('SUCCEEDED');
    const states = statesOf(run);
    expect(states.filter((s) => FAILURE_STATES.includes(s))).toEqual([]);
    expect(states).toEqual(
      expect.arrayContaining([
        'Send newsletter 1',
        'Re-evaluate lead after newsletter 1',
        'Send newsletter 2',
        'Re-evaluate lead after newsletter 3',
      ]),
    );
    expect(states.at(-1)).toBe('Disqualified as unresponsive');
    expect(await readLead(email)).toMatchObject({ stage: 'disqualified', nurture: { status: 'completed' } });
    // The confirmation mail and the three newsletters.
    expect((await mailTo(email)).length).toBe(4);
  });

  it('hands a lead promoted during its case-study track to sales, through the event bus', async () => {
    const email = 'vp.ops@builders-inc.com';
    const profile = {
      email,
      firstName: 'Val',
      company: 'Builders Inc',
      jobTitle: 'VP Operations',
      companySize: '201-1000',
      industry: 'general-contractor',
      budget: '50k',
      timeline: 'this-quarter',
      consent: 'yes',
    };
    const postEvents = async (events: unknown[]) => {
      const res = await fetch(`${stack.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': stack.apiKey },
        body: JSON.stringify({ events }),
      });
      expect(res.status).toBe(202);
    };
    await postForm('content-download', profile);
    await confirmFromMail(email);
    await postForm('webinar-registration', profile);
    // Simulated days pass fast here (engagement decays between posts): enough interest to stay over the MQL bar,
    // not enough for the testimonials track (40).
    await postEvents([
      { eventId: 'pricing-1', email, type: 'pricing_page_viewed' },
      { eventId: 'pricing-2', email, type: 'pricing_page_viewed' },
      { eventId: 'download-2', email, type: 'content_download' },
      { eventId: 'case-1', email, type: 'page_viewed', properties: { url: 'https://builders.example/case-studies/x' } },
    ]);
    await stack.poller.drain();
    const mql = await readLead(email);
    expect(mql).toMatchObject({ stage: 'mql', nurture: { track: 'case-studies', status: 'active' } });

    // A demo request arrives from the site backend while the run waits after its first touch.
    await postEvents([{ eventId: 'demo-1', email, type: 'demo_requested' }]);
    const run = await endedRun(email);

    expect(run.status).toBe('SUCCEEDED');
    expect(statesOf(run).filter((s) => FAILURE_STATES.includes(s))).toEqual([]);
    expect(statesOf(run).at(-1)).toBe('Handed off to sales');
    expect(busEvents.filter((e) => e['detail-type'] === 'LeadPromoted')).toEqual([
      expect.objectContaining({
        source: 'leadloop',
        detail: expect.objectContaining({ promotionId: expect.any(String) }),
      }),
    ]);
  });

  it('unsubscribes through the signed link of a sent mail, verified with the keyring read at run time', async () => {
    const email = 'leaving@example-corp.com';
    await postForm('newsletter', { email, firstName: 'Lee', consent: 'yes' });
    const deadline = Date.now() + 30_000;
    let link: string | undefined;
    while (!link && Date.now() < deadline) {
      const header = (await mailTo(email))[0]?.headers?.find((h) => h.name === 'List-Unsubscribe')?.value;
      link = header?.slice(1, -1);
      if (!link) await new Promise((r) => setTimeout(r, 100));
    }
    if (!link) throw new Error('no mail with a List-Unsubscribe header');

    const page = await fetch(link);
    const post = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    await stack.poller.drain();

    expect(page.status).toBe(200);
    expect(post.status).toBe(200);
    expect((await readLead(email)).suppression.unsubscribed).toBe(true);
  });

  it('runs "Requalify leads" as deployed: every shard swept, summarized, published', async () => {
    const run = await stack.sweep();

    expect(run.status).toBe('SUCCEEDED');
    expect(statesOf(run).at(-1)).toBe('Sweep complete');
    expect(busEvents.some((e) => e['detail-type'] === 'Requalification Summary')).toBe(true);
  });

  it('records a failed run on the lead when asked to by the state machine', async () => {
    const { leadId } = await readLead('quiet.reader@example-corp.com');
    const result = await stack.lambda.invokeOrThrow(stack.functionIds['nurture-record-failure'] ?? '', {
      leadId,
      track: 'newsletter',
      executionName: 'fidelity-failed-run',
      error: { Error: 'States.TaskFailed', Cause: 'a step failed' },
    });

    expect(result).toMatchObject({ recorded: true });
  });

  it('skips, as deployed, a held-out touch for a lead that is not in that run', async () => {
    const { leadId } = await readLead('quiet.reader@example-corp.com');
    const result = await stack.lambda.invokeOrThrow(stack.functionIds['nurture-hold-out'] ?? '', {
      leadId,
      track: 'testimonials',
      touch: 1,
      executionName: 'fidelity-not-this-run',
      arm: 'holdout',
      experimentId: 'fidelity',
    });

    expect(result).toMatchObject({ outcome: 'skipped' });
  });

  it('erases a lead through DELETE and the erase worker on the stream, as deployed', async () => {
    const email = 'erase.me@example-corp.com';
    await postForm('newsletter', { email, firstName: 'Eve', consent: 'yes' });
    await stack.settle();
    const { leadId } = await readLead(email);
    const admin = { 'x-admin-key': stack.adminKey };

    const erased = await fetch(`${stack.url}/leads/${leadId}`, { method: 'DELETE', headers: admin });
    await stack.settle();

    expect([202, 204]).toContain(erased.status);
    expect((await fetch(`${stack.url}/leads/${leadId}`, { headers: admin })).status).toBe(404);
    expect((await fetch(`${stack.url}/leads/${leadId}/erasure`, { headers: admin })).status).toBe(404);
    expect(stack.lambda.invocations.get(stack.functionIds['erase-lead'] ?? '') ?? 0).toBeGreaterThan(0);
  });

  it('has run every function of the template, none of which logged an error', async () => {
    await stack.settle();
    const notRun = Object.values(stack.deployment.functions)
      .filter((f) => (stack.lambda.invocations.get(f.logicalId) ?? 0) === 0)
      .map((f) => f.handler);
    const errors = functionErrors.filter((l) => !l.includes('nurture step failed'));

    expect(notRun).toEqual([]);
    expect(errors).toEqual([]);
  });
});

function fail(): never {
  throw new Error('missing');
}
