import {
  Arn,
  ArnFormat,
  Aws,
  CfnOutput,
  RemovalPolicies,
  RemovalPolicy,
  Stack,
  type StackProps,
  Tags,
  Validations,
} from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { CaptureApi } from './capture-api.js';
import { DataRights } from './data-rights.js';
import { EngagementEvents } from './engagement-events.js';
import { type LeadloopConfig, readConfig } from './leadloop-config.js';
import type { LeadloopFunction, LogLevel } from './leadloop-function.js';
import { LeadEvents } from './lead-events.js';
import { LeadStore } from './lead-store.js';
import { ModelLab } from './model-lab.js';
import { NURTURE_TASKS, NurtureWorkflows } from './nurture-workflows.js';
import { Observability } from './observability.js';
import { Requalification } from './requalification.js';
import { ScoringPipeline } from './scoring-pipeline.js';
import { SendingReputation } from './sending-reputation.js';
import { DEFAULT_NURTURE_PLAN } from '../lambdas/domain/nurture/default-tracks.js';
import { nagResourceName } from './nag-names.js';

export interface LeadloopStackProps extends StackProps {
  /** @default - read from the context keys (lib/leadloop-config.ts) */
  readonly config?: LeadloopConfig;
}

/** The stack name of a deployment stage: `Leadloop-dev`, `Leadloop-prod`. */
export const stackNameFor = (stage: LeadloopConfig['stage']): string => `Leadloop-${stage}`;

/** The Step Functions console page of a state machine. */
export const stateMachineConsoleUrl = (stateMachineArn: string): string =>
  `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/statemachines/view/${stateMachineArn}`;

/**
 * Leadloop on AWS (DESIGN §10): one stack, one construct per capability (STYLE §9): `LeadStore` (the table),
 * `CaptureApi` (the HTTP API, optionally behind a WAF rate limit), `ScoringPipeline` (stream → re-scoring),
 * `EngagementEvents` (SES → EventBridge → SQS → engagement handler), `NurtureWorkflows` (one state machine per track),
 * `Requalification` (the scheduled sweep) and `Observability` (dashboard, alarms, alarm topic).
 *
 * Outputs: the API URL, the events API key id, the table, the SES configuration set, the dashboard link and the
 * console link of every state machine.
 */
export class LeadloopStack extends Stack {
  readonly config: LeadloopConfig;
  readonly leadStore: LeadStore;
  readonly captureApi: CaptureApi;
  readonly scoring: ScoringPipeline;
  readonly engagement: EngagementEvents;
  readonly nurture: NurtureWorkflows;
  readonly requalification: Requalification;
  readonly leadEvents: LeadEvents;
  readonly observability: Observability;
  readonly sendingReputation: SendingReputation;
  readonly dataRights: DataRights;

