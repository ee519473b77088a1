import { Aws, Duration, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  type IApiKey,
  AuthorizationType,
  EndpointType,
  JsonSchemaType,
  JsonSchemaVersion,
  LambdaIntegration,
  LogGroupLogDestination,
  type Method,
  type MethodOptions,
  MethodLoggingLevel,
  type Model,
  ResponseType,
  RestApi,
  type ThrottleSettings,
  UsagePlan,
} from 'aws-cdk-lib/aws-apigateway';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { grantLeadTableActions, grantLeadTableData, type TableAction } from './lead-store.js';
import { handlerEntry, LeadloopFunction, type LogLevel } from './leadloop-function.js';
import { FormRateLimit, type FormRateLimitProps } from './waf.js';

export interface CaptureApiProps {
  /** The lead table the handlers read and write. */
  readonly table: ITable;
  /** Origins allowed to post forms from a browser (CORS) and to be form `redirect` targets. */
  readonly allowedOrigins: readonly string[];
  /** @default 'v1' */
  readonly stageName?: string;
  /**
   * Throttling of the whole stage (every route, every caller).
   * @default { rateLimit: 50, burstLimit: 100 }
   */
  readonly throttle?: ThrottleSettings;
  /**
   * Throttling of `POST /forms/{formId}` (a method setting of the stage), below the stage's: a flood of form posts
   * leaves room for one-click unsubscribes, `/events` and the admin routes.
   * @default { rateLimit: 20, burstLimit: 40 }
   */
  readonly formThrottle?: ThrottleSettings;
  /**
   * Throttling of `POST /events` per API key (the usage plan).
   * @default { rateLimit: 20, burstLimit: 40 }
   */
  readonly eventsThrottle?: ThrottleSettings;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Retention of the function logs and the access log. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /**
   * A WAF web ACL with a per-IP rate-based rule on the form route (lib/waf.ts), at a fixed monthly cost.
   * @default - no web ACL; the stage throttle and the events usage plan are the only limits
   */
  readonly formRateLimit?: Omit<FormRateLimitProps, 'stage'>;
}

/**
 * What each public function does to the lead table, and so all it may do (least privilege): key lookups, conditional
 * puts and updates, and single-item deletes of what the call itself just wrote (an event whose lead turned out to be
 * erased, the lead a concurrent first submission lost: appends are a put then a read, not a transaction, which bills
 * every item twice). None of them can batch-write, nor query or scan.
 */
