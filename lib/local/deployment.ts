import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import * as z from 'zod';
import { HANDLER_METADATA_KEY } from '../leadloop-function.js';
import { readConfig } from '../leadloop-config.js';
import { LeadloopStack, stackNameFor } from '../leadloop-stack.js';
import { TRACK_TAG } from '../nurture-workflows.js';
import { createResolver, Template, type LocalBindings, type Resolver, type TemplateResource } from './intrinsics.js';

/**
 * The local runtime's one source of truth (DESIGN §9): the Leadloop app synthesized in-process, exactly as `cdk
 * synth` does it but without bundling, and its template read into what the local targets need: each function's
 * handler module and environment, the API's routes and their authorization, the event source mappings, queues, rules,
 * state machines, schedules, secrets, the SES configuration sets and templates, and the table. Nothing here is
 * written a second time: every figure comes from the template.
 */

/** cdk.json's context (feature flags), so the local synth matches `cdk synth`. */
export function cdkJsonContext(): Record<string, unknown> {
  const parsed = z
    .object({ context: z.record(z.string(), z.unknown()).default({}) })
    .safeParse(JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')));
  return parsed.success ? parsed.data.context : {};
}

/** Synthesizes the Leadloop stack as `cdk synth -c …` would (without bundling) and returns its template. */
export function synthesizeTemplate(context: Record<string, unknown> = {}): { stackName: string; template: Template } {
  const app = new App({
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context },
    // CloudFormation's schema validation takes seconds of WebAssembly at every start; `cdk synth` and the infra tests
    // run it.
    builtinCloudFormationValidation: false,
    outdir: undefined,
  });
  const stackName = stackNameFor(readConfig(app.node).stage);
  const stack = new LeadloopStack(app, stackName);
  const template = Template.parse(app.synth({ validateOnSynthesis: false }).getStackByName(stack.stackName).template);
  return { stackName, template };
}

// ---------------------------------------------------------------------------------------------------------------
// What the local targets read

export interface LocalFunction {
  logicalId: string;
  /** The function's name (its logical id) and ARN, as references to it resolve. */
  name: string;
  arn: string;
  /** The handler module, relative to the project root (`lambdas/handlers/capture-form.ts`). */
  handler: string;
  /** The export the template's `Handler` names (`index.handler` → `handler`). */
  handlerExport: string;
  /** `Environment.Variables`, intrinsics resolved to local values. */
  environment: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
}

export type RouteAuth = 'public' | 'api-key' | 'iam';

export interface LocalApiRoute {
  /** The API Gateway resource, e.g. `/forms/{formId}`. */
  resource: string;
  method: string;
  /** The Lambda function of the proxy integration. */
  functionLogicalId: string;
  auth: RouteAuth;
  /** Query parameters the request validator requires. */
  requiredQuery: string[];
}

export interface LocalCors {
  resource: string;
  allowOrigins: string[];
  allowHeaders: string;
  allowMethods: string;
  maxAgeSeconds: number;
}

export interface LocalStreamMapping {
  logicalId: string;
  functionLogicalId: string;
  batchSize: number;
  retryAttempts: number;
  bisectOnError: boolean;
  reportBatchItemFailures: boolean;
  maxRecordAgeSeconds: number | undefined;
  /** The parsed filter patterns (a record passes if it matches any). */
  filters: unknown[];
  /** The queue failed records go to (its logical id). */
  onFailureQueue: string | undefined;
}

export interface LocalQueueMapping {
  logicalId: string;
  functionLogicalId: string;
  queueLogicalId: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
}

export interface LocalQueue {
  logicalId: string;
  name: string;
  arn: string;
  /** Its queue URL: what the template's `Ref` of it resolves to locally (the local SQS API takes it). */
  url: string;
  visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the dead-letter queue. */
  maxReceiveCount: number | undefined;
  deadLetterQueue: string | undefined;
}

export type RuleTarget =
  | { kind: 'sqs'; id: string; queueLogicalId: string; deadLetterQueue: string | undefined }
  | {
      kind: 'api-destination';
      id: string;
      /** The destination's logical id. */
      destination: string;
      endpoint: string;
      method: string;
      /** The connection's credential header: its name, and its value when the template holds it (not a secret). */
      authHeader: { name: string; value: string | undefined; secretReference: string | undefined } | undefined;
      maximumRetryAttempts: number;
      maximumEventAgeSeconds: number;
      deadLetterQueue: string | undefined;
    }
  | { kind: 'other'; id: string; arn: string };

