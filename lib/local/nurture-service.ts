import {
  AlreadyExistsException,
  CreateEmailTemplateCommand,
  SESv2Client,
  UpdateEmailTemplateCommand,
} from '@aws-sdk/client-sesv2';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { loadEmailTemplates } from '../email/catalog.js';
import { localStateMachineArn, synthesizeNurture } from './nurture-synth.js';
import { freePort } from './ports.js';
import { runsRoute, startLocalStepFunctionsApi, type LocalStepFunctionsApi } from './sfn-api.js';
import type { LocalService, LocalStackContext, StartedService } from './stack.js';
import { LocalNurtureRunner, type TaskHandler } from './stepfunctions.js';

/**
 * The nurture part of `npm start` (DESIGN §9), as a service of lib/local/stack.ts: the synthesized state machines
 * run by the local runner on the stack's scaled clock, the email templates in local SES, the Step Functions API at
 * `SFN_ENDPOINT` (what the scoring pipeline's starter calls) and the runs at `/_local/runs`.
 */

/** Port of the local Step Functions API (`SFN_ENDPOINT`). */
export const DEFAULT_SFN_PORT = 8083;

/**
 * What the handlers need to reach the local Step Functions: set it before the handler modules are imported (the
 * scoring pipeline's `nurtureStarterFromEnv` reads it). The ARNs are known before synthesis.
 */
export function localNurtureEnvironment(opts: { region: string; sfnPort?: number }): Record<string, string> {
  const arns = Object.fromEntries(
    DEFAULT_NURTURE_PLAN.tracks.map((t) => [t.id, localStateMachineArn(t.id, opts.region)]),
  );
  return {
    SFN_ENDPOINT: `http://127.0.0.1:${opts.sfnPort ?? DEFAULT_SFN_PORT}`,
    NURTURE_STATE_MACHINES: JSON.stringify(arns),
  };
}

export interface NurtureServiceOptions {
  /** @default DEFAULT_SFN_PORT (0 picks a free one) */
  sfnPort?: number;
}

export interface StartedNurture extends StartedService {
  runner: LocalNurtureRunner;
  api: LocalStepFunctionsApi;
}

/**
 * Starts the nurture state machines locally: synthesizes them from the CDK construct, loads the email templates
 * into local SES, binds the tasks to the handler modules, runs them on the stack's scaled clock, serves the Step
 * Functions API at `SFN_ENDPOINT` and the runs at `/_local/runs`.
 */
export async function startLocalNurture(
  ctx: LocalStackContext,
  opts: NurtureServiceOptions = {},
): Promise<StartedNurture> {
  const synthesized = synthesizeNurture({ region: ctx.region });
  await loadTemplatesIntoSes(ctx.sesEndpoint, ctx.region, process.env.NURTURE_TEMPLATE_PREFIX ?? 'leadloop');
  const handlers: Record<string, TaskHandler> = {};
  for (const fn of Object.values(synthesized.functions))
    handlers[fn.handlerName] = await ctx.loadHandler(fn.handlerName);
  const runner = new LocalNurtureRunner({
    synthesized,
    handlers,
    time: { kind: 'scaled', clock: ctx.clock, daySeconds: ctx.daySeconds },
    log: ctx.log,
  });
  const api = await startLocalStepFunctionsApi({ runner, port: opts.sfnPort ?? DEFAULT_SFN_PORT });
  Object.assign(process.env, localNurtureEnvironment({ region: ctx.region, sfnPort: api.port }));
  const routes = runsRoute(runner);
  const unregister = [
    ctx.registerLocalRoute('GET', '/_local/runs', routes),
    ctx.registerLocalRoute('GET', '/_local/runs/{name}', routes),
  ];
  return {
    runner,
    api,
    describe: [
      `Nurture state machines ${Object.keys(synthesized.machines).join(', ')} (runs: ${ctx.url}/_local/runs)`,
      `Local Step Functions   ${api.url}   (aws stepfunctions … --endpoint-url ${api.url})`,
    ],
    stop: async () => {
      for (const u of unregister) u();
      await runner.stopAll();
      await api.close();
    },
  };
}

/**
 * `startLocalStack({ services: [nurtureService()] })`. Its environment (the local Step Functions endpoint and the
 * state machine ARNs) is handed to the stack before any handler module is imported, so the scoring pipeline's
 * starter is configured from the first record.
 */
export function nurtureService(opts: NurtureServiceOptions = {}): LocalService {
  let sfnPort = opts.sfnPort ?? DEFAULT_SFN_PORT;
  return {
    name: 'nurture',
    environment: async (info) => {
      if (sfnPort === 0) sfnPort = await freePort();
      return localNurtureEnvironment({ region: info.region, sfnPort });
    },
    start: (ctx) => startLocalNurture(ctx, { ...opts, sfnPort }),
  };
}

/** Creates (or updates) every nurture template in a local SES. */
export async function loadTemplatesIntoSes(endpoint: string, region: string, prefix: string): Promise<number> {
  const ses = new SESv2Client({ endpoint, region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  try {
    const templates = loadEmailTemplates({ prefix });
    for (const t of templates) {
      const content = { Subject: t.subject, Html: t.html, Text: t.text };
      try {
        await ses.send(new CreateEmailTemplateCommand({ TemplateName: t.name, TemplateContent: content }));
      } catch (e) {
        if (!(e instanceof AlreadyExistsException)) throw e;
        await ses.send(new UpdateEmailTemplateCommand({ TemplateName: t.name, TemplateContent: content }));
      }
    }
    return templates.length;
  } finally {
    ses.destroy();
  }
}
