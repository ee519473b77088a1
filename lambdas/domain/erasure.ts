import type { NurtureRun } from './nurture/enrollment.js';
import type { NurtureStarter } from './nurture/ports.js';

/**
 * Erasure of a lead (DESIGN §8, `DELETE /leads/{leadId}`), in two parts:
 *
 * 1. **The tombstone**, one conditional transaction: the lead item is replaced by a tombstone (no personal data, out of
 *    every index), its identity is deleted, a keyed hash of the address is suppressed and an erasure record is put.
 *    From then on the lead reads as absent and every append to its partition (events, sends, claims, outbox items)
 *    fails its condition on the lead, so nothing written after the tombstone survives.
 * 2. **The sweep of the partition**, resumable and bounded per call: the lead's nurture run is stopped, then the
 *    partition's items are deleted page by page, the tombstone and the erasure record last. A call that runs out of
 *    time records its progress on the erasure record, whose stream record brings the erase worker back to go on.
 */

/** What the tombstone left to do: when it was asked for, the run to stop, how far the sweep got. */
export interface ErasureStatus {
  leadId: string;
  requestedAt: string;
  /** The nurture run that was active at the tombstone, until it is stopped. */
  run?: NurtureRun;
  runStopped: boolean;
  /** Items deleted so far (besides the tombstone and the erasure record). */
  itemsDeleted: number;
}

/** Storage of erasures (implemented by adapters/dynamo-lead-repository). */
export interface ErasureStore {
  /**
   * Writes the tombstone (see above). `requested` the first time, `already` if an erasure of the lead is under way,
   * undefined if there is no such lead.
   */
  requestErasure(
    leadId: string,
    at: Date,
  ): Promise<{ outcome: 'requested' | 'already'; status: ErasureStatus } | undefined>;
  /** The erasure under way, if any (none once it finished, or if none was asked for). */
  erasureStatus(leadId: string): Promise<ErasureStatus | undefined>;
  /** Deletes up to `limit` items of the partition other than the tombstone and the erasure record. */
  deletePartitionPage(leadId: string, limit: number): Promise<{ deleted: number; more: boolean }>;
  /** Records progress on the erasure record (its stream record brings the worker back). */
  recordErasureProgress(leadId: string, progress: { deleted: number; runStopped: boolean }): Promise<void>;
  /** Deletes the tombstone and the erasure record: nothing of the lead is left. */
  finishErasure(leadId: string): Promise<void>;
}

export interface ErasureDeps {
  store: ErasureStore;
  /** Stops the lead's nurture run; without it, an erasure with a run to stop is left to the erase worker. */
  nurture?: Pick<NurtureStarter, 'stop'>;
  /** Items deleted per page. @default 100 */
  pageSize?: number;
  /** Time kept back at the end of a call (ms). @default 1_000 */
  reserveMs?: number;
}

export type ErasureProgress = 'done' | 'in_progress';

/**
 * Goes on with the lead's erasure while `remainingMs()` leaves time: stops its run, deletes pages of its partition,
 * and finishes it (`done`) or, with `recordProgress`, writes how far it got (`in_progress`, the worker comes back).
 * Every step may run twice (a retried record, the admin call and the worker at once): deleting what is gone and
 * stopping a stopped run change nothing.
 */
export async function continueErasure(
  deps: ErasureDeps,
  leadId: string,
  remainingMs: () => number,
  opts: { recordProgress: boolean },
): Promise<ErasureProgress> {
  const status = await deps.store.erasureStatus(leadId);
  if (!status) return 'done';
  let runStopped = status.runStopped || status.run === undefined;
  if (!runStopped && status.run && deps.nurture) {
    await deps.nurture.stop(status.run);
    runStopped = true;
  }
  const reserve = deps.reserveMs ?? 1_000;
  let deleted = 0;
  let more = true;
  do {
    const page = await deps.store.deletePartitionPage(leadId, deps.pageSize ?? 100);
    deleted += page.deleted;
    more = page.more;
  } while (more && remainingMs() > reserve);
  // The run, stopped or not, can write nothing more (its touches check the lead); but the erasure is finished only once
  // it is stopped, so that no run of an erased lead is left waiting.
  if (!more && runStopped) {
    await deps.store.finishErasure(leadId);
    return 'done';
  }
  if (opts.recordProgress) await deps.store.recordErasureProgress(leadId, { deleted, runStopped });
  return 'in_progress';
}
