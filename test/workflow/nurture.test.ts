import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SfnNurtureStarter } from '../../lambdas/adapters/sfn-nurture-starter.js';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { Lead, Scores, StageTransition } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { MailRejectedError, RetryableError } from '../../lambdas/domain/nurture/errors.js';
import { nurtureExecutionName } from '../../lambdas/domain/nurture/execution-name.js';
import { sentEventId } from '../../lambdas/domain/nurture/nurture-tasks.js';
import { signUnsubscribeToken } from '../../lambdas/domain/nurture/unsubscribe-token.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { startLocalAwsEndpoint } from '../../lib/local/aws-endpoint.js';
import { formatRun, stepFunctionsService } from '../../lib/local/sfn-api.js';
import { aslProblems, type RunRecord } from '../../lib/local/stepfunctions.js';
import { apiEvent } from '../support/api-event.js';
import { nurtureDefinitions, startHarness, type Harness } from './nurture-harness.js';

/**
 * The nurture state machines as synthesized from the NurtureWorkflows construct, executed by the local runner with
 * their tasks bound to the real handler modules, against DynamoDB Local and local SES (DESIGN §6, issue 4).
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(async () => h?.stop());
beforeEach(() => {
  h.onWait = undefined;
  h.mailerOverride = undefined;
  // A Monday, 15:00 UTC: inside the send window of a lead in UTC.
  h.clock.set('2026-03-02T15:00:00.000Z');
});

const mql = (overrides: Partial<Scores> = {}): Scores => ({
  fit: 30,
  engagement: 25,
  total: 55,
  grade: 'C',
  scoredAt: '2026-03-02T15:00:00.000Z',
  caps: {},
  contributions: [
    { ruleId: 'fit:title', kind: 'fit', label: 'Job title: VP Operations', points: 30 },
    { ruleId: 'eng:pricing', kind: 'engagement', label: 'Viewed pricing', points: 15, intent: 'low' },
    { ruleId: 'eng:webinar', kind: 'engagement', label: 'Attended a webinar', points: 10, intent: 'high' },
  ],
  ...overrides,
});

/** Moves the lead to `to` as scoring would (optimistic write plus a stage transition). */
async function moveLead(
  leadId: string,
  change: (l: Lead) => Partial<Lead>,
  transition?: Omit<StageTransition, 'from' | 'at'>,
) {
  const lead = await h.repo.getLead(leadId);
  if (!lead) throw new Error('lead vanished');
  const at = h.clock.now().toISOString();
  const next: Lead = { ...lead, ...change(lead), version: lead.version + 1 };
  await h.repo.commitScoring(next, [], transition ? [{ ...transition, from: lead.stage, at }] : []);
}

/** The lead's `email_sent` events, oldest first. */
const sentEvents = async (leadId: string) =>
  (await h.repo.listEvents(leadId))
    .filter((e) => e.type === 'email_sent')
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
const entered = (run: RunRecord, state: string) =>
  run.history.find((e) => e.type === 'StateEntered' && e.state === state);

describe('the synthesized definitions', () => {
  it('are one valid Standard state machine per track, named as a marketer reads the track', () => {
    const { machines, deployment } = nurtureDefinitions();
    expect(Object.keys(machines).sort()).toEqual(DEFAULT_NURTURE_PLAN.tracks.map((t) => t.id).sort());
    for (const m of Object.values(machines)) expect(aslProblems(m)).toEqual([]);
    const resources = Object.values(deployment.template.Resources).filter(
      (r) =>
        r.Type === 'AWS::StepFunctions::StateMachine' && JSON.stringify(r.Properties?.Tags).includes('nurture-track'),
    );
    expect(resources.map((r) => r.Properties?.StateMachineType)).toEqual(
      DEFAULT_NURTURE_PLAN.tracks.map(() => 'STANDARD'),
    );
    const names = Object.keys(machines['case-studies']?.States ?? {});
    expect(names).toEqual(
      expect.arrayContaining([
        'Send case study 1 (industry variant)',
        'Wait 4 days after case study 1',
        'Re-evaluate lead after case study 1',
        'Promoted to SQL after case study 1?',
        'Hand off to sales',
        'Record failure',
      ]),
    );
    for (const m of Object.values(machines))
      for (const n of Object.keys(m.States)) expect(n.length).toBeLessThanOrEqual(80);
  });
});

