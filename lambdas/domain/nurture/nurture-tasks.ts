import { v5 as uuidv5 } from 'uuid';
import type { Clock } from '../clock.js';
import { DAY_MS } from '../clock.js';
import { assertNever, ConflictError } from '../errors.js';
import type { Lead, NurtureState, StageTransition } from '../lead.js';
import type { LeadRepository } from '../ports.js';
import { ceilToSecond } from './eligibility.js';
import { reevaluate, type NurtureDecision } from './evaluation.js';
import { evaluationLog } from './log-reads.js';
import { RetryableError } from './errors.js';
import { HANDOFF_STAGES, promotionIdFor } from '../lead-events.js';
import { withExhaustion } from './sunset.js';
import type { Mailer } from './ports.js';
import type { SendingStore } from './sending.js';
import type { EvaluateResult, HandoffResult, NurtureTaskInput, RecordFailureInput } from './steps.js';
import { touchAt, trackById, type NurturePlan } from './tracks.js';
import type { SigningKeys } from './unsubscribe-token.js';

/** Namespace of the deterministic ids nurture derives (uuid v5). */
export const NURTURE_ID_NAMESPACE = '5b0c8f0e-2f7c-4f57-9d0b-7c1c8e9a4d21';

/** The id of the `email_sent` event of a run's touch: the same on every retry, so a touch is recorded (and sent) once. */
export const sentEventId = (executionName: string, touch: number): string =>
  uuidv5(`email_sent#${executionName}#${touch}`, NURTURE_ID_NAMESPACE);

/** The id of the `touch_held_out` event of a run's touch (a held-out lead's touch is recorded once, too). */
export const heldOutEventId = (executionName: string, touch: number): string =>
  uuidv5(`touch_held_out#${executionName}#${touch}`, NURTURE_ID_NAMESPACE);

/** How nurture mail is addressed and signed. */
export interface NurtureMailSettings {
  from: string;
  configurationSetName: string;
  /** Prefix of the SES template names (`<prefix>-<template>--<variant>`). */
  templatePrefix: string;
  /** The sender's postal address (required in commercial email), shown in every footer. */
  mailingAddress: string;
  /** The public site the emails link to (no trailing slash needed). */
  siteUrl: string;
  /** The public `/unsubscribe` route, e.g. `https://api.example.com/v1/unsubscribe`. */
  unsubscribeBaseUrl: string;
}

/** What every nurture task needs: the leads, the clock and the plan. */
export interface NurtureCoreDeps {
  leads: LeadRepository;
  clock: Clock;
  plan: NurturePlan;
  /** Attempts at a lead write that loses optimistic-lock races before giving up with `RetryableError`. */
  maxWriteAttempts?: number;
}

/** "Send <touch>" also mails, and signs the unsubscribe link. */
export interface TouchDeps extends NurtureCoreDeps {
  mailer: Mailer;
  mail: NurtureMailSettings;
  signingKeys: Pick<SigningKeys, 'active'>;
  /** Touch claims, the cross-track cap ledger and the reputation brake (send-touch.ts). */
  sending: SendingStore;
}

/** "Re-evaluate lead" also applies the lifecycle's unresponsive rule. */
export interface EvaluateDeps extends NurtureCoreDeps {
  /**
   * Disqualifies a lead as `unresponsive` (the lifecycle's rule, with its review date for the cool-off); a lead the
   * rule does not apply to comes back unchanged with no transitions.
   */
  markUnresponsive: (lead: Lead, now: Date) => { lead: Lead; transitions: StageTransition[] };
}

/** Everything any task needs (what a test harness builds once for all of them). */
export type NurtureDeps = TouchDeps & EvaluateDeps;

const iso = (d: Date): string => d.toISOString();
/** Second-precise RFC 3339 (`2026-03-02T09:00:00Z`), as Step Functions wants wait timestamps. */
export const isoSeconds = (d: Date): string =>
  ceilToSecond(d)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');

/**
 * Re-reads the lead and writes `change(lead)` with the optimistic version check, retrying lost races. `change`
 * returns undefined to write nothing. Returns the stored lead (or undefined if there is none).
 */
async function updateLead(
  deps: NurtureCoreDeps,
  leadId: string,
  change: (lead: Lead) => { lead: Lead; transitions?: StageTransition[] } | undefined,
): Promise<Lead | undefined> {
  const attempts = deps.maxWriteAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const lead = await deps.leads.getLead(leadId);
    if (!lead) return undefined;
    const next = change(lead);
    if (!next) return lead;
    const stored: Lead = { ...next.lead, version: lead.version + 1 };
    try {
      await deps.leads.commitScoring(stored, [], next.transitions ?? []);
      return stored;
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      if (attempt >= attempts) throw new RetryableError(`lead ${leadId} kept changing: ${e.message}`);
    }
  }
}

/** The lead's nurture state for this run, or a fresh one if it belongs to another (or no) run. */
function runState(lead: Lead, input: NurtureTaskInput, now: Date): NurtureState {
  if (lead.nurture?.executionName === input.executionName) return lead.nurture;
  return {
    track: input.track,
    executionName: input.executionName,
    ...(input.experimentId !== undefined && { experimentId: input.experimentId }),
    ...(input.arm !== undefined && { arm: input.arm }),
    status: 'active',
    enrolledAt: iso(now),
    touchesSent: 0,
  };
}

/** True if this run may write the lead's nurture state (it is the lead's run, or the lead has no active one). */
const ownsNurture = (lead: Lead, executionName: string): boolean =>
  !lead.nurture || lead.nurture.executionName === executionName || lead.nurture.status !== 'active';

