import { Arn, ArnFormat, CfnElement, Duration, Stack, Tags, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { CfnTemplate } from 'aws-cdk-lib/aws-ses';
import {
  Choice,
  Condition,
  DefinitionBody,
  Fail,
  JitterType,
  JsonPath,
  LogLevel as SfnLogLevel,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Wait,
  WaitTime,
  type IChainable,
  type State,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { CONFIRMATION_TEMPLATE } from '../lambdas/domain/nurture/confirmation.js';
import { DEFAULT_NURTURE_PLAN } from '../lambdas/domain/nurture/default-tracks.js';
import { STEP_PATHS } from '../lambdas/domain/nurture/steps.js';
import type { Touch, Track } from '../lambdas/domain/nurture/tracks.js';
import { loadEmailTemplates, type EmailTemplate } from './email/catalog.js';
import { grantLeadTableData } from './lead-store.js';
import { handlerEntry, LeadloopFunction, type LogLevel } from './leadloop-function.js';
import { nagResourceName } from './nag-names.js';

/** The Lambda tasks of the nurture state machines, and the handler module each runs. */
export const NURTURE_TASKS = {
  touch: 'nurture-touch',
  holdOut: 'nurture-hold-out',
  evaluate: 'nurture-evaluate',
  handoff: 'nurture-handoff',
  recordFailure: 'nurture-record-failure',
} as const;
export type NurtureTask = keyof typeof NURTURE_TASKS;

/** Errors worth retrying: Lambda's own transient failures and throttling, and our `RetryableError`. */
export const TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
  'RetryableError',
] as const;

/** Tag on each state machine naming its track (the console's filter, and how the local runtime tells them apart). */
export const TRACK_TAG = 'leadloop:nurture-track';

export interface NurtureWorkflowsProps {
  /** The lead table: the tasks read leads and events, append `email_sent`, and record nurture state. */
  readonly table: ITable;
  /** SES configuration set every nurture mail is sent with (engagement events come back through it). */
  readonly configurationSetName: string;
  /** The From address; the send function may send from this address only. */
  readonly senderEmail: string;
  /** The public `GET`/`POST /unsubscribe` route (DESIGN §8), e.g. `${api.url}unsubscribe`. */
  readonly unsubscribeUrl: string;
  /** The public site the emails link to (the landing pages). */
  readonly siteUrl: string;
  /** The sender's postal address, printed in every footer (commercial email must carry one). @default a placeholder */
  readonly mailingAddress?: string;
  /** Prefix of the deployed SES template names; one per stage keeps stages in one account apart. @default 'leadloop' */
  readonly templatePrefix?: string;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Retention of the functions' and state machines' logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * Nurture on Step Functions (DESIGN §6): one Standard state machine per track of the tracks file
 * (lambdas/domain/nurture/default-tracks.ts), whose states read as the track does — "Send case study 1 (industry
 * variant)", "Wait 4 days after case study 1", "Re-evaluate lead after case study 1", "Promoted to SQL after case
 * study 1?", "Hand off to sales" — so a marketer watching a run sees the plan and where the lead is. Every task
 * retries transient failures with backoff and otherwise goes to "Record failure". The email templates of the tracks
 * are deployed as SES templates (validated against the tracks at synth time).
 *
 * The state machines are the only thing here that knows the order of things; what each step decides lives in
 * lambdas/domain/nurture.
 */
export class NurtureWorkflows extends Construct {
  /** One state machine per track id. */
  readonly stateMachines: Record<string, StateMachine>;
  /** The task functions, shared by every track. */
  readonly functions: Record<NurtureTask, LeadloopFunction>;
  /** The SES templates, one per template and variant. */
  readonly templates: EmailTemplate[];
  /**
   * The keyring that signs the unsubscribe links (`{"active":"k1","k1":"<key>"}`), read at run time by the functions
   * that sign or verify (the touch, and the route `configureUnsubscribe` is given); never in a configuration.
   */
  readonly unsubscribeSecret: Secret;
  /** Execution logs of each state machine, by track. */
  readonly logGroups: Record<string, LogGroup>;

  private readonly props: NurtureWorkflowsProps;

  constructor(scope: Construct, id: string, props: NurtureWorkflowsProps) {
    super(scope, id);
    this.props = props;
    const plan = DEFAULT_NURTURE_PLAN;
    const templatePrefix = props.templatePrefix ?? 'leadloop';
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.templates = loadEmailTemplates({ prefix: templatePrefix, plan });
    for (const t of this.templates) {
      new CfnTemplate(this, `Template-${t.template}-${t.variant}`, {
        template: { templateName: t.name, subjectPart: t.subject, htmlPart: t.html, textPart: t.text },
      });
    }

    this.unsubscribeSecret = new Secret(this, 'UnsubscribeSecret', {
      description:
        'Keyring signing the unsubscribe links of nurture mail (HMAC-SHA256): {"active":"<kid>","<kid>":"<key>",...}',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ active: 'k1' }),
        generateStringKey: 'k1',
        passwordLength: 48,
        excludePunctuation: true,
      },
    });
    Validations.of(this.unsubscribeSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotated by adding a key to the keyring and making it active (README): links signed with an older key stay valid for their year while that key is kept, which a rotation Lambda replacing the value would break.',
    });

    // Each task is given what it uses, nothing more: a function that reads a setting it was not given fails on AWS,
    // and the local runtime, which runs every function with its template environment, fails the same way.
    const fn = (task: NurtureTask, description: string, environment: Record<string, string> = {}) => {
      const f = new LeadloopFunction(this, `${task[0]?.toUpperCase()}${task.slice(1)}Function`, {
        entry: handlerEntry(NURTURE_TASKS[task]),
        description,
        timeout: Duration.seconds(20),
        logLevel: props.logLevel,
        logRetention,
        environment: { TABLE_NAME: props.table.tableName, ...environment },
      });
      grantLeadTableData(props.table, f, 'readWrite');
      return f;
    };
    this.functions = {
      touch: fn('touch', 'Nurture: checks eligibility and sends one touch through SES', {
        SENDER_EMAIL: props.senderEmail,
        SES_CONFIGURATION_SET: props.configurationSetName,
        NURTURE_TEMPLATE_PREFIX: templatePrefix,
        NURTURE_SITE_URL: props.siteUrl,
        UNSUBSCRIBE_BASE_URL: props.unsubscribeUrl,
        ...(props.mailingAddress ? { NURTURE_MAILING_ADDRESS: props.mailingAddress } : {}),
      }),
      holdOut: fn('holdOut', "Nurture: records a held-out lead's touch (an experiment's holdout), mailing nothing"),
      evaluate: fn('evaluate', 'Nurture: re-evaluates a lead after a wait'),
      handoff: fn('handoff', 'Nurture: ends the run of a lead promoted to sales'),
      recordFailure: fn('recordFailure', 'Nurture: records a failed run on the lead'),
    };
    this.grantSend(this.functions.touch, props);
    this.grantSigningKeys(this.functions.touch);

    this.stateMachines = {};
    this.logGroups = {};
    for (const track of plan.tracks) {
      const scope = new Construct(this, `Track-${track.id}`);
      const logGroup = new LogGroup(scope, 'Logs', { retention: logRetention });
      const stateMachine = new StateMachine(scope, 'StateMachine', {
        comment: `Nurture track "${track.id}": ${track.description}`,
        stateMachineType: StateMachineType.STANDARD,
        definitionBody: DefinitionBody.fromChainable(trackDefinition(scope, track, this.functions)),
        timeout: Duration.days(track.touches.reduce((days, t) => days + t.waitDays, 0) + 30),
        tracingEnabled: true,
        // Execution data (the lead ids, results and causes of each step) stays out of CloudWatch Logs; the
        // console's execution history still shows each run.
        logs: { destination: logGroup, level: SfnLogLevel.ALL, includeExecutionData: false },
      });
      Tags.of(stateMachine).add(TRACK_TAG, track.id);
      this.acknowledgeStateMachineGrants(stateMachine);
      this.stateMachines[track.id] = stateMachine;
      this.logGroups[track.id] = logGroup;
    }
  }

  /**
   * Step Functions delivers logs through CloudWatch Logs' vended-log APIs and traces through X-Ray, neither of which
   * supports resource-level permissions (CDK grants them on '*'); invoking a task is granted on the function and its
   * versions (`<arn>:*`).
   */
  private acknowledgeStateMachineGrants(stateMachine: StateMachine): void {
    const policy = stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (!policy) return;
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Log delivery (logs:CreateLogDelivery etc.) and X-Ray tracing support no resource-level permissions.',
    });
    for (const fn of Object.values(this.functions)) {
      const cfn = fn.node.defaultChild;
      if (!(cfn instanceof CfnElement)) continue;
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(cfn)}.Arn>:*]`,
        reason: 'Invoking a Lambda function from Step Functions is granted on the function and its versions.',
      });
    }
  }

  /** SES v2 `SendEmail` from the sender only, with the configuration set and our templates only. */
  private grantSend(
    grantee: IGrantable,
    props: NurtureWorkflowsProps,
    templates: readonly EmailTemplate[] = this.templates,
  ): void {
    const stack = Stack.of(this);
    const ses = (resource: string, resourceName: string) =>
      stack.formatArn({ service: 'ses', resource, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    const domain = props.senderEmail.slice(props.senderEmail.lastIndexOf('@') + 1);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ses:SendEmail', 'ses:SendTemplatedEmail'],
        resources: [
          ses('identity', props.senderEmail),
          ses('identity', domain),
          ses('configuration-set', props.configurationSetName),
          ...templates.map((t) => ses('template', t.name)),
        ],
        conditions: { StringEquals: { 'ses:FromAddress': props.senderEmail } },
      }),
    );
  }

  /**
   * Lets the scoring pipeline enrol leads: start executions of these state machines and stop their executions, and
   * tells it their ARNs (`NURTURE_STATE_MACHINES`, read by `nurtureStarterFromEnv`).
   */
  grantEnrollment(fn: LeadloopFunction): void {
    const stack = Stack.of(this);
    const arns: Record<string, string> = {};
    for (const [track, sm] of Object.entries(this.stateMachines)) {
      sm.grantStartExecution(fn);
      const parts = Arn.split(sm.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME);
      const executions = Arn.format({ ...parts, resource: 'execution', resourceName: `${parts.resourceName}:*` });
      fn.addToRolePolicy(new PolicyStatement({ actions: ['states:StopExecution'], resources: [executions] }));
      const policy = fn.role?.node.tryFindChild('DefaultPolicy');
      if (policy) {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResourceName(stack.resolve(executions))}]`,
          reason:
            "StopExecution is granted on a nurture state machine's executions, whose ARNs end in the execution name.",
        });
      }
      arns[track] = sm.stateMachineArn;
    }
    fn.addEnvironment('NURTURE_STATE_MACHINES', stack.toJsonString(arns));
  }

  /**
   * Lets the form function send the confirmation mail of confirmed opt-in (lambdas/domain/nurture/confirmation.ts):
   * the sender, configuration set and template settings of nurture mail, SES send on the confirmation template only,
   * the keyring (it signs the confirmation and unsubscribe links), the public `/confirm` route, and the switch.
   */
  configureConfirmationMail(
    fn: LeadloopFunction,
    opts: { confirmUrl: string; unsubscribeUrl: string; confirmedOptIn: boolean },
  ): void {
    const { props } = this;
    const environment: Record<string, string> = {
      CONFIRMED_OPT_IN: String(opts.confirmedOptIn),
      CONFIRM_BASE_URL: opts.confirmUrl,
      SENDER_EMAIL: props.senderEmail,
      SES_CONFIGURATION_SET: props.configurationSetName,
      NURTURE_TEMPLATE_PREFIX: props.templatePrefix ?? 'leadloop',
      NURTURE_SITE_URL: props.siteUrl,
      UNSUBSCRIBE_BASE_URL: opts.unsubscribeUrl,
      ...(props.mailingAddress ? { NURTURE_MAILING_ADDRESS: props.mailingAddress } : {}),
    };
    for (const [k, v] of Object.entries(environment)) fn.addEnvironment(k, v);
    this.grantSend(
      fn,
      props,
      this.templates.filter((t) => t.template === CONFIRMATION_TEMPLATE),
    );
    this.grantSigningKeys(fn);
  }

  /** Lets the unsubscribe route verify the links: read access to the keyring, and its ARN (not its value). */
  configureUnsubscribe(fn: LeadloopFunction): void {
    this.grantSigningKeys(fn);
  }

  /** `secretsmanager:GetSecretValue` on the keyring, and `UNSUBSCRIBE_KEYS_SECRET_ARN` naming it. */
  private grantSigningKeys(fn: LeadloopFunction): void {
    this.unsubscribeSecret.grantRead(fn);
    fn.addEnvironment('UNSUBSCRIBE_KEYS_SECRET_ARN', this.unsubscribeSecret.secretArn);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One factory per kind of state (STYLE §11). State names are what the marketer reads in the console.

type Tasks = Record<NurtureTask, LeadloopFunction>;

/** Retry transient failures with exponential backoff and jitter; anything else goes to "Record failure". */
function guarded(task: LambdaInvoke, recordFailure: State): LambdaInvoke {
  retryTransient(task);
  task.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: STEP_PATHS.error });
  return task;
}

