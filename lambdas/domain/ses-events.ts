/**
 * SES engagement events (issue 5, the pure part): the schema of the records SES publishes through a configuration
 * set (identical whether they reach us through EventBridge, SNS or Firehose), the EventBridge → SQS envelope they
 * arrive in, their mapping to Leadloop's email events, and the rules that tell a person's open or click from a
 * machine's. See docs/email-engagement.md.
 *
 * The two envelope schemas come from Powertools' parser: they are plain zod schemas (no AWS SDK, no I/O), and
 * sharing them keeps this file in step with what the handler's middleware parses.
 */
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import { SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import { v5 as uuidv5 } from 'uuid';
import * as z from 'zod';
import { assertNever } from './errors.js';
import type { EventProperties, EventType } from './events.js';
import { normalizeEmail } from './identity.js';

// ---------------------------------------------------------------------------------------------------------------
// Schemas. Objects strip fields they do not name (SES adds fields over time); only what the mapping reads is
// required. Field names and shapes follow "Contents of event data that Amazon SES publishes to Amazon SNS".
// ---------------------------------------------------------------------------------------------------------------

const Timestamp = z.iso.datetime({ offset: true, error: 'must be an ISO-8601 timestamp' });

/** The SES `eventType` values, as SES spells them (`Rendering Failure` has a space; `RenderingFailure` is accepted). */
export const SES_EVENT_TYPES = [
  'Send',
  'Delivery',
  'Open',
  'Click',
  'Bounce',
  'Complaint',
  'Reject',
  'DeliveryDelay',
  'Rendering Failure',
  'RenderingFailure',
  'Subscription',
] as const;
export type SesEventType = (typeof SES_EVENT_TYPES)[number];

/** The message tags Leadloop's mailer sets and this mapping reads (SES tag names: letters, digits, `_`, `-`). */
/** The message tags nurture sends set (nurture-tasks.ts), read back from every SES event. */
export const SES_TAGS = { leadId: 'leadId', track: 'track', touch: 'touch', template: 'template' } as const;

/** The `mail` object every record carries: the message the event is about. */
export const SesMail = z.object({
  timestamp: Timestamp,
  messageId: z.string().min(1, 'is required'),
  destination: z.array(z.string()).min(1, 'must list at least one recipient'),
  source: z.string().optional(),
  headersTruncated: z.boolean().optional(),
  headers: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  commonHeaders: z
    .object({
      from: z.array(z.string()).optional(),
      to: z.array(z.string()).optional(),
      messageId: z.string().optional(),
      subject: z.string().optional(),
      date: z.string().optional(),
    })
    .optional(),
  /** Message tags: name → values. Absent when the event comes from identity feedback rather than a configuration set. */
  tags: z.record(z.string(), z.array(z.string())).default({}),
});
export type SesMail = z.infer<typeof SesMail>;

const RecipientStatus = z.object({
  emailAddress: z.string().min(1, 'is required'),
  action: z.string().optional(),
  status: z.string().optional(),
  diagnosticCode: z.string().optional(),
});

export const SesBounce = z.object({
  bounceType: z.enum(['Permanent', 'Transient', 'Undetermined'], {
    error: 'must be Permanent, Transient or Undetermined',
  }),
  bounceSubType: z.string(),
  bouncedRecipients: z.array(RecipientStatus),
  timestamp: Timestamp,
  feedbackId: z.string().optional(),
  reportingMTA: z.string().optional(),
});

export const SesComplaint = z.object({
  complainedRecipients: z.array(z.object({ emailAddress: z.string().min(1, 'is required') })),
  timestamp: Timestamp,
  feedbackId: z.string().optional(),
  complaintFeedbackType: z.string().optional(),
  complaintSubType: z.string().nullable().optional(),
});

export const SesDelivery = z.object({
  timestamp: Timestamp,
  recipients: z.array(z.string()),
  processingTimeMillis: z.number().optional(),
  smtpResponse: z.string().optional(),
  reportingMTA: z.string().optional(),
});

export const SesReject = z.object({ reason: z.string() });

export const SesOpen = z.object({
  timestamp: Timestamp,
  /** Read for the machine rules and a coarse family; never stored. */
  userAgent: z.string().optional(),
  /** Never read nor stored (privacy); named so that it is documented. */
  ipAddress: z.string().optional(),
});

export const SesClick = z.object({
  timestamp: Timestamp,
  link: z.string().min(1, 'is required'),
  userAgent: z.string().optional(),
  ipAddress: z.string().optional(),
  linkTags: z.record(z.string(), z.array(z.string())).optional(),
});

export const SesRenderingFailure = z.object({ errorMessage: z.string(), templateName: z.string().optional() });

export const SesDeliveryDelay = z.object({
  timestamp: Timestamp,
  delayType: z.string(),
  expirationTime: Timestamp.optional(),
  delayedRecipients: z.array(RecipientStatus),
  reportingMTA: z.string().optional(),
});

/** SES writes `OptIn`/`OptOut` in events and `OPT_IN`/`OPT_OUT` in its API; both are accepted. */
const SubscriptionStatus = z
  .string()
  .transform((s) => s.replace(/[\s_-]/g, '').toLowerCase())
  .pipe(z.enum(['optin', 'optout'], { error: 'must be OptIn or OptOut' }));

const TopicStatus = z.object({ topicName: z.string(), subscriptionStatus: SubscriptionStatus });

const TopicPreferences = z.object({
  unsubscribeAll: z.boolean().default(false),
  topicSubscriptionStatus: z.array(TopicStatus).default([]),
  topicDefaultSubscriptionStatus: z.array(TopicStatus).default([]),
});

export const SesSubscription = z.object({
  timestamp: Timestamp,
  contactList: z.string().optional(),
  /** How the change was made, e.g. `UnsubscribeHeader`. */
  source: z.string().optional(),
  newTopicPreferences: TopicPreferences,
  oldTopicPreferences: TopicPreferences.optional(),
});

const recordOptions = [
  z.object({ eventType: z.literal('Send'), mail: SesMail, send: z.object({}).optional() }),
  z.object({ eventType: z.literal('Delivery'), mail: SesMail, delivery: SesDelivery }),
  z.object({ eventType: z.literal('Open'), mail: SesMail, open: SesOpen }),
  z.object({ eventType: z.literal('Click'), mail: SesMail, click: SesClick }),
  z.object({ eventType: z.literal('Bounce'), mail: SesMail, bounce: SesBounce }),
  z.object({ eventType: z.literal('Complaint'), mail: SesMail, complaint: SesComplaint }),
  z.object({ eventType: z.literal('Reject'), mail: SesMail, reject: SesReject }),
  z.object({ eventType: z.literal('DeliveryDelay'), mail: SesMail, deliveryDelay: SesDeliveryDelay }),
  z.object({
    eventType: z.literal(['Rendering Failure', 'RenderingFailure']),
    mail: SesMail,
    failure: SesRenderingFailure,
  }),
  z.object({ eventType: z.literal('Subscription'), mail: SesMail, subscription: SesSubscription }),
] as const;

/** SES documents the rendering-failure detail as `failure`; a record that calls it `renderingFailure` is read the same. */
function aliasRenderingFailure(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  if (!('renderingFailure' in input) || 'failure' in input) return input;
  return { ...input, failure: input.renderingFailure };
}

/**
 * One SES event-publishing record: the `detail` of an EventBridge event from `aws.ses`, and the body of what SES
 * publishes to SNS and Firehose. A discriminated union on `eventType`.
 */
export const SesEventRecord = z.preprocess(aliasRenderingFailure, z.discriminatedUnion('eventType', recordOptions));
export type SesEventRecord = z.infer<typeof SesEventRecord>;

/** The EventBridge event SES sends for each record (`detail-type` e.g. "Email Bounced"). */
export const SesEventBridgeEvent = EventBridgeSchema.extend({
  source: z.literal('aws.ses', { error: 'must be "aws.ses"' }),
  detail: SesEventRecord,
});
export type SesEventBridgeEvent = z.infer<typeof SesEventBridgeEvent>;

/** An SQS record whose body is an SES EventBridge event (the engagement queue is an EventBridge rule's target). */
export const SesSqsRecord = SqsRecordSchema.extend({
  body: z
    .string()
    .transform((body, ctx) => {
      try {
        return JSON.parse(body) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(SesEventBridgeEvent),
});
export type SesSqsRecord = z.infer<typeof SesSqsRecord>;

// ---------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------

/** A record that is not a well-formed SES event: not retryable, the consumer sends it to the DLQ and records why. */
export class SesRecordError extends Error {
  override readonly name = 'SesRecordError';
  constructor(
    /** Path of the offending field, e.g. `detail.bounce.bounceType`; `(root)` for the whole value. */
    readonly field: string,
    /** Why it was rejected. */
    readonly reason: string,
    /** Every problem found, `field: reason` each. */
    readonly problems: readonly string[] = [`${field}: ${reason}`],
  ) {
    super(`malformed SES event record: ${problems.join('; ')}`);
  }
}

const MAX_PROBLEMS = 5;

/**
 * The SES record carried by one SQS message body (an EventBridge event whose detail is the record). Throws
 * SesRecordError, and nothing else, naming the field and the reason when the body is not one.
 */
export function parseSesSqsBody(body: string): SesEventRecord {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new SesRecordError('body', 'is not valid JSON');
  }
  return parseWith(SesEventBridgeEvent, json).detail;
}

/** A bare SES record, as SES publishes it to SNS or Firehose (and as `POST /_local/ses` takes it). */
export function parseSesRecord(value: unknown): SesEventRecord {
  return parseWith(SesEventRecord, value);
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, MAX_PROBLEMS).map((issue) => describeIssue(issue, value));
  const first = problems[0] ?? { field: '(root)', reason: 'is invalid' };
  throw new SesRecordError(
    first.field,
    first.reason,
    problems.map((p) => `${p.field}: ${p.reason}`),
  );
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): { field: string; reason: string } {
  const field = formatPath(issue.path);
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator === 'eventType') {
    const value = valueAt(root, issue.path);
    const expected = `expected one of ${SES_EVENT_TYPES.join(', ')}`;
    const reason =
      value === undefined ? `is required (${expected})` : `unknown SES event type ${preview(value)} (${expected})`;
    return { field, reason };
  }
  if (issue.code === 'invalid_type' && valueAt(root, issue.path) === undefined) return { field, reason: 'is required' };
  return { field, reason: issue.message };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out === '' ? '' : '.'}${String(key)}`;
  return out === '' ? '(root)' : out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = Object.getOwnPropertyDescriptor(current, key)?.value;
  }
  return current;
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : `(${typeof value})`;
  return text.length > 60 ? `${text.slice(0, 57)}..."` : text;
}

