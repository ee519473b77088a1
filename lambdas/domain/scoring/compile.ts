import { DAY_MS } from '../clock.js';
import { NURTURE_RECORD_TYPES, type EventType } from '../events.js';
import { compileEngagementRule, type CompiledEngagementRule } from './engagement.js';
import { compileFit, fieldReader, type CompiledFit, type FieldReader } from './fit.js';
import type { FitField, ScoringModel } from './model.js';

/**
 * A validated model ready to score with: regular expressions compiled, rules indexed by event type, every duration in
 * milliseconds. Compiled once per model object and shared by every scoring run under it.
 */
export interface CompiledModel {
  readonly model: ScoringModel;
  readonly fit: CompiledFit;
  readonly rulesByType: ReadonlyMap<EventType, readonly CompiledEngagementRule[]>;
  readonly cappedRuleIds: ReadonlySet<string>;
  readonly halfLifeMs: number;
  readonly dormantMs: number;
  readonly coolOffMs: number;
  readonly highIntentWindowMs: number;
  readonly subscriberEvents: ReadonlySet<EventType>;
  readonly leadProfileFields: readonly FitField[];
  readonly leadProfileReaders: readonly FieldReader[];
}

const compiled = new WeakMap<ScoringModel, CompiledModel>();

/** Compiles a model once per model object (models are immutable values, so caching by identity is safe). */
export function compile(model: ScoringModel): CompiledModel {
  const cached = compiled.get(model);
  if (cached) return cached;
  const result: CompiledModel = {
    model,
    fit: compileFit(model.fit),
    rulesByType: indexByType(model.engagement.rules.map(compileEngagementRule)),
    cappedRuleIds: new Set(model.engagement.rules.filter((rule) => rule.cap !== undefined).map((rule) => rule.id)),
    halfLifeMs: model.engagement.halfLifeDays * DAY_MS,
    dormantMs: model.lifecycle.dormantAfterDays * DAY_MS,
    coolOffMs: model.lifecycle.coolOffDays * DAY_MS,
    highIntentWindowMs: model.thresholds.sql.highIntentWithinDays * DAY_MS,
    // Nurture's own records (a held-out touch) never make a subscriber a lead, whatever the model lists.
    subscriberEvents: new Set([...model.lifecycle.subscriberEvents, ...NURTURE_RECORD_TYPES]),
    leadProfileFields: model.lifecycle.leadProfileFields,
    leadProfileReaders: model.lifecycle.leadProfileFields.map(fieldReader),
  };
  compiled.set(model, result);
  return result;
}

function indexByType(rules: CompiledEngagementRule[]): Map<EventType, CompiledEngagementRule[]> {
  const byType = new Map<EventType, CompiledEngagementRule[]>();
  for (const rule of rules) byType.set(rule.rule.event, [...(byType.get(rule.rule.event) ?? []), rule]);
  return byType;
}
