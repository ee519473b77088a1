import * as z from 'zod';
import { SWEEP_STATES } from '../requalification.js';
import type { HistoryEvent, RunStatus } from './stepfunctions.js';

/** How far a run of the "Requalify leads" state machine has got: its shards planned and those finished. */
export interface SweepProgress {
  status: RunStatus;
  /** Shards the run planned (0 until it has). */
  shards: number;
  /** Shards swept to their end, or given up after their retries. */
  shardsDone: number;
}

const Planned = z.object({ shards: z.array(z.number()) });

/** Read from the run's history: the plan's shard list, and each shard's end state ("Shard swept" or "Shard failed"). */
export function sweepProgress(run: { status: RunStatus; history: readonly HistoryEvent[] }): SweepProgress {
  let shards = 0;
  let shardsDone = 0;
  for (const h of run.history) {
    if (h.type === 'StateExited' && h.state === SWEEP_STATES.planShards) {
      const planned = Planned.safeParse(h.output);
      if (planned.success) shards = planned.data.shards.length;
    }
    if (h.type === 'StateEntered' && (h.state === SWEEP_STATES.shardSwept || h.state === SWEEP_STATES.shardFailed)) {
      shardsDone++;
    }
  }
  return { status: run.status, shards, shardsDone };
}
