import type { Clock } from '../clock.js';
import { DAY_MS } from '../clock.js';
import { assertNever } from '../errors.js';
import type { LeadEvent } from '../events.js';
import type { Lead } from '../lead.js';
import { touchEligibility } from './eligibility.js';
import { trackStanding } from './evaluation.js';
import { touchLog } from './log-reads.js';
import { MailOutcomeUnknownError, MailRejectedError, RetryableError } from './errors.js';
import { isoSeconds, recordTouchOnLead, sentEventId, type TouchDeps } from './nurture-tasks.js';
import { SEND_LEASE_MS, type LedgerEntry, type SendLedger, type TouchClaim } from './sending.js';
import type { NurtureTaskInput, TouchResult } from './steps.js';
import { templateDataFor } from './template-data.js';
import { touchAt, trackById, type Touch, type Track } from './tracks.js';
import { signUnsubscribeToken, unsubscribeUrl } from './unsubscribe-token.js';
import { sesTemplateName, variantFor } from './variants.js';
import { contentVariantFor, type Assignment } from './experiments.js';

/**
 * The experiment a run belongs to and the lead's arm, from the run's input only (fixed when it started). A run that
 * started before its track had an experiment has none: it was never assigned, and counts in no arm.
 */
export function runExperiment(input: NurtureTaskInput): Assignment | undefined {
  return input.experimentId === undefined || input.arm === undefined
    ? undefined
    : { experimentId: input.experimentId, arm: input.arm };
}

/** What a touch sends a lead: the content variant under a content test (the same on every retry), and its template. */
function contentOf(input: NurtureTaskInput, track: Track, touch: Touch): { template: string; contentVariant?: string } {
  const experiment = runExperiment(input);
  const content = experiment && contentVariantFor(input.leadId, { id: track.id, ...experiment }, touch);
  return content ? { template: content.template, contentVariant: content.id } : { template: touch.template };
}

/** True when this run is the lead's current nurture run: the only one that may mail it. */
export const isCurrentRun = (lead: Lead, executionName: string): boolean =>
  lead.nurture?.executionName === executionName && lead.nurture.status === 'active';

/** Attempts at claiming when the ledger changed under us (another touch of the lead claimed meanwhile). */
const CLAIM_ATTEMPTS = 5;

const iso = (d: Date): string => d.toISOString();

/**
 * "Send <touch>" (DESIGN §6): re-checks that the lead still belongs in the track and that this run is the lead's
 * current one, then eligibility (suppression, consent, the frequency cap across tracks, the send window) and the
 * reputation brake, picks the industry variant, claims the touch, sends through the mail service with the
 * configuration set, tags and one-click unsubscribe headers, and records `email_sent`.
 *
 * Exactly one mail per touch: the claim is a conditional write keyed by the touch's deterministic id, made in one
 * transaction with the check that the run owns the lead's nurture and the update of the lead's send ledger (the
 * cap's window), before SES is called. A second invocation finds the claim and sends nothing; a claim whose send
 * provably failed (SES answered with an error) is released and may be sent again; a send that failed after SES may
 * have accepted it (a timeout) keeps its claim and is recorded as possibly sent, never sent again.
 */
