import { ulid } from 'ulid';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { captureForm, type CaptureDeps } from '../domain/capture.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import { FormSubmission, isFormId } from '../domain/forms.js';
import { parseOrThrow } from '../domain/validation.js';
import {
  allowedOriginsFromEnv,
  clock,
  confirmationMailSettings,
  confirmedOptInFromEnv,
  logger,
  mailer,
  metrics,
  repository,
  sendingStore,
  unsubscribeKeys,
} from '../adapters/aws.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { requestConfirmation, type ConfirmationDeps } from '../domain/nurture/confirmation.js';
import { bodyKind, bodyText, httpApi, json, parseJson, parseUrlEncoded } from './http.js';

/** DESIGN §8: bodies over 16 KiB are refused before parsing. */
const MAX_BODY_BYTES = 16 * 1024;

export interface FormHandlerDeps extends CaptureDeps {
  /** Origins allowed as form `redirect` targets (and for CORS). */
  allowedOrigins: readonly string[];
  /** What sends the confirmation mail of consent that waits for confirmation (built on first use). */
  confirmation?: () => ConfirmationDeps;
}

/**
 * Where to send the browser: the target resolved against the page the form was posted from (its Origin, if allowed;
 * else the first allowed origin), so `/thanks.html` returns to the landing page's site, not the API's host.
 * Undefined unless it lands on an allowed origin: `//evil.example` and the like resolve off-site and are refused.
 */
function redirectTarget(allowed: readonly string[], target: string, origin: string | undefined): string | undefined {
  const base = origin && allowed.includes(origin) ? origin : allowed[0];
  if (base === undefined) return undefined;
  try {
    const url = new URL(target, base);
    const ok = (url.protocol === 'https:' || url.protocol === 'http:') && allowed.includes(url.origin);
    return ok ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** `POST /forms/{formId}`: a landing-page form (JSON or a plain HTML urlencoded post). */
export function createHandler(getDeps: () => FormHandlerDeps) {
  return httpApi(async (event) => {
    const deps = getDeps();
    const formId = event.pathParameters?.formId ?? '';
    if (!isFormId(formId)) throw new NotFoundError(`no form "${formId.slice(0, 64)}"`);
    const kind = bodyKind(event, ['json', 'form']);
    const text = bodyText(event, MAX_BODY_BYTES);
    const body = kind === 'json' ? parseJson(text) : parseUrlEncoded(text);
    const submission = parseOrThrow(FormSubmission, body, 'form submission');
    const location = submission.redirect
      ? redirectTarget(deps.allowedOrigins, submission.redirect, event.headers.origin)
      : undefined;
    if (submission.redirect && !location) {
      throw new ValidationError('invalid form submission', { redirect: 'is not on an allowed origin' });
    }
    const answer = (leadId: string) =>
      kind === 'form' && location
        ? { statusCode: 303, headers: { location }, body: '' }
        : json(202, { leadId, status: 'accepted' });

    if (submission.website) {
      metrics.addMetric('SubmissionsRejected_honeypot', MetricUnit.Count, 1);
      return answer(ulid(deps.clock.now().getTime()));
    }
    const { leadId, outcome, confirmation } = await captureForm(deps, {
      formId,
      submission,
      idempotencyKey: event.headers['idempotency-key']?.slice(0, 256),
      ip: event.requestContext?.identity?.sourceIp,
    });
    metrics.addMetric(outcome === 'recorded' ? 'LeadsCaptured' : `Submissions_${outcome}`, MetricUnit.Count, 1);
    if (confirmation === 'requested' && leadId && deps.confirmation) await confirm(deps.confirmation, leadId);
    return answer(leadId ?? ulid(deps.clock.now().getTime()));
  });
}

/**
 * The confirmation mail of pending consent. The submission is recorded either way: a mail that could not go out is
 * logged (the person can submit again), never a 5xx for a form that was captured.
 */
async function confirm(getDeps: () => ConfirmationDeps, leadId: string): Promise<void> {
  try {
    const outcome = await requestConfirmation(getDeps(), leadId);
    metrics.addMetric(`ConfirmationMail_${outcome}`, MetricUnit.Count, 1);
  } catch (error) {
    logger.warn('confirmation mail not sent', {
      leadId,
      error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
    });
  }
}

const allowedOrigins = allowedOriginsFromEnv();
export const handler = createHandler(() => ({
  leads: repository(),
  clock,
  newLeadId: (at: Date) => ulid(at.getTime()),
  allowedOrigins,
  confirmedOptIn: confirmedOptInFromEnv(),
  confirmation: () => ({
    leads: repository(),
    clock,
    mailer: mailer(),
    mail: confirmationMailSettings(),
    signingKeys: unsubscribeKeys(),
    store: sendingStore(),
    policy: DEFAULT_NURTURE_PLAN.policy.confirmation,
    unsubscribeLinkDays: DEFAULT_NURTURE_PLAN.policy.unsubscribeLinkDays,
  }),
}));
