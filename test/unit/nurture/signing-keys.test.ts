import { SESv2ServiceException } from '@aws-sdk/client-sesv2';
import { describe, expect, it } from 'vitest';
import { SesMailer } from '../../../lambdas/adapters/ses-mailer.js';
import { SecretsManagerSigningKeys } from '../../../lambdas/adapters/signing-keys.js';
import { MailRejectedError } from '../../../lambdas/domain/nurture/errors.js';

/** A Secrets Manager provider that serves `values` in turn (the last one stays) and counts its fetches. */
function provider(...values: unknown[]) {
  let fetches = 0;
  return {
    get fetches() {
      return fetches;
    },
    get: async (_id: string, opts?: { forceFetch?: boolean }) => {
      const value = values[Math.min(fetches, values.length - 1)];
      if (fetches === 0 || opts?.forceFetch) fetches++;
      return value;
    },
  };
}

const K1 = 'key-one-0123456789abcdef0123';
const K2 = 'key-two-0123456789abcdef0123';

describe('the signing keyring read from Secrets Manager', () => {
  it('signs with the active key and finds every key it holds', async () => {
    const keys = new SecretsManagerSigningKeys(provider({ active: 'k2', k1: K1, k2: K2 }), 'arn:keyring');

    expect(await keys.active()).toEqual({ kid: 'k2', key: K2 });
    expect(await keys.byId('k1')).toBe(K1);
  });

  it('fetches again once for a key id it does not hold (a rotation just happened), at most every 30 s', async () => {
    let now = 1_000_000;
    const p = provider({ active: 'k1', k1: K1 }, { active: 'k2', k1: K1, k2: K2 });
    const keys = new SecretsManagerSigningKeys(p, 'arn:keyring', () => now);

    expect(await keys.byId('k1')).toBe(K1);
    expect(await keys.byId('k2')).toBe(K2);
    expect(await keys.byId('forged')).toBeUndefined();
    expect(await keys.byId('forged-again')).toBeUndefined();
    const afterBurst = p.fetches;
    now += 31_000;
    await keys.byId('forged');

    expect(afterBurst).toBe(2);
    expect(p.fetches).toBe(3);
  });

  it('refuses a malformed keyring with a message that names what is wrong and no key', async () => {
    const noActive = new SecretsManagerSigningKeys(provider({ k1: K1 }), 'arn:keyring');
    const missing = new SecretsManagerSigningKeys(provider({ active: 'k9', k1: K1 }), 'arn:keyring');
    const short = new SecretsManagerSigningKeys(provider({ active: 'k1', k1: 'short' }), 'arn:keyring');

    await expect(noActive.active()).rejects.toThrow(/must name its "active" key id/);
    await expect(missing.active()).rejects.toThrow(/active key "k9" is not in the keyring/);
    await expect(short.active()).rejects.toThrow(/key "k1" is not a valid id/);
    await expect(short.active()).rejects.not.toThrow(/short/);
  });
});

describe('SES refusals, as nurture steps report them', () => {
  it('carry no recipient address into the step result', async () => {
    const refusal = new SESv2ServiceException({
      name: 'MessageRejected',
      $fault: 'client',
      $metadata: {},
      message:
        'Email address is not verified. The following identities failed the check in region US-EAST-1: ada@example.com',
    });
    const mailer = new SesMailer({ send: async () => Promise.reject(refusal) } as never);

    const error = await mailer
      .send({
        to: 'ada@example.com',
        from: 'news@example.com',
        templateName: 't',
        templateData: {
          html: {
            firstName: 'Ada',
            company: 'A',
            siteUrl: 's',
            mailingAddress: 'm',
            unsubscribeUrl: 'u',
            confirmUrl: '',
          },
          text: {
            firstName: 'Ada',
            company: 'A',
            siteUrl: 's',
            mailingAddress: 'm',
            unsubscribeUrl: 'u',
            confirmUrl: '',
          },
        },
        configurationSetName: 'c',
        tags: {},
        headers: [],
      })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MailRejectedError);
    expect(String((error as Error).message)).not.toContain('ada@example.com');
    expect(String((error as Error).message)).toContain('a***@example.com');
  });
});
