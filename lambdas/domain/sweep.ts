import * as z from 'zod';
import type { Clock } from './clock.js';
import { ConflictError } from './errors.js';
import type { Lead, StageTransition } from './lead.js';
import {
  enrollmentDecision,
  unconfirmedRun,
  withEnrollment,
  type EnrollmentDecision,
  type NurtureRun,
} from './nurture/enrollment.js';
import type { NurtureStarter } from './nurture/ports.js';
import type { Track } from './nurture/tracks.js';
import type { LeadRepository } from './ports.js';

/**
 * The requalification sweep of one review-index shard (DESIGN §7): read the shard's due leads page by page, apply the
 * requalification rules to each, and stop before the invocation's time runs out, handing back a cursor that the next
 * invocation resumes from. The decisions (how much to read, whether there is time for another lead, what to count)
 * are pure functions below; `sweepShard` drives them over ports.
 */

/** Side effects the requalification rules ask for, besides the lead itself and its stage history. */
export const SWEEP_ACTIONS = ['stop_nurture', 'enroll'] as const;
export const SweepAction = z.enum(SWEEP_ACTIONS);
export type SweepAction = z.infer<typeof SweepAction>;

/** The requalification rules as the sweep sees them (the model bound by the adapter), pure. */
export type Requalify = (
  lead: Lead,
  now: Date,
) => { lead: Lead; transitions: StageTransition[]; actions: readonly SweepAction[] };

const count = z.number().int().nonnegative();

/** What a sweep did, summed over leads, pages, invocations and shards. */
export const SweepCounts = z.object({
  /** Leads requalified and written back with their next `reviewAt`. */
  reviewed: count,
  /** Of those, leads whose stage changed. */
  changed: count,
  /** Leads that were due when read but had been re-scored (and rescheduled) by the time the sweep got to them. */
  skipped: count,
  /** Items the review-index queries read (DynamoDB's ScannedCount): the sweep's cost. */
  itemsRead: count,
  /** Review-index queries. */
  pages: count,
  /** Handler invocations (one per "Sweep shard" state). */
  invocations: count,
  /** Optimistic-lock conflicts retried. */
  conflicts: count,
  /** Stage transitions by `from->to`. */
  transitions: z.record(z.string(), count),
  /** Side effects performed, by action. */
  actions: z.record(z.string(), count),
  /** Side effects that still failed after retries (the lead is requalified; the failure is logged). */
  actionFailures: count,
});
export type SweepCounts = z.infer<typeof SweepCounts>;

export const emptyCounts = (): SweepCounts => ({
  reviewed: 0,
  changed: 0,
  skipped: 0,
  itemsRead: 0,
  pages: 0,
  invocations: 0,
  conflicts: 0,
  transitions: {},
  actions: {},
  actionFailures: 0,
});

const addRecords = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
  const sum = { ...a };
  for (const [k, v] of Object.entries(b)) sum[k] = (sum[k] ?? 0) + v;
  return sum;
};

/** The sum of two counts. */
export function addCounts(a: SweepCounts, b: SweepCounts): SweepCounts {
  return {
    reviewed: a.reviewed + b.reviewed,
    changed: a.changed + b.changed,
    skipped: a.skipped + b.skipped,
    itemsRead: a.itemsRead + b.itemsRead,
    pages: a.pages + b.pages,
    invocations: a.invocations + b.invocations,
    conflicts: a.conflicts + b.conflicts,
    transitions: addRecords(a.transitions, b.transitions),
    actions: addRecords(a.actions, b.actions),
    actionFailures: a.actionFailures + b.actionFailures,
  };
}

/** The counting key of a stage transition, e.g. `mql->lead`, `lead->dormant`, `disqualified->lead`. */
export const transitionKey = (t: Pick<StageTransition, 'from' | 'to'>): string => `${t.from ?? 'none'}->${t.to}`;

/** What happened to one due lead. */
export type LeadOutcome =
  | {
      kind: 'requalified';
      transitions: readonly Pick<StageTransition, 'from' | 'to'>[];
      performed: readonly SweepAction[];
      failed: readonly SweepAction[];
      conflicts: number;
    }
  | { kind: 'skipped'; conflicts: number };

