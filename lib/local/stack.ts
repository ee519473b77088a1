import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { scaledClock, type Clock } from '../../lambdas/domain/clock.js';
import { resolveClockOrigin } from './clock-origin.js';
import { ensureTable, startDynamoDbLocal } from './dynamodb.js';
import { loadHandler } from './handlers.js';
import { startHttpServer, type ApiRoute, type LocalHttpServer } from './http-server.js';
import { freePort, isPortFree } from './ports.js';
import { startLocalSes } from './ses.js';
import { DEFAULTS, type PortSetting } from './settings.js';
import { startStreamPoller, type StreamPoller } from './stream-poller.js';

/**
 * The whole local runtime in one call (DESIGN §9): DynamoDB Local with the lead table, local SES, the HTTP API with
 * the landing page, the stream poller, and any extra services (nurture state machines, the requalification
 * schedule, engagement loop-back) started on top of them. `npm start` (bin/local.ts) and the e2e tests use it.
 */

export interface LocalStackOptions {
  /** API port; 0 picks a free one. @default 3000 */
  port?: number;
  /** @default 8000 (0 picks a free one) */
  dynamoDbPort?: number;
  /** @default 8005 (0 picks a free one) */
  sesPort?: number;
  /** @default 'dev-api-key' */
  apiKey?: string;
  /** @default 'dev-admin-key' */
  adminKey?: string;
  /** Real seconds per simulated day. @default 86400 */
  daySeconds?: number;
  /** Where data, the stream checkpoint, the clock origin and the DLQ live. @default '.leadloop' */
  dataDir?: string;
  /** Keep nothing: DynamoDB in memory, checkpoint and dead letters in memory, a fresh clock. */
  inMemory?: boolean;
  /** @default 'leadloop-local' */
  tableName?: string;
  /** @default process.env.AWS_REGION ?? 'us-east-1' */
  region?: string;
  /** CORS allow-list for the public routes. @default the API's own origins (127.0.0.1 and localhost) */
  allowedOrigins?: string[];
  /** Started after the core, in order; stopped before it, in reverse order. */
  services?: LocalService[];
  /** Stream poll interval when idle. @default 200 */
  pollIntervalMs?: number;
  /** Retries of a failing stream record before it is dead-lettered, as the stack's event source. @default 5 */
  retryAttempts?: number;
  log?: (line: string) => void;
}

/** What a service sees of the running stack. */
export interface LocalStackContext {
  /** The API's base URL, e.g. http://127.0.0.1:3000 (also in LEADLOOP_PUBLIC_URL for the handlers). */
  url: string;
  dynamoDbEndpoint: string;
  sesEndpoint: string;
  tableName: string;
  region: string;
  /** Absolute, or undefined in memory. */
  dataDir: string | undefined;
  daySeconds: number;
  clockOrigin: Date;
  /** The scaled simulated clock every part of the stack follows. */
  clock: Clock;
  registerLocalRoute: LocalHttpServer['registerLocalRoute'];
  /** Loads `lambdas/handlers/<name>` (the environment is already set). */
  loadHandler: typeof loadHandler;
  log(line: string): void;
}

/** Something that runs beside the core, e.g. the nurture state machines or the requalification schedule. */
export interface LocalService {
  name: string;
  /**
   * Environment the handler modules need from this service (e.g. the endpoint it is going to serve). Handlers read
   * their configuration once, when first imported, so this is asked before any handler module is imported.
   */
  environment?(info: ServiceEnvironmentInfo): Record<string, string> | Promise<Record<string, string>>;
  start(ctx: LocalStackContext): Promise<StartedService>;
}

/** What is known of the stack before anything runs. */
export interface ServiceEnvironmentInfo {
  url: string;
  region: string;
  dynamoDbEndpoint: string;
  sesEndpoint: string;
  tableName: string;
  dataDir: string | undefined;
}

export interface StartedService {
  stop(): Promise<void>;
  /** Lines `npm start` prints about it (where it listens, how to use it). */
  describe?: string[];
}