/**
 * Records on the lead that touch `touch` went out at `sentAt` (or, `heldOut`, went by without mail: the touch count
 * stays, the next touch is planned the same). Idempotent: the counts come from the event log.
 */
export async function recordTouchOnLead(
  deps: NurtureCoreDeps,
  input: NurtureTaskInput,
  sentAt: Date,
  waitDays: number,
  heldOut = false,
): Promise<void> {
  await updateLead(deps, input.leadId, (lead) => {
    if (!ownsNurture(lead, input.executionName)) return undefined;
    const state = runState(lead, input, sentAt);
    const nurture: NurtureState = {
      ...state,
      status: 'active',
      touchesSent: heldOut ? state.touchesSent : Math.max(state.touchesSent, input.touch),
      lastTouchAt: iso(sentAt),
      nextTouchAt: iso(new Date(sentAt.getTime() + waitDays * DAY_MS)),
    };
    if (JSON.stringify(nurture) === JSON.stringify(lead.nurture)) return undefined;
    return { lead: { ...lead, nurture } };
  });
}

/** Marks this run's nurture state finished (or records it, if the run ended before its first send). */
async function finishRun(
  deps: NurtureCoreDeps,
  input: NurtureTaskInput,
  status: 'completed' | 'stopped',
  extra: (lead: Lead, now: Date) => { lead: Lead; transitions?: StageTransition[] } | undefined = () => undefined,
): Promise<void> {
  const now = deps.clock.now();
  await updateLead(deps, input.leadId, (lead) => {
    const changed = extra(lead, now);
    const base = changed?.lead ?? lead;
    if (!ownsNurture(lead, input.executionName)) return changed;
    const nurture: NurtureState = { ...runState(lead, input, now), status, nextTouchAt: undefined };
    if (!changed && JSON.stringify(nurture) === JSON.stringify(lead.nurture)) return undefined;
    return { lead: { ...base, nurture }, transitions: changed?.transitions };
  });
}

/** "Send <touch>" lives in send-touch.ts (one mail per touch: the claim, the cap, the owning run, the brake). */
export { sendTouch } from './send-touch.js';

/**
 * "Re-evaluate lead": after the wait that follows a touch, decides the run's next step. An exhausted track with no
 * engagement disqualifies the lead as `unresponsive` (a recorded stage transition); every ending records the run as
 * finished on the lead.
 */
export async function evaluateLead(deps: EvaluateDeps, input: NurtureTaskInput): Promise<EvaluateResult> {
  const track = trackById(deps.plan, input.track);
  touchAt(track, input.touch);
  const lead = await deps.leads.getLead(input.leadId);
  const events = lead ? await evaluationLog(deps.leads, lead, input.touch >= track.touches.length) : [];
  const now = deps.clock.now();
  let decision: NurtureDecision = reevaluate({
    lead,
    events,
    track,
    touch: input.touch,
    executionName: input.executionName,
    now,
  });
  // A retry after this run already disqualified the lead keeps the answer it gave the first time.
  if (
    decision === 'disqualified' &&
    lead?.disqualification === 'unresponsive' &&
    lead.nurture?.executionName === input.executionName
  ) {
    decision = 'unresponsive';
  }
  switch (decision) {
    case 'next':
    case 'promoted':
    case 'gone':
    case 'superseded':
      break;
    case 'unresponsive':
      await finishRun(deps, input, 'completed', (current, at) => {
        // The sunset policy remembers the exhausted track (and may sunset the lead) before the lifecycle's rule runs.
        const marked = deps.markUnresponsive(withExhaustion(current, track, deps.plan.tracks, at), at);
        return marked.transitions.length > 0 ? marked : undefined;
      });
      break;
    case 'completed':
      await finishRun(deps, input, 'completed');
      break;
    case 'disqualified':
    case 'unsubscribed':
    case 'suppressed':
    case 'no_consent':
    case 'exited':
      await finishRun(deps, input, 'stopped');
      break;
    default:
      assertNever(decision);
  }
  return { ...input, decision };
}

/**
 * "Hand off to sales": the promotion itself was recorded and published when scoring moved the lead into the hand-off
 * stage (the outbox of that commit, `leadEventsFor`), whoever caused it; the run publishes nothing again. It records
 * that the run ended and answers the promotion's id, for the console's execution history.
 */
export async function handOffToSales(deps: NurtureCoreDeps, input: NurtureTaskInput): Promise<HandoffResult> {
  const lead = await deps.leads.getLead(input.leadId);
  const promoted = lead !== undefined && HANDOFF_STAGES.includes(lead.stage);
  if (lead) await finishRun(deps, input, 'completed');
  return { ...input, promotionId: promoted ? promotionIdFor(lead.leadId, lead.stageChangedAt) : null };
}

/** "Record failure": a step failed for good; the run ends and the lead's nurture state says so. */
export async function recordNurtureFailure(
  deps: NurtureCoreDeps,
  input: RecordFailureInput,
): Promise<RecordFailureInput & { recorded: boolean }> {
  const task: NurtureTaskInput = {
    leadId: input.leadId,
    track: input.track,
    executionName: input.executionName,
    touch: 1,
  };
  const lead = await deps.leads.getLead(input.leadId);
  if (lead) await finishRun(deps, task, 'stopped');
  return {
    ...input,
    error: { Error: input.error.Error, Cause: input.error.Cause ?? '' },
    recorded: lead !== undefined,
  };
}
