import { Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import type { LeadloopFunction } from '../../lib/leadloop-function.js';
import type { LeadloopStack } from '../../lib/leadloop-stack.js';
import { RATE_LIMITED_BODY } from '../../lib/waf.js';
import { logicalIdOf, synthLeadloop } from './synth.js';

let stack: LeadloopStack;
let template: Template;
beforeAll(() => {
  ({ stack, template } = synthLeadloop({
    siteUrl: 'https://www.example.com',
    mailingAddress: '1 Main St, Springfield',
  }));
});

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Effect: string;
}
/** Every policy statement attached to a role. */
const statementsOfRole = (roleId: string): Statement[] =>
  Object.values(
    template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) } }),
  ).flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Statement[]);
const actionsOf = (st: Statement): string[] => [st.Action].flat();
const roleOf = (fn: LeadloopFunction): string => {
  if (!fn.role) throw new Error(`${fn.node.path} has no role`);
  return logicalIdOf(fn.role);
};
/** A CloudFormation Fn::Join as a string, each Ref written `<LogicalId>`. */
const joinedWithRefs = (value: unknown): string => {
  if (!value || typeof value !== 'object' || !('Fn::Join' in value) || !Array.isArray(value['Fn::Join'])) {
    throw new Error(`not a Fn::Join: ${JSON.stringify(value)}`);
  }
  const [, parts] = value['Fn::Join'];
  if (!Array.isArray(parts)) throw new Error('Fn::Join without parts');
  return parts
    .map((p: unknown) =>
      typeof p === 'string' ? p : p && typeof p === 'object' && 'Ref' in p ? `<${String(p.Ref)}>` : '?',
    )
    .join('');
};
/** `case-studies` → `CaseStudies`. */
const pascal = (id: string) => id.replace(/(^|-)([a-z])/g, (_: string, __: string, c: string) => c.toUpperCase());

const consoleUrl = (stateMachineId: string) => ({
  'Fn::Join': [
    '',
    [
      'https://',
      { Ref: 'AWS::Region' },
      '.console.aws.amazon.com/states/home?region=',
      { Ref: 'AWS::Region' },
      '#/statemachines/view/',
      { Ref: stateMachineId },
    ],
  ],
});

