import { CfnElement, CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import {
  Choice,
  Condition,
  DefinitionBody,
  DistributedMap,
  Fail,
  ItemBatcher,
  JsonPath,
  LogLevel as StateMachineLogLevel,
  Pass,
  S3JsonLItemReader,
  StateMachine,
  StateMachineType,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { CallAwsService, LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct, type Node } from 'constructs';
import * as z from 'zod';
import { handlerEntry, LeadloopFunction, type LogLevel } from './leadloop-function.js';
import { nagResourceName } from './nag-names.js';

/** The context key that adds the model lab to the stack: `cdk deploy -c modelLab=true`. */
export const MODEL_LAB_CONTEXT_KEY = 'modelLab';

/** The states of "Backtest the scoring model", by the names the console shows. */
export const MODEL_LAB_STATES = {
  exportTable: 'Export the table',
  waitForExport: 'Wait for the export',
  describeExport: 'Check the export',
  exportDone: 'Export complete?',
  exportFailed: 'Export failed',
  plan: 'Plan the run',
  shuffle: 'Shuffle export files',
  shuffleBatch: 'Shuffle a batch of files',
  backtestShards: 'Backtest shards',
  backtestShard: 'Backtest shard',
  report: 'Write report',
} as const;

export interface ModelLabProps {
  /** The lead table; it needs point-in-time recovery (LeadStore enables it), which DynamoDB exports require. */
  readonly table: ITable;
  /**
   * Shards the export is shuffled into: each "Backtest shard" invocation replays one shard's leads.
   * @default 64
   */
  readonly shards?: number;
  /** Export data files per "Shuffle a batch of files" invocation. @default 4 */
  readonly filesPerBatch?: number;
  /** Child executions at once in each Distributed Map. @default 40 */
  readonly maxConcurrency?: number;
  /** How long exports, shuffle files and reports are kept. @default Duration.days(30) */
  readonly retention?: Duration;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** The bucket's removal policy. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

const Flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((s) => s === 'true')]).default(false);

/** True when the context asks for the model lab (`modelLab=true`); throws on a value that is not a boolean. */
export function modelLabEnabled(node: Node): boolean {
  const parsed = Flag.safeParse(node.tryGetContext(MODEL_LAB_CONTEXT_KEY));
  if (!parsed.success)
    throw new Error(`Invalid Leadloop configuration: context "${MODEL_LAB_CONTEXT_KEY}" must be true or false`);
  return parsed.data;
}

/**
 * The model lab on AWS (DESIGN §11) for tables too big for one machine's scan: the Standard state machine "Backtest
 * the scoring model" exports the lead table to S3 (point in time, no read capacity used), shuffles the export's data
 * files by lead in a Distributed Map, backtests every shard in a second Distributed Map, and merges the shards'
 * tallies into the report, written to the lab bucket as `runs/<execution>/report.json` and `report.html`.
 *
 * Start it with `{}` (the deployed model alone) or with `candidateModelKey` (a model JSON uploaded to the bucket),
 * `since`, `until`, `targetPrecision`. Added by the stack only with the context flag `modelLab=true`.
 */
export class ModelLab extends Construct {
  readonly bucket: Bucket;
  readonly stateMachine: StateMachine;
  readonly shuffleFunction: LeadloopFunction;
  readonly shardFunction: LeadloopFunction;
  readonly reportFunction: LeadloopFunction;
  readonly logGroup: LogGroup;

  /** Adds the model lab to `scope` when the context flag is on; otherwise nothing. */
  static addIfEnabled(scope: Construct, id: string, props: ModelLabProps): ModelLab | undefined {
    return modelLabEnabled(scope.node) ? new ModelLab(scope, id, props) : undefined;
  }

  constructor(scope: Construct, id: string, props: ModelLabProps) {
    super(scope, id);
    const retention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const shards = props.shards ?? 64;

    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: props.retention ?? Duration.days(30) }],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "Working storage of one operator tool (table exports, shuffle files, reports) that expires after the retention period; its writers are this construct's own roles, so object-level server access logs add a second bucket and nothing to audit.",
    });

    const environment = { MODEL_LAB_BUCKET: this.bucket.bucketName };
    this.shuffleFunction = new LeadloopFunction(this, 'ShuffleFunction', {
      entry: handlerEntry('model-lab-partition'),
      description: "Shuffles a batch of a DynamoDB export's data files by lead (model lab)",
      timeout: Duration.minutes(10),
      memorySize: 1024,
      logLevel: props.logLevel,
      logRetention: retention,
      environment,
    });
    this.shardFunction = new LeadloopFunction(this, 'ShardFunction', {
      entry: handlerEntry('model-lab-shard'),
      description: "Backtests one shard's leads under the deployed and a candidate model (model lab)",
      timeout: Duration.minutes(15),
      memorySize: 2048,
      logLevel: props.logLevel,
      logRetention: retention,
      environment,
    });
    this.reportFunction = new LeadloopFunction(this, 'ReportFunction', {
      entry: handlerEntry('model-lab-report'),
      description: "Merges the shards' tallies into the model lab report (JSON and HTML)",
      timeout: Duration.minutes(5),
      memorySize: 1024,
      logLevel: props.logLevel,
      logRetention: retention,
      environment,
    });
    this.bucket.grantRead(this.shuffleFunction, 'exports/*');
    this.bucket.grantPut(this.shuffleFunction, 'runs/*');
    this.bucket.grantRead(this.shardFunction, 'runs/*');
    this.bucket.grantRead(this.shardFunction, 'models/*');
    this.bucket.grantPut(this.shardFunction, 'runs/*');
    this.bucket.grantRead(this.reportFunction, 'runs/*');
    this.bucket.grantRead(this.reportFunction, 'models/*');
    this.bucket.grantPut(this.reportFunction, 'runs/*');
    for (const fn of [this.shardFunction, this.reportFunction]) {
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': ['runs/*'] } },
        }),
      );
    }
    this.acknowledgeObjectGrants();

    this.logGroup = new LogGroup(this, 'StateMachineLogs', {
      retention,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      comment:
        'Backtest the scoring model: export the table, shuffle the export by lead, backtest every shard, write the report',
      definitionBody: DefinitionBody.fromChainable(this.definition(props, shards)),
      timeout: Duration.hours(12),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: StateMachineLogLevel.ALL, includeExecutionData: false },
    });
    this.grantExport();
    this.acknowledgeStateMachineGrants(props.table);

    new CfnOutput(this, 'BucketName', {
      description: 'Model lab: exports, runs and reports (runs/<execution>/report.html)',
      value: this.bucket.bucketName,
    });
    new CfnOutput(this, 'StateMachineArn', {
      description: 'Model lab: start an execution to backtest the deployed model',
      value: this.stateMachine.stateMachineArn,
    });
  }

  private definition(props: ModelLabProps, shards: number) {
    const S = MODEL_LAB_STATES;
    const exportTable = new CallAwsService(this, 'ExportTable', {
      stateName: S.exportTable,
      comment: 'A point-in-time export of the lead table to the lab bucket (reads no table capacity)',
      service: 'dynamodb',
      action: 'exportTableToPointInTime',
      parameters: {
        TableArn: props.table.tableArn,
        S3Bucket: this.bucket.bucketName,
        S3Prefix: 'exports',
        ExportFormat: 'DYNAMODB_JSON',
        ClientToken: JsonPath.stringAt('$$.Execution.Name'),
      },
      iamResources: [props.table.tableArn],
      iamAction: 'dynamodb:ExportTableToPointInTime',
      resultSelector: { arn: JsonPath.stringAt('$.ExportDescription.ExportArn') },
      resultPath: '$.export',
    });
    const wait = new Wait(this, 'WaitForExport', {
      stateName: S.waitForExport,
      time: WaitTime.duration(Duration.minutes(2)),
    });
    const describe = new CallAwsService(this, 'DescribeExport', {
      stateName: S.describeExport,
      service: 'dynamodb',
      action: 'describeExport',
      parameters: { ExportArn: JsonPath.stringAt('$.export.arn') },
      iamResources: [`${props.table.tableArn}/export/*`],
      iamAction: 'dynamodb:DescribeExport',
      resultSelector: {
        arn: JsonPath.stringAt('$.ExportDescription.ExportArn'),
        status: JsonPath.stringAt('$.ExportDescription.ExportStatus'),
      },
      resultPath: '$.export',
    });
    const plan = new Pass(this, 'Plan', {
      stateName: S.plan,
      comment: "The run's options for every step, and where the export's list of data files is",
      parameters: {
        run: {
          runId: JsonPath.stringAt('$$.Execution.Name'),
          shards,
          options: JsonPath.objectAt('$$.Execution.Input'),
        },
        manifest: JsonPath.format(
          'exports/AWSDynamoDB/{}/manifest-files.json',
          JsonPath.arrayGetItem(JsonPath.stringSplit(JsonPath.stringAt('$.export.arn'), '/'), 3),
        ),
        shardList: JsonPath.arrayRange(0, shards - 1, 1),
      },
    });
    const shuffle = new DistributedMap(this, 'Shuffle', {
      stateName: S.shuffle,
      comment: "The export's data files, a batch at a time",
      itemReader: new S3JsonLItemReader({ bucket: this.bucket, key: JsonPath.stringAt('$.manifest') }),
      itemBatcher: new ItemBatcher({
        maxItemsPerBatch: props.filesPerBatch ?? 4,
        batchInput: { run: JsonPath.objectAt('$.run') },
      }),
      maxConcurrency: props.maxConcurrency ?? 40,
      resultPath: JsonPath.DISCARD,
    }).itemProcessor(
      new LambdaInvoke(this, 'ShuffleBatch', {
        stateName: S.shuffleBatch,
        lambdaFunction: this.shuffleFunction,
        payload: TaskInput.fromObject({
          run: JsonPath.objectAt('$.BatchInput.run'),
          files: JsonPath.listAt('$.Items'),
        }),
        outputPath: '$.Payload',
        taskTimeout: Timeout.duration(Duration.minutes(11)),
      }).addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 }),
    );
    const backtestShards = new DistributedMap(this, 'BacktestShards', {
      stateName: S.backtestShards,
      comment: `The ${shards} shards, each its leads replayed up to their outcomes`,
      itemsPath: JsonPath.stringAt('$.shardList'),
      itemSelector: { run: JsonPath.objectAt('$.run'), shard: JsonPath.numberAt('$$.Map.Item.Value') },
      maxConcurrency: props.maxConcurrency ?? 40,
      resultPath: JsonPath.DISCARD,
    }).itemProcessor(
      new LambdaInvoke(this, 'BacktestShard', {
        stateName: S.backtestShard,
        lambdaFunction: this.shardFunction,
        payload: TaskInput.fromJsonPathAt('$'),
        outputPath: '$.Payload',
        taskTimeout: Timeout.duration(Duration.minutes(16)),
      }).addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 }),
    );
    const report = new LambdaInvoke(this, 'WriteReport', {
      stateName: S.report,
      comment: "Merges the shards' tallies; writes runs/<execution>/report.json and report.html",
      lambdaFunction: this.reportFunction,
      payload: TaskInput.fromObject({ run: JsonPath.objectAt('$.run') }),
      outputPath: '$.Payload',
      taskTimeout: Timeout.duration(Duration.minutes(6)),
    }).addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 });

    plan.next(shuffle).next(backtestShards).next(report);
    const done = new Choice(this, 'ExportDone', { stateName: S.exportDone })
      .when(Condition.stringEquals('$.export.status', 'COMPLETED'), plan)
      .when(
        Condition.stringEquals('$.export.status', 'FAILED'),
        new Fail(this, 'ExportFailed', {
          stateName: S.exportFailed,
          error: 'ExportFailed',
          cause: 'The DynamoDB export failed; see the export in the DynamoDB console.',
        }),
      )
      .otherwise(wait);
    wait.next(describe).next(done);
    return exportTable.next(wait);
  }

  /** What the export needs: it writes to the bucket as the state machine's role. */
  private grantExport(): void {
    this.bucket.grantReadWrite(this.stateMachine, 'exports/*');
  }

  /** Object grants are on key prefixes of the lab bucket (`<bucket>/exports/*`, `runs/*`, `models/*`). */
  private acknowledgeObjectGrants(): void {
    const stack = Stack.of(this);
    for (const fn of [this.shuffleFunction, this.shardFunction, this.reportFunction]) {
      const policy = fn.role?.node.tryFindChild('DefaultPolicy');
      if (!policy) continue;
      for (const prefix of ['exports/*', 'runs/*', 'models/*']) {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResourceName(stack.resolve(this.bucket.arnForObjects(prefix)))}]`,
          reason: 'Objects under one key prefix of the model lab bucket: the prefix is the resource.',
        });
      }
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Action::s3:GetObject*]',
        reason: 'CDK grantRead: GetObject and its attribute/version variants on the prefix.',
      });
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Action::s3:GetBucket*]',
        reason: 'CDK grantRead: bucket location and attributes the SDK reads.',
      });
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Action::s3:List*]',
        reason: 'CDK grantRead: listing the bucket (the shard and report steps list their prefix).',
      });
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Action::s3:Abort*]',
        reason: 'CDK grantPut: aborting its own multipart uploads under the prefix.',
      });
    }
  }

  private acknowledgeStateMachineGrants(table: ITable): void {
    const stack = Stack.of(this);
    const policy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (!policy) return;
    const acknowledge = (id: string, reason: string) => Validations.of(policy).acknowledge({ id, reason });
    acknowledge(
      'AwsSolutions-IAM5[Resource::*]',
      'Log delivery (logs:CreateLogDelivery etc.) and X-Ray tracing support no resource-level permissions.',
    );
    for (const fn of [this.shuffleFunction, this.shardFunction, this.reportFunction]) {
      const cfn = fn.node.defaultChild;
      if (cfn instanceof CfnElement)
        acknowledge(
          `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(cfn)}.Arn>:*]`,
          'Invoking a Lambda function from Step Functions is granted on the function and its versions.',
        );
    }
    acknowledge(
      `AwsSolutions-IAM5[Resource::${nagResourceName(stack.resolve(this.bucket.arnForObjects('exports/*')))}]`,
      'The export writes, and the Distributed Map reads the manifest, under the exports/ prefix.',
    );
    acknowledge('AwsSolutions-IAM5[Action::s3:GetObject*]', 'CDK grantReadWrite on the exports/ prefix.');
    acknowledge('AwsSolutions-IAM5[Action::s3:GetBucket*]', 'CDK grantReadWrite on the exports/ prefix.');
    acknowledge('AwsSolutions-IAM5[Action::s3:List*]', 'CDK grantReadWrite on the exports/ prefix.');
    acknowledge(
      'AwsSolutions-IAM5[Action::s3:DeleteObject*]',
      'CDK grantReadWrite on the exports/ prefix (an export may replace its own partial files).',
    );
    acknowledge(
      'AwsSolutions-IAM5[Action::s3:Abort*]',
      'CDK grantReadWrite on the exports/ prefix: multipart uploads of large export files.',
    );
    acknowledge(
      `AwsSolutions-IAM5[Resource::${nagResourceName(stack.resolve(`${table.tableArn}/export/*`))}]`,
      "DescribeExport is granted on the table's exports, whose ARNs end in the export id.",
    );
    const bucketResource = this.bucket.node.defaultChild;
    const bucketId = bucketResource instanceof CfnElement ? stack.getLogicalId(bucketResource) : '';
    acknowledge(
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<${bucketId}>/*]`,
      "The Distributed Map reads the export's manifest-files.json, whose key holds the export id known only at run time (CDK grants a key given as a path on the bucket's objects).",
    );
    // A Distributed Map starts, describes and stops its own child executions: CDK grants them on this machine's
    // execution ARNs (`execution:<machine>:*` and `…/*:*`) in a policy of its own.
    const mapPolicy = this.stateMachine.node.tryFindChild('DistributedMapPolicy');
    if (mapPolicy instanceof Policy) {
      const document = stack.resolve(mapPolicy.document.toJSON()) as { Statement?: { Resource?: unknown }[] };
      for (const statement of document.Statement ?? []) {
        for (const resource of [statement.Resource ?? []].flat()) {
          const name = nagResourceName(resource);
          if (name.includes('*'))
            Validations.of(mapPolicy).acknowledge({
              id: `AwsSolutions-IAM5[Resource::${name}]`,
              reason: "The Distributed Map's own child executions, named by Step Functions at run time.",
            });
        }
      }
    }
  }
}
