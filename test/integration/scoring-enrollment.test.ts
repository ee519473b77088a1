import { describe, expect, it } from 'vitest';
import { captureForm } from '../../lambdas/domain/capture.js';
import { FormSubmission } from '../../lambdas/domain/forms.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import type { NurtureRun } from '../../lambdas/domain/nurture/enrollment.js';
import type { NurtureStart, NurtureStarter } from '../../lambdas/domain/nurture/ports.js';
import {
  followUpNurture,
  pendingStart,
  scorePendingEvents,
  type ScoringDeps,
} from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { testCaptureDeps, uniqueEmail } from '../support/dynamo.js';

/** A NurtureStarter that remembers names, as Step Functions does, and can be told to fail. */
class RecordingStarter implements NurtureStarter {
  started: NurtureStart[] = [];
  stopped: NurtureRun[] = [];
  failNext = false;
  private names = new Set<string>();
  async start(input: NurtureStart) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('ThrottlingException');
    }
    if (this.names.has(input.executionName)) return 'already_running' as const;
    this.names.add(input.executionName);
    this.started.push(input);
    return 'started' as const;
  }
  async stop(run: NurtureRun) {
    this.stopped.push(run);
    return 'stopped' as const;
  }
}

function setup() {
  const base = testCaptureDeps();
  const starter = new RecordingStarter();
  const scoring: ScoringDeps = {
    leads: base.repo,
    clock: base.clock,
    apply: (lead, events, now) => applyEvents(lead, events, defaultModel, now),
    nurture: { tracks: DEFAULT_NURTURE_PLAN.tracks, starter },
  };
  return { capture: base.deps, repo: base.repo, starter, scoring };
}

/** A newsletter signup, recorded: the lead id and its event id. */
async function subscribe(s: ReturnType<typeof setup>, consent: boolean) {
  const submission = FormSubmission.parse({ email: uniqueEmail('nurture'), consent });
  const { leadId } = await captureForm(s.capture, { formId: 'newsletter', submission });
  const [event] = await s.repo.listEvents(leadId as string);
  return { leadId: leadId as string, eventIds: [event?.eventId as string] };
}

describe('nurture enrollment from the scoring pipeline', () => {
  it('enrolls a consenting subscriber in the newsletter track once, recorded on the lead', async () => {
    const s = setup();
    const { leadId, eventIds } = await subscribe(s, true);

    const result = await scorePendingEvents(s.scoring, leadId, eventIds);
    await followUpNurture(s.scoring, result);
    const again = await scorePendingEvents(s.scoring, leadId, eventIds);
    await followUpNurture(s.scoring, { after: again.after, enrollment: pendingStart(again.after) });

    expect(result.enrollment.start?.track).toBe('newsletter');
    expect(s.starter.started).toEqual([
      { leadId, track: 'newsletter', executionName: result.enrollment.start?.executionName },
    ]);
    const lead = await s.repo.getLead(leadId);
    expect(lead?.nurture).toMatchObject({
      track: 'newsletter',
      status: 'active',
      executionName: result.enrollment.start?.executionName,
    });
  });

  it('enrolls no one who has not consented to marketing email', async () => {
    const s = setup();
    const { leadId, eventIds } = await subscribe(s, false);
    const result = await scorePendingEvents(s.scoring, leadId, eventIds);
    await followUpNurture(s.scoring, result);
    expect(result.enrollment).toEqual({});
    expect(s.starter.started).toEqual([]);
    expect((await s.repo.getLead(leadId))?.nurture).toBeUndefined();
  });

  it('starts the recorded run on a retry when the first start failed', async () => {
    const s = setup();
    const { leadId, eventIds } = await subscribe(s, true);
    s.starter.failNext = true;
    const first = await scorePendingEvents(s.scoring, leadId, eventIds);
    await expect(followUpNurture(s.scoring, first)).rejects.toThrow('ThrottlingException');

    // the platform retries the record: the event is applied already, the recorded enrollment is started
    const retry = await scorePendingEvents(s.scoring, leadId, eventIds);
    expect(retry.applied).toEqual([]);
    await followUpNurture(s.scoring, { after: retry.after, enrollment: pendingStart(retry.after) });
    expect(s.starter.started.map((r) => r.executionName)).toEqual([first.enrollment.start?.executionName]);
  });
});
