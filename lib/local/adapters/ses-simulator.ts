/**
 * Local-only stand-in for what SES does around a send (DESIGN §9, engagement loop-back): the SES-shaped Send and
 * Delivery records of a local send, the open pixel and click-tracking links SES would put in the mail (pointing at
 * the local tracking endpoint instead), the Open, Click, Bounce, Complaint and Subscription records those produce,
 * and the POST that feeds records to a running local stack's `/_local/ses`.
 *
 * Active only when `LEADLOOP_LOCAL_TRACKING_URL` is set (the local stack sets it; AWS never does). Tracking links
 * carry what the endpoint needs to build the record (recipient, tags, send time) in a token signed with HMAC-SHA256,
 * so the endpoint is stateless (it survives restarts, unlike an in-memory store) and cannot be used to forge events
 * about another lead or to redirect to an arbitrary site.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';

/** A JSON value: what the records are made of. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** One SES event record, exactly as SES publishes it (the `detail` of the EventBridge event). */
export type SesRecordJson = { eventType: string; mail: { [key: string]: Json } } & { [key: string]: Json };

/** Message tags: as the SES v2 API takes them (`EmailTags`), or as a name → value map. */
export type MailTags = Readonly<Record<string, string>> | readonly { readonly Name: string; readonly Value: string }[];

/** A mail as the local mailer sent it. */
export interface LocalMail {
  /** Use {@link localMessageId} before rendering: the tracking links need it before SES would return one. */
  messageId: string;
  to: string | readonly string[];
  /** The From header, e.g. `Leadloop <hello@news.example.com>`. */
  from: string;
  subject: string;
  /** The EmailTags of the send (`leadId`, `track`, `touch`, …). */
  tags: MailTags;
  /** When it was sent (the stack's clock). */
  timestamp: Date | string;
  /** @default 'leadloop' */
  configurationSet?: string;
}

export interface LocalTracking {
  /** The local stack's base URL, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** The HMAC key of tracking tokens. */
  secret: string;
}

/** Used when `LEADLOOP_LOCAL_TRACKING_SECRET` is not set. Local only: the endpoint exists only on a laptop. */
export const DEFAULT_LOCAL_TRACKING_SECRET = 'leadloop-local-tracking-secret (local only)';

const LOCAL_ACCOUNT = '000000000000';
const LOCAL_MTA = 'local-ses.leadloop.localhost';
/** How long the simulated SES takes from send to delivery. */
export const LOCAL_DELIVERY_MILLIS = 500;

/** The HMAC key of tracking tokens: `LEADLOOP_LOCAL_TRACKING_SECRET`, else the local default. */
export const localTrackingSecret = (env: NodeJS.ProcessEnv = process.env): string =>
  env.LEADLOOP_LOCAL_TRACKING_SECRET || DEFAULT_LOCAL_TRACKING_SECRET;

/** Local tracking settings, or undefined when local tracking is off (always on AWS). */
export function localTrackingFromEnv(env: NodeJS.ProcessEnv = process.env): LocalTracking | undefined {
  const baseUrl = env.LEADLOOP_LOCAL_TRACKING_URL?.trim();
  if (!baseUrl) return undefined;
  return { baseUrl: baseUrl.replace(/\/+$/, ''), secret: localTrackingSecret(env) };
}

/** An id shaped like SES's (`<16 hex>-<uuid-like>-000000`), made before the send so links can carry it. */
export function localMessageId(): string {
  const hex = randomBytes(24).toString('hex');
  return `${hex.slice(0, 16)}-${hex.slice(16, 24)}-${hex.slice(24, 28)}-${hex.slice(28, 32)}-${hex.slice(32, 36)}-${hex.slice(36, 48)}-000000`;
}

// ---------------------------------------------------------------------------------------------------------------
// Records

const recipients = (to: LocalMail['to']): string[] => (typeof to === 'string' ? [to] : [...to]);
const iso = (t: Date | string): string => new Date(t).toISOString();
const domainOf = (from: string): string => {
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from;
  return address
    .slice(address.lastIndexOf('@') + 1)
    .trim()
    .toLowerCase();
};

