import { isSunset, type Arm, type Lead, type NurtureState } from '../lead.js';
import { assignmentFor } from './experiments.js';
import { hasMarketingConsent } from './eligibility.js';
import { trackStanding } from './evaluation.js';
import { nurtureExecutionName } from './execution-name.js';
import { sunsetChoice } from './sunset.js';
import type { Track, TrackId } from './tracks.js';

/** True if the lead meets every entry condition of the track. */
export function meetsEntry(lead: Lead, track: Track): boolean {
  const e = track.entry;
  if (!e.stages.includes(lead.stage)) return false;
  if (e.grades && !(lead.scores && e.grades.includes(lead.scores.grade))) return false;
  if (e.minTotal !== undefined && !(lead.scores && lead.scores.total >= e.minTotal)) return false;
  if (e.minEngagement !== undefined && !(lead.scores && lead.scores.engagement >= e.minEngagement)) return false;
  return true;
}

/** True if marketing email may be sent to the lead at all (consent given, not suppressed). */
export function isMailable(lead: Lead): boolean {
  const s = lead.suppression;
  return hasMarketingConsent(lead) && !s.unsubscribed && !s.hardBounced && !s.complained;
}

/**
 * The track a lead belongs in: the first (in the plan's order, the re-engagement track aside) whose entry criteria it
 * meets, if it may be mailed — as the sunset policy allows (sunset.ts): not a track it exhausted without engaging
 * unless it shows new evidence (then the re-engagement track while cycles remain), and none while it is sunset.
 */
export function chooseTrack(lead: Lead, tracks: readonly Track[]): Track | undefined {
  if (!isMailable(lead) || isSunset(lead)) return undefined;
  return sunsetChoice(
    lead,
    tracks.find((t) => t.reengagement === undefined && meetsEntry(lead, t)),
    tracks,
  );
}

/** A run of a track, as the starter starts or stops it. */
export interface NurtureRun {
  track: TrackId;
  executionName: string;
  /** The track's experiment and the lead's arm of it (experiments.ts): part of the run's input, fixed for the run. */
  experimentId?: string;
  arm?: Arm;
}

/** What the scoring pipeline does about nurture after a lead changed: start a run, stop one, both, or nothing. */
export interface EnrollmentDecision {
  start?: NurtureRun;
  stop?: NurtureRun;
}

/**
 * Enrollment after a scoring commit (`before` → `after`), at most one active track per lead:
 * - a lead with no active run starts the track it belongs in, once per stage (the execution name is derived from
 *   the lead, the track and `stageChangedAt`, so repeating the start is a no-op);
 * - a stage change that moves the lead to another track stops the current run and starts the new one;
 * - a lead that reached a hand-off stage keeps its run: the run re-evaluates after its wait, hands off to sales and
 *   ends (no further mail goes out meanwhile: every touch re-checks the lead first);
 * - a lead that no longer belongs in its track (disqualified, dormant, unsubscribed, no consent…) has its run
 *   stopped.
 */
export function enrollmentDecision(
  before: Lead | undefined,
  after: Lead | undefined,
  tracks: readonly Track[],
): EnrollmentDecision {
  const running = (l: Lead | undefined): NurtureRun | undefined =>
    l?.nurture?.status === 'active' ? { track: l.nurture.track, executionName: l.nurture.executionName } : undefined;
  if (!after) {
    const was = running(before);
    return was ? { stop: was } : {};
  }
  const current = running(after);
  const currentTrack = current && tracks.find((t) => t.id === current.track);
  if (current && currentTrack?.exit.handoffStages.includes(after.stage)) return {};

  const target = chooseTrack(after, tracks);
  if (!target) {
    if (current && (!currentTrack || trackStanding(after, [], currentTrack) !== 'continue')) return { stop: current };
    return {};
  }
  const start: NurtureRun = {
    track: target.id,
    executionName: nurtureExecutionName(after.leadId, target.id, after.stageChangedAt),
    ...assignmentFor(after.leadId, target),
  };
  if (current) {
    if (current.track === target.id) return {};
    if (before && before.stage === after.stage) return {};
    return { stop: current, start };
  }
  if (after.nurture?.executionName === start.executionName) return {};
  return { start };
}

/** The lead with its nurture state updated for a decision (to persist with the lead, if the caller wants to now). */
export function withEnrollment(lead: Lead, decision: EnrollmentDecision, now: Date): Lead {
  if (decision.start) {
    const nurture: NurtureState = {
      track: decision.start.track,
      executionName: decision.start.executionName,
      status: 'active',
      ...(decision.start.experimentId !== undefined && { experimentId: decision.start.experimentId }),
      ...(decision.start.arm !== undefined && { arm: decision.start.arm }),
      enrolledAt: now.toISOString(),
      touchesSent: 0,
    };
    return { ...lead, nurture };
  }
  if (decision.stop && lead.nurture?.executionName === decision.stop.executionName) {
    return { ...lead, nurture: { ...lead.nurture, status: 'stopped', nextTouchAt: undefined } };
  }
  return lead;
}

/**
 * How long a recorded enrollment may go without its run's first touch before the sweep makes sure the run exists
 * (its `StartExecution` may have failed for good after the commit that recorded it).
 */
export const START_RECONCILE_AFTER_MS = 15 * 60_000;

/**
 * The run a lead's record says is active but may never have started: enrolled at least `afterMs` ago and no touch
 * sent yet. Starting it again is safe (the execution name makes a repeat a no-op).
 */
export function unconfirmedRun(lead: Lead, now: Date, afterMs = START_RECONCILE_AFTER_MS): NurtureRun | undefined {
  const n = lead.nurture;
  if (!n || n.status !== 'active' || n.touchesSent > 0 || n.lastTouchAt !== undefined) return undefined;
  if (now.getTime() - Date.parse(n.enrolledAt) < afterMs) return undefined;
  return { track: n.track, executionName: n.executionName };
}

/** A newly enrolled lead is due for review soon enough for the sweep to check that its run started. */
export function reviewAfterEnrollment(lead: Lead, now: Date, afterMs = START_RECONCILE_AFTER_MS): Lead {
  const check = new Date(now.getTime() + afterMs).toISOString();
  return lead.reviewAt !== undefined && lead.reviewAt <= check ? lead : { ...lead, reviewAt: check };
}
