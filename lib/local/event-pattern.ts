/**
 * Event patterns, as EventBridge rules and Lambda event filters (the same syntax) match them: a pattern is an object
 * whose leaves are arrays of allowed values or operators; an event matches when every field of the pattern matches
 * (a field holding an array matches when any element does), and a leaf matches when any of its alternatives does.
 *
 * Written here because no maintained npm package implements the syntax (AWS's own is the Java `event-ruler`): it
 * covers the documented operators — exact values, `prefix`, `suffix`, `equals-ignore-case`, `wildcard`,
 * `anything-but` (values, `prefix`, `suffix`), `exists`, `numeric`, and `$or`.
 */

type Json = unknown;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True if `event` matches `pattern` (both parsed JSON). */
export function matchesPattern(pattern: Json, event: Json): boolean {
  if (!isObject(pattern)) throw new Error('an event pattern must be an object');
  return matchObject(pattern, event);
}

function matchObject(pattern: Record<string, unknown>, value: Json): boolean {
  for (const [key, sub] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!Array.isArray(sub) || !sub.some((alternative) => isObject(alternative) && matchObject(alternative, value)))
        return false;
      continue;
    }
    const field = isObject(value) && Object.hasOwn(value, key) ? value[key] : undefined;
    const present = isObject(value) && Object.hasOwn(value, key);
    if (Array.isArray(sub)) {
      if (!matchLeaf(sub, field, present)) return false;
    } else if (isObject(sub)) {
      const candidates = Array.isArray(field) ? field : [field];
      if (!candidates.some((c) => matchObject(sub, c))) return false;
    } else {
      throw new Error(`pattern field "${key}" must be an array or an object`);
    }
  }
  return true;
}

/** A leaf: the field's value (or any element of it) equals one alternative or satisfies one operator. */
function matchLeaf(alternatives: unknown[], field: Json, present: boolean): boolean {
  const values: Json[] = Array.isArray(field) ? field : present ? [field] : [];
  return alternatives.some((alt) => {
    if (isObject(alt)) {
      if ('exists' in alt) return alt.exists === true ? present && field !== null : !present;
      return values.some((v) => matchOperator(alt, v));
    }
    return values.some((v) => v === alt);
  });
}

function matchOperator(op: Record<string, unknown>, v: Json): boolean {
  const [name, arg] = Object.entries(op)[0] ?? [];
  switch (name) {
    case 'prefix':
      return typeof v === 'string' && (isObject(arg) ? ignoreCase(arg, v, 'startsWith') : v.startsWith(String(arg)));
    case 'suffix':
      return typeof v === 'string' && (isObject(arg) ? ignoreCase(arg, v, 'endsWith') : v.endsWith(String(arg)));
    case 'equals-ignore-case':
      return typeof v === 'string' && v.toLowerCase() === String(arg).toLowerCase();
    case 'wildcard':
      return typeof v === 'string' && wildcard(String(arg)).test(v);
    case 'anything-but':
      return !anythingBut(arg, v);
    case 'numeric':
      return typeof v === 'number' && numeric(Array.isArray(arg) ? arg : [], v);
    case 'cidr':
      throw new Error('the cidr operator is not supported locally');
    default:
      throw new Error(`unknown pattern operator "${String(name)}"`);
  }
}

function ignoreCase(arg: Record<string, unknown>, v: string, how: 'startsWith' | 'endsWith'): boolean {
  const s = String(arg['equals-ignore-case'] ?? '').toLowerCase();
  return v.toLowerCase()[how](s);
}

/** What `anything-but` excludes: true if `v` is one of the excluded values or matches the excluded prefix/suffix. */
function anythingBut(arg: unknown, v: Json): boolean {
  if (Array.isArray(arg)) return arg.includes(v);
  if (isObject(arg)) {
    if (typeof v !== 'string') return false;
    if ('prefix' in arg) return v.startsWith(String(arg.prefix));
    if ('suffix' in arg) return v.endsWith(String(arg.suffix));
    if ('equals-ignore-case' in arg) {
      const e = arg['equals-ignore-case'];
      const list = Array.isArray(e) ? e : [e];
      return list.some((x) => String(x).toLowerCase() === v.toLowerCase());
    }
    throw new Error('unsupported anything-but operand');
  }
  return v === arg;
}

function numeric(conditions: unknown[], v: number): boolean {
  for (let i = 0; i + 1 < conditions.length; i += 2) {
    const op = conditions[i];
    const n = Number(conditions[i + 1]);
    const ok =
      op === '='
        ? v === n
        : op === '<'
          ? v < n
          : op === '<='
            ? v <= n
            : op === '>'
              ? v > n
              : op === '>='
                ? v >= n
                : false;
    if (!ok) return false;
  }
  return true;
}

function wildcard(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 's');
}
