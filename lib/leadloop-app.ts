import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { defaultModel, parseModel } from '../lambdas/domain/scoring/index.js';
import { readConfig } from './leadloop-config.js';
import { LeadloopStack, stackNameFor } from './leadloop-stack.js';

/**
 * The CDK app: the stack of the configured stage (`Leadloop-dev` or `Leadloop-prod`), checked by cdk-nag's AWS
 * Solutions pack as a validation plugin, so that any unacknowledged finding fails the synth. Acknowledgements live
 * next to the resources they concern (`Validations.of(construct).acknowledge`), each with its reason.
 */
export function createLeadloopApp(props: AppProps = {}): { app: App; stack: LeadloopStack } {
  // The scoring model the Lambdas bundle is data: a bad one fails here, at synth, naming the offending rule and field,
  // rather than in the first Lambda that loads it. (The nurture plan is checked by NurtureWorkflows, which builds on it.)
  parseModel(defaultModel);
  const app = new App(props);
  const config = readConfig(app.node);
  const stack = new LeadloopStack(app, stackNameFor(config.stage), { config });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
