import { App, CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { Template } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { LeadloopStack } from '../../lib/leadloop-stack.js';

/** The feature flags and context of cdk.json, so in-process synths behave like `cdk synth`. */
const CdkJson = z.object({ context: z.record(z.string(), z.unknown()).default({}) });
export const cdkJsonContext = CdkJson.parse(
  JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')),
).context;

/**
 * An app with cdk.json's context plus `context`, skipping esbuild bundling (tests assert on templates, not code).
 * CDK's built-in CloudFormation validation (about 15 s to start) runs only where a test asks for it (test/infra/nag).
 */
export function testApp(context: Record<string, unknown> = {}, { builtinValidation = false } = {}): App {
  return new App({
    context: { ...cdkJsonContext, 'aws:cdk:bundling-stacks': [], ...context },
    builtinCloudFormationValidation: builtinValidation,
  });
}

/** The Leadloop stack synthesized in-process, with its template. */
export function synthLeadloop(context: Record<string, unknown> = {}): {
  app: App;
  stack: LeadloopStack;
  template: Template;
} {
  const app = testApp(context);
  const stack = new LeadloopStack(app, 'Leadloop-test');
  return { app, stack, template: Template.fromStack(stack) };
}

/** The logical id of a construct's CloudFormation resource (its default child, or itself). */
export function logicalIdOf(construct: IConstruct): string {
  const resource = construct instanceof CfnElement ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnElement)) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  const id: unknown = Stack.of(resource).resolve(resource.logicalId);
  if (typeof id !== 'string') throw new Error(`${construct.node.path}: unresolvable logical id`);
  return id;
}
