import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { TABLE } from '../../lambdas/adapters/table-definition.js';
import { LeadloopFunction } from '../../lib/leadloop-function.js';
import { LeadStore } from '../../lib/lead-store.js';
import { createResolver, Template as CfnTemplate } from '../../lib/local/intrinsics.js';
import { Requalification, SWEEP_STATES, type RequalificationProps } from '../../lib/requalification.js';
import { logicalIdOf, testApp } from './synth.js';

/** A stack with the lead table, one nurture state machine (imported) and the construct under test. */
function build(props: Partial<RequalificationProps> = {}) {
  const stack = new Stack(testApp(), 'RequalificationTest');
  const { table } = new LeadStore(stack, 'LeadStore');
  const newsletter = StateMachine.fromStateMachineName(stack, 'Newsletter', 'leadloop-newsletter');
  const requalification = new Requalification(stack, 'Requalification', {
    table,
    nurtureStateMachines: { newsletter },
    ...props,
  });
  return { stack, table, requalification, template: Template.fromStack(stack) };
}

/** The built state machine's definition, its intrinsics resolved as the local runtime resolves them. */
function definitionOf(b: ReturnType<typeof build>): { States: Record<string, Record<string, unknown>> } {
  const template = CfnTemplate.parse(b.template.toJSON());
  const resolver = createResolver(template, { region: 'us-east-1', apiUrl: 'http://127.0.0.1:3000' });
  const body = template.Resources[logicalIdOf(b.requalification.stateMachine)]?.Properties?.DefinitionString;
  return JSON.parse(resolver.string(body)) as { States: Record<string, Record<string, unknown>> };
}

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
/** The policy statements attached to a role, from every AWS::IAM::Policy of the template. */
function statementsOf(template: Template, roleLogicalId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleLogicalId}"`))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();

