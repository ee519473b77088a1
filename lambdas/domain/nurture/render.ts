/**
 * Renders a nurture template the way SES does, for the subset lib/email/catalog.ts allows: `{{ns.field}}`,
 * `{{#if ns.field}}…{{else}}…{{/if}}`, `{{#unless …}}` and comments; values are inserted as given (SES does not
 * escape; our template data is escaped per part already). Used where the mail must be rendered before it is sent
 * (the local tracking loop-back instruments the rendered HTML) and to check templates in tests.
 */
export function renderTemplate(source: string, data: Record<string, Record<string, string>>): string {
  const value = (ref: string): string => {
    const [ns, field] = ref.split('.');
    return (ns !== undefined && field !== undefined ? data[ns]?.[field] : undefined) ?? '';
  };
  const tokens = source.split(/(\{\{[\s\S]*?\}\})/);
  let out = '';
  /** One frame per open block: whether its current branch renders. */
  const frames: { truthy: boolean; inElse: boolean }[] = [];
  const on = (): boolean => frames.every((f) => (f.inElse ? !f.truthy : f.truthy));
  for (const token of tokens) {
    const m = /^\{\{([\s\S]*)\}\}$/.exec(token);
    if (!m) {
      if (on()) out += token;
      continue;
    }
    const inner = (m[1] ?? '').trim();
    if (inner.startsWith('!')) continue;
    const open = /^#(if|unless)\s+(\S+)$/.exec(inner);
    if (open) {
      const v = value(open[2] ?? '') !== '';
      frames.push({ truthy: open[1] === 'unless' ? !v : v, inElse: false });
    } else if (inner === 'else') {
      const top = frames[frames.length - 1];
      if (top) top.inElse = true;
    } else if (/^\/(if|unless)$/.test(inner)) {
      frames.pop();
    } else if (on()) {
      out += value(inner);
    }
  }
  return out;
}
