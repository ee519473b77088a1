import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { Clock } from '../../../lambdas/domain/clock.js';
import { AwsApiError, type LocalAwsService } from '../aws-endpoint.js';
import type { LocalRule } from '../deployment.js';
import { matchesPattern } from '../event-pattern.js';
import type { LocalApiDestinations } from './api-destinations.js';
import type { LocalQueues } from './queues.js';

/**
 * EventBridge, locally: `PutEvents` (the API the functions and the SES loop-back publish with) builds each event's
 * envelope as EventBridge does and delivers it to every target of every enabled rule of the template whose pattern
 * matches, on that event's bus. SQS targets are sent to the local queues (what the SES engagement rule does), API
 * destinations are delivered by `apiDestinations` (the sales webhook). Every event put is also handed to the `onEvent`
 * listeners (the local console and log lines read them).
 */

export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

const PutEventsRequest = z.object({
  Entries: z
    .array(
      z.object({
        Source: z.string().min(1),
        DetailType: z.string().min(1),
        Detail: z.string(),
        EventBusName: z.string().optional(),
        Time: z.union([z.number(), z.string()]).optional(),
        Resources: z.array(z.string()).optional(),
      }),
    )
    .min(1)
    .max(10),
});

/** `arn:aws:events:…:event-bus/<name>` or `<name>` → `<name>`. */
const busName = (nameOrArn: string | undefined): string => {
  if (!nameOrArn) return 'default';
  const i = nameOrArn.lastIndexOf('/');
  return i >= 0 ? nameOrArn.slice(i + 1) : nameOrArn;
};

export class LocalEventBus {
  private readonly listeners = new Set<(event: BusEvent, bus: string) => void>();

  constructor(
    private readonly opts: {
      rules: readonly LocalRule[];
      queues: LocalQueues;
      apiDestinations?: LocalApiDestinations;
      clock: Clock;
      region: string;
      account: string;
      log: (line: string) => void;
    },
  ) {}

  /** Calls `listener` with every event put on any bus. */
  onEvent(listener: (event: BusEvent, bus: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Puts one event on a bus and delivers it to the matching rules' targets; returns the event. */
  async put(entry: {
    source: string;
    detailType: string;
    detail: unknown;
    bus?: string;
    time?: Date;
    resources?: string[];
  }): Promise<BusEvent> {
    const bus = busName(entry.bus);
    const event: BusEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.detailType,
      source: entry.source,
      account: this.opts.account,
      time: `${(entry.time ?? this.opts.clock.now()).toISOString().slice(0, 19)}Z`,
      region: this.opts.region,
      resources: entry.resources ?? [],
      detail: entry.detail,
    };
    for (const l of this.listeners) l(event, bus);
    for (const rule of this.opts.rules) {
      if (!rule.enabled || busName(rule.eventBusName) !== bus || !matchesPattern(rule.pattern, event)) continue;
      for (const target of rule.targets) {
        try {
          if (target.kind === 'sqs') this.opts.queues.send(target.queueLogicalId, JSON.stringify(event));
          else if (target.kind === 'api-destination' && this.opts.apiDestinations) {
            const ruleArn = `arn:aws:events:${this.opts.region}:${this.opts.account}:rule/${rule.logicalId}`;
            this.opts.apiDestinations.deliver(event, target, ruleArn);
          } else this.opts.log(`event bus: rule ${rule.logicalId} target ${target.id} does not run locally`);
        } catch (e) {
          this.opts.log(
            `event bus: delivery to ${target.id} of ${rule.logicalId} failed: ${e instanceof Error ? e.message : String(e)}`,
          );
        }
      }
    }
    return event;
  }

  /** `AWSEvents.PutEvents` on the local AWS endpoint (AWS JSON 1.1). */
  service(): LocalAwsService {
    return {
      targetPrefix: 'AWSEvents.',
      protocol: '1.1',
      handle: async (operation, body) => {
        if (operation !== 'PutEvents') {
          throw new AwsApiError('UnknownOperationException', `operation ${operation} is not supported locally`);
        }
        const request = PutEventsRequest.parse(body);
        const entries: { EventId?: string; ErrorCode?: string; ErrorMessage?: string }[] = [];
        for (const e of request.Entries) {
          let detail: unknown;
          try {
            detail = JSON.parse(e.Detail);
          } catch {
            entries.push({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
            continue;
          }
          const time = e.Time === undefined ? undefined : new Date(typeof e.Time === 'number' ? e.Time * 1000 : e.Time);
          const event = await this.put({
            source: e.Source,
            detailType: e.DetailType,
            detail,
            bus: e.EventBusName,
            ...(time && { time }),
            ...(e.Resources && { resources: e.Resources }),
          });
          entries.push({ EventId: event.id });
        }
        return { FailedEntryCount: entries.filter((e) => e.ErrorCode).length, Entries: entries };
      },
    };
  }
}
