import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AlreadyExistsException,
  CreateEmailTemplateCommand,
  SESv2Client,
  UpdateEmailTemplateCommand,
} from '@aws-sdk/client-sesv2';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import * as z from 'zod';
import { scaledClock, type Clock } from '../../lambdas/domain/clock.js';
import { SWEEP_STATES } from '../requalification.js';
import { redrive } from '../../lambdas/domain/redrive.js';
import { sweepProgress } from './sweep-progress.js';
import { localActivity, type Activity, type LogMode } from './activity.js';
import { LocalApiDestinations } from './adapters/api-destinations.js';
import { LocalEventBus } from './adapters/event-bus.js';
import { LocalQueues } from './adapters/queues.js';
import { LocalSecretsManager } from './adapters/secrets-manager.js';
import { sesEventPublisher, startSesLoopback, type SesLoopback } from './adapters/ses-loopback.js';
import { localTrackingSecret } from './adapters/ses-simulator.js';
import { sqsService } from './adapters/sqs-api.js';
import { startLocalAwsEndpoint } from './aws-endpoint.js';
import { resolveClockOrigin } from './clock-origin.js';
import { readDeployment, synthesizeTemplate, type LocalDeployment } from './deployment.js';
import { ensureTable, startDynamoDbLocal } from './dynamodb.js';
import { matchesPattern } from './event-pattern.js';
import { startScheduler } from './event-sources/scheduler.js';
import { startSqsEventSource, type SqsEventSource } from './event-sources/sqs.js';
import { startHttpServer, type ApiRoute, type LocalHttpServer } from './http-server.js';
import { LOCAL_ACCOUNT_ID } from './lambda-context.js';
import { LambdaFunctionError, LocalLambda, type LogLine } from './lambda.js';
import { freePort, isPortFree } from './ports.js';
import { openApiDocument } from '../openapi.js';
import { registerConsole } from './console.js';
import { registerSesRoutes } from './ses-routes.js';
import { startLocalSes } from './ses.js';
import { DEFAULTS, type PortSetting } from './settings.js';
import { runsRoute, stepFunctionsService } from './sfn-api.js';
import { LocalStepFunctions, type AslDefinition, type RunRecord } from './stepfunctions.js';
import { startStreamPoller, type DeadLetter, type StreamPoller } from './stream-poller.js';

/**
 * The whole local runtime in one call (DESIGN §9), as a second target of the one synthesized cloud assembly: the app
 * is synthesized in-process and everything below is read from its template — the table, every function (its handler
 * module and environment), the API's routes and authorization, the stream and queue event source mappings, the event
 * rules, the state machines, the schedule, the secrets, the SES configuration set and templates. The emulators stand
 * in for the AWS services (DynamoDB Local, local SES behind SES's own loop-back, and one local endpoint for Step
 * Functions, EventBridge, Secrets Manager and SQS); the functions reach them through the SDK's standard
 * `AWS_ENDPOINT_URL_<SERVICE>` variables and nothing else. `npm start` (bin/local.ts) and the e2e tests use it.
 */

export interface LocalStackOptions {
  /** API port; 0 picks a free one. @default 3000 */
  port?: number;
  /** @default 8000 (0 picks a free one) */
  dynamoDbPort?: number;
  /** @default 8005 (0 picks a free one) */
  sesPort?: number;
  /** The local Step Functions, EventBridge, Secrets Manager and SQS endpoint. @default 8083 (0 picks a free one) */
  sfnPort?: number;
  /** @default 'dev-api-key' */
  apiKey?: string;
  /** @default 'dev-admin-key' */
  adminKey?: string;
  /** Real seconds per simulated day. @default 86400 */
  daySeconds?: number;
  /** Where data, checkpoints, queues, secrets and the clock origin live. @default '.leadloop' */
  dataDir?: string;
  /** Keep nothing: DynamoDB in memory, checkpoint, queues and secrets in memory, a fresh clock. */
  inMemory?: boolean;
  /** @default 'leadloop-local' */
  tableName?: string;
  /** @default process.env.AWS_REGION ?? 'us-east-1' */
  region?: string;
  /** CORS allow-list and redirect targets of the public routes. @default the API's own origins */
  allowedOrigins?: string[];
  /** Extra CDK context for the synthesis (what `cdk deploy -c key=value` would be given). */
  context?: Record<string, unknown>;
  /** Stream poll interval when idle. @default 200 */
  pollIntervalMs?: number;
  /** Containers per function at most (see `LocalLambda`). @default 1 */
  maxConcurrency?: number;
  /** Run the template's schedules on the simulated clock (tests that drive the sweep themselves turn it off). @default true */
  schedules?: boolean;
  /** The sales webhook's credential header value, when the template reads it from a secret. */
  salesWebhookAuth?: string;
  /** Lines the runtime itself prints (where things listen, what failed). */
  log?: (line: string) => void;
  /** What `log` is told: one readable line per notable thing (`quiet`), or every structured line and request (`json`). Default from `LEADLOOP_LOG`. */
  logMode?: LogMode;
  /** Also told of every line a function writes (what `npm start` prints of them is decided by `LEADLOOP_LOG`). */
  onFunctionLog?: (line: LogLine) => void;
}