describe('LeadloopStack composition', () => {
  it('has one nurture state machine per track of the plan, and the requalification sweep', () => {
    expect(Object.keys(stack.nurture.stateMachines).sort()).toEqual(
      DEFAULT_NURTURE_PLAN.tracks.map((t) => t.id).sort(),
    );
    template.resourceCountIs('AWS::StepFunctions::StateMachine', DEFAULT_NURTURE_PLAN.tracks.length + 1);
  });

  it('gives the nurture tasks the configuration set, sender, site, unsubscribe route and stage template prefix', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          SES_CONFIGURATION_SET: 'leadloop-dev',
          SENDER_EMAIL: 'leadloop@example.com',
          NURTURE_TEMPLATE_PREFIX: 'leadloop-dev',
          NURTURE_SITE_URL: 'https://www.example.com',
          NURTURE_MAILING_ADDRESS: '1 Main St, Springfield',
          UNSUBSCRIBE_BASE_URL: {
            'Fn::Join': ['', Match.arrayWith([{ Ref: logicalIdOf(stack.captureApi.api) }, '/unsubscribe'])],
          },
        }),
      },
    });
  });

  it('tells the scoring function the nurture state machines (NURTURE_STATE_MACHINES: {track: arn})', () => {
    const env = template.toJSON()['Resources'][logicalIdOf(stack.scoring.scoreFunction)]['Properties']['Environment'];
    const parsed: unknown = JSON.parse(joinedWithRefs(env['Variables']['NURTURE_STATE_MACHINES']));
    expect(parsed).toEqual(
      Object.fromEntries(Object.entries(stack.nurture.stateMachines).map(([t, sm]) => [t, `<${logicalIdOf(sm)}>`])),
    );
  });

  it('lets the scoring function start executions of the nurture state machines only, and stop their executions', () => {
    const nurtureRefs = Object.values(stack.nurture.stateMachines).map((sm) => ({ Ref: logicalIdOf(sm) }));
    const states = statementsOfRole(roleOf(stack.scoring.scoreFunction)).filter((st) =>
      actionsOf(st).some((a) => a.startsWith('states:')),
    );
    const [start, ...moreStarts] = states.filter((st) => actionsOf(st).includes('states:StartExecution'));
    if (!start) throw new Error('the scoring function may not start executions');
    expect(moreStarts).toEqual([]);
    expect(actionsOf(start)).toEqual(['states:StartExecution']);
    expect(new Set([start.Resource].flat().map((r) => JSON.stringify(r)))).toEqual(
      new Set(nurtureRefs.map((r) => JSON.stringify(r))),
    );
    const others = states.filter((st) => st !== start);
    expect(others.length).toBeGreaterThan(0);
    for (const st of others) {
      expect(actionsOf(st).every((a) => ['states:StopExecution', 'states:DescribeExecution'].includes(a))).toBe(true);
      const resources = JSON.stringify(st.Resource);
      expect(resources).not.toBe('"*"');
      for (const ref of nurtureRefs) expect(resources).toContain(JSON.stringify(ref));
      expect(resources).not.toContain(logicalIdOf(stack.requalification.stateMachine));
    }
  });

  it('no other function may start nurture executions, except the requalification sweep (re-enrolment)', () => {
    const allowed = new Set([roleOf(stack.scoring.scoreFunction), roleOf(stack.requalification.sweepShardFunction)]);
    // The erase worker stops an erased lead's run, and can do nothing else to nurture.
    const eraser = roleOf(stack.dataRights.eraseFunction);
    expect(
      statementsOfRole(eraser)
        .flatMap(actionsOf)
        .filter((a) => a.startsWith('states:')),
    ).toEqual(['states:StopExecution']);
    for (const fn of Object.values(stack.functions())) {
      const role = roleOf(fn);
      if (allowed.has(role) || role === eraser) continue;
      expect(
        statementsOfRole(role)
          .flatMap(actionsOf)
          .filter((a) => a.startsWith('states:')),
        fn.node.path,
      ).toEqual([]);
    }
  });

  it('tells the unsubscribe route which secret verifies the links (its ARN, never its value)', () => {
    const env =
      template.toJSON()['Resources'][logicalIdOf(stack.captureApi.unsubscribeFunction)]['Properties']['Environment'][
        'Variables'
      ];
    expect(env['UNSUBSCRIBE_KEYS_SECRET_ARN']).toEqual({ Ref: logicalIdOf(stack.nurture.unsubscribeSecret) });
  });

  it('puts no secret in any function’s configuration: no value, no dynamic reference, only ARNs of secrets', () => {
    const secrets = new Set(Object.keys(template.findResources('AWS::SecretsManager::Secret')));
    for (const [id, fn] of Object.entries(template.findResources('AWS::Lambda::Function'))) {
      const variables: Record<string, unknown> = fn.Properties.Environment?.Variables ?? {};
      expect(JSON.stringify(variables), id).not.toMatch(/resolve:secretsmanager|SecretString|secretValue/i);
      for (const [name, value] of Object.entries(variables)) {
        // Anything named like a credential must be a reference to a secret (its ARN), not a value.
        if (/SECRET|PASSWORD|TOKEN|PRIVATE|SIGNING|_KEY$/.test(name)) {
          expect(value, `${id} ${name}`).toEqual({ Ref: expect.any(String) });
          expect(secrets.has((value as { Ref: string }).Ref), `${id} ${name}`).toBe(true);
        }
      }
    }
  });

  it('outputs the API URL, the dashboard link, the scoring DLQ and the console link of every state machine', () => {
    template.hasOutput('ApiUrl', { Value: Match.anyValue() });
    // What `leadloop redrive --endpoint aws --dlq <url>` empties.
    template.hasOutput('ScoringDeadLetterQueueUrl', { Value: { Ref: logicalIdOf(stack.scoring.deadLetterQueue) } });
    template.hasOutput('DashboardUrl', {
      Value: {
        'Fn::Join': [
          '',
          [
            'https://',
            { Ref: 'AWS::Region' },
            '.console.aws.amazon.com/cloudwatch/home?region=',
            { Ref: 'AWS::Region' },
            '#dashboards:name=Leadloop-test',
          ],
        ],
      },
    });
    for (const [track, machine] of Object.entries(stack.nurture.stateMachines)) {
      template.hasOutput(`NurtureStateMachineUrl${pascal(track)}`, { Value: consoleUrl(logicalIdOf(machine)) });
    }
    template.hasOutput('NurtureStateMachineUrlCaseStudies', { Value: Match.anyValue() });
    template.hasOutput('RequalificationStateMachineUrl', {
      Value: consoleUrl(logicalIdOf(stack.requalification.stateMachine)),
    });
    template.hasOutput('AlarmTopicArn', { Value: { Ref: logicalIdOf(stack.observability.alarmTopic) } });
  });

  it('has no WAF web ACL by default: the missing WAF is acknowledged instead', () => {
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    expect(stack.captureApi.formRateLimit).toBeUndefined();
    const acknowledged = stack.captureApi.api.deploymentStage.node.metadata.filter(
      (m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY,
    );
    expect(JSON.stringify(acknowledged)).toContain('AwsSolutions-APIG3');
  });
});

describe('LeadloopStack with context waf=true', () => {
  let wafStack: LeadloopStack;
  let wafTemplate: Template;
  beforeAll(() => {
    ({ stack: wafStack, template: wafTemplate } = synthLeadloop({ waf: 'true' }));
  });

  it('puts a web ACL with a per-IP rate-based rule on the form route, answering 429 in the contract shape', () => {
    wafTemplate.resourceCountIs('AWS::WAFv2::WebACL', 1);
    wafTemplate.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      CustomResponseBodies: { TooManyRequests: { ContentType: 'APPLICATION_JSON', Content: RATE_LIMITED_BODY } },
      Rules: [
        Match.objectLike({
          Action: { Block: { CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'TooManyRequests' } } },
          Statement: {
            RateBasedStatement: {
              AggregateKeyType: 'IP',
              Limit: 100,
              EvaluationWindowSec: 300,
              ScopeDownStatement: {
                ByteMatchStatement: Match.objectLike({ PositionalConstraint: 'CONTAINS', SearchString: '/forms/' }),
              },
            },
          },
        }),
      ],
    });
  });

  it('associates the web ACL with the API stage', () => {
    const acl = wafStack.captureApi.formRateLimit?.webAcl;
    if (!acl) throw new Error('no web ACL');
    wafTemplate.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: { 'Fn::GetAtt': [logicalIdOf(acl), 'Arn'] },
      ResourceArn: {
        'Fn::Join': ['', Match.arrayWith([{ Ref: logicalIdOf(wafStack.captureApi.api) }])],
      },
    });
    const acknowledged = wafStack.captureApi.api.deploymentStage.node.metadata.filter(
      (m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY,
    );
    expect(JSON.stringify(acknowledged)).not.toContain('AwsSolutions-APIG3');
  });
});
