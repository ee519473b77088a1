import type { Lead, SunsetState } from '../lead.js';
import type { Track } from './tracks.js';

/**
 * The sunset policy (DESIGN §7), pure: a lead that exhausts a track without engaging is not put back into that
 * track unless it shows new evidence — engagement after it exhausted the track, or a changed fit. Without it the lead
 * gets the plan's re-engagement track (one "still interested?" touch by default) for as many unresponsive cycles as
 * the re-engagement track allows (`reengagement.maxCycles`, default 1), and after that is sunset: no marketing mail
 * until it acts. Marketers configure it in the tracks file; `leadloop simulate` reports its effect.
 */

/** The plan's re-engagement track, if it has one. */
export const reengagementTrack = (tracks: readonly Track[]): Track | undefined =>
  tracks.find((t) => t.reengagement !== undefined);

const engagedAfter = (lead: Pick<Lead, 'lastEngagedAt'>, at: string): boolean =>
  lead.lastEngagedAt !== undefined && Date.parse(lead.lastEngagedAt) > Date.parse(at);

/** The lead's last unresponsive exhaustion of `trackId`, if it showed no new evidence since. */
export function exhaustedWithoutEvidence(lead: Lead, trackId: string): boolean {
  const entry = lead.sunset?.exhausted.find((e) => e.track === trackId);
  if (!entry) return false;
  return !engagedAfter(lead, entry.at) && (lead.scores?.fit ?? 0) === entry.fit;
}

/**
 * The lead after its run exhausted `track` without engagement: the exhaustion recorded (with the fit score then), the
 * cycle counted (a new series if it engaged since the last one), and sunset once the cycles exceed what the
 * re-engagement track allows (right away if the plan has none).
 */
export function withExhaustion(lead: Lead, track: Track, tracks: readonly Track[], now: Date): Lead {
  const previous = lead.sunset;
  const last = previous?.exhausted.reduce<string | undefined>(
    (a, e) => (a === undefined || e.at > a ? e.at : a),
    undefined,
  );
  const series = last !== undefined && !engagedAfter(lead, last) ? (previous?.cycles ?? 0) : 0;
  const cycles = series + 1;
  const allowed = reengagementTrack(tracks)?.reengagement?.maxCycles ?? 0;
  const at = now.toISOString();
  const sunset: SunsetState = {
    exhausted: [
      ...(previous?.exhausted ?? []).filter((e) => e.track !== track.id),
      { track: track.id, at, fit: lead.scores?.fit ?? 0 },
    ],
    cycles,
    ...(cycles > allowed ? { sunsetAt: at } : {}),
  };
  return { ...lead, sunset };
}

/**
 * What the sunset policy makes of the track the plan picked for the lead: the track itself if the lead never
 * exhausted it or brought new evidence since; otherwise the re-engagement track while cycles remain; else none.
 */
export function sunsetChoice(lead: Lead, picked: Track | undefined, tracks: readonly Track[]): Track | undefined {
  if (!picked) return undefined;
  if (!exhaustedWithoutEvidence(lead, picked.id)) return picked;
  const reengagement = reengagementTrack(tracks);
  if (!reengagement || reengagement.id === picked.id) return undefined;
  return reengagement.entry.stages.includes(lead.stage) ? reengagement : undefined;
}
