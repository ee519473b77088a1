import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { CaptureApi, PUBLIC_TABLE_ACTIONS } from '../../lib/capture-api.js';
import { LeadStore, TABLE_READ_ACTIONS, TABLE_WRITE_ACTIONS } from '../../lib/lead-store.js';
import type { LeadloopFunction } from '../../lib/leadloop-function.js';
import type { LeadloopStack } from '../../lib/leadloop-stack.js';
import { logicalIdOf, synthLeadloop, testApp } from './synth.js';

const ORIGINS = ['https://www.example.com', 'https://landing.example.org'];

/** DESIGN §8: each route, who may call it, and the handler behind it. */
const ROUTES = {
  'POST /forms/{formId}': { auth: 'NONE', apiKey: false, handler: 'formFunction' },
  'POST /events': { auth: 'NONE', apiKey: true, handler: 'eventsFunction' },
  'GET /leads': { auth: 'AWS_IAM', apiKey: false, handler: 'adminFunction' },
  'GET /leads/{leadId}': { auth: 'AWS_IAM', apiKey: false, handler: 'adminFunction' },
  'DELETE /leads/{leadId}': { auth: 'AWS_IAM', apiKey: false, handler: 'adminFunction' },
  'GET /leads/{leadId}/export': { auth: 'AWS_IAM', apiKey: false, handler: 'adminFunction' },
  'GET /leads/{leadId}/erasure': { auth: 'AWS_IAM', apiKey: false, handler: 'adminFunction' },
  'GET /unsubscribe': { auth: 'NONE', apiKey: false, handler: 'unsubscribeFunction' },
  'POST /unsubscribe': { auth: 'NONE', apiKey: false, handler: 'unsubscribeFunction' },
  'GET /confirm': { auth: 'NONE', apiKey: false, handler: 'confirmFunction' },
  'POST /confirm': { auth: 'NONE', apiKey: false, handler: 'confirmFunction' },
  'GET /sending': { auth: 'AWS_IAM', apiKey: false, handler: 'sendingFunction' },
  'POST /sending/resume': { auth: 'AWS_IAM', apiKey: false, handler: 'sendingFunction' },
} as const;

