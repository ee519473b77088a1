import type { Clock } from '../domain/clock.js';
import { continueErasure, type ErasureStore } from '../domain/erasure.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import { Email } from '../domain/identity.js';
import { erasureView, leadExportPage, leadView } from '../domain/lead-view.js';
import { clock, logger, repository } from '../adapters/aws.js';
import type { DynamoLeadRepository } from '../adapters/dynamo-lead-repository.js';
import { httpApi, json } from './http.js';

export interface AdminDeps {
  leads: Pick<DynamoLeadRepository, 'getLead' | 'findLeadIdByEmail' | 'stageHistory' | 'eventsPage'> & ErasureStore;
  clock: Clock;
  /** Time `DELETE` spends erasing before it answers 202 and leaves the rest to the erase worker (ms). @default 3_000 */
  eraseBudgetMs?: number;
  /** Events per export page. @default 1_000 */
  exportPageSize?: number;
}

/** An export cursor: the last event id of the page before, opaque to the caller. */
const cursorOf = (eventId: string) => Buffer.from(eventId, 'utf8').toString('base64url');
function eventIdOf(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[\w.:-]{1,128}$/.test(id)) throw new ValidationError('invalid query', { cursor: 'is not an export cursor' });
  return id;
}

/** Admin routes (IAM on AWS; x-admin-key locally): read, export and erase leads. */
export function createHandler(getDeps: () => AdminDeps) {
  return httpApi(async (event) => {
    const { leads, clock: now, eraseBudgetMs = 3_000, exportPageSize = 1_000 } = getDeps();
    const mustFind = async (leadId: string | undefined) => {
      const lead = leadId ? await leads.getLead(leadId) : undefined;
      if (!lead) throw new NotFoundError('no such lead');
      return lead;
    };
    const route = `${event.httpMethod} ${event.resource}`;
    switch (route) {
      case 'GET /leads': {
        const parsed = Email.safeParse(event.queryStringParameters?.email ?? '');
        if (!parsed.success)
          throw new ValidationError('invalid query', { email: parsed.error.issues[0]?.message ?? 'is invalid' });
        const lead = await mustFind(await leads.findLeadIdByEmail(parsed.data));
        return json(200, leadView(lead, await leads.stageHistory(lead.leadId)));
      }
      case 'GET /leads/{leadId}': {
        const lead = await mustFind(event.pathParameters?.leadId);
        return json(200, leadView(lead, await leads.stageHistory(lead.leadId)));
      }
      case 'GET /leads/{leadId}/export': {
        const after = eventIdOf(event.queryStringParameters?.cursor);
        const lead = await mustFind(event.pathParameters?.leadId);
        const [history, page] = await Promise.all([
          leads.stageHistory(lead.leadId),
          leads.eventsPage(lead.leadId, exportPageSize, after),
        ]);
        return json(200, leadExportPage(lead, history, page.events, page.next && cursorOf(page.next)));
      }
      case 'DELETE /leads/{leadId}': {
        const leadId = event.pathParameters?.leadId ?? '';
        const request = leadId ? await leads.requestErasure(leadId, now.now()) : undefined;
        if (!request) throw new NotFoundError('no such lead');
        // The tombstone is written: whatever happens to the rest within this call, the erase worker finishes it.
        const deadline = Date.now() + eraseBudgetMs;
        const progress = await continueErasure({ store: leads }, leadId, () => deadline - Date.now(), {
          recordProgress: false,
        }).catch((error: unknown) => {
          logger.warn('erasure left to the erase worker', {
            leadId,
            error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
          });
          return 'in_progress' as const;
        });
        if (progress === 'done') return { statusCode: 204, body: '' };
        const status = (await leads.erasureStatus(leadId)) ?? request.status;
        return json(202, erasureView(status), { location: `${leadPath(event.path)}/erasure` });
      }
      case 'GET /leads/{leadId}/erasure': {
        const status = await leads.erasureStatus(event.pathParameters?.leadId ?? '');
        if (!status) throw new NotFoundError('no erasure under way (finished, or never asked for)');
        return json(200, erasureView(status));
      }
      default:
        throw new NotFoundError('no such route');
    }
  });
}

/** `/v1/leads/{id}` of the request path (a stage prefix kept), without a trailing `/erasure`. */
const leadPath = (path: string) => path.replace(/\/erasure$/, '').replace(/\/+$/, '');

export const handler = createHandler(() => ({ leads: repository(), clock }));
