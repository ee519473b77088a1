import { CfnOutput, RemovalPolicies, RemovalPolicy, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CaptureApi } from './capture-api.js';
import { EngagementEvents } from './engagement-events.js';
import { type LeadloopConfig, readConfig } from './leadloop-config.js';
import type { LogLevel } from './leadloop-function.js';
import { LeadStore } from './lead-store.js';
import { ScoringPipeline } from './scoring-pipeline.js';

export interface LeadloopStackProps extends StackProps {
  /** @default - read from the context keys `stage`, `allowedOrigins`, `senderEmail`, `destroyOnRemoval` */
  readonly config?: LeadloopConfig;
}

/** The stack name of a deployment stage: `Leadloop-dev`, `Leadloop-prod`. */
export const stackNameFor = (stage: LeadloopConfig['stage']): string => `Leadloop-${stage}`;

/**
 * Leadloop on AWS (DESIGN §10): one stack, one construct per capability (STYLE §9).
 *
 * Composed here: `LeadStore` (the table), `CaptureApi` (the HTTP API), `ScoringPipeline` (stream → re-scoring),
 * `EngagementEvents` (SES → EventBridge → SQS → engagement handler). The capabilities owned elsewhere —
 * `NurtureWorkflows`, `Requalification`, `Observability` — are composed in `composeLaterCapabilities` below.
 */
export class LeadloopStack extends Stack {
  readonly config: LeadloopConfig;
  readonly leadStore: LeadStore;
  readonly captureApi: CaptureApi;
  readonly scoring: ScoringPipeline;
  readonly engagement: EngagementEvents;

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

    this.captureApi = new CaptureApi(this, 'CaptureApi', { table, allowedOrigins, stageName: stage, logLevel });
    this.scoring = new ScoringPipeline(this, 'ScoringPipeline', { table, logLevel });
    this.engagement = new EngagementEvents(this, 'EngagementEvents', {
      table,
      configurationSetName: `leadloop-${stage}`,
      logLevel,
    });

    this.composeLaterCapabilities();

    // API Gateway's account-wide CloudWatch role stays (other APIs of the account may log through it).
    if (destroyOnRemoval) RemovalPolicies.of(this).destroy({ excludeResourceTypes: ['AWS::IAM::Role'] });

    new CfnOutput(this, 'ApiUrl', { description: 'Base URL of the Leadloop API', value: this.captureApi.url });
    new CfnOutput(this, 'EventsApiKeyId', {
      description: 'Id of the POST /events API key: aws apigateway get-api-key --include-value --api-key <id>',
      value: this.captureApi.eventsApiKey.keyId,
    });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'ConfigurationSetName', {
      description: 'SES configuration set for nurture mail',
      value: this.engagement.configurationSetName,
    });
  }

  /**
   * Where the capabilities owned by other modules are composed (not implemented here). What each takes from this
   * stack:
   *
   * - `NurtureWorkflows` (lib/nurture-workflows.ts): `table` = `this.leadStore.table`, `configurationSetName` =
   *   `this.engagement.configurationSetName`, `senderEmail` = `this.config.senderEmail`, `eventBus` = the default bus,
   *   `unsubscribeUrl` = `${this.captureApi.url}unsubscribe`, `templatePrefix` per `this.config.stage`; then
   *   `grantEnrollment(this.scoring.scoreFunction)` and `configureUnsubscribe(this.captureApi.unsubscribeFunction)`.
   * - `Requalification` (lib/requalification.ts): `table` = `this.leadStore.table` (it sweeps the review index) and
   *   the nurture state machines, to stop the nurture of dormant leads.
   * - `Observability`: the functions (`this.captureApi.*Function`, `this.scoring.scoreFunction`,
   *   `this.engagement.engagementFunction`), the dead-letter queues (`this.scoring.deadLetterQueue`,
   *   `this.engagement.deadLetterQueue` with `this.engagement.deadLetterAlarm`), `this.captureApi.api` and the SES
   *   configuration set (reputation metrics are on).
   *
   * Called once, after the constructs above exist and before the stack-wide removal policy is applied.
   */
  protected composeLaterCapabilities(): void {
    // Intentionally empty until those constructs land; see the list above.
  }
}
