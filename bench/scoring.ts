import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { DAY_MS } from '../lambdas/domain/clock.js';
import type { EventProperties, EventType, LeadEvent } from '../lambdas/domain/events.js';
import { newLead, type Lead } from '../lambdas/domain/lead.js';
import { compile } from '../lambdas/domain/scoring/compile.js';
import { scoreFit } from '../lambdas/domain/scoring/fit.js';
import { applyEvents, defaultModel, parseModel, rescore } from '../lambdas/domain/scoring/index.js';
import { compareModels } from '../lambdas/domain/simulation.js';

/**
 * Scoring throughput on one core: `applyEvents` over realistic lead histories (a signup form, weekly nurture mail
 * with deliveries, opens and clicks, site visits, downloads, the odd demo request or bounce), against an in-run
 * baseline that merely sorts and walks the same events. Run: `npx tsx bench/scoring.ts [leads] [seconds]`.
 */

const START = Date.parse('2025-01-06T09:00:00.000Z');

/** A small deterministic PRNG (mulberry32), so every run scores the same histories. */
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

const pick = <T>(rnd: () => number, items: readonly T[]): T => {
  const item = items[Math.floor(rnd() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
};

const TITLES = ['CEO', 'VP Operations', 'Project Manager', 'Marketing Intern', 'Freelance designer', 'Office Manager'];
const SIZES = ['1-10', '11-50', '51-200', '201-1000', '5000+'];
const INDUSTRIES = ['Construction', 'Healthcare', 'Real Estate', 'Retail', 'SaaS'];
const DOMAINS = ['acme-builders.com', 'gmail.com', 'mercyhealth.org', 'northwind.io'];

interface History {
  lead: Lead;
  events: LeadEvent[];
}

/** One lead's history over `weeks` of nurture, in arrival order. */
function history(index: number, weeks: number, rnd: () => number): History {
  const leadId = `lead-${index}`;
  const events: LeadEvent[] = [];
  const add = (days: number, type: EventType, properties: EventProperties = {}): void => {
    const at = new Date(START + days * DAY_MS).toISOString();
    events.push({
      eventId: `${leadId}-${events.length}`,
      leadId,
      type,
      occurredAt: at,
      receivedAt: at,
      source: 'api',
      properties,
    });
  };
  add(0, 'content_download', {
    formId: 'ebook',
    jobTitle: pick(rnd, TITLES),
    companySize: pick(rnd, SIZES),
    industry: pick(rnd, INDUSTRIES),
    consent: true,
    utm_source: 'google',
  });
  for (let week = 0; week < weeks; week++) {
    const sent = week * 7 + 1;
    add(sent, 'email_sent');
    add(sent + 0.01, 'email_delivered');
    if (rnd() < 0.5) add(sent + rnd(), 'email_opened', { machine: rnd() < 0.1 });
    if (rnd() < 0.15)
      add(sent + 1, 'email_clicked', { link: pick(rnd, ['https://x.io/blog', 'https://x.io/pricing']) });
    if (rnd() < 0.3)
      add(sent + 2, 'page_viewed', { url: pick(rnd, ['https://x.io/pricing', 'https://x.io/blog/post']) });
    if (rnd() < 0.05) add(sent + 3, 'email_bounced', { bounceType: 'transient' });
  }
  if (rnd() < 0.3) add(weeks * 7 - 3, 'webinar_attended');
  if (rnd() < 0.2) add(weeks * 7 - 1, 'demo_requested', { budget: 'yes', timeline: 'this quarter' });
  return { lead: newLead(leadId, `person${index}@${pick(rnd, DOMAINS)}`, new Date(START)), events };
}

/**
 * Events per second of each way of going over all histories, given about `seconds` each. The ways take turns in
 * slices of a quarter of a second; `rate` is over all slices, and `vsFirst` the median over slices of the way's rate
 * against the first way's in the same turn, so load that comes and goes during the run does not move the ratios.
 */
function measure<K extends string>(
  histories: readonly History[],
  seconds: number,
  ways: Record<K, (h: History) => number>,
): Record<K, { rate: number; vsFirst: number }> {
  const names = Object.keys(ways) as K[];
  const totals = names.map(() => ({ events: 0, seconds: 0 }));
  const ratios: number[][] = names.map(() => []);
  for (let turn = 0; turn < Math.max(1, Math.round(seconds / 0.25)); turn++) {
    const rates = names.map((name, i) => {
      const round = ways[name];
      let events = 0;
      const started = performance.now();
      do {
        for (const h of histories) events += round(h);
      } while (performance.now() - started < 250);
      const elapsed = (performance.now() - started) / 1000;
      const total = totals[i];
      if (total) {
        total.events += events;
        total.seconds += elapsed;
      }
      return events / elapsed;
    });
    rates.forEach((rate, i) => ratios[i]?.push(rate / (rates[0] ?? rate)));
  }
  return Object.fromEntries(
    names.map((name, i) => {
      const total = totals[i] ?? { events: 0, seconds: 1 };
      return [name, { rate: total.events / total.seconds, vsFirst: median(ratios[i] ?? []) }];
    }),
  ) as Record<K, { rate: number; vsFirst: number }>;
}

/** Each way's cost against the first's (median over turns of short slices, as in measure()). */
function perCall<K extends string>(seconds: number, ways: Record<K, () => void>): Record<K, number> {
  const names = Object.keys(ways) as K[];
  const ratios: number[][] = names.map(() => []);
  for (let turn = 0; turn < 20; turn++) {
    const costs = names.map((name) => {
      let calls = 0;
      const started = performance.now();
      do {
        ways[name]();
        calls++;
      } while (performance.now() - started < (seconds * 1000) / 20 / names.length);
      return (performance.now() - started) / calls;
    });
    costs.forEach((cost, i) => ratios[i]?.push(cost / (costs[0] ?? cost)));
  }
  return Object.fromEntries(names.map((name, i) => [name, median(ratios[i] ?? [])])) as Record<K, number>;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** The baseline: what any consumer of the events pays anyway — copy, sort by time, walk them once. */
function sortAndWalk({ events }: History): number {
  const sorted = events
    .map((event) => ({ event, ms: Date.parse(event.occurredAt) }))
    .sort((a, b) => a.ms - b.ms || (a.event.eventId < b.event.eventId ? -1 : 1));
  let touched = 0;
  for (const { event } of sorted) touched += event.type.length;
  return touched > 0 ? sorted.length : 0;
}

/** The whole history in one call, as a first scoring or a replay does. */
function scoreAtOnce(now: Date) {
  return ({ lead, events }: History): number => {
    applyEvents(lead, events, defaultModel, now);
    return events.length;
  };
}

/** Event by event, as the stream pipeline mostly does (each call decays, re-explains and re-stages the lead). */
function scoreOneByOne(now: Date) {
  return ({ lead, events }: History): number => {
    let current = lead;
    for (const event of events) current = applyEvents(current, [event], defaultModel, now).lead;
    return events.length;
  };
}

/** A probe event `days` after `atMs`: what typically comes next in a nurtured lead's log. */
function probe(leadId: string, atMs: number, i: number): LeadEvent {
  const kinds: [EventType, EventProperties][] = [
    ['email_sent', {}],
    ['email_delivered', {}],
    ['email_opened', {}],
    ['page_viewed', { url: 'https://x.io/pricing' }],
    ['email_clicked', { link: 'https://x.io/blog' }],
  ];
  const [type, properties] = kinds[i % kinds.length] ?? ['email_opened', {}];
  const at = new Date(atMs + (i + 1) * 0.25 * DAY_MS).toISOString();
  return { eventId: `${leadId}-probe-${i}`, leadId, type, occurredAt: at, receivedAt: at, source: 'api', properties };
}

interface Prior {
  lead: Lead;
  probes: LeadEvent[];
}

/** Leads scored from their first `prior` events, each with the same five probe events to apply next. */
function leadsWithPrior(prior: number, count: number): Prior[] {
  const rnd = random(7);
  const weeks = Math.ceil(prior / 2.5) + 4;
  return Array.from({ length: count }, (_, i) => {
    const { lead, events } = history(10_000 + i, weeks, rnd);
    const before = events.slice(0, prior);
    const lastMs = Math.max(...before.map((e) => Date.parse(e.occurredAt)));
    const scored = applyEvents(lead, before, defaultModel, new Date(lastMs)).lead;
    return { lead: scored, probes: Array.from({ length: 5 }, (_, k) => probe(lead.leadId, lastMs, k)) };
  });
}

/** Nanoseconds per call of applying one probe event to a lead with prior events (the lead is not modified). */
function costPerCall(leads: readonly Prior[], seconds: number): number {
  let calls = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    for (const { lead, probes } of leads) {
      for (const event of probes) applyEvents(lead, [event], defaultModel, new Date(event.occurredAt));
      calls += probes.length;
    }
    elapsed = performance.now() - started;
  } while (elapsed < seconds * 1000);
  return (elapsed * 1e6) / calls;
}

export function main(args: readonly string[] = process.argv.slice(2)): void {
  const leads = Number(args[0] ?? 500);
  const seconds = Number(args[1] ?? 2);
  const weeks = 26;
  const rnd = random(42);
  const histories = Array.from({ length: leads }, (_, i) => history(i, weeks, rnd));
  const total = histories.reduce((sum, h) => sum + h.events.length, 0);
  const now = new Date(START + weeks * 7 * DAY_MS);

  // Warm up the JIT on every path before timing anything.
  for (const round of [sortAndWalk, scoreAtOnce(now), scoreOneByOne(now)]) histories.slice(0, 50).forEach(round);

  const { baseline, atOnce, oneByOne } = measure(histories, seconds, {
    baseline: sortAndWalk,
    atOnce: scoreAtOnce(now),
    oneByOne: scoreOneByOne(now),
  });

  const rate = (n: number): string => `${Math.round(n).toLocaleString('en-US').padStart(12)} events/s`;
  const ratio = (r: number, goal: string): string => `${r.toFixed(3)}x baseline   (goal ${goal})`;
  console.log(`scoring benchmark: ${leads} leads, ${total} events (${(total / leads).toFixed(1)} per lead), one core`);
  console.log(`  baseline (sort + walk)          ${rate(baseline.rate)}`);
  console.log(`  applyEvents, whole history      ${rate(atOnce.rate)}   ${ratio(atOnce.vsFirst, '>= 0.25x')}`);
  console.log(`  applyEvents, one event per call ${rate(oneByOne.rate)}   ${ratio(oneByOne.vsFirst, '>= 0.10x')}`);

  // One more event on a lead that already has N events: the cost should not grow with N. Leads are scored from
  // their first N events; the same five kinds of next event are applied to each (fresh from the stored lead).
  const priors = [10, 100, 500, 2000];
  const sets = priors.map((prior) => leadsWithPrior(prior, 40));
  sets.forEach((set) => costPerCall(set, 0.2));
  // Sizes take turns in short slices, as in measure(); each ratio is the median over turns of the cost against the
  // cost after 10 prior events in the same turn.
  const turns = 20;
  const costs: number[][] = priors.map(() => []);
  for (let turn = 0; turn < turns; turn++) sets.forEach((set, i) => costs[i]?.push(costPerCall(set, seconds / turns)));
  const kept = (set: readonly Prior[]): number =>
    set.reduce((n, { lead }) => n + (lead.scores?.contributions.length ?? 0), 0) / set.length;
  priors.forEach((prior, i) => {
    const mine = costs[i] ?? [];
    const ns = median(mine);
    const vs10 = median(mine.map((cost, turn) => cost / (costs[0]?.[turn] ?? cost)));
    const set = sets[i] ?? [];
    console.log(
      `  one event after ${String(prior).padStart(4)} prior      ${(ns / 1000).toFixed(2).padStart(8)} µs per call   ` +
        `${vs10.toFixed(2)}x the cost after 10${prior === 2000 ? '   (goal <= 2x)' : ''}   (${kept(set).toFixed(1)} contributions kept)`,
    );
  });

  // Where a call goes, in units of one Date.parse of an ISO date (about what the baseline pays per event): a call
  // with no event at all (rescore), and fit scored from the profile alone, on the leads with 10 prior events.
  const few = sets[0] ?? [];
  const fit = compile(defaultModel).fit;
  const dates = few.map(({ probes }) => probes[0]?.occurredAt ?? '');
  const units = perCall(seconds, {
    parse: () => dates.reduce((n, d) => n + Date.parse(d), 0),
    oneEvent: () => few.forEach(({ lead, probes }) => applyEvents(lead, probes.slice(2, 3), defaultModel, now)),
    noEvent: () => few.forEach(({ lead }) => rescore(lead, defaultModel, now)),
    fitOnly: () => few.forEach(({ lead }) => scoreFit(lead, fit)),
  });
  console.log(
    `  a call after 10 prior, in Date.parses: ${units.oneEvent.toFixed(1)} with one event, ` +
      `${units.noEvent.toFixed(1)} with none, of which ${units.fitOnly.toFixed(1)} fit from the profile`,
  );

  // The model preview (`leadloop simulate`) replays every lead twice (current and candidate model): time per 10,000
  // leads of this shape, against replaying them once under one model as the in-run baseline.
  const stricter = parseModel({
    ...defaultModel,
    thresholds: { ...defaultModel.thresholds, mql: { fit: 20, engagement: 25 } },
  });
  const t0 = performance.now();
  for (const h of histories) applyEvents(h.lead, h.events, defaultModel, now);
  const once = performance.now() - t0;
  const t1 = performance.now();
  const comparison = compareModels(histories, defaultModel, stricter, now);
  const preview = performance.now() - t1;
  const per10k = (ms: number) => `${(((ms / leads) * 10_000) / 1000).toFixed(2).padStart(8)} s per 10,000 leads`;
  console.log(`  one replay of every lead        ${per10k(once)}`);
  console.log(
    `  simulate (two replays, compare) ${per10k(preview)}   simulate/replay ${(preview / once).toFixed(2)}x   (${comparison.changed} of ${comparison.leads} would change stage)`,
  );
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) main();
