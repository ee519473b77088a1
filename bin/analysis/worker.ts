import { parentPort, workerData } from 'node:worker_threads';
import type { LeadLog } from '../../lambdas/domain/model-lab/replay.js';
import { AnalysisTask, foldFor } from './fold.js';

/** Messages from the pool: a batch of leads to fold, or the end (answer with the tally). */
type Message = { type: 'batch'; logs: LeadLog[] } | { type: 'finish' };

const port = parentPort;
if (!port) throw new Error('bin/analysis/worker.ts runs as a worker thread');
const fold = foldFor(AnalysisTask.parse(workerData));
port.on('message', (message: Message) => {
  if (message.type === 'batch') {
    for (const log of message.logs) fold.add(log);
    port.postMessage({ type: 'ack' });
  } else {
    port.postMessage({ type: 'result', tally: fold.result() });
  }
});
