import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { CONFIRMATION_TEMPLATE } from '../../lambdas/domain/nurture/confirmation.js';
import { TEMPLATE_FIELDS } from '../../lambdas/domain/nurture/template-data.js';
import { DEFAULT_VARIANT, type NurturePlan } from '../../lambdas/domain/nurture/tracks.js';
import { templatesOf } from '../../lambdas/domain/nurture/experiments.js';
import { sesTemplateName } from '../../lambdas/domain/nurture/variants.js';

/**
 * Email content as files (DESIGN §6): `templates/<template>/<variant>/{subject.txt, body.html, body.txt}`, wrapped in
 * `layout.html` / `layout.txt` (header, footer, unsubscribe link) at the `{{!-- body --}}` marker. The stack deploys
 * each as an SES template; the local runtime loads the same into local SES.
 *
 * Templates use SES's Handlebars, restricted to what we can check: `{{html.<field>}}` in the HTML part,
 * `{{text.<field>}}` in the subject and text part, `{{#if …}}…{{else}}…{{/if}}` and comments. Anything else, a
 * field we do not supply, a missing unsubscribe link, a track touch without its template or a variant without its
 * files fails here, at synth and test time, not at send time.
 */

/** Where the shipped content lives. */
export const EMAIL_DIR = fileURLToPath(new URL('./', import.meta.url));

/** Templates sent outside the tracks, in their default variant only. */
export const TRANSACTIONAL_TEMPLATES: readonly string[] = [CONFIRMATION_TEMPLATE];

/** Marker in the layouts where each body goes. */
export const BODY_MARKER = '{{!-- body --}}';

/** One SES template: a touch's template in one variant, composed with the layout. */
export interface EmailTemplate {
  /** SES template name (`<prefix>-<template>--<variant>`). */
  name: string;
  template: string;
  variant: string;
  subject: string;
  html: string;
  text: string;
}

export class InvalidEmailTemplatesError extends Error {
  override readonly name = 'InvalidEmailTemplatesError';
  constructor(readonly problems: string[]) {
    super(`invalid email templates:\n  ${problems.join('\n  ')}`);
  }
}

type Part = 'subject' | 'html' | 'text';
const PART_FILES: Record<Part, string> = { subject: 'subject.txt', html: 'body.html', text: 'body.txt' };
const NAMESPACE: Record<Part, 'html' | 'text'> = { subject: 'text', html: 'html', text: 'text' };
const KNOWN_FIELDS: ReadonlySet<string> = new Set(TEMPLATE_FIELDS);

/**
 * Problems in one part of a template: every `{{…}}` must be a comment, a supplied field in the part's namespace,
 * or a balanced `#if`/`#unless` block on one; single-brace `{field}` typos are caught too.
 */
export function templatePartProblems(source: string, part: Part, where: string): string[] {
  const problems: string[] = [];
  const ns = NAMESPACE[part];
  const field = (ref: string): void => {
    const m = /^(html|text)\.([A-Za-z][A-Za-z0-9]*)$/.exec(ref);
    if (!m) {
      problems.push(`${where}: "{{${ref}}}" is not a field reference (use {{${ns}.<field>}})`);
      return;
    }
    const [, refNs, name] = m;
    if (!name || !KNOWN_FIELDS.has(name)) {
      problems.push(`${where}: unknown field "${ref}" (supplied fields: ${TEMPLATE_FIELDS.join(', ')})`);
    } else if (refNs !== ns) {
      problems.push(`${where}: "${ref}" in the ${part} part must be "${ns}.${name}" (${ns === 'html' ? 'HTML-escaped' : 'raw text'} values)`);
    }
  };
  const blocks: string[] = [];
  const mustache = /\{\{(\{?)([\s\S]*?)\}\}(\}?)/g;
  for (const m of source.matchAll(mustache)) {
    const triple = m[1] === '{' || m[3] === '}';
    const inner = (m[2] ?? '').trim();
    if (inner.startsWith('!')) continue;
    if (triple) {
      problems.push(`${where}: triple braces "{{{${inner}}}}" are not allowed (values are already escaped per part)`);
      continue;
    }
    const open = /^#(if|unless)\s+(\S+)$/.exec(inner);
    if (open) {
      blocks.push(open[1] ?? '');
      field(open[2] ?? '');
    } else if (inner === 'else') {
      if (blocks.length === 0) problems.push(`${where}: {{else}} outside of an {{#if}} block`);
    } else if (/^\/(if|unless)$/.test(inner)) {
      const closing = inner.slice(1);
      if (blocks.pop() !== closing) problems.push(`${where}: {{/${closing}}} does not close an open {{#${closing}}}`);
    } else if (/^[#/>^&]/.test(inner) || /\s/.test(inner)) {
      problems.push(`${where}: "{{${inner}}}" is not supported (only fields, #if/#unless and comments)`);
    } else {
      field(inner);
    }
  }
  for (const b of blocks) problems.push(`${where}: {{#${b}}} is never closed`);
  const stripped = source.replace(mustache, '');
  for (const m of stripped.matchAll(/(?<!\{)\{\s*((?:html|text)\.[A-Za-z]+|[a-z][A-Za-z]+)\s*\}(?!\})/g)) {
    if (KNOWN_FIELDS.has((m[1] ?? '').replace(/^(html|text)\./, ''))) {
      problems.push(`${where}: "${m[0]}" looks like a field with single braces`);
    }
  }
  if (part === 'subject' && /[\r\n]/.test(source)) problems.push(`${where}: the subject must be one line`);
  return problems;
}

const readText = (file: string): string | undefined => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);
const subdirs = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir).filter((d) => statSync(join(dir, d)).isDirectory()).sort() : [];

