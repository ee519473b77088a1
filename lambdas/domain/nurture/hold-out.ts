import { touchEligibility } from './eligibility.js';
import { trackStanding } from './evaluation.js';
import { heldOutEventId, isoSeconds, recordTouchOnLead, type NurtureCoreDeps } from './nurture-tasks.js';
import { isCurrentRun } from './send-touch.js';
import type { NurtureTaskInput, TouchResult } from './steps.js';
import { touchAt, trackById } from './tracks.js';

/**
 * "Held out: no mail (<touch>)" (DESIGN §6, docs/experiments.md): the branch a held-out lead's touch takes. It judges
 * the lead as "Send <touch>" does before it would mail — still in the track, this run the lead's current one, not
 * suppressed, consent given — so both arms of the experiment skip the same leads for the same reasons; then, instead
 * of mailing, it records `touch_held_out` (once: its id is derived from the run and the touch) and plans the next
 * touch on the lead as a send would. The run then waits and re-evaluates exactly as a treated lead's does.
 *
 * A held-out touch waits where a send would (outside the send window, over the frequency cap): it answers `deferred`
 * with the same `resumeAt`, and the run waits in "Wait for send window (held out, <touch>)" before trying again. So both
 * arms are exposed at the same moments, and a lead promoted or disqualified during that wait leaves either arm alike.
 * The reputation brake alone does not hold it: it pauses an account's sending, not the experiment, and the hold-out
 * function has no access to the sending store.
 */
export async function holdOutTouch(deps: NurtureCoreDeps, input: NurtureTaskInput): Promise<TouchResult> {
  const track = trackById(deps.plan, input.track);
  const touch = touchAt(track, input.touch);
  const lead = await deps.leads.getLead(input.leadId);
  const events = lead ? await deps.leads.listEvents(input.leadId) : [];
  const standing = trackStanding(lead, events, track);
  if (standing !== 'continue' || !lead) return { ...input, outcome: 'skipped', reason: standing };
  if (!isCurrentRun(lead, input.executionName)) return { ...input, outcome: 'skipped', reason: 'not_current_run' };

  const eventId = heldOutEventId(input.executionName, input.touch);
  const recorded = events.find((e) => e.eventId === eventId);
  const now = deps.clock.now();
  if (!recorded) {
    const eligibility = touchEligibility({ lead, events, policy: deps.plan.policy, now });
    if (eligibility.kind === 'skip') return { ...input, outcome: 'skipped', reason: eligibility.reason };
    if (eligibility.kind === 'defer') {
      return { ...input, outcome: 'deferred', reason: eligibility.reason, resumeAt: isoSeconds(eligibility.until) };
    }
    await deps.leads.appendEvent({
      eventId,
      leadId: input.leadId,
      type: 'touch_held_out',
      occurredAt: now.toISOString(),
      receivedAt: now.toISOString(),
      source: 'nurture',
      properties: {
        track: track.id,
        touch: input.touch,
        template: touch.template,
        experimentId: input.experimentId ?? lead.nurture?.experimentId ?? null,
        arm: 'holdout',
        executionName: input.executionName,
      },
    });
  }
  const at = recorded ? new Date(recorded.occurredAt) : now;
  await recordTouchOnLead(deps, input, at, touch.waitDays, true);
  return { ...input, outcome: 'held_out', reason: recorded ? 'already_recorded' : 'held_out' };
}
