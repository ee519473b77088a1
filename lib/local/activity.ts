import * as z from 'zod';
import { maskLogText } from '../../lambdas/adapters/log-masking.js';
import {
  LEAD_EVENTS_SOURCE,
  LEAD_PROMOTED,
  LEAD_STAGE_CHANGED,
  LeadPromoted,
  LeadStageChanged,
} from '../../lambdas/domain/lead-events.js';
import type { BusEvent } from './adapters/event-bus.js';
import type { SentMail } from './adapters/ses-loopback.js';
import type { LogLine } from './lambda.js';

/**
 * What `npm start` prints, and the metrics the local console shows (DESIGN §9, issue 17). By default one readable
 * line per notable thing — a form or a batch of events accepted, a stage change with its reason, a mail sent, a
 * promotion, a sweep that changed something (printed by the stack), a function's warning or error — and nothing while
 * idle. `LEADLOOP_LOG=json` (or `debug`) prints every function's structured log line as it wrote it, and every request.
 *
 * The functions' metrics arrive as they do on AWS, as CloudWatch embedded-metric-format lines in their output; they
 * are summed here, so the console's funnel shows the same figures as the stack's dashboard.
 */

export type LogMode = 'quiet' | 'json';

export const logModeFrom = (env: NodeJS.ProcessEnv = process.env): LogMode =>
  ['json', 'debug'].includes((env.LEADLOOP_LOG ?? '').toLowerCase()) ? 'json' : 'quiet';

const Emf = z.object({
  _aws: z.object({
    CloudWatchMetrics: z.array(z.object({ Metrics: z.array(z.object({ Name: z.string() })) })),
  }),
});
const Entry = z.object({ level: z.string(), message: z.string() }).loose();

export interface Activity {
  readonly mode: LogMode;
  /** Sums of every metric the functions emitted since start, by name. */
  readonly metrics: ReadonlyMap<string, number>;
  onFunctionLog(line: LogLine): void;
  onApiResponse(r: { method: string; resource: string; statusCode: number; body: string }): void;
  onBusEvent(event: BusEvent): void;
  onMailSent(mail: SentMail): void;
}

const who = (lead: { firstName?: string | undefined; company?: string | undefined; leadId: string }) =>
  [lead.firstName, lead.company].filter(Boolean).join(', ') || `lead ${lead.leadId}`;

export function localActivity(opts: { log: (line: string) => void; mode?: LogMode }): Activity {
  const mode = opts.mode ?? logModeFrom();
  const log = opts.log;
  const metrics = new Map<string, number>();

  const addMetrics = (json: unknown): boolean => {
    const emf = Emf.safeParse(json);
    if (!emf.success || typeof json !== 'object' || json === null) return false;
    for (const directive of emf.data._aws.CloudWatchMetrics) {
      for (const { Name } of directive.Metrics) {
        const raw: unknown = Reflect.get(json, Name);
        const values = Array.isArray(raw) ? raw : [raw];
        const sum = values.reduce<number>((s, v) => s + (typeof v === 'number' ? v : 0), 0);
        metrics.set(Name, (metrics.get(Name) ?? 0) + sum);
      }
    }
    return true;
  };

  return {
    mode,
    metrics,
    onFunctionLog: ({ functionName, stream, line }) => {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        json = undefined;
      }
      const isMetrics = addMetrics(json);
      if (mode === 'json') return log(line);
      if (isMetrics) return;
      const entry = Entry.safeParse(json);
      if (entry.success) {
        if (['WARN', 'ERROR', 'CRITICAL'].includes(entry.data.level)) {
          log(`${entry.data.level.toLowerCase()} in ${functionName}: ${maskLogText(entry.data.message)}`);
        }
        return;
      }
      if (stream === 'stderr' && line.trim() !== '' && !line.startsWith('(node:') && !/Warning/.test(line)) {
        log(`${functionName}: ${maskLogText(line)}`);
      }
    },
    onApiResponse: ({ method, resource, statusCode, body }) => {
      if (mode === 'json') return;
      if (method === 'POST' && resource === '/forms/{formId}' && statusCode < 400) {
        const leadId = z.object({ leadId: z.string() }).safeParse(safeJson(body)).data?.leadId;
        log(`form post accepted${leadId ? `: lead ${leadId}` : ''}`);
      } else if (method === 'POST' && resource === '/events' && statusCode < 400) {
        const r = z
          .object({ accepted: z.number(), duplicates: z.number(), rejected: z.array(z.unknown()) })
          .safeParse(safeJson(body)).data;
        if (r) log(`events accepted: ${r.accepted} (${r.duplicates} duplicate, ${r.rejected.length} rejected)`);
      } else if (statusCode >= 500) {
        log(`${method} ${resource} answered ${statusCode}`);
      }
    },
    onBusEvent: (event) => {
      if (mode === 'json' || event.source !== LEAD_EVENTS_SOURCE) return;
      if (event['detail-type'] === LEAD_STAGE_CHANGED) {
        const c = LeadStageChanged.safeParse(event.detail);
        if (c.success) {
          const d = c.data;
          log(`stage changed: ${who(d.lead)} ${d.from ?? 'new'} → ${d.to} (${d.disqualification ?? d.reason})`);
        }
      } else if (event['detail-type'] === LEAD_PROMOTED) {
        const p = LeadPromoted.safeParse(event.detail);
        if (p.success) {
          log(
            `promoted to sales: ${who(p.data.lead)} (lead ${p.data.lead.leadId}, grade ${p.data.score?.grade ?? '-'}, ${p.data.trigger.reason})`,
          );
        }
      }
    },
    onMailSent: (mail) => {
      if (mode === 'json') return;
      const touch = mail.tags.track ? ` (${mail.tags.track} touch ${mail.tags.touch ?? '?'})` : '';
      log(`mail sent: "${mail.subject}" to ${maskLogText(mail.to.join(', '))}${touch}`);
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
