import type { z } from 'zod';
import { ValidationError } from './errors.js';

/** Parses with a schema, turning zod issues into a ValidationError with one reason per field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) fields[[...issue.path, k].join('.')] ??= 'is not a known field';
      continue;
    }
    const name = issue.path.length ? issue.path.join('.') : '(body)';
    fields[name] ??= issue.message;
  }
  throw new ValidationError(`invalid ${what}`, fields);
}
