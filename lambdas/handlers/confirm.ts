import type { APIGatewayProxyResult } from 'aws-lambda';
import { clock, repository, unsubscribeKeys } from '../adapters/aws.js';
import { ValidationError } from '../domain/errors.js';
import { confirmationOf, confirmConsent, type ConfirmDeps } from '../domain/nurture/confirmation.js';
import { escapeHtml } from '../domain/nurture/template-data.js';
import { bodyText, httpApi } from './http.js';

/** Confirmation bodies are one field at most; anything bigger is not the confirm button. */
const MAX_BODY_BYTES = 4 * 1024;

const page = (statusCode: number, title: string, inner: string): APIGatewayProxyResult => ({
  statusCode,
  headers: {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-robots-tag': 'noindex',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  },
  body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title></head><body style="font-family:Arial,Helvetica,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222">${inner}</body></html>`,
});

/** A 400 page naming what is wrong (`token: is expired`). */
const invalid = (e: ValidationError) =>
  page(
    400,
    'Link not valid',
    '<h1>This confirmation link is not valid</h1><p>It may be incomplete or too old. Sign up again and use the link in the new email.</p>' +
      `<p><small>${Object.entries(e.fields)
        .map(([field, reason]) => escapeHtml(`${field}: ${reason}`))
        .join('; ')}</small></p>`,
  );

/**
 * `GET /confirm?token=` shows a confirm button (mail scanners follow links, so a GET never confirms); `POST` records
 * `consent_confirmed`, and the consent given on the form counts from then on (DESIGN §6, confirmed opt-in). A
 * missing, forged or expired token (or an unsubscribe token) is a 400.
 */
export function createHandler(getDeps: () => ConfirmDeps) {
  return httpApi(async (event) => {
    const token = event.queryStringParameters?.token;
    try {
      if (event.httpMethod === 'GET') {
        await confirmationOf(getDeps(), token);
        const action = `?token=${encodeURIComponent(token ?? '')}`;
        return page(
          200,
          'Confirm your subscription',
          `<h1>Confirm your subscription</h1><p>Press the button to start receiving our emails. You can unsubscribe with one click in any of them.</p>` +
            `<form method="post" action="${escapeHtml(action)}">` +
            `<button type="submit" style="background:#1f6f5c;color:#fff;border:0;border-radius:6px;padding:.75rem 1.25rem;font-size:1rem;cursor:pointer">Confirm</button></form>`,
        );
      }
      bodyText(event, MAX_BODY_BYTES);
      await confirmConsent(getDeps(), token);
    } catch (e) {
      if (e instanceof ValidationError) return invalid(e);
      throw e;
    }
    return page(200, 'Subscription confirmed', '<h1>Thank you</h1><p>Your subscription is confirmed.</p>');
  });
}

export const handler = createHandler(() => ({ leads: repository(), clock, keys: unsubscribeKeys() }));