describe('a nurture run', () => {
  it('sends every touch in order and, exhausted without engagement, disqualifies the lead as unresponsive', async () => {
    const lead = await h.createLead({ stage: 'subscriber' });
    const run = await h.runTrack(lead, 'newsletter');

    expect(run.status).toBe('SUCCEEDED');
    expect(h.statesOf(run).at(-1)).toBe('Disqualified as unresponsive');
    const mail = await h.mailTo(lead.email);
    expect(mail.map((m) => m.subject)).toEqual([
      'The five-minute rule for new leads',
      'Not every lead is ready (and that is fine)',
      'Follow-up people do not unsubscribe from',
    ]);
    const first = mail[0];
    expect(first?.headers).toEqual(
      expect.arrayContaining([
        {
          name: 'List-Unsubscribe',
          value: expect.stringMatching(/^<https:\/\/api\.leadloop\.test\/unsubscribe\?token=[\w.-]+>$/),
        },
        { name: 'List-Unsubscribe-Post', value: 'List-Unsubscribe=One-Click' },
      ]),
    );
    expect(first?.body.html).toContain('Analytical &amp; Co');
    expect(first?.body.text).toContain('Analytical & Co');
    const stored = await h.repo.getLead(lead.leadId);
    expect(stored).toMatchObject({
      stage: 'disqualified',
      disqualification: 'unresponsive',
      nurture: { track: 'newsletter', status: 'completed', touchesSent: 3 },
    });
    expect((await h.repo.stageHistory(lead.leadId)).map((t) => [t.from, t.to, t.disqualification])).toEqual([
      ['subscriber', 'disqualified', 'unresponsive'],
    ]);
    const sends = await sentEvents(lead.leadId);
    expect(sends.map((e) => e.properties.touch)).toEqual([1, 2, 3]);
    expect(sends.every((e) => e.source === 'nurture' && e.properties.track === 'newsletter')).toBe(true);
  });

  it('ends without disqualifying when the lead engaged during the track', async () => {
    const lead = await h.createLead({ stage: 'lead' });
    h.onWait = async (w) => {
      if (w.state !== 'Wait 7 days after newsletter 2') return;
      const at = h.clock.now().toISOString();
      await h.repo.appendEvent({
        eventId: `open-${lead.leadId}`,
        leadId: lead.leadId,
        type: 'email_opened',
        occurredAt: at,
        receivedAt: at,
        source: 'ses',
        properties: {},
      });
    };
    const run = await h.runTrack(lead, 'newsletter');

    expect(h.statesOf(run).at(-1)).toBe('Nurture ended');
    expect(await h.repo.getLead(lead.leadId)).toMatchObject({ stage: 'lead', nurture: { status: 'completed' } });
  });

  it('hands a lead promoted mid-track to sales with its score explanation, and mails it no more', async () => {
    const lead = await h.createLead({ stage: 'mql', scores: mql() });
    h.onWait = async (w) => {
      if (w.state !== 'Wait 4 days after case study 1') return;
      await moveLead(lead.leadId, () => ({ stage: 'sql', stageReason: 'demo requested' }), {
        to: 'sql',
        reason: 'demo requested',
        rule: 'threshold:sql',
      });
    };
    const run = await h.runTrack(lead, 'case-studies');

    expect(h.statesOf(run).slice(-3)).toEqual([
      'Promoted to SQL after case study 1?',
      'Hand off to sales',
      'Handed off to sales',
    ]);
    expect(await h.mailTo(lead.email)).toHaveLength(1);
    // Published once, from the commit that made it an SQL: the run's hand-off publishes nothing again.
    const promotions = await h.promotions(lead.leadId);
    expect(promotions).toHaveLength(1);
    const promoted = promotions[0];
    expect(promoted).toMatchObject({
      lead: { leadId: lead.leadId, email: lead.email, stage: 'sql', company: 'Analytical & Co' },
      score: { total: 55, grade: 'C' },
      nurture: { track: 'case-studies', touchesSent: 1 },
    });
    expect(promoted?.score?.explanation.map((c) => c.ruleId)).toEqual(['fit:title', 'eng:pricing', 'eng:webinar']);
    expect(await h.repo.getLead(lead.leadId)).toMatchObject({ nurture: { status: 'completed' } });
  });

  it('stops at the next re-evaluation when the lead unsubscribes mid-track through the link in the mail', async () => {
    const { createHandler } = await import('../../lambdas/handlers/unsubscribe.js');
    const unsubscribe = createHandler(() => ({ leads: h.repo, clock: h.clock, keys: h.signingKeys }));
    const lead = await h.createLead({ stage: 'subscriber' });
    const answers: { status: number; body: string }[] = [];
    h.onWait = async (w) => {
      if (w.state !== 'Wait 7 days after newsletter 1') return;
      const [mail] = await h.mailTo(lead.email);
      const header = mail?.headers?.find((x) => x.name === 'List-Unsubscribe')?.value ?? '';
      const token = new URL(header.slice(1, -1)).searchParams.get('token') ?? '';
      const call = async (method: 'GET' | 'POST', body?: string) => {
        const res = await unsubscribe(
          apiEvent({
            method,
            path: '/unsubscribe',
            query: { token },
            body,
            headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
          }),
          lambdaContextStub(),
        );
        answers.push({ status: res.statusCode, body: res.body });
      };
      await call('GET');
      expect((await h.repo.listEvents(lead.leadId)).some((e) => e.type === 'email_unsubscribed')).toBe(false);
      await call('POST', 'List-Unsubscribe=One-Click');
      await call('POST', 'List-Unsubscribe=One-Click');
    };
    const run = await h.runTrack(lead, 'newsletter');

    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers[0]?.body).toContain('<button');
    expect(run.status).toBe('SUCCEEDED');
    expect(h.statesOf(run).at(-1)).toBe('Nurture ended');
    expect(
      run.history.find((e) => e.type === 'StateExited' && e.state === 'Re-evaluate lead after newsletter 1')?.output,
    ).toMatchObject({
      decision: 'unsubscribed',
    });
    expect(await h.mailTo(lead.email)).toHaveLength(1);
    const unsubscribes = (await h.repo.listEvents(lead.leadId)).filter((e) => e.type === 'email_unsubscribed');
    expect(unsubscribes).toHaveLength(1);
    expect(await h.repo.getLead(lead.leadId)).toMatchObject({ nurture: { status: 'stopped' } });
  });

  it('refuses a forged or expired unsubscribe token with 400', async () => {
    const { createHandler } = await import('../../lambdas/handlers/unsubscribe.js');
    const unsubscribe = createHandler(() => ({ leads: h.repo, clock: h.clock, keys: h.signingKeys }));
    const lead = await h.createLead();
    const forged = signUnsubscribeToken(
      { kid: 'k1', key: 'not-the-secret-at-all-123' },
      lead.leadId,
      new Date(h.clock.now().getTime() + DAY_MS),
    );
    const expired = signUnsubscribeToken(
      await h.signingKeys.active(),
      lead.leadId,
      new Date(h.clock.now().getTime() - 1000),
    );
    const post = (token: string) =>
      unsubscribe(
        apiEvent({
          method: 'POST',
          path: '/unsubscribe',
          query: { token },
          body: 'List-Unsubscribe=One-Click',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
        lambdaContextStub(),
      );
    expect((await post(forged)).statusCode).toBe(400);
    expect((await post(expired)).statusCode).toBe(400);
    expect((await post(`${forged}x`)).statusCode).toBe(400);
    const get = await unsubscribe(
      apiEvent({ method: 'GET', path: '/unsubscribe', query: { token: forged } }),
      lambdaContextStub(),
    );
    expect(get.statusCode).toBe(400);
    expect(await h.repo.listEvents(lead.leadId)).toEqual([]);
  });

  it('never mails a suppressed address, whether the lead says so or its event log does', async () => {
    const bounced = await h.createLead({
      stage: 'subscriber',
      suppression: { unsubscribed: false, hardBounced: true, complained: false, transientBounces: 0 },
    });
    const complained = await h.createLead({ stage: 'subscriber' });
    const at = h.clock.now().toISOString();
    await h.repo.appendEvent({
      eventId: 'complaint-1',
      leadId: complained.leadId,
      type: 'email_complained',
      occurredAt: at,
      receivedAt: at,
      source: 'ses',
      properties: {},
    });

    for (const lead of [bounced, complained]) {
      const run = await h.runTrack(lead, 'newsletter');
      expect(run.status).toBe('SUCCEEDED');
      expect(h.statesOf(run)).toEqual([
        'Send newsletter 1',
        'Newsletter 1 sent?',
        'Re-evaluate lead after newsletter 1',
        'Promoted to SQL after newsletter 1?',
        'Nurture ended',
      ]);
      expect(await h.mailTo(lead.email)).toEqual([]);
      expect(await sentEvents(lead.leadId)).toEqual([]);
    }
  });

  it('holds a touch over the frequency cap (across tracks) until the cap frees, then sends it', async () => {
    const lead = await h.createLead({ stage: 'subscriber' });
    const now = h.clock.now().getTime();
    for (const daysAgo of [1, 2, 3]) {
      const at = new Date(now - daysAgo * DAY_MS).toISOString();
      await h.repo.appendEvent({
        eventId: `earlier-${daysAgo}`,
        leadId: lead.leadId,
        type: 'email_sent',
        occurredAt: at,
        receivedAt: at,
        source: 'nurture',
        properties: { track: 'testimonials', touch: daysAgo, executionName: 'an-earlier-run' },
      });
    }
    const run = await h.runTrack(lead, 'newsletter');

    const held = entered(run, 'Wait for send window (newsletter 1)');
    expect(held?.input).toMatchObject({
      outcome: 'deferred',
      reason: 'frequency_cap',
      resumeAt: '2026-03-06T15:00:00Z',
    });
    const [first] = await sentEvents(lead.leadId).then((s) => s.filter((e) => e.properties.track === 'newsletter'));
    expect(first?.occurredAt).toBe('2026-03-06T15:00:00.000Z');
    expect(await h.mailTo(lead.email)).toHaveLength(3);
  });

  it('waits for the send window in the lead’s time zone instead of mailing at night', async () => {
    // 02:00 on a Tuesday in Los Angeles (UTC-8 before the March switch to daylight time).
    h.clock.set('2026-03-03T10:00:00.000Z');
    const lead = await h.createLead({ stage: 'subscriber', profile: { timeZone: 'America/Los_Angeles' } });
    const run = await h.runTrack(lead, 'newsletter');

    expect(h.statesOf(run).slice(0, 4)).toEqual([
      'Send newsletter 1',
      'Newsletter 1 sent?',
      'Wait for send window (newsletter 1)',
      'Send newsletter 1',
    ]);
    expect(entered(run, 'Wait for send window (newsletter 1)')).toMatchObject({
      until: '2026-03-03T17:00:00.000Z',
      input: { outcome: 'deferred', reason: 'send_window' },
    });
    const [first] = await sentEvents(lead.leadId);
    expect(first?.occurredAt).toBe('2026-03-03T17:00:00.000Z');
  });

  it('sends the industry variant of a touch when there is one, and the default otherwise', async () => {
    const realtor = await h.createLead({
      stage: 'mql',
      scores: mql(),
      profile: { industry: 'Residential Real Estate' },
    });
    const aerospace = await h.createLead({ stage: 'mql', scores: mql(), profile: { industry: 'Aerospace' } });
    const unknown = await h.createLead({ stage: 'mql', scores: mql() });
    const stopAfterFirst = (leadId: string) => async (w: { state: string }) => {
      if (w.state === 'Wait 4 days after case study 1')
        await moveLead(leadId, () => ({ stage: 'dormant', stageReason: 'silent' }));
    };
    const variants: (string | undefined)[] = [];
    for (const lead of [realtor, aerospace, unknown]) {
      h.onWait = stopAfterFirst(lead.leadId);
      const run = await h.runTrack(lead, 'case-studies');
      expect(h.statesOf(run).at(-1)).toBe('Nurture ended');
      const [sent] = await sentEvents(lead.leadId);
      variants.push(typeof sent?.properties.variant === 'string' ? sent.properties.variant : undefined);
    }
    expect(variants).toEqual(['real-estate', 'default', 'default']);
    expect((await h.mailTo(realtor.email))[0]?.subject).toBe(
      'How a brokerage answered every listing inquiry within 10 minutes',
    );
    expect((await h.mailTo(aerospace.email))[0]?.subject).toBe(
      'How a 20-person team answered every web lead within the hour',
    );
  });

  it('treats a duplicate enrollment as a no-op (same execution name), also through the Step Functions API', async () => {
    const lead = await h.createLead({ stage: 'subscriber' });
    const executionName = nurtureExecutionName(lead.leadId, 'newsletter', lead.stageChangedAt);
    const api = await startLocalAwsEndpoint({ services: [stepFunctionsService(h.runner)], port: 0 });
    const sfn = new SFNClient({
      endpoint: api.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const starter = new SfnNurtureStarter(sfn, h.runner.stateMachineArns());
      await h.enroll(lead, 'newsletter', executionName);
      const first = await starter.start({ leadId: lead.leadId, track: 'newsletter', executionName });
      const again = await starter.start({ leadId: lead.leadId, track: 'newsletter', executionName });
      await h.runner.settled(executionName);
      const afterwards = await starter.start({ leadId: lead.leadId, track: 'newsletter', executionName });
      // Another lead's run, held in its first wait, stopped through the API.
      const other = await h.createLead({ stage: 'subscriber' });
      const otherName = nurtureExecutionName(other.leadId, 'newsletter', other.stageChangedAt);
      await h.enroll(other, 'newsletter', otherName);
      let release = () => undefined as void;
      const held = new Promise<void>((res) => (release = res));
      let waiting = false;
      h.onWait = () => {
        waiting = true;
        return held;
      };
      const viaApi = await starter.start({ leadId: other.leadId, track: 'newsletter', executionName: otherName });
      for (let i = 0; !waiting && i < 400; i++) await new Promise((r) => setTimeout(r, 5));
      const whileRunning = await starter.start({ leadId: other.leadId, track: 'newsletter', executionName: otherName });
      const stopped = await starter.stop({ track: 'newsletter', executionName: otherName });
      await h.runner.settled(otherName);
      release();

      expect([first, again, afterwards, viaApi, whileRunning, stopped]).toEqual([
        'started',
        'already_running',
        'already_running',
        'started',
        'already_running',
        'stopped',
      ]);
      expect(h.runner.list().filter((r) => r.name === executionName)).toHaveLength(1);
      expect(h.runner.get(otherName)?.status).toBe('ABORTED');
      const sends = await sentEvents(lead.leadId);
      expect(sends.filter((e) => e.properties.executionName === executionName)).toHaveLength(3);
      expect(formatRun(h.runner.get(executionName) ?? fail())).toContain('Disqualified as unresponsive');
    } finally {
      sfn.destroy();
      await api.close();
    }
  });

  it('retries a transient mail failure and still sends the touch once', async () => {
    const lead = await h.createLead({ stage: 'subscriber' });
    let calls = 0;
    h.mailerOverride = {
      send: async () => {
        calls++;
        if (calls === 1) throw new RetryableError('SES TooManyRequestsException: slow down');
        return { messageId: `msg-${calls}` };
      },
    };
    h.onWait = async (w) => {
      if (w.state === 'Wait 7 days after newsletter 1')
        await moveLead(lead.leadId, () => ({ stage: 'dormant', stageReason: 'silent' }));
    };
    const run = await h.runTrack(lead, 'newsletter');

    expect(run.history.filter((e) => e.type === 'StateRetried').map((e) => e.state)).toEqual(['Send newsletter 1']);
    const sends = await sentEvents(lead.leadId);
    expect(sends).toHaveLength(1);
    expect(sends[0]).toMatchObject({
      eventId: sentEventId(`${lead.leadId}-newsletter`, 1),
      properties: { messageId: 'msg-2' },
    });
  });

  it('records a permanent mail rejection as a failed run', async () => {
    const lead = await h.createLead({ stage: 'subscriber' });
    h.mailerOverride = {
      send: async () => {
        throw new MailRejectedError('SES refused the message: Email address is not verified.', 'MessageRejected');
      },
    };
    const run = await h.runTrack(lead, 'newsletter');

    expect(run.status).toBe('FAILED');
    expect(h.statesOf(run).slice(-2)).toEqual(['Record failure', 'Nurture failed']);
    expect(run.error).toBe('NurtureStepFailed');
    expect(await sentEvents(lead.leadId)).toEqual([]);
    expect(await h.repo.getLead(lead.leadId)).toMatchObject({ nurture: { status: 'stopped' } });
  });
});

function fail(): never {
  throw new Error('missing run');
}

const lambdaContextStub = () => lambdaContext({ functionName: 'unsubscribe', region: 'us-east-1', timeoutMs: 10_000 });
