import { v5 as uuidv5 } from 'uuid';
import type { Clock } from '../clock.js';
import { DAY_MS } from '../clock.js';
import { ValidationError } from '../errors.js';
import type { LeadRepository } from '../ports.js';
import { NURTURE_ID_NAMESPACE, type NurtureMailSettings } from './nurture-tasks.js';
import type { Mailer } from './ports.js';
import { templateDataFor } from './template-data.js';
import { signToken, unsubscribeUrl, verifyToken, type SigningKeys } from './unsubscribe-token.js';
import { DEFAULT_VARIANT } from './tracks.js';
import { sesTemplateName } from './variants.js';
import type { ConfirmationPolicy } from './sending.js';

/**
 * Confirmed opt-in (DESIGN §6): consent given on a form counts once the person confirms it from a confirmation mail —
 * a signed link (the unsubscribe keyring, another purpose tag) whose page confirms with one POST. Until then no
 * marketing mail goes out. The confirmation mail is transactional (it is what the person just asked for) and is
 * rate-limited per address, so a form cannot be used to mail-bomb a stranger; it carries a one-click unsubscribe,
 * so the stranger can also stop it for good.
 */

/** The transactional template of the confirmation mail (lib/email/templates/confirm-subscription). */
export const CONFIRMATION_TEMPLATE = 'confirm-subscription';

export { ConfirmationPolicy } from './sending.js';

/** The rate limit's counter (adapters/dynamo-sending-store). */
export interface ConfirmationMailStore {
  /** Takes one of `max` mails of the window starting at `windowStart` for the lead; false when none is left. */
  takeConfirmationSlot(leadId: string, windowStart: string, max: number): Promise<boolean>;
  /** Counts the send for the reputation brake. */
  countSend(at: Date): Promise<void>;
}

export interface ConfirmationDeps {
  leads: Pick<LeadRepository, 'getLead'>;
  clock: Clock;
  mailer: Mailer;
  mail: NurtureMailSettings & { confirmBaseUrl: string };
  signingKeys: Pick<SigningKeys, 'active'>;
  store: ConfirmationMailStore;
  policy: ConfirmationPolicy;
  /** How long an unsubscribe link in the mail stays valid. */
  unsubscribeLinkDays: number;
}

export const CONFIRMATION_OUTCOMES = ['sent', 'rate_limited', 'not_needed', 'gone'] as const;
export type ConfirmationOutcome = (typeof CONFIRMATION_OUTCOMES)[number];

/** Sends the confirmation mail for the lead's pending consent, within the per-address rate limit. */
export async function requestConfirmation(deps: ConfirmationDeps, leadId: string): Promise<ConfirmationOutcome> {
  const lead = await deps.leads.getLead(leadId);
  if (!lead) return 'gone';
  const s = lead.suppression;
  if (s.unsubscribed || s.complained || s.hardBounced) return 'not_needed';
  if (lead.consent?.confirmation === 'confirmed') return 'not_needed';
  const now = deps.clock.now();
  const windowMs = deps.policy.perHours * 3_600_000;
  const windowStart = new Date(Math.floor(now.getTime() / windowMs) * windowMs).toISOString();
  if (!(await deps.store.takeConfirmationSlot(leadId, windowStart, deps.policy.maxMails))) return 'rate_limited';

  const key = await deps.signingKeys.active();
  const confirmUrl = unsubscribeUrl(
    deps.mail.confirmBaseUrl,
    signToken('confirm', key, leadId, new Date(now.getTime() + deps.policy.linkDays * DAY_MS)),
  );
  const unsubscribe = unsubscribeUrl(
    deps.mail.unsubscribeBaseUrl,
    signToken('unsubscribe', key, leadId, new Date(now.getTime() + deps.unsubscribeLinkDays * DAY_MS)),
  );
  await deps.mailer.send({
    to: lead.email,
    from: deps.mail.from,
    templateName: sesTemplateName(deps.mail.templatePrefix, CONFIRMATION_TEMPLATE, DEFAULT_VARIANT),
    templateData: templateDataFor(lead, {
      unsubscribeUrl: unsubscribe,
      mailingAddress: deps.mail.mailingAddress,
      siteUrl: deps.mail.siteUrl,
      confirmUrl,
    }),
    configurationSetName: deps.mail.configurationSetName,
    tags: { leadId, template: CONFIRMATION_TEMPLATE },
    headers: [
      { name: 'List-Unsubscribe', value: `<${unsubscribe}>` },
      { name: 'List-Unsubscribe-Post', value: 'List-Unsubscribe=One-Click' },
    ],
  });
  await deps.store.countSend(now);
  return 'sent';
}

export interface ConfirmDeps {
  leads: Pick<LeadRepository, 'getLead' | 'appendEvent'>;
  clock: Clock;
  keys: Pick<SigningKeys, 'byId'>;
}

const TOKEN_PROBLEMS = {
  malformed: 'is malformed',
  unknown_key: 'is signed with an unknown key',
  bad_signature: 'is bad signature',
  expired: 'is expired',
} as const;

/** The lead and expiry a confirmation token was signed for; anything else is a ValidationError (400). */
export async function confirmationOf(
  deps: Pick<ConfirmDeps, 'clock' | 'keys'>,
  token: string | undefined,
): Promise<{ leadId: string; expiresAt: Date }> {
  if (!token) throw new ValidationError('missing confirmation token', { token: 'is required' });
  const check = await verifyToken('confirm', deps.keys, token, deps.clock.now());
  if (!check.valid) throw new ValidationError('invalid confirmation token', { token: TOKEN_PROBLEMS[check.reason] });
  return { leadId: check.leadId, expiresAt: check.expiresAt };
}

/**
 * `POST /confirm`: records `consent_confirmed` for the lead the token names (once per link: a second click is a
 * duplicate); scoring then makes the consent effective and enrollment starts the lead's track.
 */
export async function confirmConsent(
  deps: ConfirmDeps,
  token: string | undefined,
): Promise<{ leadId: string; outcome: 'recorded' | 'duplicate' | 'gone' }> {
  const { leadId, expiresAt } = await confirmationOf(deps, token);
  if (!(await deps.leads.getLead(leadId))) return { leadId, outcome: 'gone' };
  const now = deps.clock.now().toISOString();
  const outcome = await deps.leads.appendEvent({
    eventId: uuidv5(`consent_confirmed#${leadId}#${expiresAt.toISOString()}`, NURTURE_ID_NAMESPACE),
    leadId,
    type: 'consent_confirmed',
    occurredAt: now,
    receivedAt: now,
    source: 'form',
    properties: { consent: true, consentConfirmation: 'confirmed', channel: 'confirmation-link' },
  });
  return { leadId, outcome };
}