describe('CaptureApi', () => {
  let stack: LeadloopStack;
  let template: Template;
  /** Method resource properties by `VERB /path`. */
  let methods: Map<string, Record<string, unknown>>;
  beforeAll(() => {
    ({ stack, template } = synthLeadloop({ allowedOrigins: ORIGINS.join(','), stage: 'prod' }));
    const resources = template.toJSON()['Resources'];
    methods = new Map(
      stack.captureApi.api.methods.map((m) => [
        `${m.httpMethod} ${m.resource.path}`,
        resources[logicalIdOf(m)]['Properties'],
      ]),
    );
  });

  it('serves exactly the routes of the contract, plus the CORS preflight of the form route', () => {
    expect([...methods.keys()].sort()).toEqual([...Object.keys(ROUTES), 'OPTIONS /forms/{formId}'].sort());
  });

  it.each(Object.entries(ROUTES))('%s: authorization and Lambda proxy integration', (route, expected) => {
    const method = methods.get(route);
    const fn = stack.captureApi[expected.handler];
    expect(method?.['ApiKeyRequired'] ?? false).toBe(expected.apiKey);
    expect(method).toMatchObject({
      AuthorizationType: expected.auth,
      Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' },
    });
    expect(JSON.stringify(method?.['Integration'])).toContain(logicalIdOf(fn));
  });

  it('validates what is cheap: required parameters and the shape of an events batch', () => {
    template.resourceCountIs('AWS::ApiGateway::RequestValidator', 1);
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestBody: true,
      ValidateRequestParameters: true,
    });
    for (const route of Object.keys(ROUTES)) expect(methods.get(route)).toHaveProperty('RequestValidatorId');
    expect(methods.get('GET /unsubscribe')?.['RequestParameters']).toEqual({
      'method.request.querystring.token': true,
    });
    expect(methods.get('POST /events')?.['RequestModels']).toEqual({
      'application/json': { Ref: expect.stringMatching(/EventsBatch/) },
    });
    template.hasResourceProperties('AWS::ApiGateway::Model', {
      ContentType: 'application/json',
      Schema: Match.objectLike({
        required: ['events'],
        properties: { events: Match.objectLike({ type: 'array', minItems: 1, maxItems: 100 }) },
      }),
    });
  });

  it('answers CORS preflights on the form route only, for the allowed origins only', () => {
    const preflights = [...methods.entries()].filter(([route]) => route.startsWith('OPTIONS'));
    expect(preflights.map(([route]) => route)).toEqual(['OPTIONS /forms/{formId}']);
    const preflight = JSON.stringify(preflights[0]?.[1]);
    for (const origin of ORIGINS) expect(preflight).toContain(origin);
    expect(preflight).not.toContain("'*'");
    expect(preflights[0]?.[1]).toMatchObject({
      AuthorizationType: 'NONE',
      Integration: {
        Type: 'MOCK',
        IntegrationResponses: [
          {
            ResponseParameters: {
              'method.response.header.Access-Control-Allow-Origin': `'${ORIGINS[0]}'`,
              'method.response.header.Access-Control-Allow-Methods': "'POST'",
            },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^POST /forms'),
      Environment: { Variables: Match.objectLike({ ALLOWED_ORIGINS: ORIGINS.join(',') }) },
    });
  });

  it('throttles the stage, logs access as JSON and execution errors, traces', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      TracingEnabled: true,
      AccessLogSetting: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
        }),
      ]),
    });
  });

  it('gives POST /forms/{formId} its own throttle below the stage’s, so a form flood leaves the other routes room', () => {
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0]?.['Properties'] as {
      MethodSettings: {
        HttpMethod: string;
        ResourcePath: string;
        ThrottlingRateLimit: number;
        ThrottlingBurstLimit: number;
      }[];
    };
    const form = stage.MethodSettings.find((m) => m.HttpMethod === 'POST' && m.ResourcePath === '/~1forms~1{formId}');
    const all = stage.MethodSettings.find((m) => m.HttpMethod === '*' && m.ResourcePath === '/*');
    expect(form).toMatchObject({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 });
    expect(form?.ThrottlingRateLimit).toBeLessThan(all?.ThrottlingRateLimit ?? 0);
    expect(form?.ThrottlingBurstLimit).toBeLessThan(all?.ThrottlingBurstLimit ?? 0);
    expect(
      stage.MethodSettings.filter((m) => m.HttpMethod !== '*').map((m) => `${m.HttpMethod} ${m.ResourcePath}`),
    ).toEqual(['POST /~1forms~1{formId}']);
  });

  it('issues an API key for /events through a throttled usage plan on the stage', () => {
    template.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      ApiStages: [{ ApiId: { Ref: logicalIdOf(stack.captureApi.api) }, Stage: Match.anyValue() }],
      Throttle: { RateLimit: 20, BurstLimit: 40 },
    });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyType: 'API_KEY',
      KeyId: { Ref: logicalIdOf(stack.captureApi.eventsApiKey) },
      UsagePlanId: { Ref: logicalIdOf(stack.captureApi.eventsUsagePlan) },
    });
  });

  it("answers API Gateway's own errors in the contract's JSON shape (401 for a bad API key)", () => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'INVALID_API_KEY',
      StatusCode: '401',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"error":"Unauthorized"') },
    });
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'BAD_REQUEST_BODY',
      StatusCode: '400',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"error":"ValidationError"') },
    });
  });

  it('outputs the API URL', () => {
    template.hasOutput('ApiUrl', { Value: { 'Fn::Join': ['', Match.arrayWith(['https://'])] } });
    template.hasOutput('EventsApiKeyId', { Value: { Ref: logicalIdOf(stack.captureApi.eventsApiKey) } });
  });

  /** The DynamoDB statements of a function's policies. */
  const dynamoStatements = (fn: LeadloopFunction) => {
    const role = fn.role;
    if (!role) throw new Error(`${fn.node.path} has no role`);
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: logicalIdOf(role) }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p['Properties']['PolicyDocument']['Statement'] as { Action: string | string[]; Resource: unknown }[],
    );
    return statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')));
  };

  it.each([
    ['capture-form', 'formFunction', PUBLIC_TABLE_ACTIONS.form],
    ['capture-events', 'eventsFunction', PUBLIC_TABLE_ACTIONS.events],
    ['unsubscribe', 'unsubscribeFunction', PUBLIC_TABLE_ACTIONS.unsubscribe],
    ['confirm', 'confirmFunction', PUBLIC_TABLE_ACTIONS.confirm],
  ] as const)('gives the public %s function only the item actions it uses, on the table only', (_, name, expected) => {
    const dynamo = dynamoStatements(stack.captureApi[name]);
    const actions = dynamo.flatMap((s) => [s.Action].flat());
    expect(new Set(actions)).toEqual(new Set(expected));
    for (const forbidden of ['dynamodb:BatchWriteItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:DeleteTable']) {
      expect(actions).not.toContain(forbidden);
    }
    const resources = JSON.stringify(dynamo.map((s) => s.Resource));
    expect(resources).toContain(logicalIdOf(stack.leadStore.table));
    expect(resources).not.toContain('/index/');
    expect(resources).not.toContain('*');
  });

  it('gives the admin function item access to the lead table and its indexes, nothing wider', () => {
    const dynamo = dynamoStatements(stack.captureApi.adminFunction);
    const actions = dynamo.flatMap((s) => [s.Action].flat());
    expect(new Set(actions)).toEqual(new Set([...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS]));
    expect(actions).not.toContain('dynamodb:*');
    expect(actions).not.toContain('dynamodb:DeleteTable');
    expect(actions).not.toContain('dynamodb:Scan');
    const resources = JSON.stringify(dynamo.map((s) => s.Resource));
    expect(resources).toContain(logicalIdOf(stack.leadStore.table));
    expect(resources).toContain('/index/byStage');
    expect(resources).toContain('/index/review');
    expect(resources).not.toContain('*');
  });

  it('throttling comes from props; grantAdminAccess allows execute-api:Invoke on /leads and /sending only', () => {
    const small = new Stack(testApp(), 'ApiOnly');
    const api = new CaptureApi(small, 'Api', {
      table: new LeadStore(small, 'Store').table,
      allowedOrigins: ['https://www.example.com'],
      throttle: { rateLimit: 5, burstLimit: 7 },
    });
    const operator = new Role(small, 'Operator', { assumedBy: new AccountRootPrincipal() });
    api.grantAdminAccess(operator);
    const t = Template.fromStack(small);
    t.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      MethodSettings: Match.arrayWith([Match.objectLike({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7 })]),
    });
    const policy = JSON.stringify(
      t.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalIdOf(operator) }] } }),
    );
    expect(policy).toContain('execute-api:Invoke');
    expect(policy).toContain('/*/leads"');
    expect(policy).toContain('/*/leads/*"');
    expect(policy).toContain('/*/sending"');
    expect(policy).toContain('/*/sending/*"');
    expect(policy).not.toContain('/*/forms');
  });
});
