import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Tally } from '../../lambdas/domain/model-lab/backtest.js';
import type { LeadLog } from '../../lambdas/domain/model-lab/replay.js';
import type { ComparisonTally } from '../../lambdas/domain/simulation.js';
import { foldFor, type AnalysisTask, type Fold } from './fold.js';

/**
 * Folds the leads of a stream with the task's fold, in this thread (`workers: 0`) or spread over worker threads
 * that take batches of leads while this thread keeps reading: scoring is CPU-bound, reading is I/O, and a batch in
 * flight per worker keeps both busy. At most `inFlight` batches per worker wait, so memory stays bounded.
 */
export interface PoolOptions {
  /** Worker threads; 0 folds in this thread. @default the machine's cores minus one, at least 1 */
  readonly workers?: number;
  /** Leads per message to a worker. @default 200 */
  readonly batchSize?: number;
  /** Batches queued per worker at most. @default 2 */
  readonly inFlight?: number;
}

export const defaultWorkers = (): number => Math.max(1, availableParallelism() - 1);

export function foldLeads(
  task: Extract<AnalysisTask, { kind: 'backtest' }>,
  source: AsyncIterable<LeadLog>,
  options?: PoolOptions,
): Promise<Tally>;
export function foldLeads(
  task: Extract<AnalysisTask, { kind: 'simulate' }>,
  source: AsyncIterable<LeadLog>,
  options?: PoolOptions,
): Promise<ComparisonTally>;
export async function foldLeads(
  task: AnalysisTask,
  source: AsyncIterable<LeadLog>,
  options: PoolOptions = {},
): Promise<Tally | ComparisonTally> {
  const fold = foldFor(task) as Fold<Tally | ComparisonTally>;
  const workers = options.workers ?? defaultWorkers();
  if (workers <= 0) {
    for await (const log of source) fold.add(log);
    return fold.result();
  }
  const batchSize = options.batchSize ?? 200;
  const inFlight = options.inFlight ?? 2;
  const pool = Array.from({ length: workers }, () => {
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: task });
    const state = { worker, queued: 0, wake: undefined as (() => void) | undefined, failed: undefined as unknown };
    worker.on('message', (m: { type: string }) => {
      if (m.type !== 'ack') return;
      state.queued--;
      const wake = state.wake;
      state.wake = undefined;
      wake?.();
    });
    worker.on('error', (e) => {
      state.failed = e;
      state.wake?.();
    });
    return state;
  });
  let waiting: (() => void) | undefined;
  for (const s of pool) {
    s.worker.on('message', () => waiting?.());
    s.worker.on('error', () => waiting?.());
  }
  const freeWorker = async () => {
    for (;;) {
      const failed = pool.find((s) => s.failed !== undefined);
      if (failed) throw failed.failed;
      const free = pool.filter((s) => s.queued < inFlight).sort((a, b) => a.queued - b.queued)[0];
      if (free) return free;
      await new Promise<void>((r) => (waiting = r));
    }
  };
  try {
    let batch: LeadLog[] = [];
    const send = async () => {
      const target = await freeWorker();
      target.queued++;
      target.worker.postMessage({ type: 'batch', logs: batch });
      batch = [];
    };
    for await (const log of source) {
      batch.push(log);
      if (batch.length >= batchSize) await send();
    }
    if (batch.length > 0) await send();
    const tallies = await Promise.all(
      pool.map(
        (s) =>
          new Promise<Tally | ComparisonTally>((resolve, reject) => {
            if (s.failed !== undefined) reject(s.failed);
            s.worker.on('message', (m: { type: string; tally?: Tally | ComparisonTally }) => {
              if (m.type === 'result' && m.tally) resolve(m.tally);
            });
            s.worker.on('error', reject);
            s.worker.postMessage({ type: 'finish' });
          }),
      ),
    );
    return tallies.reduce((a, b) => fold.merge(a, b));
  } finally {
    await Promise.all(pool.map((s) => s.worker.terminate()));
  }
}
