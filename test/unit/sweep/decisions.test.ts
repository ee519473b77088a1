import { describe, expect, it } from 'vitest';
import type { Lead } from '../../../lambdas/domain/lead.js';
import { newLead } from '../../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import {
  addCounts,
  countOutcome,
  emptyCounts,
  hasTimeForLead,
  isDue,
  nextPageSize,
  NO_PACE,
  nurtureFollowUp,
  observePace,
  ShardSweepInput,
  summarizeSweep,
  transitionKey,
  type SweepLimits,
} from '../../../lambdas/domain/sweep.js';

const limits: SweepLimits = { pageSize: 100, reserveMs: 5_000 };
const tracks = DEFAULT_NURTURE_PLAN.tracks;

describe('time budget', () => {
  it('always lets the first lead of an invocation go, so every invocation makes progress', () => {
    expect(hasTimeForLead(limits, 0, NO_PACE)).toBe(true);
    expect(hasTimeForLead(limits, 4_000, NO_PACE)).toBe(true);
  });

  it('takes another lead only while twice the slowest so far fits before the reserve', () => {
    const pace = observePace(observePace(NO_PACE, 100), 400);
    expect(pace).toEqual({ leads: 2, totalMs: 500, slowestMs: 400 });
    expect(hasTimeForLead(limits, 5_801, pace)).toBe(true);
    expect(hasTimeForLead(limits, 5_800, pace)).toBe(false);
    expect(hasTimeForLead(limits, 1_000, pace)).toBe(false);
  });
});

describe('page size', () => {
  it('asks for a full page until the pace is known', () => {
    expect(nextPageSize(limits, 300_000, NO_PACE)).toBe(100);
  });

  it('asks only for what the time left can process at the average pace, at least one', () => {
    const pace = observePace(observePace(NO_PACE, 100), 100);
    expect(nextPageSize(limits, 5_000 + 2_050, pace)).toBe(20);
    expect(nextPageSize(limits, 5_000 + 250, pace)).toBe(2);
    expect(nextPageSize(limits, 300_000, pace)).toBe(100);
  });

  it('asks for nothing when there is no time for another lead (hand over the cursor)', () => {
    const pace = observePace(NO_PACE, 100);
    expect(nextPageSize(limits, 5_150, pace)).toBe(0);
  });

  it('never divides by a zero pace', () => {
    const pace = observePace(NO_PACE, 0);
    expect(nextPageSize(limits, 5_010, pace)).toBe(10);
  });
});

describe('counts', () => {
  it('counts a requalified lead per transition and per nurture action, and a skipped lead apart', () => {
    let counts = countOutcome(emptyCounts(), {
      kind: 'requalified',
      transitions: [
        { from: 'mql', to: 'lead' },
        { from: 'lead', to: 'dormant' },
      ],
      performed: ['stop_nurture'],
      failed: [],
      conflicts: 1,
    });
    counts = countOutcome(counts, {
      kind: 'requalified',
      transitions: [],
      performed: [],
      failed: ['enroll'],
      conflicts: 0,
    });
    counts = countOutcome(counts, { kind: 'skipped', conflicts: 2 });
    expect(counts).toMatchObject({
      reviewed: 2,
      changed: 1,
      skipped: 1,
      conflicts: 3,
      transitions: { 'mql->lead': 1, 'lead->dormant': 1 },
      actions: { stop_nurture: 1 },
      actionFailures: 1,
    });
  });

  it('adds counts field by field, merging the per-key records', () => {
    const a = { ...emptyCounts(), reviewed: 2, itemsRead: 3, transitions: { 'lead->dormant': 2 } };
    const b = { ...emptyCounts(), reviewed: 1, pages: 4, transitions: { 'lead->dormant': 1, 'mql->lead': 1 } };
    expect(addCounts(a, b)).toMatchObject({
      reviewed: 3,
      itemsRead: 3,
      pages: 4,
      transitions: { 'lead->dormant': 3, 'mql->lead': 1 },
    });
    expect(addCounts(emptyCounts(), emptyCounts())).toEqual(emptyCounts());
  });

  it('names transitions from->to', () => {
    expect(transitionKey({ from: 'disqualified', to: 'lead' })).toBe('disqualified->lead');
    expect(transitionKey({ from: null, to: 'subscriber' })).toBe('none->subscriber');
  });
});

