import { parseNurturePlan, type NurturePlan } from './tracks.js';

/**
 * The nurture tracks that ship with Leadloop (DESIGN §6), as data. A marketer edits this file; it is validated here
 * (on import, so a bad edit fails every test and `cdk synth`) and again against the template files by
 * lib/email/catalog.ts. Tracks are tried in order: a lead enters the first whose entry criteria it meets. The
 * `re-engagement` track is the sunset policy's (see sunset.ts): `maxCycles` says how many unresponsive cycles a lead
 * gets a re-engagement mail for before it is sunset. The `testimonials` track runs an experiment (experiments.ts,
 * docs/experiments.md): a 20% holdout and a content test of its first touch.
 *
 * The state machines are generated from it (lib/nurture-workflows.ts) and the Lambda tasks read it, so both always
 * agree on touches and waits.
 */
export const DEFAULT_NURTURE_PLAN: NurturePlan = parseNurturePlan({
  policy: {
    defaultTimeZone: 'America/New_York',
    sendWindow: { days: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 },
    frequencyCap: { maxEmails: 3, perDays: 7 },
    unsubscribeLinkDays: 365,
  },
  industries: [
    {
      id: 'real-estate',
      label: 'Real estate',
      aliases: ['real estate', 'realestate', 'realtor', 'brokerage', 'property management', 'mortgage'],
    },
    {
      id: 'general-contractor',
      label: 'General contracting',
      aliases: [
        'general contractor',
        'contractor',
        'construction',
        'remodeling',
        'renovation',
        'roofing',
        'home improvement',
      ],
    },
    {
      id: 'healthcare',
      label: 'Healthcare',
      aliases: [
        'healthcare',
        'health care',
        'medical',
        'clinic',
        'dental',
        'physiotherapy',
        'physical therapy',
        'chiropractic',
      ],
    },
    {
      id: 'tech-support',
      label: 'IT and tech support',
      aliases: ['tech support', 'it support', 'it services', 'managed services', 'msp', 'helpdesk', 'help desk'],
    },
  ],
  tracks: [
    {
      id: 'testimonials',
      description: 'Leads close to a decision: well-fitting MQLs who are already engaging. Proof from peers.',
      entry: { stages: ['mql'], grades: ['A', 'B'], minEngagement: 40 },
      exit: {
        handoffStages: ['sql'],
        stages: ['opportunity', 'customer', 'dormant', 'disqualified', 'subscriber', 'lead'],
      },
      touches: [
        {
          name: 'testimonial 1',
          template: 'testimonial-1',
          waitDays: 3,
          contentVariants: [
            { id: 'quotes', template: 'testimonial-1', weight: 1 },
            { id: 'numbers', template: 'testimonial-1-numbers', weight: 1 },
          ],
        },
        { name: 'testimonial 2', template: 'testimonial-2', waitDays: 4 },
      ],
      // Does proof from peers move MQLs to SQL? One in five leads is held out (docs/experiments.md).
      holdoutPercent: 20,
      experimentId: 'testimonials-2026-1',
    },
    {
      id: 'case-studies',
      description: 'Marketing-qualified leads: how teams in their industry use Leadloop.',
      entry: { stages: ['mql'] },
      exit: {
        handoffStages: ['sql'],
        stages: ['opportunity', 'customer', 'dormant', 'disqualified', 'subscriber', 'lead'],
      },
      touches: [
        {
          name: 'case study 1',
          template: 'case-study-1',
          variants: ['real-estate', 'general-contractor', 'healthcare', 'tech-support'],
          waitDays: 4,
        },
        {
          name: 'case study 2',
          template: 'case-study-2',
          variants: ['real-estate', 'general-contractor', 'healthcare', 'tech-support'],
          waitDays: 4,
        },
        {
          name: 'case study 3',
          template: 'case-study-3',
          variants: ['real-estate', 'general-contractor', 'healthcare', 'tech-support'],
          waitDays: 5,
        },
      ],
    },
    {
      id: 'newsletter',
      description: 'Subscribers and early leads: useful reading, no pressure.',
      entry: { stages: ['subscriber', 'lead'] },
      exit: { handoffStages: ['sql'], stages: ['mql', 'opportunity', 'customer', 'dormant', 'disqualified'] },
      touches: [
        { name: 'newsletter 1', template: 'newsletter-1', waitDays: 7 },
        { name: 'newsletter 2', template: 'newsletter-2', waitDays: 7 },
        { name: 'newsletter 3', template: 'newsletter-3', waitDays: 7 },
      ],
    },
    {
      id: 're-engagement',
      description:
        'The sunset policy: one "still interested?" mail for a lead back from a track it exhausted without engaging and without new evidence; if it stays silent, no more marketing mail until it acts.',
      entry: { stages: ['subscriber', 'lead', 'mql'] },
      exit: { handoffStages: ['sql'], stages: ['opportunity', 'customer', 'dormant', 'disqualified'] },
      touches: [{ name: 'reengagement 1', template: 're-engagement-1', waitDays: 14 }],
      reengagement: { maxCycles: 1 },
    },
  ],
});
