import { NotFoundError, ValidationError } from '../domain/errors.js';
import { Email } from '../domain/identity.js';
import { leadExport, leadView } from '../domain/lead-view.js';
import { clock, repository } from '../adapters/runtime.js';
import { httpApi, json } from './http.js';

async function mustFind(leadId: string | undefined) {
  const lead = leadId ? await repository.getLead(leadId) : undefined;
  if (!lead) throw new NotFoundError('no such lead');
  return lead;
}

/** Admin routes (IAM on AWS; x-admin-key locally): read, export and erase leads. */
export const handler = httpApi(async (event) => {
  const route = `${event.httpMethod} ${event.resource}`;
  switch (route) {
    case 'GET /leads': {
      const parsed = Email.safeParse(event.queryStringParameters?.email ?? '');
      if (!parsed.success)
        throw new ValidationError('invalid query', { email: parsed.error.issues[0]?.message ?? 'is invalid' });
      const lead = await mustFind(await repository.findLeadIdByEmail(parsed.data));
      return json(200, leadView(lead, await repository.stageHistory(lead.leadId)));
    }
    case 'GET /leads/{leadId}': {
      const lead = await mustFind(event.pathParameters?.leadId);
      return json(200, leadView(lead, await repository.stageHistory(lead.leadId)));
    }
    case 'GET /leads/{leadId}/export': {
      const lead = await mustFind(event.pathParameters?.leadId);
      const [history, events] = await Promise.all([
        repository.stageHistory(lead.leadId),
        repository.listEvents(lead.leadId),
      ]);
      return json(200, leadExport(lead, history, events));
    }
    case 'DELETE /leads/{leadId}': {
      // A nurture run of the erased lead finds no lead at its next step and ends without sending anything.
      const lead = await mustFind(event.pathParameters?.leadId);
      if (!(await repository.eraseLead(lead.leadId, clock.now()))) throw new NotFoundError('no such lead');
      return { statusCode: 204, body: '' };
    }
    default:
      throw new NotFoundError('no such route');
  }
});
