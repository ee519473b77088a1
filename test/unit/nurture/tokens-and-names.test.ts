import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidExecutionName, nurtureExecutionName } from '../../../lambdas/domain/nurture/execution-name.js';
import {
  signUnsubscribeToken,
  staticSigningKeys,
  unsubscribeUrl,
  verifyUnsubscribeToken,
} from '../../../lambdas/domain/nurture/unsubscribe-token.js';
import { NOW } from './support.js';

const SECRET = 'unit-test-secret-0123456789';
const inAYear = new Date(NOW.getTime() + 365 * 86_400_000);

describe('execution names', () => {
  it('are deterministic, valid for Step Functions and at most 80 characters, for any lead id and track', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 120 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.date({ noInvalidDate: true, min: new Date('2000-01-01'), max: new Date('2100-01-01') }),
        (leadId, track, since) => {
          const name = nurtureExecutionName(leadId, track, since.toISOString());
          expect(isValidExecutionName(name)).toBe(true);
          expect(name).toBe(nurtureExecutionName(leadId, track, since.toISOString()));
        },
      ),
    );
  });

  it('differ between tracks and stage changes of one lead', () => {
    const a = nurtureExecutionName('01J', 'newsletter', '2026-03-01T10:00:00.000Z');
    expect(nurtureExecutionName('01J', 'case-studies', '2026-03-01T10:00:00.000Z')).not.toBe(a);
    expect(nurtureExecutionName('01J', 'newsletter', '2026-04-01T10:00:00.000Z')).not.toBe(a);
  });
});

describe('unsubscribe tokens', () => {
  const ring = staticSigningKeys('k1', { k1: SECRET });
  const K1 = { kid: 'k1', key: SECRET };

  it('verify for the lead they were signed for until they expire', async () => {
    const token = signUnsubscribeToken(K1, '01JLEAD', inAYear);
    expect(await verifyUnsubscribeToken(ring, token, NOW)).toEqual({
      valid: true,
      leadId: '01JLEAD',
      kid: 'k1',
      expiresAt: new Date(Math.floor(inAYear.getTime() / 1000) * 1000),
    });
    expect(await verifyUnsubscribeToken(ring, token, new Date(inAYear.getTime() + 1000))).toEqual({
      valid: false,
      reason: 'expired',
    });
    expect(unsubscribeUrl('https://api.example.com/v1/unsubscribe', token)).toBe(
      `https://api.example.com/v1/unsubscribe?token=${token}`,
    );
  });

  it('cannot be forged for another lead, extended, moved to another key, or signed with another key', async () => {
    const token = signUnsubscribeToken(K1, '01JLEAD', inAYear);
    const [kid, id, exp, sig] = token.split('.');
    const otherLead = `${kid}.${Buffer.from('01JOTHER').toString('base64url')}.${exp}.${sig}`;
    const extended = `${kid}.${id}.${Number(exp) + 86_400}.${sig}`;
    const twoKeys = staticSigningKeys('k1', { k1: SECRET, k2: SECRET });
    expect(await verifyUnsubscribeToken(ring, otherLead, NOW)).toEqual({ valid: false, reason: 'bad_signature' });
    expect(await verifyUnsubscribeToken(ring, extended, NOW)).toEqual({ valid: false, reason: 'bad_signature' });
    expect(await verifyUnsubscribeToken(twoKeys, `k2.${id}.${exp}.${sig}`, NOW)).toEqual({
      valid: false,
      reason: 'bad_signature',
    });
    expect(
      await verifyUnsubscribeToken(staticSigningKeys('k1', { k1: 'another-secret-0123456789' }), token, NOW),
    ).toEqual({ valid: false, reason: 'bad_signature' });
    expect(await verifyUnsubscribeToken(ring, `k9.${id}.${exp}.${sig}`, NOW)).toEqual({
      valid: false,
      reason: 'unknown_key',
    });
    expect(await verifyUnsubscribeToken(ring, 'not-a-token', NOW)).toEqual({ valid: false, reason: 'malformed' });
  });

  it('stay valid across a key rotation while their key is kept, and not once it is removed', async () => {
    const old = signUnsubscribeToken(K1, '01JLEAD', inAYear);
    const rotated = staticSigningKeys('k2', { k1: SECRET, k2: 'the-next-key-0123456789abcdef' });
    const fresh = signUnsubscribeToken(await rotated.active(), '01JLEAD', inAYear);
    const retired = staticSigningKeys('k2', { k2: 'the-next-key-0123456789abcdef' });

    expect(fresh.startsWith('k2.')).toBe(true);
    expect(await verifyUnsubscribeToken(rotated, old, NOW)).toMatchObject({ valid: true, kid: 'k1' });
    expect(await verifyUnsubscribeToken(rotated, fresh, NOW)).toMatchObject({ valid: true, kid: 'k2' });
    expect(await verifyUnsubscribeToken(retired, old, NOW)).toEqual({ valid: false, reason: 'unknown_key' });
  });

  it('reject any change to a valid token', async () => {
    const token = signUnsubscribeToken(K1, '01JLEAD0000000000000000000', inAYear);
    await fc.assert(
      fc.asyncProperty(
        fc.nat(token.length - 1),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'),
        async (i, c) => {
          fc.pre(token[i] !== c);
          const changed = `${token.slice(0, i)}${c}${token.slice(i + 1)}`;
          expect((await verifyUnsubscribeToken(ring, changed, NOW)).valid).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });
});
