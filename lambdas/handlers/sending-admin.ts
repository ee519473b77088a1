import type { Clock } from '../domain/clock.js';
import { NotFoundError } from '../domain/errors.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { resumeSending, sendingStatus, type ReputationPolicy, type SendingStore } from '../domain/nurture/sending.js';
import { clock, logger, sendingStore } from '../adapters/aws.js';
import { httpApi, json } from './http.js';

export interface SendingAdminDeps {
  sending: Pick<SendingStore, 'days' | 'getState' | 'resume'>;
  policy: ReputationPolicy;
  clock: Clock;
}

/**
 * `GET /sending`: whether marketing sending is paused by the reputation brake, why, and the rolling rates;
 * `POST /sending/resume`: sending goes on (what was counted so far is not held against it again). Admin (IAM on
 * AWS; x-admin-key locally).
 */
export function createHandler(getDeps: () => SendingAdminDeps) {
  return httpApi(async (event) => {
    const deps = getDeps();
    const now = deps.clock.now();
    switch (`${event.httpMethod} ${event.resource}`) {
      case 'GET /sending':
        return json(200, await sendingStatus(deps.sending, deps.policy, now));
      case 'POST /sending/resume': {
        await resumeSending(deps.sending, now);
        logger.info('marketing sending resumed by an operator');
        return json(200, await sendingStatus(deps.sending, deps.policy, now));
      }
      default:
        throw new NotFoundError('no such route');
    }
  });
}

export const handler = createHandler(() => ({
  sending: sendingStore(),
  policy: DEFAULT_NURTURE_PLAN.policy.reputation,
  clock,
}));
