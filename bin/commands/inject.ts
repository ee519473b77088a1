/**
 * `npm run leadloop -- inject bounce|complaint|open|click|unsubscribe --email a@b.com [options]`: builds the SES
 * record SES would publish for that address and posts it to a running local stack's `POST /_local/ses`, which feeds
 * it to the engagement handler in the EventBridge → SQS envelope. Then it shows what became of the lead.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as z from 'zod';
import {
  bounceRecord,
  clickRecord,
  complaintRecord,
  localMessageId,
  openRecord,
  postToLoopback,
  unsubscribeRecord,
  type LocalMail,
  type SesRecordJson,
} from '../../lib/local/adapters/ses-simulator.js';
import { Email } from '../../lambdas/domain/identity.js';

const KINDS = ['bounce', 'complaint', 'open', 'click', 'unsubscribe'] as const;
type Kind = (typeof KINDS)[number];

const USAGE = `usage: npm run leadloop -- inject <${KINDS.join('|')}> --email <address> [options]

  --permanent | --transient   bounce type (default --permanent)
  --url <base>                the running stack (default http://127.0.0.1:$PORT, PORT defaulting to 3000)
  --link <url>                the clicked link (click; default https://example.com/)
  --lead-id <id>              set the leadId message tag (default: none, the lead is found by address)
  --message-id <id>           the SES message id (default: a new one)
  --at <ISO-8601>             when it happened (default: now)
  --admin-key <key>           to show the lead afterwards (default $LEADLOOP_ADMIN_KEY or dev-admin-key)`;

/** A person's browser: the injected open or click must not look like a scanner's. */
const BROWSER_UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

const LeadSummary = z.object({
  leadId: z.string(),
  stage: z.string(),
  disqualification: z.string().nullable(),
  suppression: z.object({
    unsubscribed: z.boolean(),
    hardBounced: z.boolean(),
    complained: z.boolean(),
    transientBounces: z.number(),
  }),
  scores: z.object({ engagement: z.number(), total: z.number() }).nullable(),
});
type LeadSummary = z.infer<typeof LeadSummary>;

