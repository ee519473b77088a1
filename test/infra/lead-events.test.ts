import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { HANDLER_METADATA_KEY } from '../../lib/leadloop-function.js';
import { LeadloopStack } from '../../lib/leadloop-stack.js';
import { logicalIdOf, testApp } from './synth.js';

/** Lifecycle events (issue 11): the outbox publisher on the table stream, and the optional sales webhook. */

const WEBHOOK = {
  salesWebhookUrl: 'https://hooks.example.com/leadloop',
  salesWebhookAuthHeader: 'Authorization',
  salesWebhookAuthSecret: 'leadloop/sales-webhook',
};

function build(context: Record<string, unknown> = {}) {
  const stack = new LeadloopStack(testApp(context), 'LeadEventsTest');
  return { stack, template: Template.fromStack(stack) };
}

describe('LeadEvents', () => {
  const plain = build();
  const withWebhook = build(WEBHOOK);

  it('publishes from the table stream: new outbox items only, reported per record, retried, then dead-lettered', () => {
    const fn = logicalIdOf(plain.stack.leadEvents.publishFunction);
    expect(plain.template.toJSON().Resources[fn].Metadata[HANDLER_METADATA_KEY]).toBe(
      'lambdas/handlers/publish-lead-events.ts',
    );
    plain.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fn },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10_000,
      FilterCriteria: {
        Filters: [
          {
            Pattern: JSON.stringify({
              eventName: ['INSERT'],
              dynamodb: { Keys: { sk: { S: [{ prefix: 'OUTBOX#' }] } } },
            }),
          },
        ],
      },
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(plain.stack.leadEvents.deadLetterQueue), 'Arn'] } },
      },
    });
    expect(plain.template.toJSON().Resources[fn].Properties.Environment.Variables).toMatchObject({
      EVENT_BUS_NAME: 'default',
      TABLE_NAME: { Ref: logicalIdOf(plain.stack.leadStore.table) },
    });
  });

  it('adds no webhook unless asked', () => {
    plain.template.resourceCountIs('AWS::Events::ApiDestination', 0);
    plain.template.resourceCountIs('AWS::Events::Connection', 0);
  });

  it('sends LeadPromoted to the sales webhook through an API destination, with retries and a dead-letter queue', () => {
    const webhook = withWebhook.stack.leadEvents.salesWebhook;
    if (!webhook) throw new Error('no webhook');
    withWebhook.template.hasResourceProperties('AWS::Events::ApiDestination', {
      InvocationEndpoint: WEBHOOK.salesWebhookUrl,
      HttpMethod: 'POST',
    });
    withWebhook.template.hasResourceProperties('AWS::Events::Connection', {
      AuthorizationType: 'API_KEY',
      AuthParameters: {
        ApiKeyAuthParameters: {
          ApiKeyName: 'Authorization',
          ApiKeyValue: '{{resolve:secretsmanager:leadloop/sales-webhook:SecretString:::}}',
        },
      },
    });
    withWebhook.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['leadloop'], 'detail-type': ['LeadPromoted'] },
      Targets: [
        {
          Arn: {
            'Fn::GetAtt': [Object.keys(withWebhook.template.findResources('AWS::Events::ApiDestination'))[0], 'Arn'],
          },
          RetryPolicy: { MaximumRetryAttempts: 24, MaximumEventAgeInSeconds: 86_400 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf(webhook.deadLetterQueue), 'Arn'] } },
        },
      ],
    });
    const alarmed = Object.values(withWebhook.template.findResources('AWS::CloudWatch::Alarm')).filter((a) =>
      JSON.stringify(a.Properties).includes(logicalIdOf(webhook.deadLetterQueue)),
    );
    expect(alarmed).toHaveLength(1);
  });

  it('refuses an auth header without the secret that holds its value', () => {
    expect(() => build({ salesWebhookUrl: WEBHOOK.salesWebhookUrl, salesWebhookAuthHeader: 'Authorization' })).toThrow(
      /salesWebhookAuthHeader" needs salesWebhookAuthSecret/,
    );
  });

  it('has no unacknowledged cdk-nag findings, with the webhook', () => {
    const findings = new AwsSolutionsChecks()
      .validateScope(withWebhook.stack)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`))
      .filter((f) => f.includes('/LeadEvents/'));
    expect(findings).toEqual([]);
  });
});
