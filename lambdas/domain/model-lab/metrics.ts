/**
 * Classification metrics of the model lab (docs/model-lab.md): confusion counts and what follows from them, lift
 * by score decile, medians. Plain functions over plain numbers.
 */

/** Confusion counts of one yes/no prediction ("reached the stage before the outcome") against the label. */
export interface Confusion {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
}

/** Precision, recall and F1; null where the ratio has nothing to divide by (no lead predicted, no positive). */
export interface Rates {
  readonly precision: number | null;
  readonly recall: number | null;
  readonly f1: number | null;
}

/** Confusion counts from the leads predicted positive, split by label, and the totals of each label. */
export function confusion(
  predictedPositives: number,
  predictedNegatives: number,
  positives: number,
  negatives: number,
): Confusion {
  return {
    tp: predictedPositives,
    fp: predictedNegatives,
    fn: positives - predictedPositives,
    tn: negatives - predictedNegatives,
  };
}

export function rates({ tp, fp, fn }: Confusion): Rates {
  return {
    precision: tp + fp > 0 ? tp / (tp + fp) : null,
    recall: tp + fn > 0 ? tp / (tp + fn) : null,
    f1: tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : null,
  };
}

/** One tenth of the labeled leads, ranked by score (decile 1 holds the highest scores). */
export interface Decile {
  readonly decile: number;
  readonly leads: number;
  readonly positives: number;
  /** Share of positives in the decile (null when the decile is empty). */
  readonly rate: number | null;
  /** `rate` over the share of positives among all labeled leads (null without any positive). */
  readonly lift: number | null;
  readonly minScore: number | null;
  readonly maxScore: number | null;
}

/** A labeled lead as the decile table sees it. */
export interface Scored {
  readonly score: number;
  readonly positive: boolean;
  /** Ties in score are broken by this (the lead id), so the table does not depend on reading order. */
  readonly key: string;
}

/**
 * Lift by decile: leads ranked by score, highest first (ties by key), the lead at rank i (from 0) of n in decile
 * ⌊10·i/n⌋ + 1. With fewer than ten leads some deciles are empty.
 */
export function deciles(leads: readonly Scored[]): Decile[] {
  const ranked = [...leads].sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const n = ranked.length;
  const positives = ranked.filter((l) => l.positive).length;
  const base = n > 0 && positives > 0 ? positives / n : null;
  const rows = Array.from({ length: 10 }, (_, i) => ({
    leads: 0,
    positives: 0,
    min: Infinity,
    max: -Infinity,
    decile: i + 1,
  }));
  ranked.forEach((lead, i) => {
    const row = rows[Math.floor((10 * i) / n)];
    if (!row) return;
    row.leads++;
    if (lead.positive) row.positives++;
    row.min = Math.min(row.min, lead.score);
    row.max = Math.max(row.max, lead.score);
  });
  return rows.map((r) => {
    const rate = r.leads > 0 ? r.positives / r.leads : null;
    return {
      decile: r.decile,
      leads: r.leads,
      positives: r.positives,
      rate,
      lift: rate !== null && base !== null ? rate / base : null,
      minScore: r.leads > 0 ? r.min : null,
      maxScore: r.leads > 0 ? r.max : null,
    };
  });
}

/** The median (mean of the two middle values for an even count), or null for no values. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? 0) + hi) / 2;
}

/** A histogram bin of scores, by outcome. */
export interface Bin {
  readonly from: number;
  readonly to: number;
  readonly positives: number;
  readonly negatives: number;
}

/** Scores by outcome in `bins` equal bins from the lowest to the highest score (the last bin includes its top). */
export function distribution(leads: readonly Scored[], bins = 20): Bin[] {
  if (leads.length === 0) return [];
  let lo = Infinity;
  let hi = -Infinity;
  for (const l of leads) {
    lo = Math.min(lo, l.score);
    hi = Math.max(hi, l.score);
  }
  const width = hi > lo ? (hi - lo) / bins : 1;
  const counts = Array.from({ length: bins }, (_, i) => ({
    from: lo + i * width,
    to: lo + (i + 1) * width,
    positives: 0,
    negatives: 0,
  }));
  for (const l of leads) {
    const bin = counts[Math.min(bins - 1, Math.floor((l.score - lo) / width))];
    if (!bin) continue;
    if (l.positive) bin.positives++;
    else bin.negatives++;
  }
  return counts;
}