describe('Requalification', () => {
  let built: ReturnType<typeof build>;
  beforeAll(() => {
    built = build();
  });

  it('schedules the sweep daily at 03:00 UTC with EventBridge Scheduler, as of the scheduled time, with retries', () => {
    built.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { Ref: logicalIdOf(built.requalification.stateMachine) },
        Input: JSON.stringify({ asOf: '<aws.scheduler.scheduled-time>' }),
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      },
    });
  });

  it('takes another schedule, disabled, and another concurrency', () => {
    const other = build({
      schedule: ScheduleExpression.rate(Duration.hours(6)),
      scheduleEnabled: false,
      maxConcurrency: 8,
    });
    other.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(6 hours)',
      State: 'DISABLED',
    });
    expect(definitionOf(other).States[SWEEP_STATES.sweepShards]).toMatchObject({
      MaxConcurrency: 8,
    });
  });

  it('is a Standard state machine with X-Ray tracing and ALL events logged to its own log group, without execution data', () => {
    built.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: {
              LogGroupArn: { 'Fn::GetAtt': [logicalIdOf(built.requalification.logGroup), 'Arn'] },
            },
          },
        ],
      },
    });
    built.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('maps over every review-index shard with bounded concurrency, looping "Sweep shard" until done, then summarizes', () => {
    const states = definitionOf(built).States;
    expect(states[SWEEP_STATES.planShards]).toMatchObject({
      Parameters: { shards: Array.from({ length: TABLE.reviewShards }, (_, i) => i) },
    });
    expect(states[SWEEP_STATES.sweepShards]).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 4,
      ItemsPath: '$.shards',
      ItemSelector: { 'shard.$': '$$.Map.Item.Value', 'asOf.$': '$.asOf' },
      Next: SWEEP_STATES.summarize,
    });
    const shardStates = JSON.parse(JSON.stringify(states[SWEEP_STATES.sweepShards])).ItemProcessor.States;
    expect(shardStates[SWEEP_STATES.shardDone]).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.done', BooleanEquals: true, Next: SWEEP_STATES.shardSwept }],
      Default: SWEEP_STATES.sweepShard,
    });
    expect(states[SWEEP_STATES.allSwept]).toMatchObject({ Default: SWEEP_STATES.incomplete });
    expect(states[SWEEP_STATES.incomplete]).toMatchObject({ Type: 'Fail', Error: 'SweepIncomplete' });
  });

  it('retries a failed shard invocation, then catches it so the other shards finish', () => {
    const sweep = JSON.parse(JSON.stringify(definitionOf(built).States[SWEEP_STATES.sweepShards])).ItemProcessor.States[
      SWEEP_STATES.sweepShard
    ];
    expect(sweep).toMatchObject({
      Resource: expect.stringMatching(/:states:::lambda:invoke$/),
      OutputPath: '$.Payload',
      TimeoutSeconds: 330,
      Retry: expect.arrayContaining([
        expect.objectContaining({ ErrorEquals: expect.arrayContaining(['Lambda.ServiceException']) }),
        { ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 5, MaxAttempts: 3, BackoffRate: 2 },
      ]),
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: SWEEP_STATES.shardFailed }],
    });
  });

  it('runs its two functions as LeadloopFunctions: traced, the shard sweep with a 5-minute budget', () => {
    const { requalification, template } = built;
    expect(requalification.sweepShardFunction).toBeInstanceOf(LeadloopFunction);
    expect(requalification.summaryFunction).toBeInstanceOf(LeadloopFunction);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 300,
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: Match.objectLike({
          TABLE_NAME: { Ref: logicalIdOf(built.table) },
          SWEEP_PAGE_SIZE: '100',
          NURTURE_STATE_MACHINES: Match.anyValue(),
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      TracingConfig: { Mode: 'Active' },
      Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: 'default' }) },
    });
  });

  it('grants the shard sweep item access to the table and its indexes (no Scan), and only start/stop on nurture', () => {
    const { template, requalification, table } = built;
    const role = logicalIdOf(requalification.sweepShardFunction.role ?? requalification.sweepShardFunction);
    const statements = statementsOf(template, role);
    const actions = actionsOf(statements);
    expect(actions).toEqual(
      expect.arrayContaining(['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']),
    );
    expect(actions).not.toContain('dynamodb:Scan');
    expect(actions.filter((a) => a.startsWith('states:'))).toEqual(['states:StartExecution', 'states:StopExecution']);
    expect(actions.filter((a) => a.startsWith('events:'))).toEqual([]);
    const dynamo = statements.find((s) => actionsOf([s]).includes('dynamodb:Query'));
    expect(JSON.stringify(dynamo?.Resource)).toContain(`/index/${TABLE.reviewIndex.name}`);
    expect(JSON.stringify(dynamo?.Resource)).toContain(logicalIdOf(table));
    const stop = statements.find((s) => actionsOf([s]).includes('states:StopExecution'));
    expect(JSON.stringify(stop?.Resource)).toContain(':execution:leadloop-newsletter:*');
    const start = statements.find((s) => actionsOf([s]).includes('states:StartExecution'));
    expect(JSON.stringify(start?.Resource)).toContain(':stateMachine:leadloop-newsletter');
  });

  it('grants the summary only PutEvents on the bus, the state machine only invoking its two functions', () => {
    const { template, requalification } = built;
    const summary = statementsOf(
      template,
      logicalIdOf(requalification.summaryFunction.role ?? requalification.summaryFunction),
    );
    expect(actionsOf(summary).filter((a) => !a.startsWith('logs:') && !a.startsWith('xray:'))).toEqual([
      'events:PutEvents',
    ]);
    expect(JSON.stringify(summary)).toContain(':event-bus/default');

    const machine = statementsOf(template, logicalIdOf(requalification.stateMachine.role));
    const invoke = machine.filter((s) => actionsOf([s]).includes('lambda:InvokeFunction'));
    expect(JSON.stringify(invoke)).toContain(logicalIdOf(requalification.sweepShardFunction));
    expect(JSON.stringify(invoke)).toContain(logicalIdOf(requalification.summaryFunction));
    expect(actionsOf(machine).filter((a) => a.startsWith('dynamodb:') || a.startsWith('states:'))).toEqual([]);
  });

  it("lets the schedule's role start this state machine and nothing else", () => {
    const { template, requalification } = built;
    const [role] = Object.entries(template.findResources('AWS::IAM::Role')).filter(([, r]) =>
      JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('scheduler.amazonaws.com'),
    );
    expect(role).toBeDefined();
    const statements = statementsOf(template, role?.[0] ?? '');
    expect(actionsOf(statements)).toEqual(['states:StartExecution']);
    expect(statements[0]?.Resource).toEqual({ Ref: logicalIdOf(requalification.stateMachine) });
  });

  it('has no unacknowledged cdk-nag (AWS Solutions) finding', () => {
    const findings = new AwsSolutionsChecks()
      .validateScope(built.stack)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`))
      .filter((f) => f.includes('/Requalification/'));
    expect(findings).toEqual([]);
  });
});
