import * as z from 'zod';
import { KEY_ID, MIN_KEY_LENGTH, type SigningKey, type SigningKeys } from '../domain/nurture/unsubscribe-token.js';

/**
 * The keyring secret, as the stack creates it (lib/nurture-workflows.ts) and an operator rotates it:
 * `{"active":"k2","k1":"<key>","k2":"<key>"}`. `active` names the key that signs new links; every other key verifies
 * the links it signed until it is removed (keep a key as long as the links it signed are valid: a year).
 */
export const Keyring = z.record(z.string(), z.string()).transform((raw, ctx) => {
  const { active, ...keys } = raw;
  if (active === undefined || !KEY_ID.test(active)) {
    ctx.addIssue({ code: 'custom', message: 'the keyring must name its "active" key id' });
    return z.NEVER;
  }
  for (const [kid, key] of Object.entries(keys)) {
    if (!KEY_ID.test(kid) || key.length < MIN_KEY_LENGTH) {
      ctx.addIssue({
        code: 'custom',
        message: `key "${kid.slice(0, 16)}" is not a valid id with a key of 16+ characters`,
      });
      return z.NEVER;
    }
  }
  if (!Object.hasOwn(keys, active)) {
    ctx.addIssue({ code: 'custom', message: `the active key "${active}" is not in the keyring` });
    return z.NEVER;
  }
  return { active, keys };
});
export type Keyring = z.infer<typeof Keyring>;

/** Seconds a fetched keyring is reused before Secrets Manager is asked again (a rotation is seen within this). */
export const KEYRING_MAX_AGE_SECONDS = 300;

/** Refetches for unknown key ids happen at most this often (a forged key id must not cost a secret read each time). */
const REFRESH_INTERVAL_MS = 30_000;

/**
 * Signing keys read from a Secrets Manager secret at run time (Powertools Parameters, cached per container for
 * {@link KEYRING_MAX_AGE_SECONDS}). A token naming a key id the cached keyring does not hold refetches (at most every
 * 30 s): the secret may just have been rotated.
 */
/** What is read from Secrets Manager: Powertools Parameters' `SecretsProvider` (or a test's stand-in). */
export interface SecretReader {
  get(name: string, options: { maxAge: number; transform: 'json'; forceFetch: boolean }): Promise<unknown>;
}

export class SecretsManagerSigningKeys implements SigningKeys {
  constructor(
    private readonly provider: SecretReader,
    private readonly secretId: string,
    private readonly now: () => number = Date.now,
  ) {}

  private lastRefresh = Number.NEGATIVE_INFINITY;

  private async keyring(forceFetch = false): Promise<Keyring> {
    const value = await this.provider.get(this.secretId, {
      maxAge: KEYRING_MAX_AGE_SECONDS,
      transform: 'json',
      forceFetch,
    });
    const parsed = Keyring.safeParse(value);
    if (!parsed.success) {
      throw new Error(
        `the signing keyring secret is malformed: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      );
    }
    return parsed.data;
  }

  async active(): Promise<SigningKey> {
    const ring = await this.keyring();
    return { kid: ring.active, key: ring.keys[ring.active] ?? '' };
  }

  async byId(kid: string): Promise<string | undefined> {
    const ring = await this.keyring();
    if (Object.hasOwn(ring.keys, kid)) return ring.keys[kid];
    if (this.now() - this.lastRefresh < REFRESH_INTERVAL_MS) return undefined;
    this.lastRefresh = this.now();
    const fresh = await this.keyring(true);
    return Object.hasOwn(fresh.keys, kid) ? fresh.keys[kid] : undefined;
  }
}
