import * as z from 'zod';
import { DAY_MS } from '../clock.js';

/**
 * What keeps nurture mail at one mail per touch, within the frequency cap across tracks, from the run that owns the
 * lead, and paused while the sender's reputation is at risk (DESIGN §6). The domain's side: the records, the port
 * (adapters/dynamo-sending-store implements it with conditional writes on the lead table) and the pure decisions.
 */

/**
 * A touch's claim on its one mail, keyed by the touch id (the run's `email_sent` event id):
 * - `sending`: claimed, SES not answered yet (or the invocation died while waiting: see {@link SEND_LEASE_MS});
 * - `sent`: SES accepted it (`messageId`);
 * - `unconfirmed`: the send failed after SES may have accepted it (a timeout): never sent again;
 * - `released`: SES answered an error before accepting it: the touch may be claimed and sent again.
 */
export const ClaimState = z.enum(['sending', 'sent', 'unconfirmed', 'released']);
export type ClaimState = z.infer<typeof ClaimState>;

export const TouchClaim = z.object({
  touchId: z.string(),
  leadId: z.string(),
  executionName: z.string(),
  state: ClaimState,
  claimedAt: z.iso.datetime(),
  messageId: z.string().optional(),
  sentAt: z.iso.datetime().optional(),
});
export type TouchClaim = z.infer<typeof TouchClaim>;

/** One mail counted by the frequency cap: which touch, and when it was claimed. */
export const LedgerEntry = z.object({ touchId: z.string(), at: z.iso.datetime() });
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** The lead's recent nurture mail across all tracks, written only with a version check (the cap's atomic window). */
export interface SendLedger {
  entries: LedgerEntry[];
  /** 0 when the lead has no ledger yet. */
  version: number;
}

/** How long a `sending` claim is taken to be in flight; after it, the invocation that made it is presumed gone. */
export const SEND_LEASE_MS = 5 * 60_000;

export type ClaimOutcome = 'claimed' | 'claimed_elsewhere' | 'not_owner' | 'ledger_changed';

/** Counts of one day (UTC) of sending, for the reputation brake. */
export interface SendingDay {
  day: string;
  sends: number;
  bounces: number;
  complaints: number;
}

/** Whether marketing sending is paused, why, and since when. */
export const SendingState = z.object({
  paused: z.boolean(),
  reason: z.string().optional(),
  pausedAt: z.iso.datetime().optional(),
  resumedAt: z.iso.datetime().optional(),
  /** The counts of the resume day at the moment of resuming: what came before is not held against the sender again. */
  baseline: z.object({ day: z.string(), sends: z.number(), bounces: z.number(), complaints: z.number() }).optional(),
});
export type SendingState = z.infer<typeof SendingState>;

/** The store behind claims, the cap ledger and the reputation counters (adapters/dynamo-sending-store). */
export interface SendingStore {
  getClaim(leadId: string, touchId: string): Promise<TouchClaim | undefined>;
  getLedger(leadId: string): Promise<SendLedger>;
  /**
   * Claims the touch, in one transaction: only if the run still owns the lead's nurture (`not_owner`), the touch has
   * no claim or a released one (`claimed_elsewhere`), and the ledger is still at `ledger.version`
   * (`ledger_changed`); the ledger is written with the new entry.
   */
  claimTouch(claim: TouchClaim, ledger: SendLedger): Promise<ClaimOutcome>;
  /** SES accepted: the claim records the message id and the day's send is counted, once. False if no longer sending. */
  markSent(leadId: string, touchId: string, messageId: string, at: Date): Promise<boolean>;
  /** Possibly accepted: the claim is kept for good and the send counted, once. False if no longer sending. */
  markUnconfirmed(leadId: string, touchId: string, at: Date): Promise<boolean>;
  /** SES refused before accepting: the claim is released and its ledger entry removed, so the touch may go again. */
  release(leadId: string, touchId: string): Promise<void>;
  /** Counts a send that is not a touch (a confirmation mail). */
  countSend(at: Date): Promise<void>;
  /** Counts a hard bounce or a complaint, once per event (`eventId`). */
  countFeedback(kind: 'bounce' | 'complaint', eventId: string, at: Date): Promise<boolean>;
  /** The days `from`..`to` (inclusive, UTC), zero-filled. */
  days(from: Date, to: Date): Promise<SendingDay[]>;
  getState(): Promise<SendingState>;
  /** Pauses unless already paused; false if it was. */
  pause(reason: string, at: Date): Promise<boolean>;
  resume(at: Date, baseline: SendingDay): Promise<void>;
}

