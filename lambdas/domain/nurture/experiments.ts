import { createHash } from 'node:crypto';
import type { Arm } from '../lead.js';
import type { ContentVariant, Touch, Track } from './tracks.js';

export { Arm } from '../lead.js';

/** Both arms, treatment first. */
export const ARMS: readonly Arm[] = ['treatment', 'holdout'];

/**
 * Experiments of a track (DESIGN §6, docs/experiments.md): a holdout group that gets no mail from the track, and
 * content tests that split a touch between templates. Every assignment is a pure function of the lead, the track
 * (and touch) and the experiment id — no stored random draw, no clock — so it is the same on every retry, on every
 * machine and in every report, and a new experiment id reshuffles everyone.
 */

/** A lead's place in a track's experiment, fixed when the run starts (it is in the run's input). */
export interface Assignment {
  experimentId: string;
  arm: Arm;
}

/** A uniform number in [0, 1) from the parts (the first 52 bits of their SHA-256). */
export function unitHash(...parts: readonly string[]): number {
  const digest = createHash('sha256').update(parts.join('\u001f')).digest();
  // 52 bits: exact in a double, and plenty to split a few million leads evenly.
  const high = digest.readUInt32BE(0) * 2 ** 20;
  const low = digest.readUInt32BE(4) >>> 12;
  return (high + low) / 2 ** 52;
}

/** The lead's arm of the track's experiment, or undefined if the track runs none (no experiment id). */
export function assignmentFor(
  leadId: string,
  track: Pick<Track, 'id' | 'experimentId' | 'holdoutPercent'>,
): Assignment | undefined {
  if (track.experimentId === undefined) return undefined;
  const u = unitHash('holdout', track.experimentId, track.id, leadId);
  const arm: Arm = u * 100 < track.holdoutPercent ? 'holdout' : 'treatment';
  return { experimentId: track.experimentId, arm };
}

/**
 * The content variant of a touch a lead gets (weighted), or undefined when the touch tests no content. Hashes the
 * lead, the touch and the experiment id: independent of the arm, and of the lead's other touches.
 */
export function contentVariantFor(
  leadId: string,
  track: Pick<Track, 'id' | 'experimentId'>,
  touch: Pick<Touch, 'name' | 'contentVariants'>,
): ContentVariant | undefined {
  const variants = touch.contentVariants;
  if (!variants || variants.length === 0 || track.experimentId === undefined) return undefined;
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  let x = unitHash('content', track.experimentId, track.id, touch.name, leadId) * total;
  for (const v of variants) {
    x -= v.weight;
    if (x < 0) return v;
  }
  return variants[variants.length - 1];
}

/** The template a touch sends to a lead: its content variant's, or the touch's own. */
export const templateFor = (
  leadId: string,
  track: Pick<Track, 'id' | 'experimentId'>,
  touch: Pick<Touch, 'name' | 'template' | 'contentVariants'>,
): string => contentVariantFor(leadId, track, touch)?.template ?? touch.template;

/** Every template a touch may send (its own, or each of its content variants'). */
export const templatesOf = (touch: Pick<Touch, 'template' | 'contentVariants'>): string[] =>
  touch.contentVariants ? [...new Set(touch.contentVariants.map((v) => v.template))] : [touch.template];
