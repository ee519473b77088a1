import { describe, expect, it } from 'vitest';
import { ScoringModel, ScoringModelError, defaultModel, parseModel } from '../../../lambdas/domain/scoring/index.js';

/** The default model as a plain object to break in one place. */
function broken(change: (model: Record<string, unknown> & typeof defaultModel) => void): unknown {
  const copy = structuredClone(defaultModel);
  change(copy);
  return copy;
}

function messageOf(input: unknown): string {
  try {
    parseModel(input);
  } catch (e) {
    if (e instanceof ScoringModelError) return e.message;
    throw e;
  }
  throw new Error('the model was accepted');
}

describe('parseModel', () => {
  it('accepts the shipped default model, and its own output', () => {
    expect(parseModel(defaultModel)).toEqual(defaultModel);
    expect(ScoringModel.safeParse(defaultModel).success).toBe(true);
  });

  it('names the fit rule and field of an invalid regular expression', () => {
    const input = broken((m) => {
      m.fit.rules.push({
        id: 'senior-title',
        label: 'Senior',
        op: 'pattern',
        field: 'jobTitle',
        pattern: '(senior',
        points: 5,
      });
    });
    expect(messageOf(input)).toBe('scoring model: fit rule "senior-title" field "pattern": invalid regular expression');
  });

  it('names the engagement rule of an unknown event type', () => {
    const input = broken((m) => {
      const rule = m.engagement.rules[0];
      if (rule) Object.assign(rule, { event: 'demo_requsted' });
    });
    expect(messageOf(input)).toBe(
      'scoring model: engagement rule "demo-requested" field "event": unknown event type "demo_requsted"',
    );
  });

  it('rejects duplicate rule ids across fit and engagement rules', () => {
    const input = broken((m) => {
      m.engagement.rules.push({ id: 'industry-icp', label: 'Dup', event: 'page_viewed', points: 1, intent: 'low' });
    });
    expect(messageOf(input)).toContain('engagement rule "industry-icp" field "id": duplicate rule id "industry-icp"');
  });

  it('rejects an invalid url filter, naming rule and field', () => {
    const input = broken((m) => {
      m.engagement.rules.push({
        id: 'bad-url',
        label: 'Bad',
        event: 'page_viewed',
        points: 1,
        intent: 'low',
        where: { url: '[' },
      });
    });
    expect(messageOf(input)).toContain('engagement rule "bad-url" field "where.url": invalid regular expression');
  });

  it('rejects grade bands out of order', () => {
    const input = broken((m) => {
      m.fit.grades.C = 30;
    });
    expect(messageOf(input)).toContain('field "fit.grades.C": must be lower than B (25)');
  });

  it('rejects a not-a-fit threshold above the MQL fit threshold', () => {
    const input = broken((m) => {
      m.thresholds.notAFit.fitBelow = 20;
    });
    expect(messageOf(input)).toContain('field "thresholds.notAFit.fitBelow": must not exceed mql.fit (15)');
  });

  it('rejects SQL thresholds below the MQL ones', () => {
    const input = broken((m) => {
      m.thresholds.sql.minFit = 10;
      m.thresholds.sql.minEngagement = 5;
    });
    const message = messageOf(input);
    expect(message).toContain('field "thresholds.sql.minFit": must be at least mql.fit (15)');
    expect(message).toContain('field "thresholds.sql.minEngagement": must be at least mql.engagement (15)');
  });

  it('requires an SQL to need a high-intent action', () => {
    const input = broken((m) => Object.assign(m.thresholds.sql, { requiresHighIntent: false }));
    expect(messageOf(input)).toContain('field "thresholds.sql.requiresHighIntent": must be true');
  });

  it('requires a positive MQL engagement threshold (decay only ever lowers engagement towards 0)', () => {
    const input = broken((m) => {
      m.thresholds.mql.engagement = 0;
    });
    expect(messageOf(input)).toContain('field "thresholds.mql.engagement": must be positive');
  });

  it('rejects an unknown op, naming the rule', () => {
    const input = broken((m) => {
      const rule = m.fit.rules[0];
      if (rule) Object.assign(rule, { op: 'matches' });
    });
    expect(messageOf(input)).toContain('fit rule "title-student-intern" field "op": op must be one of');
  });

  it('rejects an unknown field and a misspelled knob', () => {
    const input = broken((m) => {
      const rule = m.fit.rules[0];
      if (rule) Object.assign(rule, { field: 'title' });
      Object.assign(m.engagement, { halfLife: 10 });
    });
    const message = messageOf(input);
    expect(message).toContain('fit rule "title-student-intern" field "field": unknown field "title"');
    expect(message).toContain('Unrecognized key: "halfLife"');
  });

  it('rejects an empty or inverted range', () => {
    const input = broken((m) => {
      m.fit.rules.push({ id: 'r-empty', label: 'x', op: 'range', field: 'companySize', points: 1 });
      m.fit.rules.push({
        id: 'r-inverted',
        label: 'x',
        op: 'range',
        field: 'companySize',
        min: 50,
        max: 10,
        points: 1,
      });
    });
    const message = messageOf(input);
    expect(message).toContain('fit rule "r-empty" field "min": a range needs min, max or both');
    expect(message).toContain('fit rule "r-inverted" field "max": must be at least min (50)');
  });

  it('rejects a bounce-type filter on another event, and a high-intent rule that takes points', () => {
    const input = broken((m) => {
      m.engagement.rules.push({
        id: 'odd-filter',
        label: 'x',
        event: 'email_opened',
        points: 1,
        intent: 'low',
        where: { bounceType: 'permanent' },
      });
      m.engagement.rules.push({ id: 'odd-intent', label: 'x', event: 'demo_requested', points: -5, intent: 'high' });
    });
    const message = messageOf(input);
    expect(message).toContain('engagement rule "odd-filter" field "where.bounceType": only applies to email_bounced');
    expect(message).toContain('engagement rule "odd-intent" field "points": a high-intent rule must add points');
  });

  it('rejects a disqualifying rule that adds points, and email as lead-evidence field', () => {
    const input = broken((m) => {
      m.fit.rules.push({
        id: 'odd-dq',
        label: 'x',
        op: 'present',
        field: 'company',
        points: 5,
        disqualify: 'not_a_fit',
      });
      m.lifecycle.leadProfileFields.push('email');
    });
    const message = messageOf(input);
    expect(message).toContain('fit rule "odd-dq" field "points": a disqualifying rule cannot add points');
    expect(message).toContain('field "lifecycle.leadProfileFields.9": every lead has an email');
  });

  it('rejects a rule whose id is not a plain identifier, falling back to its position', () => {
    const input = broken((m) => {
      const rule = m.fit.rules[1];
      if (rule) Object.assign(rule, { id: 42 });
    });
    expect(messageOf(input)).toContain('fit rule "#1" field "id": must be a string');
  });

  it('rejects something that is not a model at all', () => {
    expect(() => parseModel('nope')).toThrow(ScoringModelError);
    expect(messageOf({})).toContain('field "fit"');
  });

  it('applies defaults for optional knobs', () => {
    const input = broken((m) => {
      const e: Record<string, unknown> = m.engagement;
      delete e.machinePoints;
      delete e.maxContributions;
    });
    const model = parseModel(input);
    expect(model.engagement.machinePoints).toBe(0);
    expect(model.engagement.maxContributions).toBe(50);
  });
});
