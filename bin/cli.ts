/**
 * `npm run leadloop -- <command> [options]`: the operator's commands against the local stack (DESIGN §9). Each command
 * lives in bin/commands/<command>.ts, exports a function that takes the remaining arguments and resolves to the exit
 * code, and is imported only when run (some pull in the CDK).
 */
import { parseArgs } from 'node:util';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  simulate: {
    summary: 'preview a scoring-model change: how many stored leads would change stage (writes nothing)',
    load: async () => (await import('./commands/simulate.js')).simulate,
  },
  backtest: {
    summary: 'how well the scoring model predicted what sales decided: precision, recall, lift, calibrated thresholds',
    load: async () => (await import('./commands/backtest.js')).backtest,
  },
  experiments: {
    summary: "does the nurture work: a track's holdout and content variants compared, with confidence intervals",
    load: async () => (await import('./commands/experiments.js')).experiments,
  },
  seed: {
    summary: 'fill the local stack with demo leads (--demo): personas with histories and sales outcomes',
    load: async () => (await import('./commands/seed.js')).seed,
  },
  sweep: {
    summary: 'run one requalification sweep now and print its summary',
    load: async () => (await import('./commands/sweep.js')).sweep,
  },
  runs: {
    summary: "nurture runs of the local stack, or one run's state history",
    load: async () => (await import('./commands/operator.js')).runs,
  },
  export: {
    summary: 'print everything stored about a lead (by --email) as JSON',
    load: async () => (await import('./commands/operator.js')).exportLead,
  },
  erase: {
    summary: 'erase a lead (by --email); only a hash of the address is kept so it is never re-added',
    load: async () => (await import('./commands/operator.js')).eraseLead,
  },
  redrive: {
    summary: "re-score the leads whose events were never applied (the scoring DLQ's records) and empty the DLQ",
    load: async () => (await import('./commands/redrive.js')).redrive,
  },
  backfill: {
    summary: 'give events stored before the keyed lookups and the pending index their lookup copies and index keys',
    load: async () => (await import('./commands/backfill.js')).backfill,
  },
  inject: {
    summary: 'inject an SES event (bounce, complaint, open, click, unsubscribe) into a running local stack',
    load: async () => (await import('./commands/inject.js')).inject,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: npm run leadloop -- <command> [options]   (<command> --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv.slice(0, 1),
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  const name = positionals[0];
  if (name === undefined || values.help) {
    console.log(usage());
    return name === undefined && !values.help ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`leadloop: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load())(argv.slice(1));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('leadloop:', e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
