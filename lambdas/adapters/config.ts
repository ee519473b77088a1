import { z } from 'zod';

/** Settings every Lambda (and the local runtime, in-process) reads from its environment. Validated once. */
const Env = z.object({
  TABLE_NAME: z.string().min(1).default('leadloop-local'),
  AWS_REGION: z.string().default('us-east-1'),
  DYNAMODB_ENDPOINT: z.url().optional(),
  SES_ENDPOINT: z.url().optional(),
  SFN_ENDPOINT: z.url().optional(),
  EVENTBRIDGE_ENDPOINT: z.url().optional(),
  /** Comma-separated origins allowed for CORS and for form `redirect` targets. */
  ALLOWED_ORIGINS: z.string().default('http://localhost:3000,http://127.0.0.1:3000'),
  /** Real seconds per simulated day (local runtime only). */
  LEADLOOP_DAY_SECONDS: z.coerce.number().positive().optional(),
  /** Real instant at which simulated time equals real time (local runtime only). */
  LEADLOOP_CLOCK_ORIGIN: z.iso.datetime().optional(),
});

export interface Config {
  tableName: string;
  region: string;
  endpoints: { dynamodb?: string; ses?: string; sfn?: string; eventbridge?: string };
  allowedOrigins: string[];
  daySeconds?: number;
  clockOrigin?: Date;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = Env.parse(env);
  return {
    tableName: e.TABLE_NAME,
    region: e.AWS_REGION,
    endpoints: {
      dynamodb: e.DYNAMODB_ENDPOINT,
      ses: e.SES_ENDPOINT,
      sfn: e.SFN_ENDPOINT,
      eventbridge: e.EVENTBRIDGE_ENDPOINT,
    },
    allowedOrigins: e.ALLOWED_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    daySeconds: e.LEADLOOP_DAY_SECONDS,
    clockOrigin: e.LEADLOOP_CLOCK_ORIGIN ? new Date(e.LEADLOOP_CLOCK_ORIGIN) : undefined,
  };
}
