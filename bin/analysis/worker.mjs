// A worker thread of bin/analysis/pool.ts: registers tsx (workers do not inherit the CLI's TypeScript loader),
// then runs the fold.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
