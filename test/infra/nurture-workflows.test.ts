import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { LeadStore } from '../../lib/lead-store.js';
import { handlerEntry, LeadloopFunction } from '../../lib/leadloop-function.js';
import { NurtureWorkflows, TRACK_TAG } from '../../lib/nurture-workflows.js';
import { logicalIdOf, testApp } from './synth.js';

function build() {
  const stack = new Stack(testApp(), 'NurtureTest', { env: { account: '123456789012', region: 'eu-west-1' } });
  const { table } = new LeadStore(stack, 'LeadStore');
  const nurture = new NurtureWorkflows(stack, 'Nurture', {
    table,
    configurationSetName: 'leadloop-test',
    senderEmail: 'hello@news.example.com',
    unsubscribeUrl: 'https://api.example.com/v1/unsubscribe',
    siteUrl: 'https://www.example.com',
  });
  const scorer = new LeadloopFunction(stack, 'Scorer', { entry: handlerEntry('score-stream') });
  nurture.grantEnrollment(scorer);
  const unsubscribe = new LeadloopFunction(stack, 'Unsubscribe', { entry: handlerEntry('unsubscribe') });
  nurture.configureUnsubscribe(unsubscribe);
  return { stack, nurture, scorer, unsubscribe, template: Template.fromStack(stack) };
}

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };
function statementsOf(template: Template, roleLogicalId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleLogicalId}"`))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actions = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const roleOf = (fn: LeadloopFunction): string => logicalIdOf(fn.role ?? fn);

/** The ASL of a synthesized state machine: its `Fn::Join` of strings and tokens, with each token as a placeholder. */
function resolveDefinition(definitionString: unknown): { StartAt: string; States: Record<string, unknown> } {
  const parts = (definitionString as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1] ?? [definitionString];
  const text = parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
  return JSON.parse(text) as { StartAt: string; States: Record<string, unknown> };
}

