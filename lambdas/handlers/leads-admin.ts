import type { Clock } from '../domain/clock.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import { Email } from '../domain/identity.js';
import { leadExport, leadView } from '../domain/lead-view.js';
import { clock, repository } from '../adapters/aws.js';
import type { DynamoLeadRepository } from '../adapters/dynamo-lead-repository.js';
import { httpApi, json } from './http.js';

export interface AdminDeps {
  leads: Pick<DynamoLeadRepository, 'getLead' | 'findLeadIdByEmail' | 'stageHistory' | 'listEvents' | 'eraseLead'>;
  clock: Clock;
}

/** Admin routes (IAM on AWS; x-admin-key locally): read, export and erase leads. */
export function createHandler(getDeps: () => AdminDeps) {
  return httpApi(async (event) => {
    const { leads, clock: now } = getDeps();
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
        const lead = await mustFind(event.pathParameters?.leadId);
        const [history, events] = await Promise.all([leads.stageHistory(lead.leadId), leads.listEvents(lead.leadId)]);
        return json(200, leadExport(lead, history, events));
      }
      case 'DELETE /leads/{leadId}': {
        // A nurture run of the erased lead finds no lead at its next step and ends without sending anything.
        const lead = await mustFind(event.pathParameters?.leadId);
        if (!(await leads.eraseLead(lead.leadId, now.now()))) throw new NotFoundError('no such lead');
        return { statusCode: 204, body: '' };
      }
      default:
        throw new NotFoundError('no such route');
    }
  });
}

export const handler = createHandler(() => ({ leads: repository(), clock }));
