import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from './nurture-harness.js';

/**
 * The same state machines on scaled real time, as `npm start` runs them: a simulated day lasts DAY_SECONDS real
 * seconds, so a 7-day wait takes 7 × DAY_SECONDS s of wall-clock time, and send-window waits last until the
 * simulated clock reaches the window.
 */
const DAY_SECONDS = 0.02;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ daySeconds: DAY_SECONDS });
}, 60_000);
afterAll(async () => h?.stop());

it('runs a whole track with its waits scaled to real time', async () => {
  const lead = await h.createLead({ stage: 'subscriber' });
  const startedAt = Date.now();
  const run = await h.runTrack(lead, 'newsletter');
  const elapsedMs = Date.now() - startedAt;

  expect(run.status).toBe('SUCCEEDED');
  expect(h.statesOf(run).at(-1)).toBe('Disqualified as unresponsive');
  expect(await h.mailTo(lead.email)).toHaveLength(3);
  const expectedMs = 3 * 7 * DAY_SECONDS * 1000;
  expect(elapsedMs).toBeGreaterThanOrEqual(expectedMs * 0.9);
  // Each 7-day wait lasted about 7 × DAY_SECONDS real seconds and ended when the simulated clock said so.
  const waits = run.history.filter((e) => e.type === 'StateEntered' && e.state?.startsWith('Wait 7 days'));
  expect(waits).toHaveLength(3);
  for (const w of waits) {
    const exited = run.history.find((e) => e.type === 'StateExited' && e.state === w.state && e.id > w.id);
    expect((exited?.realAt ?? 0) - w.realAt).toBeGreaterThanOrEqual(7 * DAY_SECONDS * 1000 * 0.9);
    expect(Date.parse(w.until ?? '') - Date.parse(w.at)).toBeGreaterThanOrEqual(7 * 86_400_000 - 1000);
  }
});