describe('NurtureWorkflows', () => {
  let b: ReturnType<typeof build>;
  beforeAll(() => {
    b = build();
  }, 120_000);

  it('has one Standard state machine per track, tagged with its track', () => {
    const machines = b.template.findResources('AWS::StepFunctions::StateMachine');
    expect(Object.keys(machines)).toHaveLength(DEFAULT_NURTURE_PLAN.tracks.length);
    for (const track of DEFAULT_NURTURE_PLAN.tracks) {
      b.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineType: 'STANDARD',
        Tags: Match.arrayWith([{ Key: TRACK_TAG, Value: track.id }]),
      });
    }
    expect(Object.keys(b.nurture.stateMachines).sort()).toEqual(DEFAULT_NURTURE_PLAN.tracks.map((t) => t.id).sort());
  });

  it('logs every execution event, without its data, to its own log group and traces with X-Ray', () => {
    for (const machine of Object.values(b.template.findResources('AWS::StepFunctions::StateMachine'))) {
      expect(machine.Properties.TracingConfiguration).toEqual({ Enabled: true });
      expect(machine.Properties.LoggingConfiguration).toMatchObject({
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } } }],
      });
    }
    // One per track's state machine, one per nurture function, and two more in the construct.
    b.template.resourceCountIs('AWS::Logs::LogGroup', DEFAULT_NURTURE_PLAN.tracks.length + 5 + 2);
  });

  it('retries transient failures with backoff and routes every other failure to "Record failure"', () => {
    for (const machine of Object.values(b.template.findResources('AWS::StepFunctions::StateMachine'))) {
      const text = JSON.stringify(machine.Properties.DefinitionString);
      expect(text).toContain('\\"RetryableError\\"');
      expect(text).toContain('\\"Lambda.TooManyRequestsException\\"');
      expect(text).toContain('\\"BackoffRate\\":2');
      expect(text).toContain('\\"Next\\":\\"Record failure\\"');
    }
  });

  it('gives a track with a holdout a real "Held out: no mail" branch per touch, joining the same wait and re-evaluation', () => {
    const track = DEFAULT_NURTURE_PLAN.tracks.find((t) => t.holdoutPercent > 0);
    expect(track?.id).toBe('testimonials');
    const machine = b.nurture.stateMachines['testimonials'];
    const resource = b.template.findResources('AWS::StepFunctions::StateMachine')[logicalIdOf(machine ?? b.stack)];
    const definition = resolveDefinition(resource?.Properties.DefinitionString);
    const states = definition.States as Record<string, Record<string, unknown>>;
    const arm = states['Holdout group? (testimonial 1)'];
    expect(definition.StartAt).toBe('Holdout group? (testimonial 1)');
    expect(arm).toMatchObject({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.arm', IsPresent: true },
            { Variable: '$.arm', StringEquals: 'holdout' },
          ],
          Next: 'Held out: no mail (testimonial 1)',
        },
      ],
      Default: 'Send testimonial 1',
    });
    expect(states['Held out: no mail (testimonial 1)']).toMatchObject({
      Type: 'Task',
      Next: 'Testimonial 1 held out?',
      Parameters: {
        Payload: { 'arm.$': '$$.Execution.Input.arm', 'experimentId.$': '$$.Execution.Input.experimentId' },
      },
    });
    expect(states['Testimonial 1 held out?']).toMatchObject({
      Type: 'Choice',
      Choices: [
        { Variable: '$.outcome', StringEquals: 'held_out', Next: 'Wait 3 days after testimonial 1' },
        { Variable: '$.outcome', StringEquals: 'deferred', Next: 'Wait for send window (held out, testimonial 1)' },
      ],
      Default: 'Re-evaluate lead after testimonial 1',
    });
    // Outside the send window the holdout waits as a send would, then tries again.
    expect(states['Wait for send window (held out, testimonial 1)']).toMatchObject({
      Type: 'Wait',
      TimestampPath: '$.resumeAt',
      Next: 'Held out: no mail (testimonial 1)',
    });
    // The second touch is reached through its own holdout choice, from the same re-evaluation as a treated lead's.
    expect(JSON.stringify(states['Promoted to SQL after testimonial 1?'])).toContain('Holdout group? (testimonial 2)');
    expect(states['Held out: no mail (testimonial 2)']).toBeDefined();
    // Every task reads the arm from the run's input, so it cannot change mid-run.
    expect(states['Re-evaluate lead after testimonial 1']).toMatchObject({
      Parameters: { Payload: { 'arm.$': '$$.Execution.Input.arm' } },
    });
    // Tracks without a holdout have no such states, and the held-out task cannot send mail.
    const caseStudies = JSON.stringify(
      b.template.findResources('AWS::StepFunctions::StateMachine')[
        logicalIdOf(b.nurture.stateMachines['case-studies'] ?? b.stack)
      ],
    );
    expect(caseStudies).not.toContain('Held out');
    expect(
      statementsOf(b.template, roleOf(b.nurture.functions.holdOut))
        .flatMap(actions)
        .filter((a) => a.startsWith('ses:')),
    ).toEqual([]);
  });

  it('deploys every template of every track as an SES template', () => {
    const templates = Object.values(b.template.findResources('AWS::SES::Template')).map(
      (t) => t.Properties.Template.TemplateName,
    );
    expect(templates).toHaveLength(b.nurture.templates.length);
    expect(templates).toEqual(
      expect.arrayContaining([
        'leadloop-newsletter-1--default',
        'leadloop-case-study-2--healthcare',
        'leadloop-testimonial-2--default',
      ]),
    );
  });

  it('lets only the send function send email: from the sender, with our configuration set and templates', () => {
    const send = statementsOf(b.template, roleOf(b.nurture.functions.touch)).filter((s) =>
      actions(s).some((a) => a.startsWith('ses:')),
    );
    expect(send).toHaveLength(1);
    const [statement] = send;
    expect(actions(statement ?? { Action: [], Resource: [], Effect: '' }).sort()).toEqual([
      'ses:SendEmail',
      'ses:SendTemplatedEmail',
    ]);
    const resources = JSON.stringify(statement?.Resource);
    expect(resources).toContain(':identity/hello@news.example.com');
    expect(resources).toContain(':identity/news.example.com');
    expect(resources).toContain(':configuration-set/leadloop-test');
    expect(resources).toContain(':template/leadloop-case-study-1--real-estate');
    expect(resources).not.toContain('"*"');
    expect(statement?.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'hello@news.example.com' } });
    for (const fn of [
      b.nurture.functions.evaluate,
      b.nurture.functions.handoff,
      b.nurture.functions.recordFailure,
      b.scorer,
      b.unsubscribe,
    ]) {
      expect(
        statementsOf(b.template, roleOf(fn))
          .flatMap(actions)
          .filter((a) => a.startsWith('ses:')),
      ).toEqual([]);
    }
  });

  it('publishes nothing itself: promotions are published from the scoring commit (LeadEvents)', () => {
    for (const fn of Object.values(b.nurture.functions)) {
      expect(statementsOf(b.template, roleOf(fn)).flatMap(actions)).not.toContain('events:PutEvents');
    }
  });

  it('lets the enrolling function start and stop runs of these state machines only, and tells it their ARNs', () => {
    const statements = statementsOf(b.template, roleOf(b.scorer));
    const start = JSON.stringify(
      statements.filter((s) => actions(s).includes('states:StartExecution')).map((s) => s.Resource),
    );
    for (const sm of Object.values(b.nurture.stateMachines)) expect(start).toContain(logicalIdOf(sm));
    expect(start).not.toContain('"*"');
    expect(JSON.stringify(statements.filter((s) => actions(s).includes('states:StopExecution')))).toContain(
      ':execution:',
    );
    const fn = b.template.findResources('AWS::Lambda::Function')[logicalIdOf(b.scorer)];
    expect(JSON.stringify(fn?.Properties.Environment.Variables.NURTURE_STATE_MACHINES)).toContain('newsletter');
  });

  it('lets only the send function and the unsubscribe route read the signing keyring, and gives each task only its settings', () => {
    const env = (fn: LeadloopFunction) =>
      b.template.findResources('AWS::Lambda::Function')[logicalIdOf(fn)]?.Properties.Environment.Variables;
    const touch = env(b.nurture.functions.touch);
    expect(touch).toMatchObject({
      SENDER_EMAIL: 'hello@news.example.com',
      SES_CONFIGURATION_SET: 'leadloop-test',
      UNSUBSCRIBE_BASE_URL: 'https://api.example.com/v1/unsubscribe',
      NURTURE_SITE_URL: 'https://www.example.com',
    });
    const keyring = { Ref: logicalIdOf(b.nurture.unsubscribeSecret) };
    expect(touch.UNSUBSCRIBE_KEYS_SECRET_ARN).toEqual(keyring);
    expect(env(b.unsubscribe).UNSUBSCRIBE_KEYS_SECRET_ARN).toEqual(keyring);
    for (const fn of [b.nurture.functions.evaluate, b.nurture.functions.handoff, b.nurture.functions.recordFailure]) {
      expect(Object.keys(env(fn))).not.toContain('UNSUBSCRIBE_KEYS_SECRET_ARN');
      expect(Object.keys(env(fn))).not.toContain('SENDER_EMAIL');
    }
    // Read access to the keyring: exactly the two functions' roles.
    const readers = Object.values(b.template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.PolicyDocument).includes('secretsmanager:GetSecretValue'))
      .flatMap((p) => (p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref))
      .sort();
    const roleOf = (fn: LeadloopFunction) => logicalIdOf(fn.role ?? fail());
    expect(readers).toEqual([roleOf(b.nurture.functions.touch), roleOf(b.unsubscribe)].sort());
  });

  it('has no unacknowledged cdk-nag (AWS Solutions) findings', () => {
    const findings = new AwsSolutionsChecks()
      .validateScope(b.stack)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`))
      .filter((f) => f.includes('/Nurture/') || f.includes('/Scorer') || f.includes('/Unsubscribe'));
    expect(findings).toEqual([]);
  });
});

function fail(): never {
  throw new Error('missing');
}
