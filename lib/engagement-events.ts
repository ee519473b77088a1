import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ConfigurationSet, EventDestination, SuppressionReasons } from 'aws-cdk-lib/aws-ses';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { grantLeadTableData } from './lead-store.js';
import { handlerEntry, LeadloopFunction, type LogLevel } from './leadloop-function.js';

export interface EngagementEventsProps {
  /** The lead table the engagement handler records events in. */
  readonly table: ITable;
  /** Name of the SES configuration set every nurture mail is sent with. @default 'leadloop' */
  readonly configurationSetName?: string;
  /** Messages per invocation of the engagement handler. @default 10 */
  readonly batchSize?: number;
  /** Receives of a message before it moves to the dead-letter queue. @default 5 */
  readonly maxReceiveCount?: number;
  /** Messages in the dead-letter queue that raise the alarm. @default 1 */
  readonly deadLetterAlarmThreshold?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * Email engagement coming back from SES (DESIGN §4, §10): a configuration set publishes every sending event (send,
 * delivery, open, click, bounce, complaint, …) to the default EventBridge bus; a rule picks the events of this
 * configuration set and queues them on SQS; the `ses-engagement` function consumes the queue with partial batch
 * failures. Undeliverable and poison messages land in a dead-letter queue whose depth raises an alarm.
 *
 * Open and click tracking: SES tracks opens and clicks for mail sent with a configuration set whose event destination
 * includes those event types, which this one does (all event types).
 */
export class EngagementEvents extends Construct {
  readonly configurationSet: ConfigurationSet;
  /** What senders pass as `ConfigurationSetName`. */
  readonly configurationSetName: string;
  readonly rule: Rule;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly deadLetterAlarm: Alarm;
  readonly engagementFunction: LeadloopFunction;

  constructor(scope: Construct, id: string, props: EngagementEventsProps) {
    super(scope, id);
    this.configurationSetName = props.configurationSetName ?? 'leadloop';
    const timeout = props.timeout ?? Duration.seconds(10);

    this.configurationSet = new ConfigurationSet(this, 'ConfigurationSet', {
      configurationSetName: this.configurationSetName,
      sendingEnabled: true,
      reputationMetrics: true,
      suppressionReasons: SuppressionReasons.BOUNCES_AND_COMPLAINTS,
    });
    // SES publishes to the default bus only.
    const defaultBus = EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    this.configurationSet.addEventDestination('ToEventBridge', {
      destination: EventDestination.eventBus(defaultBus),
    });

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Lambda's guidance: at least six times the function timeout, so retries of a batch do not overlap.
      visibilityTimeout: Duration.seconds(6 * timeout.toSeconds()),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });

    this.rule = new Rule(this, 'Rule', {
      description: `SES sending events of configuration set ${this.configurationSetName}`,
      eventBus: defaultBus,
      eventPattern: {
        source: ['aws.ses'],
        detail: { mail: { tags: { 'ses:configuration-set': [this.configurationSetName] } } },
      },
      targets: [
        new SqsQueue(this.queue, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 10,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });

    this.engagementFunction = new LeadloopFunction(this, 'EngagementFunction', {
      entry: handlerEntry('ses-engagement'),
      description: 'Records SES engagement events (EventBridge → SQS) on leads',
      timeout,
      logLevel: props.logLevel,
      logRetention: props.logRetention,
      environment: { TABLE_NAME: props.table.tableName },
    });
    grantLeadTableData(props.table, this.engagementFunction, 'readWrite');
    this.engagementFunction.addEventSource(
      new SqsEventSource(this.queue, { batchSize: props.batchSize ?? 10, reportBatchItemFailures: true }),
    );

    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'SES engagement events could not be delivered or processed; see the dead-letter queue.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: props.deadLetterAlarmThreshold ?? 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