export async function sendTouch(deps: TouchDeps, input: NurtureTaskInput): Promise<TouchResult> {
  // The state machine routes held-out leads to "Held out: no mail"; should one ever get here, it fails, unmailed.
  if (input.arm === 'holdout')
    throw new Error(`lead ${input.leadId} is held out of ${input.track}: never mailed by it`);
  const track = trackById(deps.plan, input.track);
  const touch = touchAt(track, input.touch);
  const touchId = sentEventId(input.executionName, input.touch);
  for (let attempt = 1; ; attempt++) {
    const lead = await deps.leads.getLead(input.leadId);
    // Keyed reads only (suppressing events, the cap window's sends, this touch's event): a touch costs the same
    // whatever the lead's history.
    const events = lead ? await touchLog(deps.leads, input.leadId, deps.plan.policy, deps.clock.now()) : [];
    const standing = trackStanding(lead, events, track);
    if (standing !== 'continue' || !lead) return { ...input, outcome: 'skipped', reason: standing };
    if (!isCurrentRun(lead, input.executionName)) return { ...input, outcome: 'skipped', reason: 'not_current_run' };

    const recorded = await deps.leads.getEvent(input.leadId, touchId);
    const claim = await deps.sending.getClaim(input.leadId, touchId);
    if (recorded || (claim && claim.state !== 'released')) {
      return afterClaim(deps, input, touch, claim, recorded);
    }

    const now = deps.clock.now();
    const ledger = await deps.sending.getLedger(lead.leadId);
    const eligibility = touchEligibility({ lead, events, policy: deps.plan.policy, now, ledger: ledger.entries });
    switch (eligibility.kind) {
      case 'skip':
        return { ...input, outcome: 'skipped', reason: eligibility.reason };
      case 'defer':
        return { ...input, outcome: 'deferred', reason: eligibility.reason, resumeAt: isoSeconds(eligibility.until) };
      case 'send':
        break;
      default:
        assertNever(eligibility);
    }
    const brake = await deps.sending.getState();
    if (brake.paused) {
      const until = new Date(now.getTime() + deps.plan.policy.reputation.recheckHours * 3_600_000);
      return { ...input, outcome: 'deferred', reason: 'sending_paused', resumeAt: isoSeconds(until) };
    }

    const mine: TouchClaim = {
      touchId,
      leadId: lead.leadId,
      executionName: input.executionName,
      state: 'sending',
      claimedAt: iso(now),
    };
    const outcome = await deps.sending.claimTouch(mine, withEntry(ledger, { touchId, at: iso(now) }, deps, now));
    switch (outcome) {
      case 'claimed':
        return mail(deps, input, track, touch, lead, now);
      case 'not_owner':
        return { ...input, outcome: 'skipped', reason: 'not_current_run' };
      case 'claimed_elsewhere':
      case 'ledger_changed':
        if (attempt >= CLAIM_ATTEMPTS) throw new RetryableError(`touch ${touchId} kept racing for its claim`);
        continue;
      default:
        assertNever(outcome);
    }
  }
}

/** The ledger with this send added and the entries that left the cap's window dropped. */
function withEntry(ledger: SendLedger, entry: LedgerEntry, deps: TouchDeps, now: Date): SendLedger {
  const since = now.getTime() - deps.plan.policy.frequencyCap.perDays * DAY_MS;
  const kept = ledger.entries.filter((e) => Date.parse(e.at) > since && e.touchId !== entry.touchId);
  return { version: ledger.version, entries: [...kept, entry] };
}

/** A touch that was already claimed (by this invocation's earlier attempt, a retry, or a concurrent one). */
async function afterClaim(
  deps: TouchDeps,
  input: NurtureTaskInput,
  touch: Touch,
  claim: TouchClaim | undefined,
  recorded: LeadEvent | undefined,
): Promise<TouchResult> {
  const now = deps.clock.now();
  if (recorded) {
    await recordTouchOnLead(deps, input, new Date(recorded.occurredAt), touch.waitDays);
    const messageId = recorded.properties.messageId;
    return {
      ...input,
      outcome: 'sent',
      reason: 'already_sent',
      ...(typeof messageId === 'string' ? { messageId } : {}),
    };
  }
  if (!claim) throw new Error('afterClaim needs a claim or a recorded send');
  switch (claim.state) {
    case 'sent':
      return record(deps, input, touch, new Date(claim.sentAt ?? claim.claimedAt), claim.messageId, 'already_sent');
    case 'unconfirmed':
      return record(deps, input, touch, new Date(claim.claimedAt), undefined, 'unconfirmed');
    case 'sending': {
      const leaseEnds = Date.parse(claim.claimedAt) + SEND_LEASE_MS;
      if (now.getTime() < leaseEnds) {
        return { ...input, outcome: 'deferred', reason: 'send_in_progress', resumeAt: isoSeconds(new Date(leaseEnds)) };
      }
      // The invocation that claimed it is gone, maybe after SES accepted the mail: it counts as sent, and never goes again.
      await deps.sending.markUnconfirmed(input.leadId, claim.touchId, now);
      return record(deps, input, touch, new Date(claim.claimedAt), undefined, 'unconfirmed');
    }
    case 'released':
      throw new Error('a released claim is claimed again, not finished');
    default:
      return assertNever(claim.state);
  }
}

