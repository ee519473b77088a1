import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed unsubscribe tokens: `<key id>.<leadId, base64url>.<expiry, unix seconds>.<HMAC-SHA256, base64url>`. The
 * signature covers a version tag, the key id, the lead id and the expiry, so a token cannot be forged for another
 * lead, extended, or moved to another key. The key id names which key of the keyring signed it: keys can be rotated
 * (a new active key signs new links) while links already sent stay valid as long as their key is kept.
 */
const VERSION = 'leadloop-unsubscribe-v2';

/**
 * What a token is for: its tag is part of what is signed, so a token made for one purpose never verifies for
 * another (a confirmation link cannot unsubscribe, an unsubscribe link cannot confirm consent). Same keyring.
 */
export const TOKEN_PURPOSES = { unsubscribe: VERSION, confirm: 'leadloop-confirm-v1' } as const;
export type TokenPurpose = keyof typeof TOKEN_PURPOSES;

/** A signing key and its id (`[A-Za-z0-9_-]{1,16}`). */
export interface SigningKey {
  kid: string;
  key: string;
}

/**
 * The keyring tokens are signed and verified with (adapters/signing-keys on AWS: a Secrets Manager secret). `active`
 * signs new tokens; `byId` finds the key of a token, or undefined for a key id it does not hold.
 */
export interface SigningKeys {
  active(): Promise<SigningKey>;
  byId(kid: string): Promise<string | undefined>;
}

export const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;
/** Shortest key accepted: HMAC-SHA256 keys should carry at least 128 bits. */
export const MIN_KEY_LENGTH = 16;

export type TokenCheck =
  | { valid: true; leadId: string; expiresAt: Date; kid: string }
  | { valid: false; reason: 'malformed' | 'unknown_key' | 'bad_signature' | 'expired' };

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function signature(key: string, kid: string, leadId: string, exp: number, tag: string = VERSION): Buffer {
  return createHmac('sha256', key).update(`${tag}\n${kid}\n${leadId}\n${exp}`).digest();
}

/** A token for `leadId` valid until `expiresAt` (rounded down to the second), signed with `key`. */
export function signUnsubscribeToken(key: SigningKey, leadId: string, expiresAt: Date): string {
  return signToken('unsubscribe', key, leadId, expiresAt);
}

/** Checks an unsubscribe token's shape, key, signature (in constant time) and expiry. */
export function verifyUnsubscribeToken(keys: Pick<SigningKeys, 'byId'>, token: string, now: Date): Promise<TokenCheck> {
  return verifyToken('unsubscribe', keys, token, now);
}

/** A token for `purpose` (see {@link TOKEN_PURPOSES}), for `leadId`, valid until `expiresAt`. */
export function signToken(purpose: TokenPurpose, key: SigningKey, leadId: string, expiresAt: Date): string {
  const tag = TOKEN_PURPOSES[purpose];
  if (!KEY_ID.test(key.kid)) throw new Error(`signing key id "${key.kid}" must match ${KEY_ID}`);
  if (key.key.length < MIN_KEY_LENGTH) throw new Error(`signing key must be at least ${MIN_KEY_LENGTH} characters`);
  const exp = Math.floor(expiresAt.getTime() / 1000);
  return `${key.kid}.${b64url(leadId)}.${exp}.${b64url(signature(key.key, key.kid, leadId, exp, tag))}`;
}

/** Checks a token of `purpose`: its shape, key, signature (in constant time) and expiry. */
export async function verifyToken(
  purpose: TokenPurpose,
  keys: Pick<SigningKeys, 'byId'>,
  token: string,
  now: Date,
): Promise<TokenCheck> {
  const parts = token.split('.');
  if (parts.length !== 4) return { valid: false, reason: 'malformed' };
  const [kid, idPart, expPart, sigPart] = parts as [string, string, string, string];
  if (
    !KEY_ID.test(kid) ||
    !/^[A-Za-z0-9_-]+$/.test(idPart) ||
    !/^\d{1,12}$/.test(expPart) ||
    !/^[A-Za-z0-9_-]{43}$/.test(sigPart)
  ) {
    return { valid: false, reason: 'malformed' };
  }
  const leadId = Buffer.from(idPart, 'base64url').toString('utf8');
  if (leadId.length === 0 || b64url(leadId) !== idPart) return { valid: false, reason: 'malformed' };
  const given = Buffer.from(sigPart, 'base64url');
  // Only the canonical encoding counts: the last character's spare bits would otherwise allow look-alike tokens.
  if (given.toString('base64url') !== sigPart) return { valid: false, reason: 'malformed' };
  const key = await keys.byId(kid);
  if (key === undefined) return { valid: false, reason: 'unknown_key' };
  const exp = Number(expPart);
  const expected = signature(key, kid, leadId, exp, TOKEN_PURPOSES[purpose]);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { valid: false, reason: 'bad_signature' };
  if (exp * 1000 <= now.getTime()) return { valid: false, reason: 'expired' };
  return { valid: true, leadId, expiresAt: new Date(exp * 1000), kid };
}

/** The link put in every email and in its List-Unsubscribe header. */
export function unsubscribeUrl(baseUrl: string, token: string): string {
  const url = new URL(baseUrl);
  url.searchParams.set('token', token);
  return url.toString();
}

/** A keyring held in memory (tests, benchmarks): `{ active: 'k1', keys: { k1: '…' } }`. */
export function staticSigningKeys(active: string, keys: Readonly<Record<string, string>>): SigningKeys {
  const key = keys[active];
  if (key === undefined) throw new Error(`no key "${active}" in the keyring`);
  return {
    active: async () => ({ kid: active, key }),
    byId: async (kid) => (Object.hasOwn(keys, kid) ? keys[kid] : undefined),
  };
}
