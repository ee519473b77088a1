/**
 * `npx tsx bench/nurture.ts`: the nurture state machines as synthesized from the CDK construct, run by the local
 * runner (aws-local-stepfunctions) on a virtual clock. Prints
 * - state transitions per touch and per completed track, for each track and ending (Step Functions Standard bills
 *   per state transition: $0.025 per 1,000);
 * - the local runner's executions per second, end to end (task handlers, DynamoDB Local, local SES) and with stub
 *   tasks (the runner alone);
 * - the Step Functions cost per 1,000 nurtured leads, per ending and for a blended mix of endings.
 *
 * Options (environment): BENCH_RUNS (default 100 concurrent runs for throughput).
 */
import { CreateEmailTemplateCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { DynamoLeadRepository } from '../lambdas/adapters/dynamo-lead-repository.js';
import { SesMailer } from '../lambdas/adapters/ses-mailer.js';
import { DynamoSendingStore } from '../lambdas/adapters/dynamo-sending-store.js';
import { fixedClock } from '../lambdas/domain/clock.js';
import { newLead, type Lead } from '../lambdas/domain/lead.js';
import { markUnresponsive } from '../lambdas/domain/lifecycle.js';
import { DEFAULT_NURTURE_PLAN } from '../lambdas/domain/nurture/default-tracks.js';
import { staticSigningKeys } from '../lambdas/domain/nurture/unsubscribe-token.js';
import type { NurtureDeps } from '../lambdas/domain/nurture/nurture-tasks.js';
import { NurtureTaskInput } from '../lambdas/domain/nurture/steps.js';
import { defaultModel } from '../lambdas/domain/scoring/index.js';
import { loadEmailTemplates } from '../lib/email/catalog.js';
import { ensureTable, startDynamoDbLocal } from '../lib/local/dynamodb.js';
import { tableProperties } from '../test/support/deployment.js';
import { inProcessInvoker, nurtureDefinitions } from '../test/workflow/nurture-harness.js';
import { freePort } from '../lib/local/ports.js';
import { startLocalSes } from '../lib/local/ses.js';
import {
  LocalStepFunctions,
  type AslDefinition,
  type RunRecord,
  type TaskHandler,
  type WaitInfo,
} from '../lib/local/stepfunctions.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 100);
/** Step Functions Standard, per state transition (public price, us-east-1; the 4,000 free per month are ignored). */
const USD_PER_TRANSITION = 0.025 / 1000;
/** How nurtured leads end, for the blended cost (an assumption: edit to your funnel). */
const MIX = { exhausted: 0.6, promotedAfterFirst: 0.15, unsubscribedAfterFirst: 0.25 } as const;
const TABLE = 'leadloop-bench-nurture';
const REGION = 'us-east-1';

process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.AWS_REGION ??= REGION;

const usd = (n: number) => `$${n.toFixed(n < 0.1 ? 4 : 2)}`;
const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lambdaInvocations = (r: RunRecord) =>
  r.history.filter((e) => e.type === 'StateEntered' && e.stateType === 'Task').length;

async function main(): Promise<void> {
  const ddb = await startDynamoDbLocal({ port: await freePort() });
  const ses = await startLocalSes({ port: 0 });
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const ddbClient = new DynamoDBClient({ endpoint: ddb.endpoint, region: REGION, credentials });
  const sesClient = new SESv2Client({ endpoint: ses.endpoint, region: REGION, credentials });
  try {
    await ensureTable(ddbClient, TABLE, tableProperties());
    for (const t of loadEmailTemplates({ prefix: 'leadloop' })) {
      await sesClient.send(
        new CreateEmailTemplateCommand({
          TemplateName: t.name,
          TemplateContent: { Subject: t.subject, Html: t.html, Text: t.text },
        }),
      );
    }
    const doc = DynamoDBDocumentClient.from(ddbClient, { marshallOptions: { removeUndefinedValues: true } });
    const repo = new DynamoLeadRepository(doc, TABLE);
    const clock = fixedClock('2026-03-02T15:00:00.000Z');
    const deps: NurtureDeps = {
      leads: repo,
      clock,
      mailer: new SesMailer(sesClient),
      plan: DEFAULT_NURTURE_PLAN,
      mail: {
        from: 'hello@leadloop.bench',
        configurationSetName: 'leadloop-bench',
        templatePrefix: 'leadloop',
        mailingAddress: 'Leadloop, 1 Bench Street',
        siteUrl: 'https://leadloop.bench',
        unsubscribeBaseUrl: 'https://api.leadloop.bench/unsubscribe',
      },
      signingKeys: staticSigningKeys('k1', { k1: 'bench-unsubscribe-secret-0123456789' }),
      sending: new DynamoSendingStore(doc, TABLE),
      maxWriteAttempts: 20,
      markUnresponsive: (lead, now) => markUnresponsive(lead, defaultModel, now),
    };
    const [touch, evaluate, handoff, recordFailure] = await Promise.all([
      import('../lambdas/handlers/nurture-touch.js'),
      import('../lambdas/handlers/nurture-evaluate.js'),
      import('../lambdas/handlers/nurture-handoff.js'),
      import('../lambdas/handlers/nurture-record-failure.js'),
    ]);
    const handlers: Record<string, TaskHandler> = {
      'nurture-touch': touch.createHandler(() => deps),
      'nurture-evaluate': evaluate.createHandler(() => deps),
      'nurture-handoff': handoff.createHandler(() => deps),
      'nurture-record-failure': recordFailure.createHandler(() => deps),
    };

    const t0 = Date.now();
    const { deployment } = nurtureDefinitions();
    const synthMs = Date.now() - t0;
    const machines = Object.values(deployment.stateMachines)
      .filter((m) => m.track !== undefined)
      .map((m) => ({ arn: m.arn, definition: m.definition as AslDefinition, track: m.track ?? '' }));
    let onWait: ((w: WaitInfo) => Promise<void> | void) | undefined;
    const runner = new LocalStepFunctions({
      machines,
      invoke: inProcessInvoker(deployment, handlers),
      time: { kind: 'virtual', clock, onWait: (w) => onWait?.(w) },
    });

    const createLead = async (stage: Lead['stage']): Promise<Lead> => {
      const leadId = ulid();
      const lead: Lead = {
        ...newLead(leadId, `${leadId.toLowerCase()}@bench.example.com`, clock.now()),
        stage,
        profile: { firstName: 'Ada', company: 'Bench Co', industry: 'Real estate', timeZone: 'UTC' },
        consent: { marketing: true, at: clock.now().toISOString(), source: 'bench' },
        scores: {
          fit: 40,
          engagement: 20,
          total: 60,
          grade: 'B',
          contributions: [],
          scoredAt: clock.now().toISOString(),
          caps: {},
        },
      };
      await repo.createLead(lead);
      return lead;
    };
    const change = async (leadId: string, patch: Partial<Lead>) => {
      const l = await repo.getLead(leadId);
      if (l) await repo.commitScoring({ ...l, ...patch, version: l.version + 1 }, [], []);
    };
    const run = async (lead: Lead, track: string): Promise<RunRecord> => {
      const name = `${lead.leadId}-${track}`;
      // Recorded on the lead first, as enrollment does: only the lead's current run mails it.
      await change(lead.leadId, {
        nurture: {
          track,
          executionName: name,
          status: 'active',
          enrolledAt: clock.now().toISOString(),
          touchesSent: 0,
        },
      });
      runner.startTrack({ leadId: lead.leadId, track, executionName: name });
      return runner.settled(name);
    };

    // 1. Transitions per track and ending.
    console.log(
      `\nNurture state machines: ${machines.map((m) => m.track).join(', ')} (synthesized in ${synthMs} ms)\n`,
    );
    console.log(
      `${pad('track', 14)}${pad('ending', 28)}${pad('touches', 9)}${pad('transitions', 13)}${pad('per touch', 11)}${pad('Lambda calls', 14)}cost / 1,000 leads`,
    );
    const blended: Record<string, number> = {};
    for (const track of DEFAULT_NURTURE_PLAN.tracks) {
      const stage = track.entry.stages[0] ?? 'lead';
      const endings: [keyof typeof MIX, string, ((leadId: string) => (w: WaitInfo) => Promise<void>) | undefined][] = [
        ['exhausted', 'exhausted (unresponsive)', undefined],
        [
          'promotedAfterFirst',
          'promoted after touch 1',
          (id) => async (w) => {
            if (w.state.startsWith('Wait ') && !w.state.includes('window')) await change(id, { stage: 'sql' });
          },
        ],
        [
          'unsubscribedAfterFirst',
          'unsubscribed after touch 1',
          (id) => async (w) => {
            if (w.state.startsWith('Wait ') && !w.state.includes('window'))
              await change(id, {
                suppression: { unsubscribed: true, hardBounced: false, complained: false, transientBounces: 0 },
              });
          },
        ],
      ];
      let trackBlend = 0;
      for (const [key, label, hook] of endings) {
        // Every path starts on a Monday afternoon, so waits do not land on a weekend by accident of the order.
        clock.set('2026-03-02T15:00:00.000Z');
        const lead = await createLead(stage);
        onWait = hook?.(lead.leadId);
        const r = await run(lead, track.id);
        onWait = undefined;
        const touches = (await repo.listEvents(lead.leadId)).filter((e) => e.type === 'email_sent').length;
        const cost = r.transitions * USD_PER_TRANSITION * 1000;
        trackBlend += MIX[key] * cost;
        console.log(
          `${pad(track.id, 14)}${pad(label, 28)}${pad(touches, 9)}${pad(r.transitions, 13)}${pad(touches ? (r.transitions / touches).toFixed(1) : '-', 11)}${pad(lambdaInvocations(r), 14)}${usd(cost)}`,
        );
      }
      blended[track.id] = trackBlend;
    }
    console.log(
      '\nPer touch: 5 transitions (send, sent?, wait, re-evaluate, promoted?) plus 3 for each wait for the send window' +
        ' or the frequency cap; a completed track adds 1 (its end state), a hand-off 2.',
    );
    console.log(
      `\nBlended Step Functions cost per 1,000 nurtured leads (${Object.entries(MIX)
        .map(([k, v]) => `${Math.round(v * 100)}% ${k}`)
        .join(', ')}):`,
    );
    for (const [track, cost] of Object.entries(blended)) console.log(`  ${pad(track, 14)}${usd(cost)}`);

    // 2. Throughput, end to end.
    clock.set('2026-03-02T15:00:00.000Z');
    const leads = await Promise.all(Array.from({ length: RUNS }, () => createLead('subscriber')));
    const e2eStart = Date.now();
    const records = await Promise.all(leads.map((l) => run(l, 'newsletter')));
    const e2eMs = Date.now() - e2eStart;
    const transitions = records.reduce((n, r) => n + r.transitions, 0);
    const failed = records.filter((r) => r.status !== 'SUCCEEDED').length;
    console.log(
      `\nLocal runner, end to end (handlers + DynamoDB Local + local SES), ${RUNS} concurrent newsletter runs: ` +
        `${(RUNS / (e2eMs / 1000)).toFixed(1)} executions/s, ${(transitions / (e2eMs / 1000)).toFixed(0)} transitions/s` +
        `${failed ? ` (${failed} not succeeded)` : ''}`,
    );

    // 3. Throughput of the runner alone: the same definitions, tasks answering at once.
    const stub =
      (fn: (input: NurtureTaskInput) => object): TaskHandler =>
      async (event) =>
        fn(NurtureTaskInput.parse(event));
    const touches = Object.fromEntries(DEFAULT_NURTURE_PLAN.tracks.map((t) => [t.id, t.touches.length]));
    const stubRunner = new LocalStepFunctions({
      machines,
      invoke: inProcessInvoker(deployment, {
        'nurture-touch': stub((i) => ({ ...i, outcome: 'sent', reason: 'sent' })),
        'nurture-evaluate': stub((i) => ({
          ...i,
          decision: i.touch < (touches[i.track] ?? 0) ? 'next' : 'unresponsive',
        })),
        'nurture-handoff': stub((i) => ({ ...i, promotionId: 'p' })),
        'nurture-record-failure': stub((i) => ({ ...i, recorded: true })),
      }),
      time: { kind: 'virtual', clock },
    });
    const stubRuns = RUNS * 10;
    const stubStart = Date.now();
    await Promise.all(
      Array.from({ length: stubRuns }, (_, i) =>
        stubRunner.startTrack({ leadId: `L${i}`, track: 'newsletter', executionName: `stub-${i}` }),
      ),
    );
    await stubRunner.idle();
    const stubMs = Date.now() - stubStart;
    const stubTransitions = stubRunner.list().reduce((n, r) => n + r.transitions, 0);
    console.log(
      `Local runner alone (stub tasks), ${stubRuns} concurrent newsletter runs: ${(stubRuns / (stubMs / 1000)).toFixed(0)} executions/s, ` +
        `${(stubTransitions / (stubMs / 1000)).toFixed(0)} transitions/s\n`,
    );
  } finally {
    sesClient.destroy();
    ddbClient.destroy();
    await ses.stop();
    await ddb.stop();
  }
}

await main();
