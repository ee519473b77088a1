import { Duration, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { keys, TABLE } from '../lambdas/adapters/table-definition.js';
import { grantLeadTableData } from './lead-store.js';
import { handlerEntry, LeadloopFunction, type LogLevel } from './leadloop-function.js';

export interface ScoringPipelineProps {
  /** The lead table; it must have a stream. */
  readonly table: ITable;
  /** Stream records per invocation. @default 25 */
  readonly batchSize?: number;
  /** How long to gather records before invoking. @default - no batching window */
  readonly maxBatchingWindow?: Duration;
  /** Retries of a failing batch (halved each time by bisection) before its records go to the DLQ. @default 5 */
  readonly retryAttempts?: number;
  /** Records older than this go to the DLQ instead of being retried. @default Duration.days(1) */
  readonly maxRecordAge?: Duration;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/** The sort-key prefix shared by every event item (`EVENT#<eventId>`). */
const EVENT_SORT_KEY_PREFIX = keys.event('', '').sk;

/**
 * Re-scoring driven by the table's stream (DESIGN §3, §5): the `score-stream` function receives only INSERTs of event
 * items (filtered by the event source mapping, so other writes cost no invocation), reports per-record failures,
 * bisects failing batches, retries a bounded number of times and then sends the failed records' coordinates to an
 * encrypted SQS dead-letter queue.
 */
export class ScoringPipeline extends Construct {
  readonly scoreFunction: LeadloopFunction;
  /** Where the stream's failed records land (as Lambda's failure records, pointing at the stream shard). */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: ScoringPipelineProps) {
    super(scope, id);

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself the dead-letter destination (on-failure) of the table stream's event source mapping.",
    });

    this.scoreFunction = new LeadloopFunction(this, 'ScoreFunction', {
      entry: handlerEntry('score-stream'),
      description: 'Re-scores a lead when new events land in the table',
      timeout: props.timeout ?? Duration.seconds(30),
      logLevel: props.logLevel,
      logRetention: props.logRetention,
      environment: { TABLE_NAME: props.table.tableName },
    });
    grantLeadTableData(props.table, this.scoreFunction, 'readWrite');

    this.scoreFunction.addEventSource(
      new DynamoEventSource(props.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: props.batchSize ?? 25,
        maxBatchingWindow: props.maxBatchingWindow,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: props.retryAttempts ?? 5,
        maxRecordAge: props.maxRecordAge ?? Duration.days(1),
        onFailure: new SqsDlq(this.deadLetterQueue),
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('INSERT'),
            dynamodb: { Keys: { [TABLE.sortKey]: { S: FilterRule.beginsWith(EVENT_SORT_KEY_PREFIX) } } },
          }),
        ],
      }),
    );
    // DynamoEventSource grants the stream read on the stream ARN, plus dynamodb:ListStreams, which has no resources.
    const policy = this.scoreFunction.role?.node.tryFindChild('DefaultPolicy');
    if (policy) {
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'dynamodb:ListStreams (granted by the stream event source) supports no resource-level permissions.',
      });
    }
  }
}
