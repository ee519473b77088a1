import { describe, expect, it } from 'vitest';
import { ses } from '../../../lambdas/adapters/aws.js';

describe('the AWS composition root', () => {
  it('gives SES SendEmail no automatic retry: a timed-out send may have been accepted, and a retry would mail twice', async () => {
    expect(await ses().config.maxAttempts()).toBe(1);
  });
});
