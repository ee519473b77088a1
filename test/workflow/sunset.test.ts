import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { Lead } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import type { NurtureStart } from '../../lambdas/domain/nurture/ports.js';
import { requalify } from '../../lambdas/domain/requalification.js';
import { defaultModel } from '../../lambdas/domain/scoring/index.js';
import { requalifyLead, type SweepDeps } from '../../lambdas/domain/sweep.js';
import { startHarness, type Harness } from './nurture-harness.js';

/**
 * The sunset policy end to end (issue 12 §3, "done when"): the synthesized nurture machines with their real task
 * handlers, and the requalification sweep's rules on the same table, over two simulated years. A consenting lead that
 * never engages gets its track, one re-engagement mail after the cool-off, and then nothing, however many sweeps
 * follow — until it acts.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(async () => h?.stop());

/** One sweep of the lead as of `at`, starting (and then running to its end) whatever run the rules enroll it in. */
async function sweepAt(leadId: string, at: string): Promise<NurtureStart[]> {
  h.clock.set(at);
  const started: NurtureStart[] = [];
  const deps: SweepDeps = {
    leads: h.repo,
    requalify: (lead, now) => requalify(lead, defaultModel, now),
    nurture: {
      start: async (run) => (started.push(run), 'started'),
      stop: async () => 'stopped',
    },
    tracks: DEFAULT_NURTURE_PLAN.tracks,
    clock: h.clock,
    sleep: async () => undefined,
  };
  const lead = await h.repo.getLead(leadId);
  if (lead?.reviewAt !== undefined && Date.parse(lead.reviewAt) <= Date.parse(at)) {
    await requalifyLead(deps, lead, new Date(at));
  }
  for (const run of started) {
    h.runner.startTrack(run);
    await h.runner.settled(run.executionName);
  }
  return started;
}

const stored = async (leadId: string): Promise<Lead> => {
  const lead = await h.repo.getLead(leadId);
  if (!lead) throw new Error('lead vanished');
  return lead;
};

describe('sunset policy over two simulated years', () => {
  it('an unresponsive lead gets one re-engagement mail after its track, then nothing until it acts', async () => {
    h.clock.set('2026-03-02T15:00:00.000Z');
    const lead = await h.createLead({ stage: 'lead', leadSince: '2026-03-02T15:00:00.000Z' });

    const first = await h.runTrack(lead, 'newsletter');
    const afterTrack = await stored(lead.leadId);
    const starts: NurtureStart[][] = [];
    // Weekly sweeps for two years (the schedule is daily; a week changes nothing the rules look at).
    for (let day = 30; day <= 730; day += 7) {
      const at = new Date(Date.parse('2026-03-02T15:00:00.000Z') + day * DAY_MS).toISOString();
      starts.push(await sweepAt(lead.leadId, at));
    }
    const end = await stored(lead.leadId);
    const mail = await h.mailTo(lead.email);
    const history = await h.repo.stageHistory(lead.leadId);

    expect(first.status).toBe('SUCCEEDED');
    expect(afterTrack).toMatchObject({ stage: 'disqualified', disqualification: 'unresponsive' });
    expect(starts.flat().map((s) => s.track)).toEqual(['re-engagement']);
    expect(mail.map((m) => m.subject)).toEqual([
      expect.stringMatching(/five-minute rule/i),
      expect.any(String),
      expect.any(String),
      expect.stringMatching(/keep writing/i),
    ]);
    expect(end).toMatchObject({ stage: 'disqualified', disqualification: 'unresponsive', sunset: { cycles: 2 } });
    expect(end.sunset?.sunsetAt).toBeDefined();
    expect(end.reviewAt).toBeUndefined();
    // newsletter → unresponsive → requalified after the cool-off → unresponsive again, and no more.
    expect(history.map((t) => t.to)).toEqual(['disqualified', 'lead', 'disqualified']);
  }, 120_000);
});
