import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLeadloopApp } from '../../lib/leadloop-app.js';
import { LeadStore } from '../../lib/lead-store.js';
import { MODEL_LAB_STATES, ModelLab } from '../../lib/model-lab.js';
import { LeadloopStack } from '../../lib/leadloop-stack.js';
import { cdkJsonContext, logicalIdOf, testApp } from './synth.js';

const findings = (stack: Stack) =>
  new AwsSolutionsChecks()
    .validateScope(stack)
    .violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`));

/** The construct alone, with the lead table. */
function build() {
  const stack = new Stack(testApp(), 'ModelLabTest');
  const { table } = new LeadStore(stack, 'LeadStore');
  const lab = new ModelLab(stack, 'ModelLab', { table, shards: 8 });
  const template = Template.fromStack(stack);
  return { stack, table, lab, template };
}

/** The definition string with CloudFormation references flattened, as JSON. */
function definitionOf(template: Template): { States: Record<string, Record<string, unknown>> } {
  const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  const parts = machine?.Properties.DefinitionString['Fn::Join'][1] as unknown[];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'REF')).join(''));
}

describe('ModelLab (backtest at scale, behind -c modelLab=true)', () => {
  let built: ReturnType<typeof build>;
  /** The app as bin/app.ts builds it (with its cdk-nag plugin), with the flag on: synthesized once. */
  let withFlag: ReturnType<typeof createLeadloopApp>;
  beforeAll(() => {
    built = build();
    withFlag = createLeadloopApp({
      context: { ...cdkJsonContext, 'aws:cdk:bundling-stacks': [], stage: 'prod', modelLab: 'true' },
      builtinCloudFormationValidation: false,
    });
  }, 120_000);

  it('is not in the stack without the flag, and is with it', () => {
    expect(new LeadloopStack(testApp(), 'Off').node.tryFindChild('ModelLab')).toBeUndefined();
    expect(withFlag.stack.node.tryFindChild('ModelLab')).toBeInstanceOf(ModelLab);
    Template.fromStack(withFlag.stack).hasOutput('*', {
      Description: Match.stringLikeRegexp('Model lab: start an execution'),
    });
  });

  it('rejects a flag that is not a boolean', () => {
    expect(() => new LeadloopStack(testApp({ modelLab: 'yes please' }), 'Bad')).toThrow(
      /context "modelLab" must be true or false/,
    );
  });

  it('exports the table, shuffles the export with a Distributed Map over its JSONL manifest, backtests the shards, writes the report', () => {
    const states = definitionOf(built.template).States;
    expect(states[MODEL_LAB_STATES.exportTable]).toMatchObject({
      Type: 'Task',
      Resource: expect.stringMatching(/:states:::aws-sdk:dynamodb:exportTableToPointInTime$/),
      Parameters: { ExportFormat: 'DYNAMODB_JSON', S3Prefix: 'exports', 'ClientToken.$': '$$.Execution.Name' },
    });
    expect(states[MODEL_LAB_STATES.exportDone]).toMatchObject({
      Type: 'Choice',
      Default: MODEL_LAB_STATES.waitForExport,
    });
    const shuffle = states[MODEL_LAB_STATES.shuffle];
    expect(shuffle).toMatchObject({
      Type: 'Map',
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      ItemReader: {
        ReaderConfig: { InputType: 'JSONL' },
        Resource: expect.stringMatching(/:states:::s3:getObject$/),
        Parameters: { 'Key.$': '$.manifest' },
      },
      ItemBatcher: { MaxItemsPerBatch: 4 },
      Next: MODEL_LAB_STATES.backtestShards,
    });
    expect(states[MODEL_LAB_STATES.plan]).toMatchObject({
      Parameters: {
        'manifest.$':
          "States.Format('exports/AWSDynamoDB/{}/manifest-files.json', States.ArrayGetItem(States.StringSplit($.export.arn, '/'), 3))",
        'shardList.$': 'States.ArrayRange(0, 7, 1)',
        run: { shards: 8, 'runId.$': '$$.Execution.Name', 'options.$': '$$.Execution.Input' },
      },
    });
    expect(states[MODEL_LAB_STATES.backtestShards]).toMatchObject({
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' } },
      ItemSelector: { 'shard.$': '$$.Map.Item.Value', 'run.$': '$.run' },
      Next: MODEL_LAB_STATES.report,
    });
    expect(states[MODEL_LAB_STATES.report]).toMatchObject({
      End: true,
      Resource: expect.stringMatching(/:states:::lambda:invoke$/),
    });
  });

  it('keeps its data in an encrypted, private, TLS-only bucket that expires it', () => {
    built.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: 30, Status: 'Enabled' }] },
    });
    built.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('runs the three handlers with the bucket in their environment, and only exports what the table grants', () => {
    for (const fn of [built.lab.shuffleFunction, built.lab.shardFunction, built.lab.reportFunction]) {
      built.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ MODEL_LAB_BUCKET: { Ref: logicalIdOf(built.lab.bucket) } }) },
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
      });
      expect(fn.node.path).toMatch(/^ModelLabTest\/ModelLab\//);
    }
    const policies = JSON.stringify(built.template.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('dynamodb:ExportTableToPointInTime');
    expect(policies).toContain('dynamodb:DescribeExport');
    expect(policies).not.toMatch(/"dynamodb:Scan"|"dynamodb:\*"|"s3:\*"/);
  });

  it('logs and traces the state machine', () => {
    built.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
  });

  it('has no cdk-nag finding in the app with the flag on', () => {
    expect(() => withFlag.app.synth()).not.toThrow();
    expect(findings(withFlag.stack)).toEqual([]);
  });
});