/** The reputation brake's limits (the plan's `policy.reputation`). */
export const ReputationPolicy = z.object({
  /** Days of sending the rates are computed over (a rolling window of UTC days). */
  windowDays: z.number().int().min(1).max(30).default(7),
  /**
   * The rates' denominator is at least this many sends: a handful of early bounces cannot trip the brake, and a
   * burst of them on a small volume does.
   */
  minSends: z.number().int().min(1).default(100),
  /** Pause above this hard-bounce rate (SES reviews an account at 5%). */
  maxBounceRate: z.number().positive().max(0.05).default(0.04),
  /** Pause above this complaint rate (SES reviews an account at 0.1%). */
  maxComplaintRate: z.number().positive().max(0.001).default(0.0008),
  /** How long a deferred touch waits before it checks again whether sending was resumed. */
  recheckHours: z.number().int().min(1).max(168).default(6),
});
export type ReputationPolicy = z.infer<typeof ReputationPolicy>;

/** How often the confirmation mail (confirmation.ts) may go to one address, and how long its link is valid. */
export const ConfirmationPolicy = z.object({
  /** At most this many confirmation mails per address ... */
  maxMails: z.number().int().min(1).max(10).default(3),
  /** ... in any fixed window of this many hours. */
  perHours: z.number().int().min(1).max(720).default(24),
  /** Days a confirmation link stays valid. */
  linkDays: z.number().int().min(1).max(90).default(30),
});
export type ConfirmationPolicy = z.infer<typeof ConfirmationPolicy>;

export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** The window's rates, counting from the resume (the baseline) on. */
export interface SendingRates {
  sends: number;
  bounces: number;
  complaints: number;
  bounceRate: number;
  complaintRate: number;
}

/** The rolling rates over `days` (as read for the window), net of what came before the last resume. */
export function sendingRates(days: readonly SendingDay[], state: SendingState, policy: ReputationPolicy): SendingRates {
  const resumed = state.resumedAt ? utcDay(new Date(state.resumedAt)) : undefined;
  let sends = 0;
  let bounces = 0;
  let complaints = 0;
  for (const d of days) {
    if (resumed !== undefined && d.day < resumed) continue;
    const base = state.baseline?.day === d.day ? state.baseline : undefined;
    sends += Math.max(0, d.sends - (base?.sends ?? 0));
    bounces += Math.max(0, d.bounces - (base?.bounces ?? 0));
    complaints += Math.max(0, d.complaints - (base?.complaints ?? 0));
  }
  const denominator = Math.max(sends, policy.minSends);
  return { sends, bounces, complaints, bounceRate: bounces / denominator, complaintRate: complaints / denominator };
}

/** Why sending should pause now, or undefined while the rates are within the limits. */
export function brakeReason(rates: SendingRates, policy: ReputationPolicy): string | undefined {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  if (rates.bounceRate > policy.maxBounceRate) {
    return `bounce rate ${pct(rates.bounceRate)} over ${pct(policy.maxBounceRate)} (${rates.bounces} hard bounces, ${rates.sends} sends)`;
  }
  if (rates.complaintRate > policy.maxComplaintRate) {
    return `complaint rate ${pct(rates.complaintRate)} over ${pct(policy.maxComplaintRate)} (${rates.complaints} complaints, ${rates.sends} sends)`;
  }
  return undefined;
}

