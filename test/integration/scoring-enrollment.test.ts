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
import { sweepDeps } from '../../lambdas/adapters/sweep-deps.js';
import { isDue, requalifyLead } from '../../lambdas/domain/sweep.js';
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
  const clock = base.clock;
  const starter = new RecordingStarter();
  const scoring: ScoringDeps = {
    leads: base.repo,
    clock: base.clock,
    apply: (lead, events, now) => applyEvents(lead, events, defaultModel, now),
    nurture: { tracks: DEFAULT_NURTURE_PLAN.tracks, starter },
  };
  return { capture: base.deps, repo: base.repo, starter, scoring, clock };
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

  it('a start that keeps failing leaves the lead due soon, and the sweep forgets the enrollment it cannot start', async () => {
    const s = setup();
    const { leadId, eventIds } = await subscribe(s, true);
    const failing: NurtureStarter = {
      start: async () => Promise.reject(new Error('ExecutionLimitExceeded')),
      stop: async () => 'not_running',
    };
    const scoring: ScoringDeps = { ...s.scoring, nurture: { tracks: DEFAULT_NURTURE_PLAN.tracks, starter: failing } };
    const first = await scorePendingEvents(scoring, leadId, eventIds);
    await expect(followUpNurture(scoring, first)).rejects.toThrow('ExecutionLimitExceeded');
    // every retry of the record fails the same way, then it is dead-lettered: the lead says "active", no run exists
    const recorded = await s.repo.getLead(leadId);
    expect(recorded?.nurture?.status).toBe('active');

    // … but it is due for review within minutes, and the sweep then finds it
    s.clock.advance(20 * 60_000);
    const asOf = s.clock.now();
    if (!recorded) throw new Error('no lead');
    expect(isDue(recorded, asOf)).toBe(true);
    const deps = {
      ...sweepDeps({
        repository: s.repo,
        model: defaultModel,
        nurture: failing,
        tracks: DEFAULT_NURTURE_PLAN.tracks,
        clock: s.clock,
      }),
      sleep: async () => undefined,
    };
    const outcome = await requalifyLead(deps, recorded, asOf);
    expect(outcome).toMatchObject({ kind: 'requalified', failed: ['enroll'] });
    const after = await s.repo.getLead(leadId);
    expect(after?.nurture).toBeUndefined();

    // once Step Functions answers again, the next scoring of the lead enrolls it afresh
    await s.capture.leads.appendEvent({
      eventId: `later-${leadId}`,
      leadId,
      type: 'page_viewed',
      occurredAt: s.clock.now().toISOString(),
      receivedAt: s.clock.now().toISOString(),
      source: 'api',
      properties: { url: '/blog' },
    });
    const later = await scorePendingEvents(s.scoring, leadId, [`later-${leadId}`]);
    await followUpNurture(s.scoring, later);
    expect(s.starter.started.map((r) => r.leadId)).toEqual([leadId]);
  });
});
