import type { RuleTarget } from '../deployment.js';
import type { BusEvent } from './event-bus.js';
import type { LocalQueues } from './queues.js';

type ApiDestinationTarget = Extract<RuleTarget, { kind: 'api-destination' }>;

/** One delivery of an event to an API destination, as it went. */
export interface Delivery {
  eventId: string;
  detailType: string;
  endpoint: string;
  status: 'delivered' | 'dead-lettered' | 'pending';
  attempts: number;
  /** Real time (epoch ms) the event was put, and the destination answered 2xx. */
  putAt: number;
  deliveredAt?: number;
  lastStatus?: number;
  lastError?: string;
}

/**
 * EventBridge API destinations, locally: an event a rule routes to one is POSTed (the whole event as JSON, as
 * EventBridge sends it) to the destination's endpoint with the connection's credential header; a 5xx, a 429, a timeout
 * or a refused connection is retried with exponential backoff and jitter within the target's retry policy (attempts
 * and event age); a 4xx, or running out of retries, sends the event to the target's dead-letter queue with EventBridge's
 * error attributes. Deliveries run beside the bus: a failing endpoint never holds up whoever put the event.
 */
export class LocalApiDestinations {
  private readonly inFlight = new Set<Promise<void>>();
  readonly deliveries: Delivery[] = [];

  constructor(
    private readonly opts: {
      queues: LocalQueues;
      log: (line: string) => void;
      /** The credential header's value when the template names it from a secret (the local stack cannot read it). */
      authValue?: string;
      /** First retry delay; doubles each attempt, with full jitter, up to 30 s. @default 250 */
      retryBaseMs?: number;
      /** Per-attempt timeout (EventBridge waits 5 s). @default 5000 */
      timeoutMs?: number;
      fetch?: typeof fetch;
    },
  ) {}

  /** Starts delivering `event` to `target`; resolves at once. */
  deliver(event: BusEvent, target: ApiDestinationTarget, ruleArn: string): void {
    const delivery: Delivery = {
      eventId: event.id,
      detailType: event['detail-type'],
      endpoint: target.endpoint,
      status: 'pending',
      attempts: 0,
      putAt: Date.now(),
    };
    this.deliveries.push(delivery);
    const run = this.run(event, target, ruleArn, delivery).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  /** Resolves once every delivery started so far has been delivered or dead-lettered. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async run(event: BusEvent, target: ApiDestinationTarget, ruleArn: string, d: Delivery): Promise<void> {
    const fetchFn = this.opts.fetch ?? fetch;
    const deadline = d.putAt + target.maximumEventAgeSeconds * 1000;
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Amazon/EventBridge/ApiDestinations (leadloop local)',
    };
    const auth = target.authHeader;
    const authValue = auth?.value ?? (auth?.secretReference ? this.opts.authValue : undefined);
    if (auth && authValue !== undefined) headers[auth.name] = authValue;
    for (;;) {
      d.attempts++;
      let retryable: boolean;
      try {
        const res = await fetchFn(target.endpoint, {
          method: target.method,
          headers,
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
        });
        d.lastStatus = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          d.status = 'delivered';
          d.deliveredAt = Date.now();
          return;
        }
        retryable = res.status >= 500 || res.status === 429;
        d.lastError = `HTTP ${res.status}`;
      } catch (e) {
        retryable = true;
        d.lastError = e instanceof Error ? e.message : String(e);
      }
      const delay = Math.random() * Math.min(30_000, (this.opts.retryBaseMs ?? 250) * 2 ** (d.attempts - 1));
      if (!retryable || d.attempts > target.maximumRetryAttempts || Date.now() + delay > deadline) {
        d.status = 'dead-lettered';
        if (target.deadLetterQueue) {
          this.opts.queues.send(target.deadLetterQueue, JSON.stringify(event), {
            RULE_ARN: ruleArn,
            TARGET_ARN: target.destination,
            ERROR_CODE: retryable ? 'RETRY_ATTEMPTS_EXHAUSTED' : 'SDK_CLIENT_ERROR',
            ERROR_MESSAGE: d.lastError ?? '',
          });
        }
        this.opts.log(
          `sales webhook: ${event['detail-type']} ${event.id} dead-lettered after ${d.attempts} attempt(s) (${d.lastError ?? ''})`,
        );
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
