import { Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLeadloopApp } from '../../lib/leadloop-app.js';
import type { LeadloopStack } from '../../lib/leadloop-stack.js';
import { cdkJsonContext, testApp } from './synth.js';

/**
 * cdk-nag 3 reports through CDK's validation-plugin framework (the synth fails and writes validation-report.json),
 * not through annotations; `validateScope` gives the same findings as a value to assert on.
 */
const findings = (stack: Stack) =>
  new AwsSolutionsChecks()
    .validateScope(stack)
    .violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`));

describe('cdk-nag (AWS Solutions) on the app as bin/app.ts builds it', () => {
  let stack: LeadloopStack;
  let synthError: unknown;
  beforeAll(() => {
    // The app of bin/app.ts with its nag plugin. CDK's built-in CloudFormation validation (30 s here) is left to
    // `npm run synth`.
    const built = createLeadloopApp({
      context: { ...cdkJsonContext, 'aws:cdk:bundling-stacks': [], stage: 'prod' },
      builtinCloudFormationValidation: false,
    });
    stack = built.stack;
    try {
      built.app.synth();
    } catch (e) {
      synthError = e;
    }
  }, 120_000);

  it('synthesizes with the validation plugins registered (any unacknowledged finding would fail it)', () => {
    expect(synthError).toBeUndefined();
  });

  it('has no unacknowledged AwsSolutions error or warning', () => {
    expect(findings(stack)).toEqual([]);
  });

  it('has no error or warning annotations from the CDK itself', () => {
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('covers the whole stack: nurture, requalification, observability', () => {
    expect(Object.keys(stack.functions())).toHaveLength(17);
    expect(stack.observability.alarms.length).toBeGreaterThan(30);
  });

  it('has no finding either with the WAF web ACL, an alarm address and destroyOnRemoval', () => {
    const built = createLeadloopApp({
      context: {
        ...cdkJsonContext,
        'aws:cdk:bundling-stacks': [],
        stage: 'prod',
        waf: 'true',
        alarmEmail: 'ops@example.com',
        destroyOnRemoval: 'true',
      },
      builtinCloudFormationValidation: false,
    });
    expect(() => built.app.synth()).not.toThrow();
    expect(findings(built.stack)).toEqual([]);
    expect(built.stack.captureApi.formRateLimit).toBeDefined();
  });

  it('the check is live: it reports findings on an unacknowledged resource', () => {
    const bare = new Stack(testApp(), 'Bare');
    new Queue(bare, 'PlainQueue', { enforceSSL: false });
    expect(findings(bare)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^error AwsSolutions-SQS3 at Bare\/PlainQueue/),
        expect.stringMatching(/^error AwsSolutions-SQS4 at Bare\/PlainQueue/),
      ]),
    );
  });
});
