import type { OutboxRecord } from './lead-events.js';

/**
 * Publishing the outbox (DESIGN §5): each lifecycle event recorded with its transition is published once. A
 * publisher claims the item first (a lease), publishes, then marks it published; a redelivered stream record finds it
 * published and does nothing, a concurrent one finds it claimed and is retried later (by then published, or its lease
 * expired because its publisher died — then it publishes). Only a publisher that dies after the bus took the event and
 * before it marked it can cause a second publication; consumers dedupe on the event's stable id.
 */

export interface OutboxKey {
  leadId: string;
  eventId: string;
}

export type ClaimResult =
  { kind: 'claimed'; record: OutboxRecord } | { kind: 'published' } | { kind: 'in_flight' } | { kind: 'gone' };

export interface OutboxStore {
  /** Claims an unpublished outbox item for `leaseMs` (a conditional write), or says why it cannot. */
  claimOutbox(key: OutboxKey, now: Date, leaseMs: number): Promise<ClaimResult>;
  markPublished(key: OutboxKey, at: Date): Promise<void>;
  /** Gives a claim up (the bus refused the event): the next attempt may claim it at once. */
  releaseClaim(key: OutboxKey): Promise<void>;
}

export interface LifecyclePublisher {
  /** Puts the events on the bus; returns the ids of those the bus did not take. */
  publish(records: readonly OutboxRecord[]): Promise<{ failed: string[] }>;
}

export interface PublishDeps {
  outbox: OutboxStore;
  publisher: LifecyclePublisher;
  clock: { now(): Date };
  /**
   * How long a claim holds before another publisher may take over: longer than a publisher can take between its claim
   * and its mark (the publisher function's timeout). @default 30 s
   */
  leaseMs?: number;
}

export interface PublishResult {
  published: string[];
  /** Already published (a redelivery): nothing to do. */
  alreadyPublished: string[];
  /** Not published now (claimed by another publisher, or the bus refused it): the caller retries these. */
  retry: string[];
}

/** Claims, publishes and marks the given outbox items; what cannot be published now is returned to retry. */
export async function publishOutbox(deps: PublishDeps, keys: readonly OutboxKey[]): Promise<PublishResult> {
  const now = deps.clock.now();
  const result: PublishResult = { published: [], alreadyPublished: [], retry: [] };
  const claimed: { key: OutboxKey; record: OutboxRecord }[] = [];
  for (const key of keys) {
    const claim = await deps.outbox.claimOutbox(key, now, deps.leaseMs ?? 30_000);
    switch (claim.kind) {
      case 'claimed':
        claimed.push({ key, record: claim.record });
        break;
      case 'published':
      case 'gone':
        result.alreadyPublished.push(key.eventId);
        break;
      case 'in_flight':
        result.retry.push(key.eventId);
        break;
    }
  }
  // EventBridge takes ten entries per call.
  for (let i = 0; i < claimed.length; i += 10) {
    const chunk = claimed.slice(i, i + 10);
    const { failed } = await deps.publisher.publish(chunk.map((c) => c.record));
    for (const c of chunk) {
      if (failed.includes(c.record.eventId)) {
        await deps.outbox.releaseClaim(c.key);
        result.retry.push(c.key.eventId);
        continue;
      }
      await deps.outbox.markPublished(c.key, deps.clock.now());
      result.published.push(c.key.eventId);
    }
  }
  return result;
}
