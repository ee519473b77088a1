import type { APIGatewayProxyEvent } from 'aws-lambda';

/**
 * An API Gateway (REST, proxy integration) event as the stage would send it, for calling an HTTP handler in-process:
 * the one builder tests and benchmarks share.
 */
export function apiEvent(req: {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** The route template, e.g. `/forms/{formId}` (default: the path). */
  resource?: string;
  pathParameters?: Record<string, string> | null;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | null;
  isBase64Encoded?: boolean;
  sourceIp?: string;
  userAgent?: string;
}): APIGatewayProxyEvent {
  const headers = { host: 'api.leadloop.test', ...req.headers };
  return {
    resource: req.resource ?? req.path,
    path: req.path,
    httpMethod: req.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: req.query ?? null,
    multiValueQueryStringParameters: req.query
      ? Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, [v]]))
      : null,
    pathParameters: req.pathParameters ?? null,
    stageVariables: null,
    body: req.body ?? null,
    isBase64Encoded: req.isBase64Encoded ?? false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: req.method,
      path: `/v1${req.path}`,
      stage: 'v1',
      requestId: 'test-request',
      requestTimeEpoch: Date.now(),
      resourceId: 'test',
      resourcePath: req.resource ?? req.path,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: req.sourceIp ?? '127.0.0.1',
        user: null,
        userAgent: req.userAgent ?? 'vitest',
        userArn: null,
      },
    },
  };
}
