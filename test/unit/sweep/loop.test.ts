import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAY_MS, fixedClock } from '../../../lambdas/domain/clock.js';
import { ConflictError } from '../../../lambdas/domain/errors.js';
import { newLead, type Lead, type StageTransition } from '../../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import type { NurtureRun } from '../../../lambdas/domain/nurture/enrollment.js';
import type { NurtureStart, NurtureStarter } from '../../../lambdas/domain/nurture/ports.js';
import {
  isDue,
  ShardSweepInput,
  sweepShard,
  type DuePage,
  type Requalify,
  type ReviewIndex,
  type ShardSweepResult,
  type SweepDeps,
} from '../../../lambdas/domain/sweep.js';

const ASOF = new Date('2026-03-02T03:00:00.000Z');

/** The review index and lead writes, in memory, with the repository's version check. */
class MemoryLeads implements ReviewIndex {
  readonly leads = new Map<string, Lead>();
  readonly commits: string[] = [];
  itemsRead = 0;
  /** Leads whose next commit loses a race: the callback changes the stored lead first. */
  readonly races = new Map<string, (stored: Lead) => Lead>();

  async dueLeads(_shard: number, asOf: Date, limit: number, after?: string): Promise<DuePage> {
    const due = [...this.leads.values()]
      .filter((l) => isDue(l, asOf))
      .map((lead) => ({ lead, position: `${lead.reviewAt}#${lead.leadId}` }))
      .sort((a, b) => (a.position < b.position ? -1 : 1))
      .filter((d) => after === undefined || d.position > after);
    const leads = due.slice(0, limit);
    this.itemsRead += leads.length;
    return { leads, itemsRead: leads.length, more: due.length > limit };
  }

  async getLead(leadId: string): Promise<Lead | undefined> {
    return this.leads.get(leadId);
  }

  async commitScoring(lead: Lead, _applied: string[], _transitions: StageTransition[]): Promise<void> {
    const race = this.races.get(lead.leadId);
    if (race) {
      this.races.delete(lead.leadId);
      const stored = this.leads.get(lead.leadId);
      if (stored) this.leads.set(lead.leadId, race(stored));
    }
    const stored = this.leads.get(lead.leadId);
    if (!stored || stored.version !== lead.version - 1) throw new ConflictError(`lead ${lead.leadId} changed`);
    this.leads.set(lead.leadId, lead);
    this.commits.push(lead.leadId);
  }
}

class RecordingNurture implements NurtureStarter {
  readonly started: NurtureStart[] = [];
  readonly stopped: NurtureRun[] = [];
  failStops = false;
  async start(input: NurtureStart): Promise<'started'> {
    this.started.push(input);
    return 'started';
  }
  async stop(run: NurtureRun): Promise<'stopped'> {
    if (this.failStops) throw new Error('sfn unavailable');
    this.stopped.push(run);
    return 'stopped';
  }
}

/** Leads due one minute apart before ASOF, and some not due. */
function seed(store: MemoryLeads, due: number, notDue = 3): Lead[] {
  const all: Lead[] = [];
  for (let i = 0; i < due + notDue; i++) {
    const id = `lead-${String(i).padStart(4, '0')}`;
    const reviewAt = new Date(ASOF.getTime() + (i < due ? -(due - i) * 60_000 : (i + 1) * DAY_MS)).toISOString();
    const lead: Lead = {
      ...newLead(id, `${id}@example.com`, new Date('2026-01-01T00:00:00Z')),
      stage: 'lead',
      reviewAt,
    };
    store.leads.set(id, lead);
    all.push(lead);
  }
  return all;
}