const isTagList = (tags: MailTags): tags is readonly { readonly Name: string; readonly Value: string }[] =>
  Array.isArray(tags);

function tagMap(tags: MailTags): Record<string, string> {
  if (isTagList(tags)) return Object.fromEntries(tags.map((t) => [t.Name, t.Value]));
  return { ...tags };
}

/** The `mail` object SES puts in every record of a message. */
function mailObject(mail: LocalMail, extraTags: Record<string, string> = {}): { [key: string]: Json } {
  const to = recipients(mail.to);
  const domain = domainOf(mail.from);
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const tags: Record<string, string[]> = {
    'ses:operation': ['SendEmail'],
    ...(mail.configurationSet !== undefined && { 'ses:configuration-set': [mail.configurationSet] }),
    'ses:source-ip': ['127.0.0.1'],
    'ses:from-domain': [domain],
    'ses:caller-identity': ['leadloop-local'],
    ...Object.fromEntries(Object.entries(extraTags).map(([k, v]) => [k, [v]])),
  };
  for (const [name, value] of Object.entries(tagMap(mail.tags))) tags[name] = [value];
  return {
    timestamp: iso(mail.timestamp),
    source: mail.from,
    sourceArn: `arn:aws:ses:${region}:${LOCAL_ACCOUNT}:identity/${domain}`,
    sendingAccountId: LOCAL_ACCOUNT,
    messageId: mail.messageId,
    destination: to,
    headersTruncated: false,
    headers: [
      { name: 'From', value: mail.from },
      { name: 'To', value: to.join(', ') },
      { name: 'Subject', value: mail.subject },
      { name: 'MIME-Version', value: '1.0' },
      { name: 'Content-Type', value: 'multipart/alternative; boundary="----=_Part_leadloop_local"' },
    ],
    commonHeaders: { from: [mail.from], to, messageId: mail.messageId, subject: mail.subject },
    tags,
  };
}

/** The Send and Delivery records SES publishes for a message it accepted and delivered. */
export function sendAndDeliveryRecords(mail: LocalMail): [SesRecordJson, SesRecordJson] {
  const sentAt = Date.parse(iso(mail.timestamp));
  return [
    { eventType: 'Send', mail: mailObject(mail), send: {} },
    {
      eventType: 'Delivery',
      mail: mailObject(mail, { 'ses:outgoing-ip': '127.0.0.1' }),
      delivery: {
        timestamp: new Date(sentAt + LOCAL_DELIVERY_MILLIS).toISOString(),
        processingTimeMillis: LOCAL_DELIVERY_MILLIS,
        recipients: recipients(mail.to),
        smtpResponse: '250 2.6.0 Message received',
        remoteMtaIp: '127.0.0.1',
        reportingMTA: LOCAL_MTA,
      },
    },
  ];
}

/** What a reader's client tells the tracking endpoint. */
export interface Reader {
  timestamp: Date | string;
  userAgent?: string;
  ipAddress?: string;
}

export function openRecord(mail: LocalMail, reader: Reader): SesRecordJson {
  return {
    eventType: 'Open',
    mail: mailObject(mail),
    open: {
      timestamp: iso(reader.timestamp),
      ipAddress: reader.ipAddress ?? '127.0.0.1',
      userAgent: reader.userAgent ?? '',
    },
  };
}

export function clickRecord(mail: LocalMail, reader: Reader & { link: string }): SesRecordJson {
  return {
    eventType: 'Click',
    mail: mailObject(mail),
    click: {
      timestamp: iso(reader.timestamp),
      ipAddress: reader.ipAddress ?? '127.0.0.1',
      userAgent: reader.userAgent ?? '',
      link: reader.link,
      linkTags: {},
    },
  };
}

