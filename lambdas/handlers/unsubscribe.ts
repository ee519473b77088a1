import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { clock, repository, unsubscribeKeys } from '../adapters/aws.js';
import { ValidationError } from '../domain/errors.js';
import { escapeHtml } from '../domain/nurture/template-data.js';
import { leadOfToken, unsubscribe, type UnsubscribeDeps } from '../domain/nurture/unsubscribe.js';
import { bodyText, httpApi } from './http.js';

/** Unsubscribe bodies are one field; anything bigger is not a mail client. */
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

/** RFC 8058: the POST body carries `List-Unsubscribe=One-Click` (urlencoded or multipart/form-data). */
function oneClickVia(event: APIGatewayProxyEvent): 'one-click' | 'page' | undefined {
  const text = bodyText(event, MAX_BODY_BYTES);
  const type = (event.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    return /name="List-Unsubscribe"\r?\n\r?\nOne-Click\r?\n/.test(text) ? 'one-click' : undefined;
  }
  const form = new URLSearchParams(text);
  if (form.get('List-Unsubscribe') !== 'One-Click') return undefined;
  return form.get('from') === 'page' ? 'page' : 'one-click';
}

/**
 * `GET /unsubscribe?token=` shows a confirm button (mail scanners follow links, so a GET never unsubscribes);
 * `POST` with `List-Unsubscribe=One-Click` (the button, or a mail client's RFC 8058 one-click) records
 * `email_unsubscribed`. A missing, forged or expired token is a 400.
 */
export function createHandler(getDeps: () => UnsubscribeDeps) {
  return httpApi(async (event) => {
    const token = event.queryStringParameters?.token;
    if (event.httpMethod === 'GET') {
      try {
        await leadOfToken(getDeps(), token);
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        return page(
          400,
          'Link not valid',
          '<h1>This unsubscribe link is not valid</h1><p>It may be incomplete or too old. Use the link in a recent email, or reply to it and ask us to stop.</p>',
        );
      }
      const action = `?token=${encodeURIComponent(token ?? '')}`;
      return page(
        200,
        'Unsubscribe',
        `<h1>Unsubscribe from Leadloop emails?</h1><p>You will stop receiving our newsletters and follow-up emails.</p>` +
          `<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><input type="hidden" name="from" value="page">` +
          `<button type="submit" style="background:#1f6f5c;color:#fff;border:0;border-radius:6px;padding:.75rem 1.25rem;font-size:1rem;cursor:pointer">Unsubscribe</button></form>`,
      );
    }
    const via = oneClickVia(event);
    if (!via) throw new ValidationError('invalid unsubscribe request', { 'List-Unsubscribe': 'must be One-Click' });
    await unsubscribe(getDeps(), token, via);
    return page(
      200,
      'Unsubscribed',
      '<h1>You are unsubscribed</h1><p>You will not receive marketing emails from us any more.</p>',
    );
  });
}

export const handler = createHandler(() => ({ leads: repository(), clock, keys: unsubscribeKeys() }));
