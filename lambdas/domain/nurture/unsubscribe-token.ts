import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed unsubscribe tokens: `<leadId, base64url>.<expiry, unix seconds>.<HMAC-SHA256, base64url>`. The signature
 * covers a version tag, the lead id and the expiry, so a token cannot be forged for another lead or extended.
 */
const VERSION = 'leadloop-unsubscribe-v1';

export type TokenCheck =
  | { valid: true; leadId: string; expiresAt: Date }
  | { valid: false; reason: 'malformed' | 'bad_signature' | 'expired' };

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function signature(secret: string, leadId: string, exp: number): Buffer {
  return createHmac('sha256', secret).update(`${VERSION}\n${leadId}\n${exp}`).digest();
}

/** A token for `leadId` valid until `expiresAt` (rounded down to the second). */
export function signUnsubscribeToken(secret: string, leadId: string, expiresAt: Date): string {
  if (secret.length < 16) throw new Error('unsubscribe signing secret must be at least 16 characters');
  const exp = Math.floor(expiresAt.getTime() / 1000);
  return `${b64url(leadId)}.${exp}.${b64url(signature(secret, leadId, exp))}`;
}

/** Checks a token's shape, signature (in constant time) and expiry. */
export function verifyUnsubscribeToken(secret: string, token: string, now: Date): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3) return { valid: false, reason: 'malformed' };
  const [idPart, expPart, sigPart] = parts as [string, string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(idPart) || !/^\d{1,12}$/.test(expPart) || !/^[A-Za-z0-9_-]{43}$/.test(sigPart)) {
    return { valid: false, reason: 'malformed' };
  }
  const leadId = Buffer.from(idPart, 'base64url').toString('utf8');
  if (leadId.length === 0 || b64url(leadId) !== idPart) return { valid: false, reason: 'malformed' };
  const exp = Number(expPart);
  const expected = signature(secret, leadId, exp);
  const given = Buffer.from(sigPart, 'base64url');
  // Only the canonical encoding counts: the last character's spare bits would otherwise allow look-alike tokens.
  if (given.toString('base64url') !== sigPart) return { valid: false, reason: 'malformed' };
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { valid: false, reason: 'bad_signature' };
  if (exp * 1000 <= now.getTime()) return { valid: false, reason: 'expired' };
  return { valid: true, leadId, expiresAt: new Date(exp * 1000) };
}

/** The link put in every email and in its List-Unsubscribe header. */
export function unsubscribeUrl(baseUrl: string, token: string): string {
  const url = new URL(baseUrl);
  url.searchParams.set('token', token);
  return url.toString();
}
