import type { Server } from 'node:http';
import sesLocalModule from 'aws-ses-v2-local';

export interface LocalSes {
  /** The SES v2 API endpoint, and the web UI listing sent mail (`GET /store` returns it as JSON). */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts `aws-ses-v2-local` (SES v1 and v2 APIs, templates, a web UI of sent mail) on 127.0.0.1:port; 0 picks a
 * free port. Its mail store is per process: one local SES per process.
 */
export async function startLocalSes(opts: { port: number; host?: string }): Promise<LocalSes> {
  // A CommonJS module with `exports.default`: Node's ESM loader hands us `module.exports`, some bundlers the function.
  const start = typeof sesLocalModule === 'function' ? sesLocalModule : sesLocalModule.default;
  const host = opts.host ?? '127.0.0.1';
  const server: Server = await start({ port: opts.port, host });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    stop: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        server.closeAllConnections();
      }),
  };
}
