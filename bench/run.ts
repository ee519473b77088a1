/**
 * `npm run bench`: every benchmark, one after the other, each in its own process (each starts its own in-memory
 * DynamoDB Local and imports the handlers with its own settings). Figures are printed, with in-run baselines and
 * ratios; bench/README.md records a run. Pass names to run some: `npm run bench -- scoring capture`.
 */
import { spawnSync } from 'node:child_process';

const BENCHES: Record<string, string[]> = {
  scoring: ['bench/scoring.ts'],
  capture: ['bench/capture.ts'],
  engagement: ['bench/engagement.ts'],
  nurture: ['bench/nurture.ts'],
  requalify: ['bench/requalify.ts'],
  soak: ['bench/soak.ts'],
  handoff: ['bench/handoff.ts'],
  'per-lead': ['bench/per-lead.ts'],
  'model-lab': ['bench/model-lab.ts'],
  coldstart: ['bench/coldstart.ts'],
};

const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(BENCHES);
let failed = 0;
for (const name of names) {
  const args = BENCHES[name];
  if (!args) {
    console.error(`unknown benchmark "${name}" (${Object.keys(BENCHES).join(', ')})`);
    process.exit(2);
  }
  console.log(`\n=== ${name} ===`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', ...args], { stdio: 'inherit' });
  if (run.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
