/**
 * The statistics of an experiment report (docs/experiments.md): confidence intervals for a proportion and for the
 * difference of two independent proportions, and the sample size a two-proportion comparison needs. Pure functions
 * of counts; test/unit/experiments checks them against published worked values (Newcombe 1998).
 */

/** z of a two-sided 95% interval (the 97.5th percentile of the standard normal). */
export const Z_95 = 1.959963984540054;
/** z of 80% power (the 80th percentile of the standard normal). */
export const Z_80 = 0.8416212335729143;

/** A confidence interval, as proportions (0–1) or differences of them (−1–1). */
export interface Interval {
  readonly low: number;
  readonly high: number;
}

/**
 * The Wilson score interval of `successes` out of `trials` (no continuity correction): the interval Newcombe (1998)
 * recommends for a single proportion, well behaved at 0 and at n. Undefined for no trials.
 */
export function wilsonInterval(successes: number, trials: number, z = Z_95): Interval | undefined {
  if (!(trials > 0) || successes < 0 || successes > trials) return undefined;
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const center = (p + z2 / (2 * trials)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / denominator;
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

/**
 * Newcombe's hybrid score interval (method 10 of Newcombe 1998, "Interval estimation for the difference between
 * independent proportions") for p1 − p2, built from the two Wilson intervals. Undefined if either group is empty.
 */
export function newcombeInterval(x1: number, n1: number, x2: number, n2: number, z = Z_95): Interval | undefined {
  const w1 = wilsonInterval(x1, n1, z);
  const w2 = wilsonInterval(x2, n2, z);
  if (!w1 || !w2) return undefined;
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const d = p1 - p2;
  return {
    low: d - Math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2),
    high: d + Math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2),
  };
}

/**
 * Leads per arm a two-sided test at 5% needs to detect a difference `delta` from a baseline rate with 80% power (the
 * normal-approximation formula without continuity correction, e.g. Fleiss, Levin & Paik, ch. 4):
 * n = (z₉₇.₅·√(2·p̄·q̄) + z₈₀·√(p₁q₁ + p₂q₂))² / δ², with p₂ = p₁ + δ (or p₁ − δ when that would pass 1).
 */
export function sampleSizePerArm(baseline: number, delta: number, zAlpha = Z_95, zBeta = Z_80): number {
  if (!(delta > 0 && delta < 1)) throw new RangeError('delta must be between 0 and 1');
  const p1 = Math.min(Math.max(baseline, 0), 1);
  const p2 = p1 + delta <= 1 ? p1 + delta : p1 - delta;
  const mean = (p1 + p2) / 2;
  const root = zAlpha * Math.sqrt(2 * mean * (1 - mean)) + zBeta * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  return Math.ceil((root * root) / (delta * delta));
}