export const PUBLIC_TABLE_ACTIONS = {
  /** Identity, lead, suppression lookups; the lead and its first event; the confirmation mail's rate limit. */
  form: [
    'dynamodb:GetItem',
    'dynamodb:ConditionCheckItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
  ],
  /** Identity, lead, suppression lookups; new leads and their events. */
  events: ['dynamodb:GetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
  /** The lead the token names; its `email_unsubscribed` event. */
  unsubscribe: ['dynamodb:GetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
  /** The lead the token names; its `consent_confirmed` event. */
  confirm: ['dynamodb:GetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
} as const satisfies Record<string, readonly TableAction[]>;

/** `error`/`message` bodies in the shape of the HTTP contract (DESIGN §8) for errors API Gateway answers itself. */
const errorBody = (error: string, message: string) => ({
  'application/json': `{"error":"${error}","message":${message}}`,
});

/**
 * The HTTP API of DESIGN §8 on an API Gateway REST API (Lambda proxy integrations):
 *
 * | route | auth |
 * |---|---|
 * | `POST /forms/{formId}` | public; CORS preflight for the allowed origins only |
 * | `POST /events` | API Gateway API key (`x-api-key`) through a usage plan |
 * | `GET /leads`, `GET`/`DELETE /leads/{leadId}`, `GET /leads/{leadId}/export`, `GET /leads/{leadId}/erasure` | IAM (SigV4) |
 * | `GET`/`POST /unsubscribe?token=` | public (the token is signed) |
 * | `GET`/`POST /confirm?token=` | public (the token is signed) |
 * | `GET /sending`, `POST /sending/resume` | IAM (SigV4) |
 *
 * The stage is throttled (optionally also by a WAF per-IP rate limit on the form route, `formRateLimit`), access-logged
 * as JSON, traced, and logs execution errors. Requests are validated where it is cheap (required parameters, the shape
 * of an events batch); API Gateway's own errors answer in the contract's JSON shape.
 */
export class CaptureApi extends Construct {
  readonly api: RestApi;
  /**
   * The stage's base URL (ending in `/`) built from the API's id and the stage's name, not from the stage resource:
   * what the API's own functions may be given (the stage depends on their methods, so `url` would be a cycle).
   */
  readonly selfUrl: string;
  /** The stage URL, ending in `/`. */
  readonly url: string;
  /** The API key for `POST /events`; its value is generated by API Gateway (`aws apigateway get-api-key --include-value`). */
  readonly eventsApiKey: IApiKey;
  readonly eventsUsagePlan: UsagePlan;
  readonly formFunction: LeadloopFunction;
  readonly eventsFunction: LeadloopFunction;
  readonly adminFunction: LeadloopFunction;
  readonly unsubscribeFunction: LeadloopFunction;
  /** `GET`/`POST /confirm?token=`: confirmed opt-in. */
  readonly confirmFunction: LeadloopFunction;
  /** `GET /sending`, `POST /sending/resume`: the reputation brake. */
  readonly sendingFunction: LeadloopFunction;
  readonly accessLogGroup: LogGroup;
  /** The WAF web ACL of the stage, when `formRateLimit` asked for one. */
  readonly formRateLimit?: FormRateLimit;

  constructor(scope: Construct, id: string, props: CaptureApiProps) {
    super(scope, id);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const tableFunction = (
      fnId: string,
      handler: string,
      description: string,
      environment: Record<string, string> = {},
      actions?: readonly TableAction[],
    ) => {
      const f = new LeadloopFunction(this, fnId, {
        entry: handlerEntry(handler),
        description,
        logLevel: props.logLevel,
        logRetention,
        environment: { TABLE_NAME: props.table.tableName, ...environment },
      });
      if (actions) grantLeadTableActions(props.table, f, actions);
      else grantLeadTableData(props.table, f, 'readWrite');
      return f;
    };
    this.formFunction = tableFunction(
      'FormFunction',
      'capture-form',
      'POST /forms/{formId}: landing-page forms',
      { ALLOWED_ORIGINS: props.allowedOrigins.join(',') },
      PUBLIC_TABLE_ACTIONS.form,
    );
    this.eventsFunction = tableFunction(
      'EventsFunction',
      'capture-events',
      'POST /events: web and product events',
      {},
      PUBLIC_TABLE_ACTIONS.events,
    );
    this.adminFunction = tableFunction(
      'AdminFunction',
      'leads-admin',
      'Admin routes under /leads: read, export, erase',
    );
    this.unsubscribeFunction = tableFunction(
      'UnsubscribeFunction',
      'unsubscribe',
      'GET/POST /unsubscribe',
      {},
      PUBLIC_TABLE_ACTIONS.unsubscribe,
    );
    this.confirmFunction = tableFunction(
      'ConfirmFunction',
      'confirm',
      'GET/POST /confirm: confirmed opt-in',
      {},
      PUBLIC_TABLE_ACTIONS.confirm,
    );
    this.sendingFunction = tableFunction(
      'SendingFunction',
      'sending-admin',
      'Admin routes under /sending: the reputation brake (status, resume)',
    );

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', { retention: logRetention });
    const stageThrottle = props.throttle ?? {};
    const formThrottle = props.formThrottle ?? {};
    this.api = new RestApi(this, 'RestApi', {
      description: 'Leadloop capture and admin API',
      endpointTypes: [EndpointType.REGIONAL],
      cloudWatchRole: true,
      deployOptions: {
        stageName: props.stageName ?? 'v1',
        throttlingRateLimit: stageThrottle.rateLimit ?? 50,
        throttlingBurstLimit: stageThrottle.burstLimit ?? 100,
        methodOptions: {
          '/forms/{formId}/POST': {
            throttlingRateLimit: formThrottle.rateLimit ?? 20,
            throttlingBurstLimit: formThrottle.burstLimit ?? 40,
          },
        },
        accessLogDestination: new LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
      },
    });
    this.selfUrl = `https://${this.api.restApiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${props.stageName ?? 'v1'}/`;
    this.url = this.api.url;
    this.addErrorResponses();

    const validator = this.api.addRequestValidator('Validator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const form = new LambdaIntegration(this.formFunction, { allowTestInvoke: false });
    const events = new LambdaIntegration(this.eventsFunction, { allowTestInvoke: false });
    const admin = new LambdaIntegration(this.adminFunction, { allowTestInvoke: false });
    const unsubscribe = new LambdaIntegration(this.unsubscribeFunction, { allowTestInvoke: false });
    const sendingAdmin = new LambdaIntegration(this.sendingFunction, { allowTestInvoke: false });
    const confirm = new LambdaIntegration(this.confirmFunction, { allowTestInvoke: false });

    // POST /forms/{formId} — public, browser-facing.
    const formResource = this.api.root.addResource('forms').addResource('{formId}', {
      defaultCorsPreflightOptions: {
        allowOrigins: [...props.allowedOrigins],
        allowMethods: ['POST'],
        allowHeaders: ['Content-Type', 'Idempotency-Key'],
        maxAge: Duration.hours(1),
      },
    });
    const formPost = formResource.addMethod('POST', form, {
      authorizationType: AuthorizationType.NONE,
      requestValidator: validator,
      requestParameters: { 'method.request.path.formId': true },
    });
    acknowledgePublicMethod(formPost, 'Landing-page forms are posted by anonymous visitors; the stage is throttled.');

    // POST /events — site backends, with an API key.
    const eventsPost = this.api.root.addResource('events').addMethod('POST', events, {
      apiKeyRequired: true,
      requestValidator: validator,
      requestModels: { 'application/json': this.eventsBatchModel() },
    });
    acknowledgePublicMethod(
      eventsPost,
      'Authenticated by an API Gateway API key (x-api-key) bound to a throttled usage plan.',
    );

    // Admin routes — IAM (SigV4).
    const leads = this.api.root.addResource('leads');
    const lead = leads.addResource('{leadId}');
    const iam = { authorizationType: AuthorizationType.IAM, requestValidator: validator };
    const leadId = { 'method.request.path.leadId': true };
    for (const method of [
      leads.addMethod('GET', admin, { ...iam, requestParameters: { 'method.request.querystring.email': false } }),
      lead.addMethod('GET', admin, { ...iam, requestParameters: leadId }),
      lead.addMethod('DELETE', admin, { ...iam, requestParameters: leadId }),
      lead.addResource('export').addMethod('GET', admin, {
        ...iam,
        requestParameters: { ...leadId, 'method.request.querystring.cursor': false },
      }),
      lead.addResource('erasure').addMethod('GET', admin, { ...iam, requestParameters: leadId }),
      ...this.sendingRoutes(sendingAdmin, iam),
    ]) {
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason: 'Operators call the admin routes with IAM (SigV4) credentials; there are no end users to pool.',
      });
    }

    // GET/POST /unsubscribe?token= — mail clients (RFC 8058 one-click) and recipients' browsers.
    const unsubscribeResource = this.api.root.addResource('unsubscribe');
    for (const verb of ['GET', 'POST']) {
      const method = unsubscribeResource.addMethod(verb, unsubscribe, {
        authorizationType: AuthorizationType.NONE,
        requestValidator: validator,
        requestParameters: { 'method.request.querystring.token': true },
      });
      acknowledgePublicMethod(
        method,
        'Unsubscribe links are followed by mail recipients and clients; the signed token authorizes.',
      );
    }

    // GET/POST /confirm?token= — the link of the confirmation mail (confirmed opt-in).
    const confirmResource = this.api.root.addResource('confirm');
    for (const verb of ['GET', 'POST']) {
      const method = confirmResource.addMethod(verb, confirm, {
        authorizationType: AuthorizationType.NONE,
        requestValidator: validator,
        requestParameters: { 'method.request.querystring.token': true },
      });
      acknowledgePublicMethod(
        method,
        'Confirmation links are followed by mail recipients; the signed token authorizes.',
      );
    }

    this.eventsApiKey = this.api.addApiKey('EventsApiKey', {
      description: 'Key for POST /events (site and product backends, sales feedback)',
    });
    const eventsThrottle = props.eventsThrottle ?? {};
    this.eventsUsagePlan = this.api.addUsagePlan('EventsUsagePlan', {
      description: 'Throttle for POST /events per API key',
      throttle: { rateLimit: eventsThrottle.rateLimit ?? 20, burstLimit: eventsThrottle.burstLimit ?? 40 },
      apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
    });
    this.eventsUsagePlan.addApiKey(this.eventsApiKey);

    if (props.formRateLimit) {
      this.formRateLimit = new FormRateLimit(this, 'FormRateLimit', {
        ...props.formRateLimit,
        stage: this.api.deploymentStage,
      });
    } else {
      Validations.of(this.api.deploymentStage).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason: 'No WAF web ACL by default (fixed monthly cost); the stage and the events usage plan are throttled.',
      });
    }
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "API Gateway's account-wide logging role; this managed policy is the documented way to let it write logs.",
      });
    }
  }

  /** `GET /sending` and `POST /sending/resume`. */
  private sendingRoutes(integration: LambdaIntegration, options: MethodOptions): Method[] {
    const sending = this.api.root.addResource('sending');
    return [
      sending.addMethod('GET', integration, options),
      sending.addResource('resume').addMethod('POST', integration, options),
    ];
  }

  /** Lets a principal (an operator role, a support tool) call the admin routes under `/leads` and `/sending`. */
  grantAdminAccess(grantee: IGrantable): Grant {
    const stage = this.api.deploymentStage.stageName;
    return Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [
        this.api.arnForExecuteApi('*', '/leads', stage),
        this.api.arnForExecuteApi('*', '/leads/*', stage),
        this.api.arnForExecuteApi('*', '/sending', stage),
        this.api.arnForExecuteApi('*', '/sending/*', stage),
      ],
    });
  }

  /** The cheap structural check of `POST /events`; the handler validates each event. */
  private eventsBatchModel(): Model {
    return this.api.addModel('EventsBatch', {
      contentType: 'application/json',
      description: 'POST /events body: 1 to 100 events',
      schema: {
        schema: JsonSchemaVersion.DRAFT4,
        title: 'EventsBatch',
        type: JsonSchemaType.OBJECT,
        required: ['events'],
        properties: {
          events: { type: JsonSchemaType.ARRAY, minItems: 1, maxItems: 100, items: { type: JsonSchemaType.OBJECT } },
        },
      },
    });
  }

  private addErrorResponses(): void {
    const responses: [string, ResponseType, string | undefined, Record<string, string>][] = [
      [
        'BadRequestBody',
        ResponseType.BAD_REQUEST_BODY,
        '400',
        errorBody('ValidationError', '$context.error.messageString'),
      ],
      [
        'BadRequestParameters',
        ResponseType.BAD_REQUEST_PARAMETERS,
        '400',
        errorBody('ValidationError', '$context.error.messageString'),
      ],
      ['InvalidApiKey', ResponseType.INVALID_API_KEY, '401', errorBody('Unauthorized', '"missing or invalid API key"')],
      ['Throttled', ResponseType.THROTTLED, '429', errorBody('TooManyRequests', '"too many requests"')],
      ['QuotaExceeded', ResponseType.QUOTA_EXCEEDED, '429', errorBody('TooManyRequests', '"quota exceeded"')],
      ['Default5xx', ResponseType.DEFAULT_5XX, undefined, errorBody('InternalError', '"internal error"')],
    ];
    for (const [id, type, statusCode, templates] of responses) {
      this.api.addGatewayResponse(id, { type, statusCode, templates });
    }
  }
}

/** Acknowledges the missing authorizer of a method that is public (or API-key protected) by design. */
function acknowledgePublicMethod(method: Method | Construct, reason: string): void {
  Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason }, { id: 'AwsSolutions-COG4', reason });
}