  constructor(scope: Construct, id: string, props: LeadloopStackProps = {}) {
    const { config, ...stackProps } = props;
    super(scope, id, { description: 'Leadloop: serverless lead scoring and nurture', ...stackProps });
    this.config = config ?? readConfig(this.node);
    const { stage, allowedOrigins, destroyOnRemoval } = this.config;
    const logLevel: LogLevel = stage === 'prod' ? 'INFO' : 'DEBUG';
    Tags.of(this).add('app', 'leadloop');
    Tags.of(this).add('stage', stage);

    this.leadStore = new LeadStore(this, 'LeadStore', {
      removalPolicy: destroyOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    const table = this.leadStore.table;
    // SES publishes engagement to the default bus; promotions and sweep summaries go there too.
    const eventBus = EventBus.fromEventBusName(this, 'DefaultEventBus', 'default');

    this.captureApi = new CaptureApi(this, 'CaptureApi', {
      table,
      allowedOrigins,
      stageName: stage,
      logLevel,
      ...(this.config.waf ? { formRateLimit: {} } : {}),
    });
    this.scoring = new ScoringPipeline(this, 'ScoringPipeline', { table, logLevel });
    this.engagement = new EngagementEvents(this, 'EngagementEvents', {
      table,
      configurationSetName: `leadloop-${stage}`,
      logLevel,
    });

    this.nurture = new NurtureWorkflows(this, 'NurtureWorkflows', {
      table,
      configurationSetName: this.engagement.configurationSetName,
      senderEmail: this.config.senderEmail,
      unsubscribeUrl: `${this.captureApi.url}unsubscribe`,
      siteUrl: this.config.siteUrl,
      mailingAddress: this.config.mailingAddress,
      templatePrefix: `leadloop-${stage}`,
      logLevel,
    });
    this.nurture.grantEnrollment(this.scoring.scoreFunction);
    this.acknowledgeExecutionWildcards(this.scoring.scoreFunction, Object.values(this.nurture.stateMachines));
    this.nurture.configureUnsubscribe(this.captureApi.unsubscribeFunction);
    this.nurture.configureUnsubscribe(this.captureApi.confirmFunction);
    this.nurture.configureConfirmationMail(this.captureApi.formFunction, {
      confirmUrl: `${this.captureApi.selfUrl}confirm`,
      unsubscribeUrl: `${this.captureApi.selfUrl}unsubscribe`,
      confirmedOptIn: this.config.confirmedOptIn,
    });
    this.acknowledgeStateMachineGrants(this.nurture);

    this.dataRights = new DataRights(this, 'DataRights', {
      table,
      nurtureStateMachines: this.nurture.stateMachines,
      logLevel,
    });
    // The functions that suppress an address or check whether it is suppressed.
    for (const fn of [this.captureApi.formFunction, this.captureApi.eventsFunction, this.captureApi.adminFunction]) {
      this.dataRights.grantAddressHashing(fn);
    }

    this.requalification = new Requalification(this, 'Requalification', {
      table,
      nurtureStateMachines: this.nurture.stateMachines,
      eventBus,
      logLevel,
    });

    this.leadEvents = new LeadEvents(this, 'LeadEvents', {
      table,
      eventBus,
      logLevel,
      ...(this.config.salesWebhookUrl && {
        salesWebhook: {
          url: this.config.salesWebhookUrl,
          ...(this.config.salesWebhookAuthHeader && { authHeader: this.config.salesWebhookAuthHeader }),
          ...(this.config.salesWebhookAuthSecret && { authSecret: this.config.salesWebhookAuthSecret }),
        },
      }),
    });

    this.observability = new Observability(this, 'Observability', {
      functions: this.functions(),
      deadLetterQueues: {
        'score-stream': { queue: this.scoring.deadLetterQueue },
        'ses-engagement': { queue: this.engagement.deadLetterQueue, alarm: this.engagement.deadLetterAlarm },
        'publish-lead-events': { queue: this.leadEvents.deadLetterQueue },
        'erase-lead': { queue: this.dataRights.deadLetterQueue },
        ...(this.leadEvents.salesWebhook && {
          'sales-webhook': { queue: this.leadEvents.salesWebhook.deadLetterQueue },
        }),
      },
      nurtureStateMachines: this.nurture.stateMachines,
      otherStateMachines: { requalification: this.requalification.stateMachine },
      apiStage: this.captureApi.api.deploymentStage,
      alarmEmail: this.config.alarmEmail,
    });

    this.sendingReputation = new SendingReputation(this, 'SendingReputation', {
      metric: (name, label) => this.observability.appMetric(name, label),
      alarmTopic: this.observability.alarmTopic,
      policy: DEFAULT_NURTURE_PLAN.policy.reputation,
    });

    // API Gateway's account-wide CloudWatch role stays (other APIs of the account may log through it).
    if (destroyOnRemoval) RemovalPolicies.of(this).destroy({ excludeResourceTypes: ['AWS::IAM::Role'] });

    new CfnOutput(this, 'ApiUrl', { description: 'Base URL of the Leadloop API', value: this.captureApi.url });
    new CfnOutput(this, 'EventsApiKeyId', {
      description: 'Id of the POST /events API key: aws apigateway get-api-key --include-value --api-key <id>',
      value: this.captureApi.eventsApiKey.keyId,
    });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'ScoringDeadLetterQueueUrl', {
      description:
        "Scoring DLQ (the table stream's failed records): npm run leadloop -- redrive --endpoint aws --table <TableName> --dlq <this>",
      value: this.scoring.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'ConfigurationSetName', {
      description: 'SES configuration set for nurture mail',
      value: this.engagement.configurationSetName,
    });
    new CfnOutput(this, 'DashboardUrl', {
      description: 'CloudWatch dashboard: funnel, nurture runs, health',
      value: this.observability.dashboardUrl,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic of every alarm (subscribe with -c alarmEmail=... or in the console)',
      value: this.observability.alarmTopic.topicArn,
    });
    for (const [track, machine] of Object.entries(this.nurture.stateMachines)) {
      new CfnOutput(this, `NurtureStateMachineUrl${pascalCase(track)}`, {
        description: `Step Functions console: nurture track "${track}"`,
        value: stateMachineConsoleUrl(machine.stateMachineArn),
      });
    }
    new CfnOutput(this, 'RequalificationStateMachineUrl', {
      description: 'Step Functions console: the requalification sweep',
      value: stateMachineConsoleUrl(this.requalification.stateMachine.stateMachineArn),
    });

    // The model lab's backtest at scale (DESIGN §11), only with `-c modelLab=true`.
    ModelLab.addIfEnabled(this, 'ModelLab', {
      table,
      logLevel,
      ...(destroyOnRemoval && { removalPolicy: RemovalPolicy.DESTROY }),
    });
  }

  /** Every Lambda function of the stack, by the handler module it runs. */
  functions(): Record<string, LeadloopFunction> {
    return {
      'capture-form': this.captureApi.formFunction,
      'capture-events': this.captureApi.eventsFunction,
      'leads-admin': this.captureApi.adminFunction,
      unsubscribe: this.captureApi.unsubscribeFunction,
      confirm: this.captureApi.confirmFunction,
      'sending-admin': this.captureApi.sendingFunction,
      'score-stream': this.scoring.scoreFunction,
      'ses-engagement': this.engagement.engagementFunction,
      [NURTURE_TASKS.touch]: this.nurture.functions.touch,
      [NURTURE_TASKS.holdOut]: this.nurture.functions.holdOut,
      [NURTURE_TASKS.evaluate]: this.nurture.functions.evaluate,
      [NURTURE_TASKS.handoff]: this.nurture.functions.handoff,
      [NURTURE_TASKS.recordFailure]: this.nurture.functions.recordFailure,
      'requalify-shard': this.requalification.sweepShardFunction,
      'requalify-summary': this.requalification.summaryFunction,
      'publish-lead-events': this.leadEvents.publishFunction,
      'erase-lead': this.dataRights.eraseFunction,
    };
  }

  /**
   * What CDK grants each nurture state machine's role in its default policy, acknowledged here until NurtureWorkflows
   * does it itself (as Requalification does): log delivery and X-Ray on '*', and invoking each task function and its
   * versions (`<function ARN>:*`).
   */
  private acknowledgeStateMachineGrants(nurture: NurtureWorkflows): void {
    for (const machine of Object.values(nurture.stateMachines)) {
      const policy = machine.role.node.tryFindChild('DefaultPolicy');
      if (!policy) continue;
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Log delivery (logs:CreateLogDelivery etc.) and X-Ray tracing support no resource-level permissions.',
      });
      for (const fn of Object.values(nurture.functions)) {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResourceName(this.resolve(fn.functionArn))}:*]`,
          reason: 'Invoking a Lambda function from Step Functions is granted on the function and its versions.',
        });
      }
    }
  }

  /**
   * `NurtureWorkflows.grantEnrollment` lets a function stop (and describe) executions of the nurture machines, whose
   * ARNs end in the execution name: one wildcard per machine in the function's default policy, acknowledged one by one.
   */
  private acknowledgeExecutionWildcards(fn: LeadloopFunction, machines: readonly IStateMachine[]): void {
    const policy = fn.role?.node.tryFindChild('DefaultPolicy');
    if (!policy) return;
    for (const machine of machines) {
      const parts = Arn.split(machine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME);
      const executions = Arn.format({ ...parts, resource: 'execution', resourceName: `${parts.resourceName}:*` });
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(this.resolve(executions))}]`,
        reason: "Stopping a lead's nurture run needs its execution ARN, which ends in the execution name.",
      });
    }
  }
}

/** `case-studies` → `CaseStudies` (output ids are alphanumeric). */
function pascalCase(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .map((w) => `${w.charAt(0).toUpperCase()}${w.slice(1)}`)
    .join('');
}