/** A bounce as SES reports it: permanent (`General`, 5.1.1 user unknown) or transient (`MailboxFull`). */
export function bounceRecord(mail: LocalMail, bounce: { permanent: boolean; timestamp: Date | string }): SesRecordJson {
  const to = recipients(mail.to);
  return {
    eventType: 'Bounce',
    mail: mailObject(mail),
    bounce: {
      bounceType: bounce.permanent ? 'Permanent' : 'Transient',
      bounceSubType: bounce.permanent ? 'General' : 'MailboxFull',
      bouncedRecipients: to.map((emailAddress) => ({
        emailAddress,
        action: 'failed',
        status: bounce.permanent ? '5.1.1' : '4.2.2',
        diagnosticCode: bounce.permanent ? 'smtp; 550 5.1.1 user unknown' : 'smtp; 452 4.2.2 mailbox full',
      })),
      timestamp: iso(bounce.timestamp),
      feedbackId: `${mail.messageId}-bounce`,
      reportingMTA: `dsn; ${LOCAL_MTA}`,
    },
  };
}

/** A complaint (feedback loop report, type `abuse`). */
export function complaintRecord(mail: LocalMail, complaint: { timestamp: Date | string }): SesRecordJson {
  return {
    eventType: 'Complaint',
    mail: mailObject(mail),
    complaint: {
      feedbackId: `${mail.messageId}-complaint`,
      complaintSubType: null,
      complainedRecipients: recipients(mail.to).map((emailAddress) => ({ emailAddress })),
      timestamp: iso(complaint.timestamp),
      userAgent: 'leadloop-local-feedback-loop',
      complaintFeedbackType: 'abuse',
      arrivalDate: iso(complaint.timestamp),
    },
  };
}

