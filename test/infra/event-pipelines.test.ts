import type { Template } from 'aws-cdk-lib/assertions';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LeadloopStack } from '../../lib/leadloop-stack.js';
import { logicalIdOf, synthLeadloop } from './synth.js';

let stack: LeadloopStack;
let template: Template;
beforeAll(() => {
  ({ stack, template } = synthLeadloop());
});

describe('ScoringPipeline', () => {
  it('feeds the table stream to score-stream: only INSERTs of event items, with partial batch failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(stack.leadStore.table), 'StreamArn'] },
      FunctionName: { Ref: logicalIdOf(stack.scoring.scoreFunction) },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 25,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      FilterCriteria: { Filters: [{ Pattern: Match.anyValue() }] },
    });
    const [mapping] = Object.values(
      template.findResources('AWS::Lambda::EventSourceMapping', {
        Properties: { FunctionName: { Ref: logicalIdOf(stack.scoring.scoreFunction) } },
      }),
    );
    const pattern: unknown = JSON.parse(mapping?.['Properties']['FilterCriteria']['Filters'][0]['Pattern']);
    expect(pattern).toEqual({ eventName: ['INSERT'], dynamodb: { Keys: { sk: { S: [{ prefix: 'EVENT#' }] } } } });
  });

  it('sends what still fails to an encrypted, TLS-only SQS dead-letter queue', () => {
    const dlq = logicalIdOf(stack.scoring.deadLetterQueue);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf(stack.scoring.scoreFunction) },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlq, 'Arn'] } } },
    });
    expect(template.toJSON()['Resources'][dlq]['Properties']).toMatchObject({ SqsManagedSseEnabled: true });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: dlq }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('lets score-stream read the stream and write the table, but not manage it', () => {
    const role = stack.scoring.scoreFunction.role;
    if (!role) throw new Error('score-stream has no role');
    const policies = JSON.stringify(
      template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalIdOf(role) }] } }),
    );
    for (const action of ['dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:PutItem', 'sqs:SendMessage']) {
      expect(policies).toContain(action);
    }
    expect(policies).not.toMatch(/dynamodb:\*|DeleteTable|UpdateTable|dynamodb:Scan/);
  });
});

describe('EngagementEvents', () => {
  it('names the SES configuration set from props, with reputation metrics', () => {
    template.hasResourceProperties('AWS::SES::ConfigurationSet', {
      Name: 'leadloop-dev',
      ReputationOptions: { ReputationMetricsEnabled: true },
      SendingOptions: { SendingEnabled: true },
    });
    expect(stack.engagement.configurationSetName).toBe('leadloop-dev');
  });

  it('publishes every sending event, opens and clicks included, to the default EventBridge bus', () => {
    template.hasResourceProperties('AWS::SES::ConfigurationSetEventDestination', {
      ConfigurationSetName: { Ref: logicalIdOf(stack.engagement.configurationSet) },
      EventDestination: {
        Enabled: true,
        EventBridgeDestination: {
          EventBusArn: { 'Fn::Join': ['', Match.arrayWith([':event-bus/default'])] },
        },
        MatchingEventTypes: Match.anyValue(),
      },
    });
    const [destination] = Object.values(template.findResources('AWS::SES::ConfigurationSetEventDestination'));
    expect(new Set(destination?.['Properties']['EventDestination']['MatchingEventTypes'])).toEqual(
      new Set([
        'send',
        'reject',
        'bounce',
        'complaint',
        'delivery',
        'open',
        'click',
        'renderingFailure',
        'deliveryDelay',
        'subscription',
      ]),
    );
  });

  it('routes SES events of this configuration set to the engagement queue, with a DLQ for failed deliveries', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: 'default',
      EventPattern: { source: ['aws.ses'], detail: { mail: { tags: { 'ses:configuration-set': ['leadloop-dev'] } } } },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalIdOf(stack.engagement.queue), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf(stack.engagement.deadLetterQueue), 'Arn'] } },
        }),
      ],
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalIdOf(stack.engagement.queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Principal: { Service: 'events.amazonaws.com' },
            Condition: {
              ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalIdOf(stack.engagement.rule), 'Arn'] } },
            },
          }),
        ]),
      },
    });
  });

  it('queues on encrypted SQS with a redrive to the DLQ and a visibility timeout of six function timeouts', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 60,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOf(stack.engagement.deadLetterQueue), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
  });

  it('feeds ses-engagement from the queue with partial batch failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(stack.engagement.queue), 'Arn'] },
      FunctionName: { Ref: logicalIdOf(stack.engagement.engagementFunction) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
    });
  });

  it('raises an alarm as soon as the dead-letter queue holds a message', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(stack.engagement.deadLetterQueue), 'QueueName'] } },
      ],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    template.hasOutput('ConfigurationSetName', { Value: 'leadloop-dev' });
  });
});

describe('The table stream (keys only)', () => {
  it('every stream mapping filters on what a KEYS_ONLY record carries: the event name and the keys', () => {
    const table = logicalIdOf(stack.leadStore.table);
    const mappings = Object.values(
      template.findResources('AWS::Lambda::EventSourceMapping', {
        Properties: { EventSourceArn: { 'Fn::GetAtt': [table, 'StreamArn'] } },
      }),
    );
    expect(mappings.length).toBeGreaterThanOrEqual(3);
    for (const mapping of mappings) {
      const filters = mapping['Properties']['FilterCriteria']['Filters'] as { Pattern: string }[];
      expect(filters.length).toBeGreaterThan(0);
      for (const f of filters) {
        const pattern = JSON.parse(f.Pattern) as { dynamodb?: Record<string, unknown> };
        expect(Object.keys(pattern).sort()).toEqual(['dynamodb', 'eventName']);
        expect(Object.keys(pattern.dynamodb ?? {})).toEqual(['Keys']);
      }
    }
    template.hasResourceProperties('AWS::DynamoDB::Table', { StreamSpecification: { StreamViewType: 'KEYS_ONLY' } });
  });
});