function retryTransient(task: LambdaInvoke): void {
  task.addRetry({
    errors: [...TRANSIENT_ERRORS],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 6,
    maxDelay: Duration.minutes(1),
    jitterStrategy: JitterType.FULL,
  });
}

/** A task invoking a nurture function with the lead, the track, the touch and the execution name. */
function invoke(
  scope: Construct,
  id: string,
  stateName: string,
  fn: LeadloopFunction,
  track: Track,
  touch: number | 'input',
  comment: string,
): LambdaInvoke {
  return new LambdaInvoke(scope, id, {
    stateName,
    comment,
    lambdaFunction: fn,
    payload: TaskInput.fromObject({
      leadId: JsonPath.stringAt(STEP_PATHS.leadId),
      track: track.id,
      touch: touch === 'input' ? JsonPath.numberAt('$.touch') : touch,
      executionName: JsonPath.stringAt('$$.Execution.Name'),
      // The arm and the experiment come from the run's input, never from a step's result: they cannot change mid-run.
      ...(track.experimentId !== undefined && {
        arm: JsonPath.stringAt('$$.Execution.Input.arm'),
        experimentId: JsonPath.stringAt('$$.Execution.Input.experimentId'),
      }),
    }),
    outputPath: '$.Payload',
    retryOnServiceExceptions: false,
  });
}