/** A simulated invocation clock: each lead costs `costMs` of the invocation's `timeoutMs`. */
function harness(store: MemoryLeads, opts: { costMs: number; reserveMs: number; pageSize: number }) {
  let elapsed = 0;
  const requalify: Requalify = (lead, now) => {
    elapsed += opts.costMs;
    const to = lead.leadId.endsWith('0') ? 'dormant' : lead.stage;
    const transitions: StageTransition[] =
      to === lead.stage
        ? []
        : [{ from: lead.stage, to, reason: 'silent', rule: 'lifecycle:dormant', at: now.toISOString() }];
    return {
      lead: { ...lead, stage: to, reviewAt: new Date(now.getTime() + DAY_MS).toISOString() },
      transitions,
      actions: [],
    };
  };
  const nurture = new RecordingNurture();
  const deps: SweepDeps = {
    leads: store,
    requalify,
    nurture,
    tracks: [],
    clock: fixedClock(ASOF),
    limits: { pageSize: opts.pageSize, reserveMs: opts.reserveMs },
    sleep: async () => undefined,
  };
  /** Invokes "Sweep shard" as the state machine does, until done; returns every invocation's result. */
  const runToEnd = async (timeoutMs: number): Promise<ShardSweepResult[]> => {
    const results: ShardSweepResult[] = [];
    let input = ShardSweepInput.parse({ shard: 0, asOf: ASOF.toISOString() });
    for (let i = 0; i < 10_000; i++) {
      elapsed = 0;
      const result = await sweepShard(deps, input, () => timeoutMs - elapsed);
      results.push(result);
      if (result.done) return results;
      input = ShardSweepInput.parse(result);
    }
    throw new Error('the shard loop did not end');
  };
  return { deps, nurture, runToEnd };
}

