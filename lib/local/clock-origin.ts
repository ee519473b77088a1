import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as z from 'zod';
import { scaledClock } from '../../lambdas/domain/clock.js';

const SavedClock = z.object({ origin: z.iso.datetime(), daySeconds: z.number().positive() });

/**
 * The origin of the local scaled clock (the real instant at which simulated time equals real time), kept in the
 * data dir so that simulated time carries on across restarts instead of jumping back to today. Simulated time keeps
 * running while the stack is stopped, as real time does.
 *
 * When `daySeconds` changed since the last run, the origin is moved so that simulated time is continuous at the
 * restart (dates already stored stay in the past). At real speed (86400) a simulated time ahead of real time cannot
 * be kept: the clock falls back to real time and `note` says so.
 */
export function resolveClockOrigin(opts: { file?: string; daySeconds: number; now?: Date }): {
  origin: Date;
  note?: string;
} {
  const now = opts.now ?? new Date();
  const save = (origin: Date) => {
    if (!opts.file) return;
    mkdirSync(dirname(opts.file), { recursive: true });
    writeFileSync(
      opts.file,
      `${JSON.stringify({ origin: origin.toISOString(), daySeconds: opts.daySeconds }, null, 2)}\n`,
    );
  };
  const saved =
    opts.file && existsSync(opts.file) ? SavedClock.safeParse(safeJson(readFileSync(opts.file, 'utf8'))) : undefined;
  if (!saved?.success) {
    save(now);
    return saved
      ? { origin: now, note: `clock file ${opts.file} was unreadable; simulated time restarts at real time` }
      : { origin: now };
  }
  const previous = { origin: new Date(saved.data.origin), daySeconds: saved.data.daySeconds };
  if (previous.daySeconds === opts.daySeconds) return { origin: previous.origin };

  const simulatedNow = scaledClock(previous.daySeconds, previous.origin, () => now.getTime())
    .now()
    .getTime();
  const speed = 86_400 / opts.daySeconds;
  if (speed === 1) {
    save(now);
    return simulatedNow === now.getTime()
      ? { origin: now }
      : {
          origin: now,
          note: `at real speed simulated time cannot stay at ${new Date(simulatedNow).toISOString()}; it is real time again`,
        };
  }
  // Solve origin + (now - origin) * speed = simulatedNow for origin.
  const origin = new Date(Math.round((simulatedNow - now.getTime() * speed) / (1 - speed)));
  save(origin);
  return { origin };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
