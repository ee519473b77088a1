import { DEFAULT_VARIANT, type Industry, type Touch } from './tracks.js';

/** The industry a free-text industry field means, if any (`"Residential Real Estate"` → `real-estate`). */
export function industryOf(raw: string | undefined, industries: readonly Industry[]): Industry | undefined {
  if (!raw) return undefined;
  const text = ` ${raw
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()} `;
  return industries.find(
    (ind) => ind.id === raw.trim().toLowerCase() || ind.aliases.some((a) => text.includes(` ${a.toLowerCase()} `)),
  );
}

/** The template variant of a touch for a lead's industry: its own if the touch has one, else the default. */
export function variantFor(touch: Touch, industry: string | undefined, industries: readonly Industry[]): string {
  const match = industryOf(industry, industries);
  return match && touch.variants.includes(match.id) ? match.id : DEFAULT_VARIANT;
}

/**
 * The SES template name of a touch variant: `<prefix>-<template>--<variant>` (SES allows letters, digits, `-` and
 * `_`, up to 64 characters). The stack deploys one template per name; the local runtime loads the same names.
 */
export function sesTemplateName(prefix: string, template: string, variant: string): string {
  const name = `${prefix}-${template}--${variant}`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new Error(`invalid SES template name "${name}"`);
  return name;
}
