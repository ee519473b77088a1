import type { Clock } from './clock.js';
import { ConflictError } from './errors.js';
import type { LeadEvent } from './events.js';
import type { Lead, StageTransition } from './lead.js';
import {
  enrollmentDecision,
  reviewAfterEnrollment,
  withEnrollment,
  type EnrollmentDecision,
} from './nurture/enrollment.js';
import { activityAfter } from './nurture/evaluation.js';
import type { NurtureStarter } from './nurture/ports.js';
import type { Track } from './nurture/tracks.js';
import type { LeadRepository } from './ports.js';

/** The scoring seam: applies new events to a lead (profile, suppression, scores, stage). Pure. */
export type ApplyEvents = (
  lead: Lead,
  events: LeadEvent[],
  now: Date,
) => { lead: Lead; transitions: StageTransition[] };

export interface ScoringDeps {
  leads: LeadRepository;
  clock: Clock;
  apply: ApplyEvents;
  /** Nurture enrollment after each commit; without it, scoring enrolls no one (e.g. no state machines configured). */
  nurture?: { tracks: readonly Track[]; starter: NurtureStarter };
  /** Attempts on optimistic-lock conflicts before giving up (the platform then retries the record). */
  maxAttempts?: number;
  /** Waits between attempts; injectable so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

/** A stored event that cannot be applied (it no longer fits the schema): the record is failed, alone, with why. */
export class PoisonEventError extends Error {
  override readonly name = 'PoisonEventError';
  constructor(
    readonly leadId: string,
    readonly eventId: string,
    readonly reason: string,
  ) {
    super(`event ${eventId} of lead ${leadId} cannot be applied: ${reason}`);
  }
}

export interface ScoringResult {
  /** The lead as it was read (undefined if it no longer exists, e.g. erased). */
  before?: Lead;
  /** The lead as stored after this run. */
  after?: Lead;
  applied: string[];
  transitions: StageTransition[];
  /** The nurture runs this change started or stopped (already recorded on `after.nurture`). */
  enrollment: EnrollmentDecision;
  /** Events among those asked for that cannot be applied, with why (they stay unapplied). */
  invalid: Map<string, string>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Applies the not-yet-applied events among `eventIds` to their lead and persists the result atomically with an
 * optimistic version check. An event already applied (a redelivery) is skipped, so its effect happens once; a lost
 * race re-reads and re-applies, so concurrent events for one lead lose nothing. The lead's nurture enrollment is
 * decided from the change and written in the same commit; the run itself is started by {@link followUpNurture}.
 */
export async function scorePendingEvents(
  deps: ScoringDeps,
  leadId: string,
  eventIds: string[],
): Promise<ScoringResult> {
  // The lead's other unapplied events too (a record dead-lettered earlier, issue 13): applied with these, once.
  const ids = [...new Set([...eventIds, ...(await deps.leads.pendingEventIds(leadId))])];
  let result: ScoringResult | undefined;
  // One commit is one DynamoDB transaction (the lead, one update per event, the transitions: at most 100 items), so a
  // lead with more pending events than fit is scored in successive commits, oldest events first.
  for (;;) {
    const step = await scoreOnce(deps, leadId, ids);
    result = result
      ? {
          ...step,
          before: result.before,
          applied: [...result.applied, ...step.applied],
          transitions: [...result.transitions, ...step.transitions],
          enrollment: step.enrollment.start || step.enrollment.stop ? step.enrollment : result.enrollment,
        }
      : step;
    if (!step.more) return result;
  }
}

/** Events applied per commit: leaves room in the 100-item transaction for the lead and its transitions. */
export const MAX_EVENTS_PER_COMMIT = 80;

async function scoreOnce(
  deps: ScoringDeps,
  leadId: string,
  eventIds: string[],
): Promise<ScoringResult & { more: boolean }> {
  const maxAttempts = deps.maxAttempts ?? 10;
  const sleep = deps.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    const { lead, pending: all, invalid } = await deps.leads.loadPending(leadId, eventIds);
    if (!lead || all.length === 0) {
      return { before: lead, after: lead, applied: [], transitions: [], enrollment: {}, invalid, more: false };
    }
    const pending = [...all]
      .sort((a, b) =>
        a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : a.eventId < b.eventId ? -1 : 1,
      )
      .slice(0, MAX_EVENTS_PER_COMMIT);
    const now = deps.clock.now();
    const { lead: scored, transitions } = deps.apply(lead, pending, now);
    const enrollment = deps.nurture ? enrollmentDecision(lead, scored, deps.nurture.tracks) : {};
    // A lead scored before `activity` existed gets it from its whole log, once.
    const seen = lead.activity ?? activityAfter(undefined, await deps.leads.listEvents(leadId));
    const next: Lead = {
      ...withEnrollment(scored, enrollment, now),
      activity: activityAfter(seen, pending),
      version: lead.version + 1,
    };
    try {
      await deps.leads.commitScoring(
        next,
        pending.map((e) => e.eventId),
        transitions,
      );
      const applied = pending.map((e) => e.eventId);
      return {
        before: lead,
        after: next,
        applied,
        transitions,
        enrollment,
        invalid,
        more: all.length > pending.length,
      };
    } catch (e) {
      if (!(e instanceof ConflictError) || attempt >= maxAttempts) throw e;
      await sleep(Math.min(1000, 10 * 2 ** attempt) * Math.random());
    }
  }
}

/**
 * Starts and stops the nurture runs a scoring result decided. Starting is idempotent (the execution name is the
 * dedup key), so a failure throws and the platform retries the record; the retry finds the events applied and calls
 * this again with the lead's recorded enrollment ({@link pendingStart}). A failed stop is only logged: a run re-checks
 * the lead after every wait and ends by itself once the lead has left its track.
 */
export async function followUpNurture(
  deps: ScoringDeps,
  result: Pick<ScoringResult, 'after' | 'enrollment'>,
  onStopFailure: (error: unknown) => void = () => undefined,
): Promise<void> {
  const { after, enrollment } = result;
  if (!deps.nurture || !after) return;
  if (enrollment.stop) {
    try {
      await deps.nurture.starter.stop(enrollment.stop);
    } catch (e) {
      onStopFailure(e);
    }
  }
  if (!enrollment.start) return;
  try {
    await deps.nurture.starter.start({ leadId: after.leadId, ...enrollment.start });
  } catch (e) {
    await reviewSoon(deps, after);
    throw e;
  }
}

/**
 * A start that failed is retried with the record, which may end in the DLQ: the lead is made due for review soon
 * (`reviewAfterEnrollment`), so the sweep starts its run again or forgets the enrollment (sweep.ts) and the lead is never
 * left "active" with no run. Best effort: if another writer got there first, its write stands.
 */
async function reviewSoon(deps: ScoringDeps, lead: Lead): Promise<void> {
  const due = reviewAfterEnrollment(lead, deps.clock.now());
  if (due === lead) return;
  try {
    await deps.leads.commitScoring({ ...due, version: lead.version + 1 }, [], []);
  } catch (e) {
    if (!(e instanceof ConflictError)) throw e;
  }
}

/**
 * A recorded enrollment whose run may not have started yet (no touch sent): what a retried record starts again.
 * Starting a run that exists is a no-op.
 */
export function pendingStart(lead: Lead | undefined): EnrollmentDecision {
  const n = lead?.nurture;
  return n && n.status === 'active' && n.touchesSent === 0
    ? {
        start: {
          track: n.track,
          executionName: n.executionName,
          ...(n.experimentId !== undefined && { experimentId: n.experimentId }),
          ...(n.arm !== undefined && { arm: n.arm }),
        },
      }
    : {};
}
