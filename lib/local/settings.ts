import { resolve } from 'node:path';

/** What `npm start` reads from the environment (DESIGN §9). */
export interface LocalSettings {
  port: number;
  dynamoDbPort: number;
  sesPort: number;
  /** The local Step Functions API of the nurture state machines. */
  sfnPort: number;
  apiKey: string;
  adminKey: string;
  /** Real seconds per simulated day. */
  daySeconds: number;
  /** Absolute; undefined when running in memory (`LEADLOOP_IN_MEMORY=1`). */
  dataDir: string | undefined;
  /** Origins allowed by CORS; undefined means the API's own origins. */
  allowedOrigins: string[] | undefined;
  /** Where promotions are POSTed (the stack's sales webhook: `-c salesWebhookUrl=`). */
  salesWebhookUrl: string | undefined;
  /** The webhook credential: `Header-Name: value`. */
  salesWebhookAuth: { header: string; value: string } | undefined;
}

/** The environment variable behind each port, for messages that tell the user what to change. */
export const PORT_VARIABLES = {
  port: 'PORT',
  dynamoDbPort: 'DYNAMODB_PORT',
  sesPort: 'SES_PORT',
  sfnPort: 'SFN_PORT',
} as const;
export type PortSetting = keyof typeof PORT_VARIABLES;

export const DEFAULTS = {
  port: 3000,
  dynamoDbPort: 8000,
  sesPort: 8005,
  sfnPort: 8083,
  apiKey: 'dev-api-key',
  adminKey: 'dev-admin-key',
  daySeconds: 86_400,
  dataDir: '.leadloop',
} as const;

/** A setting the user got wrong; its message says which and how to fix it. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

export function readSettings(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): LocalSettings {
  const port = (name: PortSetting, fallback: number): number => {
    const variable = PORT_VARIABLES[name];
    const raw = env[variable];
    if (raw === undefined || raw.trim() === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65_535) {
      throw new SettingsError(`${variable} must be a port number from 1 to 65535 (got "${raw}")`);
    }
    return n;
  };
  const text = (variable: string, fallback: string): string => {
    const raw = env[variable];
    if (raw === undefined || raw === '') return fallback;
    if (raw.trim() !== raw || /\s/.test(raw)) throw new SettingsError(`${variable} must not contain spaces`);
    return raw;
  };
  const settings: LocalSettings = {
    port: port('port', DEFAULTS.port),
    dynamoDbPort: port('dynamoDbPort', DEFAULTS.dynamoDbPort),
    sesPort: port('sesPort', DEFAULTS.sesPort),
    sfnPort: port('sfnPort', DEFAULTS.sfnPort),
    apiKey: text('LEADLOOP_API_KEY', DEFAULTS.apiKey),
    adminKey: text('LEADLOOP_ADMIN_KEY', DEFAULTS.adminKey),
    daySeconds: DEFAULTS.daySeconds,
    dataDir: ['1', 'true', 'yes'].includes((env.LEADLOOP_IN_MEMORY ?? '').toLowerCase())
      ? undefined
      : resolve(cwd, env.LEADLOOP_DATA_DIR || DEFAULTS.dataDir),
    allowedOrigins: env.ALLOWED_ORIGINS
      ? env.ALLOWED_ORIGINS.split(',')
          .map((o) => o.trim())
          .filter((o) => o !== '')
      : undefined,
    salesWebhookUrl: undefined,
    salesWebhookAuth: undefined,
  };
  const webhook = env.LEADLOOP_SALES_WEBHOOK_URL?.trim();
  if (webhook) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(webhook).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new SettingsError(`LEADLOOP_SALES_WEBHOOK_URL must be an http(s) URL (got "${webhook}")`);
    settings.salesWebhookUrl = webhook;
  }
  const auth = env.LEADLOOP_SALES_WEBHOOK_AUTH;
  if (auth !== undefined && auth !== '') {
    const m = /^([A-Za-z0-9-]{1,64}):\s*(.+)$/.exec(auth);
    if (!m?.[1] || !m[2]) {
      throw new SettingsError(
        'LEADLOOP_SALES_WEBHOOK_AUTH must be "Header-Name: value", e.g. "Authorization: Bearer …"',
      );
    }
    settings.salesWebhookAuth = { header: m[1], value: m[2] };
  }
  const day = env.LEADLOOP_DAY_SECONDS;
  if (day !== undefined && day.trim() !== '') {
    const n = Number(day);
    if (!Number.isFinite(n) || n <= 0) {
      throw new SettingsError(
        `LEADLOOP_DAY_SECONDS must be a positive number of real seconds per simulated day (got "${day}")`,
      );
    }
    settings.daySeconds = n;
  }
  const ports = [settings.port, settings.dynamoDbPort, settings.sesPort, settings.sfnPort];
  if (new Set(ports).size !== ports.length) {
    throw new SettingsError(`PORT, DYNAMODB_PORT, SES_PORT and SFN_PORT must differ (got ${ports.join(', ')})`);
  }
  return settings;
}
