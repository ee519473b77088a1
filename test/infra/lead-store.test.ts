import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TABLE } from '../../lambdas/adapters/table-definition.js';
import { LeadStore } from '../../lib/lead-store.js';
import { synthLeadloop, testApp } from './synth.js';

describe('LeadStore', () => {
  let template: Template;
  beforeAll(() => {
    ({ template } = synthLeadloop());
  });

  it('is the one table of the stack, keyed by pk/sk strings, on demand', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]),
    });
  });

  it('has the by-stage, review and pending indexes with the projections of the shared layout', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byStage',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: TABLE.byStageIndex.projection },
        },
        {
          IndexName: 'review',
          KeySchema: [
            { AttributeName: 'gsi2pk', KeyType: 'HASH' },
            { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: TABLE.reviewIndex.projection },
        },
        {
          IndexName: 'pending',
          KeySchema: [
            { AttributeName: 'gsi3pk', KeyType: 'HASH' },
            { AttributeName: 'gsi3sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: TABLE.pendingIndex.projection },
        },
      ],
    });
  });

  it('streams keys only, expires items by TTL, keeps point-in-time recovery, encrypts at rest', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      StreamSpecification: { StreamViewType: 'KEYS_ONLY' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('is retained, with deletion protection, by default', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
  });

  it('is destroyed with the stack, without deletion protection, when the context says destroyOnRemoval', () => {
    const { template: destroyed } = synthLeadloop({ destroyOnRemoval: 'true' });
    destroyed.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
    destroyed.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Delete' });
  });

  it('takes a removal policy as a prop', () => {
    const stack = new Stack(testApp(), 'StoreOnly');
    new LeadStore(stack, 'Store', { removalPolicy: RemovalPolicy.DESTROY });
    const tables = Template.fromStack(stack).findResources('AWS::DynamoDB::Table');
    expect(Object.values(tables).map((t) => t['DeletionPolicy'])).toEqual(['Delete']);
  });
});
