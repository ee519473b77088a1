import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidExecutionName, nurtureExecutionName } from '../../../lambdas/domain/nurture/execution-name.js';
import {
  signUnsubscribeToken,
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
  it('verify for the lead they were signed for until they expire', () => {
    const token = signUnsubscribeToken(SECRET, '01JLEAD', inAYear);
    expect(verifyUnsubscribeToken(SECRET, token, NOW)).toEqual({
      valid: true,
      leadId: '01JLEAD',
      expiresAt: new Date(Math.floor(inAYear.getTime() / 1000) * 1000),
    });
    expect(verifyUnsubscribeToken(SECRET, token, new Date(inAYear.getTime() + 1000))).toEqual({
      valid: false,
      reason: 'expired',
    });
    expect(unsubscribeUrl('https://api.example.com/v1/unsubscribe', token)).toBe(
      `https://api.example.com/v1/unsubscribe?token=${token}`,
    );
  });

  it('cannot be forged for another lead, extended, or signed with another key', () => {
    const token = signUnsubscribeToken(SECRET, '01JLEAD', inAYear);
    const [, exp, sig] = token.split('.');
    const otherLead = `${Buffer.from('01JOTHER').toString('base64url')}.${exp}.${sig}`;
    const extended = `${token.split('.')[0]}.${Number(exp) + 86_400}.${sig}`;
    expect(verifyUnsubscribeToken(SECRET, otherLead, NOW)).toEqual({ valid: false, reason: 'bad_signature' });
    expect(verifyUnsubscribeToken(SECRET, extended, NOW)).toEqual({ valid: false, reason: 'bad_signature' });
    expect(verifyUnsubscribeToken('another-secret-0123456789', token, NOW)).toEqual({
      valid: false,
      reason: 'bad_signature',
    });
    expect(verifyUnsubscribeToken(SECRET, 'not-a-token', NOW)).toEqual({ valid: false, reason: 'malformed' });
  });

  it('reject any change to a valid token', () => {
    const token = signUnsubscribeToken(SECRET, '01JLEAD0000000000000000000', inAYear);
    fc.assert(
      fc.property(
        fc.nat(token.length - 1),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'),
        (i, c) => {
          fc.pre(token[i] !== c);
          const changed = `${token.slice(0, i)}${c}${token.slice(i + 1)}`;
          expect(verifyUnsubscribeToken(SECRET, changed, NOW).valid).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });
});