/**
 * Loads every template the plan's touches send, in every variant they declare (plus `default`), composed with the
 * layout, and validates all of it against the plan and the fields nurture supplies. Throws
 * InvalidEmailTemplatesError listing every problem.
 */
export function loadEmailTemplates(
  opts: { prefix: string; plan?: NurturePlan; dir?: string } = { prefix: 'leadloop' },
): EmailTemplate[] {
  const plan = opts.plan ?? DEFAULT_NURTURE_PLAN;
  const dir = opts.dir ?? EMAIL_DIR;
  const problems: string[] = [];
  const layout = { html: readText(join(dir, 'layout.html')), text: readText(join(dir, 'layout.txt')) };
  for (const part of ['html', 'text'] as const) {
    const src = layout[part];
    if (src === undefined) problems.push(`layout.${part === 'html' ? 'html' : 'txt'}: missing`);
    else if (src.split(BODY_MARKER).length !== 2) problems.push(`layout.${part === 'html' ? 'html' : 'txt'}: must contain ${BODY_MARKER} exactly once`);
  }

  const wanted = new Map<string, Set<string>>();
  for (const track of plan.tracks) {
    for (const touch of track.touches) {
      // A content test sends each of its templates in place of the touch's own, in the touch's industry variants.
      for (const template of templatesOf(touch)) {
        const variants = wanted.get(template) ?? new Set<string>([DEFAULT_VARIANT]);
        for (const v of touch.variants) variants.add(v);
        wanted.set(template, variants);
      }
    }
  }
  // Transactional mail: sent by the form function (the confirmation of consent), not by a track.
  for (const template of TRANSACTIONAL_TEMPLATES) wanted.set(template, new Set([DEFAULT_VARIANT]));
  const templatesDir = join(dir, 'templates');
  for (const found of subdirs(templatesDir)) {
    if (!wanted.has(found)) problems.push(`templates/${found}: not sent by any track touch (remove it or add a touch)`);
  }

  const templates: EmailTemplate[] = [];
  for (const [template, variants] of wanted) {
    if (!existsSync(join(templatesDir, template))) {
      problems.push(`templates/${template}: missing (a track touch sends it)`);
      continue;
    }
    for (const found of subdirs(join(templatesDir, template))) {
      if (!variants.has(found)) problems.push(`templates/${template}/${found}: no touch declares this variant`);
    }
    for (const variant of variants) {
      const where = `templates/${template}/${variant}`;
      const parts: Partial<Record<Part, string>> = {};
      for (const part of ['subject', 'html', 'text'] as const) {
        const src = readText(join(templatesDir, template, variant, PART_FILES[part]));
        if (src === undefined || src.trim() === '') {
          problems.push(`${where}/${PART_FILES[part]}: missing or empty`);
          continue;
        }
        parts[part] = part === 'subject' ? src.trim() : src;
        problems.push(...templatePartProblems(parts[part] ?? '', part, `${where}/${PART_FILES[part]}`));
      }
      if (parts.subject === undefined || parts.html === undefined || parts.text === undefined) continue;
      if (layout.html === undefined || layout.text === undefined) continue;
      const html = layout.html.replace(BODY_MARKER, parts.html.trimEnd());
      const text = layout.text.replace(BODY_MARKER, parts.text.trimEnd());
      if (TRANSACTIONAL_TEMPLATES.includes(template) && !parts.html.includes('{{html.confirmUrl}}')) {
        problems.push(`${where}: the HTML part has no {{html.confirmUrl}} link`);
      }
      if (!html.includes('{{html.unsubscribeUrl}}')) problems.push(`${where}: the HTML part has no {{html.unsubscribeUrl}} link`);
      if (!text.includes('{{text.unsubscribeUrl}}')) problems.push(`${where}: the text part has no {{text.unsubscribeUrl}} link`);
      let name = '';
      try {
        name = sesTemplateName(opts.prefix, template, variant);
      } catch (e) {
        problems.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
      }
      templates.push({ name, template, variant, subject: parts.subject, html, text });
    }
  }
  if (problems.length > 0) throw new InvalidEmailTemplatesError(problems);
  return templates.sort((a, b) => a.name.localeCompare(b.name));
}
