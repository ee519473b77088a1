import { mkdtempSync, mkdirSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newLead } from '../../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import { renderTemplate } from '../../../lambdas/domain/nurture/render.js';
import { escapeHtml, templateDataFor } from '../../../lambdas/domain/nurture/template-data.js';
import { industryOf, sesTemplateName, variantFor } from '../../../lambdas/domain/nurture/variants.js';
import { touchAt, trackById } from '../../../lambdas/domain/nurture/tracks.js';
import {
  EMAIL_DIR,
  InvalidEmailTemplatesError,
  loadEmailTemplates,
  templatePartProblems,
} from '../../../lib/email/catalog.js';

const lead = {
  ...newLead('01JLEAD', 'ada@example.com', new Date('2026-03-01T00:00:00Z')),
  profile: { firstName: 'Ada <script>', company: 'Smith & "Sons"' },
};
const data = templateDataFor(lead, {
  unsubscribeUrl: 'https://api.example.com/unsubscribe?token=a.b.c',
  mailingAddress: '1 Main St',
  siteUrl: 'https://example.com/',
});

describe('template data', () => {
  it('escapes values for HTML and keeps them raw for text, with neutral fallbacks', () => {
    expect(data.html.firstName).toBe('Ada &lt;script&gt;');
    expect(data.html.company).toBe('Smith &amp; &quot;Sons&quot;');
    expect(data.text.company).toBe('Smith & "Sons"');
    expect(data.text.siteUrl).toBe('https://example.com');
    const anonymous = templateDataFor(newLead('01J', 'x@example.com', new Date()), {
      unsubscribeUrl: 'https://u',
      mailingAddress: 'a',
      siteUrl: 'https://s',
    });
    expect([anonymous.text.firstName, anonymous.text.company]).toEqual(['there', 'your team']);
    expect(escapeHtml(`<a href="x" onclick='y'>`)).toBe('&lt;a href&#61;&quot;x&quot; onclick&#61;&#39;y&#39;&gt;');
  });

  it('keeps header-breaking characters out of subjects', () => {
    const sneaky = templateDataFor(
      { ...lead, profile: { firstName: 'Ada\r\nBcc: all@example.com' } },
      { unsubscribeUrl: 'https://u', mailingAddress: 'a', siteUrl: 'https://s' },
    );
    expect(sneaky.text.firstName).toBe('Ada Bcc: all@example.com');
  });
});

describe('industry variants', () => {
  const touch = touchAt(trackById(DEFAULT_NURTURE_PLAN, 'case-studies'), 1);
  it('maps free-text industries to variants and falls back to the default', () => {
    expect(industryOf('Residential Real Estate', DEFAULT_NURTURE_PLAN.industries)?.id).toBe('real-estate');
    expect(variantFor(touch, 'Kitchen remodeling', DEFAULT_NURTURE_PLAN.industries)).toBe('general-contractor');
    expect(variantFor(touch, 'Dental clinic', DEFAULT_NURTURE_PLAN.industries)).toBe('healthcare');
    expect(variantFor(touch, 'MSP', DEFAULT_NURTURE_PLAN.industries)).toBe('tech-support');
    expect(variantFor(touch, 'tech-support', DEFAULT_NURTURE_PLAN.industries)).toBe('tech-support');
    expect(variantFor(touch, 'Aerospace', DEFAULT_NURTURE_PLAN.industries)).toBe('default');
    expect(variantFor(touch, undefined, DEFAULT_NURTURE_PLAN.industries)).toBe('default');
    expect(
      variantFor(
        touchAt(trackById(DEFAULT_NURTURE_PLAN, 'newsletter'), 1),
        'Real estate',
        DEFAULT_NURTURE_PLAN.industries,
      ),
    ).toBe('default');
  });

  it('names SES templates safely', () => {
    expect(sesTemplateName('leadloop', 'case-study-1', 'real-estate')).toBe('leadloop-case-study-1--real-estate');
    expect(() => sesTemplateName('lead loop', 'x', 'default')).toThrow(/invalid SES template name/);
  });
});