// ---------------------------------------------------------------------------------------------------------------
// Machine activity
// ---------------------------------------------------------------------------------------------------------------

/** A user agent that identifies a proxy, scanner or script rather than a person's mail client. */
export interface UserAgentRule {
  /** Short name, recorded as `properties.machineDetail`. */
  readonly name: string;
  readonly pattern: RegExp;
}

/** Thresholds and patterns of the machine-activity rules (docs/email-engagement.md explains each). */
export interface MachineRules {
  /** A click this many seconds or less after delivery is a link scanner. @default 10 */
  readonly clickWithinSeconds: number;
  /** An open this many seconds or less after delivery is a pre-fetch. @default 2 */
  readonly openWithinSeconds: number;
  /** User agents of known proxies, scanners and scripts. @default DEFAULT_SCANNER_USER_AGENTS */
  readonly userAgents: readonly UserAgentRule[];
  /** Treat an open or click without a user agent as a machine (every mail client and browser sends one). @default true */
  readonly flagMissingUserAgent: boolean;
  /** "All links clicked at once": this many distinct links of one message ... @default 3 */
  readonly burstDistinctLinks: number;
  /** ... clicked within this many seconds is a scanner following every link. @default 5 */
  readonly burstWithinSeconds: number;
}

export const DEFAULT_SCANNER_USER_AGENTS: readonly UserAgentRule[] = [
  // Gmail and Yahoo fetch images through their proxies; the fetch says nothing about who, where or on what device.
  { name: 'google-image-proxy', pattern: /GoogleImageProxy/i },
  { name: 'yahoo-mail-proxy', pattern: /YahooMailProxy/i },
  // Apple Mail Privacy Protection pre-fetches remote content on delivery with a bare "Mozilla/5.0".
  { name: 'apple-mail-privacy-protection', pattern: /^\s*Mozilla\/5\.0\s*$/ },
  { name: 'microsoft-defender', pattern: /BingPreview|Microsoft[ -]?Defender|Safe ?Links|MS-?ATP/i },
  { name: 'barracuda', pattern: /Barracuda/i },
  { name: 'mimecast', pattern: /Mimecast/i },
  { name: 'proofpoint', pattern: /Proofpoint|urldefense/i },
  {
    name: 'bot',
    pattern:
      /bot\b|crawler|spider|scanner|python-requests|python-urllib|aiohttp|\bcurl\/|\bwget\/|go-http-client|okhttp|\bjava\/|libwww-perl|HeadlessChrome|PhantomJS|facebookexternalhit/i,
  },
];

