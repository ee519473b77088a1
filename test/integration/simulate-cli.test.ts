import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { simulate } from '../../bin/commands/simulate.js';
import { ingestEvents } from '../../lambdas/domain/capture.js';
import { scorePendingEvents } from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import type { ModelComparison } from '../../lambdas/domain/simulation.js';
import { testCaptureDeps, uniqueEmail } from '../support/dynamo.js';

describe('leadloop simulate (model preview against the table)', () => {
  it('previews a stricter model without writing anything', async () => {
    const base = testCaptureDeps(new Date().toISOString());
    const email = uniqueEmail('preview');
    const t = (m: number) => new Date(Date.now() - (60 - m) * 60_000).toISOString();
    await ingestEvents(base.deps, [
      {
        eventId: 'p-1',
        email,
        type: 'content_download',
        occurredAt: t(1),
        properties: { jobTitle: 'VP Marketing', companySize: '800', industry: 'Technology' },
      },
      { eventId: 'p-2', email, type: 'webinar_registered', occurredAt: t(2) },
      { eventId: 'p-3', email, type: 'content_download', occurredAt: t(3), properties: { formId: 'guide' } },
      { eventId: 'p-4', email, type: 'pricing_page_viewed', occurredAt: t(4) },
    ]);
    const leadId = (await base.repo.findLeadIdByEmail(email)) as string;
    await scorePendingEvents(
      { leads: base.repo, clock: base.clock, apply: (l, e, now) => applyEvents(l, e, defaultModel, now) },
      leadId,
      ['p-1', 'p-2', 'p-3', 'p-4'],
    );
    const stored = await base.repo.getLead(leadId);
    expect(stored?.stage).toBe('mql');
    const historyBefore = await base.repo.stageHistory(leadId);

    const dir = mkdtempSync(join(tmpdir(), 'leadloop-sim-'));
    const file = join(dir, 'strict.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...defaultModel,
        thresholds: { ...defaultModel.thresholds, mql: { fit: 15, engagement: 1000 } },
      }),
    );
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    const code = await simulate([
      '--model',
      file,
      '--endpoint',
      process.env.AWS_ENDPOINT_URL_DYNAMODB as string,
      '--table',
      process.env.TABLE_NAME as string,
      '--json',
      '--examples',
      '1000',
    ]);
    log.mockRestore();

    expect(code).toBe(0);
    const comparison = JSON.parse(out.join('\n')) as ModelComparison & { sunset: Record<string, number> };
    expect(comparison.leads).toBeGreaterThanOrEqual(1);
    expect(Object.keys(comparison.sunset).sort()).toEqual(['exhausted', 'reengagement', 'reenrollable', 'sunset']);
    const moved = Object.values(comparison.examples)
      .flat()
      .find((e) => e.leadId === leadId);
    expect(moved).toMatchObject({ before: { stage: 'mql' }, after: { stage: 'lead' } });
    const after = await base.repo.getLead(leadId);
    expect(after).toEqual(stored);
    expect(await base.repo.stageHistory(leadId)).toEqual(historyBefore);
  });

  it('rejects an invalid model naming the rule and field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leadloop-sim-'));
    const file = join(dir, 'bad.json');
    const bad = structuredClone(defaultModel) as { fit: { rules: { id: string; pattern?: string }[] } };
    const rule = bad.fit.rules.find((r) => r.pattern !== undefined);
    if (rule) rule.pattern = '([unclosed';
    writeFileSync(file, JSON.stringify(bad));
    const err: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void err.push(String(s)));
    const code = await simulate(['--model', file, '--endpoint', process.env.AWS_ENDPOINT_URL_DYNAMODB as string]);
    spy.mockRestore();
    expect(code).toBe(2);
    expect(err.join('\n')).toContain(`"${rule?.id}"`);
    expect(err.join('\n')).toMatch(/pattern/);
  });
});
