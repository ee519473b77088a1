import type { Lead } from '../lead.js';

/**
 * The personalization fields every nurture email gets. Templates reference them as `{{html.<field>}}` in the HTML
 * part (HTML-escaped values) and `{{text.<field>}}` in the subject and text part (raw values): SES renders template
 * data as given, without escaping, so the escaping is ours. lib/email/catalog.ts rejects any other reference.
 */
export const TEMPLATE_FIELDS = [
  'firstName',
  'company',
  'siteUrl',
  'unsubscribeUrl',
  'mailingAddress',
  'confirmUrl',
] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];

export type TemplateValues = Record<TemplateField, string>;

/** What SES receives as `TemplateData`. */
export interface TemplateData {
  html: TemplateValues;
  text: TemplateValues;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
  '=': '&#61;',
};

/** Escapes a value for HTML text and quoted attribute values. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"'`=]/g, (c) => HTML_ESCAPES[c] ?? c);

/** Collapses whitespace and strips control characters (a header-safe, single-line value). */
const clean = (s: string | undefined, max: number): string =>
  (s ?? '')
    .replace(/\p{Cc}+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max);

/** The template data of one email to `lead`, with neutral fallbacks for what the lead did not tell us. */
export function templateDataFor(
  lead: Lead,
  ctx: { unsubscribeUrl: string; mailingAddress: string; siteUrl: string; confirmUrl?: string },
): TemplateData {
  const text: TemplateValues = {
    firstName: clean(lead.profile.firstName, 60) || 'there',
    company: clean(lead.profile.company, 100) || 'your team',
    siteUrl: ctx.siteUrl.replace(/\/+$/, ''),
    unsubscribeUrl: ctx.unsubscribeUrl,
    mailingAddress: clean(ctx.mailingAddress, 200),
    confirmUrl: ctx.confirmUrl ?? '',
  };
  const html: TemplateValues = {
    firstName: escapeHtml(text.firstName),
    company: escapeHtml(text.company),
    siteUrl: escapeHtml(text.siteUrl),
    unsubscribeUrl: escapeHtml(text.unsubscribeUrl),
    mailingAddress: escapeHtml(text.mailingAddress),
    confirmUrl: escapeHtml(text.confirmUrl),
  };
  return { html, text };
}