describe('sweepShard', () => {
  it('requalifies every due lead of the shard in one invocation when time allows, and leaves the rest alone', async () => {
    const store = new MemoryLeads();
    seed(store, 12, 5);
    const { runToEnd } = harness(store, { costMs: 10, reserveMs: 1_000, pageSize: 5 });
    const [result, ...more] = await runToEnd(300_000);
    expect(more).toEqual([]);
    expect(result).toMatchObject({ shard: 0, asOf: ASOF.toISOString(), done: true });
    expect(result?.cursor).toBeUndefined();
    expect(result?.counts).toMatchObject({ reviewed: 12, changed: 2, invocations: 1, pages: 3, itemsRead: 12 });
    expect(result?.counts.transitions).toEqual({ 'lead->dormant': 2 });
    expect([...store.commits].sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `lead-${String(i).padStart(4, '0')}`),
    );
    expect([...store.leads.values()].filter((l) => isDue(l, ASOF))).toEqual([]);
  });

  it('stops on its time budget with a cursor, and the next invocation resumes right after it', async () => {
    const store = new MemoryLeads();
    seed(store, 10);
    const { runToEnd } = harness(store, { costMs: 100, reserveMs: 1_000, pageSize: 100 });
    // 1,450 ms with 1,000 reserved and 100 ms a lead: after the 3rd lead 150 ms < 2 × 100 ms are left → 3 per invocation.
    const results = await runToEnd(1_450);
    expect(results.map((r) => r.counts.reviewed)).toEqual([3, 6, 9, 10]);
    expect(results.slice(0, -1).every((r) => !r.done && r.cursor !== undefined)).toBe(true);
    const last = results.at(-1);
    expect(last?.counts).toMatchObject({ reviewed: 10, invocations: results.length });
    expect(store.commits).toEqual(Array.from({ length: 10 }, (_, i) => `lead-${String(i).padStart(4, '0')}`));
  });

  it('never skips nor repeats a lead, whatever the budget, page size and pace (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 3_000 }),
        fc.integer({ min: 0, max: 3_000 }),
        fc.integer({ min: 1, max: 20 }),
        async (due, costMs, reserveMs, slackMs, pageSize) => {
          const store = new MemoryLeads();
          seed(store, due);
          const { runToEnd } = harness(store, { costMs, reserveMs, pageSize });
          const results = await runToEnd(reserveMs + slackMs);
          const counts = results.at(-1)?.counts;
          expect(store.commits).toEqual(Array.from({ length: due }, (_, i) => `lead-${String(i).padStart(4, '0')}`));
          expect(counts?.reviewed).toBe(due);
          expect(counts?.invocations).toBe(results.length);
          expect(counts?.itemsRead).toBe(store.itemsRead);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('leaves a lead alone that was re-scored (rescheduled) meanwhile, counting the conflict', async () => {
    const store = new MemoryLeads();
    seed(store, 3, 0);
    store.races.set('lead-0001', (stored) => ({
      ...stored,
      version: stored.version + 1,
      reviewAt: new Date(ASOF.getTime() + 30 * DAY_MS).toISOString(),
    }));
    const { runToEnd } = harness(store, { costMs: 1, reserveMs: 0, pageSize: 10 });
    const [result] = await runToEnd(60_000);
    expect(result?.counts).toMatchObject({ reviewed: 2, skipped: 1, conflicts: 1 });
    expect(store.commits).toEqual(['lead-0000', 'lead-0002']);
  });

  it('re-reads and requalifies a lead still due after losing a race', async () => {
    const store = new MemoryLeads();
    seed(store, 2, 0);
    store.races.set('lead-0001', (stored) => ({
      ...stored,
      version: stored.version + 1,
      profile: { company: 'Acme' },
    }));
    const { runToEnd } = harness(store, { costMs: 1, reserveMs: 0, pageSize: 10 });
    const [result] = await runToEnd(60_000);
    expect(result?.counts).toMatchObject({ reviewed: 2, skipped: 0, conflicts: 1 });
    expect(store.leads.get('lead-0001')).toMatchObject({ version: 2, profile: { company: 'Acme' } });
  });

  it('runs the nurture calls the rules ask for after the write, and counts one that keeps failing', async () => {
    const store = new MemoryLeads();
    const [lead] = seed(store, 1, 0);
    if (!lead) throw new Error('no lead');
    store.leads.set(lead.leadId, {
      ...lead,
      nurture: {
        track: 'newsletter',
        executionName: 'run-1',
        status: 'active',
        enrolledAt: lead.createdAt,
        touchesSent: 2,
      },
    });
    const { deps, nurture } = harness(store, { costMs: 1, reserveMs: 0, pageSize: 10 });
    const failures: string[] = [];
    const withStop: SweepDeps = {
      ...deps,
      requalify: (l, now) => ({ ...deps.requalify(l, now), actions: ['stop_nurture'] }),
      onActionFailure: (action, l) => failures.push(`${action}:${l.leadId}`),
    };
    const ok = await sweepShard(withStop, ShardSweepInput.parse({ shard: 0, asOf: ASOF.toISOString() }), () => 60_000);
    expect(ok.counts).toMatchObject({ reviewed: 1, actions: { stop_nurture: 1 }, actionFailures: 0 });
    expect(nurture.stopped).toEqual([{ track: 'newsletter', executionName: 'run-1' }]);
    expect(store.leads.get(lead.leadId)?.nurture?.status).toBe('stopped');

    store.leads.set(lead.leadId, {
      ...(store.leads.get(lead.leadId) ?? lead),
      reviewAt: lead.reviewAt,
      nurture: {
        track: 'newsletter',
        executionName: 'run-2',
        status: 'active',
        enrolledAt: lead.createdAt,
        touchesSent: 0,
      },
    });
    nurture.failStops = true;
    const failed = await sweepShard(
      withStop,
      ShardSweepInput.parse({ shard: 0, asOf: ASOF.toISOString() }),
      () => 60_000,
    );
    expect(failed.counts).toMatchObject({ reviewed: 1, actions: {}, actionFailures: 1 });
    expect(failures).toEqual([`stop_nurture:${lead.leadId}`]);
    expect(isDue(store.leads.get(lead.leadId) ?? lead, ASOF)).toBe(false);
  });

  it('propagates errors other than conflicts, so the platform retries the invocation', async () => {
    const store = new MemoryLeads();
    seed(store, 1, 0);
    const { deps } = harness(store, { costMs: 1, reserveMs: 0, pageSize: 10 });
    const broken: SweepDeps = {
      ...deps,
      leads: {
        ...store,
        dueLeads: store.dueLeads.bind(store),
        getLead: store.getLead.bind(store),
        commitScoring: async () => Promise.reject(new Error('throttled')),
      },
    };
    await expect(
      sweepShard(broken, ShardSweepInput.parse({ shard: 0, asOf: ASOF.toISOString() }), () => 60_000),
    ).rejects.toThrow('throttled');
  });
});

describe('a nurture run that cannot be started', () => {
  it('is not left recorded as active, so a later review enrolls the lead again', async () => {
    const store = new MemoryLeads();
    const [lead] = seed(store, 1, 0);
    if (!lead) throw new Error('no lead');
    store.leads.set(lead.leadId, { ...lead, consent: { marketing: true, at: lead.createdAt, source: 'form' } });
    const { deps } = harness(store, { costMs: 1, reserveMs: 0, pageSize: 10 });
    const tracks = DEFAULT_NURTURE_PLAN.tracks;
    const failing: SweepDeps = {
      ...deps,
      tracks,
      requalify: (l, now) => ({
        lead: { ...l, reviewAt: new Date(now.getTime() + DAY_MS).toISOString() },
        transitions: [],
        actions: ['enroll'],
      }),
      nurture: { start: async () => Promise.reject(new Error('sfn unavailable')), stop: async () => 'not_running' },
    };
    const result = await sweepShard(
      failing,
      ShardSweepInput.parse({ shard: 0, asOf: ASOF.toISOString() }),
      () => 60_000,
    );
    expect(result.counts).toMatchObject({ reviewed: 1, actionFailures: 1, actions: {} });
    const stored = store.leads.get(lead.leadId);
    expect(stored?.nurture).toBeUndefined();
    expect(stored?.version).toBe(lead.version + 2);
    expect(isDue(stored ?? lead, ASOF)).toBe(false);
  });
});

describe('an enrollment whose run never started (StartExecution kept failing after the commit)', () => {
  /** A lead recorded as running `newsletter` since `enrolledAt`, no touch sent, due now. */
  function stranded(store: MemoryLeads, enrolledAt: string): Lead {
    const [lead] = seed(store, 1, 0);
    if (!lead) throw new Error('no lead');
    const run = { track: 'newsletter', executionName: `${lead.leadId}-newsletter-1` };
    const withRun: Lead = { ...lead, nurture: { ...run, status: 'active', enrolledAt, touchesSent: 0 } };
    store.leads.set(lead.leadId, withRun);
    return withRun;
  }
  const keepRules: Requalify = (l, now) => ({
    lead: { ...l, reviewAt: new Date(now.getTime() + DAY_MS).toISOString() },
    transitions: [],
    actions: [],
  });
  const sweep = (deps: SweepDeps) =>
    sweepShard(deps, ShardSweepInput.parse({ shard: 0, asOf: ASOF.toISOString() }), () => 60_000);
  const anHourAgo = new Date(ASOF.getTime() - 3_600_000).toISOString();

  it('is started again by the sweep (a no-op if it runs), unless it is recent', async () => {
    const store = new MemoryLeads();
    const lead = stranded(store, anHourAgo);
    const enrolledAt = new Date(ASOF.getTime() - 60_000).toISOString();
    const recent: Lead = {
      ...lead,
      leadId: 'lead-recent',
      email: 'recent@example.com',
      nurture: { track: 'newsletter', executionName: 'recent-run', status: 'active', enrolledAt, touchesSent: 0 },
    };
    store.leads.set(recent.leadId, recent);
    const { deps, nurture } = harness(store, { costMs: 1, reserveMs: 0, pageSize: 10 });
    const result = await sweep({ ...deps, requalify: keepRules });
    expect(nurture.started).toEqual([
      { leadId: lead.leadId, track: 'newsletter', executionName: `${lead.leadId}-newsletter-1` },
    ]);
    expect(result.counts.actions).toEqual({ enroll: 1 });
    expect(result.counts.reviewed).toBe(2);
    expect(store.leads.get(lead.leadId)?.nurture?.status).toBe('active');
    expect(store.leads.get(recent.leadId)?.nurture?.status).toBe('active');
  });

  it('is forgotten when starting it fails again, so the lead is not "active" with no run', async () => {
    const store = new MemoryLeads();
    const lead = stranded(store, anHourAgo);
    const { deps } = harness(store, { costMs: 1, reserveMs: 0, pageSize: 10 });
    const failing = {
      start: async () => Promise.reject(new Error('ExecutionLimitExceeded')),
      stop: async () => 'not_running' as const,
    };
    const result = await sweep({ ...deps, requalify: keepRules, nurture: failing });
    expect(result.counts).toMatchObject({ reviewed: 1, actionFailures: 1 });
    expect(store.leads.get(lead.leadId)?.nurture).toBeUndefined();
  });
});
