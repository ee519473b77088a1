import { DAY_MS, type Clock } from '../../../lambdas/domain/clock.js';
import type { LocalSchedule } from '../deployment.js';

/**
 * EventBridge Scheduler, locally: each schedule of the template fires on the stack's scaled clock at the times its
 * expression names (`cron(…)` in UTC, or `rate(…)`), starting its target with the target's input and Scheduler's
 * context attributes filled in (`<aws.scheduler.scheduled-time>` is the scheduled instant, not the start). A tick that
 * comes while the previous start is still running is skipped and reported with the next one.
 */

const MINUTE_MS = 60_000;

type Field = (n: number) => boolean;

/** One field of a cron expression: `*`, `?`, `5`, `1,15`, `1-5`, `*\/10`, `10/5`. */
function field(spec: string, min: number, names: readonly string[] = []): Field {
  if (spec === '*' || spec === '?') return () => true;
  const value = (s: string): number => {
    const named = names.indexOf(s.toUpperCase());
    if (named >= 0) return named + min;
    const n = Number(s);
    if (!Number.isInteger(n)) throw new Error(`cron field "${spec}" is not supported locally`);
    return n;
  };
  const parts = spec.split(',').map((part) => {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [min, Number.POSITIVE_INFINITY];
    else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      [lo, hi] = [value(a), value(b)];
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : Number.POSITIVE_INFINITY;
    }
    return (n: number) => n >= lo && n <= hi && (n - lo) % step === 0;
  });
  return (n) => parts.some((p) => p(n));
}

/** The next instant strictly after `after` that the expression names. */
export function nextScheduleAt(expression: string, after: Date): Date {
  const rate = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const unit = rate[2]?.startsWith('minute') ? MINUTE_MS : rate[2]?.startsWith('hour') ? 60 * MINUTE_MS : DAY_MS;
    return new Date(after.getTime() + Number(rate[1]) * unit);
  }
  const cron = /^cron\((.+)\)$/.exec(expression)?.[1]?.trim().split(/\s+/);
  if (!cron || cron.length !== 6) throw new Error(`schedule expression "${expression}" is not supported locally`);
  const [mi, h, dom, mon, dow, year] = cron as [string, string, string, string, string, string];
  const minute = field(mi, 0);
  const hour = field(h, 0);
  const dayOfMonth = field(dom, 1);
  const month = field(mon, 1, ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']);
  const dayOfWeek = field(dow, 1, ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']);
  const inYear = field(year, 1970);
  let t = Math.floor(after.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  for (let guard = 0; guard < 5 * 366;) {
    const d = new Date(t);
    const dayOk =
      inYear(d.getUTCFullYear()) &&
      month(d.getUTCMonth() + 1) &&
      dayOfMonth(d.getUTCDate()) &&
      dayOfWeek(d.getUTCDay() + 1);
    if (!dayOk) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      guard++;
      continue;
    }
    if (hour(d.getUTCHours()) && minute(d.getUTCMinutes())) return d;
    t += MINUTE_MS;
  }
  throw new Error(`schedule expression "${expression}" names no time in the next five years`);
}

export interface ScheduleRun {
  schedule: LocalSchedule;
  scheduledAt: Date;
  /** How many earlier ticks were skipped while a start was still running. */
  skipped: number;
}

export interface LocalScheduler {
  stop(): void;
}

export function startScheduler(opts: {
  schedules: readonly LocalSchedule[];
  clock: Clock;
  daySeconds: number;
  /** Starts the target; the next tick of this schedule is skipped until it resolves. */
  fire: (run: ScheduleRun, input: string) => Promise<unknown>;
}): LocalScheduler {
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  for (const schedule of opts.schedules) {
    if (!schedule.enabled) continue;
    if (!/^(Etc\/)?UTC$/.test(schedule.timezone)) {
      throw new Error(`schedule ${schedule.logicalId}: time zone ${schedule.timezone} is not supported locally`);
    }
    let running: Promise<unknown> | undefined;
    let skipped = 0;
    const arm = () => {
      if (stopped) return;
      const now = opts.clock.now();
      const next = nextScheduleAt(schedule.expression, now);
      const realMs = ((next.getTime() - now.getTime()) * opts.daySeconds) / 86_400;
      const timer = setTimeout(
        () => {
          if (running) skipped++;
          else {
            const input = schedule.input.replaceAll(
              '<aws.scheduler.scheduled-time>',
              next.toISOString().replace(/\.\d{3}Z$/, 'Z'),
            );
            running = opts
              .fire({ schedule, scheduledAt: next, skipped }, input)
              .catch(() => undefined)
              .finally(() => {
                running = undefined;
              });
            skipped = 0;
          }
          arm();
        },
        Math.min(2_147_483_647, Math.max(0, realMs)),
      );
      timer.unref();
      timers.push(timer);
    };
    arm();
  }
  return {
    stop: () => {
      stopped = true;
      for (const t of timers) clearTimeout(t);
    },
  };
}