/** Counts with one lead's outcome added. */
export function countOutcome(counts: SweepCounts, outcome: LeadOutcome): SweepCounts {
  const one = emptyCounts();
  one.conflicts = outcome.conflicts;
  if (outcome.kind === 'skipped') {
    one.skipped = 1;
  } else {
    one.reviewed = 1;
    one.changed = outcome.transitions.length > 0 ? 1 : 0;
    for (const t of outcome.transitions)
      one.transitions[transitionKey(t)] = (one.transitions[transitionKey(t)] ?? 0) + 1;
    for (const a of outcome.performed) one.actions[a] = (one.actions[a] ?? 0) + 1;
    one.actionFailures = outcome.failed.length;
  }
  return addCounts(counts, one);
}

/** How one invocation spends its time. */
export interface SweepLimits {
  /** Most leads read per query. */
  readonly pageSize: number;
  /** Time kept back at the end of an invocation for the write in flight and the return (ms). */
  readonly reserveMs: number;
}

export const DEFAULT_SWEEP_LIMITS: SweepLimits = { pageSize: 100, reserveMs: 5_000 };

/** How long leads have taken so far in this invocation. */
export interface Pace {
  readonly leads: number;
  readonly totalMs: number;
  readonly slowestMs: number;
}

export const NO_PACE: Pace = { leads: 0, totalMs: 0, slowestMs: 0 };

/** The pace with one more lead that took `ms`. */
export const observePace = (pace: Pace, ms: number): Pace => ({
  leads: pace.leads + 1,
  totalMs: pace.totalMs + Math.max(0, ms),
  slowestMs: Math.max(pace.slowestMs, ms),
});

/**
 * Whether there is time for another lead: the first lead of an invocation always goes (so every invocation makes
 * progress and the state machine's loop ends), later ones only if twice the slowest lead so far fits before the
 * reserve.
 */
export function hasTimeForLead(limits: SweepLimits, remainingMs: number, pace: Pace): boolean {
  if (pace.leads === 0) return true;
  return remainingMs - limits.reserveMs > 2 * pace.slowestMs;
}

/**
 * How many leads to ask the index for next: a full page until the pace is known, then only as many as the time left
 * can process at the average pace (at least one), so that an invocation stopping on its budget leaves few items read
 * for nothing. Zero means: stop here and hand over the cursor.
 */
export function nextPageSize(limits: SweepLimits, remainingMs: number, pace: Pace): number {
  if (!hasTimeForLead(limits, remainingMs, pace)) return 0;
  if (pace.leads === 0) return limits.pageSize;
  const meanMs = Math.max(1, pace.totalMs / pace.leads);
  const affordable = Math.floor((remainingMs - limits.reserveMs) / meanMs);
  return Math.min(limits.pageSize, Math.max(1, affordable));
}

/** True when the lead is due for review at `asOf`. */
export const isDue = (lead: Pick<Lead, 'reviewAt'>, asOf: Date): boolean =>
  lead.reviewAt !== undefined && Date.parse(lead.reviewAt) <= asOf.getTime();

/** One due lead with its place in the shard (an opaque, increasing token to resume after it). */
export interface DueLead {
  lead: Lead;
  position: string;
}

/** One page of due leads. */
export interface DuePage {
  leads: DueLead[];
  /** Items the query read. */
  itemsRead: number;
  /** Read capacity the query consumed, when the store reports it. */
  readUnits?: number;
  /** False when the shard has no due lead after this page. */
  more: boolean;
}

/** The review index as the sweep reads it (implemented by adapters/dynamo-lead-repository). */
export interface ReviewIndex {
  /** Up to `limit` leads of `shard` whose reviewAt is at or before `asOf`, oldest first, after `after` if given. */
  dueLeads(shard: number, asOf: Date, limit: number, after?: string): Promise<DuePage>;
}