const capitalized = (s: string): string => `${s[0]?.toUpperCase() ?? ''}${s.slice(1)}`;
const days = (n: number): string => (n === 1 ? '1 day' : `${n} days`);

interface SharedStates {
  handoff: LambdaInvoke;
  unresponsive: State;
  ended: State;
  recordFailure: State;
}

/**
 * The states of one touch: send (or wait for the send window and try again), wait, re-evaluate, decide. On a track
 * with a holdout, a choice first sends held-out leads down "Held out: no mail", which records the touch without
 * mailing and joins the same wait and re-evaluation.
 */
function touchStates(
  scope: Construct,
  track: Track,
  touch: Touch,
  index: number,
  tasks: Tasks,
  shared: SharedStates,
): { entry: State; decide: Choice } {
  const n = index + 1;
  const send = guarded(
    invoke(
      scope,
      `Send${n}`,
      `Send ${touch.name}${touch.variants.length > 0 ? ' (industry variant)' : ''}`,
      tasks.touch,
      track,
      n,
      `Checks consent, suppression, frequency cap and send window, then sends template ${touch.template}` +
        (touch.variants.length > 0
          ? ` in the lead's industry variant (${touch.variants.join(', ')}; else default)`
          : '') +
        (touch.contentVariants
          ? `; content test: ${touch.contentVariants.map((v) => `${v.id} (${v.template}, weight ${v.weight})`).join(', ')}`
          : ''),
    ),
    shared.recordFailure,
  );
  const windowWait = new Wait(scope, `WindowWait${n}`, {
    stateName: `Wait for send window (${touch.name})`,
    comment: 'Outside the send window or over the frequency cap: wait until the touch may go, then try again',
    time: WaitTime.timestampPath(STEP_PATHS.resumeAt),
  });
  const wait = new Wait(scope, `Wait${n}`, {
    stateName: `Wait ${days(touch.waitDays)} after ${touch.name}`,
    time: WaitTime.duration(Duration.days(touch.waitDays)),
  });
  const evaluate = guarded(
    invoke(
      scope,
      `Evaluate${n}`,
      `Re-evaluate lead after ${touch.name}`,
      tasks.evaluate,
      track,
      n,
      'Promoted, disqualified, unsubscribed, unresponsive, or on to the next touch',
    ),
    shared.recordFailure,
  );
  const decide = new Choice(scope, `Decide${n}`, { stateName: `Promoted to SQL after ${touch.name}?` });
  const sendOutcome = new Choice(scope, `Outcome${n}`, { stateName: `${capitalized(touch.name)} sent?` })
    .when(Condition.stringEquals(STEP_PATHS.outcome, 'sent'), wait)
    .when(Condition.stringEquals(STEP_PATHS.outcome, 'deferred'), windowWait)
    .when(Condition.stringEquals(STEP_PATHS.outcome, 'failed'), shared.recordFailure)
    .otherwise(evaluate);
  send.next(sendOutcome);
  windowWait.next(send);
  wait.next(evaluate);
  evaluate.next(decide);
  decide
    .when(Condition.stringEquals(STEP_PATHS.decision, 'promoted'), shared.handoff)
    .when(Condition.stringEquals(STEP_PATHS.decision, 'unresponsive'), shared.unresponsive);
  if (track.holdoutPercent <= 0) return { entry: send, decide };

  const holdOut = guarded(
    invoke(
      scope,
      `HoldOut${n}`,
      `Held out: no mail (${touch.name})`,
      tasks.holdOut,
      track,
      n,
      `Holdout group of experiment ${track.experimentId ?? ''}: judged as a send would be, recorded, not mailed`,
    ),
    shared.recordFailure,
  );
  const holdOutWindowWait = new Wait(scope, `HoldOutWindowWait${n}`, {
    stateName: `Wait for send window (held out, ${touch.name})`,
    comment: 'Where a send would wait (send window, frequency cap), the holdout waits too: both arms exposed alike',
    time: WaitTime.timestampPath(STEP_PATHS.resumeAt),
  });
  const heldOut = new Choice(scope, `HeldOutcome${n}`, { stateName: `${capitalized(touch.name)} held out?` })
    .when(Condition.stringEquals(STEP_PATHS.outcome, 'held_out'), wait)
    .when(Condition.stringEquals(STEP_PATHS.outcome, 'deferred'), holdOutWindowWait)
    .otherwise(evaluate);
  holdOut.next(heldOut);
  holdOutWindowWait.next(holdOut);
  const arm = new Choice(scope, `Arm${n}`, {
    stateName: `Holdout group? (${touch.name})`,
    comment: `${track.holdoutPercent}% of leads are held out (experiment ${track.experimentId ?? ''}): no mail from this track`,
  })
    .when(
      Condition.and(Condition.isPresent(STEP_PATHS.arm), Condition.stringEquals(STEP_PATHS.arm, 'holdout')),
      holdOut,
    )
    .otherwise(send);
  return { entry: arm, decide };
}