export interface LocalRule {
  logicalId: string;
  eventBusName: string;
  pattern: unknown;
  enabled: boolean;
  targets: RuleTarget[];
}

export interface LocalStateMachine {
  logicalId: string;
  arn: string;
  /** The ASL definition, intrinsics resolved. */
  definition: Record<string, unknown>;
  /** The nurture track it runs, from its tag (`leadloop:nurture-track`). */
  track: string | undefined;
}

export interface LocalSchedule {
  logicalId: string;
  expression: string;
  timezone: string;
  enabled: boolean;
  stateMachineLogicalId: string;
  /** The target's input, before Scheduler fills in its context attributes (`<aws.scheduler.scheduled-time>`). */
  input: string;
}

export interface LocalSecret {
  logicalId: string;
  arn: string;
  name: string;
  generate:
    { template: string | undefined; key: string | undefined; length: number; excludePunctuation: boolean } | undefined;
  secretString: string | undefined;
}

export interface LocalConfigurationSet {
  name: string;
  /** Event buses sending events are published to, with the event types each destination takes (lower-case). */
  destinations: { eventBusName: string; eventTypes: string[] }[];
}

export interface LocalEmailTemplate {
  name: string;
  subject: string;
  html: string;
  text: string;
}

export interface LocalDeployment {
  region: string;
  account: string;
  template: Template;
  resolver: Resolver;
  table: { logicalId: string; name: string; properties: Record<string, unknown> };
  functions: Record<string, LocalFunction>;
  api: { stageName: string; routes: LocalApiRoute[]; cors: LocalCors[] };
  streamMappings: LocalStreamMapping[];
  queueMappings: LocalQueueMapping[];
  queues: Record<string, LocalQueue>;
  rules: LocalRule[];
  stateMachines: Record<string, LocalStateMachine>;
  schedules: LocalSchedule[];
  secrets: Record<string, LocalSecret>;
  configurationSets: Record<string, LocalConfigurationSet>;
  emailTemplates: LocalEmailTemplate[];
  /** A function by logical id, name or ARN. */
  functionFor(ref: string): LocalFunction | undefined;
}

const refId = z.object({ Ref: z.string() }).transform((r) => r.Ref);
const getAttId = z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.string()]) }).transform((g) => g['Fn::GetAtt'][0]);
const idOf = z.union([refId, getAttId]);

