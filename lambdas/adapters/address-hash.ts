import { createHmac } from 'node:crypto';
import * as z from 'zod';

/**
 * What survives an erasure is a keyed hash of the address (HMAC-SHA256), never the address nor a plain hash of it: a
 * plain SHA-256 of an address is reversed by hashing a list of addresses, a keyed one only by whoever holds the key.
 * The key is read at run time from Secrets Manager (never put in a function's configuration) and must never change:
 * a new key would forget every suppression made with the old one.
 */
export interface AddressHasher {
  /** The suppression hash of a normalized address (hex). */
  hash(email: string): Promise<string>;
}

/** The HMAC-SHA256 of a normalized address under `key`, hex. */
export const keyedAddressHash = (key: string, email: string): string =>
  createHmac('sha256', key).update(email).digest('hex');

/** A hasher with a key at hand (tests, tools that were given the key). */
export const keyedAddressHasher = (key: string): AddressHasher => ({
  hash: (email) => Promise.resolve(keyedAddressHash(key, email)),
});

/** The secret's value: the key itself, at least 32 characters (the stack generates 64). */
export const SuppressionKey = z.string().min(32, 'the suppression key must be at least 32 characters');

/** Seconds a fetched key is reused before Secrets Manager is asked again. */
export const SUPPRESSION_KEY_MAX_AGE_SECONDS = 3_600;

/** What is read from Secrets Manager: Powertools Parameters' `SecretsProvider` (or a test's stand-in). */
export interface PlainSecretReader {
  get(name: string, options: { maxAge: number }): Promise<unknown>;
}

/** The suppression key read from a Secrets Manager secret at run time (Powertools Parameters, cached per container). */
export class SecretsManagerAddressHasher implements AddressHasher {
  constructor(
    private readonly provider: PlainSecretReader,
    private readonly secretId: string,
  ) {}

  async hash(email: string): Promise<string> {
    const value = await this.provider.get(this.secretId, { maxAge: SUPPRESSION_KEY_MAX_AGE_SECONDS });
    const key = SuppressionKey.safeParse(value);
    if (!key.success) throw new Error(`the suppression key secret is malformed: ${key.error.issues[0]?.message}`);
    return keyedAddressHash(key.data, email);
  }
}
