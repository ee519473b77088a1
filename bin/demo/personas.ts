import { monotonicFactory } from 'ulid';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { EventProperties, EventSource, EventType, LeadEvent } from '../../lambdas/domain/events.js';
import { testimonialsExperiment } from './experiment.js';

/**
 * Demo leads (`leadloop seed --demo`, benchmarks): people from the seeds' articles — the CFO with budget and a
 * timeline, the operations director reading case studies, the intern researching options for their team, the
 * freelancer on gmail, the newsletter-only reader, the competitor — with months of history (forms as the landing
 * page posts them, nurture mail, site visits, demo requests) and, for many, what sales later decided. Outcomes follow
 * each persona's odds, not the scoring model, so a backtest has something real to find (and to miss). Deterministic
 * for a seed: the same call gives the same leads.
 */

/** A small deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const pick = <T>(rnd: () => number, items: readonly T[]): T => {
  const item = items[Math.floor(rnd() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
};

interface Persona {
  readonly name: string;
  /** Share of demo leads. */
  readonly weight: number;
  readonly titles: readonly string[];
  readonly sizes: readonly string[];
  readonly industries: readonly string[];
  /** Company domains; `free` for a free-mail address. */
  readonly domains: readonly string[] | 'free';
  readonly bant?: {
    budget: readonly string[];
    authority: readonly string[];
    need: readonly string[];
    timeline: readonly string[];
  };
  /** Chance per week of each activity. */
  readonly opens: number;
  readonly clicks: number;
  readonly visits: number;
  readonly pricing: number;
  readonly downloads: number;
  /** Chance of a webinar, a demo request, a discovery call over the history. */
  readonly webinar: number;
  readonly demo: number;
  readonly call: number;
  /** Chance sales hears of the lead at all (it then records an outcome), and that the outcome is a win. */
  readonly reachesSales: number;
  readonly wins: number;
  readonly unsubscribes: number;
}

const COMPANIES = [
  'Northwind Builders',
  'Mercy Health Partners',
  'Harbor Realty Group',
  'Summit IT Services',
  'Crescent Clinics',
  'Ironside Construction',
  'Bluebird Property Management',
  'Vector Tech Support',
];
const COMPANY_DOMAINS = [
  'northwind-builders.com',
  'mercyhealth.org',
  'harbor-realty.com',
  'summit-it.io',
  'crescentclinics.com',
  'ironside.build',
  'bluebird-pm.com',
  'vectorsupport.net',
];
const ICP_INDUSTRIES = [
  'Construction',
  'Healthcare',
  'Real Estate',
  'Tech Support',
  'General Contracting',
  'Property Management',
];