export const DEFAULT_MACHINE_RULES: MachineRules = {
  clickWithinSeconds: 10,
  openWithinSeconds: 2,
  userAgents: DEFAULT_SCANNER_USER_AGENTS,
  flagMissingUserAgent: true,
  burstDistinctLinks: 3,
  burstWithinSeconds: 5,
};

/** A click already recorded for the same message. */
export interface PriorClick {
  readonly link: string;
  /** When it happened (ISO-8601). */
  readonly at: string;
}

/** What the caller knows beyond the record itself. Everything optional: without it the rules use the record alone. */
export interface MachineContext {
  /** When SES delivered the message (the Delivery event's timestamp), if already recorded. */
  readonly deliveredAt?: string;
  /** Clicks already recorded for the same `mail.messageId`. */
  readonly priorClicks?: readonly PriorClick[];
  /** Overrides of DEFAULT_MACHINE_RULES. */
  readonly rules?: Partial<MachineRules>;
}

export const MACHINE_REASONS = ['user_agent', 'missing_user_agent', 'fast_open', 'fast_click', 'link_burst'] as const;
export type MachineReason = (typeof MACHINE_REASONS)[number];

export type EngagementClass = { machine: false } | { machine: true; reason: MachineReason; detail: string };

const HUMAN: EngagementClass = { machine: false };

