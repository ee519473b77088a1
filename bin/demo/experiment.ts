import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { EventProperties, EventSource, EventType } from '../../lambdas/domain/events.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { assignmentFor, contentVariantFor, unitHash } from '../../lambdas/domain/nurture/experiments.js';
import { trackById } from '../../lambdas/domain/nurture/tracks.js';

/** A small deterministic PRNG (mulberry32), seeded per lead so the rest of its history stays as it was. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const TRACK = trackById(DEFAULT_NURTURE_PLAN, 'testimonials');

export interface ExperimentPersona {
  readonly opens: number;
  readonly clicks: number;
  readonly bant?: {
    budget: readonly string[];
    authority: readonly string[];
    need: readonly string[];
    timeline: readonly string[];
  };
}

/**
 * The shipped `testimonials` experiment in a demo lead's history (`leadloop seed --demo`, docs/experiments.md): a
 * decision maker a few weeks in enters the track at `entryMs` and is assigned as the product assigns (the same hash
 * of lead, track and experiment: one in five held out). Treated leads get the two testimonials (the first in its
 * content variant) and open and click them; held-out leads get the track's records and no mail. Testimonials help a
 * little: a treated lead asks for a demo within the track's week somewhat more often, so the report has an uplift
 * to find — and, at demo sizes, not enough leads to be sure of it.
 */
export function testimonialsExperiment(
  leadId: string,
  persona: ExperimentPersona,
  entryMs: number,
  add: (ms: number, type: EventType, source: EventSource, properties?: EventProperties) => void,
): void {
  const assignment = assignmentFor(leadId, TRACK);
  if (!assignment || !persona.bant) return;
  const rnd = random(Math.floor(unitHash('demo-experiment', leadId) * 2 ** 32));
  const { experimentId, arm } = assignment;
  const executionName = `${leadId}-testimonials-demo`;
  let at = entryMs;
  TRACK.touches.forEach((touch, i) => {
    const n = i + 1;
    const common = { track: TRACK.id, touch: n, experimentId, arm, executionName };
    if (arm === 'holdout') add(at, 'touch_held_out', 'nurture', { ...common, template: touch.template });
    else {
      const variant = contentVariantFor(leadId, TRACK, touch);
      const messageId = `demo-${leadId}-testimonial-${n}`;
      add(at, 'email_sent', 'nurture', {
        ...common,
        template: variant?.template ?? touch.template,
        ...(variant && { contentVariant: variant.id }),
        messageId,
      });
      const tags = { messageId, track: TRACK.id, touch: String(n) };
      add(at + 5_000, 'email_delivered', 'ses', tags);
      const clicks = persona.clicks * (variant?.id === 'numbers' ? 1.6 : 1) + 0.1;
      if (rnd() < persona.opens + 0.1)
        add(at + rnd() * DAY_MS, 'email_opened', 'ses', { ...tags, machine: rnd() < 0.1 });
      if (rnd() < clicks)
        add(at + rnd() * DAY_MS, 'email_clicked', 'ses', { ...tags, link: 'https://leadloop.example/demo' });
    }
    at += touch.waitDays * DAY_MS;
  });
  const demoOdds = arm === 'treatment' ? 0.22 : 0.1;
  if (rnd() < demoOdds) {
    const pick = (xs: readonly string[]) => xs[Math.floor(rnd() * xs.length)] ?? '';
    add(entryMs + (2 + rnd() * 4) * DAY_MS, 'demo_requested', 'form', {
      formId: 'demo-request',
      budget: pick(persona.bant.budget),
      authority: pick(persona.bant.authority),
      need: pick(persona.bant.need),
      timeline: pick(persona.bant.timeline),
    });
  }
}