export const PERSONAS: readonly Persona[] = [
  {
    name: 'cfo-with-budget',
    weight: 0.08,
    titles: ['CFO', 'Chief Financial Officer', 'VP Finance', 'Owner'],
    sizes: ['201-1000', '51-200', '1001-5000'],
    industries: ICP_INDUSTRIES,
    domains: COMPANY_DOMAINS,
    bant: {
      budget: ['approved, $40k', '$25k this year', 'yes'],
      authority: ['yes, I sign off', 'decision maker'],
      need: ['faster follow-up on inbound leads', 'replace spreadsheets'],
      timeline: ['this quarter', 'within 2 months', '6 months'],
    },
    opens: 0.6,
    clicks: 0.2,
    visits: 0.4,
    pricing: 0.25,
    downloads: 0.1,
    webinar: 0.3,
    demo: 0.7,
    call: 0.5,
    reachesSales: 0.85,
    wins: 0.7,
    unsubscribes: 0.02,
  },
  {
    name: 'operations-director',
    weight: 0.14,
    titles: ['Director of Operations', 'VP Operations', 'Head of Marketing', 'General Manager'],
    sizes: ['51-200', '201-1000'],
    industries: ICP_INDUSTRIES,
    domains: COMPANY_DOMAINS,
    bant: {
      budget: ['not sure', '$10k', 'yes'],
      authority: ['influencer', 'yes'],
      need: ['nurture for our webinar leads'],
      timeline: ['next quarter', 'this year', 'just researching'],
    },
    opens: 0.5,
    clicks: 0.15,
    visits: 0.35,
    pricing: 0.12,
    downloads: 0.2,
    webinar: 0.4,
    demo: 0.35,
    call: 0.2,
    reachesSales: 0.6,
    wins: 0.45,
    unsubscribes: 0.04,
  },
  {
    name: 'project-manager',
    weight: 0.16,
    titles: ['Project Manager', 'Office Manager', 'Marketing Manager', 'Senior Estimator'],
    sizes: ['11-50', '51-200'],
    industries: [...ICP_INDUSTRIES, 'Retail', 'Education'],
    domains: COMPANY_DOMAINS,
    opens: 0.4,
    clicks: 0.1,
    visits: 0.25,
    pricing: 0.06,
    downloads: 0.2,
    webinar: 0.25,
    demo: 0.15,
    call: 0.08,
    reachesSales: 0.35,
    wins: 0.3,
    unsubscribes: 0.06,
  },
  {
    name: 'intern-researching',
    weight: 0.12,
    titles: ['Marketing Intern', 'Student', 'Research Assistant', 'Junior Analyst'],
    sizes: ['201-1000', '1001-5000', '51-200'],
    industries: ICP_INDUSTRIES,
    domains: COMPANY_DOMAINS,
    bant: {
      budget: ['no budget', 'not sure'],
      authority: ['no, researching for my team'],
      need: ['comparing tools'],
      timeline: ['just researching'],
    },
    opens: 0.7,
    clicks: 0.3,
    visits: 0.6,
    pricing: 0.15,
    downloads: 0.5,
    webinar: 0.4,
    demo: 0.1,
    call: 0.02,
    reachesSales: 0.3,
    wins: 0.12,
    unsubscribes: 0.03,
  },
  {
    name: 'freelancer-on-gmail',
    weight: 0.14,
    titles: ['Freelance designer', 'Freelancer', 'Self-employed consultant', 'Independent contractor'],
    sizes: ['1-10'],
    industries: ['Design', 'Real Estate', 'Marketing', 'Construction'],
    domains: 'free',
    bant: {
      budget: ['no budget', '$500', 'not yet'],
      authority: ['yes'],
      need: ['a few leads a month'],
      timeline: ['someday', 'not sure', 'this month'],
    },
    opens: 0.45,
    clicks: 0.12,
    visits: 0.3,
    pricing: 0.2,
    downloads: 0.25,
    webinar: 0.15,
    demo: 0.12,
    call: 0.05,
    reachesSales: 0.3,
    wins: 0.1,
    unsubscribes: 0.08,
  },
  {
    name: 'newsletter-reader',
    weight: 0.26,
    titles: [],
    sizes: [],
    industries: [],
    domains: 'free',
    opens: 0.35,
    clicks: 0.05,
    visits: 0.05,
    pricing: 0.01,
    downloads: 0,
    webinar: 0.02,
    demo: 0.01,
    call: 0,
    reachesSales: 0.03,
    wins: 0.2,
    unsubscribes: 0.1,
  },
  {
    name: 'small-business-owner',
    weight: 0.07,
    titles: ['Owner', 'Founder', 'Principal Broker'],
    sizes: ['1-10', '11-50'],
    industries: ['Real Estate', 'General Contracting', 'Healthcare'],
    domains: COMPANY_DOMAINS,
    bant: {
      budget: ['$5k', 'tight', 'yes'],
      authority: ['yes, I decide'],
      need: ['follow up with open-house visitors'],
      timeline: ['within 3 months', 'this year'],
    },
    opens: 0.45,
    clicks: 0.15,
    visits: 0.3,
    pricing: 0.3,
    downloads: 0.1,
    webinar: 0.15,
    demo: 0.4,
    call: 0.3,
    reachesSales: 0.55,
    wins: 0.4,
    unsubscribes: 0.05,
  },
  {
    name: 'competitor',
    weight: 0.03,
    titles: ['Product Marketing Manager', 'Competitive Intelligence Analyst'],
    sizes: ['1001-5000'],
    industries: ['Software'],
    domains: ['hubspot.com', 'marketo.com', 'activecampaign.com'],
    opens: 0.6,
    clicks: 0.3,
    visits: 0.7,
    pricing: 0.5,
    downloads: 0.6,
    webinar: 0.5,
    demo: 0.2,
    call: 0,
    reachesSales: 0.25,
    wins: 0,
    unsubscribes: 0.01,
  },
];

