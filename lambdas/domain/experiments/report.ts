import { DAY_MS } from '../clock.js';
import type { LeadEvent } from '../events.js';
import type { Arm, Stage } from '../lead.js';
import type { LeadLog } from '../model-lab/replay.js';
import type { NurturePlan, Track } from '../nurture/tracks.js';
import { newcombeInterval, sampleSizePerArm, wilsonInterval, type Interval } from './statistics.js';

/**
 * The uplift report of a track's experiments (`leadloop experiments`, docs/experiments.md), folded lead by lead from
 * the event log. Who was in which arm comes from nurture's own records: the `email_sent` of a treated lead's touch and
 * the `touch_held_out` of a held-out one, each naming the track, the experiment, the arm and the run. A lead counts
 * in an experiment from its first such record (its exposure: both arms pass the same checks before it, so the
 * same kind of lead reaches it in each), once, however often it re-entered the track.
 *
 * Conversion is judged within the track's window: from the exposure for as long as the track runs (the sum of its
 * waits). A lead whose window has not closed by `asOf` is pending: counted apart, in no rate yet. Whether a lead
 * reached a stage comes from its stage timeline (the scoring model replayed over its events, `timeline`); an
 * opportunity also counts when `opportunity_created` is in the log.
 */

/** The stages a conversion counts: reaching the stage or any later one of the funnel. */
export const CONVERSIONS = {
  mql: ['mql', 'sql', 'opportunity', 'customer'],
  sql: ['sql', 'opportunity', 'customer'],
  opportunity: ['opportunity', 'customer'],
} as const satisfies Record<string, readonly Stage[]>;
export type Conversion = keyof typeof CONVERSIONS;
export const CONVERSION_NAMES = Object.keys(CONVERSIONS) as Conversion[];

/** A lead's stage over time: where it stood before its first event, then every change. */
export interface StageTimeline {
  readonly initial: Stage;
  readonly changes: readonly { readonly atMs: number; readonly to: Stage }[];
}

/** A count out of a number of leads, its rate and the rate's 95% Wilson interval. */
export interface Rate {
  readonly count: number;
  readonly of: number;
  readonly rate: number | null;
  readonly ci: Interval | null;
}

export interface ArmSummary {
  /** Leads whose window closed by `asOf`: the denominators of the rates. */
  readonly leads: number;
  /** Leads still inside their window. */
  readonly pending: number;
  readonly conversions: Record<Conversion, Rate>;
}

/** Treatment minus holdout, in proportion points, with Newcombe's 95% interval and what it means. */
export interface Comparison {
  readonly difference: number | null;
  readonly ci: Interval | null;
  /** Leads per arm needed to detect `minDetectable` at 80% power (two-sided 5%), from the holdout's rate. */
  readonly neededPerArm: number | null;
  readonly verdict: string;
}

export interface VariantSummary {
  readonly id: string;
  readonly template: string;
  /** Leads mailed this variant (each once). */
  readonly leads: number;
  /** Leads who opened or clicked it, machine activity excluded (docs/email-engagement.md). */
  readonly opened: Rate;
  readonly clicked: Rate;
  /** Machine opens and clicks seen on it, left out of the rates. */
  readonly machineEvents: number;
  readonly conversions: Record<Conversion, Rate>;
}

export interface TouchVariants {
  readonly touch: number;
  readonly variants: VariantSummary[];
  /** Each later variant against the first (the control, which sends the touch's own template): click rate. */
  readonly clickDifference: { readonly variant: string; readonly against: string; readonly comparison: Comparison }[];
}

export interface ExperimentSummary {
  readonly track: string;
  readonly experimentId: string;
  /** True when it is the experiment the track runs now (an older one is kept: reports group by experiment id). */
  readonly current: boolean;
  readonly holdoutPercent: number | null;
  readonly windowDays: number;
  readonly firstExposureAt: string;
  readonly lastExposureAt: string;
  readonly arms: Record<Arm, ArmSummary>;
  readonly uplift: Record<Conversion, Comparison>;
  /** The verdict on the primary conversion (SQL) in plain words. */
  readonly verdict: string;
  readonly touches: TouchVariants[];
}

export interface ExperimentsReport {
  readonly asOf: string;
  /** The difference the verdicts are powered for, in proportion points (0.05 = 5 points). */
  readonly minDetectable: number;
  readonly leadsRead: number;
  readonly experiments: ExperimentSummary[];
}

export interface ReportOptions {
  readonly plan: NurturePlan;
  readonly asOf: Date;
  /** @default 0.05 */
  readonly minDetectable?: number;
  /** Only this track. */
  readonly track?: string;
}

