import type { Node } from 'constructs';
import * as z from 'zod';
import { Email } from '../lambdas/domain/identity.js';

/** Deployment stages; each deploys its own stack (`Leadloop-<stage>`). */
export const DEPLOYMENT_STAGES = ['dev', 'prod'] as const;
export const DeploymentStage = z.enum(DEPLOYMENT_STAGES);
export type DeploymentStage = z.infer<typeof DeploymentStage>;

/** What an operator sets with `cdk deploy -c key=value` (or in cdk.json), validated once. */
export interface LeadloopConfig {
  /** Context `stage`: `dev` or `prod` (default `dev`). Names the stack, the API stage and the SES configuration set. */
  readonly stage: DeploymentStage;
  /**
   * Context `allowedOrigins`: comma-separated origins (scheme, host, optional port; no path) allowed to post forms
   * from a browser and to be `redirect` targets (default `http://localhost:3000`).
   */
  readonly allowedOrigins: readonly string[];
  /** Context `senderEmail`: the From address of nurture mail (default `leadloop@example.com`). */
  readonly senderEmail: string;
  /** Context `destroyOnRemoval`: `true` deletes the table and logs with the stack (default `false`: retain). */
  readonly destroyOnRemoval: boolean;
  /** Context `siteUrl`: the public site nurture mail links to (default: the first allowed origin). */
  readonly siteUrl: string;
  /** Context `mailingAddress`: the sender's postal address in every mail footer (default: a placeholder). */
  readonly mailingAddress?: string;
  /** Context `alarmEmail`: an address subscribed to the alarm topic (default: none; subscribe later). */
  readonly alarmEmail?: string;
  /** Context `waf`: `true` puts a WAF web ACL with a per-IP rate-based rule on the form route (default `false`). */
  readonly waf: boolean;
  /** Context `salesWebhookUrl`: where `LeadPromoted` is POSTed (default: none; subscribe to the bus yourself). */
  readonly salesWebhookUrl?: string;
  /** Context `salesWebhookAuthHeader`: a header carrying the webhook's credential, e.g. `Authorization`. */
  readonly salesWebhookAuthHeader?: string;
  /** Context `salesWebhookAuthSecret`: the Secrets Manager secret (name or ARN) holding that header's value. */
  readonly salesWebhookAuthSecret?: string;
  /**
   * Context `confirmedOptIn`: consent given on forms counts once the person confirms it from a confirmation mail
   * (default `true`; `false` for lists whose consent is documented otherwise; per form, see `confirmOptIn` in
   * lambdas/domain/forms.ts).
   */
  readonly confirmedOptIn: boolean;
}

export const CONFIG_DEFAULTS = {
  stage: 'dev',
  allowedOrigins: ['http://localhost:3000'],
  senderEmail: 'leadloop@example.com',
  destroyOnRemoval: false,
  siteUrl: 'http://localhost:3000',
  waf: false,
  confirmedOptIn: true,
} as const satisfies LeadloopConfig;

const Origin = z.string().refine(
  (o) => {
    try {
      const url = new URL(o);
      return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === o;
    } catch {
      return false;
    }
  },
  { error: 'must be an origin such as https://www.example.com (scheme, host, optional port, no path)' },
);

/** A comma-separated string (from `-c`) or a list (from cdk.json). */
const OriginList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (typeof v === 'string' ? v.split(',') : v).map((o) => o.trim()).filter((o) => o !== ''))
  .pipe(z.array(Origin).min(1, 'must name at least one origin'));

/** `true`/`false` from cdk.json, or the strings `"true"`/`"false"` from `-c`. */
const Flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((s) => s === 'true')]);

/** An absolute http(s) URL, e.g. the site nurture mail links to. */
const SiteUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://www.example.com' });

const CONTEXT_KEYS = [
  'stage',
  'allowedOrigins',
  'senderEmail',
  'destroyOnRemoval',
  'siteUrl',
  'mailingAddress',
  'alarmEmail',
  'waf',
  'salesWebhookUrl',
  'salesWebhookAuthHeader',
  'salesWebhookAuthSecret',
  'confirmedOptIn',
] as const;

const Context = z
  .object({
    stage: DeploymentStage.default(CONFIG_DEFAULTS.stage),
    allowedOrigins: OriginList.default([...CONFIG_DEFAULTS.allowedOrigins]),
    senderEmail: Email.default(CONFIG_DEFAULTS.senderEmail),
    destroyOnRemoval: Flag.default(CONFIG_DEFAULTS.destroyOnRemoval),
    siteUrl: SiteUrl.optional(),
    mailingAddress: z.string().trim().min(1, 'must not be empty').optional(),
    alarmEmail: Email.optional(),
    waf: Flag.default(CONFIG_DEFAULTS.waf),
    salesWebhookUrl: SiteUrl.optional(),
    salesWebhookAuthHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name such as Authorization')
      .optional(),
    salesWebhookAuthSecret: z.string().min(1, 'must name a Secrets Manager secret').optional(),
    confirmedOptIn: Flag.default(CONFIG_DEFAULTS.confirmedOptIn),
  })
  .refine((c) => !c.salesWebhookAuthHeader || c.salesWebhookAuthSecret, {
    error: 'needs salesWebhookAuthSecret (the secret holding the header value)',
    path: ['salesWebhookAuthHeader'],
  });

/** Reads and validates the Leadloop context keys of a construct tree; throws naming each bad key. */
export function readConfig(node: Node): LeadloopConfig {
  const raw = Object.fromEntries(CONTEXT_KEYS.map((key) => [key, node.tryGetContext(key)]));
  const parsed = Context.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `context "${i.path.join('.')}" ${i.message}`);
    throw new Error(`Invalid Leadloop configuration: ${problems.join('; ')}`);
  }
  const {
    siteUrl,
    mailingAddress,
    alarmEmail,
    salesWebhookUrl,
    salesWebhookAuthHeader,
    salesWebhookAuthSecret,
    ...rest
  } = parsed.data;
  return {
    ...rest,
    siteUrl: siteUrl ?? rest.allowedOrigins[0] ?? CONFIG_DEFAULTS.siteUrl,
    ...(mailingAddress !== undefined ? { mailingAddress } : {}),
    ...(alarmEmail !== undefined ? { alarmEmail } : {}),
    ...(salesWebhookUrl !== undefined ? { salesWebhookUrl } : {}),
    ...(salesWebhookAuthHeader !== undefined ? { salesWebhookAuthHeader } : {}),
    ...(salesWebhookAuthSecret !== undefined ? { salesWebhookAuthSecret } : {}),
  };
}
