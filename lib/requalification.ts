import { Arn, ArnFormat, CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ContextAttribute, Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import {
  Choice,
  Condition,
  DefinitionBody,
  Fail,
  JsonPath,
  LogLevel as StateMachineLogLevel,
  Map as MapState,
  Pass,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  type IStateMachine,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { TABLE } from '../lambdas/adapters/table-definition.js';
import { DEFAULT_SWEEP_LIMITS } from '../lambdas/domain/sweep.js';
import { grantLeadTableData } from './lead-store.js';
import { handlerEntry, LeadloopFunction, type LogLevel } from './leadloop-function.js';
import { nagResourceName } from './nag-names.js';

/** The states of "Requalify leads", by the names the console shows (the local runner binds tasks by these names). */
export const SWEEP_STATES = {
  asOfGiven: 'Sweep time given?',
  asOfNow: 'Sweep as of now',
  planShards: 'Plan shards',
  sweepShards: 'Sweep shards',
  sweepShard: 'Sweep shard',
  shardDone: 'Shard done?',
  shardSwept: 'Shard swept',
  shardFailed: 'Shard failed',
  summarize: 'Summarize',
  allSwept: 'Every shard swept?',
  complete: 'Sweep complete',
  incomplete: 'Sweep incomplete',
} as const;

/** When the sweep runs by default: daily at 03:00 UTC (the local runtime follows the same time of day). */
export const DEFAULT_SWEEP_TIME = { hour: 3, minute: 0 } as const;

export interface RequalificationProps {
  /** The lead table, with the review index `TABLE.reviewIndex`. */
  readonly table: ITable;
  /**
   * When the sweep runs.
   * @default - daily at 03:00 UTC (`DEFAULT_SWEEP_TIME`)
   */
  readonly schedule?: ScheduleExpression;
  /** @default true */
  readonly scheduleEnabled?: boolean;
  /**
   * Shards swept at the same time (of `TABLE.reviewShards`), which bounds the write rate the sweep puts on the table.
   * @default 4
   */
  readonly maxConcurrency?: number;
  /**
   * Timeout of one "Sweep shard" invocation; the handler stops taking leads a few seconds before it and the state
   * machine invokes it again from its cursor.
   * @default Duration.minutes(5)
   */
  readonly shardInvocationTimeout?: Duration;
  /**
   * Most due leads read per review-index query.
   * @default 100
   */
  readonly pageSize?: number;
  /**
   * The whole run's limit.
   * @default Duration.hours(2)
   */
  readonly timeout?: Duration;
  /**
   * The nurture state machines by track id, whose executions the sweep stops (leads gone dormant or disqualified) and
   * starts (leads re-enrolled). The sweep function gets them as `NURTURE_STATE_MACHINES` (track → ARN) and the right
   * to start them and stop their executions, nothing more.
   * @default - none: the sweep's nurture calls fail and are counted as `actionFailures`
   */
  readonly nurtureStateMachines?: Readonly<Record<string, IStateMachine>>;
  /**
   * Where the run's summary event goes (source `leadloop.requalification`, detail-type `Requalification Summary`).
   * @default - the account's default event bus
   */
  readonly eventBus?: IEventBus;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Retention of the functions' and the state machine's logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Scheduled requalification (DESIGN §7): an EventBridge Scheduler schedule starts the Standard state machine
 * "Requalify leads", which sweeps the review-index shards in parallel (a Map with bounded concurrency). Each shard is
 * swept by "Sweep shard" invocations, each within its time budget, looping until the shard has no due lead left; a
 * shard that still fails after retries is caught, so the others finish, and "Summarize" sums the counts into metrics
 * and a summary event. The run fails at the end ("Sweep incomplete") if a shard did, so alarms on failed executions
 * see it; its due leads stay due for the next run.
 */
export class Requalification extends Construct {
  readonly stateMachine: StateMachine;
  readonly schedule: Schedule;
  readonly sweepShardFunction: LeadloopFunction;
  readonly summaryFunction: LeadloopFunction;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: RequalificationProps) {
    super(scope, id);
    const retention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const shardTimeout = props.shardInvocationTimeout ?? Duration.minutes(5);
    const nurture = props.nurtureStateMachines ?? {};

    this.sweepShardFunction = new LeadloopFunction(this, 'SweepShardFunction', {
      entry: handlerEntry('requalify-shard'),
      description: 'Requalifies the due leads of one review-index shard within its time budget',
      timeout: shardTimeout,
      memorySize: 512,
      logLevel: props.logLevel,
      logRetention: retention,
      environment: {
        TABLE_NAME: props.table.tableName,
        SWEEP_PAGE_SIZE: String(props.pageSize ?? DEFAULT_SWEEP_LIMITS.pageSize),
        NURTURE_STATE_MACHINES: Stack.of(this).toJsonString(
          Object.fromEntries(Object.entries(nurture).map(([track, machine]) => [track, machine.stateMachineArn])),
        ),
      },
    });
    grantLeadTableData(props.table, this.sweepShardFunction, 'readWrite');
    this.grantNurture(Object.values(nurture));

    const eventBus = props.eventBus ?? EventBus.fromEventBusName(this, 'DefaultEventBus', 'default');
    this.summaryFunction = new LeadloopFunction(this, 'SummaryFunction', {
      entry: handlerEntry('requalify-summary'),
      description: "Sums a requalification run's counts into metrics and a summary event",
      timeout: Duration.seconds(30),
      logLevel: props.logLevel,
      logRetention: retention,
      environment: { EVENT_BUS_NAME: eventBus.eventBusName },
    });
    eventBus.grantPutEventsTo(this.summaryFunction);

    this.logGroup = new LogGroup(this, 'StateMachineLogs', {
      retention,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      comment: 'Requalify leads: sweep the due leads of every review-index shard, then summarize',
      definitionBody: DefinitionBody.fromChainable(this.definition(props.maxConcurrency ?? 4)),
      timeout: props.timeout ?? Duration.hours(2),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: StateMachineLogLevel.ALL, includeExecutionData: false },
    });
    // Step Functions delivers logs through CloudWatch Logs' vended-log APIs and X-Ray, neither of which supports
    // resource-level permissions; CDK grants them on '*' in the role's default policy. The Lambda grants are on the
    // two functions and their versions (`<arn>:*`).
    const smPolicy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (smPolicy) {
      Validations.of(smPolicy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Log delivery (logs:CreateLogDelivery etc.) and X-Ray tracing support no resource-level permissions.',
      });
      for (const fn of [this.sweepShardFunction, this.summaryFunction]) {
        const cfn = fn.node.defaultChild;
        if (!(cfn instanceof CfnElement)) continue;
        Validations.of(smPolicy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(cfn)}.Arn>:*]`,
          reason: 'Invoking a Lambda function from Step Functions is granted on the function and its versions.',
        });
      }
    }

    this.schedule = new Schedule(this, 'Schedule', {
      description: 'Starts the requalification sweep (DESIGN §7)',
      schedule:
        props.schedule ??
        ScheduleExpression.cron({ hour: String(DEFAULT_SWEEP_TIME.hour), minute: String(DEFAULT_SWEEP_TIME.minute) }),
      enabled: props.scheduleEnabled ?? true,
      target: new StepFunctionsStartExecution(this.stateMachine, {
        // The scheduled time, not the start time: a retried start sweeps as of the same instant.
        input: ScheduleTargetInput.fromObject({ asOf: ContextAttribute.scheduledTime }),
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
  }

  /**
   * Start on the nurture state machines and StopExecution on their executions, in a policy of its own: execution ARNs
   * end in the execution name, so the stop grant needs `<machine>:*`, and acknowledging that wildcard here cannot hide
   * one granted later in the role's default policy.
   */
  private grantNurture(machines: readonly IStateMachine[]): void {
    const role = this.sweepShardFunction.role;
    if (machines.length === 0 || !role) return;
    const stack = Stack.of(this);
    const executionsOf = (machine: IStateMachine) =>
      stack.formatArn({
        service: 'states',
        resource: 'execution',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        resourceName: `${Arn.split(machine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName}:*`,
      });
    const policy = new Policy(this, 'NurturePolicy', {
      roles: [role],
      statements: [
        new PolicyStatement({ actions: ['states:StartExecution'], resources: machines.map((m) => m.stateMachineArn) }),
        new PolicyStatement({ actions: ['states:StopExecution'], resources: machines.map(executionsOf) }),
      ],
    });
    for (const machine of machines) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(stack.resolve(executionsOf(machine)))}]`,
        reason:
          "StopExecution is granted on a nurture state machine's executions, whose ARNs end in the execution name.",
      });
    }
  }

  /** "Requalify leads", one factory per state (STYLE §11). */
  private definition(maxConcurrency: number) {
    const S = SWEEP_STATES;
    const shards = Array.from({ length: TABLE.reviewShards }, (_, i) => i);

    const sweepShard = new LambdaInvoke(this, 'SweepShard', {
      stateName: S.sweepShard,
      comment: "Requalifies the shard's due leads from the cursor until done or out of time",
      lambdaFunction: this.sweepShardFunction,
      taskTimeout: Timeout.duration(this.sweepShardFunction.timeout?.plus(Duration.seconds(30)) ?? Duration.minutes(6)),
      payload: TaskInput.fromJsonPathAt('$'),
      outputPath: '$.Payload',
    })
      .addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 })
      .addCatch(
        new Pass(this, 'ShardFailed', {
          stateName: S.shardFailed,
          comment: 'Kept for the summary; the shard stays due',
        }),
        {
          errors: ['States.ALL'],
          resultPath: '$.error',
        },
      );
    const shardDone = new Choice(this, 'ShardDone', { stateName: S.shardDone })
      .when(Condition.booleanEquals('$.done', true), new Succeed(this, 'ShardSwept', { stateName: S.shardSwept }))
      .otherwise(sweepShard);

    const sweepShards = new MapState(this, 'SweepShards', {
      stateName: S.sweepShards,
      comment: `The ${TABLE.reviewShards} review-index shards, ${maxConcurrency} at a time`,
      itemsPath: JsonPath.stringAt('$.shards'),
      itemSelector: { shard: JsonPath.numberAt('$$.Map.Item.Value'), asOf: JsonPath.stringAt('$.asOf') },
      maxConcurrency,
      resultPath: '$.shards',
    }).itemProcessor(sweepShard.next(shardDone));

    const summarize = new LambdaInvoke(this, 'Summarize', {
      stateName: S.summarize,
      comment: 'Sums the counts per transition into metrics and a summary event',
      lambdaFunction: this.summaryFunction,
      taskTimeout: Timeout.duration(Duration.minutes(1)),
      payload: TaskInput.fromObject({ asOf: JsonPath.stringAt('$.asOf'), shards: JsonPath.listAt('$.shards') }),
      outputPath: '$.Payload',
    }).addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 });

    const allSwept = new Choice(this, 'AllSwept', { stateName: S.allSwept })
      .when(Condition.numberEquals('$.failed', 0), new Succeed(this, 'SweepComplete', { stateName: S.complete }))
      .otherwise(
        new Fail(this, 'SweepIncomplete', {
          stateName: S.incomplete,
          error: 'SweepIncomplete',
          cause: 'Some shards failed after retries; their due leads stay due for the next run (see the summary).',
        }),
      );

    const planShards = new Pass(this, 'PlanShards', {
      stateName: S.planShards,
      parameters: { asOf: JsonPath.stringAt('$.asOf'), shards },
    });
    planShards.next(sweepShards).next(summarize).next(allSwept);

    return new Choice(this, 'AsOfGiven', { stateName: S.asOfGiven })
      .when(Condition.isPresent('$.asOf'), planShards)
      .otherwise(
        new Pass(this, 'AsOfNow', {
          stateName: S.asOfNow,
          parameters: { asOf: JsonPath.stringAt('$$.Execution.StartTime') },
        }).next(planShards),
      );
  }
}
