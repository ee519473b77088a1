import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as z from 'zod';
import type { LocalRequest, LocalResponse, LocalRouteHandler } from './http-server.js';

/**
 * One local endpoint for the AWS JSON APIs the functions and the CLI call (Step Functions, EventBridge, Secrets
 * Manager, SQS), so that unchanged SDK code reaches them through the standard `AWS_ENDPOINT_URL_<SERVICE>` variables:
 * each request names its operation in `X-Amz-Target` (`AWSStepFunctions.StartExecution`, `AWSEvents.PutEvents`,
 * `secretsmanager.GetSecretValue`, `AmazonSQS.ReceiveMessage`), and the service that owns the prefix answers in its
 * protocol's shape. The AWS CLI works against it too (`--endpoint-url`).
 */

export interface LocalAwsService {
  /** The `X-Amz-Target` prefix of its operations, e.g. `AWSEvents.`. */
  targetPrefix: string;
  /** AWS JSON protocol version: the response content type. */
  protocol: '1.0' | '1.1';
  /** What error types are prefixed with in `__type` (the SDK reads the part after `#`). @default '' */
  errorPrefix?: string;
  handle(operation: string, body: unknown): Promise<unknown>;
}

/**
 * An error the service answers with: its type (the SDK's exception name) and message, and for a service that kept its
 * Query API's error codes (SQS) the `x-amzn-query-error` header's value (`<code>;Sender`).
 */
export class AwsApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    readonly queryError?: string,
  ) {
    super(message);
  }
}

export interface LocalAwsEndpoint {
  url: string;
  port: number;
  close(): Promise<void>;
}

const read = (req: IncomingMessage): Promise<string> =>
  new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res(Buffer.concat(chunks).toString('utf8')));
    req.on('error', rej);
  });

function send(res: ServerResponse, r: LocalResponse): void {
  res.writeHead(r.status, r.headers);
  res.end(r.body ?? '');
}

/** Starts the endpoint on 127.0.0.1:port (0 picks a free port); `pages` answer GET requests by path. */
export async function startLocalAwsEndpoint(opts: {
  services: readonly LocalAwsService[];
  port: number;
  host?: string;
  pages?: Readonly<Record<string, LocalRouteHandler>>;
}): Promise<LocalAwsEndpoint> {
  const host = opts.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://${host}`);
      if (req.method === 'GET') {
        const [base, ...rest] = url.pathname.split('/').filter(Boolean);
        const page = opts.pages?.[`/${base ?? ''}`];
        const local: LocalRequest = {
          method: 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.alloc(0),
          params: rest.length > 0 ? { name: decodeURIComponent(rest.join('/')) } : {},
          sourceIp: req.socket.remoteAddress ?? '',
        };
        send(res, page ? await page(local) : { status: 404, body: 'not found' });
        return;
      }
      const target = String(req.headers['x-amz-target'] ?? '');
      const service = opts.services.find((s) => target.startsWith(s.targetPrefix));
      const contentType = `application/x-amz-json-${service?.protocol ?? '1.1'}`;
      try {
        if (!service) throw new AwsApiError('UnknownOperationException', `no local service for "${target}"`);
        const text = await read(req);
        const body: unknown = text ? JSON.parse(text) : {};
        const out = await service.handle(target.slice(service.targetPrefix.length), body);
        send(res, { status: 200, headers: { 'content-type': contentType }, body: JSON.stringify(out ?? {}) });
      } catch (e) {
        const err =
          e instanceof AwsApiError
            ? e
            : e instanceof z.ZodError || e instanceof SyntaxError
              ? new AwsApiError('ValidationException', e.message)
              : new AwsApiError('InternalFailure', e instanceof Error ? e.message : String(e), 500);
        send(res, {
          status: err.status,
          headers: {
            'content-type': contentType,
            'x-amzn-errortype': err.type,
            ...(err.queryError !== undefined && { 'x-amzn-query-error': err.queryError }),
          },
          body: JSON.stringify({ __type: `${service?.errorPrefix ?? ''}${err.type}`, message: err.message }),
        });
      }
    })();
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port, host, () => res());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        server.closeAllConnections();
      }),
  };
}
