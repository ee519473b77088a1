/**
 * Redriving the scoring DLQ (issue 13): the dead-letter queue of the table stream's mapping holds only pointers into
 * the stream (which keeps records 24 h), never the events. The events themselves stay findable: an event is in the
 * pending index until it is applied. So a redrive re-scores every lead that still has unapplied events (the ones the
 * DLQ's records stood for among them, however old), and deletes the DLQ messages once all of them were scored.
 */

/** One dead-lettered stream batch, as the queue delivered it. */
export interface DeadLetterMessage {
  /** What deletes it (an SQS receipt handle). */
  handle: string;
  body: string;
}

/** The scoring DLQ, as redrive reads and empties it. */
export interface DeadLetterQueue {
  /** Every message now visible (each received once). */
  receiveAll(): Promise<DeadLetterMessage[]>;
  /** Deletes the messages these handles were received with; throws unless all of them were deleted. */
  remove(handles: readonly string[]): Promise<void>;
}

export interface RedriveDeps {
  /** The DLQ; absent where it cannot be reached (the leads are re-scored all the same). */
  deadLetters?: DeadLetterQueue;
  /** Leads with events not applied yet that were received before `before`, with those events' ids. */
  pendingLeads(before: Date): Promise<Map<string, string[]>>;
  /** Scores a lead's pending events as the stream's consumer would (nurture follow-up included where it can). */
  score(leadId: string, eventIds: readonly string[]): Promise<{ applied: number; invalid: number }>;
  now(): Date;
}

export interface RedriveSummary {
  messages: number;
  /** Messages deleted: all of them when every lead was scored, else none (a later redrive tries again). */
  deleted: number;
  leads: number;
  applied: number;
  /** Pending events that can never be applied (they no longer fit the event schema): left pending, reported. */
  invalid: number;
  failed: { leadId: string; error: string }[];
}

/** Re-scores every lead with pending events received before `olderThanMs` ago, then clears the DLQ. */
export async function redrive(deps: RedriveDeps, opts: { olderThanMs?: number } = {}): Promise<RedriveSummary> {
  const messages = (await deps.deadLetters?.receiveAll()) ?? [];
  const before = new Date(deps.now().getTime() - (opts.olderThanMs ?? 0));
  const leads = await deps.pendingLeads(before);
  const summary: RedriveSummary = {
    messages: messages.length,
    deleted: 0,
    leads: leads.size,
    applied: 0,
    invalid: 0,
    failed: [],
  };
  for (const [leadId, eventIds] of leads) {
    try {
      const result = await deps.score(leadId, eventIds);
      summary.applied += result.applied;
      summary.invalid += result.invalid;
    } catch (e) {
      summary.failed.push({ leadId, error: e instanceof Error ? e.message : String(e) });
    }
  }
  if (summary.failed.length === 0 && deps.deadLetters && messages.length > 0) {
    await deps.deadLetters.remove(messages.map((m) => m.handle));
    summary.deleted = messages.length;
  }
  return summary;
}
