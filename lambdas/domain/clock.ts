/**
 * The only source of "now" in the domain. On AWS it is the system clock; locally it is a scaled clock so that
 * waits, decay, dormancy, reviewAt and quiet hours all follow one simulated time (DESIGN §9).
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock fixed at (or moved by) the test; for tests and simulations. */
export function fixedClock(start: Date | string): Clock & { set(at: Date | string): void; advance(ms: number): void } {
  let current = new Date(start).getTime();
  return {
    now: () => new Date(current),
    set: (at) => {
      current = new Date(at).getTime();
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

/**
 * Simulated time that runs `86400 / daySeconds` times faster than real time, anchored at `origin` (a real instant
 * at which simulated and real time were equal).
 */
export function scaledClock(daySeconds: number, origin: Date, real: () => number = Date.now): Clock {
  const speed = 86_400 / daySeconds;
  const o = origin.getTime();
  return { now: () => new Date(o + (real() - o) * speed) };
}

export const DAY_MS = 86_400_000;
