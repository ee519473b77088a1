import { createHash } from 'node:crypto';

/** Step Functions execution names: 1–80 characters, letters, digits, `-` and `_`. */
const VALID = /^[A-Za-z0-9_-]{1,80}$/;

/** `2026-03-02T10:00:00.000Z` → `20260302T100000Z`. */
const compactInstant = (iso: string): string => iso.replace(/[-:]/g, '').replace(/\.\d+/, '');

/**
 * The execution name of a lead's run of a track, deterministic in (lead, track, since): starting the same
 * enrollment twice names the same execution, which Step Functions refuses to start again. `since` is the instant
 * that opened this enrollment (the lead's `stageChangedAt`), so a lead that re-enters the track later, after a new
 * stage change, gets a new run.
 */
export function nurtureExecutionName(leadId: string, track: string, since: string): string {
  const name = `${leadId}-${track}-${compactInstant(since)}`;
  if (VALID.test(name)) return name;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 16);
  const safe = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80 - digest.length - 1);
  return `${safe}-${digest}`;
}

/** True for a name Step Functions accepts. */
export const isValidExecutionName = (name: string): boolean => VALID.test(name);
