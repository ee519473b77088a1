import { CreateEmailTemplateCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { ulid } from 'ulid';
import * as z from 'zod';
import { fixedClock, scaledClock, type Clock } from '../../lambdas/domain/clock.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { LEAD_PROMOTED, LeadPromoted } from '../../lambdas/domain/lead-events.js';
import type { NurtureDeps } from '../../lambdas/domain/nurture/nurture-tasks.js';
import { assignmentFor, type Assignment } from '../../lambdas/domain/nurture/experiments.js';
import { trackById } from '../../lambdas/domain/nurture/tracks.js';
import type { Mailer } from '../../lambdas/domain/nurture/ports.js';
import { staticSigningKeys, type SigningKeys } from '../../lambdas/domain/nurture/unsubscribe-token.js';
import { SesMailer } from '../../lambdas/adapters/ses-mailer.js';
import { DynamoSendingStore } from '../../lambdas/adapters/dynamo-sending-store.js';
import { markUnresponsive } from '../../lambdas/domain/lifecycle.js';
import { defaultModel } from '../../lambdas/domain/scoring/index.js';
import { loadEmailTemplates } from '../../lib/email/catalog.js';
import { startLocalSes, type LocalSes } from '../../lib/local/ses.js';
import type { LocalDeployment } from '../../lib/local/deployment.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import type { InvokeResult } from '../../lib/local/lambda.js';
import {
  LocalStepFunctions,
  type AslDefinition,
  type RunRecord,
  type TaskHandler,
  type WaitInfo,
} from '../../lib/local/stepfunctions.js';
import { testDeployment } from '../support/deployment.js';
import { testRepository } from '../support/dynamo.js';

/**
 * The workflow tests' world: the synthesized state machines run by the local runner on a virtual clock, their tasks
 * bound to the real handler modules (`createHandler` on test dependencies), DynamoDB Local (globalSetup) and a local
 * SES started here with the real templates loaded.
 */

export const UNSUBSCRIBE_SECRET = 'workflow-test-unsubscribe-secret';

const StoredEmail = z.object({
  messageId: z.string(),
  from: z.string(),
  destination: z.object({ to: z.array(z.string()) }),
  subject: z.string(),
  body: z.object({ html: z.string().optional(), text: z.string().optional() }),
  headers: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
});
export type StoredEmail = z.infer<typeof StoredEmail>;

/** The synthesized stack's nurture state machines, by track (synthesized once per test file). */
export function nurtureDefinitions(): { deployment: LocalDeployment; machines: Record<string, AslDefinition> } {
  const deployment = testDeployment(process.env.TABLE_NAME ?? 'leadloop-test');
  const machines: Record<string, AslDefinition> = {};
  for (const m of Object.values(deployment.stateMachines)) {
    if (m.track) machines[m.track] = m.definition as AslDefinition;
  }
  return { deployment, machines };
}

/**
 * An invoker that runs each function of the deployment in this process, by its handler module's name: how the
 * workflow tests bind the synthesized definitions to `createHandler` on test dependencies (a controllable clock).
 */
export function inProcessInvoker(
  deployment: LocalDeployment,
  handlers: Record<string, TaskHandler>,
): (arn: string, payload: unknown) => Promise<InvokeResult> {
  return async (arn, payload) => {
    const fn = deployment.functionFor(arn);
    const name = fn?.handler.replace(/^.*\//, '').replace(/\.ts$/, '');
    const handler = name === undefined ? undefined : handlers[name];
    if (!fn || !handler) {
      return { ok: false, errorType: 'ResourceNotFoundException', errorMessage: `no handler for ${arn}`, trace: [] };
    }
    try {
      const result = await handler(
        payload,
        lambdaContext({ functionName: fn.name, region: 'us-east-1', timeoutMs: fn.timeoutMs }),
      );
      return { ok: true, payload: JSON.parse(JSON.stringify(result ?? null)) as unknown };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      return { ok: false, errorType: err.name, errorMessage: err.message, trace: (err.stack ?? '').split('\n') };
    }
  };
}

export type SettableClock = Clock & { set(at: Date | string): void };

export interface Harness {
  clock: SettableClock;
  deps: NurtureDeps;
  runner: LocalStepFunctions;
  ses: LocalSes;
  /** The promotions recorded for a lead (its outbox), oldest first. */
  promotions(leadId: string): Promise<LeadPromoted[]>;
  repo: ReturnType<typeof testRepository>['repo'];
  signingKeys: SigningKeys;
  /** Set per test: what happens "during" a wait (before the next task runs). */
  onWait: ((wait: WaitInfo) => Promise<void> | void) | undefined;
  /** Wraps the mailer (e.g. to fail once); reset per test. */
  mailerOverride: Mailer | undefined;
  createLead(overrides?: Partial<Lead>): Promise<Lead>;
  /** Records a run as the lead's current nurture run (and its experiment arm), as enrollment does before starting it. */
  enroll(lead: Lead, track: string, executionName: string, assignment?: Assignment): Promise<void>;
  /**
   * Starts a run of a track for a lead (recorded on the lead first) and waits until it ends; on a track with an
   * experiment the lead's arm is the one enrollment would give it, unless `assignment` says otherwise.
   */
  runTrack(lead: Lead, track: string, executionName?: string, assignment?: Assignment): Promise<RunRecord>;
  mailTo(email: string): Promise<StoredEmail[]>;
  /** Names of the states the run entered, in order. */
  statesOf(run: RunRecord): string[];
  stop(): Promise<void>;
}

/**
 * `daySeconds` runs the waits in scaled real time (as `npm start` does: a simulated day lasts that many real seconds)
 * on a clock anchored now; without it, waits are virtual and the clock starts at `start`.
 */
export async function startHarness(opts: { start?: string; daySeconds?: number } = {}): Promise<Harness> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const [touch, holdOut, evaluate, handoff, recordFailure] = await Promise.all([
    import('../../lambdas/handlers/nurture-touch.js'),
    import('../../lambdas/handlers/nurture-hold-out.js'),
    import('../../lambdas/handlers/nurture-evaluate.js'),
    import('../../lambdas/handlers/nurture-handoff.js'),
    import('../../lambdas/handlers/nurture-record-failure.js'),
  ]);
  const ses = await startLocalSes({ port: 0 });
  const client = new SESv2Client({
    endpoint: ses.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  for (const t of loadEmailTemplates({ prefix: 'leadloop-dev' })) {
    await client.send(
      new CreateEmailTemplateCommand({
        TemplateName: t.name,
        TemplateContent: { Subject: t.subject, Html: t.html, Text: t.text },
      }),
    );
  }
  const { repo, doc } = testRepository();
  const fixed = fixedClock(opts.start ?? '2026-03-02T14:00:00.000Z');
  const scaled = opts.daySeconds !== undefined ? scaledClock(opts.daySeconds, new Date()) : undefined;
  const clock: SettableClock = scaled
    ? {
        now: () => scaled.now(),
        set: () => {
          throw new Error('scaled time cannot be set');
        },
      }
    : fixed;
  const signingKeys = staticSigningKeys('k1', { k1: UNSUBSCRIBE_SECRET });
  const sesMailer = new SesMailer(client);
  let mailerOverride: Mailer | undefined;
  const deps: NurtureDeps = {
    leads: repo,
    clock,
    mailer: { send: (email) => (mailerOverride ?? sesMailer).send(email) },
    plan: DEFAULT_NURTURE_PLAN,
    mail: {
      from: 'hello@leadloop.test',
      configurationSetName: 'leadloop-test',
      templatePrefix: 'leadloop-dev',
      mailingAddress: 'Leadloop, 1 Test Street, Springfield',
      siteUrl: 'https://leadloop.test',
      unsubscribeBaseUrl: 'https://api.leadloop.test/unsubscribe',
    },
    signingKeys,
    sending: new DynamoSendingStore(doc, process.env.TABLE_NAME ?? 'leadloop-test'),
    maxWriteAttempts: 10,
    markUnresponsive: (lead, now) => markUnresponsive(lead, defaultModel, now),
  };
  let onWait: Harness['onWait'];
  const { deployment } = nurtureDefinitions();
  const runner = new LocalStepFunctions({
    machines: Object.values(deployment.stateMachines)
      .filter((m) => m.track !== undefined)
      .map((m) => ({ arn: m.arn, definition: m.definition as AslDefinition, track: m.track ?? '' })),
    invoke: inProcessInvoker(deployment, {
      'nurture-touch': touch.createHandler(() => deps),
      'nurture-hold-out': holdOut.createHandler(() => deps),
      'nurture-evaluate': evaluate.createHandler(() => deps),
      'nurture-handoff': handoff.createHandler(() => deps),
      'nurture-record-failure': recordFailure.createHandler(() => deps),
    }),
    time:
      opts.daySeconds !== undefined
        ? { kind: 'scaled', clock, daySeconds: opts.daySeconds }
        : { kind: 'virtual', clock, onWait: (w) => onWait?.(w) },
  });
  const harness: Harness = {
    clock,
    ses,
    async promotions(leadId) {
      const items = await repo.partitionItems(leadId);
      return items
        .filter((i) => String(i.sk).startsWith('OUTBOX#') && i.type === LEAD_PROMOTED)
        .map((i) => LeadPromoted.parse(i.detail));
    },
    repo,
    signingKeys,
    deps,
    runner,
    get onWait() {
      return onWait;
    },
    set onWait(hook) {
      onWait = hook;
    },
    get mailerOverride() {
      return mailerOverride;
    },
    set mailerOverride(mailer) {
      mailerOverride = mailer;
    },
    async createLead(overrides = {}) {
      const leadId = ulid();
      const base = newLead(leadId, `${leadId.toLowerCase()}@example-corp.com`, clock.now());
      const lead: Lead = {
        ...base,
        consent: { marketing: true, at: clock.now().toISOString(), source: 'form:newsletter' },
        ...overrides,
        profile: { firstName: 'Ada', company: 'Analytical & Co', timeZone: 'UTC', ...overrides.profile },
        version: 0,
      };
      await repo.createLead(lead);
      return lead;
    },
    async runTrack(lead, track, executionName = `${lead.leadId}-${track}`, assignment = undefined) {
      const arm = assignment ?? assignmentFor(lead.leadId, trackById(DEFAULT_NURTURE_PLAN, track));
      await harness.enroll(lead, track, executionName, arm);
      runner.startTrack({ leadId: lead.leadId, track, executionName, ...arm });
      return runner.settled(executionName);
    },
    async mailTo(email) {
      const res = await fetch(`${ses.endpoint}/store`);
      const body = z.object({ emails: z.array(StoredEmail) }).parse(await res.json());
      return body.emails.filter((m) => m.destination.to.includes(email));
    },
    async enroll(lead, track, executionName, assignment = undefined) {
      // What enrollment writes before it starts a run: only the lead's current run mails it.
      const stored = await repo.getLead(lead.leadId);
      if (!stored) return;
      const nurture = {
        track,
        executionName,
        ...assignment,
        status: 'active' as const,
        enrolledAt: clock.now().toISOString(),
        touchesSent: 0,
      };
      await repo.commitScoring({ ...stored, nurture, version: stored.version + 1 }, [], []);
    },
    statesOf: (run) => run.history.filter((h) => h.type === 'StateEntered').map((h) => h.state ?? ''),
    async stop() {
      await runner.stopAll();
      client.destroy();
      await ses.stop();
    },
  };
  return harness;
}