export interface SweepDeps {
  leads: ReviewIndex & Pick<LeadRepository, 'getLead' | 'commitScoring'>;
  requalify: Requalify;
  /** Starts and stops nurture runs; the execution name makes a repeat a no-op. */
  nurture: NurtureStarter;
  /** The nurture plan's tracks, to pick the track a re-enrolled lead goes to. */
  tracks: readonly Track[];
  clock: Clock;
  limits?: SweepLimits;
  /** Attempts on optimistic-lock conflicts, and on a failing nurture call. @default 5 */
  maxAttempts?: number;
  /** Reports a nurture call that failed for good (the lead stays requalified). */
  onActionFailure?: (action: SweepAction, lead: Lead, error: unknown) => void;
  /** Waits between attempts of a nurture call; injectable so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the state machine passes to "Sweep shard": the shard, the sweep's instant, and where to resume. */
export const ShardSweepInput = z.object({
  shard: z.number().int().nonnegative(),
  /** The sweep's instant: a lead is due if its reviewAt is at or before it. Fixed for the whole run. */
  asOf: z.iso.datetime({ offset: true }).transform((s) => new Date(s).toISOString()),
  cursor: z.string().min(1).optional(),
  /** The shard's counts so far (from earlier invocations of this run). */
  counts: SweepCounts.optional(),
});
export type ShardSweepInput = z.infer<typeof ShardSweepInput>;

/** What "Sweep shard" returns; the state machine calls it again with this while `done` is false. */
export interface ShardSweepResult {
  shard: number;
  asOf: string;
  cursor?: string;
  done: boolean;
  counts: SweepCounts;
}

/**
 * Sweeps one shard from `input.cursor` until no due lead is left (`done`) or the time left (`remainingMs()`, e.g.
 * the Lambda context's) is too short for another lead; then returns the cursor of the last lead processed. Leads are
 * taken in review-index order and the cursor only moves forward, so a resumed sweep neither skips nor repeats a lead;
 * a processed lead's next reviewAt lies after `asOf`, so it is not due again in this run.
 */
export async function sweepShard(
  deps: SweepDeps,
  input: ShardSweepInput,
  remainingMs: () => number,
): Promise<ShardSweepResult> {
  const limits = deps.limits ?? DEFAULT_SWEEP_LIMITS;
  const asOf = new Date(input.asOf);
  let counts = addCounts(input.counts ?? emptyCounts(), { ...emptyCounts(), invocations: 1 });
  let cursor = input.cursor;
  let pace = NO_PACE;
  const result = (done: boolean): ShardSweepResult => ({
    shard: input.shard,
    asOf: input.asOf,
    ...(done || cursor === undefined ? {} : { cursor }),
    done,
    counts,
  });

  for (;;) {
    const limit = nextPageSize(limits, remainingMs(), pace);
    if (limit === 0) return result(false);
    const page = await deps.leads.dueLeads(input.shard, asOf, limit, cursor);
    counts = addCounts(counts, { ...emptyCounts(), pages: 1, itemsRead: page.itemsRead });
    for (const due of page.leads) {
      if (!hasTimeForLead(limits, remainingMs(), pace)) return result(false);
      const started = remainingMs();
      counts = countOutcome(counts, await requalifyLead(deps, due.lead, asOf));
      cursor = due.position;
      pace = observePace(pace, started - remainingMs());
    }
    if (!page.more) return result(true);
  }
}

/**
 * The nurture runs to stop and start for a requalified lead, as the rules asked (`actions`), in the nurture plan's
 * terms: `stop_nurture` stops the lead's active run; `enroll` starts the run the plan picks for the lead's new stage
 * (none if the lead may not be mailed), stopping the active run first if it is on another track.
 */
export function nurtureFollowUp(
  before: Lead,
  after: Lead,
  actions: readonly SweepAction[],
  tracks: readonly Track[],
): EnrollmentDecision {
  const running: NurtureRun | undefined =
    before.nurture?.status === 'active'
      ? { track: before.nurture.track, executionName: before.nurture.executionName }
      : undefined;
  const planned = actions.includes('enroll') ? enrollmentDecision(before, after, tracks) : {};
  const start = planned.start;
  const stop = running && (actions.includes('stop_nurture') || (start && planned.stop)) ? running : undefined;
  return { ...(stop ? { stop } : {}), ...(start ? { start } : {}) };
}

/**
 * Requalifies one lead and writes it back with the optimistic version check; on a conflict re-reads it and goes again
 * while it is still due (a lead re-scored meanwhile has a fresh reviewAt and is left alone). The lead is stored with
 * its nurture state already updated; the nurture runs are stopped and started after the write, so a run started by
 * `enroll` sees the lead's new stage.
 */
export async function requalifyLead(deps: SweepDeps, lead: Lead, asOf: Date): Promise<LeadOutcome> {
  const maxAttempts = deps.maxAttempts ?? 5;
  let current = lead;
  for (let attempt = 1; ; attempt++) {
    const clockNow = deps.clock.now();
    const now = clockNow.getTime() < asOf.getTime() ? asOf : clockNow;
    const { lead: requalified, transitions, actions } = deps.requalify(current, now);
    const followUp = nurtureFollowUp(current, requalified, actions, deps.tracks);
    const next: Lead = { ...withEnrollment(requalified, followUp, now), version: current.version + 1 };
    try {
      await deps.leads.commitScoring(next, [], transitions);
    } catch (e) {
      if (!(e instanceof ConflictError) || attempt >= maxAttempts) throw e;
      const fresh = await deps.leads.getLead(current.leadId);
      if (!fresh || !isDue(fresh, asOf)) return { kind: 'skipped', conflicts: attempt };
      current = fresh;
      continue;
    }
    const performed: SweepAction[] = [];
    const failed: SweepAction[] = [];
    const call = async (action: SweepAction, run: () => Promise<unknown>) =>
      ((await withRetries(deps, action, next, run)) ? performed : failed).push(action);
    const { stop, start } = followUp;
    if (stop) await call('stop_nurture', () => deps.nurture.stop(stop));
    if (start) await call('enroll', () => deps.nurture.start({ leadId: next.leadId, ...start }));
    if (failed.includes('enroll')) await forgetEnrollment(deps, next, requalified);
    // An enrollment recorded long enough ago with no touch sent may never have started (StartExecution kept failing
    // after the commit): start it again (a no-op if it runs), or, if that fails too, forget it so that the lead's next
    // activity or review enrolls it afresh.
    const unconfirmed = start || stop ? undefined : unconfirmedRun(next, now);
    if (unconfirmed) {
      await call('enroll', () => deps.nurture.start({ leadId: next.leadId, ...unconfirmed }));
      if (failed.includes('enroll')) await forgetEnrollment(deps, next, { ...requalified, nurture: undefined });
    }
    return { kind: 'requalified', transitions, performed, failed, conflicts: attempt - 1 };
  }
}

/**
 * A run that could not be started must not be recorded as active, or the rules would never enroll the lead again:
 * the lead goes back to its nurture state from before the enrollment (if no one wrote it since), so its next review,
 * or its next activity, enrolls it. A run whose stop failed needs nothing: it re-checks the lead after its wait and
 * ends, since the lead left its track.
 */
async function forgetEnrollment(deps: SweepDeps, written: Lead, requalified: Lead): Promise<void> {
  const restored: Lead = { ...written, nurture: requalified.nurture, version: written.version + 1 };
  try {
    await deps.leads.commitScoring(restored, [], []);
  } catch (e) {
    if (!(e instanceof ConflictError)) throw e;
  }
}

async function withRetries(
  deps: SweepDeps,
  action: SweepAction,
  lead: Lead,
  run: () => Promise<unknown>,
): Promise<boolean> {
  const maxAttempts = deps.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      await run();
      return true;
    } catch (e) {
      if (attempt >= maxAttempts) {
        deps.onActionFailure?.(action, lead, e);
        return false;
      }
      await (deps.sleep ?? defaultSleep)(Math.min(2_000, 50 * 2 ** attempt));
    }
  }
}