/** One lead's place in one experiment: its arm, when it was exposed, and what it did in the window. */
interface Exposure {
  arm: Arm;
  startMs: number;
  pending: boolean;
  converted: Record<Conversion, boolean>;
  /** Per touch: the content variant it was mailed, and whether a person opened / clicked it. */
  sends: Map<number, { variant: string; template: string; opened: boolean; clicked: boolean; machine: number }>;
}

interface ExperimentTally {
  track: string;
  experimentId: string;
  windowDays: number;
  firstMs: number;
  lastMs: number;
  exposures: Exposure[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;

/** The records that place a lead in an experiment arm: a treated touch's `email_sent`, a held-out touch's record. */
function armRecord(e: LeadEvent): { track: string; experimentId: string; arm: Arm; touch: number } | undefined {
  if (e.source !== 'nurture' || (e.type !== 'email_sent' && e.type !== 'touch_held_out')) return undefined;
  const track = str(e.properties.track);
  const experimentId = str(e.properties.experimentId);
  const arm = e.type === 'touch_held_out' ? 'holdout' : e.properties.arm === 'holdout' ? undefined : 'treatment';
  const touch = num(e.properties.touch);
  if (!track || !experimentId || !arm || touch === undefined) return undefined;
  return { track, experimentId, arm, touch };
}

/** How long a track's window lasts: the sum of its waits (a track gone from the plan: 30 days). */
export const windowDaysOf = (track: Track | undefined): number =>
  track ? track.touches.reduce((days, t) => days + t.waitDays, 0) : 30;

/** True if the lead stood at one of `stages` at some moment of [fromMs, toMs]. */
function reachedWithin(timeline: StageTimeline, stages: readonly Stage[], fromMs: number, toMs: number): boolean {
  let stage = timeline.initial;
  for (const c of timeline.changes) {
    if (c.atMs > toMs) break;
    if (c.atMs < fromMs) stage = c.to;
    else if (stages.includes(c.to)) return true;
  }
  return stages.includes(stage);
}

/** Folds leads into experiment tallies; `finish` makes the report. */
export class ExperimentsFold {
  private readonly tallies = new Map<string, ExperimentTally>();
  private leads = 0;

  constructor(private readonly options: ReportOptions) {}

  /** Adds one lead; `timeline` is asked only for leads in an experiment. */
  add(log: LeadLog, timeline: (log: LeadLog, untilMs: number) => StageTimeline): void {
    this.leads++;
    const asOfMs = this.options.asOf.getTime();
    const byExperiment = new Map<string, { track: string; experimentId: string; arm: Arm; startMs: number }>();
    for (const e of log.events) {
      const rec = armRecord(e);
      if (!rec || (this.options.track !== undefined && rec.track !== this.options.track)) continue;
      const ms = Date.parse(e.occurredAt);
      if (ms > asOfMs) continue;
      const key = `${rec.track}\u001f${rec.experimentId}`;
      const seen = byExperiment.get(key);
      if (!seen || ms < seen.startMs) byExperiment.set(key, { ...rec, startMs: ms });
    }
    if (byExperiment.size === 0) return;
    let lazy: StageTimeline | undefined;
    const stages = () => (lazy ??= timeline(log, asOfMs));
    for (const [key, first] of byExperiment) {
      const track = this.options.plan.tracks.find((t) => t.id === first.track);
      const tally =
        this.tallies.get(key) ??
        ({
          track: first.track,
          experimentId: first.experimentId,
          windowDays: windowDaysOf(track),
          firstMs: first.startMs,
          lastMs: first.startMs,
          exposures: [],
        } satisfies ExperimentTally);
      this.tallies.set(key, tally);
      tally.firstMs = Math.min(tally.firstMs, first.startMs);
      tally.lastMs = Math.max(tally.lastMs, first.startMs);
      const endMs = first.startMs + tally.windowDays * DAY_MS;
      const pending = endMs > asOfMs;
      const converted = Object.fromEntries(
        CONVERSION_NAMES.map((c) => {
          const byStage = reachedWithin(stages(), CONVERSIONS[c], first.startMs, endMs);
          const byEvent =
            c === 'opportunity' &&
            log.events.some(
              (e) =>
                e.type === 'opportunity_created' &&
                Date.parse(e.occurredAt) >= first.startMs &&
                Date.parse(e.occurredAt) <= endMs,
            );
          return [c, byStage || byEvent];
        }),
      ) as Record<Conversion, boolean>;
      tally.exposures.push({
        arm: first.arm,
        startMs: first.startMs,
        pending,
        converted,
        sends: sendsOf(log.events, first.track, first.experimentId, first.startMs, endMs),
      });
    }
  }

  finish(): ExperimentsReport {
    const minDetectable = this.options.minDetectable ?? 0.05;
    const experiments = [...this.tallies.values()]
      .sort((a, b) => a.track.localeCompare(b.track) || b.lastMs - a.lastMs)
      .map((t) => summarize(t, this.options.plan, minDetectable));
    return {
      asOf: this.options.asOf.toISOString(),
      minDetectable,
      leadsRead: this.leads,
      experiments,
    };
  }
}

/** The content variant of each of the lead's touches of the experiment, and whether a person opened or clicked it. */
function sendsOf(
  events: readonly LeadEvent[],
  track: string,
  experimentId: string,
  startMs: number,
  endMs: number,
): Exposure['sends'] {
  const sends: Exposure['sends'] = new Map();
  const byMessage = new Map<string, number>();
  for (const e of events) {
    if (e.type !== 'email_sent' || e.source !== 'nurture') continue;
    if (e.properties.track !== track || e.properties.experimentId !== experimentId) continue;
    const touch = num(e.properties.touch);
    const variant = str(e.properties.contentVariant);
    const ms = Date.parse(e.occurredAt);
    if (touch === undefined || variant === undefined || ms < startMs || ms > endMs || sends.has(touch)) continue;
    sends.set(touch, {
      variant,
      template: str(e.properties.template) ?? '',
      opened: false,
      clicked: false,
      machine: 0,
    });
    const messageId = str(e.properties.messageId);
    if (messageId) byMessage.set(messageId, touch);
  }
  if (sends.size === 0) return sends;
  for (const e of events) {
    if (e.type !== 'email_opened' && e.type !== 'email_clicked') continue;
    const messageId = str(e.properties.messageId);
    // SES echoes the message tags: the message id names the send; without one, track and touch do.
    const touch =
      messageId !== undefined && byMessage.has(messageId)
        ? byMessage.get(messageId)
        : e.properties.track === track
          ? num(e.properties.touch)
          : undefined;
    const send = touch === undefined ? undefined : sends.get(touch);
    if (!send) continue;
    if (e.properties.machine === true) send.machine++;
    else if (e.type === 'email_opened') send.opened = true;
    else {
      send.clicked = true;
      // A click is an open the tracking pixel may have missed (images off).
      send.opened = true;
    }
  }
  return sends;
}

export function rateOf(count: number, of: number): Rate {
  const ci = wilsonInterval(count, of) ?? null;
  return { count, of, rate: of > 0 ? count / of : null, ci };
}

const points = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} points`;
/** "about N": two significant figures are all a power calculation is good for. */
const rounded = (n: number): string => {
  const step = n >= 1000 ? 100 : n >= 100 ? 10 : 1;
  return (Math.ceil(n / step) * step).toLocaleString('en-US');
};

/**
 * Treatment (`a`) minus holdout (`b`): the difference, its interval, and a verdict in plain words. Powered from the
 * holdout's rate (the baseline), falling back to the pooled rate when the holdout has none.
 */
export function compare(
  a: { count: number; of: number },
  b: { count: number; of: number },
  minDetectable: number,
  names: { treatment: string; control: string; verb?: string } = { treatment: 'treatment', control: 'holdout' },
): Comparison {
  const ci = newcombeInterval(a.count, a.of, b.count, b.of) ?? null;
  const pooled = a.of + b.of > 0 ? (a.count + b.count) / (a.of + b.of) : 0;
  const baseline = b.of > 0 ? b.count / b.of : pooled;
  const neededPerArm = sampleSizePerArm(baseline, minDetectable);
  const mde = `${Math.round(minDetectable * 100)}-point`;
  if (!ci || a.of === 0 || b.of === 0) {
    return {
      difference: null,
      ci: null,
      neededPerArm,
      verdict: `not enough data yet: need about ${rounded(neededPerArm)} leads per arm to detect a ${mde} difference`,
    };
  }
  const difference = a.count / a.of - b.count / b.of;
  const range = `95% CI ${points(ci.low)} to ${points(ci.high)}`;
  if (ci.low > 0 || ci.high < 0) {
    return {
      difference,
      ci,
      neededPerArm,
      verdict: `${names.treatment} ${names.verb ?? 'converts'} ${ci.low > 0 ? 'more' : 'less'} than ${names.control}: ${points(difference)} (${range})`,
    };
  }
  const smaller = Math.min(a.of, b.of);
  if (smaller < neededPerArm) {
    return {
      difference,
      ci,
      neededPerArm,
      verdict: `not enough data yet: need about ${rounded(neededPerArm - smaller)} more leads per arm to detect a ${mde} difference (${points(difference)} so far, ${range})`,
    };
  }
  return {
    difference,
    ci,
    neededPerArm,
    verdict: `no difference of ${Math.round(minDetectable * 100)} points or more: ${points(difference)} (${range})`,
  };
}

function summarize(t: ExperimentTally, plan: NurturePlan, minDetectable: number): ExperimentSummary {
  const track = plan.tracks.find((p) => p.id === t.track);
  const current = track?.experimentId === t.experimentId;
  const arm = (a: Arm): ArmSummary => {
    const closed = t.exposures.filter((e) => e.arm === a && !e.pending);
    return {
      leads: closed.length,
      pending: t.exposures.filter((e) => e.arm === a && e.pending).length,
      conversions: Object.fromEntries(
        CONVERSION_NAMES.map((c) => [c, rateOf(closed.filter((e) => e.converted[c]).length, closed.length)]),
      ) as Record<Conversion, Rate>,
    };
  };
  const arms = { treatment: arm('treatment'), holdout: arm('holdout') };
  const uplift = Object.fromEntries(
    CONVERSION_NAMES.map((c) => [
      c,
      compare(
        { count: arms.treatment.conversions[c].count, of: arms.treatment.leads },
        { count: arms.holdout.conversions[c].count, of: arms.holdout.leads },
        minDetectable,
      ),
    ]),
  ) as Record<Conversion, Comparison>;
  return {
    track: t.track,
    experimentId: t.experimentId,
    current,
    holdoutPercent: current && track ? track.holdoutPercent : null,
    windowDays: t.windowDays,
    firstExposureAt: new Date(t.firstMs).toISOString(),
    lastExposureAt: new Date(t.lastMs).toISOString(),
    arms,
    uplift,
    verdict:
      arms.holdout.leads + arms.holdout.pending === 0
        ? 'no holdout: nothing to compare the track with'
        : uplift.sql.verdict,
    touches: touchVariants(t, plan, minDetectable),
  };
}

/** The plan's order of a touch's variants (the control, sending the touch's own template, first), then the rest. */
function variantOrder(plan: NurturePlan, t: ExperimentTally, touch: number): (a: string, b: string) => number {
  const track = plan.tracks.find((p) => p.id === t.track);
  const declared = track?.touches[touch - 1];
  const control = declared?.contentVariants?.find((v) => v.template === declared.template)?.id;
  const order = [control, ...(declared?.contentVariants ?? []).map((v) => v.id)].filter((id) => id !== undefined);
  const rank = (id: string) => (order.includes(id) ? order.indexOf(id) : order.length);
  return (a, b) => rank(a) - rank(b) || a.localeCompare(b);
}

function touchVariants(t: ExperimentTally, plan: NurturePlan, minDetectable: number): TouchVariants[] {
  const touches = new Map<number, Map<string, { template: string; exposures: Exposure[]; machine: number }>>();
  for (const e of t.exposures) {
    if (e.arm !== 'treatment') continue;
    for (const [touch, send] of e.sends) {
      const variants = touches.get(touch) ?? new Map();
      touches.set(touch, variants);
      const v = variants.get(send.variant) ?? { template: send.template, exposures: [], machine: 0 };
      variants.set(send.variant, v);
      v.exposures.push(e);
      v.machine += send.machine;
    }
  }
  return [...touches.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([touch, variants]) => {
      const byPlan = variantOrder(plan, t, touch);
      const summaries: VariantSummary[] = [...variants.entries()]
        .sort((a, b) => byPlan(a[0], b[0]))
        .map(([id, v]) => {
          const sends = v.exposures.map((e) => e.sends.get(touch));
          const closed = v.exposures.filter((e) => !e.pending);
          return {
            id,
            template: v.template,
            leads: v.exposures.length,
            opened: rateOf(sends.filter((s) => s?.opened).length, sends.length),
            clicked: rateOf(sends.filter((s) => s?.clicked).length, sends.length),
            machineEvents: v.machine,
            conversions: Object.fromEntries(
              CONVERSION_NAMES.map((c) => [c, rateOf(closed.filter((e) => e.converted[c]).length, closed.length)]),
            ) as Record<Conversion, Rate>,
          };
        });
      const [control, ...others] = summaries;
      return {
        touch,
        variants: summaries,
        clickDifference: control
          ? others.map((v) => ({
              variant: v.id,
              against: control.id,
              comparison: compare(
                { count: v.clicked.count, of: v.clicked.of },
                { count: control.clicked.count, of: control.clicked.of },
                minDetectable,
                { treatment: v.id, control: control.id, verb: 'is clicked' },
              ),
            }))
          : [],
      };
    });
}
