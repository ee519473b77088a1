import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** The account id the local runtime puts in ARNs (the one DynamoDB Local uses too). */
export const LOCAL_ACCOUNT_ID = '000000000000';

/**
 * A Lambda invocation context as the Node.js runtime builds it, for one local invocation of `functionName`.
 * `getRemainingTimeInMillis` counts down from `timeoutMs`, so handlers that budget their work see a real deadline.
 */
export function lambdaContext(opts: {
  functionName: string;
  region: string;
  timeoutMs: number;
  requestId?: string;
  memoryMb?: number;
}): Context {
  const deadline = Date.now() + opts.timeoutMs;
  const unsupported = (name: string) => () => {
    throw new Error(`context.${name}() is not supported by the local runtime: return a promise instead`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: opts.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${opts.region}:${LOCAL_ACCOUNT_ID}:function:${opts.functionName}`,
    memoryLimitInMB: String(opts.memoryMb ?? 1024),
    awsRequestId: opts.requestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${opts.functionName}`,
    logStreamName: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]local`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}
