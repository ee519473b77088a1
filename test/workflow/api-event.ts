import type { APIGatewayProxyEvent } from 'aws-lambda';

/** An API Gateway (REST, proxy) event as the stage would send it, for calling an HTTP handler in-process. */
export function apiEvent(req: {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}): APIGatewayProxyEvent {
  const headers = { host: 'api.leadloop.test', ...req.headers };
  return {
    resource: req.path,
    path: req.path,
    httpMethod: req.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: req.query ?? null,
    multiValueQueryStringParameters: req.query
      ? Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, [v]]))
      : null,
    pathParameters: null,
    stageVariables: null,
    body: req.body ?? null,
    isBase64Encoded: false,
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
      resourcePath: req.path,
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
        sourceIp: '127.0.0.1',
        user: null,
        userAgent: 'vitest',
        userArn: null,
      },
    },
  };
}