export interface LocalStack {
  url: string;
  port: number;
  dynamoDbPort: number;
  dynamoDbEndpoint: string;
  sesPort: number;
  sesEndpoint: string;
  /** The local Step Functions, EventBridge, Secrets Manager and SQS endpoint (`AWS_ENDPOINT_URL_SQS` for the CLI). */
  awsEndpoint: string;
  sfnPort: number;
  apiKey: string;
  adminKey: string;
  tableName: string;
  region: string;
  dataDir: string | undefined;
  daySeconds: number;
  clockOrigin: Date;
  /** The scaled simulated clock every part of the stack follows. */
  clock: Clock;
  /** What the template says, read for the local targets. */
  deployment: LocalDeployment;
  /** The environment every function gets on top of its template environment. */
  baseEnvironment: Readonly<Record<string, string>>;
  lambda: LocalLambda;
  /** What is printed, and the metrics the functions emitted. */
  activity: Activity;
  stepFunctions: LocalStepFunctions;
  bus: LocalEventBus;
  apiDestinations: LocalApiDestinations;
  queues: LocalQueues;
  secrets: LocalSecretsManager;
  ses: SesLoopback;
  http: LocalHttpServer;
  poller: StreamPoller;
  /** Each function's logical id by its handler module's name (`capture-form` → `CaptureApiFormFunction…`). */
  functionIds: Readonly<Record<string, string>>;
  /** The nurture tracks' state machine ARNs, by track. */
  trackArns: Readonly<Record<string, string>>;
  /** The requalification state machine (the schedule's target). */
  requalificationArn: string;
  registerLocalRoute: LocalHttpServer['registerLocalRoute'];
  /** Waits until the stream, the queues and the bus have nothing left in flight. */
  settle(opts?: { timeoutMs?: number }): Promise<void>;
  /** Runs "Requalify leads" now (or as of `asOf`), named `name`, and resolves with the execution once it has ended. */
  sweep(asOf?: Date, name?: string): Promise<RunRecord>;
  log(line: string): void;
  /** Stops everything this call started, DynamoDB Local last. Safe to call twice. */
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

/** A Step Functions execution name (1–80 letters, digits, `-` and `_`). */
const RunName = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/);
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** A handler module's name from its path (`lambdas/handlers/capture-form.ts` → `capture-form`). */
const moduleName = (handler: string): string => handler.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '');

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => console.log(line));
  const tableName = options.tableName ?? 'leadloop-local';
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const daySeconds = options.daySeconds ?? DEFAULTS.daySeconds;
  const dataDir = options.inMemory ? undefined : (options.dataDir ?? DEFAULTS.dataDir);
  const apiKey = options.apiKey ?? DEFAULTS.apiKey;
  const adminKey = options.adminKey ?? DEFAULTS.adminKey;

  const ports: Record<'port' | 'dynamoDbPort' | 'sesPort' | 'sfnPort', number> = {
    port: options.port ?? DEFAULTS.port,
    dynamoDbPort: options.dynamoDbPort ?? DEFAULTS.dynamoDbPort,
    sesPort: options.sesPort ?? DEFAULTS.sesPort,
    sfnPort: options.sfnPort ?? DEFAULTS.sfnPort,
  };
  for (const setting of ['port', 'dynamoDbPort', 'sesPort', 'sfnPort'] as const) {
    if (ports[setting] === 0) ports[setting] = await freePort();
    else if (!(await isPortFree(ports[setting]))) throw new PortInUseError(ports[setting], setting);
  }

  const stops: { name: string; stop: () => Promise<void> | void }[] = [];
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
      stops.push({ name: 'data dir lock', stop: release });
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
    const awsEndpoint = `http://127.0.0.1:${ports.sfnPort}`;

    // The app as `cdk deploy -c allowedOrigins=… -c siteUrl=…` would deploy it, read for the local targets.
    const { template } = synthesizeTemplate({
      allowedOrigins: allowedOrigins.join(','),
      siteUrl: url,
      ...options.context,
    });
    const tableId = Object.keys(template.Resources).find(
      (id) => template.Resources[id]?.Type === 'AWS::DynamoDB::Table',
    );
    const deployment = readDeployment(template, {
      region,
      apiUrl: url,
      names: tableId ? { [tableId]: tableName } : {},
    });

    const ddb = await startDynamoDbLocal({
      port: ports.dynamoDbPort,
      ...(dataDir ? { dataDir: join(dataDir, 'dynamodb') } : {}),
    });
    stops.push({ name: 'DynamoDB Local', stop: ddb.stop });
    const client = new DynamoDBClient({ endpoint: dynamoDbEndpoint, region, credentials: LOCAL_CREDENTIALS });
    try {
      await ensureTable(client, tableName, deployment.table.properties);
    } finally {
      client.destroy();
    }

    const activity = localActivity({ log, mode: options.logMode });
    const queues = new LocalQueues(deployment.queues, {
      ...(dataDir && { file: join(dataDir, 'queues.json') }),
      log,
    });
    const apiDestinations = new LocalApiDestinations({
      queues,
      log,
      ...(options.salesWebhookAuth !== undefined && { authValue: options.salesWebhookAuth }),
    });
    const bus = new LocalEventBus({
      rules: deployment.rules,
      queues,
      apiDestinations,
      clock,
      region,
      account: LOCAL_ACCOUNT_ID,
      log,
    });
    bus.onEvent((event) => activity.onBusEvent(event));
    const secrets = new LocalSecretsManager(deployment.secrets, dataDir ? { file: join(dataDir, 'secrets.json') } : {});

    // Local SES behind SES's own loop-back: the functions send through the proxy on the SES port.
    const emulator = await startLocalSes({ port: 0 });
    stops.push({ name: 'local SES', stop: emulator.stop });
    await loadTemplatesIntoSes(emulator.endpoint, region, deployment);
    const publishSes = sesEventPublisher({
      bus,
      configurationSets: deployment.configurationSets,
      region,
      account: LOCAL_ACCOUNT_ID,
    });
    const trackingSecret = localTrackingSecret();
    const ses = await startSesLoopback({
      port: ports.sesPort,
      upstream: emulator.endpoint,
      configurationSets: deployment.configurationSets,
      templates: deployment.emailTemplates,
      publish: publishSes,
      clock,
      trackingBaseUrl: url,
      trackingSecret,
      log,
      onSent: (mail) => activity.onMailSent(mail),
    });
    stops.push({ name: 'SES loop-back', stop: ses.close });

    // What any AWS SDK v3 program honours, and the scaled clock: nothing else is added to a function's environment.
    const baseEnvironment: Record<string, string> = {
      AWS_ENDPOINT_URL_DYNAMODB: dynamoDbEndpoint,
      AWS_ENDPOINT_URL_SESV2: ses.endpoint,
      AWS_ENDPOINT_URL_SFN: awsEndpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: awsEndpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: awsEndpoint,
      // The emulators accept any credentials; never sign local calls with a developer's real ones.
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      LEADLOOP_DAY_SECONDS: String(daySeconds),
      LEADLOOP_CLOCK_ORIGIN: clockOrigin.toISOString(),
    };
    const lambda = new LocalLambda({
      functions: deployment.functions,
      baseEnvironment,
      region,
      ...(options.maxConcurrency !== undefined && { maxConcurrency: options.maxConcurrency }),
      onLog: (line) => {
        activity.onFunctionLog(line);
        options.onFunctionLog?.(line);
      },
    });
    stops.push({ name: 'Lambda containers', stop: () => lambda.stop() });

    const stepFunctions = new LocalStepFunctions({
      machines: Object.values(deployment.stateMachines).map((m) => ({
        arn: m.arn,
        definition: m.definition as AslDefinition,
        ...(m.track !== undefined && { track: m.track }),
      })),
      invoke: (arn, payload) => lambda.invoke(arn, payload),
      time: { kind: 'scaled', clock, daySeconds },
      log: (line) => {
        if (!/ succeeded$/.test(line)) log(`[step functions] ${line}`);
      },
    });
    stops.push({ name: 'state machines', stop: () => stepFunctions.stopAll() });

    const runs = runsRoute(stepFunctions);
    const endpoint = await startLocalAwsEndpoint({
      port: ports.sfnPort,
      services: [stepFunctionsService(stepFunctions), bus.service(), secrets.service(), sqsService(queues)],
      pages: { '/': runs, '/runs': runs },
    });
    stops.push({ name: 'local AWS endpoint', stop: endpoint.close });

    // API Gateway: the template's routes, each invoking its function; IAM routes take the admin key locally.
    const functionIds = Object.fromEntries(
      Object.values(deployment.functions).map((f) => [moduleName(f.handler), f.logicalId]),
    );
    const routes: ApiRoute[] = deployment.api.routes.map((r) => {
      const fn = deployment.functions[r.functionLogicalId];
      const cors = deployment.api.cors.find((c) => c.resource === r.resource);
      return {
        resource: r.resource,
        method: r.method as ApiRoute['method'],
        functionName: fn?.name ?? r.functionLogicalId,
        handler: async (event) => lambda.invokeOrThrow(r.functionLogicalId, event),
        auth: r.auth === 'iam' ? 'admin' : r.auth,
        requiredQuery: r.requiredQuery,
        ...(cors && { cors }),
      };
    });
    const http = await startHttpServer({
      port: ports.port,
      routes,
      apiKey,
      adminKey,
      allowedOrigins,
      region,
      log,
      accessLog: activity.mode === 'json',
      onApiResponse: (r) => activity.onApiResponse(r),
    });
    stops.push({ name: 'HTTP API', stop: http.close });

    // The stream's event source mapping.
    // Each of the template's stream mappings reads the table's stream on its own, as Lambda's pollers do.
    const pollers: StreamPoller[] = [];
    for (const mapping of deployment.streamMappings) {
      const fn = deployment.functions[mapping.functionLogicalId];
      const module = fn ? moduleName(fn.handler) : mapping.functionLogicalId;
      const started = await startStreamPoller({
        endpoint: dynamoDbEndpoint,
        region,
        credentials: LOCAL_CREDENTIALS,
        tableName,
        handler: async (event) => lambda.invokeOrThrow(mapping.functionLogicalId, event),
        functionName: fn?.name ?? mapping.functionLogicalId,
        batchSize: mapping.batchSize,
        retryAttempts: mapping.retryAttempts,
        filter: (record) => mapping.filters.length === 0 || mapping.filters.some((f) => matchesPattern(f, record)),
        ...(options.pollIntervalMs !== undefined && { pollIntervalMs: options.pollIntervalMs }),
        ...(dataDir && {
          checkpointFile: join(
            dataDir,
            module === 'score-stream' ? 'stream-checkpoint.json' : `stream-checkpoint-${module}.json`,
          ),
        }),
        ...(mapping.onFailureQueue && {
          onDeadLetter: (entry: DeadLetter) =>
            queues.send(
              mapping.onFailureQueue ?? '',
              JSON.stringify(streamFailureRecord(entry, mapping.functionLogicalId)),
            ),
        }),
        log,
      });
      pollers.push(started);
      stops.push({ name: `stream poller (${module})`, stop: started.stop });
    }
    const poller: StreamPoller = {
      streamArn: pollers[0]?.streamArn ?? '',
      get deadLetters() {
        return pollers.flatMap((p) => p.deadLetters);
      },
      drain: async (opts) => void (await Promise.all(pollers.map((p) => p.drain(opts)))),
      stop: async () => void (await Promise.all(pollers.map((p) => p.stop()))),
    };

    const sqsSources: SqsEventSource[] = deployment.queueMappings.map((m) =>
      startSqsEventSource({ mapping: m, queues, lambda, region, log }),
    );
    stops.push({ name: 'queue pollers', stop: async () => void (await Promise.all(sqsSources.map((s) => s.stop()))) });

    const trackArns = Object.fromEntries(
      Object.values(deployment.stateMachines)
        .filter((m) => m.track !== undefined)
        .map((m) => [m.track ?? '', m.arn]),
    );
    const [schedule] = deployment.schedules;
    const requalificationArn = schedule ? (deployment.stateMachines[schedule.stateMachineLogicalId]?.arn ?? '') : '';

    const settle = async ({ timeoutMs = 30_000 } = {}) => {
      // Each stage can feed the next (a scored event starts a run, a send publishes engagement): until quiet twice.
      for (let quiet = 0; quiet < 2;) {
        const before = JSON.stringify([...lambda.invocations]);
        await poller.drain({ timeoutMs });
        await Promise.all(sqsSources.map((s) => s.drain({ timeoutMs })));
        await apiDestinations.settled();
        quiet = JSON.stringify([...lambda.invocations]) === before ? quiet + 1 : 0;
      }
    };
    const sweep = async (asOf?: Date, name = `local-sweep-${Date.now()}`): Promise<RunRecord> => {
      const input = JSON.stringify(asOf ? { asOf: asOf.toISOString() } : {});
      stepFunctions.startExecution(requalificationArn, name, input);
      return stepFunctions.settled(name);
    };

    const scheduler = startScheduler({
      schedules: options.schedules === false ? [] : deployment.schedules,
      clock,
      daySeconds,
      fire: async ({ schedule: s, scheduledAt, skipped }, input) => {
        const machine = deployment.stateMachines[s.stateMachineLogicalId];
        if (!machine) return;
        const name = `schedule-${scheduledAt
          .toISOString()
          .replace(/[^0-9]/g, '')
          .slice(0, 14)}-${Date.now() % 100_000}`;
        stepFunctions.startExecution(machine.arn, name, input);
        const run = await stepFunctions.settled(name);
        const late = skipped > 0 ? ` (${skipped} daily tick(s) skipped while the previous one ran)` : '';
        // Quiet when nothing changed: a sweep that finds nothing to do is not news.
        const summary = SweepSummaryLine.safeParse(run.output);
        if (run.status !== 'SUCCEEDED') {
          log(`requalification sweep ${run.status.toLowerCase()}: ${run.cause ?? ''}${late}`);
        } else if (summary.success && summary.data.counts.changed > 0) {
          log(`requalification sweep as of ${summary.data.asOf}: ${describeCounts(summary.data.counts)}${late}`);
        }
      },
    });
    stops.push({ name: 'scheduler', stop: () => scheduler.stop() });

    const [configurationSetName = 'leadloop'] = Object.keys(deployment.configurationSets);
    const removeSesRoutes = registerSesRoutes(http.registerLocalRoute, {
      publish: publishSes,
      configurationSetName,
      // Answered once the records' effects are in: the engagement queue processed them and the stream has scored the
      // events they recorded (a caller reading the lead next sees the score they made, not the one before).
      settled: async () => {
        await Promise.all(sqsSources.map((s) => s.drain({ timeoutMs: 10_000 })));
        await poller.drain({ timeoutMs: 10_000 });
      },
      clock,
      secret: trackingSecret,
      log,
    });
    stops.push({ name: 'SES routes', stop: removeSesRoutes });
    const consoleClient = new DynamoDBClient({ endpoint: dynamoDbEndpoint, region, credentials: LOCAL_CREDENTIALS });
    const doc = DynamoDBDocumentClient.from(consoleClient, { marshallOptions: { removeUndefinedValues: true } });
    const removeConsole = registerConsole(
      http.registerLocalRoute,
      {
        doc,
        repository: new DynamoLeadRepository(doc, tableName),
        tableName,
        stepFunctions,
        requalificationArn,
        activity,
        ses,
        sesEndpoint,
        reportsDir: dataDir ? join(dataDir, 'reports') : undefined,
        clock,
      },
      { runsJson: runs },
    );
    stops.push({
      name: 'OpenAPI document',
      stop: http.registerLocalRoute('GET', '/_local/openapi.json', () => jsonAnswer(200, openApiDocument(url))),
    });
    stops.push({
      name: 'console',
      stop: () => {
        removeConsole();
        consoleClient.destroy();
      },
    });
    // `leadloop redrive`: re-scores the leads with unapplied events through the score-stream function (as the stream
    // would have), then deletes the scoring DLQ's messages.
    const scoreMapping = deployment.streamMappings.find(
      (m) => moduleName(deployment.functions[m.functionLogicalId]?.handler ?? '') === 'score-stream',
    );
    if (scoreMapping) {
      const redriveRepo = new DynamoLeadRepository(doc, tableName);
      const dlq = scoreMapping.onFailureQueue;
      stops.push({
        name: 'redrive route',
        stop: http.registerLocalRoute('POST', '/_local/redrive', async () => {
          const summary = await redrive({
            ...(dlq && {
              deadLetters: {
                receiveAll: async () => {
                  const all: { handle: string; body: string }[] = [];
                  for (let batch = queues.receive(dlq, 10); batch.length > 0; batch = queues.receive(dlq, 10)) {
                    all.push(...batch.map((m) => ({ handle: m.receiptHandle ?? '', body: m.body })));
                  }
                  return all;
                },
                remove: async (handles) => handles.forEach((h) => queues.delete(dlq, h)),
              },
            }),
            pendingLeads: (before) => redriveRepo.allLeadsWithPendingEvents(before),
            score: async (leadId, eventIds) => {
              await lambda.invokeOrThrow(scoreMapping.functionLogicalId, {
                Records: eventIds.map((eventId, i) => ({
                  eventID: `redrive-${i}`,
                  eventName: 'INSERT',
                  eventSource: 'aws:dynamodb',
                  awsRegion: region,
                  eventSourceARN: poller.streamArn,
                  dynamodb: {
                    Keys: { pk: { S: `LEAD#${leadId}` }, sk: { S: `EVENT#${eventId}` } },
                    SequenceNumber: `redrive-${leadId}-${i}`,
                    StreamViewType: 'KEYS_ONLY',
                  },
                })),
              });
              const after = await redriveRepo.loadPending(leadId, [...eventIds]);
              // An erased lead's events can no longer be applied: counted with the invalid ones.
              if (!after.lead) return { applied: 0, invalid: eventIds.length };
              if (after.pending.length > 0) throw new Error(`${after.pending.length} event(s) still unapplied`);
              return { applied: eventIds.length - after.invalid.size, invalid: after.invalid.size };
            },
            now: () => clock.now(),
          });
          return jsonAnswer(summary.failed.length > 0 ? 500 : 200, summary);
        }),
      });
    }
    stops.push({
      name: 'sweep route',
      stop: http.registerLocalRoute('POST', '/_local/sweep', async (req) => {
        const body = z
          .object({ asOf: z.iso.datetime({ offset: true }).optional(), name: RunName.optional() })
          .safeParse(req.body.length === 0 ? {} : safeJson(req.body.toString('utf8')));
        if (!body.success) {
          return jsonAnswer(400, {
            error: 'ValidationError',
            message: 'body must be {} or {"asOf": "<ISO-8601>", "name": "<execution name>"} (both optional)',
          });
        }
        if (body.data.name !== undefined && stepFunctions.get(body.data.name)) {
          return jsonAnswer(409, { error: 'ExecutionAlreadyExists', message: 'a run of that name exists' });
        }
        const run = await sweep(body.data.asOf ? new Date(body.data.asOf) : undefined, body.data.name);
        if (run.status === 'SUCCEEDED') return jsonAnswer(200, run.output);
        // A run that fails at its end ("Sweep incomplete") still summarized what it did.
        const summary = [...run.history]
          .reverse()
          .find((h) => h.type === 'StateExited' && h.state === SWEEP_STATES.summarize)?.output;
        return jsonAnswer(500, {
          error: run.error ?? 'SweepFailed',
          message: run.cause ?? `the sweep ended ${run.status.toLowerCase()}`,
          execution: run.name,
          ...(summary !== undefined && { summary }),
        });
      }),
    });

    stops.push({
      name: 'sweep progress route',
      // How far a sweep started with a name has got (what `leadloop sweep` draws its progress bar from).
      stop: http.registerLocalRoute('GET', '/_local/sweep/{name}', (req) => {
        const run = stepFunctions.get(req.params.name ?? '');
        return run
          ? jsonAnswer(200, sweepProgress(run))
          : jsonAnswer(404, { error: 'NotFound', message: 'no run of that name' });
      }),
    });

    let stopping: Promise<void> | undefined;
    return {
      url,
      port: ports.port,
      dynamoDbPort: ports.dynamoDbPort,
      dynamoDbEndpoint,
      sesPort: ports.sesPort,
      sesEndpoint,
      awsEndpoint,
      sfnPort: ports.sfnPort,
      apiKey,
      adminKey,
      tableName,
      region,
      dataDir,
      daySeconds,
      clockOrigin,
      clock,
      deployment,
      baseEnvironment,
      lambda,
      activity,
      stepFunctions,
      bus,
      apiDestinations,
      queues,
      secrets,
      ses,
      http,
      poller,
      functionIds,
      trackArns,
      requalificationArn,
      registerLocalRoute: http.registerLocalRoute,
      settle,
      sweep,
      log,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

const SweepSummaryLine = z.object({
  asOf: z.string(),
  counts: z.object({
    reviewed: z.number(),
    changed: z.number(),
    transitions: z.record(z.string(), z.number()),
    actions: z.record(z.string(), z.number()),
  }),
});

/** `reviewed 12, changed 3 (lead->dormant 2, mql->lead 1), nurture stop_nurture 2`. */
function describeCounts(c: z.infer<typeof SweepSummaryLine>['counts']): string {
  const list = (r: Record<string, number>) =>
    Object.entries(r)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const parts = [`reviewed ${c.reviewed}`, `changed ${c.changed} (${list(c.transitions)})`];
  if (Object.keys(c.actions).length > 0) parts.push(`nurture ${list(c.actions)}`);
  return parts.join(', ');
}

/** What Lambda sends an on-failure destination for a stream batch it gave up on (`DDBStreamBatchInfo`). */
function streamFailureRecord(entry: DeadLetter, functionLogicalId: string) {
  return {
    requestContext: {
      requestId: entry.sequenceNumber,
      functionArn: functionLogicalId,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: entry.attempts,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: entry.reason },
    version: '1.0',
    timestamp: entry.at,
    DDBStreamBatchInfo: {
      shardId: entry.shardId,
      startSequenceNumber: entry.sequenceNumber,
      endSequenceNumber: entry.sequenceNumber,
      batchSize: 1,
      streamArn: entry.streamArn,
    },
  };
}

/** Loads the template's SES templates into the emulator, so the SES API shows what is deployed. */
async function loadTemplatesIntoSes(endpoint: string, region: string, deployment: LocalDeployment): Promise<void> {
  const client = new SESv2Client({ endpoint, region, credentials: LOCAL_CREDENTIALS });
  try {
    for (const t of deployment.emailTemplates) {
      const content = { Subject: t.subject, Html: t.html, Text: t.text };
      try {
        await client.send(new CreateEmailTemplateCommand({ TemplateName: t.name, TemplateContent: content }));
      } catch (e) {
        if (!(e instanceof AlreadyExistsException)) throw e;
        await client.send(new UpdateEmailTemplateCommand({ TemplateName: t.name, TemplateContent: content }));
      }
    }
  } finally {
    client.destroy();
  }
}

const jsonAnswer = (status: number, body: unknown) => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify(body),
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export { LambdaFunctionError };

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
