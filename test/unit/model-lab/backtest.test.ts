import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventType } from '../../../lambdas/domain/events.js';
import { newLead } from '../../../lambdas/domain/lead.js';
import {
  addLead,
  emptyTally,
  finalize,
  mergeTallies,
  predict,
  type BacktestSpec,
} from '../../../lambdas/domain/model-lab/backtest.js';
import { gridFor, meetsMql, meetsSql, type SqlBar } from '../../../lambdas/domain/model-lab/calibration.js';
import { deciles } from '../../../lambdas/domain/model-lab/metrics.js';
import { evidenceBefore, outcomeOf } from '../../../lambdas/domain/model-lab/outcomes.js';
import { replayLead, type LeadLog } from '../../../lambdas/domain/model-lab/replay.js';
import { applyEvents, defaultModel, parseModel, type ScoringModel } from '../../../lambdas/domain/scoring/index.js';
import { leadLog, leadLogs, T0 } from './support.js';

const PROPERTY = { timeout: 120_000 };

/** The default model with other MQL/SQL thresholds (validated). */
function withThresholds(fit: number, engagement: number, minBantAnswers: number, minEngagement?: number): ScoringModel {
  const m = structuredClone(defaultModel);
  m.thresholds.mql = { fit, engagement };
  m.thresholds.sql.minBantAnswers = minBantAnswers;
  if (minEngagement !== undefined) m.thresholds.sql.minEngagement = minEngagement;
  return parseModel(m);
}

/** The stages a lead reached before its outcome, by a full replay of its evidence under `model` (the live engine). */
function reachedByFullReplay(log: LeadLog, model: ScoringModel): { mql: boolean; sql: boolean } {
  const outcome = outcomeOf(log.events);
  if (!outcome) throw new Error('unlabeled');
  const evidence = evidenceBefore(log.events, outcome.first.atMs);
  const start = newLead(log.lead.leadId, log.lead.email, new Date(log.lead.createdAt));
  const { transitions } = applyEvents(start, evidence, model, new Date(outcome.first.atMs));
  const before = transitions.filter((t) => Date.parse(t.at) < outcome.first.atMs);
  return {
    mql: before.some((t) => t.to === 'mql' || t.to === 'sql'),
    sql: before.some((t) => t.to === 'sql'),
  };
}

const labeled = (id: string) => leadLog(id).filter((log) => outcomeOf(log.events) !== undefined);

