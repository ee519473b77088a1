import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import {
  LEAD_PROMOTED,
  LEAD_STAGE_CHANGED,
  promotionIdFor,
  type OutboxRecord,
} from '../../lambdas/domain/lead-events.js';
import { newLead, type Lead, type StageTransition } from '../../lambdas/domain/lead.js';
import { publishOutbox, type LifecyclePublisher, type OutboxKey } from '../../lambdas/domain/publish-lead-events.js';
import { ConflictError } from '../../lambdas/domain/errors.js';
import { testRepository } from '../support/dynamo.js';

/**
 * The promotion outbox against DynamoDB Local (issue 11): lifecycle events are recorded in the commit that makes the
 * transition, and published once from there — through redeliveries, concurrent publishers, a publisher that dies
 * between its claim and the bus, and a bus that refuses.
 */

const { repo } = testRepository();

/** A bus that records what it took, and can refuse or die on demand. */
function bus(opts: { refuse?: (r: OutboxRecord) => boolean; dieOnce?: boolean } = {}) {
  const taken: OutboxRecord[] = [];
  let died = false;
  const publisher: LifecyclePublisher = {
    publish: async (records) => {
      if (opts.dieOnce && !died) {
        died = true;
        throw new Error('the process died before the bus answered');
      }
      const failed = records.filter((r) => opts.refuse?.(r) ?? false).map((r) => r.eventId);
      taken.push(...records.filter((r) => !failed.includes(r.eventId)));
      return { failed };
    },
  };
  return { taken, publisher };
}

/** A stored lead moved to `to` by a commit with one transition, as scoring commits it. */
async function moveTo(to: Lead['stage'], at = new Date().toISOString()): Promise<{ lead: Lead; t: StageTransition }> {
  const created = newLead(ulid(), `${ulid().toLowerCase()}@example-corp.com`, new Date(at));
  await repo.createLead(created);
  const t: StageTransition = { from: created.stage, to, reason: 'demo requested', rule: 'threshold:sql', at };
  const lead: Lead = {
    ...created,
    stage: to,
    stageReason: t.reason,
    stageChangedAt: at,
    bant: { budget: '50k', timeline: 'this quarter' },
    version: 1,
  };
  await repo.commitScoring(lead, [], [t]);
  return { lead, t };
}

const outboxOf = async (leadId: string): Promise<OutboxKey[]> =>
  (await repo.partitionItems(leadId))
    .filter((i) => String(i.sk).startsWith('OUTBOX#'))
    .map((i) => ({ leadId, eventId: String(i.eventId) }));

const clock = { now: () => new Date() };

describe('the lifecycle outbox', () => {
  it('records the stage change and the promotion in the commit that makes a lead an SQL', async () => {
    const { lead, t } = await moveTo('sql');

    const items = (await repo.partitionItems(lead.leadId)).filter((i) => String(i.sk).startsWith('OUTBOX#'));

    expect(items.map((i) => i.type).sort()).toEqual([LEAD_PROMOTED, LEAD_STAGE_CHANGED].sort());
    const promotion = items.find((i) => i.type === LEAD_PROMOTED);
    expect(promotion?.eventId).toBe(promotionIdFor(lead.leadId, t.at));
    expect(promotion?.detail).toMatchObject({
      lead: { leadId: lead.leadId, stage: 'sql' },
      bant: { budget: '50k', timeline: 'this quarter' },
      trigger: { rule: 'threshold:sql', reason: 'demo requested' },
    });
  });

  it('records nothing when the commit loses its race: no event without its transition', async () => {
    const { lead } = await moveTo('mql');
    const before = await outboxOf(lead.leadId);
    const at = new Date().toISOString();
    const stale: Lead = { ...lead, stage: 'sql', stageChangedAt: at, version: lead.version }; // not version + 1

    const error = await repo
      .commitScoring(stale, [], [{ from: 'mql', to: 'sql', reason: 'r', rule: 'threshold:sql', at }])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConflictError);
    expect(await outboxOf(lead.leadId)).toEqual(before);
  });

  it('publishes each event once, however often its record is delivered', async () => {
    const { lead } = await moveTo('sql');
    const keys = await outboxOf(lead.leadId);
    const b = bus();

    const first = await publishOutbox({ outbox: repo, publisher: b.publisher, clock }, keys);
    const again = await publishOutbox({ outbox: repo, publisher: b.publisher, clock }, keys);
    const replayed = await publishOutbox({ outbox: repo, publisher: b.publisher, clock }, [...keys, ...keys]);

    expect(first.published.sort()).toEqual(keys.map((k) => k.eventId).sort());
    expect(again).toEqual({ published: [], alreadyPublished: expect.any(Array), retry: [] });
    expect(replayed.published).toEqual([]);
    expect(b.taken).toHaveLength(2);
  });

  it('publishes once when many publishers get the same records at the same time', async () => {
    const { lead } = await moveTo('sql');
    const keys = await outboxOf(lead.leadId);
    const b = bus();

    const results = await Promise.all(
      Array.from({ length: 8 }, () => publishOutbox({ outbox: repo, publisher: b.publisher, clock }, keys)),
    );

    expect(b.taken.map((r) => r.eventId).sort()).toEqual(keys.map((k) => k.eventId).sort());
    // Those that found a record claimed by another are told to retry (the stream does), never to drop it.
    expect(results.flatMap((r) => r.retry).every((id) => keys.some((k) => k.eventId === id))).toBe(true);
  });

  it('never loses an event whose publisher died after claiming it: published once its lease expires', async () => {
    const { lead } = await moveTo('sql');
    const keys = await outboxOf(lead.leadId);
    const b = bus({ dieOnce: true });
    let now = Date.now();
    const moving = { now: () => new Date(now) };

    const crashed = await publishOutbox(
      { outbox: repo, publisher: b.publisher, clock: moving, leaseMs: 1_000 },
      keys,
    ).catch((e: unknown) => e);
    const meanwhile = await publishOutbox(
      { outbox: repo, publisher: b.publisher, clock: moving, leaseMs: 1_000 },
      keys,
    );
    now += 1_001;
    const afterLease = await publishOutbox(
      { outbox: repo, publisher: b.publisher, clock: moving, leaseMs: 1_000 },
      keys,
    );

    expect(crashed).toBeInstanceOf(Error);
    expect(meanwhile.retry.sort()).toEqual(keys.map((k) => k.eventId).sort());
    expect(afterLease.published.sort()).toEqual(keys.map((k) => k.eventId).sort());
    expect(b.taken).toHaveLength(2);
  });

  it('retries an event the bus refused, and publishes it once later', async () => {
    const { lead } = await moveTo('sql');
    const keys = await outboxOf(lead.leadId);
    let refusing = true;
    const b = bus({ refuse: (r) => refusing && r.type === LEAD_PROMOTED });
    const refused = await publishOutbox({ outbox: repo, publisher: b.publisher, clock }, keys);
    refusing = false;
    // The refused event's claim was given up: the next attempt publishes it at once.
    const later = await publishOutbox({ outbox: repo, publisher: b.publisher, clock }, keys);

    expect(refused.retry).toHaveLength(1);
    expect(later.published).toEqual(refused.retry);
    expect(b.taken.filter((r) => r.type === LEAD_PROMOTED)).toHaveLength(1);
  });
});