/** An unsubscribe from every topic through the List-Unsubscribe header (SES subscription management). */
export function unsubscribeRecord(
  mail: LocalMail,
  change: { timestamp: Date | string; contactList?: string },
): SesRecordJson {
  return {
    eventType: 'Subscription',
    mail: mailObject(mail),
    subscription: {
      contactList: change.contactList ?? 'leadloop',
      timestamp: iso(change.timestamp),
      source: 'UnsubscribeHeader',
      newTopicPreferences: { unsubscribeAll: true, topicSubscriptionStatus: [] },
      oldTopicPreferences: { unsubscribeAll: false, topicSubscriptionStatus: [] },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Tracking links

export type TrackingKind = 'open' | 'click';

/** What a tracking token carries: enough of the mail to build its Open and Click records. */
const TrackedMail = z.object({
  to: z.array(z.string()).min(1),
  from: z.string(),
  subject: z.string(),
  tags: z.record(z.string(), z.string()),
  ts: z.iso.datetime(),
  cs: z.string().optional(),
});

const VERSION = 'leadloop-local-tracking-v1';

function sign(secret: string, kind: TrackingKind, m: string, c: string, u: string): string {
  return createHmac('sha256', secret).update(`${VERSION}\n${kind}\n${m}\n${c}\n${u}`).digest('base64url');
}

function trackingUrl(tracking: LocalTracking, kind: TrackingKind, mail: LocalMail, target?: string): string {
  const c = Buffer.from(
    JSON.stringify({
      to: recipients(mail.to),
      from: mail.from,
      subject: mail.subject,
      tags: tagMap(mail.tags),
      ts: iso(mail.timestamp),
      ...(mail.configurationSet ? { cs: mail.configurationSet } : {}),
    }),
  ).toString('base64url');
  const params = new URLSearchParams({ m: mail.messageId, c, ...(target === undefined ? {} : { u: target }) });
  params.set('s', sign(tracking.secret, kind, mail.messageId, c, target ?? ''));
  return `${tracking.baseUrl}/_local/t/${kind}?${params.toString()}`;
}

export type TrackingCheck = { valid: true; mail: LocalMail; target?: string } | { valid: false; reason: string };

/** Checks a tracking request's parameters (signature in constant time) and recovers the mail they were made for. */
export function verifyTrackingParams(query: URLSearchParams, kind: TrackingKind, secret: string): TrackingCheck {
  const m = query.get('m');
  const c = query.get('c');
  const s = query.get('s');
  const u = query.get('u');
  if (!m || !c || !s) return { valid: false, reason: 'missing m, c or s' };
  if (kind === 'click' && !u) return { valid: false, reason: 'missing u' };
  const expected = Buffer.from(sign(secret, kind, m, c, kind === 'click' ? (u ?? '') : ''));
  const given = Buffer.from(s);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { valid: false, reason: 'bad signature' };
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
  } catch {
    return { valid: false, reason: 'malformed c' };
  }
  const parsed = TrackedMail.safeParse(payload);
  if (!parsed.success) return { valid: false, reason: 'malformed c' };
  const { to, from, subject, tags, ts, cs } = parsed.data;
  const mail: LocalMail = {
    messageId: m,
    to,
    from,
    subject,
    tags,
    timestamp: ts,
    ...(cs ? { configurationSet: cs } : {}),
  };
  if (kind === 'open') return { valid: true, mail };
  if (!u || !/^https?:\/\//i.test(u)) return { valid: false, reason: 'u is not an http(s) URL' };
  return { valid: true, mail, target: u };
}

const ENTITIES: Record<string, string> = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>', '#39': "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

const escapeAttribute = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The mail's rendered HTML as SES's open and click tracking would make it, pointing at the local tracking endpoint:
 * every http(s) `href` of an `<a>` or `<area>` goes through `/_local/t/click` (except those marked `ses:no-track`,
 * as SES honours), and an open pixel (`/_local/t/open`) ends the body. Instrument the rendered HTML, after template
 * substitution, never a template: a `{{placeholder}}` inside a signed link could not be filled in afterwards.
 */
export function instrumentHtml(
  html: string,
  opts: Omit<LocalMail, 'configurationSet'> & { configurationSet?: string; trackingBaseUrl: string; secret?: string },
): string {
  const tracking: LocalTracking = {
    baseUrl: opts.trackingBaseUrl.replace(/\/+$/, ''),
    secret: opts.secret ?? localTrackingSecret(),
  };
  const tracked = html.replace(/<(a|area)\b[^>]*>/gi, (tag) => {
    if (/\sses:no-track\b/i.test(tag)) return tag;
    return tag.replace(/(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')/i, (attr, prefix: string, dq?: string, sq?: string) => {
      const target = decodeEntities((dq ?? sq ?? '').trim());
      if (!/^https?:\/\//i.test(target) || target.startsWith(`${tracking.baseUrl}/_local/t/`)) return attr;
      return `${prefix}"${escapeAttribute(trackingUrl(tracking, 'click', opts, target))}"`;
    });
  });
  const pixel = `<img src="${escapeAttribute(trackingUrl(tracking, 'open', opts))}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0" />`;
  const close = tracked.search(/<\/body\s*>/i);
  return close < 0 ? `${tracked}${pixel}` : `${tracked.slice(0, close)}${pixel}${tracked.slice(close)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Loop-back

/** What `POST /_local/ses` answers. */
export const LoopbackResult = z.object({
  received: z.number().int(),
  failed: z.array(z.object({ index: z.number().int(), reason: z.string() })),
});
export type LoopbackResult = z.infer<typeof LoopbackResult>;

/** Posts SES records to a running local stack's `/_local/ses`, which feeds them to the engagement handler. */
export async function postToLoopback(
  records: readonly SesRecordJson[],
  baseUrl: string | undefined = localTrackingFromEnv()?.baseUrl,
): Promise<LoopbackResult> {
  if (!baseUrl) throw new Error('no loop-back URL: LEADLOOP_LOCAL_TRACKING_URL is not set');
  const response = await fetch(`${baseUrl.replace(/\/+$/, '')}/_local/ses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(records),
  });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`POST /_local/ses answered ${response.status}: ${text.slice(0, 500)}`);
  return LoopbackResult.parse(JSON.parse(text));
}