/** Runs the command; returns the process exit code (0 done, 1 failed, 2 usage). */
export async function inject(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (e) {
    return usage(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const kind = KINDS.find((k) => k === positionals[0]);
  if (!kind || positionals.length > 1) return usage(`expected one of ${KINDS.join(', ')}`);
  const email = Email.safeParse(values.email);
  if (!email.success) return usage(`--email ${email.error.issues[0]?.message ?? 'is invalid'}`);
  if (values.permanent && values.transient) return usage('--permanent and --transient exclude each other');
  if ((values.permanent || values.transient) && kind !== 'bounce')
    return usage('--permanent/--transient apply to bounce');
  const at = new Date(values.at ?? Date.now());
  if (Number.isNaN(at.getTime())) return usage('--at must be an ISO-8601 date-time');
  const baseUrl = (values.url ?? `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/+$/, '');
  const adminKey = values['admin-key'] ?? (process.env.LEADLOOP_ADMIN_KEY || 'dev-admin-key');

  const leadId = values['lead-id'];
  const mail: LocalMail = {
    messageId: values['message-id'] ?? localMessageId(),
    to: email.data,
    from: 'Leadloop <hello@leadloop.localhost>',
    subject: `Injected ${kind} (${randomUUID().slice(0, 8)})`,
    tags: leadId ? { leadId } : {},
    // Sent an hour before: an open or click right after delivery would be taken for a link scanner's.
    timestamp: new Date(at.getTime() - 3_600_000),
  };
  const permanent = !values.transient;
  const record = recordFor(kind, mail, at, permanent, values.link ?? 'https://example.com/');
  const what = kind === 'bounce' ? `${permanent ? 'permanent' : 'transient'} bounce` : kind;

  const before = await readLead(baseUrl, adminKey, email.data);
  try {
    const result = await postToLoopback([record], baseUrl);
    if (result.failed.length > 0) {
      console.error(`leadloop: the ${what} for ${email.data} was not recorded: ${result.failed[0]?.reason ?? ''}`);
      return 1;
    }
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    console.error(`leadloop: could not post to ${baseUrl}/_local/ses (is \`npm start\` running?): ${reason}`);
    return 1;
  }
  console.log(`Injected a ${what} for ${email.data} (SES message ${mail.messageId}) into ${baseUrl}.`);
  if (before === 'unreadable') {
    console.log('Could not read the lead back (wrong --admin-key?); see GET /leads?email=.');
    return 0;
  }
  if (before === undefined) {
    console.log(`No lead is registered for ${email.data}: nothing was recorded (unattributed).`);
    return 0;
  }
  const after = await settled(baseUrl, adminKey, email.data, before);
  console.log(`Lead ${before.leadId}:`);
  console.log(`  before  ${describe(before)}`);
  console.log(`  after   ${after ? describe(after) : '(not readable)'}`);
  return 0;
}

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      permanent: { type: 'boolean' },
      transient: { type: 'boolean' },
      url: { type: 'string' },
      link: { type: 'string' },
      'lead-id': { type: 'string' },
      'message-id': { type: 'string' },
      at: { type: 'string' },
      'admin-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function recordFor(kind: Kind, mail: LocalMail, at: Date, permanent: boolean, link: string): SesRecordJson {
  switch (kind) {
    case 'bounce':
      return bounceRecord({ ...mail, timestamp: new Date(at.getTime() - 3_000) }, { permanent, timestamp: at });
    case 'complaint':
      return complaintRecord(mail, { timestamp: at });
    case 'open':
      return openRecord(mail, { timestamp: at, userAgent: BROWSER_UA });
    case 'click':
      return clickRecord(mail, { timestamp: at, userAgent: BROWSER_UA, link });
    case 'unsubscribe':
      return unsubscribeRecord(mail, { timestamp: at });
  }
}

function usage(problem: string): number {
  console.error(`leadloop inject: ${problem}\n\n${USAGE}`);
  return 2;
}

async function readLead(
  baseUrl: string,
  adminKey: string,
  email: string,
): Promise<LeadSummary | undefined | 'unreadable'> {
  try {
    const res = await fetch(`${baseUrl}/leads?email=${encodeURIComponent(email)}`, {
      headers: { 'x-admin-key': adminKey },
    });
    if (res.status === 404) return undefined;
    if (res.status !== 200) return 'unreadable';
    const lead = LeadSummary.safeParse(await res.json());
    return lead.success ? lead.data : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** The lead once the stream poller has scored the new event (or as it is after a few seconds). */
async function settled(
  baseUrl: string,
  adminKey: string,
  email: string,
  before: LeadSummary,
): Promise<LeadSummary | undefined> {
  let last: LeadSummary | undefined;
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const lead = await readLead(baseUrl, adminKey, email);
    if (lead === undefined || lead === 'unreadable') return last;
    last = lead;
    if (describe(lead) !== describe(before)) return lead;
  }
  return last;
}

function describe(lead: LeadSummary): string {
  const s = lead.suppression;
  const flags = [s.unsubscribed && 'unsubscribed', s.hardBounced && 'hard-bounced', s.complained && 'complained']
    .filter((f): f is string => typeof f === 'string')
    .concat(s.transientBounces > 0 ? [`${s.transientBounces} transient bounce(s) in a row`] : []);
  const stage = lead.disqualification ? `${lead.stage} (${lead.disqualification})` : lead.stage;
  const score = lead.scores
    ? `engagement ${lead.scores.engagement.toFixed(1)}, total ${lead.scores.total.toFixed(1)}`
    : 'not scored';
  return `stage ${stage}; ${score}; suppression: ${flags.length > 0 ? flags.join(', ') : 'none'}`;
}