const FIRST = [
  'Ana',
  'Ben',
  'Chloe',
  'Dev',
  'Elif',
  'Femi',
  'Greta',
  'Hiro',
  'Ines',
  'Jonas',
  'Kira',
  'Liam',
  'Maya',
  'Noor',
  'Omar',
  'Priya',
  'Quinn',
  'Rosa',
  'Sam',
  'Tariq',
];
const LAST = [
  'Alvarez',
  'Brooks',
  'Chen',
  'Dubois',
  'Eze',
  'Fischer',
  'Garcia',
  'Haddad',
  'Ivanova',
  'Jensen',
  'Kowalski',
  'Larsen',
  'Moreau',
  'Nakamura',
  'Okafor',
  'Patel',
];
const FREE_MAIL = ['gmail.com', 'outlook.com', 'yahoo.com', 'icloud.com'];

/** One generated lead: its identity, its events, and the persona it came from. */
export interface DemoLead {
  readonly leadId: string;
  readonly email: string;
  readonly createdAt: string;
  readonly persona: string;
  readonly events: LeadEvent[];
}

export interface DemoOptions {
  readonly leads: number;
  /** The last instant of any history (default now). Histories span the ~300 days before it. */
  readonly until?: Date;
  readonly seed?: number;
}

function personaFor(rnd: () => number): Persona {
  const total = PERSONAS.reduce((s, p) => s + p.weight, 0);
  let x = rnd() * total;
  for (const p of PERSONAS) {
    x -= p.weight;
    if (x < 0) return p;
  }
  return PERSONAS[PERSONAS.length - 1] ?? pick(rnd, PERSONAS);
}

