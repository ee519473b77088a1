import { v5 as uuidv5 } from 'uuid';
import type { Clock } from '../clock.js';
import { ValidationError } from '../errors.js';
import type { LeadRepository } from '../ports.js';
import { NURTURE_ID_NAMESPACE } from './nurture-tasks.js';
import { verifyUnsubscribeToken, type SigningKeys } from './unsubscribe-token.js';

export interface UnsubscribeDeps {
  leads: LeadRepository;
  clock: Clock;
  /** The keys that verify tokens (read-only: this route never signs). */
  keys: Pick<SigningKeys, 'byId'>;
}

/** The id of a lead's unsubscribe event: one per lead, however many times (and however) it unsubscribes. */
export const unsubscribeEventId = (leadId: string): string =>
  uuidv5(`email_unsubscribed#${leadId}`, NURTURE_ID_NAMESPACE);

const TOKEN_PROBLEMS = {
  malformed: 'is malformed',
  unknown_key: 'is signed with an unknown key',
  bad_signature: 'is bad signature',
  expired: 'is expired',
} as const;

/** The lead a token was signed for; a missing, malformed, forged or expired token is a ValidationError (400). */
export async function leadOfToken(
  deps: Pick<UnsubscribeDeps, 'clock' | 'keys'>,
  token: string | undefined,
): Promise<string> {
  if (!token) throw new ValidationError('missing unsubscribe token', { token: 'is required' });
  const check = await verifyUnsubscribeToken(deps.keys, token, deps.clock.now());
  if (!check.valid) throw new ValidationError('invalid unsubscribe token', { token: TOKEN_PROBLEMS[check.reason] });
  return check.leadId;
}

/**
 * Unsubscribes the lead a token names from marketing email by recording `email_unsubscribed` (scoring then sets
 * the suppression; nurture checks the log at send time, so no mail goes out in between). Recording twice is a
 * no-op. A lead erased since the mail went out has nothing left to unsubscribe.
 */
export async function unsubscribe(
  deps: UnsubscribeDeps,
  token: string | undefined,
  via: 'one-click' | 'page',
): Promise<{ leadId: string; outcome: 'recorded' | 'duplicate' | 'gone' }> {
  const leadId = await leadOfToken(deps, token);
  const lead = await deps.leads.getLead(leadId);
  if (!lead) return { leadId, outcome: 'gone' };
  const now = deps.clock.now().toISOString();
  const outcome = await deps.leads.appendEvent({
    eventId: unsubscribeEventId(leadId),
    leadId,
    type: 'email_unsubscribed',
    occurredAt: now,
    receivedAt: now,
    source: 'nurture',
    properties: { via, channel: 'unsubscribe-link' },
  });
  return { leadId, outcome };
}
