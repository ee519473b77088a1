import { ulid } from 'ulid';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBatch, ingestEvents, type CaptureDeps } from '../domain/capture.js';
import { parseOrThrow } from '../domain/validation.js';
import { clock, metrics, repository } from '../adapters/aws.js';
import { bodyKind, bodyText, httpApi, json, parseJson } from './http.js';

/** 100 events of a few hundred bytes each fit comfortably; anything larger is a client bug. */
const MAX_BODY_BYTES = 256 * 1024;

/** `POST /events` (API key checked by API Gateway): web and product events from the site backend, up to 100. */
export function createHandler(deps: () => CaptureDeps) {
  return httpApi(async (event) => {
    bodyKind(event, ['json']);
    const { events } = parseOrThrow(EventBatch, parseJson(bodyText(event, MAX_BODY_BYTES)), 'event batch');
    const result = await ingestEvents(deps(), events);
    metrics.addMetric('EventsIngested', MetricUnit.Count, result.accepted);
    metrics.addMetric('EventsDuplicate', MetricUnit.Count, result.duplicates);
    metrics.addMetric('EventsRejected', MetricUnit.Count, result.rejected.length);
    return json(202, result);
  });
}

export const handler = createHandler(() => ({
  leads: repository(),
  clock,
  newLeadId: (at: Date) => ulid(at.getTime()),
}));
