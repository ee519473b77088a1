import { ulid } from 'ulid';
import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});
import { DynamoSendingStore } from '../../lambdas/adapters/dynamo-sending-store.js';
import { fixedClock } from '../../lambdas/domain/clock.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { MailOutcomeUnknownError, RetryableError } from '../../lambdas/domain/nurture/errors.js';
import { sentEventId, type TouchDeps } from '../../lambdas/domain/nurture/nurture-tasks.js';
import type { Mailer, OutgoingEmail } from '../../lambdas/domain/nurture/ports.js';
import type { TouchResult } from '../../lambdas/domain/nurture/steps.js';
import { parseNurturePlan, type NurturePlan } from '../../lambdas/domain/nurture/tracks.js';
import { staticSigningKeys } from '../../lambdas/domain/nurture/unsubscribe-token.js';
import { createHandler } from '../../lambdas/handlers/nurture-touch.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { testRepository } from '../support/dynamo.js';

/**
 * One mail per touch (issue 12 §1, §2), with the "Send <touch>" handler run in process (`createHandler`) on DynamoDB
 * Local: two concurrent invocations of one touch, a failure after SES accepted the mail, a provable failure, a stale
 * run, and concurrent touches against the frequency cap. The mailer is a stand-in that counts what it was asked to
 * send, so "one mail" is counted where the mail would leave.
 */

const { repo, doc } = testRepository();
const sending = new DynamoSendingStore(doc, process.env.TABLE_NAME ?? 'leadloop-test');
const NOW = '2026-03-02T15:00:00.000Z'; // a Monday, inside the send window

/** A mailer that takes `delayMs` to answer and records each message it was handed. */
function countingMailer(
  opts: { delayMs?: number; until?: Promise<unknown>; fail?: (n: number) => Error | undefined } = {},
) {
  const sent: OutgoingEmail[] = [];
  const mailer: Mailer = {
    send: async (email) => {
      sent.push(email);
      await (opts.until ?? new Promise((r) => setTimeout(r, opts.delayMs ?? 0)));
      const error = opts.fail?.(sent.length);
      if (error) throw error;
      return { messageId: `msg-${sent.length}-${ulid()}` };
    },
  };
  return { mailer, sent };
}

function deps(mailer: Mailer, plan: NurturePlan = DEFAULT_NURTURE_PLAN): TouchDeps {
  return {
    leads: repo,
    clock: fixedClock(NOW),
    plan,
    mailer,
    mail: {
      from: 'hello@leadloop.test',
      configurationSetName: 'leadloop-test',
      templatePrefix: 'leadloop-dev',
      mailingAddress: 'Leadloop, 1 Test Street',
      siteUrl: 'https://leadloop.test',
      unsubscribeBaseUrl: 'https://api.leadloop.test/unsubscribe',
    },
    signingKeys: staticSigningKeys('k1', { k1: 'touch-once-test-secret-0123456789' }),
    sending,
    maxWriteAttempts: 10,
  };
}

/** A consenting lead whose current nurture run is `executionName` on `track`. */
async function leadInRun(track: string, executionName: string): Promise<Lead> {
  const leadId = ulid();
  const lead: Lead = {
    ...newLead(leadId, `${leadId.toLowerCase()}@example-corp.com`, new Date('2026-02-01T00:00:00Z')),
    stage: track === 'case-studies' ? 'mql' : 'lead',
    profile: { firstName: 'Ada', timeZone: 'UTC' },
    consent: { marketing: true, at: '2026-02-01T00:00:00.000Z', source: 'form:newsletter' },
    nurture: { track, executionName, status: 'active', enrolledAt: '2026-03-01T00:00:00.000Z', touchesSent: 0 },
  };
  await repo.createLead(lead);
  return lead;
}

const invoke = (d: TouchDeps, input: object): Promise<TouchResult> =>
  createHandler(() => d)(
    input,
    lambdaContext({ functionName: 'nurture-touch', region: 'us-east-1', timeoutMs: 20_000 }),
  );