export interface LocalStack extends LocalStackContext {
  port: number;
  dynamoDbPort: number;
  sesPort: number;
  apiKey: string;
  adminKey: string;
  http: LocalHttpServer;
  poller: StreamPoller;
  services: { name: string; describe: string[] }[];
  /** Stops everything this call started, services first, DynamoDB Local last. Safe to call twice. */
  stop(): Promise<void>;
}

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly setting: PortSetting,
  ) {
    super(`port ${port} is already in use`);
  }
}

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
}

/** The environment the handler modules were first imported with; they keep it for the life of the process. */
let handlerEnvironment: string | undefined;

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => console.log(line));
  const tableName = options.tableName ?? 'leadloop-local';
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const daySeconds = options.daySeconds ?? DEFAULTS.daySeconds;
  const dataDir = options.inMemory ? undefined : (options.dataDir ?? DEFAULTS.dataDir);
  const apiKey = options.apiKey ?? DEFAULTS.apiKey;
  const adminKey = options.adminKey ?? DEFAULTS.adminKey;

  const ports: Record<'port' | 'dynamoDbPort' | 'sesPort', number> = {
    port: options.port ?? DEFAULTS.port,
    dynamoDbPort: options.dynamoDbPort ?? DEFAULTS.dynamoDbPort,
    sesPort: options.sesPort ?? DEFAULTS.sesPort,
  };
  for (const setting of ['port', 'dynamoDbPort', 'sesPort'] as const) {
    if (ports[setting] === 0) ports[setting] = await freePort();
    else if (!(await isPortFree(ports[setting]))) throw new PortInUseError(ports[setting], setting);
  }

  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const stopAll = async () => {
    for (const { name, stop } of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (e) {
        log(`stopping ${name} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };

  try {
    if (dataDir) {
      mkdirSync(dataDir, { recursive: true });
      const release = lockDataDir(dataDir);
      stops.push({ name: 'data dir lock', stop: async () => release() });
    }
    const { origin: clockOrigin, note } = resolveClockOrigin({
      file: dataDir ? join(dataDir, 'clock.json') : undefined,
      daySeconds,
    });
    if (note) log(note);
    const clock = scaledClock(daySeconds, clockOrigin);

    const url = `http://127.0.0.1:${ports.port}`;
    const allowedOrigins = options.allowedOrigins ?? [url, `http://localhost:${ports.port}`];
    const dynamoDbEndpoint = `http://127.0.0.1:${ports.dynamoDbPort}`;
    const sesEndpoint = `http://127.0.0.1:${ports.sesPort}`;

    // Handler modules read their configuration and create their clients at import time: set it first.
    const env: Record<string, string> = {
      TABLE_NAME: tableName,
      DYNAMODB_ENDPOINT: dynamoDbEndpoint,
      SES_ENDPOINT: sesEndpoint,
      AWS_REGION: region,
      ALLOWED_ORIGINS: allowedOrigins.join(','),
      LEADLOOP_DAY_SECONDS: String(daySeconds),
      LEADLOOP_CLOCK_ORIGIN: clockOrigin.toISOString(),
      LEADLOOP_PUBLIC_URL: url,
      // The emulators accept any credentials; never sign local calls with a developer's real ones.
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    const core = new Set(Object.keys(env));
    for (const service of options.services ?? []) {
      const extra = await service.environment?.({ url, region, dynamoDbEndpoint, sesEndpoint, tableName, dataDir });
      for (const [key, value] of Object.entries(extra ?? {})) {
        if (core.has(key)) throw new Error(`service "${service.name}" may not override ${key}`);
        env[key] = value;
      }
    }
    const fingerprint = JSON.stringify({ ...env, LEADLOOP_CLOCK_ORIGIN: undefined });
    if (handlerEnvironment !== undefined && handlerEnvironment !== fingerprint) {
      throw new Error(
        'the handler modules were already loaded with other settings in this process: one local stack per process',
      );
    }
    Object.assign(process.env, env);
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    process.env.POWERTOOLS_SERVICE_NAME ??= 'leadloop';
    process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
    process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';

    const [captureForm, captureEvents, leadsAdmin, scoreStream, unsubscribe] = await Promise.all([
      loadHandler('capture-form'),
      loadHandler('capture-events'),
      loadHandler('leads-admin'),
      loadHandler('score-stream'),
      loadHandler('unsubscribe', { optional: true }),
    ]);
    handlerEnvironment = fingerprint;

    const ddb = await startDynamoDbLocal({
      port: ports.dynamoDbPort,
      ...(dataDir ? { dataDir: join(dataDir, 'dynamodb') } : {}),
    });
    stops.push({ name: 'DynamoDB Local', stop: ddb.stop });
    const client = new DynamoDBClient({
      endpoint: dynamoDbEndpoint,
      region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      await ensureTable(client, tableName);
    } finally {
      client.destroy();
    }

    const ses = await startLocalSes({ port: ports.sesPort });
    stops.push({ name: 'local SES', stop: ses.stop });

    const fn = (name: string) => `leadloop-local-${name}`;
    const routes: ApiRoute[] = [
      {
        resource: '/forms/{formId}',
        method: 'POST',
        functionName: fn('capture-form'),
        handler: captureForm,
        auth: 'public',
        cors: true,
      },
      {
        resource: '/events',
        method: 'POST',
        functionName: fn('capture-events'),
        handler: captureEvents,
        auth: 'api-key',
      },
      { resource: '/leads', method: 'GET', functionName: fn('leads-admin'), handler: leadsAdmin, auth: 'admin' },
      {
        resource: '/leads/{leadId}',
        method: 'GET',
        functionName: fn('leads-admin'),
        handler: leadsAdmin,
        auth: 'admin',
      },
      {
        resource: '/leads/{leadId}',
        method: 'DELETE',
        functionName: fn('leads-admin'),
        handler: leadsAdmin,
        auth: 'admin',
      },
      {
        resource: '/leads/{leadId}/export',
        method: 'GET',
        functionName: fn('leads-admin'),
        handler: leadsAdmin,
        auth: 'admin',
      },
      ...(unsubscribe
        ? (['GET', 'POST'] as const).map((method): ApiRoute => ({
            resource: '/unsubscribe',
            method,
            functionName: fn('unsubscribe'),
            handler: unsubscribe,
            auth: 'public',
            requiredQuery: ['token'],
          }))
        : []),
    ];
    const http = await startHttpServer({ port: ports.port, routes, apiKey, adminKey, allowedOrigins, region, log });
    stops.push({ name: 'HTTP API', stop: http.close });

    const poller = await startStreamPoller({
      endpoint: dynamoDbEndpoint,
      region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      tableName,
      handler: scoreStream,
      functionName: fn('score-stream'),
      ...(options.pollIntervalMs !== undefined && { pollIntervalMs: options.pollIntervalMs }),
      ...(options.retryAttempts !== undefined && { retryAttempts: options.retryAttempts }),
      ...(dataDir && {
        checkpointFile: join(dataDir, 'stream-checkpoint.json'),
        dlqFile: join(dataDir, 'dlq', 'score-stream.jsonl'),
      }),
      log,
    });
    stops.push({ name: 'stream poller', stop: poller.stop });

    const context: LocalStackContext = {
      url,
      dynamoDbEndpoint,
      sesEndpoint,
      tableName,
      region,
      dataDir,
      daySeconds,
      clockOrigin,
      clock,
      registerLocalRoute: http.registerLocalRoute,
      loadHandler,
      log,
    };
    const services: { name: string; describe: string[] }[] = [];
    for (const service of options.services ?? []) {
      const started = await service.start(context);
      stops.push({ name: service.name, stop: started.stop });
      services.push({ name: service.name, describe: started.describe ?? [] });
    }

    let stopping: Promise<void> | undefined;
    return {
      ...context,
      port: ports.port,
      dynamoDbPort: ports.dynamoDbPort,
      sesPort: ports.sesPort,
      apiKey,
      adminKey,
      http,
      poller,
      services,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * One stack per data dir: two would share DynamoDB Local's files and the stream checkpoint. A lock left by a process
 * that is gone is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'leadloop.pid');
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new DataDirInUseError(
        `another Leadloop (pid ${pid}) is using ${dataDir}; stop it, or set LEADLOOP_DATA_DIR to another directory`,
      );
    }
  }
  writeFileSync(file, `${process.pid}\n`);
  return () => rmSync(file, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e instanceof Error && 'code' in e && e.code === 'EPERM';
  }
}