/**
 * Whether an Open or Click record is a machine's (a proxy, a security scanner, a pre-fetch) rather than a person's,
 * and by which rule: a known user agent first, then timing against delivery, then a burst of distinct links.
 * Other event types are never machine activity.
 */
export function classifyEngagement(record: SesEventRecord, ctx: MachineContext = {}): EngagementClass {
  if (record.eventType !== 'Open' && record.eventType !== 'Click') return HUMAN;
  const rules: MachineRules = { ...DEFAULT_MACHINE_RULES, ...ctx.rules };
  const { userAgent, timestamp } = record.eventType === 'Open' ? record.open : record.click;

  const ua = userAgent?.trim() ?? '';
  if (ua === '') {
    if (rules.flagMissingUserAgent) return { machine: true, reason: 'missing_user_agent', detail: 'no user agent' };
  } else {
    const known = rules.userAgents.find((rule) => rule.pattern.test(ua));
    if (known) return { machine: true, reason: 'user_agent', detail: known.name };
  }

  const at = Date.parse(timestamp);
  const delivered = ctx.deliveredAt === undefined ? Number.NaN : Date.parse(ctx.deliveredAt);
  const reference = Number.isNaN(delivered) ? Date.parse(record.mail.timestamp) : delivered;
  const elapsedSeconds = (at - reference) / 1000;
  const limit = record.eventType === 'Open' ? rules.openWithinSeconds : rules.clickWithinSeconds;
  if (elapsedSeconds <= limit) {
    const since = Number.isNaN(delivered) ? 'send' : 'delivery';
    return {
      machine: true,
      reason: record.eventType === 'Open' ? 'fast_open' : 'fast_click',
      detail: `${elapsedSeconds.toFixed(1)} s after ${since}`,
    };
  }

  if (record.eventType === 'Click') {
    const burst = linkBurst(record.click.link, at, ctx.priorClicks ?? [], rules);
    if (burst !== undefined) return { machine: true, reason: 'link_burst', detail: burst };
  }
  return HUMAN;
}