/** Reads the synthesized template into the local deployment. `bindings` names what the local runtime decides. */
export function readDeployment(template: Template, bindings: LocalBindings): LocalDeployment {
  const resolver = createResolver(template, bindings);
  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type) as [string, TemplateResource][];
  const props = (r: TemplateResource) => r.Properties ?? {};

  const tables = ofType('AWS::DynamoDB::Table');
  const [tableEntry] = tables;
  if (!tableEntry || tables.length !== 1) throw new Error('the local runtime expects exactly one DynamoDB table');
  const table = { logicalId: tableEntry[0], name: resolver.refOf(tableEntry[0]), properties: props(tableEntry[1]) };

  const functions: Record<string, LocalFunction> = {};
  for (const [id, r] of ofType('AWS::Lambda::Function')) {
    const handler = r.Metadata?.[HANDLER_METADATA_KEY];
    if (typeof handler !== 'string') throw new Error(`function ${id} has no ${HANDLER_METADATA_KEY} metadata`);
    const p = props(r);
    const variables = z
      .object({ Variables: z.record(z.string(), z.unknown()).default({}) })
      .default({ Variables: {} })
      .parse(p.Environment);
    const environment: Record<string, string> = {};
    for (const [k, v] of Object.entries(variables.Variables)) {
      environment[k] = resolver.string(v, `${id}.Environment.${k}`);
    }
    functions[id] = {
      logicalId: id,
      name: resolver.refOf(id),
      arn: resolver.arnOf(id),
      handler,
      handlerExport: z.string().default('index.handler').parse(p.Handler).split('.').pop() ?? 'handler',
      environment,
      timeoutMs: z.number().default(3).parse(p.Timeout) * 1000,
      memoryMb: z.number().default(128).parse(p.MemorySize),
    };
  }
  const functionFor = (ref: string): LocalFunction | undefined => {
    if (functions[ref]) return functions[ref];
    const id = resolver.logicalIdOf(ref) ?? resolver.logicalIdOf(ref.replace(/:(\$LATEST|\d+)$/, ''));
    return id ? functions[id] : Object.values(functions).find((f) => f.name === ref || f.arn === ref);
  };

  // API Gateway: resources form a tree from the root; methods hang off resources.
  const apiResources = new Map(ofType('AWS::ApiGateway::Resource').map(([id, r]) => [id, props(r)]));
  const pathOf = (resourceRef: unknown): string => {
    const parsed = idOf.safeParse(resourceRef);
    if (!parsed.success) throw new Error(`unexpected API resource reference ${JSON.stringify(resourceRef)}`);
    if (!apiResources.has(parsed.data)) return ''; // the RestApi's root resource
    const r = apiResources.get(parsed.data) ?? {};
    return `${pathOf(r.ParentId)}/${String(r.PathPart)}`;
  };
  const routes: LocalApiRoute[] = [];
  const cors: LocalCors[] = [];
  for (const [id, r] of ofType('AWS::ApiGateway::Method')) {
    const p = props(r);
    const resource = pathOf(p.ResourceId) || '/';
    const method = z.string().parse(p.HttpMethod);
    const integration = z
      .object({ Type: z.string(), Uri: z.unknown().optional(), IntegrationResponses: z.array(z.unknown()).optional() })
      .parse(p.Integration);
    if (integration.Type === 'MOCK' && method === 'OPTIONS') {
      const response = z
        .object({
          ResponseParameters: z.record(z.string(), z.unknown()),
          ResponseTemplates: z.record(z.string(), z.string()).default({}),
        })
        .parse(integration.IntegrationResponses?.[0]);
      // With several origins, API Gateway answers the first and a response template echoes the others.
      const echoed = Object.values(response.ResponseTemplates).flatMap((vtl) =>
        [...vtl.matchAll(/#if\(\$origin == "([^"]+)"\)/g)].map((m) => m[1] ?? ''),
      );
      const header = (name: string) => {
        const raw = response.ResponseParameters[`method.response.header.${name}`];
        return typeof raw === 'string' ? raw.replace(/^'|'$/g, '') : '';
      };
      cors.push({
        resource,
        allowOrigins: [...header('Access-Control-Allow-Origin').split(','), ...echoed].filter(Boolean),
        allowHeaders: header('Access-Control-Allow-Headers'),
        allowMethods: header('Access-Control-Allow-Methods'),
        maxAgeSeconds: Number(header('Access-Control-Max-Age') || '0'),
      });
      continue;
    }
    if (integration.Type !== 'AWS_PROXY') throw new Error(`method ${id}: only Lambda proxy integrations run locally`);
    const uri = resolver.string(integration.Uri, `${id}.Integration.Uri`);
    const fnArn = /functions\/(arn:[^/]+)\/invocations$/.exec(uri)?.[1] ?? '';
    const fn = functionFor(fnArn);
    if (!fn) throw new Error(`method ${id} integrates with an unknown function ${fnArn}`);
    const parameters = z.record(z.string(), z.boolean()).default({}).parse(p.RequestParameters);
    const authorization = z.string().default('NONE').parse(p.AuthorizationType);
    routes.push({
      resource,
      method,
      functionLogicalId: fn.logicalId,
      auth: authorization === 'AWS_IAM' ? 'iam' : p.ApiKeyRequired === true ? 'api-key' : 'public',
      requiredQuery: Object.entries(parameters)
        .filter(([k, required]) => required && k.startsWith('method.request.querystring.'))
        .map(([k]) => k.slice('method.request.querystring.'.length)),
    });
  }
  const stage = ofType('AWS::ApiGateway::Stage')[0];
  const stageName = stage ? z.string().parse(props(stage[1]).StageName) : 'local';

  const queues: Record<string, LocalQueue> = {};
  for (const [id, r] of ofType('AWS::SQS::Queue')) {
    const p = props(r);
    const redrive = z
      .object({ deadLetterTargetArn: z.unknown(), maxReceiveCount: z.number() })
      .optional()
      .parse(p.RedrivePolicy);
    queues[id] = {
      logicalId: id,
      name: id,
      arn: resolver.arnOf(id),
      url: resolver.refOf(id),
      visibilityTimeoutSeconds: z.number().default(30).parse(p.VisibilityTimeout),
      maxReceiveCount: redrive?.maxReceiveCount,
      deadLetterQueue: redrive ? idOf.parse(redrive.deadLetterTargetArn) : undefined,
    };
  }

  const streamMappings: LocalStreamMapping[] = [];
  const queueMappings: LocalQueueMapping[] = [];
  for (const [id, r] of ofType('AWS::Lambda::EventSourceMapping')) {
    const p = props(r);
    const fn = functionFor(resolver.string(p.FunctionName, `${id}.FunctionName`));
    if (!fn) throw new Error(`event source mapping ${id} names an unknown function`);
    const source = z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.string()]) }).parse(p.EventSourceArn)['Fn::GetAtt'];
    const responseTypes = z.array(z.string()).default([]).parse(p.FunctionResponseTypes);
    const reportBatchItemFailures = responseTypes.includes('ReportBatchItemFailures');
    if (source[1] === 'StreamArn') {
      const filters = z
        .object({ Filters: z.array(z.object({ Pattern: z.string() })) })
        .optional()
        .parse(p.FilterCriteria);
      const onFailure = z
        .object({ OnFailure: z.object({ Destination: z.unknown() }) })
        .optional()
        .parse(p.DestinationConfig);
      streamMappings.push({
        logicalId: id,
        functionLogicalId: fn.logicalId,
        batchSize: z.number().default(100).parse(p.BatchSize),
        retryAttempts: z.number().default(-1).parse(p.MaximumRetryAttempts),
        bisectOnError: p.BisectBatchOnFunctionError === true,
        reportBatchItemFailures,
        maxRecordAgeSeconds: z.number().optional().parse(p.MaximumRecordAgeInSeconds),
        filters: (filters?.Filters ?? []).map((f) => JSON.parse(f.Pattern) as unknown),
        onFailureQueue: onFailure ? idOf.parse(onFailure.OnFailure.Destination) : undefined,
      });
    } else if (template.Resources[source[0]]?.Type === 'AWS::SQS::Queue') {
      queueMappings.push({
        logicalId: id,
        functionLogicalId: fn.logicalId,
        queueLogicalId: source[0],
        batchSize: z.number().default(10).parse(p.BatchSize),
        reportBatchItemFailures,
      });
    } else {
      throw new Error(`event source mapping ${id}: unsupported source ${source.join('.')}`);
    }
  }

  const rules: LocalRule[] = [];
  for (const [id, r] of ofType('AWS::Events::Rule')) {
    const p = props(r);
    if (p.EventPattern === undefined) continue; // scheduled rules: none in this stack (Scheduler is used)
    const targets = z
      .array(
        z.object({
          Id: z.string(),
          Arn: z.unknown(),
          DeadLetterConfig: z.object({ Arn: z.unknown() }).optional(),
          RetryPolicy: z
            .object({ MaximumRetryAttempts: z.number().optional(), MaximumEventAgeInSeconds: z.number().optional() })
            .optional(),
        }),
      )
      .default([])
      .parse(p.Targets)
      .map((t): RuleTarget => {
        const target = idOf.safeParse(t.Arn);
        const deadLetterQueue = t.DeadLetterConfig ? idOf.parse(t.DeadLetterConfig.Arn) : undefined;
        const type = target.success ? template.Resources[target.data]?.Type : undefined;
        if (target.success && type === 'AWS::SQS::Queue') {
          return { kind: 'sqs', id: t.Id, queueLogicalId: target.data, deadLetterQueue };
        }
        if (target.success && type === 'AWS::Events::ApiDestination') {
          const dest = z
            .object({ InvocationEndpoint: z.string(), HttpMethod: z.string(), ConnectionArn: z.unknown() })
            .parse(template.Resources[target.data]?.Properties);
          const connection = template.Resources[idOf.parse(dest.ConnectionArn)];
          const apiKey = z
            .object({ ApiKeyAuthParameters: z.object({ ApiKeyName: z.string(), ApiKeyValue: z.string() }).optional() })
            .optional()
            .parse(connection?.Properties?.AuthParameters)?.ApiKeyAuthParameters;
          const dynamic = apiKey ? /^\{\{resolve:secretsmanager:([^:}]+)/.exec(apiKey.ApiKeyValue)?.[1] : undefined;
          return {
            kind: 'api-destination',
            id: t.Id,
            destination: target.data,
            endpoint: dest.InvocationEndpoint,
            method: dest.HttpMethod,
            authHeader: apiKey && {
              name: apiKey.ApiKeyName,
              value: dynamic ? undefined : apiKey.ApiKeyValue,
              secretReference: dynamic,
            },
            // EventBridge's defaults: 185 retries, 24 hours.
            maximumRetryAttempts: t.RetryPolicy?.MaximumRetryAttempts ?? 185,
            maximumEventAgeSeconds: t.RetryPolicy?.MaximumEventAgeInSeconds ?? 86_400,
            deadLetterQueue,
          };
        }
        return { kind: 'other', id: t.Id, arn: resolver.string(t.Arn, `${id}.Targets`) };
      });
    rules.push({
      logicalId: id,
      eventBusName: p.EventBusName === undefined ? 'default' : resolver.string(p.EventBusName, `${id}.EventBusName`),
      pattern: resolver.resolve(p.EventPattern, `${id}.EventPattern`),
      enabled: p.State !== 'DISABLED',
      targets,
    });
  }

  const stateMachines: Record<string, LocalStateMachine> = {};
  for (const [id, r] of ofType('AWS::StepFunctions::StateMachine')) {
    const p = props(r);
    const definition = z
      .record(z.string(), z.unknown())
      .parse(JSON.parse(resolver.string(p.DefinitionString, `${id}.DefinitionString`)));
    const tags = z
      .array(z.object({ Key: z.string(), Value: z.string() }))
      .default([])
      .parse(p.Tags);
    stateMachines[id] = {
      logicalId: id,
      arn: resolver.arnOf(id),
      definition,
      track: tags.find((t) => t.Key === TRACK_TAG)?.Value,
    };
  }

  const schedules: LocalSchedule[] = [];
  for (const [id, r] of ofType('AWS::Scheduler::Schedule')) {
    const p = props(r);
    const target = z.object({ Arn: z.unknown(), Input: z.string().default('{}') }).parse(p.Target);
    const machine = idOf.parse(target.Arn);
    if (template.Resources[machine]?.Type !== 'AWS::StepFunctions::StateMachine') {
      throw new Error(`schedule ${id}: only state machine targets run locally`);
    }
    schedules.push({
      logicalId: id,
      expression: z.string().parse(p.ScheduleExpression),
      timezone: z.string().default('UTC').parse(p.ScheduleExpressionTimezone),
      enabled: p.State !== 'DISABLED',
      stateMachineLogicalId: machine,
      input: target.Input,
    });
  }

  const secrets: Record<string, LocalSecret> = {};
  for (const [id, r] of ofType('AWS::SecretsManager::Secret')) {
    const p = props(r);
    const generate = z
      .object({
        SecretStringTemplate: z.string().optional(),
        GenerateStringKey: z.string().optional(),
        PasswordLength: z.number().default(32),
        ExcludePunctuation: z.boolean().default(false),
      })
      .optional()
      .parse(p.GenerateSecretString);
    secrets[id] = {
      logicalId: id,
      arn: resolver.arnOf(id),
      name: typeof p.Name === 'string' ? p.Name : id,
      generate: generate && {
        template: generate.SecretStringTemplate,
        key: generate.GenerateStringKey,
        length: generate.PasswordLength,
        excludePunctuation: generate.ExcludePunctuation,
      },
      secretString: typeof p.SecretString === 'string' ? p.SecretString : undefined,
    };
  }

  const configurationSets: Record<string, LocalConfigurationSet> = {};
  for (const [id] of ofType('AWS::SES::ConfigurationSet')) {
    const name = resolver.refOf(id);
    configurationSets[name] = { name, destinations: [] };
  }
  for (const [id, r] of ofType('AWS::SES::ConfigurationSetEventDestination')) {
    const p = props(r);
    const setName = resolver.string(p.ConfigurationSetName, `${id}.ConfigurationSetName`);
    const destination = z
      .object({
        Enabled: z.boolean().default(true),
        MatchingEventTypes: z.array(z.string()),
        EventBridgeDestination: z.object({ EventBusArn: z.unknown() }).optional(),
      })
      .parse(p.EventDestination);
    const set = configurationSets[setName];
    if (!set || !destination.Enabled || !destination.EventBridgeDestination) continue;
    const busArn = resolver.string(destination.EventBridgeDestination.EventBusArn, `${id}.EventBusArn`);
    set.destinations.push({
      eventBusName: busArn.slice(busArn.lastIndexOf('/') + 1),
      eventTypes: destination.MatchingEventTypes.map((t) => t.toLowerCase()),
    });
  }

  const emailTemplates: LocalEmailTemplate[] = ofType('AWS::SES::Template').map(([id, r]) => {
    const t = z
      .object({
        TemplateName: z.string(),
        SubjectPart: z.string(),
        HtmlPart: z.string().default(''),
        TextPart: z.string().default(''),
      })
      .parse(resolver.resolve(props(r).Template, `${id}.Template`));
    return { name: t.TemplateName, subject: t.SubjectPart, html: t.HtmlPart, text: t.TextPart };
  });

  return {
    region: bindings.region,
    account: bindings.account ?? '000000000000',
    template,
    resolver,
    table,
    functions,
    api: { stageName, routes, cors },
    streamMappings,
    queueMappings,
    queues,
    rules,
    stateMachines,
    schedules,
    secrets,
    configurationSets,
    emailTemplates,
    functionFor,
  };
}
