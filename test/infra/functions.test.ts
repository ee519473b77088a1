import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { handlerEntry, LeadloopFunction } from '../../lib/leadloop-function.js';
import type { LeadloopStack } from '../../lib/leadloop-stack.js';
import { logicalIdOf, synthLeadloop, testApp } from './synth.js';

const HANDLERS = [
  'capture-form',
  'capture-events',
  'leads-admin',
  'unsubscribe',
  'confirm',
  'sending-admin',
  'score-stream',
  'ses-engagement',
  'nurture-touch',
  'nurture-hold-out',
  'nurture-evaluate',
  'nurture-handoff',
  'nurture-record-failure',
  'requalify-shard',
  'requalify-summary',
  'publish-lead-events',
  'erase-lead',
] as const;

/** Every Lambda of the stack, by the handler module it runs. */
const functionsOf = (stack: LeadloopStack): Record<string, LeadloopFunction> => stack.functions();

describe('LeadloopFunction (every Lambda of the stack)', () => {
  let stack: LeadloopStack;
  let template: Template;
  beforeAll(() => {
    ({ stack, template } = synthLeadloop());
  });

  it('the stack has exactly its handler functions', () => {
    template.resourceCountIs('AWS::Lambda::Function', HANDLERS.length);
    expect(Object.keys(functionsOf(stack)).sort()).toEqual([...HANDLERS].sort());
  });

  it.each(HANDLERS)('%s: Node.js 22 on ARM64, traced, with the common environment and its log group', (name) => {
    const fn = functionsOf(stack)[name];
    if (!fn) throw new Error(`no function for ${name}`);
    expect(fn).toBeInstanceOf(LeadloopFunction);
    const props: unknown = template.toJSON()['Resources'][logicalIdOf(fn)]['Properties'];
    expect(props).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
      Timeout: expect.any(Number),
      MemorySize: expect.any(Number),
      Environment: {
        Variables: {
          // Every function but the sweep summary (metrics and an event, no table access) works on the table.
          ...(name === 'requalify-summary' ? {} : { TABLE_NAME: { Ref: logicalIdOf(stack.leadStore.table) } }),
          POWERTOOLS_SERVICE_NAME: 'leadloop',
          POWERTOOLS_METRICS_NAMESPACE: 'Leadloop',
          LOG_LEVEL: 'DEBUG',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
      LoggingConfig: { LogGroup: { Ref: logicalIdOf(fn.functionLogGroup) } },
    });
  });

  it('logs to its own log group with one month of retention', () => {
    // one per function + the API access log + one per state machine (the nurture tracks, requalification)
    const machines = Object.keys(template.findResources('AWS::StepFunctions::StateMachine')).length;
    template.resourceCountIs('AWS::Logs::LogGroup', HANDLERS.length + 1 + machines);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('capture-form also gets the allowed origins', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^POST /forms'),
      Environment: { Variables: Match.objectLike({ ALLOWED_ORIGINS: 'http://localhost:3000' }) },
    });
  });

  it('roles carry no AWS managed policies; X-Ray has a policy of its own', () => {
    for (const fn of Object.values(functionsOf(stack))) {
      if (!fn.role) throw new Error(`${fn.node.path} has no role`);
      const roleId = logicalIdOf(fn.role);
      expect(template.toJSON()['Resources'][roleId]['Properties']['ManagedPolicyArns']).toBeUndefined();
      template.hasResource('AWS::IAM::Policy', {
        Properties: {
          PolicyName: Match.anyValue(),
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Effect: 'Allow', Resource: '*' },
            ],
          },
          Roles: [{ Ref: roleId }],
        },
      });
      expect(logicalIdOf(fn.node.findChild('XRayPolicy'))).toMatch(/XRayPolicy/);
    }
  });

  it('no function may use a wildcard resource except for X-Ray and dynamodb:ListStreams', () => {
    const allowedWildcards = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'dynamodb:ListStreams']);
    for (const fn of Object.values(functionsOf(stack))) {
      if (!fn.role) throw new Error(`${fn.node.path} has no role`);
      const wildcardActions = statementsOfRole(template, logicalIdOf(fn.role))
        .filter((st) => [st.Resource].flat().includes('*'))
        .flatMap((st) => [st.Action].flat());
      expect(
        wildcardActions.filter((a) => !allowedWildcards.has(a)),
        fn.node.path,
      ).toEqual([]);
    }
  });

  it('defaults: 10 s, 256 MB, INFO; the caller can override them and add environment', () => {
    const small = new Stack(testApp(), 'FunctionOnly');
    new LeadloopFunction(small, 'Defaults', { entry: handlerEntry('capture-form') });
    new LeadloopFunction(small, 'Custom', {
      entry: handlerEntry('capture-form'),
      memorySize: 512,
      logLevel: 'WARN',
      environment: { EXTRA: 'yes' },
    });
    const t = Template.fromStack(small);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 10,
      MemorySize: 256,
      Environment: { Variables: Match.objectLike({ LOG_LEVEL: 'INFO' }) },
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      Environment: { Variables: Match.objectLike({ LOG_LEVEL: 'WARN', EXTRA: 'yes' }) },
    });
  });
});

interface Statement {
  Action: string | string[];
  Resource: unknown;
}

/** Every policy statement attached to a role in the template. */
function statementsOfRole(template: Template, roleId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Statement[]);
}
