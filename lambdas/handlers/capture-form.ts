import { ulid } from 'ulid';
import { captureForm } from '../domain/capture.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import { FormSubmission, isFormId } from '../domain/forms.js';
import { parseOrThrow } from '../domain/validation.js';
import { clock, config, metrics, repository } from '../adapters/runtime.js';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { bodyKind, bodyText, httpApi, json, parseJson, parseUrlEncoded } from './http.js';

/** DESIGN §8: bodies over 16 KiB are refused before parsing. */
const MAX_BODY_BYTES = 16 * 1024;

const deps = { leads: repository, clock, newLeadId: (at: Date) => ulid(at.getTime()) };

/** A redirect target is allowed if it is a same-site path or on an allowed origin. */
function allowedRedirect(target: string): boolean {
  if (target.startsWith('/') && !target.startsWith('//') && !target.startsWith('/\\')) return true;
  try {
    return config.allowedOrigins.includes(new URL(target).origin);
  } catch {
    return false;
  }
}

/** `POST /forms/{formId}`: a landing-page form (JSON or a plain HTML urlencoded post). */
export const handler = httpApi(async (event) => {
  const formId = event.pathParameters?.formId ?? '';
  if (!isFormId(formId)) throw new NotFoundError(`no form "${formId.slice(0, 64)}"`);
  const kind = bodyKind(event, ['json', 'form']);
  const text = bodyText(event, MAX_BODY_BYTES);
  const body = kind === 'json' ? parseJson(text) : parseUrlEncoded(text);
  const submission = parseOrThrow(FormSubmission, body, 'form submission');
  if (submission.redirect !== undefined && !allowedRedirect(submission.redirect)) {
    throw new ValidationError('invalid form submission', { redirect: 'is not on an allowed origin' });
  }
  const answer = (leadId: string) =>
    kind === 'form' && submission.redirect
      ? { statusCode: 303, headers: { location: submission.redirect }, body: '' }
      : json(202, { leadId, status: 'accepted' });

  if (submission.website) {
    metrics.addMetric('SubmissionsRejected_honeypot', MetricUnit.Count, 1);
    return answer(ulid(clock.now().getTime()));
  }
  const { leadId, outcome } = await captureForm(deps, {
    formId,
    submission,
    idempotencyKey: event.headers['idempotency-key']?.slice(0, 256),
    ip: event.requestContext?.identity?.sourceIp,
  });
  metrics.addMetric(outcome === 'recorded' ? 'LeadsCaptured' : `Submissions_${outcome}`, MetricUnit.Count, 1);
  return answer(leadId ?? ulid(clock.now().getTime()));
});
