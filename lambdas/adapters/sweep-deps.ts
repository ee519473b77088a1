import * as z from 'zod';
import type { Clock } from '../domain/clock.js';
import type { NurtureStarter } from '../domain/nurture/ports.js';
import type { Track } from '../domain/nurture/tracks.js';
import { requalify } from '../domain/requalification.js';
import type { ScoringModel } from '../domain/scoring/model.js';
import { DEFAULT_SWEEP_LIMITS, type SweepDeps, type SweepLimits } from '../domain/sweep.js';
import type { DynamoLeadRepository } from './dynamo-lead-repository.js';

/** The sweep's knobs, from the function's environment (set by lib/requalification.ts). */
const SweepEnv = z.object({
  SWEEP_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(DEFAULT_SWEEP_LIMITS.pageSize),
  SWEEP_RESERVE_MS: z.coerce.number().int().min(0).default(DEFAULT_SWEEP_LIMITS.reserveMs),
});

export function sweepLimits(env: NodeJS.ProcessEnv = process.env): SweepLimits {
  const e = SweepEnv.parse(env);
  return { pageSize: e.SWEEP_PAGE_SIZE, reserveMs: e.SWEEP_RESERVE_MS };
}

/** The sweep's dependencies: the repository (review index + writes), the rules bound to the model, nurture. */
export function sweepDeps(opts: {
  repository: DynamoLeadRepository;
  model: ScoringModel;
  nurture: NurtureStarter;
  tracks: readonly Track[];
  clock: Clock;
  limits?: SweepLimits;
  onActionFailure?: SweepDeps['onActionFailure'];
}): SweepDeps {
  return {
    leads: opts.repository,
    requalify: (lead, now) => requalify(lead, opts.model, now),
    nurture: opts.nurture,
    tracks: opts.tracks,
    clock: opts.clock,
    limits: opts.limits ?? sweepLimits(),
    ...(opts.onActionFailure && { onActionFailure: opts.onActionFailure }),
  };
}
