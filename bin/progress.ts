import cliProgress from 'cli-progress';

/**
 * Progress of a long CLI run on stderr (stdout stays for the result, e.g. `--json`): a bar with the rate and an ETA
 * on a terminal, a plain line every few seconds when stderr is a file or a pipe (CI logs). Drawing is cli-progress's
 * (it handles terminal width, redraw throttling, cursor and notty scheduling); this module adds the rate and lets the
 * total grow when it was only an estimate (DynamoDB's ItemCount lags by hours).
 */
export interface Progress {
  /** The amount done so far, and a short note shown after it (e.g. `1,204 leads`). */
  update(done: number, note?: string): void;
  /** Ends at `done` of `done` (the total was an estimate), then stops. */
  finish(done: number, note?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** What is counted, e.g. `items`. */
  readonly unit: string;
  /** The expected total (an estimate is fine: it grows if exceeded). */
  readonly total?: number;
  /** @default process.stderr */
  readonly stream?: NodeJS.WriteStream;
  /** Between plain lines when not on a terminal. @default 5000 ms */
  readonly intervalMs?: number;
  /** Off draws nothing (e.g. `--no-progress`). @default true */
  readonly enabled?: boolean;
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');

export function startProgress(label: string, options: ProgressOptions): Progress {
  if (options.enabled === false) return { update: () => undefined, finish: () => undefined, stop: () => undefined };
  const stream = options.stream ?? process.stderr;
  const started = performance.now();
  let total = Math.max(1, options.total ?? 0);
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% | {done}/{expected} ${options.unit} | {rate} ${options.unit}/s | ETA {eta_formatted} | {note}`,
      barsize: 24,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: options.intervalMs ?? 5000,
      etaBuffer: 50,
      fps: 5,
      gracefulExit: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = (done: number, note: string) => ({
    done: count(done),
    expected: count(total),
    rate: count(done / Math.max(0.001, (performance.now() - started) / 1000)),
    note,
  });
  bar.start(total, 0, payload(0, ''));
  let last = '';
  return {
    update(done, note = last) {
      last = note;
      if (done > total) {
        total = done;
        bar.setTotal(total);
      }
      bar.update(done, payload(done, note));
    },
    finish(done, note = last) {
      total = Math.max(1, done);
      bar.setTotal(total);
      bar.update(done, payload(done, note));
      bar.stop();
    },
    stop() {
      bar.stop();
    },
  };
}