/** Renders and sends the claimed touch; settles the claim by what SES answered. */
async function mail(
  deps: TouchDeps,
  input: NurtureTaskInput,
  track: Track,
  touch: Touch,
  lead: Lead,
  now: Date,
): Promise<TouchResult> {
  const touchId = sentEventId(input.executionName, input.touch);
  const variant = variantFor(touch, lead.profile.industry, deps.plan.industries);
  const { template, contentVariant } = contentOf(input, track, touch);
  const experiment = runExperiment(input);
  const templateName = sesTemplateName(deps.mail.templatePrefix, template, variant);
  const expires = new Date(now.getTime() + deps.plan.policy.unsubscribeLinkDays * DAY_MS);
  const link = unsubscribeUrl(
    deps.mail.unsubscribeBaseUrl,
    signUnsubscribeToken(await deps.signingKeys.active(), lead.leadId, expires),
  );
  let messageId: string;
  try {
    ({ messageId } = await deps.mailer.send({
      to: lead.email,
      from: deps.mail.from,
      templateName,
      templateData: templateDataFor(lead, {
        unsubscribeUrl: link,
        mailingAddress: deps.mail.mailingAddress,
        siteUrl: deps.mail.siteUrl,
      }),
      configurationSetName: deps.mail.configurationSetName,
      tags: {
        leadId: lead.leadId,
        track: track.id,
        touch: String(input.touch),
        template,
        variant,
        ...(contentVariant !== undefined && { contentVariant }),
        ...(experiment && { experiment: experiment.experimentId, arm: experiment.arm }),
      },
      headers: [
        { name: 'List-Unsubscribe', value: `<${link}>` },
        { name: 'List-Unsubscribe-Post', value: 'List-Unsubscribe=One-Click' },
      ],
    }));
  } catch (e) {
    if (e instanceof MailOutcomeUnknownError) {
      await deps.sending.markUnconfirmed(lead.leadId, touchId, now);
      return record(deps, input, touch, now, undefined, 'unconfirmed', { template, variant, templateName });
    }
    // SES answered before accepting: nothing went out, so the touch may be sent again.
    await deps.sending.release(lead.leadId, touchId);
    if (!(e instanceof MailRejectedError)) throw e;
    return {
      ...input,
      outcome: 'failed',
      reason: 'rejected',
      template,
      variant,
      ...(contentVariant !== undefined && { contentVariant }),
      error: { Error: e.code, Cause: e.message },
    };
  }
  await deps.sending.markSent(lead.leadId, touchId, messageId, now);
  return record(deps, input, touch, now, messageId, 'sent', { template, variant, templateName });
}

/** Records `email_sent` (once: its id is the touch id) and the touch on the lead. */
async function record(
  deps: TouchDeps & { clock: Clock },
  input: NurtureTaskInput,
  touch: Touch,
  sentAt: Date,
  messageId: string | undefined,
  reason: 'sent' | 'already_sent' | 'unconfirmed',
  content: { template: string; variant: string; templateName: string } | undefined = undefined,
): Promise<TouchResult> {
  const track = trackById(deps.plan, input.track);
  const sent = contentOf(input, track, touch);
  const experiment = runExperiment(input);
  await deps.leads.appendEvent({
    eventId: sentEventId(input.executionName, input.touch),
    leadId: input.leadId,
    type: 'email_sent',
    occurredAt: iso(sentAt),
    receivedAt: iso(deps.clock.now()),
    source: 'nurture',
    properties: {
      track: track.id,
      touch: input.touch,
      template: sent.template,
      ...(content && { variant: content.variant, templateName: content.templateName }),
      ...(sent.contentVariant !== undefined && { contentVariant: sent.contentVariant }),
      ...(experiment && { experimentId: experiment.experimentId, arm: experiment.arm }),
      ...(messageId !== undefined ? { messageId } : { unconfirmed: true }),
      executionName: input.executionName,
    },
  });
  await recordTouchOnLead(deps, input, sentAt, touch.waitDays);
  return {
    ...input,
    outcome: 'sent',
    reason,
    ...(content && { template: content.template, variant: content.variant }),
    ...(sent.contentVariant !== undefined && { contentVariant: sent.contentVariant }),
    ...(messageId !== undefined && { messageId }),
  };
}