/** Generates demo leads one at a time (memory stays flat for a benchmark's hundred thousand). */
export function* demoLeads(options: DemoOptions): Generator<DemoLead> {
  const rnd = random(options.seed ?? 2026);
  const ulid = monotonicFactory(() => rnd());
  const untilMs = (options.until ?? new Date()).getTime();
  for (let i = 0; i < options.leads; i++) {
    const p = personaFor(rnd);
    const startMs = untilMs - (30 + rnd() * 270) * DAY_MS;
    const first = pick(rnd, FIRST);
    const last = pick(rnd, LAST);
    const domain = p.domains === 'free' ? pick(rnd, FREE_MAIL) : pick(rnd, p.domains);
    const email = `${first}.${last}.${i}@${domain}`.toLowerCase();
    const leadId = ulid(Math.floor(startMs));
    const events: LeadEvent[] = [];
    const add = (ms: number, type: EventType, source: EventSource, properties: EventProperties = {}): void => {
      if (ms > untilMs) return;
      const at = new Date(Math.floor(ms)).toISOString();
      events.push({
        eventId: `demo-${leadId}-${String(events.length).padStart(3, '0')}`,
        leadId,
        type,
        occurredAt: at,
        receivedAt: at,
        source,
        properties,
      });
    };
    // The first form: a newsletter signup for readers, otherwise gated content or a webinar, with the profile.
    const profile: EventProperties = {
      firstName: first,
      lastName: last,
      ...(p.titles.length > 0 && { jobTitle: pick(rnd, p.titles), company: pick(rnd, COMPANIES) }),
      ...(p.sizes.length > 0 && { companySize: pick(rnd, p.sizes) }),
      ...(p.industries.length > 0 && { industry: pick(rnd, p.industries) }),
      consent: true,
      utm_source: pick(rnd, ['google', 'linkedin', 'newsletter', 'referral']),
    };
    if (p.name === 'newsletter-reader')
      add(startMs, 'newsletter_signup', 'form', { formId: 'newsletter', consent: true, firstName: first });
    else
      add(startMs, rnd() < 0.6 ? 'content_download' : 'webinar_registered', 'form', {
        formId: rnd() < 0.6 ? 'content-download' : 'webinar-registration',
        ...profile,
      });

    // Weekly nurture mail and what the person does in between, until sales hears of them or they leave.
    const weeks = Math.floor((untilMs - startMs) / (7 * DAY_MS));
    const salesWeek =
      rnd() < p.reachesSales ? Math.min(weeks, 2 + Math.floor(rnd() * Math.max(1, weeks - 2))) : Infinity;
    let demoDone = false;
    let unsubscribed = false;
    for (let w = 0; w < Math.min(weeks, salesWeek) && !unsubscribed; w++) {
      const sent = startMs + (w * 7 + 1) * DAY_MS + rnd() * 3_600_000;
      add(sent, 'email_sent', 'nurture', { track: 'newsletter', touch: w + 1 });
      add(sent + 5_000, 'email_delivered', 'ses', {});
      if (rnd() < p.opens) add(sent + rnd() * 2 * DAY_MS, 'email_opened', 'ses', { machine: rnd() < 0.08 });
      if (rnd() < p.clicks)
        add(sent + rnd() * 2 * DAY_MS, 'email_clicked', 'ses', {
          link: pick(rnd, [
            'https://leadloop.example/blog/nurture',
            'https://leadloop.example/pricing',
            'https://leadloop.example/case-studies/harbor',
            'https://leadloop.example/demo',
          ]),
        });
      if (rnd() < p.visits)
        add(sent + rnd() * 5 * DAY_MS, 'page_viewed', 'api', {
          url: pick(rnd, [
            'https://leadloop.example/blog/lead-scoring',
            'https://leadloop.example/case-studies/northwind',
            'https://leadloop.example/features',
          ]),
        });
      if (rnd() < p.pricing)
        add(sent + rnd() * 5 * DAY_MS, 'pricing_page_viewed', 'api', { url: 'https://leadloop.example/pricing' });
      if (rnd() < p.downloads)
        add(sent + rnd() * 5 * DAY_MS, 'content_download', 'form', { formId: 'content-download' });
      if (rnd() < p.webinar / Math.max(1, weeks)) {
        add(sent + 2 * DAY_MS, 'webinar_registered', 'form', { formId: 'webinar-registration' });
        if (rnd() < 0.6) add(sent + 6 * DAY_MS, 'webinar_attended', 'api', {});
      }
      if (!demoDone && rnd() < p.demo / Math.max(1, Math.min(weeks, salesWeek))) {
        demoDone = true;
        add(sent + 3 * DAY_MS, 'demo_requested', 'form', {
          formId: 'demo-request',
          ...(p.bant && {
            budget: pick(rnd, p.bant.budget),
            authority: pick(rnd, p.bant.authority),
            need: pick(rnd, p.bant.need),
            timeline: pick(rnd, p.bant.timeline),
          }),
        });
        if (rnd() < p.call) add(sent + 6 * DAY_MS, 'discovery_call_booked', 'form', { formId: 'discovery-call' });
      }
      if (rnd() < p.unsubscribes / 8) {
        add(sent + DAY_MS, 'email_unsubscribed', 'ses', {});
        unsubscribed = true;
      }
      if (rnd() < 0.004) add(sent + 60_000, 'email_bounced', 'ses', { bounceType: 'permanent' });
    }
    // Decision makers a few weeks in reach the testimonials track, and its experiment (bin/demo/experiment.ts).
    const entryWeek = 3;
    if (!unsubscribed && weeks > entryWeek + 1 && salesWeek > entryWeek + 1)
      testimonialsExperiment(leadId, p, startMs + (entryWeek * 7 + 2) * DAY_MS, add);
    // What sales decided, recorded through POST /events (source api).
    if (Number.isFinite(salesWeek) && !unsubscribed) {
      const decidedMs = startMs + (salesWeek * 7 + 2 + rnd() * 10) * DAY_MS;
      // Odds move with what the person did, not with the model's score: a demo and a booked call help.
      const odds = Math.min(0.95, p.wins * (demoDone ? 1.5 : 0.7));
      if (rnd() < odds) {
        add(decidedMs, 'sales_accepted', 'api', {});
        if (rnd() < 0.6) add(decidedMs + (5 + rnd() * 20) * DAY_MS, 'opportunity_created', 'api', {});
      } else
        add(decidedMs, 'sales_rejected', 'api', {
          reason: pick(rnd, ['no budget', 'not the decision maker', 'bad timing', 'not a fit']),
        });
    }
    events.sort((a, b) => (a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : 0));
    const createdAt = events[0]?.occurredAt ?? new Date(startMs).toISOString();
    yield { leadId, email, createdAt, persona: p.name, events };
  }
}
