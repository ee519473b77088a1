import type { Clock } from './clock.js';
import { ConflictError } from './errors.js';
import type { LeadEvent } from './events.js';
import type { Lead, StageTransition } from './lead.js';
import type { LeadRepository } from './ports.js';

/** The scoring seam: applies new events to a lead (profile, suppression, scores, stage). Pure. */
export type ApplyEvents = (lead: Lead, events: LeadEvent[], now: Date) => { lead: Lead; transitions: StageTransition[] };

export interface ScoringDeps {
  leads: LeadRepository;
  clock: Clock;
  apply: ApplyEvents;
  /** Attempts on optimistic-lock conflicts before giving up (the platform then retries the record). */
  maxAttempts?: number;
  /** Waits between attempts; injectable so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

export interface ScoringResult {
  /** The lead as stored after this run (undefined if it no longer exists, e.g. erased). */
  before?: Lead;
  after?: Lead;
  applied: string[];
  transitions: StageTransition[];
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Applies the not-yet-applied events among `eventIds` to their lead and persists the result atomically with an
 * optimistic version check. An event already applied (a redelivery) is skipped, so its effect happens once; a lost
 * race re-reads and re-applies, so concurrent events for one lead lose nothing.
 */
export async function scorePendingEvents(deps: ScoringDeps, leadId: string, eventIds: string[]): Promise<ScoringResult> {
  const maxAttempts = deps.maxAttempts ?? 10;
  const sleep = deps.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    const { lead, pending } = await deps.leads.loadPending(leadId, eventIds);
    if (!lead || pending.length === 0) return { before: lead, after: lead, applied: [], transitions: [] };
    const { lead: scored, transitions } = deps.apply(lead, pending, deps.clock.now());
    const next: Lead = { ...scored, version: lead.version + 1 };
    try {
      await deps.leads.commitScoring(next, pending.map((e) => e.eventId), transitions);
      return { before: lead, after: next, applied: pending.map((e) => e.eventId), transitions };
    } catch (e) {
      if (!(e instanceof ConflictError) || attempt >= maxAttempts) throw e;
      await sleep(Math.min(1000, 10 * 2 ** attempt) * Math.random());
    }
  }
}
