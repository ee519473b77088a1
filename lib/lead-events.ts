import { Duration, SecretValue, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { ApiDestination, Authorization, Connection, HttpMethod, type IEventBus, Rule } from 'aws-cdk-lib/aws-events';
import { ApiDestination as ApiDestinationTarget } from 'aws-cdk-lib/aws-events-targets';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { keys, TABLE } from '../lambdas/adapters/table-definition.js';
import { LEAD_EVENTS_SOURCE, LEAD_PROMOTED } from '../lambdas/domain/lead-events.js';
import { grantLeadTableData } from './lead-store.js';
import { handlerEntry, LeadloopFunction, type LogLevel } from './leadloop-function.js';

/** Where promoted leads go: an HTTPS endpoint (a CRM, a chat webhook, an automation tool). */
export interface SalesWebhookProps {
  /** The endpoint `LeadPromoted` is POSTed to (the whole EventBridge event as JSON). */
  readonly url: string;
  /** A header carrying a credential, e.g. `Authorization`. @default - no credential header */
  readonly authHeader?: string;
  /** The Secrets Manager secret (name or ARN) holding the header's value. Required with `authHeader`. */
  readonly authSecret?: string;
  /**
   * Retries of a delivery that failed with a 5xx, a 429 or a timeout (EventBridge backs off exponentially); a 4xx is
   * dead-lettered at once. @default 24
   */
  readonly retryAttempts?: number;
  /** Deliveries are given up (dead-lettered) past this age. @default Duration.hours(24) */
  readonly maxEventAge?: Duration;
}

export interface LeadEventsProps {
  /** The lead table; commits write lifecycle events to its outbox items, which its stream carries here. */
  readonly table: ITable;
  /** Where `LeadStageChanged` and `LeadPromoted` are put (rules on it route them on). */
  readonly eventBus: IEventBus;
  /** Delivers `LeadPromoted` to sales. @default - no webhook; subscribe to the bus with your own rules */
  readonly salesWebhook?: SalesWebhookProps;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * Lifecycle events (DESIGN §5, docs/lead-events.md): every commit that changes a lead's stage records its
 * `LeadStageChanged` (and, entering a hand-off stage, its `LeadPromoted`) as outbox items in the same transaction; the
 * table's stream brings new outbox items to the publisher, which puts each on the event bus once. With a sales
 * webhook, a rule sends `LeadPromoted` to it through an EventBridge API destination, with retries and a dead-letter
 * queue. Failing deliveries never hold up scoring: they happen after the commit, on their own path.
 */
export class LeadEvents extends Construct {
  readonly publishFunction: LeadloopFunction;
  /** Stream records whose events could not be published after the mapping's retries. */
  readonly deadLetterQueue: Queue;
  /** With a sales webhook: the API destination, its rule and its dead-letter queue. */
  readonly salesWebhook?: { destination: ApiDestination; rule: Rule; deadLetterQueue: Queue };

  constructor(scope: Construct, id: string, props: LeadEventsProps) {
    super(scope, id);
    const dlq = (qid: string, reason: string) => {
      const q = new Queue(this, qid, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      Validations.of(q).acknowledge({ id: 'AwsSolutions-SQS3', reason });
      return q;
    };
    this.deadLetterQueue = dlq(
      'DeadLetterQueue',
      "This queue is itself the dead-letter destination (on-failure) of the lifecycle publisher's stream mapping.",
    );

    this.publishFunction = new LeadloopFunction(this, 'PublishFunction', {
      entry: handlerEntry('publish-lead-events'),
      description: 'Publishes lifecycle events (LeadStageChanged, LeadPromoted) from the outbox, once each',
      timeout: Duration.seconds(30),
      logLevel: props.logLevel,
      logRetention: props.logRetention,
      environment: { TABLE_NAME: props.table.tableName, EVENT_BUS_NAME: props.eventBus.eventBusName },
    });
    grantLeadTableData(props.table, this.publishFunction, 'readWrite');
    props.eventBus.grantPutEventsTo(this.publishFunction);
    this.publishFunction.addEventSource(
      new DynamoEventSource(props.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 10,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        // Retried until published or a day old: an event claimed by a publisher that died waits out the claim's lease
        // (30 s), and a bus outage is ridden out in order. Bisection keeps one bad record from holding up the others.
        retryAttempts: 10_000,
        maxRecordAge: Duration.days(1),
        onFailure: new SqsDlq(this.deadLetterQueue),
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('INSERT'),
            dynamodb: { Keys: { [TABLE.sortKey]: { S: FilterRule.beginsWith(keys.outbox('', '').sk) } } },
          }),
        ],
      }),
    );
    const policy = this.publishFunction.role?.node.tryFindChild('DefaultPolicy');
    if (policy) {
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'dynamodb:ListStreams (granted by the stream event source) supports no resource-level permissions.',
      });
    }

    if (props.salesWebhook) this.salesWebhook = this.webhook(props.eventBus, props.salesWebhook, dlq);
  }

  private webhook(
    eventBus: IEventBus,
    props: SalesWebhookProps,
    dlq: (id: string, reason: string) => Queue,
  ): { destination: ApiDestination; rule: Rule; deadLetterQueue: Queue } {
    if (props.authHeader && !props.authSecret) throw new Error('salesWebhook.authHeader needs authSecret');
    // A connection always carries an authorization; without a credential it names the sender in a plain header.
    const authorization = props.authHeader
      ? Authorization.apiKey(props.authHeader, SecretValue.secretsManager(props.authSecret ?? ''))
      : Authorization.apiKey('X-Leadloop-Source', SecretValue.unsafePlainText('leadloop'));
    const connection = new Connection(this, 'SalesWebhookConnection', {
      description: 'Leadloop → sales webhook',
      authorization,
    });
    const destination = new ApiDestination(this, 'SalesWebhook', {
      description: 'Where LeadPromoted is delivered',
      connection,
      endpoint: props.url,
      httpMethod: HttpMethod.POST,
      rateLimitPerSecond: 20,
    });
    const deadLetterQueue = dlq(
      'SalesWebhookDeadLetterQueue',
      'This queue is itself the dead-letter queue of the sales webhook rule target.',
    );
    const rule = new Rule(this, 'SalesWebhookRule', {
      description: 'LeadPromoted → the sales webhook',
      eventBus,
      eventPattern: { source: [LEAD_EVENTS_SOURCE], detailType: [LEAD_PROMOTED] },
      targets: [
        new ApiDestinationTarget(destination, {
          retryAttempts: props.retryAttempts ?? 24,
          maxEventAge: props.maxEventAge ?? Duration.hours(24),
          deadLetterQueue,
        }),
      ],
    });
    return { destination, rule, deadLetterQueue };
  }
}
