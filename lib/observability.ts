import { Aws, Duration, Stack } from 'aws-cdk-lib';
import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  type IWidget,
  MathExpression,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { STAGES, type Stage as LeadStage } from '../lambdas/domain/lead.js';
import { ENDING_DECISIONS, type NurtureDecision } from '../lambdas/domain/nurture/evaluation.js';
import { CONFIRMATION_OUTCOMES } from '../lambdas/domain/nurture/confirmation.js';
import { TOUCH_OUTCOMES } from '../lambdas/domain/nurture/steps.js';
import { DEFAULT_NURTURE_PLAN } from '../lambdas/domain/nurture/default-tracks.js';
import { ARMS } from '../lambdas/domain/nurture/experiments.js';

/** The sales funnel, in order; conversions are computed between neighbours. */
export const FUNNEL_STAGES = ['lead', 'mql', 'sql', 'opportunity', 'customer'] as const satisfies readonly LeadStage[];

const NURTURE_DECISIONS = [
  'next',
  'promoted',
  'unresponsive',
  ...ENDING_DECISIONS,
] as const satisfies readonly NurtureDecision[];

/**
 * The custom metrics the handlers emit (Powertools metrics, namespace `Leadloop`, dimension `service`), grouped as the
 * dashboard shows them. `StageEntered_<stage>` is emitted by the scoring handler; `StageTransitions` (dimension
 * `Transition`) and `SweepActions` (dimension `Action`) by the requalification summary, found by SEARCH.
 */
export const LEADLOOP_METRICS = {
  stageEntered: STAGES.map((stage) => `StageEntered_${stage}`),
  capture: ['LeadsCaptured', 'Submissions_duplicate', 'Submissions_suppressed', 'SubmissionsRejected_honeypot'],
  events: ['EventsIngested', 'EventsDuplicate', 'EventsRejected', 'EventsScored'],
  touches: TOUCH_OUTCOMES.map((outcome) => `NurtureTouch_${outcome}`),
  engagement: [
    'EmailOpens',
    'EmailClicks',
    'EmailUnsubscribes',
    'EmailBounces',
    'EmailHardBounces',
    'EmailComplaints',
    'EmailMachineEngagement',
  ],
  nurtureOutcomes: [
    'NurtureRunsStarted',
    ...NURTURE_DECISIONS.map((d) => `NurtureDecision_${d}`),
    'NurtureHandoffs',
    'NurtureFailures',
    'LifecycleEventsPublished',
  ],
  sending: [
    'SendingPaused',
    'ReputationBounceRate',
    'ReputationComplaintRate',
    ...CONFIRMATION_OUTCOMES.map((outcome) => `ConfirmationMail_${outcome}`),
  ],
  sesPipeline: ['SesEventsRecorded', 'SesEventsDuplicate', 'SesRecipientsUnattributed', 'SesRecordsMalformed'],
  requalification: [
    'LeadsReviewed',
    'LeadsRequalified',
    'LeadsSkipped',
    'ReviewItemsRead',
    'ShardsFailed',
    'SweepActionFailures',
  ],
} as const satisfies Record<string, readonly string[]>;

/** A dead-letter queue to watch, with the alarm its construct already raises, if any. */
export interface WatchedQueue {
  readonly queue: IQueue;
  /** @default - an alarm on ApproximateNumberOfMessagesVisible ≥ 1 is created */
  readonly alarm?: Alarm;
}

export interface ObservabilityProps {
  /** Every Lambda function, by a label the dashboard and alarms show (e.g. its handler module). */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** Every dead-letter queue, by label. */
  readonly deadLetterQueues: Readonly<Record<string, WatchedQueue>>;
  /** The nurture state machines, by track id. */
  readonly nurtureStateMachines: Readonly<Record<string, IStateMachine>>;
  /** Other state machines whose failures raise alarms (e.g. requalification), by label. @default - none */
  readonly otherStateMachines?: Readonly<Record<string, IStateMachine>>;
  /** The API stage (4xx, 5xx, latency). */
  readonly apiStage: Stage;
  /** An address subscribed to the alarm topic (it must confirm the subscription). @default - no subscription */
  readonly alarmEmail?: string;
  /** @default - the stack name */
  readonly dashboardName?: string;
  /** Namespace of the handlers' metrics (`POWERTOOLS_METRICS_NAMESPACE`). @default 'Leadloop' */
  readonly metricsNamespace?: string;
  /** Value of the handlers' `service` dimension (`POWERTOOLS_SERVICE_NAME`). @default 'leadloop' */
  readonly serviceName?: string;
  /** Account bounce rate above which the alarm fires; SES reviews an account at 5%. @default 0.05 */
  readonly sesBounceRateThreshold?: number;
  /** Account complaint rate above which the alarm fires; SES reviews an account at 0.1%. @default 0.001 */
  readonly sesComplaintRateThreshold?: number;
}