/** Whether some window of `burstWithinSeconds` holding this click holds `burstDistinctLinks` distinct links. */
function linkBurst(link: string, at: number, prior: readonly PriorClick[], rules: MachineRules): string | undefined {
  const windowMs = rules.burstWithinSeconds * 1000;
  const near = [{ link, at }, ...prior.map((c) => ({ link: c.link, at: Date.parse(c.at) }))].filter(
    (c) => !Number.isNaN(c.at) && Math.abs(c.at - at) <= windowMs,
  );
  for (const start of near) {
    if (start.at > at) continue;
    const inWindow = near.filter((c) => c.at >= start.at && c.at <= start.at + windowMs);
    const links = new Set(inWindow.map((c) => c.link));
    if (links.size >= rules.burstDistinctLinks) {
      return `${links.size} links within ${rules.burstWithinSeconds} s`;
    }
  }
  return undefined;
}

/**
 * A coarse, non-identifying family for a user agent (`apple-mail`, `gmail-image-proxy`, `outlook`, `chrome`, …,
 * `scanner`, `other`, `unknown`). The full user agent is never stored.
 */
export function userAgentFamily(userAgent: string | undefined): string {
  const ua = userAgent?.trim() ?? '';
  if (ua === '') return 'unknown';
  if (/GoogleImageProxy/i.test(ua)) return 'gmail-image-proxy';
  if (/YahooMailProxy/i.test(ua)) return 'yahoo-mail-proxy';
  if (/^Mozilla\/5\.0$/.test(ua)) return 'apple-mail-privacy-proxy';
  if (DEFAULT_SCANNER_USER_AGENTS.some((rule) => rule.pattern.test(ua))) return 'scanner';
  if (/Microsoft Outlook|MSOffice|ms-office|Outlook-(iOS|Android)/i.test(ua)) return 'outlook';
  if (/Thunderbird\//.test(ua)) return 'thunderbird';
  if (/Edg(A|iOS)?\//.test(ua)) return 'edge';
  if (/(Chrome|CriOS)\//.test(ua)) return 'chrome';
  if (/(Firefox|FxiOS)\//.test(ua)) return 'firefox';
  if (/Safari\//.test(ua)) return 'safari';
  if (/AppleWebKit\//.test(ua) && /iPhone|iPad|Macintosh/.test(ua)) return 'apple-mail';
  return 'other';
}

// ---------------------------------------------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------------------------------------------

/** One Leadloop email event derived from an SES record, for one recipient. */
export interface MappedEmailEvent {
  /** Deterministic: redeliveries of the same record map to the same id (see emailEventId). */
  eventId: string;
  type: EventType;
  /** When it happened (ISO-8601, UTC): the SES detail's timestamp, or the send time for Send/Reject/RenderingFailure. */
  occurredAt: string;
  /** The recipient, normalized. */
  email: string;
  /** From the `leadId` message tag, when the message had a single recipient. */
  leadId?: string;
  properties: EventProperties;
}

/** Namespace of the v5 UUIDs of SES-derived events. Never change it: stored ids would stop deduplicating. */
export const SES_EVENT_NAMESPACE = '2c24ef38-c0c5-4ebc-a182-0031ed186be8';

/**
 * The id of an SES-derived event: the same SES record always gives the same id (SES and EventBridge deliver at least
 * once), two clicks at different times on one link give two.
 */
export function emailEventId(parts: {
  messageId: string;
  type: EventType;
  recipient: string;
  timestamp: string;
  link?: string;
}): string {
  const key = [parts.messageId, parts.type, parts.recipient, parts.timestamp, parts.link ?? ''].join('|');
  return uuidv5(key, SES_EVENT_NAMESPACE);
}

/** What one record means, before it is split per recipient. */
interface Interpretation {
  type: EventType;
  /** SES's timestamp of the event, as published. */
  timestamp: string;
  /** Raw addresses the event is about; empty means the message's destination. */
  recipients: readonly string[];
  link?: string;
  properties: EventProperties;
}

const MAX_STRING = 2048;
const clip = (s: string): string => (s.length > MAX_STRING ? s.slice(0, MAX_STRING) : s);

/**
 * The Leadloop email events an SES record stands for: one per affected recipient (bounced or complained recipients
 * where SES lists them, otherwise the message's destination), none for a Subscription record that unsubscribed
 * nobody. Pure and deterministic: the same record and context give the same events.
 */
export function mapSesRecord(record: SesEventRecord, ctx: MachineContext = {}): MappedEmailEvent[] {
  const meaning = interpret(record);
  if (meaning === undefined) return [];

  const { mail } = record;
  const destination = uniqueAddresses(mail.destination);
  const listed = uniqueAddresses(meaning.recipients);
  const recipients = listed.length > 0 ? listed : destination;
  // A tag names one lead; on a message to several people it cannot say which recipient that is.
  const leadId = destination.length === 1 ? firstTag(mail.tags, SES_TAGS.leadId) : undefined;
  const occurredAt = new Date(meaning.timestamp).toISOString();

  const properties: EventProperties = { messageId: clip(mail.messageId) };
  for (const [tag, property] of [
    [SES_TAGS.track, 'track'],
    [SES_TAGS.touch, 'touch'],
    [SES_TAGS.template, 'template'],
  ] as const) {
    const value = firstTag(mail.tags, tag);
    if (value !== undefined) properties[property] = clip(value);
  }
  Object.assign(properties, meaning.properties);
  const engagement = classifyEngagement(record, ctx);
  if (engagement.machine) {
    properties.machine = true;
    properties.machineReason = engagement.reason;
    properties.machineDetail = engagement.detail;
  }

  return recipients.map((email) => ({
    eventId: emailEventId({
      messageId: mail.messageId,
      type: meaning.type,
      recipient: email,
      timestamp: occurredAt,
      link: meaning.link,
    }),
    type: meaning.type,
    occurredAt,
    email,
    ...(leadId === undefined ? {} : { leadId }),
    properties: { ...properties },
  }));
}

function interpret(record: SesEventRecord): Interpretation | undefined {
  const sent = record.mail.timestamp;
  switch (record.eventType) {
    case 'Send':
      return { type: 'email_sent', timestamp: sent, recipients: [], properties: {} };
    case 'Delivery':
      return {
        type: 'email_delivered',
        timestamp: record.delivery.timestamp,
        recipients: record.delivery.recipients,
        properties: {},
      };
    case 'Open':
      return {
        type: 'email_opened',
        timestamp: record.open.timestamp,
        recipients: [],
        properties: { userAgentFamily: userAgentFamily(record.open.userAgent) },
      };
    case 'Click':
      return {
        type: 'email_clicked',
        timestamp: record.click.timestamp,
        recipients: [],
        link: record.click.link,
        properties: { link: clip(record.click.link), userAgentFamily: userAgentFamily(record.click.userAgent) },
      };
    case 'Bounce': {
      const { bounce } = record;
      const status = bounce.bouncedRecipients.find((r) => r.status !== undefined)?.status;
      return {
        type: 'email_bounced',
        timestamp: bounce.timestamp,
        recipients: bounce.bouncedRecipients.map((r) => r.emailAddress),
        properties: {
          bounceType: bounce.bounceType === 'Permanent' ? 'permanent' : 'transient',
          bounceSubType: clip(bounce.bounceSubType),
          ...(bounce.bounceType === 'Undetermined' ? { bounceUndetermined: true } : {}),
          ...(status === undefined ? {} : { bounceStatus: clip(status) }),
        },
      };
    }
    case 'Complaint': {
      const { complaint } = record;
      return {
        type: 'email_complained',
        timestamp: complaint.timestamp,
        recipients: complaint.complainedRecipients.map((r) => r.emailAddress),
        properties: {
          ...(complaint.complaintFeedbackType ? { complaintFeedbackType: clip(complaint.complaintFeedbackType) } : {}),
          ...(complaint.complaintSubType ? { complaintSubType: clip(complaint.complaintSubType) } : {}),
        },
      };
    }
    case 'Reject':
      return {
        type: 'email_rejected',
        timestamp: sent,
        recipients: [],
        properties: { reason: clip(record.reject.reason) },
      };
    case 'DeliveryDelay': {
      const delay = record.deliveryDelay;
      return {
        type: 'email_delivery_delayed',
        timestamp: delay.timestamp,
        recipients: delay.delayedRecipients.map((r) => r.emailAddress),
        properties: {
          delayType: clip(delay.delayType),
          ...(delay.expirationTime ? { expirationTime: new Date(delay.expirationTime).toISOString() } : {}),
        },
      };
    }
    case 'Rendering Failure':
    case 'RenderingFailure': {
      const { failure } = record;
      return {
        type: 'email_rendering_failed',
        timestamp: sent,
        recipients: [],
        properties: {
          errorMessage: clip(failure.errorMessage),
          ...(failure.templateName ? { template: clip(failure.templateName) } : {}),
        },
      };
    }
    case 'Subscription': {
      const change = unsubscribed(record.subscription);
      if (change === undefined) return undefined;
      const { subscription } = record;
      return {
        type: 'email_unsubscribed',
        timestamp: subscription.timestamp,
        recipients: [],
        properties: {
          unsubscribeAll: change.all,
          ...(change.topics.length > 0 ? { topics: clip(change.topics.join(',')) } : {}),
          ...(subscription.contactList ? { contactList: clip(subscription.contactList) } : {}),
          ...(subscription.source ? { unsubscribeSource: clip(subscription.source) } : {}),
        },
      };
    }
    default:
      return assertNever(record);
  }
}

type Subscription = z.output<typeof SesSubscription>;

/**
 * What a Subscription record took away: `unsubscribeAll` turned on, or topics that went from opted in (or not
 * recorded, which for a contact we mail means in) to opted out. Undefined when nothing was taken away.
 */
function unsubscribed(subscription: Subscription): { all: boolean; topics: string[] } | undefined {
  const before = subscription.oldTopicPreferences;
  const after = subscription.newTopicPreferences;
  const all = after.unsubscribeAll && !(before?.unsubscribeAll ?? false);
  const statusBefore = (topic: string) =>
    before?.topicSubscriptionStatus.find((t) => t.topicName === topic)?.subscriptionStatus ??
    before?.topicDefaultSubscriptionStatus.find((t) => t.topicName === topic)?.subscriptionStatus;
  const topics = after.topicSubscriptionStatus
    .filter((t) => t.subscriptionStatus === 'optout' && statusBefore(t.topicName) !== 'optout')
    .map((t) => t.topicName)
    .sort();
  return all || topics.length > 0 ? { all, topics: [...new Set(topics)] } : undefined;
}

function firstTag(tags: Record<string, string[]>, name: string): string | undefined {
  const value = Object.hasOwn(tags, name) ? tags[name]?.[0]?.trim() : undefined;
  return value === undefined || value === '' ? undefined : value;
}

/** Normalized addresses, in order, without repeats; `Name <a@b>` forms reduced to the address. */
function uniqueAddresses(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of raw) {
    const address = normalizeEmail(/<([^<>]+)>\s*$/.exec(entry)?.[1] ?? entry);
    if (address !== '' && !out.includes(address)) out.push(address);
  }
  return out;
}
