import type * as z from 'zod';
import { ValidationError } from './errors.js';

/**
 * Parses with a schema, turning zod issues into a ValidationError with one reason per field (the first issue of each
 * field). Field names come from the caller's input, so they are collected in a Map: a field called `__proto__` or
 * `constructor` is named like any other instead of touching the result object's prototype.
 */
export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = new Map<string, string>();
  const note = (name: string, reason: string) => {
    if (!fields.has(name)) fields.set(name, reason);
  };
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) note([...issue.path, k].join('.'), 'is not a known field');
      continue;
    }
    note(issue.path.length ? issue.path.join('.') : '(body)', issue.message);
  }
  throw new ValidationError(`invalid ${what}`, Object.fromEntries(fields));
}