describe('summary', () => {
  it('sums the shards and lists those that failed or did not finish', () => {
    const counts = (reviewed: number, itemsRead: number) => ({ ...emptyCounts(), reviewed, itemsRead });
    const summary = summarizeSweep({
      asOf: '2026-03-02T03:00:00Z',
      shards: [
        { shard: 0, done: true, counts: counts(3, 3) },
        { shard: 1, done: true, counts: counts(0, 0) },
        { shard: 2, counts: counts(1, 2), error: { Error: 'States.TaskFailed', Cause: 'boom' } },
        { shard: 3, error: { Error: 'States.Timeout' } },
      ],
    });
    expect(summary).toMatchObject({ asOf: '2026-03-02T03:00:00.000Z', shards: 4, failedShards: [2, 3], failed: 2 });
    expect(summary.counts.reviewed).toBe(4);
    expect(summary.itemsReadPerLead).toBeCloseTo(5 / 4, 10);
  });

  it('reports zero items per lead for an empty run', () => {
    expect(summarizeSweep({ asOf: '2026-03-02T03:00:00.000Z', shards: [] }).itemsReadPerLead).toBe(0);
  });
});

describe('input and due-ness', () => {
  it("normalizes the sweep's instant (Scheduler gives seconds without milliseconds)", () => {
    expect(ShardSweepInput.parse({ shard: 3, asOf: '2026-03-02T03:00:00Z' }).asOf).toBe('2026-03-02T03:00:00.000Z');
    expect(ShardSweepInput.parse({ shard: 3, asOf: '2026-03-02T04:00:00+01:00' }).asOf).toBe(
      '2026-03-02T03:00:00.000Z',
    );
    expect(() => ShardSweepInput.parse({ shard: -1, asOf: '2026-03-02T03:00:00Z' })).toThrow();
    expect(() => ShardSweepInput.parse({ shard: 1, asOf: 'yesterday' })).toThrow();
  });

  it('is due at or after reviewAt, never without one', () => {
    const asOf = new Date('2026-03-02T03:00:00.000Z');
    expect(isDue({ reviewAt: '2026-03-02T03:00:00.000Z' }, asOf)).toBe(true);
    expect(isDue({ reviewAt: '2026-03-02T03:00:00.001Z' }, asOf)).toBe(false);
    expect(isDue({}, asOf)).toBe(false);
  });
});

describe('nurture follow-up', () => {
  const at = '2026-03-02T10:00:00.000Z';
  const base = (): Lead => ({
    ...newLead('01JNURTURE00000000000000AA', 'pat@acme-builders.com', new Date(at)),
    consent: { marketing: true, at, source: 'form' },
    stage: 'lead',
  });
  const active = (lead: Lead, track: string): Lead => ({
    ...lead,
    nurture: { track, executionName: `${lead.leadId}-${track}-x`, status: 'active', enrolledAt: at, touchesSent: 1 },
  });

  it('stops the active run when the rules ask to', () => {
    const before = active(base(), 'newsletter');
    const after: Lead = { ...before, stage: 'dormant', stageChangedAt: '2026-06-01T00:00:00.000Z' };
    expect(nurtureFollowUp(before, after, ['stop_nurture'], tracks)).toEqual({
      stop: { track: 'newsletter', executionName: `${before.leadId}-newsletter-x` },
    });
  });

  it('does nothing without an action, or a stop without an active run', () => {
    const lead = base();
    expect(nurtureFollowUp(active(lead, 'newsletter'), lead, [], tracks)).toEqual({});
    expect(nurtureFollowUp(lead, { ...lead, stage: 'dormant' }, ['stop_nurture'], tracks)).toEqual({});
  });

  it("enrolls in the plan's track for the new stage, under a name keyed on the stage change", () => {
    const before = base();
    const after: Lead = { ...before, stageChangedAt: '2026-06-01T00:00:00.000Z' };
    const decision = nurtureFollowUp(before, after, ['enroll'], tracks);
    expect(decision.stop).toBeUndefined();
    expect(decision.start?.track).toBe(tracks.find((t) => t.entry.stages.includes('lead'))?.id);
    expect(decision.start?.executionName).toContain('20260601T000000Z');
  });

  it('does not enroll a lead that may not be mailed', () => {
    const before: Lead = { ...base(), consent: undefined };
    expect(nurtureFollowUp(before, before, ['enroll'], tracks)).toEqual({});
  });
});
