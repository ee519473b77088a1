import { App, Stack } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import aslValidator from 'asl-validator';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { NURTURE_TASKS, NurtureWorkflows, type NurtureTask } from '../nurture-workflows.js';
import { LOCAL_ACCOUNT_ID } from './lambda-context.js';

/**
 * The nurture state machines exactly as the stack defines them: an in-process CDK app holding `NurtureWorkflows`,
 * synthesized with bundling skipped, its template's definitions resolved (`Fn::Join`, `Ref`, `Fn::GetAtt` → local
 * ARNs) and validated with asl-validator. The local runner and the workflow tests execute these, never a copy.
 */

/** An ASL definition as JSON. */
export type AslDefinition = {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  Comment?: string;
};
export type AslState = { Type: string; Resource?: string; [field: string]: unknown };

export interface SynthesizedMachine {
  track: string;
  /** The state machine's logical id in the template. */
  logicalId: string;
  /** Its local ARN (`…:stateMachine:leadloop-nurture-<track>`). */
  arn: string;
  definition: AslDefinition;
}

export interface SynthesizedFunction {
  logicalId: string;
  /** The local ARN the definitions invoke (`…:function:<logicalId>`). */
  arn: string;
  task: NurtureTask;
  /** The handler module under lambdas/handlers. */
  handlerName: string;
}

export interface SynthesizedNurture {
  region: string;
  account: string;
  machines: Record<string, SynthesizedMachine>;
  /** By local function ARN. */
  functions: Record<string, SynthesizedFunction>;
  /** The synthesized CloudFormation template. */
  template: Record<string, unknown>;
}

/** The local ARN of a track's state machine: known before synthesis, so handlers can be configured first. */
export const localStateMachineArn = (track: string, region: string, account: string = LOCAL_ACCOUNT_ID): string =>
  `arn:aws:states:${region}:${account}:stateMachine:leadloop-nurture-${track}`;

const Template = z.object({
  Resources: z.record(
    z.string(),
    z.object({ Type: z.string(), Properties: z.record(z.string(), z.unknown()).optional() }),
  ),
});

/** Resolves the intrinsic functions CDK puts in definitions, with local values for pseudo-parameters and ARNs. */
function resolver(resources: z.infer<typeof Template>['Resources'], region: string, account: string) {
  const arnOf = (id: string): string => {
    const type = resources[id]?.Type;
    if (type === 'AWS::Lambda::Function') return `arn:aws:lambda:${region}:${account}:function:${id}`;
    if (!type) throw new Error(`unknown resource ${id} in a definition`);
    const service = type.split('::')[1]?.toLowerCase() ?? 'unknown';
    return `arn:aws:${service}:${region}:${account}:${id}`;
  };
  const resolve = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (typeof v !== 'object' || v === null) throw new Error(`cannot resolve ${JSON.stringify(v)}`);
    if ('Fn::Join' in v) {
      const [sep, parts] = z.tuple([z.string(), z.array(z.unknown())]).parse(v['Fn::Join']);
      return parts.map(resolve).join(sep);
    }
    if ('Ref' in v) {
      const ref = z.string().parse(v.Ref);
      const pseudo: Record<string, string> = {
        'AWS::Partition': 'aws',
        'AWS::Region': region,
        'AWS::AccountId': account,
        'AWS::URLSuffix': 'amazonaws.com',
      };
      return pseudo[ref] ?? ref;
    }
    if ('Fn::GetAtt' in v) {
      const [id, attr] = z.tuple([z.string(), z.string()]).parse(v['Fn::GetAtt']);
      if (attr !== 'Arn') throw new Error(`cannot resolve Fn::GetAtt ${id}.${attr}`);
      return arnOf(id);
    }
    throw new Error(`cannot resolve ${JSON.stringify(v).slice(0, 200)}`);
  };
  return resolve;
}

/** asl-validator's findings on a definition (empty when valid). It annotates what it checks, so it gets a copy. */
export function aslProblems(definition: AslDefinition): string[] {
  const result = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
  return result.isValid ? [] : result.errors.map((e) => e.message);
}

const AslDefinitionSchema = z
  .object({ StartAt: z.string(), States: z.record(z.string(), z.object({ Type: z.string() }).loose()) })
  .loose();

/** Synthesizes `NurtureWorkflows` in-process and returns its state machines (validated) and task functions. */
export function synthesizeNurture(opts: { region?: string; account?: string } = {}): SynthesizedNurture {
  const region = opts.region ?? 'us-east-1';
  const account = opts.account ?? LOCAL_ACCOUNT_ID;
  const outdir = mkdtempSync(join(tmpdir(), 'leadloop-nurture-synth-'));
  try {
    // Bundling skipped: the local runtime runs the handler modules themselves. CloudFormation's schema validation
    // is skipped too (seconds of WebAssembly at every start); the infra tests and `cdk synth` run it.
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'LeadloopLocalNurture', { env: { account, region } });
    const workflows = new NurtureWorkflows(stack, 'Nurture', {
      table: Table.fromTableName(stack, 'Table', 'leadloop-local'),
      configurationSetName: 'leadloop-local',
      senderEmail: 'leadloop@example.com',
      eventBus: EventBus.fromEventBusName(stack, 'Bus', 'default'),
      unsubscribeUrl: 'http://127.0.0.1:3000/unsubscribe',
      siteUrl: 'http://127.0.0.1:3000',
    });
    const logicalIdOf = (child: unknown): string => {
      if (child instanceof CfnFunction || child instanceof CfnStateMachine) return stack.getLogicalId(child);
      throw new Error('unexpected default child');
    };
    const functions: Record<string, SynthesizedFunction> = {};
    const isTask = (k: string): k is NurtureTask => Object.hasOwn(NURTURE_TASKS, k);
    for (const task of Object.keys(NURTURE_TASKS).filter(isTask)) {
      const logicalId = logicalIdOf(workflows.functions[task].node.defaultChild);
      const arn = `arn:aws:lambda:${region}:${account}:function:${logicalId}`;
      functions[arn] = { logicalId, arn, task, handlerName: NURTURE_TASKS[task] };
    }
    const template = Template.parse(app.synth().getStackByName(stack.stackName).template);
    const resolve = resolver(template.Resources, region, account);
    const machines: Record<string, SynthesizedMachine> = {};
    for (const [track, sm] of Object.entries(workflows.stateMachines)) {
      const logicalId = logicalIdOf(sm.node.defaultChild);
      const body = template.Resources[logicalId]?.Properties?.DefinitionString;
      const definition: AslDefinition = AslDefinitionSchema.parse(JSON.parse(resolve(body)));
      const problems = aslProblems(definition);
      if (problems.length > 0)
        throw new Error(`state machine of track "${track}" is invalid:\n  ${problems.join('\n  ')}`);
      machines[track] = { track, logicalId, arn: localStateMachineArn(track, region, account), definition };
    }
    return { region, account, machines, functions, template };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
