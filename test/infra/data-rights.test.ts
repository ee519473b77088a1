import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDeployment } from '../../lib/local/deployment.js';
import { Template as LocalTemplate } from '../../lib/local/intrinsics.js';
import type { LeadloopStack } from '../../lib/leadloop-stack.js';
import { logicalIdOf, synthLeadloop } from './synth.js';

let stack: LeadloopStack;
let template: Template;
beforeAll(() => {
  ({ stack, template } = synthLeadloop());
});

const policiesOf = (fnRole: string) =>
  JSON.stringify(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: fnRole }] } }));

describe('DataRights', () => {
  it('feeds new and updated erasure records (keys only) to the erase worker, with partial failures and a DLQ', () => {
    const fn = logicalIdOf(stack.dataRights.eraseFunction);
    const [mapping] = Object.values(
      template.findResources('AWS::Lambda::EventSourceMapping', { Properties: { FunctionName: { Ref: fn } } }),
    );
    expect(mapping?.['Properties']).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(stack.leadStore.table), 'StreamArn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(stack.dataRights.deadLetterQueue), 'Arn'] } },
      },
    });
    const pattern: unknown = JSON.parse(mapping?.['Properties']['FilterCriteria']['Filters'][0]['Pattern']);
    expect(pattern).toEqual({ eventName: ['INSERT', 'MODIFY'], dynamodb: { Keys: { sk: { S: ['ERASURE'] } } } });
  });

  it('lets the erase worker delete items and stop nurture runs, but not start them', () => {
    const role = stack.dataRights.eraseFunction.role;
    if (!role) throw new Error('no role');
    const policies = policiesOf(logicalIdOf(role));
    for (const action of ['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'states:StopExecution']) {
      expect(policies).toContain(action);
    }
    expect(policies).not.toContain('states:StartExecution');
    const env =
      template.toJSON()['Resources'][logicalIdOf(stack.dataRights.eraseFunction)]['Properties']['Environment'][
        'Variables'
      ];
    expect(Object.keys(env)).toContain('NURTURE_STATE_MACHINES');
  });

  it('gives the suppression key (its ARN, read at run time) to the functions that hash addresses, and only to them', () => {
    const secret = logicalIdOf(stack.dataRights.suppressionKey);
    const given = new Set(['capture-form', 'capture-events', 'leads-admin']);
    for (const [name, fn] of Object.entries(stack.functions())) {
      const env = template.toJSON()['Resources'][logicalIdOf(fn)]['Properties']['Environment']['Variables'];
      const role = fn.role;
      if (!role) throw new Error(`${name} has no role`);
      const reads = policiesOf(logicalIdOf(role)).includes(`"Ref":"${secret}"`);
      if (given.has(name)) {
        expect(env['SUPPRESSION_KEY_SECRET_ARN'], name).toEqual({ Ref: secret });
        expect(reads, name).toBe(true);
      } else {
        expect(env['SUPPRESSION_KEY_SECRET_ARN'], name).toBeUndefined();
        expect(reads, name).toBe(false);
      }
    }
  });

  it('runs locally as deployed: the local runtime reads the erase worker, its stream mapping and the key from the template', () => {
    const deployment = readDeployment(LocalTemplate.parse(template.toJSON()), {
      region: 'us-east-1',
      apiUrl: 'http://x',
    });
    const fn = logicalIdOf(stack.dataRights.eraseFunction);
    expect(deployment.functions[fn]?.handler).toBe('lambdas/handlers/erase-lead.ts');
    const mapping = deployment.streamMappings.find((m) => m.functionLogicalId === fn);
    expect(mapping).toMatchObject({
      reportBatchItemFailures: true,
      filters: [{ eventName: ['INSERT', 'MODIFY'], dynamodb: { Keys: { sk: { S: ['ERASURE'] } } } }],
      onFailureQueue: logicalIdOf(stack.dataRights.deadLetterQueue),
    });
    expect(Object.keys(deployment.secrets)).toContain(logicalIdOf(stack.dataRights.suppressionKey));
  });
});