describe('model lab: labels and the outcome cut-off', () => {
  it('labels positive on any win, negative on a rejection alone, and cuts off at the first outcome', () => {
    const at = (d: number) => new Date(T0 + d * 86_400_000).toISOString();
    const ev = (id: string, type: EventType, d: number) => ({
      eventId: id,
      leadId: 'l',
      type,
      occurredAt: at(d),
      receivedAt: at(d),
      source: 'api' as const,
      properties: {},
    });
    expect(outcomeOf([ev('a', 'demo_requested', 1)])).toBeUndefined();
    expect(outcomeOf([ev('a', 'sales_rejected', 5), ev('b', 'purchase', 9)])).toEqual({
      label: 'positive',
      first: { eventId: 'a', type: 'sales_rejected', atMs: Date.parse(at(5)) },
    });
    expect(outcomeOf([ev('a', 'sales_rejected', 5)])?.label).toBe('negative');
    const evidence = evidenceBefore(
      [ev('x', 'demo_requested', 5), ev('y', 'webinar_attended', 4), ev('z', 'page_viewed', 6)],
      Date.parse(at(5)),
    );
    expect(evidence.map((e) => e.eventId)).toEqual(['y']);
  });

  it('no event at or after the outcome ever changes the prediction (leakage-free)', PROPERTY, () => {
    fc.assert(
      fc.property(
        labeled('lead-1'),
        leadLog('lead-1'),
        fc.integer({ min: 0, max: 60 * 24 * 60 }),
        (log, other, shiftMinutes) => {
          const cutoff = outcomeOf(log.events)?.first.atMs ?? 0;
          // Later events of any type (outcomes included), moved to at or after the first outcome.
          const late = other.events.map((e, i) => {
            const at = new Date(cutoff + ((Date.parse(e.occurredAt) - T0) % (shiftMinutes * 60_000 + 1))).toISOString();
            return { ...e, eventId: `late-${i}`, occurredAt: at, receivedAt: at };
          });
          const a = replayLead(log, defaultModel);
          const b = replayLead({ ...log, events: [...log.events, ...late] }, defaultModel);
          expect(b?.checkpoints).toEqual(a?.checkpoints);
          expect(b?.atOutcome).toEqual(a?.atOutcome);
          expect(b?.evidence).toBe(a?.evidence);
          if (!a || !b) throw new Error('labeled lead not replayed');
          const { reach: ra, ...pa } = predict(a, defaultModel);
          const { reach: rb, ...pb } = predict(b, defaultModel);
          expect(pb).toEqual(pa);
          expect(rb).toEqual(ra);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('model lab: predictions agree with the scoring engine', () => {
  it("at the model's own thresholds, the stages reached are those of a full replay of the evidence", PROPERTY, () => {
    fc.assert(
      fc.property(labeled('lead-1'), (log) => {
        const replay = replayLead(log, defaultModel);
        if (!replay) throw new Error('not replayed');
        const p = predict(replay, defaultModel);
        const full = reachedByFullReplay(log, defaultModel);
        expect({ mql: p.predicted !== 'none', sql: p.predicted === 'sql' }).toEqual(full);
      }),
      { numRuns: 200 },
    );
  });

  it('at any other threshold, the checkpoints predict what a full replay under those thresholds does', PROPERTY, () => {
    fc.assert(
      fc.property(
        labeled('lead-1'),
        fc.integer({ min: -4, max: 10 }).map((k) => k * 5),
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 0, max: 4 }),
        fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
        (log, fit, engagement, bant, extra) => {
          const model = withThresholds(fit, engagement, bant, extra === undefined ? undefined : engagement + extra);
          // Checkpoints come from a replay under the *default* model: scores do not depend on thresholds.
          const replay = replayLead(log, defaultModel);
          if (!replay) throw new Error('not replayed');
          const sqlBar: SqlBar = { minBantAnswers: bant, minEngagement: engagement + (extra ?? 0) };
          const predicted = {
            mql: replay.checkpoints.some((cp) => meetsMql(cp, { fit, engagement })),
            sql: replay.checkpoints.some((cp) => meetsSql(cp, model, sqlBar)),
          };
          expect(predicted).toEqual(reachedByFullReplay(log, model));
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** Brute force: every figure recomputed lead by lead, in the most direct way. */
function bruteForce(logs: LeadLog[], model: ScoringModel) {
  const rows = logs.flatMap((log) => {
    const replay = replayLead(log, model);
    return replay ? [{ replay, prediction: predict(replay, model) }] : [];
  });
  const P = rows.filter((r) => r.replay.label === 'positive').length;
  const N = rows.length - P;
  const count = (flag: (r: (typeof rows)[number]) => boolean) => {
    const tp = rows.filter((r) => flag(r) && r.replay.label === 'positive').length;
    const fp = rows.filter((r) => flag(r) && r.replay.label === 'negative').length;
    const precision = tp + fp === 0 ? null : tp / (tp + fp);
    const recall = P === 0 ? null : tp / P;
    const f1 =
      precision === null || recall === null || precision + recall === 0
        ? tp + fp + P - tp > 0
          ? 0
          : null
        : (2 * precision * recall) / (precision + recall);
    return { tp, fp, fn: P - tp, tn: N - fp, precision, recall, f1 };
  };
  // Deciles: sort, then cut into ten slices of (almost) equal size by index arithmetic.
  const sorted = rows
    .map((r) => ({ score: r.replay.atOutcome.total, positive: r.replay.label === 'positive', key: r.replay.leadId }))
    .sort((a, b) => (a.score !== b.score ? b.score - a.score : a.key.localeCompare(b.key)));
  const slices = Array.from({ length: 10 }, (_, d) =>
    sorted.filter((_, i) => i * 10 >= d * sorted.length && i * 10 < (d + 1) * sorted.length),
  );
  return {
    P,
    N,
    count,
    rows,
    deciles: slices.map((s, d) => ({
      decile: d + 1,
      leads: s.length,
      positives: s.filter((x) => x.positive).length,
      lift: s.length === 0 || P === 0 ? null : s.filter((x) => x.positive).length / s.length / (P / rows.length),
    })),
  };
}

describe('model lab: metrics match a brute-force recomputation', () => {
  it('confusion, precision, recall, F1, deciles and the threshold grid', PROPERTY, () => {
    fc.assert(
      fc.property(leadLogs(12), (logs) => {
        const spec: BacktestSpec = { current: defaultModel };
        const tally = logs.reduce((t, log) => addLead(t, log, spec), emptyTally(spec));
        const report = finalize(tally, spec);
        const bf = bruteForce(logs, defaultModel);
        expect(report.labeled).toBe(bf.rows.length);
        expect(report.positives).toBe(bf.P);
        const close = (x: number | null, y: number | null) =>
          x === null || y === null ? expect(x).toBe(y) : expect(x).toBeCloseTo(y, 10);
        for (const [stage, flag] of [
          ['mql', (r: (typeof bf.rows)[number]) => r.prediction.predicted !== 'none'],
          ['sql', (r: (typeof bf.rows)[number]) => r.prediction.predicted === 'sql'],
        ] as const) {
          const want = bf.count(flag);
          const got = report.stages[stage];
          expect({ tp: got.tp, fp: got.fp, fn: got.fn, tn: got.tn }).toEqual({
            tp: want.tp,
            fp: want.fp,
            fn: want.fn,
            tn: want.tn,
          });
          close(got.precision, want.precision);
          close(got.recall, want.recall);
          close(got.f1, want.f1);
        }
        report.deciles.forEach((d, i) => {
          const want = bf.deciles[i];
          expect({ decile: d.decile, leads: d.leads, positives: d.positives }).toEqual({
            decile: want?.decile,
            leads: want?.leads,
            positives: want?.positives,
          });
          close(d.lift, want?.lift ?? null);
        });
        // Three grid points per stage, recomputed from each lead's checkpoints.
        const grid = gridFor(defaultModel);
        for (const point of report.thresholds.filter((_, i) => i % 97 === 0)) {
          const flag =
            point.stage === 'mql'
              ? (r: (typeof bf.rows)[number]) =>
                  r.replay.checkpoints.some((cp) =>
                    meetsMql(cp, { fit: point.fit ?? 0, engagement: point.engagement ?? 0 }),
                  )
              : (r: (typeof bf.rows)[number]) =>
                  r.replay.checkpoints.some((cp) =>
                    meetsSql(cp, defaultModel, {
                      minBantAnswers: point.minBantAnswers ?? 0,
                      minEngagement: point.minEngagement ?? 0,
                    }),
                  );
          expect({ tp: point.tp, fp: point.fp }).toEqual({ tp: bf.count(flag).tp, fp: bf.count(flag).fp });
        }
        expect(report.thresholds.filter((p) => p.current)).toHaveLength(2);
        expect(grid.mqlFit).toContain(defaultModel.thresholds.mql.fit);
      }),
      { numRuns: 60 },
    );
  });

  it('tallies merge: two halves read apart give the report of the whole', PROPERTY, () => {
    const candidate = withThresholds(20, 25, 2);
    fc.assert(
      fc.property(leadLogs(10), fc.nat(), (logs, cut) => {
        const spec: BacktestSpec = { current: defaultModel, candidate, examples: 2 };
        const fold = (ls: LeadLog[]) => ls.reduce((t, log) => addLead(t, log, spec), emptyTally(spec));
        const k = cut % (logs.length + 1);
        const whole = finalize(fold(logs), spec);
        const merged = finalize(mergeTallies(fold(logs.slice(0, k)), fold(logs.slice(k)), 2), spec);
        expect(merged).toEqual(whole);
      }),
      { numRuns: 40 },
    );
  });

  it('deciles rank by score, break ties by key, and compute lift against the base rate', () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({
      score: i < 10 ? 5 : 1,
      positive: i % 4 === 0,
      key: `k${String(i).padStart(2, '0')}`,
    }));
    const table = deciles(rows);
    expect(table.map((d) => d.leads)).toEqual(new Array(10).fill(2));
    expect(table[0]).toMatchObject({ decile: 1, positives: 1, rate: 0.5, lift: 0.5 / 0.25, minScore: 5, maxScore: 5 });
    expect(deciles([])).toHaveLength(10);
  });
});

describe('model lab: calibration', () => {
  it('recommends the threshold of highest F1, or the highest recall at a target precision', PROPERTY, () => {
    fc.assert(
      fc.property(leadLogs(12), fc.double({ min: 0.05, max: 1, noNaN: true }), (logs, target) => {
        const spec: BacktestSpec = { current: defaultModel };
        const tally = logs.reduce((t, log) => addLead(t, log, spec), emptyTally(spec));
        const maxF1 = finalize(tally, spec);
        const f1s = maxF1.thresholds.filter((p) => p.stage === 'mql').map((p) => p.f1 ?? 0);
        if (maxF1.recommended.mql) expect(maxF1.recommended.mql.f1).toBe(Math.max(...f1s));
        else expect(Math.max(...f1s)).toBe(0);
        const atTarget = finalize(tally, spec, { targetPrecision: target });
        const eligible = atTarget.thresholds.filter(
          (p) => p.stage === 'sql' && p.precision !== null && p.precision >= target,
        );
        if (eligible.length === 0) expect(atTarget.recommended.sql).toBeNull();
        else expect(atTarget.recommended.sql?.recall).toBe(Math.max(...eligible.map((p) => p.recall ?? 0)));
      }),
      { numRuns: 40 },
    );
  });
});