const FIVE_MINUTES = Duration.minutes(5);

/**
 * What marketers and operators look at (DESIGN §10): one CloudWatch dashboard with the funnel (leads captured, stage
 * entries, conversions), email and nurture runs per track with their outcomes, requalification, and the health of
 * every function, queue, state machine and the API; and alarms on every dead-letter queue, each function's errors and
 * throttles, failed or timed-out executions of each state machine, and the account's SES bounce and complaint rates,
 * all sent to one KMS-encrypted, TLS-only SNS topic.
 */
export class Observability extends Construct {
  readonly dashboard: Dashboard;
  /** The dashboard's console URL (a token: it names the region). */
  readonly dashboardUrl: string;
  readonly alarmTopic: Topic;
  readonly alarmTopicKey: Key;
  /** Every alarm this construct created or wired to the topic. */
  readonly alarms: IAlarm[] = [];

  private readonly namespace: string;
  private readonly service: string;
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.namespace = props.metricsNamespace ?? 'Leadloop';
    this.service = props.serviceName ?? 'leadloop';

    this.alarmTopicKey = new Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the Leadloop alarm topic',
      enableKeyRotation: true,
    });
    // CloudWatch publishes alarm notifications to the encrypted topic; it needs the key to do so, for this account's
    // alarms only (a confused deputy: CloudWatch acting for another account must not use the key).
    this.alarmTopicKey.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: 'Leadloop alarms',
      masterKey: this.alarmTopicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    this.action = new SnsAction(this.alarmTopic);

    this.createAlarms(props);

    const dashboardName = props.dashboardName ?? Stack.of(this).stackName;
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName,
      defaultInterval: Duration.days(7),
      widgets: this.widgets(props),
    });
    this.dashboardUrl = `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${dashboardName}`;
  }

  /**
   * A track experiment's per-arm count (`ExperimentLeads`, `ExperimentTouches`; lambdas/handlers/nurture-task.ts),
   * summed per day.
   */
  experimentMetric(metricName: string, track: string, experimentId: string, arm: string): Metric {
    return new Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { service: this.service, Track: track, Experiment: experimentId, Arm: arm },
      statistic: 'Sum',
      period: Duration.days(1),
      label: `${arm} ${metricName === 'ExperimentLeads' ? 'leads' : 'touches'}`,
    });
  }

  /** A metric the handlers emit, summed. */
  appMetric(metricName: string, label?: string, period: Duration = FIVE_MINUTES): Metric {
    return new Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { service: this.service },
      statistic: 'Sum',
      period,
      label: label ?? metricName,
    });
  }

  private createAlarms(props: ObservabilityProps): void {
    const threshold = (
      id: string,
      metric: IMetric,
      description: string,
      value = 1,
      comparisonOperator = ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) =>
      this.watch(
        new Alarm(this, id, {
          alarmDescription: description,
          metric,
          threshold: value,
          comparisonOperator,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );

    for (const [label, { queue, alarm }] of Object.entries(props.deadLetterQueues)) {
      if (alarm) this.watch(alarm);
      else
        threshold(
          `${label}-DeadLetters`,
          queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
          `${label}: messages in the dead-letter queue; inspect them, fix the cause, then redrive.`,
        );
    }
    for (const [label, fn] of Object.entries(props.functions)) {
      threshold(
        `${label}-Errors`,
        fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        `${label}: the function failed (see its log group).`,
      );
      threshold(
        `${label}-Throttles`,
        fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
        `${label}: invocations were throttled (account or reserved concurrency).`,
      );
    }
    const machines = { ...trackLabels(props.nurtureStateMachines), ...props.otherStateMachines };
    for (const [label, machine] of Object.entries(machines)) {
      threshold(
        `${label}-ExecutionsFailed`,
        machine.metricFailed({ period: FIVE_MINUTES, statistic: 'Sum' }),
        `${label}: executions failed (see the execution's events in the Step Functions console).`,
      );
      threshold(
        `${label}-ExecutionsTimedOut`,
        machine.metricTimedOut({ period: FIVE_MINUTES, statistic: 'Sum' }),
        `${label}: executions timed out.`,
      );
    }
    threshold(
      'SesBounceRate',
      sesReputation('Reputation.BounceRate'),
      'SES account bounce rate above 5%: SES puts the account under review there. Check lists and sign-up sources.',
      props.sesBounceRateThreshold ?? 0.05,
      ComparisonOperator.GREATER_THAN_THRESHOLD,
    );
    threshold(
      'SesComplaintRate',
      sesReputation('Reputation.ComplaintRate'),
      'SES account complaint rate above 0.1%: SES puts the account under review there. Check consent and frequency.',
      props.sesComplaintRateThreshold ?? 0.001,
      ComparisonOperator.GREATER_THAN_THRESHOLD,
    );
  }

  private watch(alarm: Alarm): Alarm {
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }

  private widgets(props: ObservabilityProps): IWidget[][] {
    const m = (names: readonly string[], period?: Duration) => names.map((n) => this.appMetric(n, undefined, period));
    const day = Duration.days(1);
    const tracks = Object.entries(props.nurtureStateMachines);
    const functions = Object.entries(props.functions);
    const queues = Object.entries(props.deadLetterQueues);
    const machines = Object.entries({ ...trackLabels(props.nurtureStateMachines), ...props.otherStateMachines });
    const stage = props.apiStage;

    const entered = (s: LeadStage) => this.appMetric(`StageEntered_${s}`, `Entered ${s}`);
    const conversions = FUNNEL_STAGES.slice(1).map((to, i) => {
      const from = FUNNEL_STAGES[i] ?? FUNNEL_STAGES[0];
      return new MathExpression({
        expression: `IF(${from} > 0, 100 * FILL(${to}, 0) / ${from}, 0)`,
        usingMetrics: { [from]: entered(from), [to]: entered(to) },
        label: `${from} → ${to} %`,
        period: FIVE_MINUTES,
      });
    });
    /** Every series of a metric with one more dimension than `service` (its values are not known in advance). */
    const search = (metricName: string, dimension: string) =>
      new MathExpression({
        expression: `SEARCH('{${this.namespace},${dimension},service} MetricName="${metricName}" service="${this.service}"', 'Sum', 86400)`,
        usingMetrics: {},
        period: day,
      });

    return [
      [
        new TextWidget({
          width: 24,
          height: 2,
          markdown:
            '# Leadloop funnel\nLeads captured from forms, stage entries from scoring (`StageEntered_<stage>`), and conversions between neighbouring stages over the selected range.',
        }),
      ],
      [
        new SingleValueWidget({
          title: 'Funnel (selected range)',
          width: 12,
          height: 4,
          setPeriodToTimeRange: true,
          metrics: [this.appMetric('LeadsCaptured', 'Leads captured'), ...FUNNEL_STAGES.map(entered)],
        }),
        new SingleValueWidget({
          title: 'Conversions (selected range, %)',
          width: 12,
          height: 4,
          setPeriodToTimeRange: true,
          metrics: conversions,
        }),
      ],
      [
        new GraphWidget({
          title: 'Stage entries per day',
          width: 12,
          left: m(LEADLOOP_METRICS.stageEntered, day),
          stacked: true,
        }),
        new GraphWidget({
          title: 'Requalification transitions per day',
          width: 12,
          left: [search('StageTransitions', 'Transition')],
        }),
      ],
      [
        new GraphWidget({ title: 'Form submissions', width: 8, left: m(LEADLOOP_METRICS.capture) }),
        new GraphWidget({ title: 'Web and product events', width: 8, left: m(LEADLOOP_METRICS.events) }),
        new GraphWidget({
          title: 'Requalification sweeps',
          width: 8,
          left: m(LEADLOOP_METRICS.requalification, day),
          right: [search('SweepActions', 'Action')],
        }),
      ],
      [new TextWidget({ width: 24, height: 1, markdown: '## Email and nurture' })],
      [
        new GraphWidget({
          title: 'Nurture touches (sent, deferred, skipped, failed)',
          width: 8,
          left: m(LEADLOOP_METRICS.touches),
        }),
        new GraphWidget({
          title: 'Engagement, bounces and complaints',
          width: 8,
          left: m(LEADLOOP_METRICS.engagement),
        }),
        new GraphWidget({
          title: 'SES account reputation',
          width: 8,
          left: [
            sesReputation('Reputation.BounceRate').with({ label: 'Bounce rate' }),
            sesReputation('Reputation.ComplaintRate').with({ label: 'Complaint rate' }),
          ],
          leftAnnotations: [
            { value: props.sesBounceRateThreshold ?? 0.05, label: 'Bounce review (5%)' },
            { value: props.sesComplaintRateThreshold ?? 0.001, label: 'Complaint review (0.1%)' },
          ],
        }),
      ],
      [
        new GraphWidget({
          title: 'Reputation brake (own rolling rates in %, pauses) and confirmation mails',
          width: 24,
          left: m(LEADLOOP_METRICS.sending),
        }),
      ],
      [
        ...tracks.map(
          ([track, machine]) =>
            new GraphWidget({
              title: `Nurture runs: ${track}`,
              width: 6,
              left: [
                machine.metricStarted({ label: 'Started' }),
                machine.metricSucceeded({ label: 'Succeeded' }),
                machine.metricFailed({ label: 'Failed' }),
                machine.metricTimedOut({ label: 'Timed out' }),
                machine.metricAborted({ label: 'Stopped' }),
              ],
            }),
        ),
        new GraphWidget({
          title: 'Nurture outcomes (all tracks)',
          width: 6,
          left: m(LEADLOOP_METRICS.nurtureOutcomes),
          stacked: true,
        }),
      ],
      // Each track's experiment, per arm: leads reaching it (first touch sent or held out) and touches, per day. The
      // uplift itself needs the leads' later stages: `leadloop experiments` (docs/experiments.md).
      DEFAULT_NURTURE_PLAN.tracks.flatMap((t) =>
        t.experimentId === undefined
          ? []
          : [
              new GraphWidget({
                title: `Experiment ${t.experimentId} (${t.id}): leads and touches per arm`,
                width: 12,
                left: ARMS.map((arm) => this.experimentMetric('ExperimentLeads', t.id, t.experimentId ?? '', arm)),
                right: ARMS.map((arm) => this.experimentMetric('ExperimentTouches', t.id, t.experimentId ?? '', arm)),
                leftYAxis: { label: 'leads', showUnits: false },
                rightYAxis: { label: 'touches', showUnits: false },
              }),
            ],
      ),
      [new TextWidget({ width: 24, height: 1, markdown: '## Health' })],
      [
        new GraphWidget({
          title: 'Lambda errors',
          width: 8,
          left: functions.map(([label, fn]) => fn.metricErrors({ label, period: FIVE_MINUTES, statistic: 'Sum' })),
        }),
        new GraphWidget({
          title: 'Lambda throttles',
          width: 8,
          left: functions.map(([label, fn]) => fn.metricThrottles({ label, period: FIVE_MINUTES, statistic: 'Sum' })),
        }),
        new GraphWidget({
          title: 'Lambda duration (p99, ms)',
          width: 8,
          left: functions.map(([label, fn]) => fn.metricDuration({ label, period: FIVE_MINUTES, statistic: 'p99' })),
        }),
      ],
      [
        new GraphWidget({
          title: 'Dead-letter queue depth',
          width: 6,
          left: queues.map(([label, { queue }]) =>
            queue.metricApproximateNumberOfMessagesVisible({
              label,
              period: Duration.minutes(1),
              statistic: 'Maximum',
            }),
          ),
        }),
        new GraphWidget({
          title: 'API errors',
          width: 6,
          left: [stage.metricClientError({ label: '4xx' }), stage.metricServerError({ label: '5xx' })],
        }),
        new GraphWidget({
          title: 'API latency (ms)',
          width: 6,
          left: [
            stage.metricLatency({ label: 'p50', statistic: 'p50' }),
            stage.metricLatency({ label: 'p99', statistic: 'p99' }),
          ],
        }),
        new GraphWidget({ title: 'SES event pipeline', width: 6, left: m(LEADLOOP_METRICS.sesPipeline) }),
      ],
      [
        new GraphWidget({
          title: 'State machine failures',
          width: 12,
          left: machines.flatMap(([label, machine]) => [
            machine.metricFailed({ label: `${label} failed` }),
            machine.metricTimedOut({ label: `${label} timed out` }),
          ]),
        }),
        new AlarmStatusWidget({ title: 'Alarms', width: 12, height: 6, alarms: this.alarms }),
      ],
    ];
  }
}

/** `AWS/SES` account reputation, as SES computes it (a rate, 0–1). */
function sesReputation(metricName: 'Reputation.BounceRate' | 'Reputation.ComplaintRate'): Metric {
  return new Metric({
    namespace: 'AWS/SES',
    metricName,
    statistic: 'Maximum',
    period: Duration.minutes(15),
  });
}

/** Nurture state machines labelled for alarms: `nurture-<track>`. */
function trackLabels(machines: Readonly<Record<string, IStateMachine>>): Record<string, IStateMachine> {
  return Object.fromEntries(Object.entries(machines).map(([track, m]) => [`nurture-${track}`, m]));
}