/** The first day of the window ending at `now`. */
export const windowStart = (now: Date, policy: ReputationPolicy): Date =>
  new Date(now.getTime() - (policy.windowDays - 1) * DAY_MS);

/** What `GET /sending` answers. */
export interface SendingStatus extends SendingRates {
  paused: boolean;
  reason: string | null;
  pausedAt: string | null;
  resumedAt: string | null;
  windowDays: number;
  limits: { maxBounceRate: number; maxComplaintRate: number; minSends: number };
}

/** Reads the window and the state and says where sending stands. */
export async function sendingStatus(
  store: Pick<SendingStore, 'days' | 'getState'>,
  policy: ReputationPolicy,
  now: Date,
): Promise<SendingStatus> {
  const [state, days] = await Promise.all([store.getState(), store.days(windowStart(now, policy), now)]);
  const rates = sendingRates(days, state, policy);
  return {
    paused: state.paused,
    reason: state.paused ? (state.reason ?? null) : null,
    pausedAt: state.pausedAt ?? null,
    resumedAt: state.resumedAt ?? null,
    ...rates,
    windowDays: policy.windowDays,
    limits: {
      maxBounceRate: policy.maxBounceRate,
      maxComplaintRate: policy.maxComplaintRate,
      minSends: policy.minSends,
    },
  };
}

/**
 * After a hard bounce or complaint was counted: pauses marketing sending if the rates are now over the limits.
 * Returns the reason when this call paused it.
 */
export async function applyBrake(
  store: Pick<SendingStore, 'days' | 'getState' | 'pause'>,
  policy: ReputationPolicy,
  now: Date,
): Promise<{ paused: string | undefined; rates: SendingRates }> {
  const [state, days] = await Promise.all([store.getState(), store.days(windowStart(now, policy), now)]);
  const rates = sendingRates(days, state, policy);
  if (state.paused) return { paused: undefined, rates };
  const reason = brakeReason(rates, policy);
  if (reason === undefined) return { paused: undefined, rates };
  return { paused: (await store.pause(reason, now)) ? reason : undefined, rates };
}

/** `POST /sending/resume`: sending goes on; what was counted so far is not held against it again. */
export async function resumeSending(store: Pick<SendingStore, 'days' | 'resume'>, now: Date): Promise<void> {
  const [today] = await store.days(now, now);
  await store.resume(now, today ?? { day: utcDay(now), sends: 0, bounces: 0, complaints: 0 });
}

/** The feedback the brake counts: hard bounces and complaints (SES's own reputation metrics count these). */
export function feedbackKind(event: {
  type: string;
  properties: Record<string, unknown>;
}): 'bounce' | 'complaint' | undefined {
  if (event.type === 'email_bounced' && event.properties.bounceType === 'permanent') return 'bounce';
  if (event.type === 'email_complained') return 'complaint';
  return undefined;
}

/**
 * Counts the hard bounces and complaints among recorded events (each once per event id, so a redelivered record
 * counts nothing) and applies the brake when one was counted. Returns the reason if this call paused sending, and the
 * rates if it looked.
 */
export async function countFeedback(
  store: Pick<SendingStore, 'countFeedback' | 'days' | 'getState' | 'pause'>,
  policy: ReputationPolicy,
  events: readonly { eventId: string; type: string; properties: Record<string, unknown> }[],
  now: Date,
): Promise<{ counted: number; paused: string | undefined; rates: SendingRates | undefined }> {
  let counted = 0;
  for (const e of events) {
    const kind = feedbackKind(e);
    if (kind && (await store.countFeedback(kind, e.eventId, now))) counted++;
  }
  if (counted === 0) return { counted, paused: undefined, rates: undefined };
  const { paused, rates } = await applyBrake(store, policy, now);
  return { counted, paused, rates };
}
