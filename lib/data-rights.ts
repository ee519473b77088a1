import { Arn, ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { keys, TABLE } from '../lambdas/adapters/table-definition.js';
import { grantLeadTableData } from './lead-store.js';
import { handlerEntry, LeadloopFunction, type LogLevel } from './leadloop-function.js';
import { nagResourceName } from './nag-names.js';

export interface DataRightsProps {
  /** The lead table; it must have a stream (keys only is enough). */
  readonly table: ITable;
  /** The nurture state machines, by track: the erase worker stops the erased lead's run. */
  readonly nurtureStateMachines: Readonly<Record<string, IStateMachine>>;
  /** Retries of a failing erasure record before it is dead-lettered. @default 10 */
  readonly retryAttempts?: number;
  /** @default Duration.minutes(5) */
  readonly timeout?: Duration;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * Erasure (DESIGN §8, lambdas/domain/erasure.ts): the suppression key, a secret read at run time that keys the hash
 * of every erased address; and the erase worker, which the table's stream brings each new or updated erasure record
 * (`LEAD#<id>` / `ERASURE`, filtered on the keys alone), to stop the lead's nurture run and delete its partition in
 * bounded, resumable passes, the tombstone last. What still fails after the retries lands in an encrypted DLQ.
 */
export class DataRights extends Construct {
  /** The HMAC key of the suppression hashes. Never rotate it: a new key forgets every suppression made before. */
  readonly suppressionKey: Secret;
  readonly eraseFunction: LeadloopFunction;
  /** Erasure records whose pass kept failing (as Lambda's failure records, pointing at the stream shard). */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: DataRightsProps) {
    super(scope, id);

    this.suppressionKey = new Secret(this, 'SuppressionKey', {
      description: 'Keys the hash of erased addresses (HMAC-SHA256) that keeps them suppressed; never rotate it',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    Validations.of(this.suppressionKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Rotating the suppression key would forget every erased address (their hashes are keyed by it).',
    });

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "This queue is itself the dead-letter destination (on-failure) of the erase worker's stream mapping.",
    });

    this.eraseFunction = new LeadloopFunction(this, 'EraseFunction', {
      entry: handlerEntry('erase-lead'),
      description: "Erases a lead's partition after its tombstone: stops its run, deletes in resumable passes",
      timeout: props.timeout ?? Duration.minutes(5),
      logLevel: props.logLevel,
      logRetention: props.logRetention,
      environment: { TABLE_NAME: props.table.tableName },
    });
    grantLeadTableData(props.table, this.eraseFunction, 'readWrite');
    this.grantStopRuns(props.nurtureStateMachines);

    this.eraseFunction.addEventSource(
      new DynamoEventSource(props.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 10,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: props.retryAttempts ?? 10,
        maxRecordAge: Duration.days(1),
        onFailure: new SqsDlq(this.deadLetterQueue),
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.or('INSERT', 'MODIFY'),
            dynamodb: { Keys: { [TABLE.sortKey]: { S: FilterRule.isEqual(keys.erasure('').sk) } } },
          }),
        ],
      }),
    );
    const policy = this.eraseFunction.role?.node.tryFindChild('DefaultPolicy');
    if (policy) {
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'dynamodb:ListStreams (granted by the stream event source) supports no resource-level permissions.',
      });
    }
  }

  /**
   * Lets a function hash addresses for suppression: read access to the key, and `SUPPRESSION_KEY_SECRET_ARN` naming it
   * (its ARN, never its value).
   */
  grantAddressHashing(fn: LeadloopFunction): void {
    this.suppressionKey.grantRead(fn);
    fn.addEnvironment('SUPPRESSION_KEY_SECRET_ARN', this.suppressionKey.secretArn);
  }

  /** StopExecution (only) on the nurture machines' executions, in a policy of its own; the machines' ARNs by track. */
  private grantStopRuns(machines: Readonly<Record<string, IStateMachine>>): void {
    const role = this.eraseFunction.role;
    const list = Object.values(machines);
    if (list.length === 0 || !role) return;
    const stack = Stack.of(this);
    const executionsOf = (machine: IStateMachine) => {
      const parts = Arn.split(machine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME);
      return Arn.format({ ...parts, resource: 'execution', resourceName: `${parts.resourceName}:*` });
    };
    const policy = new Policy(this, 'StopRunsPolicy', {
      roles: [role],
      statements: [new PolicyStatement({ actions: ['states:StopExecution'], resources: list.map(executionsOf) })],
    });
    for (const machine of list) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(stack.resolve(executionsOf(machine)))}]`,
        reason: "Stopping an erased lead's nurture run needs its execution ARN, which ends in the execution name.",
      });
    }
    const arns = Object.fromEntries(Object.entries(machines).map(([track, m]) => [track, m.stateMachineArn]));
    this.eraseFunction.addEnvironment('NURTURE_STATE_MACHINES', stack.toJsonString(arns));
  }
}
