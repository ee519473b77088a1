import { DAY_MS } from '../../../lambdas/domain/clock.js';
import type { EventProperties, EventType, LeadEvent } from '../../../lambdas/domain/events.js';
import { newLead, type Lead } from '../../../lambdas/domain/lead.js';
import { applyEvents, defaultModel, parseModel, type ScoringModel } from '../../../lambdas/domain/scoring/index.js';

/** Day 0 of every scenario. */
export const T0 = Date.parse('2025-01-06T09:00:00.000Z');

/** The instant `days` after day 0 (fractions allowed). */
export const day = (days: number): Date => new Date(T0 + days * DAY_MS);
export const isoDay = (days: number): string => day(days).toISOString();

/** A fresh lead created on day 0. */
export function freshLead(email = 'pat@acme-builders.com', leadId = 'lead-1'): Lead {
  return newLead(leadId, email, day(0));
}

let sequence = 0;

/** An event of `type` on day `days`; ids are unique unless given. */
export function eventOn(
  days: number,
  type: EventType,
  properties: EventProperties = {},
  eventId = `ev-${String(++sequence).padStart(6, '0')}`,
): LeadEvent {
  const at = isoDay(days);
  return { eventId, leadId: 'lead-1', type, occurredAt: at, receivedAt: at, source: 'api', properties };
}

/** Applies events with the default model (or `model`) as of day `nowDays`. */
export function applyOn(lead: Lead, events: LeadEvent[], nowDays: number, model: ScoringModel = defaultModel) {
  return applyEvents(lead, events, model, day(nowDays));
}

/** The default model with parts replaced (validated). */
export function modelWith(change: (model: ScoringModel) => void): ScoringModel {
  const copy = structuredClone(defaultModel);
  change(copy);
  return parseModel(copy);
}

/** Profile of a lead that fits the ideal customer profile well (fit 62 with the default model, 42 without BANT). */
export const IDEAL_PROFILE = {
  jobTitle: 'VP Operations',
  companySize: '201-1000',
  industry: 'Construction',
  budget: 'approved, $40k',
  timeline: 'this quarter',
} satisfies EventProperties;