/** The whole state machine of a track: its touches in order, and the shared endings. */
function trackDefinition(scope: Construct, track: Track, tasks: Tasks): IChainable {
  const failed = new Fail(scope, 'Failed', {
    stateName: 'Nurture failed',
    error: 'NurtureStepFailed',
    causePath: '$.error.Cause',
  });
  const recordFailure = new LambdaInvoke(scope, 'RecordFailure', {
    stateName: 'Record failure',
    comment: 'A step failed for good: mark the run stopped on the lead',
    lambdaFunction: tasks.recordFailure,
    payload: TaskInput.fromObject({
      leadId: JsonPath.stringAt(STEP_PATHS.leadId),
      track: track.id,
      executionName: JsonPath.stringAt('$$.Execution.Name'),
      error: JsonPath.objectAt(STEP_PATHS.error),
    }),
    outputPath: '$.Payload',
    retryOnServiceExceptions: false,
  });
  retryTransient(recordFailure);
  recordFailure.next(failed);

  const shared: SharedStates = {
    recordFailure,
    handoff: guarded(
      invoke(
        scope,
        'Handoff',
        'Hand off to sales',
        tasks.handoff,
        track,
        'input',
        'Ends the run: the promotion was published (LeadPromoted) when scoring made the lead an SQL',
      ),
      recordFailure,
    ),
    unresponsive: new Succeed(scope, 'Unresponsive', {
      stateName: 'Disqualified as unresponsive',
      comment: 'Track exhausted without engagement: the lead was disqualified (unresponsive)',
    }),
    ended: new Succeed(scope, 'Ended', {
      stateName: 'Nurture ended',
      comment: 'Disqualified, unsubscribed, suppressed, no consent, moved on, or track completed with engagement',
    }),
  };
  shared.handoff.next(new Succeed(scope, 'HandedOff', { stateName: 'Handed off to sales' }));

  const touches = track.touches.map((touch, i) => touchStates(scope, track, touch, i, tasks, shared));
  touches.forEach((t, i) => {
    const next = touches[i + 1];
    if (next) t.decide.when(Condition.stringEquals(STEP_PATHS.decision, 'next'), next.entry);
    t.decide.otherwise(shared.ended);
  });
  const first = touches[0];
  if (!first) throw new Error(`track "${track.id}" has no touches`);
  return first.entry;
}