const sends = async (leadId: string) =>
  (await repo.listEvents(leadId)).filter((e) => e.type === 'email_sent' && e.source === 'nurture');

describe('Send <touch>: one mail per touch', () => {
  it('two concurrent invocations with the same input send one mail and record one email_sent', async () => {
    const lead = await leadInRun('newsletter', `run-${ulid()}`);
    // SES "takes" until one of the two invocations has answered: the other is still inside its send, so the one that
    // answered met the claim of a send in progress (however the two were scheduled). Were both to send, neither would
    // answer first; the gate then opens after 10 s and the counts below fail.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    const { mailer, sent } = countingMailer({ until: gate });
    const input = { leadId: lead.leadId, track: 'newsletter', touch: 1, executionName: lead.nurture?.executionName };

    const running = [invoke(deps(mailer), input), invoke(deps(mailer), input)];
    const timer = setTimeout(open, 10_000);
    await Promise.race(running).finally(() => {
      clearTimeout(timer);
      open();
    });
    const results = await Promise.all(running);

    expect(sent).toHaveLength(1);
    expect(results.map((r) => r.outcome).sort()).toEqual(['deferred', 'sent']);
    expect(results.find((r) => r.outcome === 'deferred')?.reason).toBe('send_in_progress');
    expect(await sends(lead.leadId)).toHaveLength(1);
    const again = await invoke(deps(mailer), input);
    expect(again).toMatchObject({ outcome: 'sent', reason: 'already_sent' });
    expect(sent).toHaveLength(1);
  });

  it('a failure after SES accepted the mail (a timeout) never sends it again, and counts it as sent', async () => {
    const lead = await leadInRun('newsletter', `run-${ulid()}`);
    const input = { leadId: lead.leadId, track: 'newsletter', touch: 1, executionName: lead.nurture?.executionName };
    const { mailer, sent } = countingMailer({
      fail: (n) => (n === 1 ? new MailOutcomeUnknownError('SES did not answer (TimeoutError)') : undefined),
    });

    const first = await invoke(deps(mailer), input);
    const retried = await invoke(deps(mailer), input);

    expect(sent).toHaveLength(1);
    expect(first).toMatchObject({ outcome: 'sent', reason: 'unconfirmed' });
    expect(retried).toMatchObject({ outcome: 'sent', reason: 'already_sent' });
    const recorded = await sends(lead.leadId);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.properties.unconfirmed).toBe(true);
    expect(await sending.getClaim(lead.leadId, sentEventId(input.executionName ?? '', 1))).toMatchObject({
      state: 'unconfirmed',
    });
  });

  it('a crash after SES accepted the mail, before email_sent was written, does not send it again', async () => {
    const lead = await leadInRun('newsletter', `run-${ulid()}`);
    const input = { leadId: lead.leadId, track: 'newsletter', touch: 1, executionName: lead.nurture?.executionName };
    const { mailer, sent } = countingMailer();
    const crashing: TouchDeps = {
      ...deps(mailer),
      leads: Object.assign(Object.create(repo) as typeof repo, {
        appendEvent: async () => {
          throw new Error('the container died');
        },
      }),
    };

    await expect(invoke(crashing, input)).rejects.toThrow('the container died');
    const retried = await invoke(deps(mailer), input);

    expect(sent).toHaveLength(1);
    expect(retried).toMatchObject({
      outcome: 'sent',
      reason: 'already_sent',
      messageId: expect.stringMatching(/^msg-1-/),
    });
    expect(await sends(lead.leadId)).toHaveLength(1);
  });

  it('a send that SES provably refused (throttled) is released and sent once on the retry', async () => {
    const lead = await leadInRun('newsletter', `run-${ulid()}`);
    const input = { leadId: lead.leadId, track: 'newsletter', touch: 1, executionName: lead.nurture?.executionName };
    const { mailer, sent } = countingMailer({
      fail: (n) => (n === 1 ? new RetryableError('SES TooManyRequestsException: slow down') : undefined),
    });

    await expect(invoke(deps(mailer), input)).rejects.toThrow(RetryableError);
    const retried = await invoke(deps(mailer), input);

    expect(sent).toHaveLength(2);
    expect(retried).toMatchObject({ outcome: 'sent', reason: 'sent' });
    expect(await sends(lead.leadId)).toHaveLength(1);
  });

  it('a touch from a run that is not the lead’s current one sends nothing', async () => {
    const lead = await leadInRun('case-studies', `current-${ulid()}`);
    const { mailer, sent } = countingMailer();
    const stale = { leadId: lead.leadId, track: 'newsletter', touch: 2, executionName: `stale-${ulid()}` };
    // The stale run's track must fit the lead for the ownership check to be what stops it.
    await repo.commitScoring({ ...lead, stage: 'lead', version: 1 }, [], []);

    const result = await invoke(deps(mailer), stale);

    expect(result).toMatchObject({ outcome: 'skipped', reason: 'not_current_run' });
    expect(sent).toHaveLength(0);
    expect(await sends(lead.leadId)).toHaveLength(0);
  });

  it('concurrent touches of a lead respect the frequency cap: one goes, the other waits for the window', async () => {
    const plan = parseNurturePlan({
      ...DEFAULT_NURTURE_PLAN,
      policy: { ...DEFAULT_NURTURE_PLAN.policy, frequencyCap: { maxEmails: 1, perDays: 7 } },
    });
    const lead = await leadInRun('newsletter', `run-${ulid()}`);
    const { mailer, sent } = countingMailer({ delayMs: 50 });
    const touch = (n: number) => ({
      leadId: lead.leadId,
      track: 'newsletter',
      touch: n,
      executionName: lead.nurture?.executionName,
    });

    const results = await Promise.all([invoke(deps(mailer, plan), touch(1)), invoke(deps(mailer, plan), touch(2))]);

    expect(sent).toHaveLength(1);
    expect(results.map((r) => r.outcome).sort()).toEqual(['deferred', 'sent']);
    expect(results.find((r) => r.outcome === 'deferred')).toMatchObject({
      reason: 'frequency_cap',
      resumeAt: '2026-03-09T15:00:00Z',
    });
  });

  it('while the reputation brake is on, a touch waits (deferred, not dropped) and goes once sending resumes', async () => {
    const lead = await leadInRun('newsletter', `run-${ulid()}`);
    const input = { leadId: lead.leadId, track: 'newsletter', touch: 1, executionName: lead.nurture?.executionName };
    const { mailer, sent } = countingMailer();
    const braked: TouchDeps = {
      ...deps(mailer),
      sending: Object.assign(Object.create(sending) as DynamoSendingStore, {
        getState: async () => ({ paused: true, reason: 'bounce rate 6.00% over 4.00%' }),
      }),
    };

    const paused = await invoke(braked, input);
    const resumed = await invoke(deps(mailer), input);

    expect(paused).toMatchObject({ outcome: 'deferred', reason: 'sending_paused', resumeAt: '2026-03-02T21:00:00Z' });
    expect(resumed).toMatchObject({ outcome: 'sent', reason: 'sent' });
    expect(sent).toHaveLength(1);
  });

  it('the claim store lets one of two racing claims on the same ledger through', async () => {
    const lead = await leadInRun('newsletter', `run-${ulid()}`);
    const executionName = lead.nurture?.executionName ?? '';
    const ledger = await sending.getLedger(lead.leadId);
    const claim = (touch: number) => ({
      touchId: sentEventId(executionName, touch),
      leadId: lead.leadId,
      executionName,
      state: 'sending' as const,
      claimedAt: NOW,
    });

    const outcomes = await Promise.all(
      [1, 2].map((n) => sending.claimTouch(claim(n), { ...ledger, entries: [{ touchId: claim(n).touchId, at: NOW }] })),
    );

    expect(outcomes.sort()).toEqual(['claimed', 'ledger_changed']);
    expect((await sending.getLedger(lead.leadId)).entries).toHaveLength(1);
  });
});