describe('the shipped templates', () => {
  const templates = loadEmailTemplates({ prefix: 'leadloop' });

  it('exist for every touch (and content variant) in every declared variant, each with subject, HTML, text and an unsubscribe link', () => {
    const expected = DEFAULT_NURTURE_PLAN.tracks.flatMap((t) =>
      t.touches.flatMap((touch) =>
        [touch.template, ...(touch.contentVariants ?? []).map((cv) => cv.template)].flatMap((template) =>
          ['default', ...touch.variants].map((v) => `leadloop-${template}--${v}`),
        ),
      ),
    );
    expect(expected).toContain('leadloop-testimonial-1-numbers--default');
    // The transactional confirmation mail, sent by the form function.
    expected.push('leadloop-confirm-subscription--default');
    expect(templates.map((t) => t.name).sort()).toEqual([...new Set(expected)].sort());
    for (const t of templates) {
      expect(t.html).toContain('{{html.unsubscribeUrl}}');
      expect(t.text).toContain('{{text.unsubscribeUrl}}');
    }
  });

  it('render completely with the fields nurture supplies', () => {
    for (const t of templates) {
      for (const part of [t.subject, t.html, t.text]) {
        const rendered = renderTemplate(part, { html: { ...data.html }, text: { ...data.text } });
        expect(rendered).not.toMatch(/\{\{|\}\}/);
      }
      expect(renderTemplate(t.html, { html: { ...data.html }, text: { ...data.text } })).toContain(
        'https://api.example.com/unsubscribe?token&#61;a.b.c',
      );
    }
  });

  it('the confirmation mail links to the signed confirmation route', () => {
    const confirm = templates.find((t) => t.template === 'confirm-subscription');
    const withLink = templateDataFor(lead, {
      unsubscribeUrl: 'https://api.example.com/unsubscribe?token=a.b.c',
      mailingAddress: '1 Main St',
      siteUrl: 'https://example.com/',
      confirmUrl: 'https://api.example.com/confirm?token=c.d.e',
    });
    expect(renderTemplate(confirm?.html ?? '', { html: { ...withLink.html }, text: { ...withLink.text } })).toContain(
      'https://api.example.com/confirm?token&#61;c.d.e',
    );
    expect(renderTemplate(confirm?.text ?? '', { html: { ...withLink.html }, text: { ...withLink.text } })).toContain(
      'https://api.example.com/confirm?token=c.d.e',
    );
  });
});

describe('template validation', () => {
  it('accepts fields, conditionals and comments; rejects the rest', () => {
    expect(
      templatePartProblems('Hi {{#if html.firstName}}{{html.firstName}}{{else}}there{{/if}} {{! note }}', 'html', 'x'),
    ).toEqual([]);
    expect(templatePartProblems('{{html.lastName}}', 'html', 'x')).toEqual([
      expect.stringContaining('unknown field "html.lastName"'),
    ]);
    expect(templatePartProblems('{{text.firstName}}', 'html', 'x')).toEqual([
      expect.stringContaining('must be "html.firstName"'),
    ]);
    expect(templatePartProblems('{{{html.firstName}}}', 'html', 'x')).toEqual([
      expect.stringContaining('triple braces'),
    ]);
    expect(templatePartProblems('{{#each items}}{{/each}}', 'text', 'x')).toHaveLength(2);
    expect(templatePartProblems('{{#if text.company}}open', 'text', 'x')).toEqual([
      expect.stringContaining('never closed'),
    ]);
    expect(templatePartProblems('Hi {firstName}', 'text', 'x')).toEqual([expect.stringContaining('single braces')]);
    expect(templatePartProblems('Hi\n{{text.firstName}}', 'subject', 'x')).toEqual([
      expect.stringContaining('one line'),
    ]);
  });

  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const copy = (): string => {
    dir = mkdtempSync(join(tmpdir(), 'leadloop-email-'));
    cpSync(EMAIL_DIR, dir, { recursive: true });
    return dir;
  };
  const problems = (d: string): string[] => {
    try {
      loadEmailTemplates({ prefix: 'leadloop', dir: d });
      return [];
    } catch (e) {
      if (e instanceof InvalidEmailTemplatesError) return e.problems;
      throw e;
    }
  };

  it('fails on a field nurture does not supply, a missing template or variant, and content no track sends', () => {
    const d = copy();
    writeFileSync(join(d, 'templates/newsletter-2/default/body.txt'), 'Hi {{text.nickname}}\n');
    rmSync(join(d, 'templates/testimonial-2'), { recursive: true });
    rmSync(join(d, 'templates/case-study-3/healthcare'), { recursive: true });
    mkdirSync(join(d, 'templates/case-study-3/real-estat'));
    mkdirSync(join(d, 'templates/webinar-1/default'), { recursive: true });
    writeFileSync(join(d, 'layout.txt'), 'no body marker\n{{text.unsubscribeUrl}}\n');
    expect(problems(d)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/templates\/newsletter-2\/default\/body\.txt: unknown field "text\.nickname"/),
        'templates/testimonial-2: missing (a track touch sends it)',
        'templates/case-study-3/healthcare/subject.txt: missing or empty',
        'templates/case-study-3/real-estat: no touch declares this variant',
        'templates/webinar-1: not sent by any track touch (remove it or add a touch)',
        'layout.txt: must contain {{!-- body --}} exactly once',
      ]),
    );
  });

  it('fails on a template without its unsubscribe link', () => {
    const d = copy();
    writeFileSync(join(d, 'layout.html'), '<html><body>{{!-- body --}}</body></html>');
    expect(problems(d)).toEqual(
      expect.arrayContaining(['templates/newsletter-1/default: the HTML part has no {{html.unsubscribeUrl}} link']),
    );
  });
});