/** One shard's outcome as the Map state returns it: a result, or the error that ended the shard. */
export const ShardOutcome = z.object({
  shard: z.number().int().nonnegative(),
  asOf: z.string().optional(),
  cursor: z.string().optional(),
  done: z.boolean().optional(),
  counts: SweepCounts.optional(),
  /** Set by the state machine's Catch when the shard failed after its retries. */
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
});
export type ShardOutcome = z.infer<typeof ShardOutcome>;

/** What "Summarize" receives: the sweep's instant and every shard's outcome. */
export const SweepRun = z.object({
  asOf: z.iso.datetime({ offset: true }),
  shards: z.array(ShardOutcome),
});
export type SweepRun = z.infer<typeof SweepRun>;

/** The run's summary: totals over all shards, and the shards that did not finish. */
export interface SweepSummary {
  asOf: string;
  shards: number;
  /** Shards that failed (after retries); their unfinished leads stay due for the next run. */
  failedShards: number[];
  failed: number;
  counts: SweepCounts;
  /** Items read per lead requalified (the goal is close to 1: the sweep reads only what is due). */
  itemsReadPerLead: number;
}

/**
 * Sums the shards' counts. A failed shard contributes the counts of its invocations before the one that failed (the
 * Catch keeps the failed state's input); the leads its failed invocation did write are not counted.
 */
export function summarizeSweep(run: SweepRun): SweepSummary {
  const counts = run.shards.reduce((sum, s) => addCounts(sum, s.counts ?? emptyCounts()), emptyCounts());
  const failedShards = run.shards.filter((s) => s.error !== undefined || s.done !== true).map((s) => s.shard);
  const processed = counts.reviewed + counts.skipped;
  return {
    asOf: new Date(run.asOf).toISOString(),
    shards: run.shards.length,
    failedShards,
    failed: failedShards.length,
    counts,
    itemsReadPerLead: processed === 0 ? 0 : counts.itemsRead / processed,
  };
}
